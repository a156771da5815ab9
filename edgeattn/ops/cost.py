"""Shared arithmetic of the ops' FLOP models (each op's `cost.py` says what its inputs mean)."""

from __future__ import annotations

import math
from collections.abc import Iterable

SOFTMAX_FLOPS = 5
"""Per score: max, subtract, exp, sum, divide."""


def numel(shape: Iterable[int]) -> int:
    return math.prod(shape)


def softmax_attention_flops(rows: int, queries: int, keys: int, qk_dim: int, v_dim: int) -> float:
    """q.k^T, softmax and P.v for `rows` independent (batch x head) attentions."""
    scores = rows * queries * keys
    return 2.0 * scores * qk_dim + SOFTMAX_FLOPS * scores + 2.0 * scores * v_dim


def elements(shapes: dict[str, tuple[int, ...]]) -> int:
    """Elements of every given input (each read once)."""
    return sum(numel(shape) for shape in shapes.values())
