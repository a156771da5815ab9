"""LargeKernelAttention: VAN's fused depthwise chain (DW5x5 -> DW7x7 dilation 3)."""

from edgeattn.ops.large_kernel_attention import cases as _cases
from edgeattn.ops.large_kernel_attention import onnx as _onnx
from edgeattn.ops.large_kernel_attention.cost import cost
from edgeattn.ops.large_kernel_attention.evaluator import LargeKernelAttention
from edgeattn.ops.large_kernel_attention.plugin import kernels as _plugin_kernels
from edgeattn.ops.large_kernel_attention.reference import large_kernel_attention
from edgeattn.ops.large_kernel_attention.torch_op import large_kernel_attention_op
from edgeattn.ops.registry import ModuleSwap, OpDef, PluginKernels

OP_DEF = OpDef(
    name=_onnx.OP_TYPE,
    folder="large_kernel_attention",
    torch_op=large_kernel_attention_op,
    reference=large_kernel_attention,
    portable=_onnx.portable,
    plugin=_onnx.plugin,
    evaluator=LargeKernelAttention,
    schema=_onnx.SCHEMA,
    cost=cost,
    make_inputs=_cases.make_inputs,
    batched_inputs=_cases.BATCHED_INPUTS,
    swaps=(
        ModuleSwap("edgeattn.backbones.van:LKA", "edgeattn.ops.large_kernel_attention.modules:EdgeLKA"),
    ),
    plugin_kernels=PluginKernels(_plugin_kernels.node_launches, _plugin_kernels.case_attributes),
)
