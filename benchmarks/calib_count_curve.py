"""INT8 fidelity against the number of calibration inputs: in-sample (the calibration crops) vs held out
(disjoint crops, another seed), per calibration method, with the worst layers of the held-out graph.

Answers issue 15's GhostNetV2 question: does the held-out gap close with more calibration data, with another
range method, or only by keeping layers in higher precision (sensitivity fallback)? Every point goes through
the export stages of `edgeattn export --precision int8` (benchmarks/int8_models.py), same weights and crops.

    python benchmarks/calib_count_curve.py --model ghostnetv2_100 --counts 8 32 128 --methods percentile max
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from types import SimpleNamespace

import onnxruntime as ort
import torch
from int8_models import calibration, load_benchmark_model
from quant_fidelity import summarise
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from edgeattn.bundle_files import graph_file
from edgeattn.calibrate.data import sample_photos
from edgeattn.calibrate.fidelity import evaluate
from edgeattn.calibrate.qdq import QDQ_SEMANTICS
from edgeattn.exporters.bundle import json_safe

RESULTS = Path(__file__).parent / "results"


def curve_point(loaded, method: str, count: int, args, fallback: float | None) -> dict:
    """One calibration (method, count): held-out and in-sample fidelity of the TensorRT-style INT8 graph."""
    settings = SimpleNamespace(method=method, calib_count=count, eval_count=args.eval_count, seed=args.seed)
    calib = calibration(args.granularity, "tensorrt", settings, min_cosine=fallback)
    build = loaded.int8_build(calib)
    start = time.perf_counter()
    result = build.precision(calib)
    int8 = result.graphs[graph_file("portable", "int8")]
    crops = sample_photos(loaded.spec, count, 8, loaded.resolution, seed=args.seed)
    in_sample = evaluate(build.fp32, int8, crops.batches, "in-sample", layers=False, qdq=QDQ_SEMANTICS["tensorrt"])
    point = {"method": method, "calib_count": count, "fallback_min_cos": fallback,
             "held_out": summarise(result.reports["fidelity.json"]["int8"]),
             "in_sample": summarise(in_sample.to_json()), "seconds": time.perf_counter() - start}
    if fallback:
        kept = result.reports["calibration.json"]["fallback"]
        point["kept_in_higher_precision"] = kept["kept_in_higher_precision"]
        point["most_sensitive"] = kept["most_sensitive"][:5]
    return point


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ghostnetv2_100")
    parser.add_argument("--resolution", type=int, default=None, help="pixels (default: the model's own)")
    parser.add_argument("--counts", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--methods", nargs="+", default=["percentile", "max"],
                        choices=("max", "percentile", "entropy", "mse"))
    parser.add_argument("--fallback", type=float, default=0.999,
                        help="also the sensitivity fallback at the largest count with this target (0 to skip)")
    parser.add_argument("--granularity", default="head", choices=("head", "tensor"))
    parser.add_argument("--eval-count", type=int, default=48)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--checkpoints", type=Path, default=None, help="folder of <model>.pth (proxy or real)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if min(args.counts) < 1:
        parser.error("--counts must be positive")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    console = Console()
    torch.set_num_threads(2)
    loaded = load_benchmark_model(args.model, args.checkpoints, args.seed, args.resolution)
    if isinstance(loaded, str):
        raise SystemExit(f"error: {loaded}")
    jobs = [(m, c, None) for m in args.methods for c in sorted(args.counts)]
    if args.fallback:
        jobs.append((args.methods[0], max(args.counts), args.fallback))
    points = []
    with Progress(console=console) as progress:
        task = progress.add_task(f"calibration curve: {args.model}", total=len(jobs))
        for method, count, fallback in jobs:
            progress.update(task, description=f"{args.model}: {method} × {count}" + (" + fallback" if fallback else ""))
            points.append(curve_point(loaded, method, count, args, fallback))
            progress.advance(task)
    out = args.out or RESULTS / f"calib_count_curve_{args.model}_{loaded.resolution}.json"
    data = {"device": {"machine": platform.machine(), "onnxruntime": ort.__version__, "torch": torch.__version__,
                       "threads": 2},
            "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            **loaded.record(), "points": points}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(json_safe(data), indent=2, sort_keys=True, allow_nan=False) + "\n")
    print_table(console, points, args.model)
    console.print(f"wrote {out}")


def print_table(console: Console, points: list[dict], model: str) -> None:
    table = Table(title=f"{model}: INT8 cosine vs fp32 by calibration count (TensorRT style)")
    for column in ("method", "count", "fallback", "in-sample cos", "held-out cos", "held-out SQNR dB",
                   "worst held-out layer"):
        table.add_column(column)
    for p in points:
        worst = p["held_out"]["worst_layers"][:1]
        table.add_row(p["method"], str(p["calib_count"]), str(p["fallback_min_cos"] or "-"),
                      f"{p['in_sample']['cosine']:.5f}", f"{p['held_out']['cosine']:.5f}",
                      f"{p['held_out']['sqnr_db']:.1f}",
                      f"{worst[0]['tensor']} ({worst[0]['sqnr_db']:.1f} dB)" if worst else "-")
    console.print(table)


if __name__ == "__main__":
    main()
