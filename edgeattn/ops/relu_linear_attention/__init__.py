"""ReLULinearAttention: EfficientViT-B/L LiteMLA ReLU linear attention."""

from edgeattn.ops.registry import OpDef, PluginKernels
from edgeattn.ops.relu_linear_attention import onnx as _onnx
from edgeattn.ops.relu_linear_attention.plugin import kernels as _plugin_kernels
from edgeattn.ops.relu_linear_attention.evaluator import ReLULinearAttention
from edgeattn.ops.relu_linear_attention.reference import relu_linear_attention
from edgeattn.ops.relu_linear_attention.torch_op import relu_linear_attention_op

OP_DEF = OpDef(
    name=_onnx.OP_TYPE,
    folder="relu_linear_attention",
    torch_op=relu_linear_attention_op,
    reference=relu_linear_attention,
    portable=_onnx.portable,
    plugin=_onnx.plugin,
    evaluator=ReLULinearAttention,
    schema=_onnx.SCHEMA,
    plugin_kernels=PluginKernels(_plugin_kernels.node_launches, _plugin_kernels.case_attributes),
)
