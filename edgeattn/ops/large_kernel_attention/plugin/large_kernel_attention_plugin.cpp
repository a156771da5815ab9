// TensorRT plugin edgeattn::LargeKernelAttention (version 1): VAN's depthwise chain
// DW K0xK0 -> DW K1xK1 with dilation.
//
// Runs large_kernel_attention_kernel of edgeattn/ops/large_kernel_attention/triton.py, launched
// exactly as its Python launcher launches it: one program per band of BAND rows of a (batch,
// channel) plane. The program's private slice of the plugin workspace holds the first convolution's
// output on the band and its halo ((BAND + 2 * dilation * (K1 // 2)) * W fp32 values). One launch
// is enough: a program reads back only its own slice, and the CTA barrier between the phases
// (bar.sync) makes every thread's stores visible to the whole CTA before the .cg loads
// (tests/plugins/test_workspace_kernels.py checks the compiled PTX).
#include "edgeattn_plugins/plugin_base.h"
#include "edgeattn_plugins/registry.h"
#include "edgeattn_plugins/shapes.h"

#include <algorithm>
#include <cstdint>

namespace edgeattn::plugins
{
namespace
{
using DT = trt::DataType;

constexpr char const* kDilation = "dilation";
constexpr int64_t kBandRows = 16; // BAND_ROWS of triton.py
constexpr int64_t kBlock = 64;    // BLOCK of the Python launcher
constexpr int32_t kMaxDilation = 1024;

//! Why x, w0, b0, w1, b1 cannot run (triton.py's _shape_refusal), or "".
std::string shapeRefusal(trt::PluginTensorDesc const* in)
{
    trt::Dims const& x = in[0].dims;
    if (x.nbDims != 4)
    {
        return "x must be 4-D [B, C, H, W], got " + dimsText(x);
    }
    int64_t const channels = x.d[1];
    for (int32_t i : {1, 3})
    {
        trt::Dims const& w = in[i].dims;
        int64_t const k = w.nbDims == 4 ? w.d[3] : 0;
        if (w.nbDims != 4 || w.d[0] != channels || w.d[1] != 1 || w.d[2] != k || k % 2 == 0)
        {
            return std::string(i == 1 ? "w0 " : "w1 ") + dimsText(w)
                + " must be a depthwise [C, 1, K, K] weight, odd K, C=" + std::to_string(channels);
        }
    }
    for (int32_t i : {2, 4})
    {
        if (in[i].dims.nbDims != 1 || in[i].dims.d[0] != channels)
        {
            return std::string(i == 2 ? "b0 " : "b1 ") + dimsText(in[i].dims) + " must be [C] with C="
                + std::to_string(channels);
        }
    }
    if (hasEmptyDim(x))
    {
        return "empty tensors are not supported";
    }
    return "";
}

void addStrides(KernelCall& call, trt::Dims const& dims, std::initializer_list<int32_t> axes)
{
    for (int32_t axis : axes)
    {
        call.scalar(linearStride(dims, axis));
    }
}
} // namespace

class LargeKernelAttentionPlugin : public PluginBase<LargeKernelAttentionPlugin>
{
public:
    static constexpr char const* kName = "LargeKernelAttention";
    static constexpr int32_t kNbInputs = 5;
    static constexpr int32_t kNbOutputs = 1;

    LargeKernelAttentionPlugin(std::string layerName, Fields fields)
        : PluginBase(std::move(layerName), std::move(fields))
    {
    }

    static std::vector<FieldSpec> fieldSpecs()
    {
        return {{kDilation, FieldKind::kInt32, true, 1}};
    }

    static std::string validate(Fields const& fields)
    {
        int32_t const dilation = fields.ints(kDilation)[0];
        if (dilation < 1 || dilation > kMaxDilation)
        {
            return "field 'dilation' is " + std::to_string(dilation) + "; it must lie in [1, "
                + std::to_string(kMaxDilation) + "] (VAN: 3)";
        }
        return "";
    }

    //! (x, w0, b0, w1, b1) -> out, all fp32 or all fp16 (fp32 math inside).
    std::vector<IOTypes> ioTypes() const
    {
        return {IOTypes(kNbInputs + kNbOutputs, DT::kFLOAT), IOTypes(kNbInputs + kNbOutputs, DT::kHALF)};
    }

    //! out = x's shape.
    int32_t outputShapes(trt::DimsExprs const* in, trt::DimsExprs* out, trt::IExprBuilder& /*builder*/) const
    {
        if (in[0].nbDims != 4)
        {
            logError(context() + ": x must be 4-D [B, C, H, W]");
            return -1;
        }
        out[0] = in[0];
        return 0;
    }

    std::optional<Launch> plan(trt::PluginTensorDesc const* in, trt::PluginTensorDesc const* out) const
    {
        std::string const why = shapeRefusal(in);
        if (!why.empty())
        {
            logError(context() + ": " + why);
            return std::nullopt;
        }
        trt::Dims const& x = in[0].dims;
        int64_t const k0 = in[1].dims.d[3];
        int64_t const k1 = in[3].dims.d[3];
        int64_t const dilation = fields().ints(kDilation)[0];
        int64_t const band = std::min(x.d[2], kBandRows);
        int64_t const bands = ceilDiv(x.d[2], band);
        KernelCall call("large_kernel_attention_kernel");
        for (int32_t i = 0; i < kNbInputs; ++i)
        {
            call.pointer(in[i].type, Binding::input(i));
        }
        call.scalar(x.d[1]).scalar(x.d[2]).scalar(x.d[3]).scalar(bands);
        addStrides(call, x, {0, 1, 2, 3});
        addStrides(call, in[1].dims, {0, 2, 3});
        addStrides(call, in[3].dims, {0, 2, 3});
        call.scalar(1).scalar(1); // b0, b1
        addStrides(call, out[0].dims, {0, 1, 2, 3});
        call.pointer(out[0].type, Binding::output(0));
        int64_t const rows = band + 2 * dilation * (k1 / 2);
        int64_t const programs = x.d[0] * x.d[1] * bands;
        Binding const work = call.reserveWorkspace(programs * rows * x.d[3] * static_cast<int64_t>(sizeof(float)));
        call.pointer(DT::kFLOAT, work)
            .constexprInt("K0", k0)
            .constexprInt("K1", k1)
            .constexprInt("DILATION", dilation)
            .constexprInt("BAND", band)
            .constexprInt("TAPS0", tritonBlock(k0 * k0, 16))
            .constexprInt("TAPS1", tritonBlock(k1 * k1, 16))
            .constexprInt("BLOCK", kBlock)
            .grid(programs, 1, 1);
        return Launch{call, {}};
    }
};

using LargeKernelAttentionCreator = CreatorBase<LargeKernelAttentionPlugin>;
EDGEATTN_REGISTER_CREATOR(LargeKernelAttentionCreator)
} // namespace edgeattn::plugins
