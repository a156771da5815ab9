"""DFCAttention: GhostNetV2 decoupled fully connected attention gate."""

from edgeattn.ops.dfc_attention import cases as _cases
from edgeattn.ops.dfc_attention import onnx as _onnx
from edgeattn.ops.dfc_attention.cost import cost
from edgeattn.ops.dfc_attention.evaluator import DFCAttention
from edgeattn.ops.dfc_attention.plugin import kernels as _plugin_kernels
from edgeattn.ops.dfc_attention.reference import dfc_attention
from edgeattn.ops.dfc_attention.torch_op import dfc_attention_op
from edgeattn.ops.registry import ModuleSwap, OpDef, PluginKernels

OP_DEF = OpDef(
    name=_onnx.OP_TYPE,
    folder="dfc_attention",
    torch_op=dfc_attention_op,
    reference=dfc_attention,
    portable=_onnx.portable,
    plugin=_onnx.plugin,
    evaluator=DFCAttention,
    schema=_onnx.SCHEMA,
    cost=cost,
    make_inputs=_cases.make_inputs,
    batched_inputs=_cases.BATCHED_INPUTS,
    swaps=(
        ModuleSwap("timm.models.ghostnet:GhostModuleV2", "edgeattn.ops.dfc_attention.modules:EdgeGhostModuleV2"),
    ),
    plugin_kernels=PluginKernels(_plugin_kernels.node_launches, _plugin_kernels.case_attributes),
)
