"""SingleHeadAttention: SHViT single-head self-attention over channel-first tokens."""

from edgeattn.ops.registry import Int8Support, ModuleSwap, OpDef, PluginKernels
from edgeattn.ops.single_head_attention import benchmark as _benchmark
from edgeattn.ops.single_head_attention import cases as _cases
from edgeattn.ops.single_head_attention import onnx as _onnx
from edgeattn.ops.single_head_attention.cost import cost
from edgeattn.ops.single_head_attention.evaluator import SingleHeadAttention
from edgeattn.ops.single_head_attention.modules import capture
from edgeattn.ops.single_head_attention.plugin import kernels as _plugin_kernels
from edgeattn.ops.single_head_attention.reference import single_head_attention
from edgeattn.ops.single_head_attention.torch_op import single_head_attention_op

OP_DEF = OpDef(
    name=_onnx.OP_TYPE,
    folder="single_head_attention",
    torch_op=single_head_attention_op,
    reference=single_head_attention,
    portable=_onnx.portable,
    plugin=_onnx.plugin,
    evaluator=SingleHeadAttention,
    schema=_onnx.SCHEMA,
    cost=cost,
    make_inputs=_cases.make_inputs,
    batched_inputs=_cases.BATCHED_INPUTS,
    swaps=(
        ModuleSwap("timm.models.shvit:SHSA", "edgeattn.ops.single_head_attention.modules:EdgeSHSA"),
    ),
    capture=capture,
    benchmark_variants=_benchmark.variants,
    int8=Int8Support(quantized_inputs=3, head_scales=True),
    plugin_kernels=PluginKernels(
        _plugin_kernels.node_launches, _plugin_kernels.case_attributes, _plugin_kernels.enqueue_case
    ),
)
