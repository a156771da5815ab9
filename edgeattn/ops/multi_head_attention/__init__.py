"""MultiHeadAttention: per-head softmax attention with optional bias and key mask."""

from edgeattn.ops.multi_head_attention import benchmark as _benchmark
from edgeattn.ops.multi_head_attention import cases as _cases
from edgeattn.ops.multi_head_attention import onnx as _onnx
from edgeattn.ops.multi_head_attention.cost import cost
from edgeattn.ops.multi_head_attention.evaluator import MultiHeadAttention
from edgeattn.ops.multi_head_attention.modules import capture
from edgeattn.ops.multi_head_attention.plugin import enqueue as _plugin_enqueue
from edgeattn.ops.multi_head_attention.plugin import kernels as _plugin_kernels
from edgeattn.ops.multi_head_attention.reference import multi_head_attention
from edgeattn.ops.multi_head_attention.torch_op import multi_head_attention_op
from edgeattn.ops.registry import Int8Support, ModuleSwap, OpDef, PluginKernels

_MODULES = "edgeattn.ops.multi_head_attention.modules"

OP_DEF = OpDef(
    name=_onnx.OP_TYPE,
    folder="multi_head_attention",
    torch_op=multi_head_attention_op,
    reference=multi_head_attention,
    portable=_onnx.portable,
    plugin=_onnx.plugin,
    evaluator=MultiHeadAttention,
    schema=_onnx.SCHEMA,
    cost=cost,
    make_inputs=_cases.make_inputs,
    batched_inputs=_cases.BATCHED_INPUTS,
    swaps=(
        ModuleSwap("timm.models.lowformer:ConvAttention", f"{_MODULES}:EdgeConvAttention"),
        ModuleSwap("timm.models.efficientvit_msra:CascadedGroupAttention", f"{_MODULES}:EdgeCascadedGroupAttention"),
        ModuleSwap("edgeattn.backbones.dsvt:RegionAttention", f"{_MODULES}:EdgeRegionAttention"),
        ModuleSwap("edgeattn.backbones.stvit:GlobalAttention", f"{_MODULES}:EdgeGlobalAttention"),
    ),
    capture=capture,
    benchmark_variants=_benchmark.variants,
    int8=Int8Support(quantized_inputs=3, head_scales=True),
    plugin_kernels=PluginKernels(_plugin_kernels.node_launches, _plugin_kernels.case_attributes,
                                 _plugin_enqueue.enqueue_case),
)
