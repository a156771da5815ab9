"""Observe attention inside a model's own forward: every edgeattn op call a site makes is recorded
(a torch dispatch mode) and turned into head-major statistics by the op's `OpDef.capture`.

A site is an `edgeattn.ops.attention_module.HeadwiseAttention` module of a rewritten model. A module that
calls its op once per head (EfficientViT-M's cascade) yields its heads concatenated in call order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode

from edgeattn.calibrate.frames import Batch, torch_inputs
from edgeattn.ops import all_ops
from edgeattn.ops.attention_module import HeadwiseAttention
from edgeattn.ops.registry import DOMAIN


@dataclass
class Site:
    """One head-wise calibratable attention module of a model."""

    name: str
    module: HeadwiseAttention
    heads_per_call: list[int] = field(default_factory=list)
    """Heads of each op call in one forward (filled by the first capture): plugin nodes map to calls."""
    ops_per_call: list[str] = field(default_factory=list)
    """The op (name) of each of those calls."""

    @property
    def kind(self) -> str:
        return self.module.kind

    @property
    def heads(self) -> int:
        return self.module.heads

    @property
    def qk_dim(self) -> int:
        return self.module.qk_dim

    @property
    def v_dim(self) -> int:
        return self.module.v_dim

    @property
    def v_free(self) -> bool:
        return self.module.v_free


def find_sites(model: nn.Module) -> list[Site]:
    """Every head-wise calibratable attention module of `model` (an edgeattn rewrite), in module order."""
    return [Site(name, module) for name, module in model.named_modules() if isinstance(module, HeadwiseAttention)]


class _OpCalls(TorchDispatchMode):
    """Records (op, args, kwargs) of every edgeattn op called while `active`."""

    def __init__(self) -> None:
        super().__init__()
        self.active = False
        self.calls: list[tuple[str, tuple, dict]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.active and func.namespace == DOMAIN:
            self.calls.append((str(func), args, kwargs))
        return func(*args, **kwargs)


def _stats(calls: list[tuple[str, tuple, dict]]) -> tuple[dict[str, Tensor], list[int], list[str]]:
    ops = {o.qualified_name: o for o in all_ops() if o.capture is not None}
    captured = [(ops[name].name, ops[name].capture(*args, **kwargs)) for name, args, kwargs in calls if name in ops]
    per_call = [stats for _, stats in captured]
    heads = [next(iter(stats.values())).shape[1] for stats in per_call]
    merged = {key: torch.cat([stats[key] for stats in per_call], dim=1) for key in per_call[0]} if per_call else {}
    return merged, heads, [name for name, _ in captured]


def run_captures(model: nn.Module, sites: list[Site], batches: Iterable[Batch],
                 on_capture: Callable[[Site, dict[str, Tensor]], None]) -> None:
    """Run `model` on every batch and hand each site's statistics of each forward to `on_capture`."""
    recorder = _OpCalls()
    handles = []
    for site in sites:
        def before(module, inputs):
            recorder.calls.clear()
            recorder.active = True

        def after(module, inputs, output, site=site):
            recorder.active = False
            stats, heads, ops = _stats(recorder.calls)
            recorder.calls.clear()
            if stats:
                site.heads_per_call = site.heads_per_call or heads
                site.ops_per_call = site.ops_per_call or ops
                on_capture(site, stats)
        handles += [site.module.register_forward_pre_hook(before), site.module.register_forward_hook(after)]
    try:
        with torch.no_grad(), recorder:
            for batch in batches:
                model(*torch_inputs(batch))
    finally:
        for handle in handles:
            handle.remove()
