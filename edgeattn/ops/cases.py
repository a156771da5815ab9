"""Concrete tensors for one op call at a spec.yaml case: for kernel tests, GPU tests and benchmarks.

Each op's `OpDef.make_inputs` builds its named inputs (shapes of the case, batch applied to the op's
`batched_inputs`); `OpDef.cost` gives the ideal work and traffic the benchmark's roofline uses.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from edgeattn.ops.registry import OpDef
from edgeattn.ops.spec import ShapeCase

WEIGHT_SCALE = 0.2
"""Random weights are scaled down so chained convolutions stay in a well-conditioned range."""


@dataclass
class OpCase:
    """Concrete inputs of one op call, and its ideal traffic and work."""

    op: str
    case_id: str
    batch: int
    inputs: tuple[Any, ...]
    attrs: dict[str, Any] = field(default_factory=dict)
    bytes_moved: int = 0
    flops: int = 0


def case_shapes(op_def: OpDef, case: ShapeCase, batch: int = 1) -> dict[str, list[int]]:
    """The case's input shapes with dim 0 of the op's batched inputs multiplied by `batch`."""
    shapes = {name: list(shape) for name, shape in case.shapes.items()}
    for name in op_def.batched_inputs:
        if name in shapes:
            shapes[name][0] *= batch
    return shapes


def random_tensor(shape: list[int], dtype: torch.dtype, generator: torch.Generator, scale: float = 1.0):
    """Standard normal values times `scale`, in `dtype`."""
    return (torch.randn(shape, generator=generator) * scale).to(dtype)


def make_case(op_def: OpDef, case: ShapeCase, signature: Callable[..., Any] | None = None,
              dtype: torch.dtype = torch.float32, batch: int = 1, device: str = "cpu", seed: int = 42) -> OpCase:
    """Seeded inputs of `case`, batch scaled by `batch`, on `device`: `fn(*c.inputs, **c.attrs)` calls the op.

    The spec's required inputs are positional; optional inputs and the case attributes that `signature`
    (default: the op's reference) accepts are keywords."""
    generator = torch.Generator().manual_seed(seed)
    shapes = case_shapes(op_def, case, batch)
    tensors, attributes = op_def.make_inputs(shapes, dict(case.attributes), dtype, generator)
    cost = op_def.cost({name: tuple(t.shape) for name, t in tensors.items()}, attributes)
    moved = sum(t.numel() * t.element_size() for t in tensors.values()) + cost.output_elements * (
        torch.finfo(dtype).bits // 8 if dtype.is_floating_point else 2)
    params = inspect.signature(signature or op_def.reference).parameters
    keywords = {k: v for k, v in attributes.items() if k in params}
    tensors = {name: t.to(device) for name, t in tensors.items()}
    optional = {name: t for name, t in tensors.items() if name not in op_def.spec.inputs}
    return OpCase(op=op_def.name, case_id=case.id, batch=batch,
                  inputs=tuple(tensors[name] for name in op_def.spec.inputs), attrs={**optional, **keywords},
                  bytes_moved=int(moved), flops=int(cost.flops))
