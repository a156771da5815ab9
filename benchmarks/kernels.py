"""Benchmark every edgeattn op on a CUDA GPU at the shapes its backbones use (batch 1 and 8).

For each op, spec case, batch and dtype it times the Triton kernel, the eager fp32-math reference,
`torch.compile` of that reference, `scaled_dot_product_attention` where it applies, and the INT8
Triton kernels of the attention ops; it reports the median time (`triton.testing.do_bench`), the
achieved bandwidth and FLOP rate, and the fraction of the memory roofline (ideal bytes moved / peak
bandwidth, divided by the measured time). Results go to
`benchmarks/results/kernels_<device>_<YYYY-MM-DD>.json`.

    python benchmarks/kernels.py [--ops OP ...] [--batch 1 8] [--dtype fp16 fp32]
        [--compile-batch 8] [--compile-dtype fp16] [--time-budget SECONDS]

torch.compile (slow to warm up: one compilation per case, batch and dtype) is timed in a second pass,
for the batches and dtypes --compile-batch/--compile-dtype name, so a time budget cuts it first. The
JSON is rewritten after every case, so a run stopped by its budget (or killed) keeps what it measured;
cases not timed are listed under "not_run" with the reason. Without a CUDA GPU it exits with a message
saying so.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from edgeattn.errors import EdgeattnError, MissingDependencyError
from edgeattn.ops.cases import OpCase, make_case
from edgeattn.ops.spec import ShapeCase

RESULTS_DIR = Path(__file__).parent / "results"
DTYPES = {"fp16": torch.float16, "fp32": torch.float32}

PEAK_BANDWIDTH_GBPS = {
    "H200": 4800.0,
    "H100 NVL": 3900.0,
    "H100 PCIe": 2000.0,
    "H100": 3350.0,
    "GH200": 4000.0,
    "A100-SXM4-80GB": 2039.0,
    "A100 80GB PCIe": 1935.0,
    "A100": 1555.0,
    "L40S": 864.0,
    "L4": 300.0,
    "RTX 4090": 1008.0,
    "RTX 3090": 936.0,
    "A10": 600.0,
    "T4": 320.0,
    "Orin": 204.8,
}
"""Vendor peak DRAM bandwidth (GB/s) by device-name substring; the longest match wins."""

@dataclass(frozen=True)
class Sweep:
    """What to time: ops (None: all), batches, dtypes, where torch.compile is timed, do_bench ms, budget (s)."""

    ops: list[str] | None
    batches: list[int]
    dtypes: list[str]
    compile_batches: list[int]
    compile_dtypes: list[str]
    warmup: int = 25
    rep: int = 100
    time_budget: float | None = None


@dataclass(frozen=True)
class Variant:
    """One implementation to time: a no-argument callable and the ideal bytes it must move."""

    name: str
    run: Callable[[], Any]
    bytes_moved: int


def peak_bandwidth_gbps(device_name: str) -> float | None:
    """The vendor peak bandwidth of `device_name`, or None when the device is not in the table."""
    matches = [key for key in PEAK_BANDWIDTH_GBPS if key.lower() in device_name.lower()]
    return PEAK_BANDWIDTH_GBPS[max(matches, key=len)] if matches else None


def metrics(
    bytes_moved: int, flops: int, median_ms: float, peak_gbps: float | None
) -> dict[str, Any]:
    """Achieved GB/s, TFLOP/s and fraction of the memory roofline for one timing."""
    seconds = median_ms * 1e-3
    gbps = bytes_moved / seconds / 1e9
    return {
        "median_ms": median_ms,
        "bytes": bytes_moved,
        "flops": flops,
        "achieved_gbps": gbps,
        "achieved_tflops": flops / seconds / 1e12,
        "roofline_fraction": gbps / peak_gbps if peak_gbps else None,
    }


def result_path(device_name: str, date: dt.date, directory: Path = RESULTS_DIR) -> Path:
    """`kernels_<device slug>_<date>.json` under `directory`."""
    slug = re.sub(r"[^a-z0-9]+", "-", device_name.lower()).strip("-")
    return directory / f"kernels_{slug}_{date.isoformat()}.json"


def plan(op_names: list[str] | None, batches: list[int]) -> list[tuple[Any, ShapeCase, int]]:
    """(op definition, case, batch) for every run; deployment-size (benchmark-only) cases at batch 1."""
    from edgeattn.ops.registry import all_ops, get_op

    for name in op_names or []:
        get_op(name)
    runs = []
    for op_def in all_ops():
        if op_names and op_def.name not in op_names and op_def.folder not in op_names:
            continue
        for case in op_def.spec.cases:
            runs.extend((op_def, case, batch) for batch in ([1] if case.benchmark_only else batches))
    return runs


def variants(op_def: Any, oc: OpCase, use_compile: bool = True) -> list[Variant]:
    """Everything to time for one case: Triton, eager reference, torch.compile, and the op's own extras
    (`OpDef.benchmark_variants`: SDPA, INT8 kernels)."""
    from edgeattn.ops.backends import backend

    triton_run = backend(op_def.name, "triton").run
    found = [
        Variant("triton", lambda: triton_run(*oc.inputs, **oc.attrs), oc.bytes_moved),
        Variant("eager", lambda: op_def.reference(*oc.inputs, **oc.attrs), oc.bytes_moved),
    ]
    if use_compile:
        found.append(compile_variant(op_def, oc))
    if op_def.benchmark_variants is not None:
        found += [Variant(name, run, moved) for name, run, moved in op_def.benchmark_variants(oc)]
    return found


def compile_variant(op_def: Any, oc: OpCase) -> Variant:
    """`torch.compile` of the reference (static shapes: one compilation per case, batch and dtype)."""
    compiled = torch.compile(op_def.reference, dynamic=False)
    return Variant("torch.compile", lambda: compiled(*oc.inputs, **oc.attrs), oc.bytes_moved)


def _max_error(out: Any, ref: torch.Tensor) -> float | None:
    if not isinstance(out, torch.Tensor) or out.shape != ref.shape:
        return None
    return float((out.float() - ref).abs().max())


def _require_cuda() -> str:
    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        raise EdgeattnError(
            "TRITON_INTERPRET is set, so Triton kernels would run interpreted on the CPU.",
            "Unset TRITON_INTERPRET before benchmarking.",
        )
    if not torch.cuda.is_available():
        raise MissingDependencyError(
            "benchmarks/kernels.py needs a CUDA GPU, and torch.cuda.is_available() is False here.",
            "Run it on a machine with an NVIDIA GPU, a CUDA build of torch and triton installed.",
        )
    return torch.cuda.get_device_name()


def _measured_copy_gbps() -> float:
    import triton.testing

    src = torch.empty(256 * 2**20, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    ms = triton.testing.do_bench(lambda: dst.copy_(src), warmup=25, rep=100, return_mode="median")
    return 2 * src.numel() / (ms * 1e-3) / 1e9


def _time_case(
    report: dict[str, Any], op_def: Any, case: ShapeCase, batch: int, dtype_name: str,
    pick: Callable[[Any, OpCase], list[Variant]], sweep: Sweep,
) -> None:
    """Time the variants `pick` chooses for one case; a failing variant is recorded, the sweep goes on."""
    import triton.testing

    oc = make_case(op_def, case, dtype=DTYPES[dtype_name], batch=batch, device="cuda")
    ref = op_def.reference(
        *(_upcast(t) for t in oc.inputs), **{k: _upcast(v) for k, v in oc.attrs.items()}
    ).float()
    for variant in pick(op_def, oc):
        entry = {"op": op_def.name, "case": case.id, "batch": batch, "dtype": dtype_name, "impl": variant.name}
        try:
            out = variant.run()
            ms = triton.testing.do_bench(variant.run, warmup=sweep.warmup, rep=sweep.rep, return_mode="median")
        except Exception as exc:  # a failing variant is recorded, the sweep goes on
            report["results"].append({**entry, "error": f"{type(exc).__name__}: {exc}"})
            continue
        report["results"].append({
            **entry,
            **metrics(variant.bytes_moved, oc.flops, ms, report["peak_bandwidth_gbps"]),
            "max_abs_error_vs_fp32": _max_error(out, ref),
        })


def _header(sweep: Sweep) -> dict[str, Any]:
    import triton

    device_name = _require_cuda()
    return {
        "device": device_name,
        "date": dt.datetime.now(dt.timezone.utc).date().isoformat(),
        "versions": {
            "torch": torch.__version__,
            "triton": triton.__version__,
            "cuda": torch.version.cuda,
            "python": platform.python_version(),
        },
        "peak_bandwidth_gbps": peak_bandwidth_gbps(device_name),
        "measured_copy_gbps": _measured_copy_gbps(),
        "timing": {"method": "triton.testing.do_bench median", "warmup_ms": sweep.warmup, "rep_ms": sweep.rep},
        "torch_compile": {"batches": sweep.compile_batches, "dtypes": sweep.compile_dtypes},
        "time_budget_s": sweep.time_budget,
        "results": [],
        "not_run": [],
    }


def run(sweep: Sweep, checkpoint: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Time every planned case (torch.compile in a second pass); returns the JSON-ready report.

    `checkpoint(report)` is called after every case (the caller writes the file).
    """
    from rich.progress import Progress

    report = _header(sweep)
    deadline = time.monotonic() + sweep.time_budget if sweep.time_budget else None
    runs = [(o, c, b, d) for o, c, b in plan(sweep.ops, sweep.batches) for d in sweep.dtypes]
    compiled = [r for r in runs if r[2] in sweep.compile_batches and r[3] in sweep.compile_dtypes]
    passes = [("all but torch.compile", runs, lambda o, oc: variants(o, oc, use_compile=False)),
              ("torch.compile", compiled, lambda o, oc: [compile_variant(o, oc)])]
    with Progress() as progress:
        for impls, pending, pick in passes:
            task = progress.add_task(impls, total=len(pending))
            for op_def, case, batch, dtype_name in pending:
                if deadline is not None and time.monotonic() > deadline:
                    report["not_run"].append({"op": op_def.name, "case": case.id, "batch": batch, "dtype": dtype_name,
                                              "impls": impls, "reason": f"time budget of {sweep.time_budget} s spent"})
                    continue
                progress.update(task, description=f"{op_def.name} {case.id} b{batch} {dtype_name}")
                _time_case(report, op_def, case, batch, dtype_name, pick, sweep)
                progress.advance(task)
                if checkpoint is not None:
                    checkpoint(report)
    return report


def _upcast(value: Any) -> Any:
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.float()
    return value


def _write(report: dict[str, Any], out_dir: Path) -> Path:
    path = result_path(report["device"], dt.date.fromisoformat(report["date"]), out_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    partial.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", nargs="*", help="op names (default: all)")
    parser.add_argument("--batch", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--dtype", nargs="+", choices=sorted(DTYPES), default=["fp16", "fp32"])
    parser.add_argument(
        "--no-compile", action="store_true", help="skip torch.compile (slow to warm up)"
    )
    parser.add_argument(
        "--compile-batch", nargs="+", type=int, help="batches torch.compile is timed at (default: --batch)"
    )
    parser.add_argument(
        "--compile-dtype", nargs="+", choices=sorted(DTYPES), help="dtypes for torch.compile (default: --dtype)"
    )
    parser.add_argument("--warmup", type=int, default=25, help="do_bench warm-up, ms")
    parser.add_argument("--rep", type=int, default=100, help="do_bench repetition time, ms")
    parser.add_argument("--time-budget", type=float, help="seconds; cases not started by then are listed as not run")
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    sweep = Sweep(
        ops=args.ops, batches=args.batch, dtypes=args.dtype,
        compile_batches=[] if args.no_compile else (args.compile_batch or args.batch),
        compile_dtypes=[] if args.no_compile else (args.compile_dtype or args.dtype),
        warmup=args.warmup, rep=args.rep, time_budget=args.time_budget,
    )
    try:
        report = run(sweep, checkpoint=lambda r: _write(r, args.out_dir))
    except EdgeattnError as exc:
        print(str(exc), file=sys.stderr)
        return exc.exit_code
    path = _write(report, args.out_dir)
    print(f"wrote {path} ({len(report['results'])} timings, {len(report['not_run'])} cases not run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
