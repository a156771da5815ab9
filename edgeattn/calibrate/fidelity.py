"""Fidelity of a reduced-precision graph against fp32: logits metrics and per-layer SQNR.

`edgeattn calibrate` (commands.py) prints these as rich tables; fidelity.json holds them.

Metrics over held-out inputs: top-1 agreement with fp32, logit cosine (flattened over the set), SQNR
(10 log10 of signal over error energy), mean KL(softmax fp32 || softmax quantized). Per-layer SQNR
compares every named intermediate tensor present in both graphs, to locate where damage starts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

import numpy as np
import onnx

from edgeattn.runners.compare import cosine, sqnr_db
from edgeattn.runners.ort import OrtRunner, QdqMode


@dataclass
class LayerSQNR:
    tensor: str
    op_type: str
    sqnr_db: float


@dataclass
class FidelityReport:
    """What fidelity.json holds for one reduced-precision graph."""

    precision: str
    count: int
    top1_agreement: float
    cosine: float
    sqnr_db: float
    kl: float
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


def layer_tensors(reference: onnx.ModelProto, candidate: onnx.ModelProto, op_types: Iterable[str]) -> dict[str, str]:
    """Outputs of `op_types` nodes present (same name) in both graphs -> op type."""
    types = set(op_types)
    ref_outputs = {out: n.op_type for n in reference.graph.node if n.op_type in types for out in n.output}
    cand_outputs = {out for n in candidate.graph.node for out in n.output}
    return {name: op for name, op in ref_outputs.items() if name in cand_outputs}


def evaluate(
    reference: onnx.ModelProto,
    candidate: onnx.ModelProto,
    batches: Iterable[np.ndarray],
    precision: str,
    layers: bool = True,
    threads: int = 2,
    optimize: bool = True,
    qdq: QdqMode = "simulated",
    torch_reference: Callable[[np.ndarray], np.ndarray] | None = None,
) -> FidelityReport:
    """Run both graphs in ORT CPU on the same inputs and compare (fp16 inputs are cast as the graph needs).

    Logit metrics compare the candidate with `torch_reference` (the fp32 torch model) when given, else with
    the reference graph; per-layer SQNR always compares intermediate tensors with the reference graph.
    `qdq` is what the candidate's Q/DQ means (`edgeattn.runners.ort`): "simulated" for TensorRT-style
    graphs (exact integer semantics), "fused" for graphs deployed on ORT's CPU kernels. `optimize=False`
    runs every graph optimisation off (per-axis activation analysis graphs, which ORT's fusions reject)."""
    layer_ops = layer_tensors(reference, candidate, ("Conv", "ConvTranspose", "Gemm", "MatMul")) if layers else {}
    names = list(layer_ops)
    with (OrtRunner(reference, threads, optimize=optimize, extra_outputs=names) as ref_runner,
          OrtRunner(candidate, threads, qdq=qdq, optimize=optimize, extra_outputs=names) as cand_runner):
        ref_out, cand_out = reference.graph.output[0].name, candidate.graph.output[0].name
        cand_dtype = cand_runner.input_dtype()
        logits_ref, logits_got = [], []
        signal = dict.fromkeys(names, 0.0)
        noise = dict.fromkeys(names, 0.0)
        for batch in batches:
            for chunk in ref_runner.split_batch(np.asarray(batch, dtype=np.float32)):
                ref_values = ref_runner.infer({ref_runner.input_names[0]: chunk})
                got_values = cand_runner.infer({cand_runner.input_names[0]: chunk.astype(cand_dtype)})
                logits_ref.append(torch_reference(chunk) if torch_reference else ref_values[ref_out])
                logits_got.append(np.asarray(got_values[cand_out], dtype=np.float32))
                for name in names:
                    r = ref_values[name].astype(np.float64)
                    signal[name] += float(np.sum(r**2))
                    noise[name] += float(np.sum((r - got_values[name].astype(np.float64)) ** 2))
    metrics = logit_metrics(np.concatenate(logits_ref), np.concatenate(logits_got))
    per_layer = [
        LayerSQNR(name, layer_ops[name], float(10 * np.log10(max(signal[name], 1e-30) / noise[name])) if noise[name] else float("inf"))
        for name in names
    ]
    return FidelityReport(precision=precision, count=sum(len(x) for x in logits_ref), layers=per_layer, **metrics)
