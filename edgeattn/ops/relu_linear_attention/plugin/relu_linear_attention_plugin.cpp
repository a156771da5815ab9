// TensorRT plugin edgeattn::ReLULinearAttention (version 1): EfficientViT-B/L LiteMLA ReLU linear attention.
//
// Runs the Triton kernel of edgeattn/ops/relu_linear_attention/triton.py, launched exactly as that
// module launches it on contiguous [B, H, N, D] tensors. The relu(k)^T v state, the normaliser and the
// division are fp32 for every input type (int32 state for INT8 v).
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

constexpr char const* kEps = "eps";
constexpr char const* kInt8Scales[] = {"int8_q_scales", "int8_k_scales", "int8_v_scales"};
constexpr char const* kOutputScales = "int8_o_scales";
constexpr int64_t kMaxHeadDim = 256; // MAX_HEAD_DIM of the kernel

//! Why q, k [B, H, N, D] and v [B, H, N, Dv] cannot run (the checks of triton.py's _shape_refusal), or "".
std::string shapeRefusal(trt::Dims const& q, trt::Dims const& k, trt::Dims const& v)
{
    if (q.nbDims != 4 || k.nbDims != 4 || v.nbDims != 4)
    {
        return "q, k and v must be 4-D [B, H, N, D], got " + dimsText(q) + ", " + dimsText(k) + ", " + dimsText(v);
    }
    if (!std::equal(q.d, q.d + 4, k.d))
    {
        return "q " + dimsText(q) + " and k " + dimsText(k) + " must have the same shape";
    }
    if (!std::equal(q.d, q.d + 3, v.d))
    {
        return "v " + dimsText(v) + " must be [B, H, N, Dv] with B, H, N of q " + dimsText(q);
    }
    if (q.d[3] > kMaxHeadDim)
    {
        return "head dim " + std::to_string(q.d[3]) + " exceeds the kernel limit 256";
    }
    if (q.d[0] <= 0 || q.d[1] <= 0 || q.d[2] <= 0 || q.d[3] <= 0 || v.d[3] <= 0)
    {
        return "empty tensors are not supported";
    }
    return "";
}
} // namespace

class ReLULinearAttentionPlugin : public PluginBase<ReLULinearAttentionPlugin>
{
public:
    static constexpr char const* kName = "ReLULinearAttention";
    static constexpr int32_t kNbInputs = 3;
    static constexpr int32_t kNbOutputs = 1;

    ReLULinearAttentionPlugin(std::string layerName, Fields fields)
        : PluginBase(std::move(layerName), std::move(fields))
    {
    }

    static std::vector<FieldSpec> fieldSpecs()
    {
        std::vector<FieldSpec> specs{{kEps, FieldKind::kFloat32, true, 1}};
        for (char const* name : kInt8Scales)
        {
            specs.push_back({name, FieldKind::kFloat32, false, 0});
        }
        specs.push_back({kOutputScales, FieldKind::kFloat32, false, 0});
        return specs;
    }

    static std::string validate(Fields const& fields)
    {
        float const eps = fields.floats(kEps)[0];
        if (!std::isfinite(eps) || eps <= 0.F)
        {
            return "field 'eps' is " + std::to_string(eps) + "; it must be positive and finite (1e-5 in LiteMLA)";
        }
        for (char const* name : {kInt8Scales[0], kInt8Scales[1], kInt8Scales[2], kOutputScales})
        {
            for (float value : fields.has(name) ? fields.floats(name) : std::vector<float>{})
            {
                if (!std::isfinite(value) || value <= 0.F)
                {
                    return std::string("field '") + name + "' has value " + std::to_string(value)
                        + "; an INT8 scale must be positive and finite (amax / 127)";
                }
            }
        }
        if (fields.has(kInt8Scales[0]) != fields.has(kInt8Scales[1]))
        {
            return "fields 'int8_q_scales' and 'int8_k_scales' must be given together";
        }
        if (fields.has(kInt8Scales[2]) && !fields.has(kInt8Scales[0]))
        {
            return "field 'int8_v_scales' needs 'int8_q_scales' and 'int8_k_scales'";
        }
        return "";
    }

    //! (q, k, v) -> out. INT8 q, k need their scales; INT8 v needs its scale (output fp16).
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

    //! out = v's shape [B, H, N, Dv].
    int32_t outputShapes(trt::DimsExprs const* in, trt::DimsExprs* out, trt::IExprBuilder& /*builder*/) const
    {
        if (in[0].nbDims != 4 || in[1].nbDims != 4 || in[2].nbDims != 4)
        {
            logError(context() + ": q, k and v must be 4-D [B, H, N, D]");
            return -1;
        }
        out[0] = in[2];
        return 0;
    }

    std::optional<Launch> plan(trt::PluginTensorDesc const* in, trt::PluginTensorDesc const* out) const
    {
        std::string const why = shapeRefusal(in[0].dims, in[1].dims, in[2].dims);
        std::string const scales = why.empty() ? scaleRefusal(in[0].dims.d[1]) : "";
        if (!why.empty() || !scales.empty())
        {
            logError(context() + ": " + why + scales);
            return std::nullopt;
        }
        bool const qkInt8 = in[0].type == DT::kINT8;
        int64_t const heads = in[0].dims.d[1];
        KernelCall call("relu_linear_attention_kernel");
        call.pointer(in[0].type, Binding::input(0)).pointer(in[1].type, Binding::input(1));
        call.pointer(in[2].type, Binding::input(2));
        addScalePointers(call, in);
        call.scalar(in[0].dims.d[2]).scalar(in[0].dims.d[3]).scalar(in[2].dims.d[3]).scalar(heads);
        for (trt::Dims const& dims : {in[0].dims, in[1].dims, in[2].dims, out[0].dims})
        {
            addLinearStrides(call, dims);
        }
        call.scalar(0).scalar(0).scalar(0).scalar(0); // no int32 state output
        call.pointer(out[0].type, Binding::output(0)).pointer(out[0].type, Binding::output(0)); // o, (unused) state
        int64_t const blockDv = tritonBlock(in[2].dims.d[3], 16, 64);
        call.constexprFloat("EPS", fields().floats(kEps)[0])
            .constexprBool("QK_INT8", qkInt8)
            .constexprBool("V_INT8", in[2].type == DT::kINT8)
            .constexprBool("STORE_STATE", false)
            .constexprInt("BLOCK_N", tritonBlock(in[0].dims.d[2], qkInt8 ? 32 : 16, 64))
            .constexprInt("BLOCK_D", tritonBlock(in[0].dims.d[3], 16, INT64_MAX))
            .constexprInt("BLOCK_DV", blockDv)
            .grid(in[0].dims.d[0] * heads, ceilDiv(in[2].dims.d[3], blockDv), 1);
        return Launch{call, qkInt8 ? constants(heads, in[2].type == DT::kINT8) : std::vector<uint8_t>{}};
    }

private:
    //! Why a present INT8 scale field cannot serve `heads` heads (1 value or one per head), or "".
    std::string scaleRefusal(int64_t heads) const
    {
        for (char const* name : {kInt8Scales[0], kInt8Scales[1], kInt8Scales[2], kOutputScales})
        {
            size_t const count = fields().has(name) ? fields().floats(name).size() : 1;
            if (count != 1 && count != static_cast<size_t>(heads))
            {
                return std::string("field '") + name + "' has " + std::to_string(count) + " values for "
                    + std::to_string(heads) + " heads; expected 1 or one per head";
            }
        }
        return "";
    }

    //! q_scale, k_scale, v_scale pointers: q stands in for all three in the float kernel; with float v the
    //! (unread) v_scale is q_scale, as in triton.py.
    static void addScalePointers(KernelCall& call, trt::PluginTensorDesc const* in)
    {
        if (in[0].type != DT::kINT8)
        {
            for (int32_t i = 0; i < 3; ++i)
            {
                call.pointer(in[0].type, Binding::input(0));
            }
            return;
        }
        int32_t const bytes = 4 * in[0].dims.d[1]; // one per-head scale array
        call.pointer(DT::kFLOAT, Binding::constants(0)).pointer(DT::kFLOAT, Binding::constants(bytes));
        call.pointer(DT::kFLOAT, Binding::constants(in[2].type == DT::kINT8 ? 2 * bytes : 0));
    }

    //! Device constants [q_scale[H], k_scale[H], (v_scale[H])] (fp32), one value per head.
    std::vector<uint8_t> constants(int64_t heads, bool vInt8) const
    {
        std::vector<float> values;
        for (int32_t i = 0; i < (vInt8 ? 3 : 2); ++i)
        {
            std::vector<float> const& scales = fields().floats(kInt8Scales[i]);
            for (int64_t h = 0; h < heads; ++h)
            {
                values.push_back(scales[scales.size() == 1 ? 0 : static_cast<size_t>(h)]);
            }
        }
        std::vector<uint8_t> bytes(values.size() * sizeof(float));
        std::memcpy(bytes.data(), values.data(), bytes.size());
        return bytes;
    }
};

using ReLULinearAttentionCreator = CreatorBase<ReLULinearAttentionPlugin>;
EDGEATTN_REGISTER_CREATOR(ReLULinearAttentionCreator)
} // namespace edgeattn::plugins
