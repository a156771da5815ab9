"""SetAttention (DSVT): gather voxels into fixed-size sets, masked multi-head attention, gather back."""

from edgeattn.ops.registry import Int8Support, ModuleSwap, OpDef, PluginKernels
from edgeattn.ops.set_attention import cases as _cases
from edgeattn.ops.set_attention import onnx as _onnx
from edgeattn.ops.set_attention.cost import cost
from edgeattn.ops.set_attention.evaluator import SetAttention
from edgeattn.ops.set_attention.modules import capture
from edgeattn.ops.set_attention.plugin import enqueue as _plugin_enqueue
from edgeattn.ops.set_attention.plugin import kernels as _plugin_kernels
from edgeattn.ops.set_attention.reference import set_attention
from edgeattn.ops.set_attention.torch_op import set_attention_op

OP_DEF = OpDef(
    name=_onnx.OP_TYPE,
    folder="set_attention",
    torch_op=set_attention_op,
    reference=set_attention,
    portable=_onnx.portable,
    plugin=_onnx.plugin,
    evaluator=SetAttention,
    schema=_onnx.SCHEMA,
    cost=cost,
    make_inputs=_cases.make_inputs,
    batched_inputs=_cases.BATCHED_INPUTS,
    swaps=(
        ModuleSwap("edgeattn.backbones.dsvt:VoxelSetAttention", "edgeattn.ops.set_attention.modules:EdgeVoxelSetAttention"),
    ),
    capture=capture,
    int8=Int8Support(quantized_inputs=3),
    plugin_kernels=PluginKernels(_plugin_kernels.node_launches, _plugin_kernels.case_attributes,
                                 _plugin_enqueue.enqueue_case),
)
