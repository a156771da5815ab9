// TensorRT plugin edgeattn::SetAttention (version 1): DSVT's attention inside voxel sets.
//
// Runs set_attention_kernel of edgeattn/ops/set_attention/triton.py, launched exactly as its Python
// launcher launches it (grid cdiv(N, 64) x heads). The voxel count N and the set count S are
// dynamic (one TensorRT profile covers a scene's range); T, C and the heads are static, so every
// N and S use one kernel variant. The Python launcher range-checks index values before launching;
// the plugin cannot without a device sync, so the kernel itself never trusts them (bad indices give
// zero rows or masked keys, never an out-of-bounds access).
#include "edgeattn_plugins/plugin_base.h"
#include "edgeattn_plugins/registry.h"
#include "edgeattn_plugins/shapes.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace edgeattn::plugins
{
namespace
{
using DT = trt::DataType;

constexpr char const* kNumHeads = "num_heads";
constexpr char const* kScale = "scale";
constexpr int64_t kBlockQ = 64; // block_q of the Python launcher

//! Why q, k, v, set_inds, set_valid, voxel_slot cannot run (triton.py's _shape_refusal), or "".
std::string shapeRefusal(trt::PluginTensorDesc const* in, int64_t heads)
{
    trt::Dims const& q = in[0].dims;
    trt::Dims const& inds = in[3].dims;
    bool const sameQkv = q.nbDims == 2 && in[1].dims.nbDims == 2 && in[2].dims.nbDims == 2
        && std::equal(q.d, q.d + 2, in[1].dims.d) && std::equal(q.d, q.d + 2, in[2].dims.d);
    if (!sameQkv)
    {
        return "q, k, v must be [N, C] of one shape, got " + dimsText(q) + ", " + dimsText(in[1].dims) + ", "
            + dimsText(in[2].dims);
    }
    if (q.d[1] % heads != 0)
    {
        return "C=" + std::to_string(q.d[1]) + " must be a positive multiple of num_heads=" + std::to_string(heads);
    }
    if (inds.nbDims != 2 || in[4].dims.nbDims != 2 || !std::equal(inds.d, inds.d + 2, in[4].dims.d))
    {
        return "set_inds " + dimsText(inds) + " and set_valid " + dimsText(in[4].dims) + " must be one [S, T] shape";
    }
    if (in[5].dims.nbDims != 1 || in[5].dims.d[0] != q.d[0])
    {
        return "voxel_slot " + dimsText(in[5].dims) + " must be [N] with N=" + std::to_string(q.d[0]);
    }
    if (hasEmptyDim(q) || hasEmptyDim(inds))
    {
        return "empty tensors are not supported";
    }
    return "";
}
} // namespace

class SetAttentionPlugin : public PluginBase<SetAttentionPlugin>
{
public:
    static constexpr char const* kName = "SetAttention";
    static constexpr int32_t kNbInputs = 6;
    static constexpr int32_t kNbOutputs = 1;

    SetAttentionPlugin(std::string layerName, Fields fields)
        : PluginBase(std::move(layerName), std::move(fields))
    {
    }

    static std::vector<FieldSpec> fieldSpecs()
    {
        return {{kNumHeads, FieldKind::kInt32, true, 1}, {kScale, FieldKind::kFloat32, true, 1}};
    }

    static std::string validate(Fields const& fields)
    {
        int32_t const heads = fields.ints(kNumHeads)[0];
        if (heads < 1 || heads > 65535)
        {
            return "field 'num_heads' is " + std::to_string(heads) + "; it must lie in [1, 65535] (DSVT: 8)";
        }
        float const scale = fields.floats(kScale)[0];
        if (!std::isfinite(scale) || scale <= 0.F)
        {
            return "field 'scale' is " + std::to_string(scale) + "; it must be positive and finite (head_dim ** -0.5)";
        }
        return "";
    }

    //! (q, k, v, set_inds, set_valid, voxel_slot) -> out: q, k, v and out fp32 or fp16; set_inds and
    //! voxel_slot both int32 or both int64; set_valid int32 (TensorRT plugins take no kBOOL; the plugin
    //! graph casts the bool mask).
    std::vector<IOTypes> ioTypes() const
    {
        std::vector<IOTypes> types;
        for (DT value : {DT::kFLOAT, DT::kHALF})
        {
            for (DT index : {DT::kINT32, DT::kINT64})
            {
                types.push_back({value, value, value, index, DT::kINT32, index, value});
            }
        }
        return types;
    }

    //! out = [N, C] = [voxel_slot.d0, q.d1]; N stays symbolic.
    int32_t outputShapes(trt::DimsExprs const* in, trt::DimsExprs* out, trt::IExprBuilder& /*builder*/) const
    {
        if (in[0].nbDims != 2 || in[5].nbDims != 1)
        {
            logError(context() + ": q must be [N, C] and voxel_slot [N]");
            return -1;
        }
        out[0].nbDims = 2;
        out[0].d[0] = in[5].d[0];
        out[0].d[1] = in[0].d[1];
        return 0;
    }

    std::optional<Launch> plan(trt::PluginTensorDesc const* in, trt::PluginTensorDesc const* out) const
    {
        int64_t const heads = fields().ints(kNumHeads)[0];
        std::string const why = shapeRefusal(in, heads);
        if (!why.empty())
        {
            logError(context() + ": " + why);
            return std::nullopt;
        }
        int64_t const n = in[0].dims.d[0];
        int64_t const channels = in[0].dims.d[1];
        int64_t const size = in[3].dims.d[1];
        int64_t const headDim = channels / heads;
        KernelCall call("set_attention_kernel");
        call.pointer(in[0].type, Binding::input(0)).pointer(in[1].type, Binding::input(1));
        call.pointer(in[2].type, Binding::input(2)).pointer(in[3].type, Binding::input(3));
        call.pointer(in[4].type, Binding::input(4)).pointer(in[5].type, Binding::input(5));
        call.scalar(n).scalar(in[3].dims.d[0]).scalar(size).scalar(headDim);
        for (int32_t i = 0; i < 3; ++i)
        {
            call.scalar(channels).scalar(1); // q, k, v
        }
        call.scalar(size).scalar(1).scalar(size).scalar(1); // set_inds, set_valid
        call.scalar(1).scalar(channels).scalar(1);          // voxel_slot, out
        call.pointer(out[0].type, Binding::output(0))
            .constexprFloat("SCALE", fields().floats(kScale)[0])
            .constexprInt("BLOCK_Q", kBlockQ)
            .constexprInt("BLOCK_D", tritonBlock(headDim, 16))
            .grid(ceilDiv(n, kBlockQ), heads, 1);
        return Launch{call, {}};
    }
};

using SetAttentionCreator = CreatorBase<SetAttentionPlugin>;
EDGEATTN_REGISTER_CREATOR(SetAttentionCreator)
} // namespace edgeattn::plugins
