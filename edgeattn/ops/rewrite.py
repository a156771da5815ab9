"""Swap a model's attention modules for modules that call edgeattn ops (same weights, same function).

Which module classes are swapped, and for what, is each op's `OpDef.swaps`; this driver only walks the
model. Models without such modules (e.g. MobileViTv2) come back unchanged.
"""

from __future__ import annotations

from functools import cache

from torch import nn

from edgeattn.ops.registry import ModuleSwap, OpDef, all_ops


@cache
def _swap_table() -> dict[type, tuple[OpDef, ModuleSwap]]:
    table: dict[type, tuple[OpDef, ModuleSwap]] = {}
    for op_def in all_ops():
        for swap in op_def.swaps:
            table[swap.source_class()] = (op_def, swap)
    return table


def rewrite_model(model: nn.Module) -> tuple[nn.Module, list[str]]:
    """Swap attention modules in place for edgeattn-op modules that share their weights.

    The model is put in eval mode first (folded BatchNorms use running statistics). Returns the model (the
    replacement itself when `model` is one swapped module) and one line per swap: "<path>: <Old> -> <Op>".
    """
    model.eval()
    table = _swap_table()
    swaps = []
    for name, module in list(model.named_modules()):
        found = table.get(type(module))
        if found is None:
            continue
        op_def, swap = found
        swaps.append(f"{name}: {type(module).__name__} -> {op_def.name}")
        if not name:
            return swap.build(module).eval(), swaps
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        replacement = swap.build(module).eval()
        if isinstance(parent, (nn.Sequential, nn.ModuleList)) and child.isdigit():
            parent[int(child)] = replacement
        else:
            setattr(parent, child, replacement)
    return model, swaps


def ops_in(model: nn.Module) -> list[str]:
    """Names of the ops whose swaps match a module of `model` (the model's edgeattn ops), sorted."""
    table = _swap_table()
    return sorted({table[type(m)][0].name for m in model.modules() if type(m) in table})
