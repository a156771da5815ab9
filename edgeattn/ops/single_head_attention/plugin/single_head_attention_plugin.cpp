// TensorRT plugin edgeattn::SingleHeadAttention (version 1): SHViT single-head attention.
//
// Runs the Triton kernels of edgeattn/kernels/attention.py, launched exactly as
// edgeattn/ops/single_head_attention/triton.py launches them: the channel-first [B, D, N] tensors
// are passed as single-head [B, 1, N, D] views (token and channel strides swapped).
#include "edgeattn_plugins/plugin_base.h"
#include "edgeattn_plugins/registry.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace edgeattn::plugins
{
namespace
{
using DT = trt::DataType;

constexpr char const* kScale = "scale";
constexpr char const* kInt8Scales[] = {"int8_q_scales", "int8_k_scales", "int8_v_scales", "int8_p_scales"};
constexpr char const* kOutputScales = "int8_o_scales";
constexpr int64_t kMaxHeadDim = 256; // MAX_HEAD_DIM of the kernels

//! Why q, k, v [B, D, N] cannot run (the checks of triton.py's _shape_refusal), or "".
std::string shapeRefusal(trt::Dims const& q, trt::Dims const& k, trt::Dims const& v)
{
    if (q.nbDims != 3 || k.nbDims != 3 || v.nbDims != 3)
    {
        return "q, k and v must be 3-D [B, D, N] (channels first), got " + dimsText(q) + ", " + dimsText(k) + ", "
            + dimsText(v);
    }
    if (q.d[0] != k.d[0] || q.d[1] != k.d[1] || q.d[2] != k.d[2])
    {
        return "q " + dimsText(q) + " and k " + dimsText(k) + " must have the same shape";
    }
    if (v.d[0] != q.d[0] || v.d[2] != q.d[2])
    {
        return "v " + dimsText(v) + " must share batch and token count with q " + dimsText(q);
    }
    if (q.d[1] > kMaxHeadDim)
    {
        return "q/k channel count " + std::to_string(q.d[1]) + " exceeds the kernel limit 256";
    }
    if (q.d[0] <= 0 || q.d[1] <= 0 || q.d[2] <= 0 || v.d[1] <= 0)
    {
        return "empty tensors are not supported";
    }
    return "";
}

//! Strides of the [B, 1, N, C] view of a contiguous [B, C, N] tensor (torch's transpose + unsqueeze).
void headViewStrides(KernelCall& call, int64_t channels, int64_t tokens)
{
    call.scalar(channels * tokens).scalar(tokens).scalar(1).scalar(tokens);
}
} // namespace

class SingleHeadAttentionPlugin : public PluginBase<SingleHeadAttentionPlugin>
{
public:
    static constexpr char const* kName = "SingleHeadAttention";
    static constexpr int32_t kNbInputs = 3;
    static constexpr int32_t kNbOutputs = 1;

    SingleHeadAttentionPlugin(std::string layerName, Fields fields)
        : PluginBase(std::move(layerName), std::move(fields))
    {
    }

    static std::vector<FieldSpec> fieldSpecs()
    {
        std::vector<FieldSpec> specs{{kScale, FieldKind::kFloat32, true, 1}};
        for (char const* name : kInt8Scales)
        {
            specs.push_back({name, FieldKind::kFloat32, false, 1});
        }
        specs.push_back({kOutputScales, FieldKind::kFloat32, false, 1});
        return specs;
    }

    static std::string validate(Fields const& fields)
    {
        float const scale = fields.floats(kScale)[0];
        if (!std::isfinite(scale) || scale <= 0.F)
        {
            return "field 'scale' is " + std::to_string(scale) + "; it must be positive and finite (qk_dim ** -0.5)";
        }
        for (char const* name : {kInt8Scales[0], kInt8Scales[1], kInt8Scales[2], kInt8Scales[3], kOutputScales})
        {
            if (fields.has(name) && !(std::isfinite(fields.floats(name)[0]) && fields.floats(name)[0] > 0.F))
            {
                return std::string("field '") + name + "' is " + std::to_string(fields.floats(name)[0])
                    + "; an INT8 scale must be positive and finite (amax / 127)";
            }
        }
        if (fields.has(kInt8Scales[0]) != fields.has(kInt8Scales[1]))
        {
            return "fields 'int8_q_scales' and 'int8_k_scales' must be given together";
        }
        if (fields.has(kInt8Scales[2]) != fields.has(kInt8Scales[3]))
        {
            return "fields 'int8_v_scales' and 'int8_p_scales' must be given together";
        }
        if (fields.has(kInt8Scales[2]) && !fields.has(kInt8Scales[0]))
        {
            return "fields 'int8_v_scales'/'int8_p_scales' need 'int8_q_scales' and 'int8_k_scales'";
        }
        return "";
    }

    //! (q, k, v) -> out. INT8 q, k need their scales; INT8 v needs v and p scales (output fp16).
    std::vector<IOTypes> ioTypes() const
    {
        std::vector<IOTypes> types{{DT::kFLOAT, DT::kFLOAT, DT::kFLOAT, DT::kFLOAT},
            {DT::kHALF, DT::kHALF, DT::kHALF, DT::kHALF}};
        if (fields().has(kInt8Scales[0]))
        {
            types.push_back({DT::kINT8, DT::kINT8, DT::kFLOAT, DT::kFLOAT});
            types.push_back({DT::kINT8, DT::kINT8, DT::kHALF, DT::kHALF});
        }
        if (fields().has(kInt8Scales[2]))
        {
            types.push_back({DT::kINT8, DT::kINT8, DT::kINT8, DT::kHALF});
        }
        return types;
    }

    //! out = [B, Dv, N] = [v.d0, v.d1, q.d2].
    int32_t outputShapes(trt::DimsExprs const* in, trt::DimsExprs* out, trt::IExprBuilder& /*builder*/) const
    {
        if (in[0].nbDims != 3 || in[1].nbDims != 3 || in[2].nbDims != 3)
        {
            logError(context() + ": q, k and v must be 3-D [B, D, N] (channels first)");
            return -1;
        }
        out[0].nbDims = 3;
        out[0].d[0] = in[2].d[0];
        out[0].d[1] = in[2].d[1];
        out[0].d[2] = in[0].d[2];
        return 0;
    }

    std::optional<Launch> plan(trt::PluginTensorDesc const* in, trt::PluginTensorDesc const* out) const
    {
        std::string const why = shapeRefusal(in[0].dims, in[1].dims, in[2].dims);
        if (!why.empty())
        {
            logError(context() + ": " + why);
            return std::nullopt;
        }
        return in[0].type == DT::kINT8 ? planInt8(in, out) : planFloat(in, out);
    }

private:
    //! Arguments both kernels take alike (attention.py's _launch): q, k, v, bias, mask pointers
    //! are added by the caller; this adds sizes and strides, constexprs and the grid.
    void addShapes(KernelCall& call, trt::PluginTensorDesc const* in, bool scoreStrides) const
    {
        int64_t const batch = in[0].dims.d[0];
        int64_t const d = in[0].dims.d[1];
        int64_t const n = in[0].dims.d[2];
        int64_t const dv = in[2].dims.d[1];
        int64_t const minK = in[0].type == DT::kINT8 ? 32 : 16; // tl.dot: K >= 32 for int8, >= 16 otherwise
        int64_t const blockM = tritonBlock(n, 16, 64);
        int64_t const blockDv = tritonBlock(dv, 16, 128);
        call.scalar(n).scalar(n).scalar(d).scalar(dv).scalar(1);
        headViewStrides(call, d, n);  // q
        headViewStrides(call, d, n);  // k
        headViewStrides(call, dv, n); // v
        call.scalar(0).scalar(0).scalar(0).scalar(0).scalar(0).scalar(0); // no bias, no key mask
        headViewStrides(call, dv, n); // out
        if (scoreStrides)
        {
            call.scalar(0).scalar(0).scalar(0).scalar(0); // no int32 scores
        }
        call.constexprFloat("SCALE", fields().floats(kScale)[0])
            .constexprBool("HAS_BIAS", false)
            .constexprBool("HAS_MASK", false)
            .constexprInt("BLOCK_M", blockM)
            .constexprInt("BLOCK_N", tritonBlock(n, minK, 64))
            .constexprInt("BLOCK_D", tritonBlock(d, minK, INT64_MAX))
            .constexprInt("BLOCK_DV", blockDv)
            .grid(batch, ceilDiv(n, blockM), ceilDiv(dv, blockDv));
    }

    std::optional<Launch> planFloat(trt::PluginTensorDesc const* in, trt::PluginTensorDesc const* out) const
    {
        KernelCall call("attention_fwd_kernel");
        DT const q = in[0].type;
        call.pointer(q, Binding::input(0)).pointer(in[1].type, Binding::input(1)).pointer(in[2].type, Binding::input(2));
        call.pointer(q, Binding::input(0)).pointer(q, Binding::input(0)); // bias and mask absent: q stands in
        addShapes(call, in, false);
        call.pointer(out[0].type, Binding::output(0));
        return Launch{call, {}};
    }

    //! Device constants [q_scale, k_scale, v_scale, p_scale] (fp32); without INT8 v only q and k.
    std::optional<Launch> planInt8(trt::PluginTensorDesc const* in, trt::PluginTensorDesc const* out) const
    {
        bool const vInt8 = in[2].type == DT::kINT8;
        KernelCall call("attention_int8_kernel");
        call.pointer(DT::kINT8, Binding::input(0)).pointer(DT::kINT8, Binding::input(1)).pointer(in[2].type, Binding::input(2));
        call.pointer(DT::kINT8, Binding::input(0)).pointer(DT::kINT8, Binding::input(0));
        call.pointer(DT::kFLOAT, Binding::constants(0)).pointer(DT::kFLOAT, Binding::constants(4));
        call.pointer(DT::kFLOAT, Binding::constants(vInt8 ? 8 : 0)).pointer(DT::kFLOAT, Binding::constants(vInt8 ? 12 : 0));
        addShapes(call, in, true);
        call.pointer(out[0].type, Binding::output(0)).pointer(out[0].type, Binding::output(0)); // o, (unused) scores
        call.constexprBool("V_INT8", vInt8).constexprBool("STORE_SCORES", false);
        std::vector<float> values{fields().floats(kInt8Scales[0])[0], fields().floats(kInt8Scales[1])[0]};
        if (vInt8)
        {
            values.push_back(fields().floats(kInt8Scales[2])[0]);
            values.push_back(fields().floats(kInt8Scales[3])[0]);
        }
        std::vector<uint8_t> constants(values.size() * sizeof(float));
        std::memcpy(constants.data(), values.data(), constants.size());
        return Launch{call, constants};
    }
};

using SingleHeadAttentionCreator = CreatorBase<SingleHeadAttentionPlugin>;
EDGEATTN_REGISTER_CREATOR(SingleHeadAttentionCreator)
} // namespace edgeattn::plugins
