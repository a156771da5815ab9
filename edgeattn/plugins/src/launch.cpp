#include "edgeattn_plugins/launch.h"

#include "edgeattn_plugins/logging.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>

namespace edgeattn::plugins
{
namespace
{
constexpr int32_t kDefaultSharedLimit = 48 * 1024;

std::string bindingName(Binding const& binding)
{
    switch (binding.kind)
    {
    case Binding::Kind::kInput: return "in" + std::to_string(binding.index);
    case Binding::Kind::kOutput: return "out" + std::to_string(binding.index);
    case Binding::Kind::kConstants: return "const+" + std::to_string(binding.index);
    case Binding::Kind::kWorkspace: return "ws+" + std::to_string(binding.index);
    }
    return "?";
}

//! Modules are loaded once per (CUDA context, cubin) and kept for the life of the process.
struct ModuleCache
{
    std::mutex mutex;
    std::map<std::pair<CUcontext, Cubin const*>, CUfunction> functions;
};

ModuleCache& moduleCache()
{
    static ModuleCache cache;
    return cache;
}

std::string sharedMemoryError(CudaDriver const& cuda, CUfunction function, CUdevice device, Cubin const& cubin)
{
    int32_t optin = 0;
    int32_t staticBytes = 0;
    CUresult result = cuda.deviceGetAttribute(&optin, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, device);
    if (result == CUDA_SUCCESS)
    {
        result = cuda.funcGetAttribute(&staticBytes, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, function);
    }
    if (result != CUDA_SUCCESS)
    {
        return "querying shared memory limits failed: " + cudaErrorText(cuda, result);
    }
    if (cubin.sharedBytes + staticBytes > optin)
    {
        return "kernel needs " + std::to_string(cubin.sharedBytes + staticBytes) + " bytes of shared memory, the device "
            + "allows " + std::to_string(optin);
    }
    result = cuda.funcSetAttribute(function, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, optin - staticBytes);
    return result == CUDA_SUCCESS ? "" : "raising the shared memory limit failed: " + cudaErrorText(cuda, result);
}

std::string loadFunction(CudaDriver const& cuda, CUdevice device, Cubin const& cubin, CUfunction& function)
{
    CUmodule module = nullptr;
    CUresult result = cuda.moduleLoadData(&module, cubin.image);
    if (result != CUDA_SUCCESS)
    {
        return std::string("loading the sm_") + std::to_string(cubin.arch) + " cubin of " + cubin.kernel
            + " failed: " + cudaErrorText(cuda, result) + " (driver too old for this cubin?)";
    }
    result = cuda.moduleGetFunction(&function, module, cubin.kernel);
    if (result != CUDA_SUCCESS)
    {
        return std::string("the cubin has no kernel ") + cubin.kernel + ": " + cudaErrorText(cuda, result);
    }
    return cubin.sharedBytes > kDefaultSharedLimit ? sharedMemoryError(cuda, function, device, cubin) : "";
}
std::string currentDevice(CudaDriver const& cuda, CUcontext& ctx, CUdevice& device, int32_t& arch)
{
    int32_t major = 0;
    int32_t minor = 0;
    CUresult result = cuda.ctxGetCurrent(&ctx);
    if (result != CUDA_SUCCESS || ctx == nullptr)
    {
        return "no current CUDA context (" + cudaErrorText(cuda, result) + ")";
    }
    result = cuda.ctxGetDevice(&device);
    if (result == CUDA_SUCCESS)
    {
        result = cuda.deviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device);
    }
    if (result == CUDA_SUCCESS)
    {
        result = cuda.deviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device);
    }
    arch = major * 10 + minor;
    return result == CUDA_SUCCESS ? "" : "querying the device failed: " + cudaErrorText(cuda, result);
}
} // namespace

std::string tritonPointerType(trt::DataType type)
{
    switch (type)
    {
    case trt::DataType::kFLOAT: return "*fp32";
    case trt::DataType::kHALF: return "*fp16";
    case trt::DataType::kBF16: return "*bf16";
    case trt::DataType::kINT8: return "*i8";
    case trt::DataType::kUINT8: return "*u8";
    case trt::DataType::kINT32: return "*i32";
    case trt::DataType::kINT64: return "*i64";
    case trt::DataType::kBOOL: return "*i1";
    default: return "";
    }
}

KernelCall::KernelCall(std::string kernel)
    : mKernel(std::move(kernel))
{
}

KernelCall& KernelCall::pointer(trt::DataType type, Binding binding)
{
    mArgs.push_back(Arg{tritonPointerType(type), binding, 0});
    return *this;
}

KernelCall& KernelCall::scalar(int64_t value)
{
    bool const fits = value >= std::numeric_limits<int32_t>::min() && value <= std::numeric_limits<int32_t>::max();
    mArgs.push_back(Arg{fits ? "i32" : "i64", Binding::input(-1), value});
    return *this;
}

KernelCall& KernelCall::constexprInt(std::string const& name, int64_t value)
{
    mConstexprs.emplace_back(name, std::to_string(value));
    return *this;
}

KernelCall& KernelCall::constexprBool(std::string const& name, bool value)
{
    mConstexprs.emplace_back(name, value ? "True" : "False");
    return *this;
}

KernelCall& KernelCall::constexprFloat(std::string const& name, float value)
{
    uint32_t bits = 0;
    std::memcpy(&bits, &value, sizeof(bits));
    char text[16];
    std::snprintf(text, sizeof(text), "f32:%08" PRIx32, bits);
    mConstexprs.emplace_back(name, text);
    return *this;
}

KernelCall& KernelCall::grid(int64_t x, int64_t y, int64_t z)
{
    mGrid[0] = x;
    mGrid[1] = y;
    mGrid[2] = z;
    return *this;
}

Binding KernelCall::reserveWorkspace(int64_t bytes) noexcept
{
    int64_t const offset = (mWorkspaceBytes + kWorkspaceAlignment - 1) / kWorkspaceAlignment * kWorkspaceAlignment;
    mWorkspaceBytes = offset + std::max<int64_t>(bytes, 0);
    return Binding::workspace(offset);
}

std::string KernelCall::key() const
{
    std::string key = mKernel + "|";
    for (size_t i = 0; i < mArgs.size(); ++i)
    {
        key += (i ? "," : "") + mArgs[i].type;
    }
    auto constexprs = mConstexprs;
    std::sort(constexprs.begin(), constexprs.end());
    key += "|";
    for (size_t i = 0; i < constexprs.size(); ++i)
    {
        key += (i ? "," : "") + constexprs[i].first + "=" + constexprs[i].second;
    }
    return key;
}

std::string KernelCall::describe() const
{
    std::string text = key() + " grid=" + std::to_string(mGrid[0]) + "," + std::to_string(mGrid[1]) + ","
        + std::to_string(mGrid[2]) + " args=";
    for (size_t i = 0; i < mArgs.size(); ++i)
    {
        Arg const& arg = mArgs[i];
        text += (i ? "," : "") + (arg.type[0] == '*' ? bindingName(arg.binding) : std::to_string(arg.value));
    }
    return text;
}

size_t workspaceBytes(KernelCall const& call) noexcept
{
    size_t count = 0;
    Cubin const* cubins = embeddedCubins(count);
    size_t const reserved = static_cast<size_t>(call.reservedWorkspace());
    size_t bytes = reserved;
    try
    {
        std::string const key = call.key();
        for (size_t i = 0; i < count; ++i)
        {
            if (key == cubins[i].key && cubins[i].globalScratchBytes > 0)
            {
                int64_t const need = cubins[i].globalScratchBytes * call.programs() + cubins[i].globalScratchAlign;
                bytes = std::max(bytes, reserved + static_cast<size_t>(need));
            }
        }
    }
    catch (...)
    {
        logError("out of memory computing the workspace of " + call.kernel());
    }
    return bytes;
}

std::string missingCubin(KernelCall const& call)
{
    std::string const key = call.key();
    if (!cubinArchs(key).empty())
    {
        return "";
    }
    return "no embedded cubin for kernel variant " + key
        + "; rebuild the plugin library with this graph's kernels (edgeattn.plugins.compile for the graph)";
}

KernelLauncher::KernelLauncher(KernelLauncher const&) noexcept {}

KernelLauncher::~KernelLauncher()
{
    if (mConstants != 0)
    {
        if (CudaDriver const* cuda = cudaDriver())
        {
            cuda->memFree(mConstants);
        }
    }
}

int32_t KernelLauncher::resolve(CudaDriver const& cuda, std::string const& context)
{
    CUcontext ctx = nullptr;
    CUdevice device = 0;
    int32_t arch = 0;
    std::string const error = currentDevice(cuda, ctx, device, arch);
    if (!error.empty())
    {
        logError(context + ": " + error);
        return -1;
    }
    if (mCall.mGrid[0] > std::numeric_limits<int32_t>::max() || mCall.mGrid[1] > 65535 || mCall.mGrid[2] > 65535)
    {
        logError(context + ": grid " + mCall.describe() + " exceeds CUDA's grid limits");
        return -1;
    }
    mCubin = findCubin(mCall.key(), arch);
    if (mCubin == nullptr)
    {
        std::string const archs = cubinArchs(mCall.key());
        logError(context + ": no cubin for sm_" + std::to_string(arch) + " of kernel variant " + mCall.key()
            + " (built for: " + (archs.empty() ? "no arch" : archs) + "); rebuild the plugin library on this device"
            + " with the kernels compiled for sm_" + std::to_string(arch));
        return -1;
    }
    if (mCubin->numParams != mCall.numParams())
    {
        logError(context + ": cubin of " + mCubin->kernel + " takes " + std::to_string(mCubin->numParams)
            + " parameters, the plugin passes " + std::to_string(mCall.numParams()) + "; rebuild the library");
        return -1;
    }
    ModuleCache& cache = moduleCache();
    std::lock_guard<std::mutex> lock(cache.mutex);
    auto const found = cache.functions.find({ctx, mCubin});
    if (found != cache.functions.end())
    {
        mFunction = found->second;
        return 0;
    }
    std::string const loadError = loadFunction(cuda, device, *mCubin, mFunction);
    if (!loadError.empty())
    {
        logError(context + ": " + loadError);
        return -1;
    }
    cache.functions.emplace(std::make_pair(ctx, mCubin), mFunction);
    return 0;
}

int32_t KernelLauncher::upload(CudaDriver const& cuda, std::vector<uint8_t> const& constants, std::string const& context)
{
    if (constants == mUploaded && (mConstants != 0 || constants.empty()))
    {
        return 0;
    }
    if (mConstants != 0)
    {
        cuda.memFree(mConstants);
        mConstants = 0;
    }
    mUploaded.clear();
    if (constants.empty())
    {
        return 0;
    }
    CUresult result = cuda.memAlloc(&mConstants, constants.size());
    if (result == CUDA_SUCCESS)
    {
        result = cuda.memcpyHtoD(mConstants, constants.data(), constants.size());
    }
    if (result != CUDA_SUCCESS)
    {
        logError(context + ": uploading " + std::to_string(constants.size())
            + " bytes of plugin constants failed: " + cudaErrorText(cuda, result));
        return -1;
    }
    mUploaded = constants;
    return 0;
}

int32_t KernelLauncher::prepare(
    KernelCall const& call, std::vector<uint8_t> const& constants, std::string const& context) noexcept
{
    try
    {
        mReady = false;
        mCall = call;
        std::string why;
        CudaDriver const* cuda = cudaDriver(&why);
        if (cuda == nullptr)
        {
            logError(context + ": cannot run: " + why);
            return -1;
        }
        if (resolve(*cuda, context) != 0 || upload(*cuda, constants, context) != 0)
        {
            return -1;
        }
        mSlots.assign(mCall.mArgs.size() + 2, 0);
        mParams.clear();
        for (uint64_t& slot : mSlots)
        {
            mParams.push_back(&slot);
        }
        mReady = true;
        return 0;
    }
    catch (...)
    {
        logError(context + ": out of memory preparing the kernel launch");
        return -1;
    }
}

void KernelLauncher::bindArguments(void const* const* inputs, void* const* outputs, void* workspace) noexcept
{
    size_t const count = mCall.mArgs.size();
    for (size_t i = 0; i < count; ++i)
    {
        KernelCall::Arg const& arg = mCall.mArgs[i];
        uint64_t& slot = mSlots[i];
        slot = 0;
        if (arg.type == "i32")
        {
            int32_t const narrow = static_cast<int32_t>(arg.value);
            std::memcpy(&slot, &narrow, sizeof(narrow));
        }
        else if (arg.type == "i64")
        {
            std::memcpy(&slot, &arg.value, sizeof(arg.value));
        }
        else if (arg.binding.kind == Binding::Kind::kInput)
        {
            slot = reinterpret_cast<uint64_t>(inputs[arg.binding.index]);
        }
        else if (arg.binding.kind == Binding::Kind::kOutput)
        {
            slot = reinterpret_cast<uint64_t>(outputs[arg.binding.index]);
        }
        else if (arg.binding.kind == Binding::Kind::kWorkspace)
        {
            slot = reinterpret_cast<uint64_t>(workspace) + static_cast<uint64_t>(arg.binding.index);
        }
        else
        {
            slot = static_cast<uint64_t>(mConstants) + static_cast<uint64_t>(arg.binding.index);
        }
    }
    uint64_t scratch = 0;
    if (mCubin->globalScratchBytes > 0)
    {
        uint64_t const align = static_cast<uint64_t>(std::max<int32_t>(mCubin->globalScratchAlign, 1));
        uint64_t const start = reinterpret_cast<uint64_t>(workspace) + static_cast<uint64_t>(mCall.mWorkspaceBytes);
        scratch = (start + align - 1) / align * align;
    }
    mSlots[count] = scratch; // Triton's global_scratch
    mSlots[count + 1] = 0;   // Triton's profile_scratch (no instrumentation)
}

int32_t KernelLauncher::launch(void const* const* inputs, void* const* outputs, void* workspace, cudaStream_t stream) noexcept
{
    CudaDriver const* cuda = cudaDriver();
    if (!mReady || cuda == nullptr)
    {
        logError("enqueue of " + mCall.kernel() + " before a successful onShapeChange");
        return -1;
    }
    bindArguments(inputs, outputs, workspace);
    CUresult const result = cuda->launchKernel(mFunction, static_cast<uint32_t>(mCall.mGrid[0]),
        static_cast<uint32_t>(mCall.mGrid[1]), static_cast<uint32_t>(mCall.mGrid[2]),
        static_cast<uint32_t>(32 * mCubin->numWarps), 1, 1, static_cast<uint32_t>(mCubin->sharedBytes),
        reinterpret_cast<CUstream>(stream), mParams.data(), nullptr);
    if (result != CUDA_SUCCESS)
    {
        logError("launching " + mCall.kernel() + " failed: " + cudaErrorText(*cuda, result));
        return -1;
    }
    return 0;
}
} // namespace edgeattn::plugins
