"""INT8 fidelity on scikit-image photo crops: head-wise vs per-tensor (same observer) vs ORT quantize_static.

Calibrates on one set of deterministic crops and evaluates on a disjoint held-out set (different seed).
With `--checkpoints DIR` (from benchmarks/proxy_checkpoints.py, or real ones named <model>.pth) the
models load those weights; otherwise they are random-init, where only cos/SQNR/KL mean anything.

    python benchmarks/quant_fidelity.py --models shvit_s4 efficientvit_b1 --resolution 128
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from int8_models import load_benchmark_model
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from edgeattn.calibrate.data import sample_photos
from edgeattn.calibrate.fidelity import evaluate
from edgeattn.calibrate.pipeline import CalibrationConfig, build_precision
from edgeattn.errors import EdgeattnError
from edgeattn.exporters.bundle import json_safe

MODELS = ("shvit_s4", "lowformer_b1", "efficientvit_b1", "efficientvit_m4", "ghostnetv2_100", "van_b0")
RESULTS = Path(__file__).parent / "results"


class _Reader:
    """ORT CalibrationDataReader over a list of batches (split into the graph's static batch)."""

    def __init__(self, batches: list[np.ndarray], input_name: str) -> None:
        self._feeds = iter([{input_name: b[i : i + 1]} for b in batches for i in range(len(b))])

    def get_next(self):
        return next(self._feeds, None)


def _ort_default_int8(fp32_path: Path, out_path: Path, batches: list[np.ndarray]) -> onnx.ModelProto:
    from onnxruntime.quantization import quantize_static

    quantize_static(str(fp32_path), str(out_path), _Reader(batches, "image"))
    return onnx.load(out_path)


def run_model(name: str, args, console: Console) -> dict:
    try:
        loaded = load_benchmark_model(name, args.checkpoints, args.seed, args.resolution)
    except EdgeattnError as exc:
        return {"model": name, "skipped": str(exc).splitlines()[0]}
    if isinstance(loaded, str):
        return {"model": name, "skipped": loaded}
    spec, model, weights, resolution = loaded.spec, loaded.model, loaded.weights, loaded.resolution
    record = loaded.record()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        proto = loaded.export_portable(folder / "model.onnx")
        variants = {}
        heads = {}
        fallback = {}
        runs = [("edgeattn-head", "head", "tensorrt", None), ("edgeattn-tensor", "tensor", "tensorrt", None),
                ("edgeattn-head-ort", "head", "ort", None)]
        runs += [(f"edgeattn-head-fallback-{args.min_cos}", "head", "tensorrt", args.min_cos)] if args.min_cos else []
        for variant, granularity, style, min_cos in runs:
            config = CalibrationConfig(data="samples", method=args.method, granularity=granularity, style=style,
                                       count=args.calib_count, eval_count=args.eval_count, batch_size=8,
                                       min_cosine=min_cos, seed=args.seed)
            build_precision(folder, spec, model, "int8", config)
            variants[variant] = json.loads((folder / "fidelity.json").read_text())["int8"]
            calibration = json.loads((folder / "calibration.json").read_text())
            if min_cos:
                record_fallback = calibration["fallback"]
                fallback = {k: record_fallback[k] for k in ("target_cosine", "cosine_all_int8", "cosine_after_fallback",
                                                            "quantized_nodes", "kept_in_higher_precision")}
                fallback["most_sensitive"] = record_fallback["most_sensitive"][:5]
            if variant == "edgeattn-head":
                heads = {
                    site: {t: [float(np.mean(r["sqnr_db_before"][t])), float(np.mean(r["sqnr_db_after"][t]))]
                           for t in r["sqnr_db_before"]}
                    for site, r in calibration["heads"].items()
                }
                record["headwise_max_rel_change"] = calibration["headwise_max_rel_change"]
        if args.cpu_gate:
            config = CalibrationConfig(data="samples", method=args.method, style="ort", cpu_gate=True,
                                       count=args.calib_count, eval_count=args.eval_count, seed=args.seed)
            build_precision(folder, spec, model, "int8", config)
            variants["edgeattn-head-ort-cpu-gated"] = json.loads((folder / "fidelity.json").read_text())["int8"]
            record["cpu_gate"] = json.loads((folder / "calibration.json").read_text())["cpu_gate"]
        calib = sample_photos(spec, args.calib_count, 8, resolution, seed=args.seed)
        held_out = sample_photos(spec, args.eval_count, 8, resolution, seed=args.seed + 1000)
        try:
            ort_model = _ort_default_int8(folder / "model.onnx", folder / "ort.onnx", calib.batches)
            variants["ort-quantize_static-default"] = evaluate(proto, ort_model, held_out.batches, "ort", qdq="fused").to_json()
        except (ValueError, RuntimeError) as exc:  # ORT quantize_static rejects some graphs: record why
            record["ort_quantize_static_error"] = f"{type(exc).__name__}: {exc}"
        record["seconds"] = time.perf_counter() - start
    record["variants"] = {
        key: {k: value[k] for k in ("top1_agreement", "cosine", "sqnr_db", "kl", "count")} | {
            "one_minus_cos": 1.0 - value["cosine"],
            "worst_layers": value.get("worst_layers", [])[:3]}
        for key, value in variants.items()
    }
    base = record["variants"].get("ort-quantize_static-default")
    ratios = {key: value["one_minus_cos"] / max(base["one_minus_cos"], 1e-12) if base else None
              for key, value in record["variants"].items() if key.startswith("edgeattn")}
    record["one_minus_cos_ratio_vs_ort"] = ratios
    record["fallback"] = fallback
    record["goals"] = {
        key: {"cos_ge_0.999": value["cosine"] >= 0.999,
              "one_minus_cos_le_third_of_ort": ratios[key] <= 1 / 3 if ratios[key] is not None else None,
              "top1_ge_99pct": value["top1_agreement"] >= 0.99 if weights.kind != "random-init" else None}
        for key, value in record["variants"].items() if key.startswith("edgeattn")
    }
    record["per_head_sqnr_db_mean_before_after"] = heads
    return record


def _fmt(value, spec: str) -> str:
    """Format a number; values stored as text ("inf" SQNR of an unquantized graph) pass through."""
    return format(value, spec) if isinstance(value, (int, float)) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--calib-count", type=int, default=32)
    parser.add_argument("--eval-count", type=int, default=32)
    parser.add_argument("--method", default="percentile", choices=("max", "percentile", "entropy", "mse"))
    parser.add_argument("--checkpoints", type=Path, default=None, help="folder of <model>.pth (proxy or real)")
    parser.add_argument("--cpu-gate", action="store_true",
                        help="also build ORT-style INT8 with the CPU latency gate and record fp32/int8 latency")
    parser.add_argument("--min-cos", type=float, default=0.999,
                        help="also build the sensitivity-guided fallback variant with this target (0 to skip)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    console = Console()
    torch.set_num_threads(2)
    records = []
    with Progress(console=console) as progress:
        task = progress.add_task("quant fidelity", total=len(args.models))
        for name in args.models:
            progress.update(task, description=f"quant fidelity: {name}")
            try:
                records.append(run_model(name, args, console))
            except EdgeattnError as exc:
                records.append({"model": name, "skipped": str(exc).splitlines()[0]})
            progress.advance(task)
    kind = "proxy" if args.checkpoints else "random-init"
    out = args.out or RESULTS / f"quant_fidelity_{kind}_{args.method}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "device": {"machine": platform.machine(), "processor": platform.processor() or platform.machine(),
                   "onnxruntime": ort.__version__, "torch": torch.__version__, "threads": 2},
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "models": records,
    }
    out.write_text(json.dumps(json_safe(data), indent=2, sort_keys=True, allow_nan=False) + "\n")
    table = Table(title=f"INT8 fidelity vs fp32 ({args.method}; held-out photo crops)")
    for column in ("model", "weights", "variant", "top-1 agree", "cosine", "1-cos", "SQNR dB", "KL"):
        table.add_column(column)
    for record in records:
        if "skipped" in record:
            table.add_row(record["model"], "-", record["skipped"], "", "", "", "", "")
            continue
        for variant, v in record["variants"].items():
            table.add_row(record["model"], record["weights"]["kind"], variant, _fmt(v["top1_agreement"], ".1%"),
                          _fmt(v["cosine"], ".5f"), _fmt(v["one_minus_cos"], ".2e"), _fmt(v["sqnr_db"], ".1f"),
                          _fmt(v["kl"], ".2e"))
    console.print(table)
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
