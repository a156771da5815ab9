#include "edgeattn_plugins/cuda_driver.h"

#include "edgeattn_plugins/logging.h"

#include <dlfcn.h>
#include <mutex>

namespace edgeattn::plugins
{
namespace
{
constexpr char const* kLibrary = "libcuda.so.1";

template <typename Fn>
bool bind(void* handle, char const* symbol, Fn& fn, std::string& why)
{
    fn = reinterpret_cast<Fn>(dlsym(handle, symbol));
    if (fn == nullptr && why.empty())
    {
        why = std::string(kLibrary) + " has no symbol " + symbol + " (driver too old?)";
    }
    return fn != nullptr;
}

bool bindAll(void* handle, CudaDriver& d, std::string& why)
{
    bool ok = bind(handle, "cuInit", d.init, why);
    ok &= bind(handle, "cuGetErrorString", d.getErrorString, why);
    ok &= bind(handle, "cuCtxGetCurrent", d.ctxGetCurrent, why);
    ok &= bind(handle, "cuCtxGetDevice", d.ctxGetDevice, why);
    ok &= bind(handle, "cuDeviceGetAttribute", d.deviceGetAttribute, why);
    ok &= bind(handle, "cuModuleLoadData", d.moduleLoadData, why);
    ok &= bind(handle, "cuModuleGetFunction", d.moduleGetFunction, why);
    ok &= bind(handle, "cuFuncGetAttribute", d.funcGetAttribute, why);
    ok &= bind(handle, "cuFuncSetAttribute", d.funcSetAttribute, why);
    ok &= bind(handle, "cuLaunchKernel", d.launchKernel, why);
    ok &= bind(handle, "cuMemAlloc_v2", d.memAlloc, why);
    ok &= bind(handle, "cuMemFree_v2", d.memFree, why);
    ok &= bind(handle, "cuMemcpyHtoD_v2", d.memcpyHtoD, why);
    return ok;
}

struct Loaded
{
    CudaDriver driver{};
    bool ok{false};
    std::string why;
};

Loaded load()
{
    Loaded loaded;
    void* handle = dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr)
    {
        char const* error = dlerror();
        loaded.why = std::string(kLibrary) + " could not be loaded (" + (error ? error : "unknown error")
            + "): no CUDA driver on this machine";
    }
    else if (bindAll(handle, loaded.driver, loaded.why))
    {
        CUresult const result = loaded.driver.init(0);
        loaded.ok = result == CUDA_SUCCESS;
        if (!loaded.ok)
        {
            loaded.why = "cuInit failed: " + cudaErrorText(loaded.driver, result);
        }
    }
    if (!loaded.ok)
    {
        logWarning(loaded.why + "; edgeattn plugins can be created, inspected and serialized here, but not run");
    }
    return loaded;
}
} // namespace

CudaDriver const* cudaDriver(std::string* why) noexcept
{
    static std::once_flag once;
    static Loaded loaded;
    try
    {
        std::call_once(once, [] { loaded = load(); });
    }
    catch (...)
    {
        if (why != nullptr)
        {
            *why = "out of memory loading the CUDA driver";
        }
        return nullptr;
    }
    if (!loaded.ok && why != nullptr)
    {
        *why = loaded.why;
    }
    return loaded.ok ? &loaded.driver : nullptr;
}

std::string cudaErrorText(CudaDriver const& cuda, CUresult result)
{
    char const* text = nullptr;
    if (cuda.getErrorString == nullptr || cuda.getErrorString(result, &text) != CUDA_SUCCESS || text == nullptr)
    {
        return "CUDA error " + std::to_string(static_cast<int32_t>(result));
    }
    return std::string(text) + " (CUDA error " + std::to_string(static_cast<int32_t>(result)) + ")";
}
} // namespace edgeattn::plugins
