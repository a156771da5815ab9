// TensorRT plugin edgeattn::DFCAttention (version 1): GhostNetV2's DFC attention gate.
//
// Runs dfc_attention_kernel of edgeattn/ops/dfc_attention/triton.py, launched exactly as its Python
// launcher launches it: one program per (batch, channel) plane. The program's private slice of the
// plugin workspace (h * w fp32 values; B * C * h * w in all) holds the sigmoid gate between the
// kernel's two phases. One launch is enough: a program reads back only its own slice, and the CTA
// barrier between the phases (bar.sync) makes every thread's stores visible to the whole CTA
// before the .cg loads (tests/plugins/test_workspace_kernels.py checks the compiled PTX).
#include "edgeattn_plugins/plugin_base.h"
#include "edgeattn_plugins/registry.h"
#include "edgeattn_plugins/shapes.h"

#include <algorithm>
#include <cstdint>
#include <initializer_list>

namespace edgeattn::plugins
{
namespace
{
using DT = trt::DataType;

constexpr int64_t kBlock = 256; // BLOCK of the Python launcher

bool hasShape(trt::Dims const& dims, std::initializer_list<int64_t> expected)
{
    return dims.nbDims == static_cast<int32_t>(expected.size())
        && std::equal(expected.begin(), expected.end(), dims.d);
}

//! Why gate, w_h, b_h, w_v, b_v, features cannot run (triton.py's _shape_refusal), or "".
std::string shapeRefusal(trt::PluginTensorDesc const* in)
{
    trt::Dims const& gate = in[0].dims;
    trt::Dims const& features = in[5].dims;
    if (gate.nbDims != 4 || features.nbDims != 4)
    {
        return "gate and features must be 4-D [B, C, h, w] / [B, C, H, W], got " + dimsText(gate) + " and "
            + dimsText(features);
    }
    int64_t const channels = gate.d[1];
    if (features.d[0] != gate.d[0] || features.d[1] != channels)
    {
        return "features " + dimsText(features) + " must share B, C with gate " + dimsText(gate);
    }
    if (!hasShape(in[1].dims, {channels, 1, 1, in[1].dims.d[3]}))
    {
        return "w_h " + dimsText(in[1].dims) + " must be [C, 1, 1, K] with C=" + std::to_string(channels);
    }
    if (!hasShape(in[3].dims, {channels, 1, in[3].dims.d[2], 1}))
    {
        return "w_v " + dimsText(in[3].dims) + " must be [C, 1, K, 1] with C=" + std::to_string(channels);
    }
    if (in[1].dims.d[3] % 2 == 0 || in[3].dims.d[2] % 2 == 0)
    {
        return "kernel sizes must be odd ('same' zero padding K // 2)";
    }
    if (!hasShape(in[2].dims, {channels}) || !hasShape(in[4].dims, {channels}))
    {
        return "b_h " + dimsText(in[2].dims) + " and b_v " + dimsText(in[4].dims) + " must be [C] with C="
            + std::to_string(channels);
    }
    if (hasEmptyDim(gate) || hasEmptyDim(features) || hasEmptyDim(in[1].dims) || hasEmptyDim(in[3].dims))
    {
        return "empty tensors are not supported";
    }
    return "";
}
} // namespace

class DFCAttentionPlugin : public PluginBase<DFCAttentionPlugin>
{
public:
    static constexpr char const* kName = "DFCAttention";
    static constexpr int32_t kNbInputs = 6;
    static constexpr int32_t kNbOutputs = 1;

    DFCAttentionPlugin(std::string layerName, Fields fields)
        : PluginBase(std::move(layerName), std::move(fields))
    {
    }

    //! The node has no attributes besides TensorRT's plugin_version / plugin_namespace.
    static std::vector<FieldSpec> fieldSpecs()
    {
        return {};
    }

    static std::string validate(Fields const& /*fields*/)
    {
        return "";
    }

    //! (gate, w_h, b_h, w_v, b_v, features) -> out, all fp32 or all fp16 (fp32 math inside).
    std::vector<IOTypes> ioTypes() const
    {
        return {IOTypes(kNbInputs + kNbOutputs, DT::kFLOAT), IOTypes(kNbInputs + kNbOutputs, DT::kHALF)};
    }

    //! out = the features' shape.
    int32_t outputShapes(trt::DimsExprs const* in, trt::DimsExprs* out, trt::IExprBuilder& /*builder*/) const
    {
        if (in[0].nbDims != 4 || in[5].nbDims != 4)
        {
            logError(context() + ": gate and features must be 4-D [B, C, h, w] / [B, C, H, W]");
            return -1;
        }
        out[0] = in[5];
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
        trt::Dims const& gate = in[0].dims;
        trt::Dims const& features = in[5].dims;
        int64_t const kw = in[1].dims.d[3];
        int64_t const kh = in[3].dims.d[2];
        KernelCall call("dfc_attention_kernel");
        for (int32_t i = 0; i < kNbInputs; ++i)
        {
            call.pointer(in[i].type, Binding::input(i));
        }
        call.scalar(gate.d[1]).scalar(gate.d[2]).scalar(gate.d[3]).scalar(features.d[2]).scalar(features.d[3]);
        addLinearStrides(call, gate);
        call.scalar(kw).scalar(1).scalar(kh).scalar(1); // w_h.stride(0, 3), w_v.stride(0, 2)
        call.scalar(1).scalar(1);                       // b_h, b_v
        addLinearStrides(call, features);
        addLinearStrides(call, out[0].dims);
        call.pointer(out[0].type, Binding::output(0));
        Binding const work = call.reserveWorkspace(volume(gate) * static_cast<int64_t>(sizeof(float)));
        call.pointer(DT::kFLOAT, work)
            .constexprFloat("SCALE_H", static_cast<float>(gate.d[2]) / static_cast<float>(features.d[2]))
            .constexprFloat("SCALE_W", static_cast<float>(gate.d[3]) / static_cast<float>(features.d[3]))
            .constexprInt("KH", kh)
            .constexprInt("KW", kw)
            .constexprInt("TAPS", tritonBlock(kw, 8))
            .constexprInt("BLOCK", kBlock)
            .grid(gate.d[0] * gate.d[1], 1, 1);
        return Launch{call, {}};
    }
};

using DFCAttentionCreator = CreatorBase<DFCAttentionPlugin>;
EDGEATTN_REGISTER_CREATOR(DFCAttentionCreator)
} // namespace edgeattn::plugins
