"""The edgeattn op catalogue: one folder per op, each with a single fp32 reference."""

from edgeattn.ops.registry import (
    FLAVOURS,
    Flavour,
    OpDef,
    all_ops,
    evaluator_ops,
    get_op,
    ops_used,
    plugin_graph_ops,
    translation_table,
)

__all__ = [
    "FLAVOURS",
    "Flavour",
    "OpDef",
    "all_ops",
    "evaluator_ops",
    "get_op",
    "ops_used",
    "plugin_graph_ops",
    "translation_table",
]
