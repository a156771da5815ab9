"""Where INT8 error comes from: logit damage by category of quantized node, at 64² and native resolution.

Each quantized node of the TensorRT-style graph is put in one category by what it quantizes (the first that
applies): the first conv, softmax probabilities, activation outputs (sigmoid / GELU / gates / ReLU), residual
adds, attention MatMuls (two activation inputs), other weighted ops. One switch graph
(`edgeattn.calibrate.sensitivity.switch_graph`) then measures, on held-out crops, logit 1 - cos with only
that category quantized and with everything but that category quantized. Per-layer SQNR of the all-INT8
graph (worst layers) comes from the same fidelity code as quant_fidelity.py.

    python benchmarks/int8_error_sources.py --models shvit_s4 efficientvit_b1 --resolutions 64 native
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnx
import torch
from int8_models import calibration, load_benchmark_model

from edgeattn.calibrate.data import sample_photos
from edgeattn.calibrate.fidelity import logit_metrics
from edgeattn.calibrate.islands import find_islands, rules_from_hints
from edgeattn.calibrate.qdq import QDQConfig, activation_tensors, collect_ranges, quantized_inputs
from edgeattn.calibrate.sensitivity import FLAGS, switch_graph
from edgeattn.exporters.bundle import json_safe
from edgeattn.runners.ort import OrtRunner

RESULTS = Path(__file__).parent / "results"
CATEGORIES = ("first conv", "softmax probabilities", "activation outputs", "residual adds", "attention matmuls",
              "other weighted ops")
ACTIVATIONS = frozenset({"Sigmoid", "HardSigmoid", "Gelu", "HardSwish", "Relu", "Clip", "Erf", "Tanh"})
LAYOUT = frozenset({"Transpose", "Reshape", "Cast", "Identity", "Squeeze", "Unsqueeze"})
"""Ops a tensor passes through unchanged in value (a softmax output transposed is still probabilities)."""


def categorise(model: onnx.ModelProto, nodes: list[str], config: QDQConfig) -> dict[str, str]:
    """Switched node name -> category, from what each node of the fp32 `model` reads."""
    producers = {out: n for n in model.graph.node for out in n.output}
    by_name = {n.name: n for n in model.graph.node}
    inputs = quantized_inputs(model, config)
    first_conv = next((n for n in nodes if by_name[n].op_type == "Conv"), None)

    def near(tensor: str, ops: frozenset[str], depth: int = 2) -> bool:
        node = producers.get(tensor)
        if node is None:
            return False
        return node.op_type in ops or depth > 0 and any(near(t, ops, depth - 1) for t in node.input)

    def source(tensor: str) -> str | None:
        node = producers.get(tensor)
        while node is not None and node.op_type in LAYOUT:
            node = producers.get(node.input[0])
        return None if node is None else node.op_type

    def category(name: str) -> str:
        node = by_name[name]
        tensors = [node.input[i] for i in inputs.get(name, [])]
        if name == first_conv:
            return CATEGORIES[0]
        if any(source(t) == "Softmax" for t in tensors):
            return CATEGORIES[1]
        if node.op_type != "Add" and any(near(t, ACTIVATIONS, 1) for t in tensors):
            return CATEGORIES[2]
        if node.op_type == "Add":
            return CATEGORIES[3]
        if node.op_type == "MatMul" and len(tensors) == 2:
            return CATEGORIES[4]
        return CATEGORIES[5]

    return {name: category(name) for name in nodes}


def analyse(name: str, resolution: int | None, args) -> dict:
    loaded = load_benchmark_model(name, None, args.seed, resolution)
    calib = calibration("head", "tensorrt", args)
    build = loaded.int8_build(calib)
    graph = build.fp32
    config = QDQConfig("tensorrt", calib.method, calib.percentile,
                       skip_nodes=frozenset(find_islands(graph, rules_from_hints(loaded.spec.fp32_sensitive))))
    observers = collect_ranges(graph, build.prepared.sets.calibration.batches, activation_tensors(graph, config),
                               config)
    switched = switch_graph(graph, observers, config)
    categories = categorise(graph, switched.nodes, config)
    held_out = sample_photos(loaded.spec, args.eval_count, 8, loaded.resolution, seed=args.seed + 1000).batches
    runner = OrtRunner(switched.model, 2, qdq="simulated").prepare()
    chunks = [c for b in held_out for c in runner.split_batch(np.asarray(b, dtype=np.float32))]

    def logits(flags: np.ndarray) -> np.ndarray:
        return np.concatenate([runner.infer({"image": c, FLAGS: flags.astype(np.float32)})["logits"] for c in chunks])

    reference = logits(np.zeros(len(switched.nodes)))
    damage = lambda flags: 1.0 - logit_metrics(reference, logits(flags))["cosine"]  # noqa: E731
    record = {"model": name, "resolution": loaded.resolution, "quantized_nodes": len(switched.nodes),
              "one_minus_cos_all_int8": damage(np.ones(len(switched.nodes))), "categories": {}}
    for cat in CATEGORIES:
        mask = np.array([categories[n] == cat for n in switched.nodes])
        if mask.any():
            record["categories"][cat] = {"nodes": int(mask.sum()), "one_minus_cos_only_this": damage(mask),
                                         "one_minus_cos_all_but_this": damage(~mask)}
    runner.close()
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["shvit_s4", "efficientvit_b1"])
    parser.add_argument("--resolutions", nargs="+", default=["64", "native"])
    parser.add_argument("--calib-count", type=int, default=16)
    parser.add_argument("--eval-count", type=int, default=16)
    parser.add_argument("--method", default="percentile", choices=("max", "percentile", "entropy", "mse"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "int8_error_sources.json")
    args = parser.parse_args()
    torch.set_num_threads(2)
    records = [analyse(name, None if res == "native" else int(res), args)
               for name in args.models for res in args.resolutions]
    args.out.write_text(json.dumps(json_safe({"settings": {k: str(v) for k, v in vars(args).items()},
                                              "models": records}), indent=2, sort_keys=True) + "\n")
    for r in records:
        print(f"{r['model']} @ {r['resolution']}: all INT8 1-cos {r['one_minus_cos_all_int8']:.2e}")
        for cat, v in r["categories"].items():
            print(f"  {cat:24s} {v['nodes']:4d} nodes  only {v['one_minus_cos_only_this']:.2e}  "
                  f"all but {v['one_minus_cos_all_but_this']:.2e}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
