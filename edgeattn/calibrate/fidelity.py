"""Fidelity of a reduced-precision graph against fp32: logits metrics and per-layer SQNR.

`edgeattn calibrate` (commands.py) prints these as rich tables; fidelity.json holds them.

Metrics over held-out inputs: top-1 agreement with fp32, logit cosine (flattened over the set), SQNR
(10 log10 of signal over error energy), mean KL(softmax fp32 || softmax quantized); backbone features
(DSVT's voxels) get cosine, SQNR and max abs only. Per-layer SQNR and cosine compare every named
intermediate tensor present in both graphs, to locate where damage starts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import onnx

from edgeattn.calibrate.frames import Batch, runs
from edgeattn.runners.compare import cosine, sqnr_db
from edgeattn.runners.ort import OrtRunner, QdqMode

OutputKind = Literal["logits", "features"]


@dataclass
class LayerSQNR:
    """Fidelity of one intermediate tensor against the fp32 graph."""

    tensor: str
    op_type: str
    sqnr_db: float
    cosine: float


@dataclass
class FidelityReport:
    """What fidelity.json holds for one reduced-precision graph."""

    precision: str
    count: int
    top1_agreement: float | None
    cosine: float
    sqnr_db: float
    kl: float | None
    max_abs: float
    layers: list[LayerSQNR] = field(default_factory=list)

    def to_json(self) -> dict:
        data = asdict(self)
        data["worst_layers"] = [asdict(x) for x in sorted(self.layers, key=lambda x: x.sqnr_db)[:10]]
        return data


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def logit_metrics(ref: np.ndarray, got: np.ndarray) -> dict[str, float]:
    """Top-1 agreement, cosine, SQNR, mean KL and max abs error of [N, classes] logits."""
    ref = np.asarray(ref, dtype=np.float64).reshape(len(ref), -1)
    got = np.asarray(got, dtype=np.float64).reshape(len(got), -1)
    log_p, log_q = _log_softmax(ref), _log_softmax(got)
    kl = float(np.mean(np.sum(np.exp(log_p) * (log_p - log_q), axis=-1)))
    return {
        "top1_agreement": float(np.mean(ref.argmax(-1) == got.argmax(-1))),
        "cosine": cosine(ref, got),
        "sqnr_db": sqnr_db(ref, got),
        "kl": kl,
        "max_abs": float(np.abs(ref - got).max()),
    }


def feature_metrics(ref: np.ndarray, got: np.ndarray) -> dict[str, float | None]:
    """Cosine, SQNR and max abs error of backbone features (no classes: top-1 and KL are None)."""
    ref, got = np.asarray(ref, dtype=np.float64), np.asarray(got, dtype=np.float64)
    return {"top1_agreement": None, "cosine": cosine(ref, got), "sqnr_db": sqnr_db(ref, got), "kl": None,
            "max_abs": float(np.abs(ref - got).max())}


def output_metrics(outputs: OutputKind, ref: np.ndarray, got: np.ndarray) -> dict[str, float | None]:
    """`logit_metrics` or `feature_metrics`, by what the graph outputs."""
    return (logit_metrics if outputs == "logits" else feature_metrics)(ref, got)


def layer_tensors(reference: onnx.ModelProto, candidate: onnx.ModelProto, op_types: Iterable[str]) -> dict[str, str]:
    """Outputs of `op_types` nodes present (same name) in both graphs -> op type."""
    types = set(op_types)
    ref_outputs = {out: n.op_type for n in reference.graph.node if n.op_type in types for out in n.output}
    cand_outputs = {out for n in candidate.graph.node for out in n.output}
    return {name: op for name, op in ref_outputs.items() if name in cand_outputs}


def evaluate(
    reference: onnx.ModelProto,
    candidate: onnx.ModelProto,
    batches: Iterable[Batch],
    precision: str,
    layers: bool = True,
    threads: int = 2,
    optimize: bool = True,
    qdq: QdqMode = "simulated",
    torch_reference: Callable[[Batch], np.ndarray] | None = None,
    outputs: OutputKind = "logits",
) -> FidelityReport:
    """Run both graphs in ORT CPU on the same inputs (image batches or frames) and compare (fp16 inputs are
    cast as the graph needs).

    Output metrics compare the candidate with `torch_reference` (the fp32 torch model) when given, else with
    the reference graph; `outputs="features"` (backbone features, e.g. DSVT's voxels) leaves top-1 and KL
    out. Per-layer SQNR and cosine always compare intermediate tensors with the reference graph.
    `qdq` is what the candidate's Q/DQ means (`edgeattn.runners.ort`): "simulated" for TensorRT-style
    graphs (exact integer semantics), "fused" for graphs deployed on ORT's CPU kernels. `optimize=False`
    runs every graph optimisation off (per-axis activation analysis graphs, which ORT's fusions reject)."""
    layer_ops = layer_tensors(reference, candidate, ("Conv", "ConvTranspose", "Gemm", "MatMul")) if layers else {}
    names = list(layer_ops)
    stats = {name: _LayerStats() for name in names}
    with (OrtRunner(reference, threads, optimize=optimize, extra_outputs=names) as ref_runner,
          OrtRunner(candidate, threads, qdq=qdq, optimize=optimize, extra_outputs=names) as cand_runner):
        ref_out, cand_out = reference.graph.output[0].name, candidate.graph.output[0].name
        outputs_ref, outputs_got, count = [], [], 0
        for batch in batches:
            for (ref_feeds, _, sample), (cand_feeds, _, _) in zip(runs(ref_runner, batch), runs(cand_runner, batch)):
                ref_values = ref_runner.infer(ref_feeds)
                got_values = cand_runner.infer(cand_feeds)
                outputs_ref.append(torch_reference(sample) if torch_reference else ref_values[ref_out])
                outputs_got.append(np.asarray(got_values[cand_out], dtype=np.float32))
                count += len(sample)
                for name in names:
                    stats[name].update(ref_values[name], got_values[name])
    metrics = output_metrics(outputs, np.concatenate(outputs_ref), np.concatenate(outputs_got))
    per_layer = [LayerSQNR(name, layer_ops[name], stats[name].sqnr_db(), stats[name].cosine()) for name in names]
    return FidelityReport(precision=precision, count=count, layers=per_layer, **metrics)


class _LayerStats:
    """Signal, error and cross energies of one intermediate tensor, accumulated over runs."""

    def __init__(self) -> None:
        self.signal = self.noise = self.got = self.cross = 0.0

    def update(self, ref: np.ndarray, got: np.ndarray) -> None:
        r, g = ref.astype(np.float64).ravel(), got.astype(np.float64).ravel()
        self.signal += float(r @ r)
        self.got += float(g @ g)
        self.cross += float(r @ g)
        self.noise += float((r - g) @ (r - g))

    def sqnr_db(self) -> float:
        return float(10 * np.log10(max(self.signal, 1e-30) / self.noise)) if self.noise else float("inf")

    def cosine(self) -> float:
        return float(self.cross / max(np.sqrt(self.signal * self.got), 1e-30))
