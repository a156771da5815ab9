"""Fidelity of a reduced-precision graph against fp32: logits metrics and per-layer SQNR.

`edgeattn calibrate` (commands.py) prints these as rich tables; fidelity.json holds them.

Metrics over held-out inputs: top-1 agreement with fp32, logit cosine (flattened over the set), SQNR
(10 log10 of signal over error energy), mean KL(softmax fp32 || softmax quantized). Per-layer SQNR
compares every named intermediate tensor present in both graphs, to locate where damage starts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import numpy as np
import onnx
from onnx import helper

from edgeattn.calibrate.qdq import fit_batch


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


def sqnr_db(ref: np.ndarray, got: np.ndarray) -> float:
    """10 log10(|ref|^2 / |ref - got|^2); +inf for identical tensors."""
    ref = np.asarray(ref, dtype=np.float64)
    noise = float(np.sum((ref - np.asarray(got, dtype=np.float64)) ** 2))
    signal = float(np.sum(ref**2))
    if noise == 0.0:
        return float("inf")
    return float(10 * np.log10(max(signal, 1e-30) / noise))


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def logit_metrics(ref: np.ndarray, got: np.ndarray) -> dict[str, float]:
    """Top-1 agreement, cosine, SQNR, mean KL and max abs error of [N, classes] logits."""
    ref = np.asarray(ref, dtype=np.float64).reshape(len(ref), -1)
    got = np.asarray(got, dtype=np.float64).reshape(len(got), -1)
    cos = float(np.sum(ref * got) / max(np.linalg.norm(ref) * np.linalg.norm(got), 1e-30))
    log_p, log_q = _log_softmax(ref), _log_softmax(got)
    kl = float(np.mean(np.sum(np.exp(log_p) * (log_p - log_q), axis=-1)))
    return {
        "top1_agreement": float(np.mean(ref.argmax(-1) == got.argmax(-1))),
        "cosine": cos,
        "sqnr_db": sqnr_db(ref, got),
        "kl": kl,
        "max_abs": float(np.abs(ref - got).max()),
    }


def _session(model: onnx.ModelProto, threads: int, optimize: bool = True):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    if not optimize:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _with_outputs(model: onnx.ModelProto, names: list[str]) -> onnx.ModelProto:
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    existing = {o.name for o in probe.graph.output}
    for name in names:
        if name not in existing:
            probe.graph.output.append(helper.make_empty_tensor_value_info(name))
    return probe


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
) -> FidelityReport:
    """Run both graphs in ORT CPU on the same inputs and compare (fp16 inputs are cast as the graph needs).

    `optimize=False` runs Q/DQ unfused (needed for per-axis activation analysis graphs, which ORT's
    QLinear fusions reject)."""
    layer_ops = layer_tensors(reference, candidate, ("Conv", "ConvTranspose", "Gemm", "MatMul")) if layers else {}
    names = list(layer_ops)
    ref_session = _session(_with_outputs(reference, names), threads, optimize)
    cand_session = _session(_with_outputs(candidate, names), threads, optimize)
    ref_out = reference.graph.output[0].name
    cand_out = candidate.graph.output[0].name
    cand_input = cand_session.get_inputs()[0]
    cand_dtype = np.float16 if "float16" in cand_input.type else np.float32
    logits_ref, logits_got = [], []
    signal = dict.fromkeys(names, 0.0)
    noise = dict.fromkeys(names, 0.0)
    for batch in batches:
        for chunk in fit_batch(ref_session, np.asarray(batch, dtype=np.float32)):
            ref_values = ref_session.run([ref_out, *names], {ref_session.get_inputs()[0].name: chunk})
            got_values = cand_session.run([cand_out, *names], {cand_input.name: chunk.astype(cand_dtype)})
            logits_ref.append(ref_values[0])
            logits_got.append(np.asarray(got_values[0], dtype=np.float32))
            for name, r, g in zip(names, ref_values[1:], got_values[1:]):
                r = r.astype(np.float64)
                signal[name] += float(np.sum(r**2))
                noise[name] += float(np.sum((r - g.astype(np.float64)) ** 2))
    metrics = logit_metrics(np.concatenate(logits_ref), np.concatenate(logits_got))
    per_layer = [
        LayerSQNR(name, layer_ops[name], float(10 * np.log10(max(signal[name], 1e-30) / noise[name])) if noise[name] else float("inf"))
        for name in names
    ]
    return FidelityReport(precision=precision, count=sum(len(x) for x in logits_ref), layers=per_layer, **metrics)
