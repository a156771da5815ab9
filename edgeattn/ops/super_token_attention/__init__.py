"""SuperTokenAttention: STViT's super token sampling, attention over super tokens, and upsampling."""

from edgeattn.ops.registry import Int8Support, ModuleSwap, OpDef
from edgeattn.ops.super_token_attention import benchmark as _benchmark
from edgeattn.ops.super_token_attention import cases as _cases
from edgeattn.ops.super_token_attention import onnx as _onnx
from edgeattn.ops.super_token_attention.cost import cost
from edgeattn.ops.super_token_attention.evaluator import SuperTokenAttention
from edgeattn.ops.super_token_attention.modules import capture
from edgeattn.ops.super_token_attention.reference import super_token_attention
from edgeattn.ops.super_token_attention.torch_op import super_token_attention_op

OP_DEF = OpDef(
    name=_onnx.OP_TYPE,
    folder="super_token_attention",
    torch_op=super_token_attention_op,
    reference=super_token_attention,
    portable=_onnx.portable,
    plugin=_onnx.plugin,
    evaluator=SuperTokenAttention,
    schema=_onnx.SCHEMA,
    cost=cost,
    make_inputs=_cases.make_inputs,
    batched_inputs=_cases.BATCHED_INPUTS,
    swaps=(
        ModuleSwap("edgeattn.backbones.stvit:StokenAttention", "edgeattn.ops.super_token_attention.modules:EdgeStokenAttention"),
    ),
    capture=capture,
    benchmark_variants=_benchmark.variants,
    int8=Int8Support(quantized_inputs=0, head_scales=True),
    fp32_island_ops=(frozenset({"ReduceSum", "Add", "Div"}), "super-token association mass and the division by it (always fp32)"),
)
