"""Inputs, byte and FLOP counts for every op at the shapes its `spec.yaml` lists.

Shared by the GPU kernel tests and `benchmarks/kernels.py`: one place turns a spec case (plus a
batch size and dtype) into concrete tensors and attributes, and says how many bytes an ideal
kernel moves and how many useful FLOPs it performs.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from edgeattn.errors import UsageError
from edgeattn.ops.spec import ShapeCase

BATCHED_INPUTS: dict[str, tuple[str, ...]] = {
    "SingleHeadAttention": ("q", "k", "v"),
    "MultiHeadAttention": ("q", "k", "v", "key_mask"),
    "ReLULinearAttention": ("q", "k", "v"),
    "DFCAttention": ("gate", "features"),
    "LargeKernelAttention": ("x",),
    "SetAttention": ("q", "k", "v", "voxel_slot"),
}
"""Inputs whose dim 0 is the batch (SetAttention: the voxel count), scaled by `batch`."""

WEIGHT_INPUTS = frozenset({"w_h", "b_h", "w_v", "b_v", "w0", "b0", "w1", "b1"})
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


def _nbytes(tensors: dict[str, Tensor | None]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors.values() if t is not None)


def set_partition(
    num_voxels: int, set_size: int, generator: torch.Generator
) -> tuple[Tensor, Tensor, Tensor]:
    """A DSVT-like partition: shuffled voxels in ceil(N/T) sets, short sets padded with repeats.

    Repeats are masked (set_valid False). Returns set_inds [S, T] int64, set_valid [S, T] bool
    and voxel_slot [N] int64 (each voxel's own slot).
    """
    sets = math.ceil(num_voxels / set_size)
    order = torch.randperm(num_voxels, generator=generator)
    inds = torch.full((sets * set_size,), int(order[-1]), dtype=torch.int64)
    inds[:num_voxels] = order
    valid = torch.zeros(sets * set_size, dtype=torch.bool)
    valid[:num_voxels] = True
    slot = torch.empty(num_voxels, dtype=torch.int64)
    slot[order] = torch.arange(num_voxels)
    return inds.view(sets, set_size), valid.view(sets, set_size), slot


def _scaled_shapes(op: str, case: ShapeCase, batch: int) -> dict[str, list[int]]:
    shapes = {name: list(shape) for name, shape in case.shapes.items()}
    for name in BATCHED_INPUTS[op]:
        if name in shapes:
            shapes[name][0] *= batch
    return shapes


def _random_inputs(
    op: str, shapes: dict[str, list[int]], dtype: torch.dtype, generator: torch.Generator
) -> dict[str, Tensor]:
    tensors: dict[str, Tensor] = {}
    for name, shape in shapes.items():
        if name in ("set_inds", "set_valid", "voxel_slot"):
            continue
        if name == "key_mask":
            mask = torch.rand(shape, generator=generator) > 0.3
            mask[:, 0] = True
            tensors[name] = mask
            continue
        values = torch.randn(shape, generator=generator)
        tensors[name] = (values * WEIGHT_SCALE if name in WEIGHT_INPUTS else values).to(dtype)
    if op == "SetAttention":
        num_voxels, set_size = shapes["q"][0], shapes["set_inds"][1]
        inds, valid, slot = set_partition(num_voxels, set_size, generator)
        tensors.update(set_inds=inds, set_valid=valid, voxel_slot=slot)
    return tensors


def _attrs(
    op: str, case: ShapeCase, signature: Callable[..., Any], tensors: dict[str, Tensor]
) -> dict[str, Any]:
    params = inspect.signature(signature).parameters
    attrs = {k: v for k, v in case.attributes.items() if k in params}
    if op == "SetAttention" and "scale" not in attrs:
        attrs["scale"] = (tensors["q"].shape[1] // attrs["num_heads"]) ** -0.5
    return attrs


def _work(op: str, t: dict[str, Tensor]) -> int:
    """Useful FLOPs (multiply-add = 2) of the op's math, not of any particular kernel."""
    if op == "SingleHeadAttention":
        batch, dqk, n = t["q"].shape
        return 2 * batch * n * n * (dqk + t["v"].shape[1])
    if op == "MultiHeadAttention":
        batch, heads, n, d = t["q"].shape
        m, dv = t["k"].shape[2], t["v"].shape[3]
        return 2 * batch * heads * n * m * (d + dv)
    if op == "ReLULinearAttention":
        batch, heads, n, d = t["q"].shape
        dv = t["v"].shape[3]
        return 2 * batch * heads * n * d * (2 * dv + 2)
    if op == "DFCAttention":
        batch, channels, h, w = t["gate"].shape
        kernel = t["w_h"].shape[-1] + t["w_v"].shape[2]
        return 2 * batch * channels * h * w * kernel + batch * channels * math.prod(
            t["features"].shape[2:]
        )
    if op == "LargeKernelAttention":
        batch, channels, h, w = t["x"].shape
        taps = t["w0"].shape[-1] ** 2 + t["w1"].shape[-1] ** 2
        return 2 * batch * channels * h * w * taps
    if op == "SetAttention":
        n, channels = t["q"].shape
        return 2 * n * t["set_inds"].shape[1] * channels * 2
    raise UsageError(f"No FLOP model for op {op!r}.", f"Use one of: {', '.join(BATCHED_INPUTS)}.")


def _output_bytes(op: str, t: dict[str, Tensor]) -> int:
    if op == "MultiHeadAttention":
        return math.prod(t["q"].shape[:3]) * t["v"].shape[3] * t["v"].element_size()
    if op == "DFCAttention":
        return t["features"].numel() * t["features"].element_size()
    if op == "LargeKernelAttention":
        return t["x"].numel() * t["x"].element_size()
    return t["v"].numel() * t["v"].element_size()


def make_case(
    op: str,
    case: ShapeCase,
    input_names: list[str],
    signature: Callable[..., Any],
    dtype: torch.dtype = torch.float32,
    batch: int = 1,
    device: str = "cpu",
    seed: int = 42,
) -> OpCase:
    """Random inputs (seeded) for `case` of `op`, batch scaled by `batch`, on `device`.

    `input_names` are the spec's required inputs (passed positionally, in that order); optional
    inputs present in the case (attn_bias, key_mask) and the attributes `signature` accepts go to
    `attrs` as keywords, so `fn(*case.inputs, **case.attrs)` calls the op.
    """
    if op not in BATCHED_INPUTS:
        raise UsageError(
            f"No input recipe for op {op!r}.", f"Use one of: {', '.join(BATCHED_INPUTS)}."
        )
    generator = torch.Generator().manual_seed(seed)
    tensors = _random_inputs(op, _scaled_shapes(op, case, batch), dtype, generator)
    attrs = _attrs(op, case, signature, tensors)
    work = _work(op, tensors)
    moved = _nbytes(tensors) + _output_bytes(op, tensors)
    tensors = {name: tensor.to(device) for name, tensor in tensors.items()}
    optional = {name: t for name, t in tensors.items() if name not in input_names}
    return OpCase(
        op=op,
        case_id=case.id,
        batch=batch,
        inputs=tuple(tensors[name] for name in input_names),
        attrs={**optional, **attrs},
        bytes_moved=moved,
        flops=work,
    )
