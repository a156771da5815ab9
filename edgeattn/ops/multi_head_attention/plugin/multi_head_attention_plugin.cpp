// TensorRT plugin edgeattn::MultiHeadAttention (version 1): per-head softmax attention with an optional
// additive bias and an optional key mask (LowFormer, EfficientViT-M, DSVT pooling).
//
// Runs the Triton kernels of edgeattn/kernels/attention.py, launched exactly as
// edgeattn/ops/multi_head_attention/triton.py launches them on contiguous [B, H, N, D] tensors.
// Inputs: q, k, v, then attn_bias (when has_attn_bias) and key_mask (when has_key_mask), in that order.
#include "edgeattn_plugins/plugin_base.h"
#include "edgeattn_plugins/registry.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <initializer_list>

namespace edgeattn::plugins
{
namespace
{
using DT = trt::DataType;

constexpr char const* kNumHeads = "num_heads";
constexpr char const* kScale = "scale";
constexpr char const* kHasBias = "has_attn_bias";
constexpr char const* kHasMask = "has_key_mask";
constexpr char const* kInt8Scales[] = {"int8_q_scales", "int8_k_scales", "int8_v_scales", "int8_p_scales"};
constexpr char const* kOutputScales = "int8_o_scales";
constexpr int64_t kMaxHeadDim = 256; // MAX_HEAD_DIM of the kernels

bool dimsEqual(trt::Dims const& dims, std::initializer_list<int64_t> values)
{
    return dims.nbDims == static_cast<int32_t>(values.size()) && std::equal(values.begin(), values.end(), dims.d);
}

//! Why q [B, H, N, D], k [B, H, M, D], v [B, H, M, Dv] cannot run (triton.py's _shape_refusal), or "".
std::string qkvRefusal(trt::Dims const& q, trt::Dims const& k, trt::Dims const& v, int64_t heads)
{
    if (q.nbDims != 4 || k.nbDims != 4 || v.nbDims != 4)
    {
        return "q, k and v must be 4-D [B, H, tokens, D], got " + dimsText(q) + ", " + dimsText(k) + ", " + dimsText(v);
    }
    if (!dimsEqual(k, {q.d[0], q.d[1], k.d[2], q.d[3]}))
    {
        return "k " + dimsText(k) + " must be [B, H, M, D] with B, H, D of q " + dimsText(q);
    }
    if (v.d[0] != q.d[0] || v.d[1] != q.d[1] || v.d[2] != k.d[2])
    {
        return "v " + dimsText(v) + " must be [B, H, M, Dv] with B, H, M of k " + dimsText(k);
    }
    if (q.d[1] != heads)
    {
        return "q " + dimsText(q) + " has " + std::to_string(q.d[1]) + " heads; field 'num_heads' is "
            + std::to_string(heads);
    }
    if (q.d[3] > kMaxHeadDim)
    {
        return "head dim " + std::to_string(q.d[3]) + " exceeds the kernel limit 256";
    }
    if (q.d[0] <= 0 || q.d[2] <= 0 || q.d[3] <= 0 || k.d[2] <= 0 || v.d[3] <= 0)
    {
        return "empty tensors are not supported";
    }
    return "";
}

//! Why a finite positive scale field is not usable ("" when it is).
std::string scaleRefusal(Fields const& fields, char const* name, int32_t heads)
{
    std::vector<float> const& values = fields.floats(name);
    if (values.size() != 1 && values.size() != static_cast<size_t>(heads))
    {
        return std::string("field '") + name + "' has " + std::to_string(values.size())
            + " values; expected 1 or num_heads = " + std::to_string(heads) + " (one per head)";
    }
    for (float value : values)
    {
        if (!std::isfinite(value) || value <= 0.F)
        {
            return std::string("field '") + name + "' has value " + std::to_string(value)
                + "; an INT8 scale must be positive and finite (amax / 127)";
        }
    }
    return "";
}

//! Why the optional-input flags or the INT8 scale pairing are unusable ("" when fine).
std::string flagRefusal(Fields const& fields)
{
    for (char const* name : {kHasBias, kHasMask})
    {
        int32_t const value = fields.ints(name)[0];
        if (value != 0 && value != 1)
        {
            return std::string("field '") + name + "' is " + std::to_string(value) + "; it must be 0 or 1";
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
} // namespace

class MultiHeadAttentionPlugin : public PluginBase<MultiHeadAttentionPlugin>
{
public:
    static constexpr char const* kName = "MultiHeadAttention";
    static constexpr int32_t kNbOutputs = 1;

    MultiHeadAttentionPlugin(std::string layerName, Fields fields)
        : PluginBase(std::move(layerName), std::move(fields))
    {
    }

    //! q, k, v and the optional inputs the flags announce.
    int32_t nbInputs() const noexcept
    {
        return 3 + hasBias() + hasMask();
    }

    static std::vector<FieldSpec> fieldSpecs()
    {
        std::vector<FieldSpec> specs{{kNumHeads, FieldKind::kInt32, true, 1}, {kScale, FieldKind::kFloat32, true, 1},
            {kHasBias, FieldKind::kInt32, true, 1}, {kHasMask, FieldKind::kInt32, true, 1}};
        for (char const* name : kInt8Scales)
        {
            specs.push_back({name, FieldKind::kFloat32, false, 0});
        }
        specs.push_back({kOutputScales, FieldKind::kFloat32, false, 0});
        return specs;
    }

    static std::string validate(Fields const& fields)
    {
        float const scale = fields.floats(kScale)[0];
        if (!std::isfinite(scale) || scale <= 0.F)
        {
            return "field 'scale' is " + std::to_string(scale) + "; it must be positive and finite (head_dim ** -0.5)";
        }
        int32_t const heads = fields.ints(kNumHeads)[0];
        if (heads < 1)
        {
            return "field 'num_heads' is " + std::to_string(heads) + "; it must be at least 1 (q.shape[1])";
        }
        for (char const* name : {kInt8Scales[0], kInt8Scales[1], kInt8Scales[2], kInt8Scales[3], kOutputScales})
        {
            std::string const why = fields.has(name) ? scaleRefusal(fields, name, heads) : "";
            if (!why.empty())
            {
                return why;
            }
        }
        return flagRefusal(fields);
    }

    //! (q, k, v, [attn_bias], [key_mask]) -> out. attn_bias has the output's type, key_mask is int32
    //! (non-zero = valid: the plugin graph casts the bool mask, TensorRT plugins take no kBOOL tensors).
    //! INT8 q, k need their scales; INT8 v needs v and p scales (output fp16).
    std::vector<IOTypes> ioTypes() const
    {
        std::vector<IOTypes> qkvOut{{DT::kFLOAT, DT::kFLOAT, DT::kFLOAT, DT::kFLOAT},
            {DT::kHALF, DT::kHALF, DT::kHALF, DT::kHALF}};
        if (fields().has(kInt8Scales[0]))
        {
            qkvOut.push_back({DT::kINT8, DT::kINT8, DT::kFLOAT, DT::kFLOAT});
            qkvOut.push_back({DT::kINT8, DT::kINT8, DT::kHALF, DT::kHALF});
        }
        if (fields().has(kInt8Scales[2]))
        {
            qkvOut.push_back({DT::kINT8, DT::kINT8, DT::kINT8, DT::kHALF});
        }
        std::vector<IOTypes> types;
        for (IOTypes const& t : qkvOut)
        {
            IOTypes io(t.begin(), t.begin() + 3);
            if (hasBias())
            {
                io.push_back(t[3]);
            }
            if (hasMask())
            {
                io.push_back(DT::kINT32);
            }
            io.push_back(t[3]);
            types.push_back(io);
        }
        return types;
    }

    //! out = [B, H, N, Dv] = [q.d0, q.d1, q.d2, v.d3].
    int32_t outputShapes(trt::DimsExprs const* in, trt::DimsExprs* out, trt::IExprBuilder& /*builder*/) const
    {
        if (in[0].nbDims != 4 || in[1].nbDims != 4 || in[2].nbDims != 4)
        {
            logError(context() + ": q, k and v must be 4-D [B, H, tokens, D]");
            return -1;
        }
        if (in[0].d[1]->isConstant() && in[0].d[1]->getConstantValue() != fields().ints(kNumHeads)[0])
        {
            logError(context() + ": q has " + std::to_string(in[0].d[1]->getConstantValue())
                + " heads; field 'num_heads' is " + std::to_string(fields().ints(kNumHeads)[0]));
            return -1;
        }
        out[0].nbDims = 4;
        out[0].d[0] = in[0].d[0];
        out[0].d[1] = in[0].d[1];
        out[0].d[2] = in[0].d[2];
        out[0].d[3] = in[2].d[3];
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
        return in[0].type == DT::kINT8 ? planInt8(in, out) : planFloat(in, out);
    }

private:
    bool hasBias() const noexcept
    {
        return fields().ints(kHasBias)[0] != 0;
    }
    bool hasMask() const noexcept
    {
        return fields().ints(kHasMask)[0] != 0;
    }
    int32_t maskIndex() const noexcept
    {
        return 3 + hasBias();
    }

    std::string shapeRefusal(trt::PluginTensorDesc const* in) const
    {
        trt::Dims const& q = in[0].dims;
        std::string why = qkvRefusal(q, in[1].dims, in[2].dims, fields().ints(kNumHeads)[0]);
        int64_t const m = in[1].dims.d[2];
        if (why.empty() && hasBias() && !dimsEqual(in[3].dims, {q.d[1], q.d[2], m})
            && !dimsEqual(in[3].dims, {q.d[0], q.d[1], q.d[2], m}))
        {
            why = "attn_bias " + dimsText(in[3].dims) + " must be [H, N, M] or [B, H, N, M]";
        }
        if (why.empty() && hasMask() && !dimsEqual(in[maskIndex()].dims, {q.d[0], m}))
        {
            why = "key_mask " + dimsText(in[maskIndex()].dims) + " must be [B, M] = [" + std::to_string(q.d[0]) + ", "
                + std::to_string(m) + "]";
        }
        return why;
    }

    //! q, k, v, bias, mask pointers (q stands in for an absent bias or mask).
    void addInputs(KernelCall& call, trt::PluginTensorDesc const* in) const
    {
        DT const q = in[0].type;
        call.pointer(q, Binding::input(0)).pointer(in[1].type, Binding::input(1));
        call.pointer(in[2].type, Binding::input(2));
        call.pointer(hasBias() ? in[3].type : q, Binding::input(hasBias() ? 3 : 0));
        call.pointer(hasMask() ? DT::kINT32 : q, Binding::input(hasMask() ? maskIndex() : 0));
    }

    //! Sizes and strides both kernels take alike (attention.py's _launch), constexprs and the grid.
    void addShapes(KernelCall& call, trt::PluginTensorDesc const* in, trt::PluginTensorDesc const* out) const
    {
        trt::Dims const& q = in[0].dims;
        int64_t const n = q.d[2];
        int64_t const m = in[1].dims.d[2];
        int64_t const d = q.d[3];
        int64_t const dv = in[2].dims.d[3];
        int64_t const minK = in[0].type == DT::kINT8 ? 32 : 16; // tl.dot: K >= 32 for int8, >= 16 otherwise
        int64_t const blockM = tritonBlock(n, 16, 64);
        int64_t const blockDv = tritonBlock(dv, 16, 128);
        call.scalar(n).scalar(m).scalar(d).scalar(dv).scalar(q.d[1]);
        addLinearStrides(call, q);
        addLinearStrides(call, in[1].dims);
        addLinearStrides(call, in[2].dims);
        if (!hasBias())
        {
            call.scalar(0).scalar(0).scalar(0).scalar(0);
        }
        else
        {
            call.scalar(in[3].dims.nbDims == 3 ? 0 : in[3].dims.d[1] * n * m).scalar(n * m).scalar(m).scalar(1);
        }
        call.scalar(hasMask() ? m : 0).scalar(hasMask() ? 1 : 0);
        addLinearStrides(call, out[0].dims);
        if (in[0].type == DT::kINT8)
        {
            call.scalar(0).scalar(0).scalar(0).scalar(0); // no int32 scores
        }
        call.constexprFloat("SCALE", fields().floats(kScale)[0])
            .constexprBool("HAS_BIAS", hasBias())
            .constexprBool("HAS_MASK", hasMask())
            .constexprInt("BLOCK_M", blockM)
            .constexprInt("BLOCK_N", tritonBlock(m, minK, 64))
            .constexprInt("BLOCK_D", tritonBlock(d, minK, INT64_MAX))
            .constexprInt("BLOCK_DV", blockDv)
            .grid(q.d[0] * q.d[1], ceilDiv(n, blockM), ceilDiv(dv, blockDv));
    }

    std::optional<Launch> planFloat(trt::PluginTensorDesc const* in, trt::PluginTensorDesc const* out) const
    {
        KernelCall call("attention_fwd_kernel");
        addInputs(call, in);
        addShapes(call, in, out);
        call.pointer(out[0].type, Binding::output(0));
        return Launch{call, {}};
    }

    //! Device constants [q_scale[H], k_scale[H], v_scale[H], p_scale[H]] (fp32); q and k only for float v.
    std::optional<Launch> planInt8(trt::PluginTensorDesc const* in, trt::PluginTensorDesc const* out) const
    {
        bool const vInt8 = in[2].type == DT::kINT8;
        int32_t const heads = fields().ints(kNumHeads)[0];
        int32_t const bytes = 4 * heads; // one scale array
        KernelCall call("attention_int8_kernel");
        addInputs(call, in);
        call.pointer(DT::kFLOAT, Binding::constants(0)).pointer(DT::kFLOAT, Binding::constants(bytes));
        call.pointer(DT::kFLOAT, Binding::constants(vInt8 ? 2 * bytes : 0));
        call.pointer(DT::kFLOAT, Binding::constants(vInt8 ? 3 * bytes : 0));
        addShapes(call, in, out);
        call.pointer(out[0].type, Binding::output(0)).pointer(out[0].type, Binding::output(0)); // o, (unused) scores
        call.constexprBool("V_INT8", vInt8).constexprBool("STORE_SCORES", false);
        std::vector<float> values;
        for (int32_t i = 0; i < (vInt8 ? 4 : 2); ++i)
        {
            std::vector<float> const& scales = fields().floats(kInt8Scales[i]);
            for (int32_t h = 0; h < heads; ++h)
            {
                values.push_back(scales[scales.size() == 1 ? 0 : static_cast<size_t>(h)]);
            }
        }
        std::vector<uint8_t> constants(values.size() * sizeof(float));
        std::memcpy(constants.data(), values.data(), constants.size());
        return Launch{call, constants};
    }
};

using MultiHeadAttentionCreator = CreatorBase<MultiHeadAttentionPlugin>;
EDGEATTN_REGISTER_CREATOR(MultiHeadAttentionCreator)
} // namespace edgeattn::plugins
