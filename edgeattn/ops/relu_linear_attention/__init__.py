"""ReLULinearAttention: EfficientViT-B/L LiteMLA ReLU linear attention."""

from edgeattn.ops.registry import Int8Support, ModuleSwap, OpDef, PluginKernels
from edgeattn.ops.relu_linear_attention import benchmark as _benchmark
from edgeattn.ops.relu_linear_attention import cases as _cases
from edgeattn.ops.relu_linear_attention import onnx as _onnx
from edgeattn.ops.relu_linear_attention.cost import cost
from edgeattn.ops.relu_linear_attention.evaluator import ReLULinearAttention
from edgeattn.ops.relu_linear_attention.modules import capture
from edgeattn.ops.relu_linear_attention.plugin import enqueue as _plugin_enqueue
from edgeattn.ops.relu_linear_attention.plugin import kernels as _plugin_kernels
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
    cost=cost,
    make_inputs=_cases.make_inputs,
    batched_inputs=_cases.BATCHED_INPUTS,
    swaps=(
        ModuleSwap("timm.models.efficientvit_mit:LiteMLA", "edgeattn.ops.relu_linear_attention.modules:EdgeLiteMLA"),
    ),
    capture=capture,
    benchmark_variants=_benchmark.variants,
    int8=Int8Support(quantized_inputs=3, head_scales=True),
    fp32_island_ops=(frozenset({"MatMul", "Slice", "Add", "Div", "ReduceSum", "Reciprocal", "Mul"}),
                     "ReLU linear attention k^T v state, normaliser and division (always fp32)"),
    plugin_kernels=PluginKernels(_plugin_kernels.node_launches, _plugin_kernels.case_attributes,
                                 _plugin_enqueue.enqueue_case),
)
