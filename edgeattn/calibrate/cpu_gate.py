"""CPU INT8 that pays off: keep a region quantized only if ORT CPU runs faster with it than without.

Quantized nodes are grouped into regions by kind (dense convs, depthwise convs, transposed convs, weight
matmuls, attention matmuls, residual adds, plugin inputs). Starting from the fp32 graph, each region is
switched on in turn and kept only when the whole graph's measured ORT CPU latency drops by at least
`min_gain`; then a few joint sets that only pay off together (all convolutions; everything) are tried
the same way. The accepted configuration is confirmed against fp32 with longer runs, so it is never
slower than fp32 as measured.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import onnx

from edgeattn.calibrate.islands import PLUGIN_DOMAIN
from edgeattn.calibrate.qdq import QDQConfig, quantized_inputs, weight_inputs

REGION_ORDER = (
    "conv_dense", "matmul_weights", "conv_transpose", "matmul_attention", "conv_depthwise", "add_residual", "plugin",
)


def region_of(node: onnx.NodeProto, initializers: set[str]) -> str:
    """The region kind of a quantizable node."""
    if node.domain == PLUGIN_DOMAIN:
        return "plugin"
    if node.op_type == "Conv":
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        return "conv_depthwise" if group > 1 else "conv_dense"
    if node.op_type == "ConvTranspose":
        return "conv_transpose"
    if node.op_type in ("Gemm", "MatMul"):
        return "matmul_weights" if len(node.input) > 1 and node.input[1] in initializers else "matmul_attention"
    return "add_residual"


def regions(model: onnx.ModelProto, config: QDQConfig) -> dict[str, list[str]]:
    """Region kind -> names of the quantizable nodes in it."""
    initializers = {init.name for init in model.graph.initializer}
    chosen = set(quantized_inputs(model, config)) | set(weight_inputs(model, config))
    found: dict[str, list[str]] = {}
    for node in model.graph.node:
        if node.name in chosen:
            found.setdefault(region_of(node, initializers), []).append(node.name)
    return found


def measure_latency(model: onnx.ModelProto, sample: np.ndarray, threads: int = 2, runs: int = 20) -> float:
    """Median ORT CPU latency in milliseconds (all graph optimisations on, after warm-up)."""
    from edgeattn.runners.ort import OrtRunner

    with OrtRunner(model, threads, qdq="fused") as runner:
        feed = {runner.input_names[0]: sample}
        for _ in range(3):
            runner.infer(feed)
        runner.reset_timings()
        for _ in range(runs):
            runner.infer(feed)
        return float(np.median(runner.timings_ms))


@dataclass
class GateResult:
    """The node names to keep fp32 and the measurements behind the decision."""

    skip_nodes: frozenset[str]
    fp32_ms: float
    int8_ms: float
    trials: list[dict] = field(default_factory=list)

    @property
    def speedup(self) -> float:
        return self.fp32_ms / self.int8_ms


def select_regions(
    model: onnx.ModelProto,
    config: QDQConfig,
    build: Callable[[QDQConfig], onnx.ModelProto],
    sample: np.ndarray,
    threads: int = 2,
    runs: int = 20,
    min_gain: float = 0.02,
) -> GateResult:
    """Greedy region selection; `build(config)` returns the Q/DQ graph for a config."""
    found = regions(model, config)
    fp32_ms = measure_latency(model, sample, threads, runs)
    best_ms = fp32_ms
    enabled: list[str] = []
    trials = []
    for kind in (k for k in REGION_ORDER if k in found):
        trial_kinds = [*enabled, kind]
        skip = config.skip_nodes | {n for k, names in found.items() if k not in trial_kinds for n in names}
        trial_ms = measure_latency(build(_with_skip(config, skip)), sample, threads, runs)
        accepted = trial_ms < best_ms * (1 - min_gain)
        trials.append({"region": kind, "nodes": len(found[kind]), "latency_ms": trial_ms, "accepted": accepted})
        if accepted:
            enabled.append(kind)
            best_ms = trial_ms
    for combination in _joint_candidates(found, enabled):
        skip = config.skip_nodes | {n for k, names in found.items() if k not in combination for n in names}
        trial_ms = measure_latency(build(_with_skip(config, skip)), sample, threads, runs)
        accepted = trial_ms < best_ms * (1 - min_gain)
        trials.append({"region": " + ".join(combination), "nodes": sum(len(found[k]) for k in combination),
                       "latency_ms": trial_ms, "accepted": accepted})
        if accepted:
            enabled, best_ms = list(combination), trial_ms
    skip = config.skip_nodes | {n for k, names in found.items() if k not in enabled for n in names}
    if enabled:
        # Region trials are short and noisy: confirm the whole selection against fp32 with longer runs,
        # and keep fp32 everywhere unless INT8 is still faster (an INT8 CPU build is never slower).
        final_ms = measure_latency(build(_with_skip(config, skip)), sample, threads, runs * 3)
        base_ms = measure_latency(model, sample, threads, runs * 3)
        confirmed = final_ms < base_ms * (1 - min_gain)
        trials.append({"region": "whole selection vs fp32", "nodes": len(skip), "latency_ms": final_ms,
                       "fp32_ms": base_ms, "accepted": confirmed})
        if confirmed:
            fp32_ms, best_ms = base_ms, final_ms
        else:
            skip = config.skip_nodes | {n for names in found.values() for n in names}
            fp32_ms = best_ms = base_ms
    return GateResult(frozenset(skip), fp32_ms, best_ms, trials)


def _joint_candidates(found: dict[str, list[str]], enabled: list[str]) -> list[tuple[str, ...]]:
    """Region sets that only pay off together, tried after the one-at-a-time pass.

    ORT runs INT8 convolutions in NHWC and fp32 ones in its blocked NCHWc layout: quantizing dense convs
    alone puts a layout conversion around every depthwise conv between them, so dense and depthwise convs
    are also tried together, and so is everything at once."""
    convs = tuple(k for k in ("conv_dense", "conv_depthwise", "conv_transpose") if k in found)
    everything = tuple(k for k in REGION_ORDER if k in found)
    candidates = [convs, tuple(sorted(set(convs) | set(enabled), key=REGION_ORDER.index)), everything]
    unique: list[tuple[str, ...]] = []
    for candidate in candidates:
        if len(candidate) > 1 and set(candidate) != set(enabled) and candidate not in unique:
            unique.append(candidate)
    return unique


def _with_skip(config: QDQConfig, skip: set[str] | frozenset[str]) -> QDQConfig:
    return replace(config, skip_nodes=frozenset(skip))
