"""SuperTokenAttention: STViT's super token sampling, attention over super tokens, and upsampling."""

from edgeattn.ops.registry import OpDef
from edgeattn.ops.super_token_attention import onnx as _onnx
from edgeattn.ops.super_token_attention.evaluator import SuperTokenAttention
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
)
