"""numpy <-> torch glue for the ReferenceEvaluator ops."""

from __future__ import annotations

import numpy as np
import torch


def from_numpy(x: np.ndarray) -> torch.Tensor:
    """A torch tensor sharing nothing with the evaluator's array."""
    return torch.from_numpy(np.array(x, copy=True))


def to_numpy_like(x: torch.Tensor, like: np.ndarray) -> np.ndarray:
    """`x` as a numpy array of `like`'s dtype."""
    return x.detach().numpy().astype(like.dtype, copy=False)
