"""Numerical parity between a torch model and an exported graph: max abs, max rel, cosine per output."""

from __future__ import annotations

import numpy as np
import torch
from pydantic import BaseModel

from edgeattn import tolerances
from edgeattn.errors import EdgeattnError
from edgeattn.runners import Runner
from edgeattn.runners.compare import compare


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
    """fp32 model criterion: max abs <= 1e-4 * max(1, max|ref|) and cosine >= 0.99999 (`edgeattn.tolerances`)."""
    result = compare(ref, got, name)
    atol = tolerances.model_fp32_atol(result.ref_max_abs)
    passed = result.finite and result.max_abs <= atol and result.cosine >= tolerances.MODEL_FP32_MIN_COSINE
    return OutputParity(name=name, max_abs=result.max_abs, max_rel=result.max_rel, cosine=result.cosine,
                        ref_max_abs=result.ref_max_abs, atol=atol, passed=passed)


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
    runner: Runner,
    reference: dict[str, list[np.ndarray]],
    cases: dict[str, tuple[torch.Tensor, ...]],
    output_names: list[str],
) -> ParityReport:
    """Compare the graph on `runner` against reference (torch) outputs on every named input case."""
    results = []
    with runner:
        for label, inputs in cases.items():
            got = runner.run([t.numpy() for t in inputs])
            results.append(ParityCase(
                input=label,
                outputs=[compare_output(n, r, g) for n, r, g in zip(output_names, reference[label], got)],
            ))
    return ParityReport(
        graph=graph,
        runtime=runner.label,
        criterion=f"max_abs <= {tolerances.MODEL_FP32_REL_MAX_ABS:g}*max(1,max|ref|) and "
                  f"cosine >= {tolerances.MODEL_FP32_MIN_COSINE}",
        cases=results,
        passed=all(c.passed for c in results),
    )
