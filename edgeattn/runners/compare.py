"""One comparator for every pair of outputs: max abs, max rel, cosine and SQNR."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from edgeattn.errors import EdgeattnError

REL_FLOOR = 1e-3
"""max_rel divides by |ref| floored at this fraction of max|ref|, so near-zero values do not dominate."""


@dataclass(frozen=True)
class Comparison:
    """How far `got` is from `ref`."""

    max_abs: float
    max_rel: float
    cosine: float
    sqnr_db: float
    ref_max_abs: float
    finite: bool

    def to_json(self) -> dict[str, float | bool]:
        return asdict(self)


def sqnr_db(ref: np.ndarray, got: np.ndarray) -> float:
    """10 log10(|ref|^2 / |ref - got|^2); +inf for identical tensors."""
    ref = np.asarray(ref, dtype=np.float64)
    noise = float(np.sum((ref - np.asarray(got, dtype=np.float64)) ** 2))
    if noise == 0.0:
        return float("inf")
    return float(10 * np.log10(max(float(np.sum(ref**2)), 1e-30) / noise))


def cosine(ref: np.ndarray, got: np.ndarray) -> float:
    """Cosine of the flattened tensors (1.0 for two all-zero tensors)."""
    ref = np.asarray(ref, dtype=np.float64).ravel()
    got = np.asarray(got, dtype=np.float64).ravel()
    denom = float(np.linalg.norm(ref) * np.linalg.norm(got))
    return float(np.dot(ref, got) / denom) if denom > 0 else float(np.array_equal(ref, got))


def compare(ref: np.ndarray, got: np.ndarray, name: str = "output") -> Comparison:
    """Compare two tensors of the same shape; a shape mismatch is an error, not a number."""
    ref = np.asarray(ref, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    if ref.shape != got.shape:
        raise EdgeattnError(f"output '{name}' has shape {got.shape}, the reference gives {ref.shape}",
                            "The graph is wrong; report this with the model name and flags.")
    if ref.size == 0:
        return Comparison(0.0, 0.0, 1.0, float("inf"), 0.0, True)
    diff = np.abs(got - ref)
    ref_max = float(np.abs(ref).max())
    floor = max(ref_max * REL_FLOOR, float(np.finfo(np.float32).tiny))
    return Comparison(
        max_abs=float(diff.max()),
        max_rel=float((diff / np.maximum(np.abs(ref), floor)).max()),
        cosine=cosine(ref, got),
        sqnr_db=sqnr_db(ref, got),
        ref_max_abs=ref_max,
        finite=bool(np.isfinite(got).all()),
    )
