"""INT8 fidelity on scikit-image photo crops: head-wise vs per-tensor, TensorRT vs ORT style, vs ORT
`quantize_static` defaults, at the models' native resolution and at 64² (fast column).

Calibrates on one set of deterministic crops and evaluates on a disjoint held-out set (different seed),
through the export stages of `edgeattn export --precision int8` (benchmarks/int8_models.py). With
`--checkpoints DIR` (from benchmarks/proxy_checkpoints.py, or real ones named <model>.pth) the models load
those weights; otherwise they are random-init, where only cos/SQNR/KL mean anything.
`--spreads 1 4 16 64` adds the head-wise stress axis (benchmarks/head_stress.py): per-head rescaling that
leaves the fp32 function unchanged, head-wise vs per-tensor cosine at each spread.

    python benchmarks/quant_fidelity.py --models shvit_s4 efficientvit_b1 --resolutions native 64
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
from head_stress import stress_record
from int8_models import calibration, load_benchmark_model
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from edgeattn.calibrate.data import sample_photos
from edgeattn.calibrate.fidelity import evaluate
from edgeattn.errors import EdgeattnError
from edgeattn.exporters.bundle import json_safe
from edgeattn.exporters.onnx import save_onnx

MODELS = ("shvit_s4", "lowformer_b1", "efficientvit_b1", "efficientvit_m4", "ghostnetv2_100", "van_b0")
RESULTS = Path(__file__).parent / "results"
ORT_DEFAULT = "ort-quantize_static-default"
VARIANTS = (("edgeattn-head", "head", "tensorrt"), ("edgeattn-tensor", "tensor", "tensorrt"),
            ("edgeattn-head-ort", "head", "ort"))
"""(variant, granularity, style) built for every model; the fallback variant is added with --min-cos."""


class _Reader:
    """ORT CalibrationDataReader over a list of batches (one input at a time: the graph has batch 1)."""

    def __init__(self, batches: list[np.ndarray], input_name: str) -> None:
        self._feeds = iter([{input_name: b[i : i + 1]} for b in batches for i in range(len(b))])

    def get_next(self):
        return next(self._feeds, None)


def ort_default_int8(fp32_path: Path, out_path: Path, batches: list[np.ndarray]) -> onnx.ModelProto:
    """ORT `quantize_static` with its defaults (QDQ, MinMax, u8 activations, s8 per-channel weights)."""
    from onnxruntime.quantization import quantize_static

    quantize_static(str(fp32_path), str(out_path), _Reader(batches, "image"))
    return onnx.load(out_path)


def summarise(report_json: dict) -> dict:
    """The logit metrics of one variant, 1 - cos and the three worst layers."""
    return {k: report_json[k] for k in ("top1_agreement", "cosine", "sqnr_db", "kl", "count")} | {
        "one_minus_cos": 1.0 - report_json["cosine"], "worst_layers": report_json.get("worst_layers", [])[:3]}


def _edgeattn_variants(loaded, args, record: dict, builds: dict) -> dict[str, dict]:
    variants: dict[str, dict] = {}
    runs = [*VARIANTS, *([(f"edgeattn-head-fallback-{args.min_cos}", "head", "tensorrt")] if args.min_cos else [])]
    runs = [run for run in runs if args.variants is None or run[0].removesuffix(f"-{args.min_cos}") in args.variants]
    for variant, granularity, style in runs:
        fallback = args.min_cos if "fallback" in variant else None
        calib = calibration(granularity, style, args, min_cosine=fallback, cpu_gate=False)
        if granularity not in builds:
            builds[granularity] = loaded.int8_build(calib)
        result = builds[granularity].precision(calib)
        variants[variant] = summarise(result.reports["fidelity.json"]["int8"])
        calibration_json = result.reports["calibration.json"]
        if fallback:
            kept = calibration_json["fallback"]
            record["fallback"] = {k: kept[k] for k in ("target_cosine", "cosine_all_int8", "cosine_after_fallback",
                                                       "quantized_nodes", "kept_in_higher_precision")}
            record["fallback"]["most_sensitive"] = kept["most_sensitive"][:5]
        if variant == "edgeattn-head":
            record["headwise_max_rel_change"] = calibration_json["headwise_max_rel_change"]
            record["head_spread"] = {site: r["spread_before"] for site, r in calibration_json["heads"].items()}
    return variants


def run_model(name: str, resolution: int | None, args) -> dict:
    """Every variant of one model at one resolution (None: the model's own)."""
    loaded = load_benchmark_model(name, args.checkpoints, args.seed, resolution)
    if isinstance(loaded, str):
        return {"model": name, "skipped": loaded}
    record = loaded.record() | {"native": resolution is None}
    start = time.perf_counter()
    if args.stress_only:
        return record | {"stress": stress_record(loaded, args), "seconds": time.perf_counter() - start,
                         "variants": {}}
    builds: dict = {}
    variants = _edgeattn_variants(loaded, args, record, builds)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.variants is not None and ORT_DEFAULT not in args.variants:
            return _finish(record, variants, loaded, start)
        if "tensor" not in builds:
            builds["tensor"] = loaded.int8_build(calibration("tensor", "tensorrt", args))
        proto = builds["tensor"].fp32  # the same weights, BatchNorm fused: what a plain export gives ORT
        save_onnx(proto, folder / "model.onnx")
        calib = sample_photos(loaded.spec, args.calib_count, 8, loaded.resolution, seed=args.seed)
        held_out = sample_photos(loaded.spec, args.eval_count, 8, loaded.resolution, seed=args.seed + 1000)
        try:
            ort_model = ort_default_int8(folder / "model.onnx", folder / "ort.onnx", calib.batches)
            variants[ORT_DEFAULT] = summarise(
                evaluate(proto, ort_model, held_out.batches, "ort", qdq="fused").to_json())
        except (ValueError, RuntimeError) as exc:  # ORT quantize_static rejects some graphs: record why
            record["ort_quantize_static_error"] = f"{type(exc).__name__}: {exc}"
    if args.spreads:
        record["stress"] = stress_record(loaded, args)
    return _finish(record, variants, loaded, start)


def _finish(record: dict, variants: dict, loaded, start: float) -> dict:
    record["seconds"] = time.perf_counter() - start
    record["variants"] = variants
    _goals(record, loaded.weights.kind)
    return record


def _goals(record: dict, weights_kind: str) -> None:
    variants = record["variants"]
    base = variants.get(ORT_DEFAULT)
    ratios = {key: value["one_minus_cos"] / max(base["one_minus_cos"], 1e-12) if base else None
              for key, value in variants.items() if key.startswith("edgeattn")}
    record["one_minus_cos_ratio_vs_ort"] = ratios
    record["goals"] = {
        key: {"cos_ge_0.999": value["cosine"] >= 0.999,
              "one_minus_cos_le_third_of_ort": ratios[key] <= 1 / 3 if ratios[key] is not None else None,
              "top1_ge_99pct": value["top1_agreement"] >= 0.99 if weights_kind != "random-init" else None}
        for key, value in variants.items() if key.startswith("edgeattn")
    }


def _fmt(value, spec: str) -> str:
    """Format a number; values stored as text ("inf" SQNR of an unquantized graph) pass through."""
    return format(value, spec) if isinstance(value, (int, float)) else str(value)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--resolutions", nargs="+", default=["native", "64"],
                        help="'native' (the model's own) and/or pixel sizes")
    parser.add_argument("--calib-count", type=int, default=32)
    parser.add_argument("--eval-count", type=int, default=32)
    parser.add_argument("--method", default="percentile", choices=("max", "percentile", "entropy", "mse"))
    parser.add_argument("--checkpoints", type=Path, default=None, help="folder of <model>.pth (proxy or real)")
    parser.add_argument("--min-cos", type=float, default=0.999,
                        help="also build the sensitivity-guided fallback variant with this target (0 to skip)")
    parser.add_argument("--spreads", type=float, nargs="*", default=[],
                        help="head-wise stress axis: per-head range spreads (e.g. 1 4 16 64)")
    parser.add_argument("--variants", nargs="+", default=None,
                        choices=[v for v, _, _ in VARIANTS] + ["edgeattn-head-fallback", ORT_DEFAULT],
                        help="only these variants (default: all)")
    parser.add_argument("--stress-only", action="store_true", help="only the head-wise stress axis (needs --spreads)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.stress_only and not args.spreads:
        parser.error("--stress-only needs --spreads")
    for value in args.resolutions:
        if value != "native" and not value.isdigit():
            parser.error(f"--resolutions takes 'native' or pixel sizes, got {value!r}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    console = Console()
    torch.set_num_threads(2)
    records = []
    jobs = [(name, None if res == "native" else int(res)) for name in args.models for res in args.resolutions]
    with Progress(console=console) as progress:
        task = progress.add_task("quant fidelity", total=len(jobs))
        for name, resolution in jobs:
            progress.update(task, description=f"quant fidelity: {name} @ {resolution or 'native'}")
            try:
                records.append(run_model(name, resolution, args))
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
    print_table(console, records, args.method)
    console.print(f"wrote {out}")


def print_table(console: Console, records: list[dict], method: str) -> None:
    table = Table(title=f"INT8 fidelity vs fp32 ({method}; held-out photo crops)")
    for column in ("model", "res", "variant", "top-1 agree", "cosine", "1-cos", "SQNR dB", "KL"):
        table.add_column(column)
    for record in records:
        if "skipped" in record:
            table.add_row(record["model"], "-", record["skipped"], "", "", "", "", "")
            continue
        for variant, v in record["variants"].items():
            table.add_row(record["model"], str(record["resolution"]), variant, _fmt(v["top1_agreement"], ".1%"),
                          _fmt(v["cosine"], ".5f"), _fmt(v["one_minus_cos"], ".2e"), _fmt(v["sqnr_db"], ".1f"),
                          _fmt(v["kl"], ".2e"))
    console.print(table)


if __name__ == "__main__":
    main()
