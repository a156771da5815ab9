"""MultiHeadAttention: per-head softmax attention with optional bias and key mask."""

from edgeattn.ops.multi_head_attention import onnx as _onnx
from edgeattn.ops.multi_head_attention.plugin import kernels as _plugin_kernels
from edgeattn.ops.multi_head_attention.evaluator import MultiHeadAttention
from edgeattn.ops.multi_head_attention.reference import multi_head_attention
from edgeattn.ops.multi_head_attention.torch_op import multi_head_attention_op
from edgeattn.ops.registry import OpDef, PluginKernels

OP_DEF = OpDef(
    name=_onnx.OP_TYPE,
    folder="multi_head_attention",
    torch_op=multi_head_attention_op,
    reference=multi_head_attention,
    portable=_onnx.portable,
    plugin=_onnx.plugin,
    evaluator=MultiHeadAttention,
    schema=_onnx.SCHEMA,
    plugin_kernels=PluginKernels(_plugin_kernels.node_launches, _plugin_kernels.case_attributes),
)
