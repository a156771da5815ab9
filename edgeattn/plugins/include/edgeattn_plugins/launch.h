// Launching AOT-compiled Triton kernels from a plugin.
//
// An op describes one launch as a KernelCall, in the kernel's parameter order, exactly as its Python
// launcher calls the kernel: pointers (bound to plugin inputs, outputs, the plugin's device
// constants or buffers the call reserves in the plugin workspace), integer scalars, constexpr
// values and the grid. The call's key selects the embedded
// cubin (edgeattn.plugins.variants computes the same key from the recorded Python launch).
// KernelLauncher loads the cubin's module once per CUDA context when the plugin is configured
// (onShapeChange), never in enqueue, and passes Triton's two hidden scratch pointers.
#pragma once

#include "edgeattn_plugins/cubins.h"
#include "edgeattn_plugins/cuda_driver.h"
#include "edgeattn_plugins/shapes.h"
#include "edgeattn_plugins/tensorrt.h"

#include <cstdint>
#include <string>
#include <vector>

namespace edgeattn::plugins
{
//! What a pointer argument points at when the kernel is launched.
struct Binding
{
    enum class Kind
    {
        kInput,
        kOutput,
        kConstants, //!< the plugin's device constants, at byte offset `index`
        kWorkspace, //!< the plugin's workspace, at byte offset `index` (see KernelCall::reserveWorkspace)
    };
    Kind kind;
    int64_t index;

    static Binding input(int32_t i) noexcept
    {
        return {Kind::kInput, i};
    }
    static Binding output(int32_t i) noexcept
    {
        return {Kind::kOutput, i};
    }
    static Binding constants(int32_t byteOffset) noexcept
    {
        return {Kind::kConstants, byteOffset};
    }
    static Binding workspace(int64_t byteOffset) noexcept
    {
        return {Kind::kWorkspace, byteOffset};
    }
};

//! Byte offsets of workspace buffers are multiples of this (TensorRT's workspace is at least as aligned).
constexpr int64_t kWorkspaceAlignment = 256;

//! Triton's pointer type for a TensorRT data type ("*fp32", "*fp16", "*i8", ...; "" if none).
std::string tritonPointerType(trt::DataType type);

class KernelCall
{
public:
    explicit KernelCall(std::string kernel);

    KernelCall& pointer(trt::DataType type, Binding binding);
    KernelCall& scalar(int64_t value); //!< typed i32 or i64 as Triton types a Python int
    KernelCall& constexprInt(std::string const& name, int64_t value);
    KernelCall& constexprBool(std::string const& name, bool value);
    KernelCall& constexprFloat(std::string const& name, float value);
    KernelCall& grid(int64_t x, int64_t y, int64_t z);

    //! Reserve `bytes` (>= 0) of the plugin workspace for a buffer of the kernel's own (an intermediate
    //! the Python launcher allocates); returns its binding, at the next kWorkspaceAlignment offset.
    Binding reserveWorkspace(int64_t bytes) noexcept;
    //! Bytes of the workspace the reserved buffers span (Triton's global scratch follows them).
    int64_t reservedWorkspace() const noexcept
    {
        return mWorkspaceBytes;
    }

    //! "kernel|arg types|constexprs sorted by name": selects the cubin.
    std::string key() const;
    //! key, grid and every argument (pointer bindings, scalar values), for logs and host tests.
    std::string describe() const;

    std::string const& kernel() const noexcept
    {
        return mKernel;
    }
    //! Kernel parameters, Triton's two hidden scratch pointers included.
    int32_t numParams() const noexcept
    {
        return static_cast<int32_t>(mArgs.size()) + 2;
    }
    int64_t programs() const noexcept
    {
        return mGrid[0] * mGrid[1] * mGrid[2];
    }

private:
    friend class KernelLauncher;
    struct Arg
    {
        std::string type; //!< Triton signature type
        Binding binding;  //!< for pointers
        int64_t value;    //!< for scalars
    };
    std::string mKernel;
    std::vector<Arg> mArgs;
    std::vector<std::pair<std::string, std::string>> mConstexprs;
    int64_t mGrid[3]{1, 1, 1};
    int64_t mWorkspaceBytes{0};
};

//! A planned launch: the call and the bytes of the plugin's device constants it points at.
struct Launch
{
    KernelCall call;
    std::vector<uint8_t> constants;
};

//! Workspace a call needs on any embedded arch: its reserved buffers, then Triton's global scratch for
//! every program (0 for most kernels).
size_t workspaceBytes(KernelCall const& call) noexcept;

//! The cubin of `call` for any arch, for build-time checks ("" or an error saying what is missing).
std::string missingCubin(KernelCall const& call);

//! One prepared launch: the cubin's function in the current CUDA context and the device constants.
//! Copies (plugin clones) start unprepared.
class KernelLauncher
{
public:
    KernelLauncher() = default;
    KernelLauncher(KernelLauncher const&) noexcept;
    KernelLauncher& operator=(KernelLauncher const&) = delete;
    ~KernelLauncher();

    //! Resolve `call` for the current context's device (loading its module once per context) and
    //! upload `constants` once. Returns 0, or logs why not (prefixed by `context`) and returns -1.
    int32_t prepare(KernelCall const& call, std::vector<uint8_t> const& constants, std::string const& context) noexcept;

    int32_t launch(void const* const* inputs, void* const* outputs, void* workspace, cudaStream_t stream) noexcept;

private:
    int32_t resolve(CudaDriver const& cuda, std::string const& context);
    int32_t upload(CudaDriver const& cuda, std::vector<uint8_t> const& constants, std::string const& context);
    void bindArguments(void const* const* inputs, void* const* outputs, void* workspace) noexcept;

    KernelCall mCall{""};
    bool mReady{false};
    Cubin const* mCubin{nullptr};
    CUfunction mFunction{nullptr};
    CUdeviceptr mConstants{0};
    std::vector<uint8_t> mUploaded;
    std::vector<uint64_t> mSlots;  //!< one 8-byte slot per kernel parameter
    std::vector<void*> mParams;    //!< cuLaunchKernel's kernelParams: pointers to the slots
};

//! Appends the strides of a linear-format tensor, outermost first (torch's Tensor.stride() order).
inline void addLinearStrides(KernelCall& call, trt::Dims const& dims)
{
    for (int32_t axis = 0; axis < dims.nbDims; ++axis)
    {
        call.scalar(linearStride(dims, axis));
    }
}
} // namespace edgeattn::plugins
