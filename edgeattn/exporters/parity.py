"""Numerical parity between a torch model and an exported graph: max abs, max rel, cosine per output."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from pydantic import BaseModel

from edgeattn import tolerances
from edgeattn.errors import EdgeattnError


class OutputParity(BaseModel):
    """One output compared: errors, the reference's scale, and the verdict."""

    name: str
    max_abs: float
    max_rel: float
    cosine: float
    ref_max_abs: float
    atol: float
    passed: bool


class ParityCase(BaseModel):
    input: str
    outputs: list[OutputParity]

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outputs)


class ParityReport(BaseModel):
    """All cases for one exported graph on one runtime."""

    graph: str
    runtime: str
    criterion: str
    cases: list[ParityCase]
    passed: bool

    def worst(self) -> OutputParity:
        return max((o for c in self.cases for o in c.outputs), key=lambda o: o.max_abs / o.atol)


def compare_output(name: str, ref: np.ndarray, got: np.ndarray) -> OutputParity:
    """fp32 model criterion: max abs <= 1e-4 * max(1, max|ref|) and cosine >= 0.99999.

    max_rel is elementwise |got - ref| / |ref|, with |ref| floored at 1e-3 * max|ref| so that
    near-zero reference values do not dominate.
    """
    ref = np.asarray(ref, dtype=np.float64)
    got = np.asarray(got, dtype=np.float64)
    if ref.shape != got.shape:
        raise EdgeattnError(f"output '{name}' has shape {got.shape}, torch gives {ref.shape}",
                            "The exported graph is wrong; report this with the model name and flags.")
    diff = np.abs(got - ref)
    ref_max = float(np.abs(ref).max()) if ref.size else 0.0
    floor = max(ref_max * 1e-3, np.finfo(np.float32).tiny)
    max_rel = float((diff / np.maximum(np.abs(ref), floor)).max()) if ref.size else 0.0
    denom = np.linalg.norm(ref) * np.linalg.norm(got)
    cosine = float(np.dot(ref.ravel(), got.ravel()) / denom) if denom > 0 else float(np.array_equal(ref, got))
    atol = tolerances.model_fp32_atol(ref_max)
    max_abs = float(diff.max()) if ref.size else 0.0
    passed = bool(np.isfinite(got).all() and max_abs <= atol and cosine >= tolerances.MODEL_FP32_MIN_COSINE)
    return OutputParity(name=name, max_abs=max_abs, max_rel=max_rel, cosine=cosine, ref_max_abs=ref_max,
                        atol=atol, passed=passed)


def torch_outputs(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> list[np.ndarray]:
    """Run the torch model and refuse NaN/Inf outputs (they would make any parity check meaningless)."""
    with torch.no_grad():
        out = model(*inputs)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    arrays = [o.detach().float().numpy() for o in outs]
    for index, array in enumerate(arrays):
        if not np.isfinite(array).all():
            bad = int((~np.isfinite(array)).sum())
            raise EdgeattnError(
                f"the torch model produced {bad} NaN/Inf values in output {index}",
                "Check the checkpoint (diverged training?) and the input resolution; nothing was written.",
            )
    return arrays


def check_parity(
    graph: str,
    runtime: str,
    reference: dict[str, list[np.ndarray]],
    run_graph: Callable[[tuple[np.ndarray, ...]], list[np.ndarray]],
    cases: dict[str, tuple[torch.Tensor, ...]],
    output_names: list[str],
) -> ParityReport:
    """Compare `run_graph` against reference (torch) outputs on every named input case."""
    results = []
    for label, inputs in cases.items():
        ref = reference[label]
        got = run_graph(tuple(t.numpy() for t in inputs))
        results.append(ParityCase(
            input=label,
            outputs=[compare_output(n, r, g) for n, r, g in zip(output_names, ref, got)],
        ))
    return ParityReport(
        graph=graph,
        runtime=runtime,
        criterion=f"max_abs <= {tolerances.MODEL_FP32_REL_MAX_ABS:g}*max(1,max|ref|) and "
                  f"cosine >= {tolerances.MODEL_FP32_MIN_COSINE}",
        cases=results,
        passed=all(c.passed for c in results),
    )


def ort_runner(model_bytes: bytes, threads: int = 2) -> Callable[[tuple[np.ndarray, ...]], list[np.ndarray]]:
    """A callable running an ONNX model on ONNX Runtime's CPU provider."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def run(inputs: tuple[np.ndarray, ...]) -> list[np.ndarray]:
        return session.run(None, dict(zip(names, inputs)))

    return run
