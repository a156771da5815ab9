"""DSVT INT8 on held-out synthetic LiDAR scenes: head-wise vs per-tensor, with the head-wise stress axis.

Calibrates `dsvt_pillar` / `dsvt_voxel` (seeded random init) on synthetic scenes (seed S..) and scores the
backbone features on held-out scenes (seed S+1000..) through the export stages of `edgeattn export
--precision int8 --calib-data lidar` (TensorRT style, portable graph, padded set slots kept out of the
statistics). `--spreads` moves a per-head range spread into every set-attention and pooling-attention site
without changing the fp32 features (benchmarks/head_stress.py), then builds both granularities on it.

    python benchmarks/dsvt_int8.py --models dsvt_pillar dsvt_voxel --spreads 1 16 64
    python benchmarks/dsvt_int8.py --models dsvt_voxel --spreads 1 64 --granularities head --v-strength 1 \
        --out benchmarks/results/dsvt_int8_random-init_v_strength_1.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import onnxruntime as ort
import torch
from head_stress import stressed_model
from int8_models import BenchmarkModel, calibration, load_benchmark_model
from rich.console import Console
from rich.progress import Progress

from edgeattn.exporters.bundle import json_safe
from edgeattn.lidar.scenes import synthetic_scene
from edgeattn.lidar.voxelize import voxelize

RESULTS = Path(__file__).parent / "results"
WORST_LAYERS = 5


def check_inputs(loaded: BenchmarkModel, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(voxel features, coords) of one scene outside both sets: the fp32 check of the stress rescaling."""
    voxels = voxelize(synthetic_scene(seed), loaded.model.layout.grid)
    return voxels.features, voxels.coords


def build_row(loaded: BenchmarkModel, model: torch.nn.Module, granularity: str, args) -> dict:
    """Held-out fidelity of one INT8 build (backbone features: cosine, SQNR, worst layers, head spread)."""
    calib = calibration(granularity, "tensorrt", args, data="lidar", v_strength=args.v_strength)
    start = time.perf_counter()
    result = loaded.int8_build(calib, model=model).precision(calib)
    fidelity, calibration_json = result.reports["fidelity.json"], result.reports["calibration.json"]
    report = fidelity["int8"]
    row = {"cosine": report["cosine"], "one_minus_cos": 1.0 - report["cosine"], "sqnr_db": report["sqnr_db"],
           "max_abs": report["max_abs"], "held_out": fidelity["held_out"], "frames": report["count"],
           "worst_layers": report["worst_layers"][:WORST_LAYERS], "seconds": time.perf_counter() - start}
    heads = calibration_json["heads"] or {}
    if heads:
        row["measured_spread"] = {t: max(r["spread_before"][t] for r in heads.values()) for t in ("q", "k", "v", "o")}
        row["sites"] = len(heads)
    return row


def run_model(name: str, args) -> dict:
    """Head-wise and per-tensor INT8 of one DSVT model at every spread."""
    loaded = load_benchmark_model(name, None, args.seed, None)
    check = check_inputs(loaded, args.seed + 2000)
    rows = []
    for spread in args.spreads:
        model, sites, change = stressed_model(loaded.model, spread, check)
        row = {"spread": spread, "sites": sites, "fp32_max_rel_change": change}
        for granularity in args.granularities:
            row[granularity] = build_row(loaded, model, granularity, args)
        rows.append(row)
    return loaded.record() | {"rows": rows}


def write_results(args, records: list[dict]) -> None:
    """The results JSON so far (rewritten after every model: a long run keeps what it measured)."""
    data = {"device": {"machine": platform.machine(), "threads": 2, "torch": torch.__version__,
                       "onnxruntime": ort.__version__},
            "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "models": records}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(json_safe(data), indent=1, sort_keys=True) + "\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["dsvt_pillar", "dsvt_voxel"])
    parser.add_argument("--spreads", type=float, nargs="+", default=[1.0])
    parser.add_argument("--granularities", nargs="+", default=["head", "tensor"], choices=("head", "tensor"))
    parser.add_argument("--calib-count", type=int, default=8, help="calibration scenes")
    parser.add_argument("--eval-count", type=int, default=4, help="held-out scenes")
    parser.add_argument("--method", default="percentile", choices=("max", "percentile", "entropy", "mse"))
    parser.add_argument("--v-strength", type=float, default=0.5,
                        help="head-wise V balancing: how far each channel's range moves to the mean (0..1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "dsvt_int8_random-init.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(2)
    console = Console()
    records: list[dict] = []
    with Progress(console=console) as progress:
        task = progress.add_task("dsvt int8", total=len(args.models))
        for name in args.models:
            progress.update(task, description=f"dsvt int8: {name}")
            records.append(run_model(name, args))
            write_results(args, records)
            progress.advance(task)
    for record in records:
        for row in record["rows"]:
            cells = "  ".join(f"{g} {row[g]['cosine']:.6f} ({row[g]['sqnr_db']:.1f} dB)" for g in args.granularities)
            console.print(f"{record['model']} spread {row['spread']:g}x: {cells}")
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
