"""Run every edgeattn TensorRT plugin's enqueue on a CUDA GPU, without TensorRT, against the references.

For every spec.yaml case of every op that has a plugin (`OpDef.plugin_kernels`) and every I/O type
combination the plugin accepts there (fp32, fp16, INT8), the enqueue harness (tests/plugins/harness)
creates the plugin from fields typed as TensorRT's ONNX parser types them, checks its output types and
shapes, configures it, re-creates it from its serialized fields, attaches it, and calls `enqueue` on
torch-allocated device buffers on a CUDA stream. Outputs are compared with the op's fp32 reference at
the spec's tolerances (INT8: the op's int8 reference); enqueue is timed against the op's Triton launcher
called from Python (CUDA events around each call, median of --reps, and back-to-back calls).

    python benchmarks/plugin_enqueue.py [--plugin-library LIB --harness LIB | --tensorrt-root DIR
        [--cubin-dir DIR]] [--ops NAME ...] [--batch 1 8] [--reps 200] [--out PATH] [--time-budget S]
    python benchmarks/plugin_enqueue.py --dry-run [--out PATH]     # no GPU: everything up to attach

Writes `benchmarks/results/plugin_enqueue_<device>_<date>.json` (after every entry, so a killed run
keeps what it measured). Without a CUDA device it exits with code 2 and says so.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"
HARNESS_DIR = ROOT / "tests" / "plugins" / "harness"
if str(HARNESS_DIR) not in sys.path:
    sys.path.insert(0, str(HARNESS_DIR))

from enqueue_run import ROUNDS, EntryResult, run_entry  # noqa: E402

from edgeattn.errors import EdgeattnError, MissingDependencyError, UsageError  # noqa: E402


class NoCudaDevice(MissingDependencyError):
    """No CUDA device: nothing can be enqueued (exit code 2, like a usage error)."""

    exit_code = 2


class BuildFailed(EdgeattnError):
    """The plugin library or the harness could not be built here (exit code 3: a prebuilt pair may still do)."""

    exit_code = 3


def require_cuda() -> None:
    """Refuse clearly when plugins cannot run here: no CUDA device, or Triton in interpreter mode."""
    import torch

    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        raise UsageError("TRITON_INTERPRET is set, so the Triton launchers would run on the CPU interpreter.",
                         "Unset TRITON_INTERPRET before running plugin_enqueue.py.")
    if not torch.cuda.is_available():
        raise NoCudaDevice(
            "no CUDA device: torch.cuda.is_available() is False, and plugin enqueue needs an NVIDIA GPU.",
            "Run it on a GPU machine (benchmarks/README_gpu.md), or pass --dry-run to check everything up to "
            "attach (fields, types, shapes, formats, cubins, workspace) on this CPU.")


def plan(op_names: list[str] | None, batches: list[int],
         case_ids: list[str] | None = None) -> tuple[list[tuple], dict[str, str], list[dict]]:
    """(op, case, io_types, batch) to run, ops skipped with why, type combinations skipped with why."""
    from edgeattn.ops import all_ops, get_op
    from edgeattn.plugins.enqueue import case_io_types, unsupported_reason

    wanted = {get_op(name).name for name in op_names or []}
    ops = [op for op in all_ops() if not wanted or op.name in wanted]
    unknown = set(case_ids or []) - {case.id for op in ops for case in op.spec.cases}
    if unknown:
        raise UsageError(f"Unknown spec case id(s): {', '.join(sorted(unknown))}.",
                         "Use the ids of the ops' spec.yaml cases (edgeattn/ops/<op>/spec.yaml).")
    entries, skipped_ops, skipped = [], {}, []
    for op in ops:
        if op.plugin_kernels is None:
            skipped_ops[op.name] = "no TensorRT plugin yet (OpDef.plugin_kernels is None)"
            continue
        for case in op.spec.cases:
            if case_ids and case.id not in case_ids:
                continue
            for io in case_io_types(op, case):
                if reason := unsupported_reason(op, io):
                    skipped.append({"op": op.name, "case": case.id, "io_types": list(io), "reason": reason})
                    continue
                entries += [(op, case, io, batch) for batch in batches]
    return entries, skipped_ops, skipped


def _default_tensorrt_root() -> Path | None:
    headers = os.environ.get("EDGEATTN_TENSORRT_HEADERS")
    candidates = [Path(headers) / "10.16"] if headers else []
    candidates += [ROOT.parent / "shared" / "third_party" / "tensorrt" / "10.16", Path("/usr")]
    return next((c for c in candidates if (c / "include" / "NvInferRuntime.h").is_file()), None)


def build_libraries(args: argparse.Namespace, arch: int) -> dict[str, Any]:
    """The harness and plugin library: as given, or built into --build-dir (cubins compiled if not given)."""
    from enqueue_binding import build_harness

    from edgeattn.plugins.build import build_library, tensorrt_version

    if args.plugin_library and args.harness:
        return {"plugin_library": str(args.plugin_library), "harness": str(args.harness), "built": False}
    root = args.tensorrt_root or _default_tensorrt_root()
    if root is None:
        raise UsageError("No TensorRT headers to build the plugin library and harness with.",
                         "Pass --tensorrt-root DIR (headers in DIR/include), or --plugin-library and --harness.")
    started = time.monotonic()
    try:
        cubins = args.cubin_dir or _compile_cubins(arch, args.build_dir / "cubins")
        library = build_library(root, cubins, [arch], args.build_dir / "plugins", jobs=args.jobs,
                                static_registration=False)
        harness = build_harness(root, args.build_dir / "harness", jobs=args.jobs)
    except EdgeattnError as exc:
        raise BuildFailed(f"Building the plugin library or the enqueue harness failed: {exc.what}", exc.hint) from exc
    return {"plugin_library": str(library.dynamic_library), "harness": str(harness), "built": True,
            "tensorrt_headers": tensorrt_version(root), "cubin_dir": str(cubins),
            "build_seconds": round(time.monotonic() - started, 1)}


def _compile_cubins(arch: int, out: Path) -> Path:
    from edgeattn.plugins.compile import compile_launches
    from edgeattn.plugins.graph import spec_launches

    compile_launches(spec_launches(), [arch], out)
    return out


def device_facts(dry_run: bool) -> dict[str, Any]:
    """Device name, capability, driver and library versions."""
    import platform

    import torch
    import triton

    facts: dict[str, Any] = {"torch": torch.__version__, "triton": triton.__version__,
                             "cuda_runtime": torch.version.cuda, "python": platform.python_version()}
    if dry_run:
        return {**facts, "device": "none (dry run)", "driver": None}
    major, minor = torch.cuda.get_device_capability()
    return {**facts, "device": torch.cuda.get_device_name(), "capability": f"{major}.{minor}",
            "driver": _driver_version()}


def _driver_version() -> str:
    import ctypes

    version = ctypes.c_int(0)
    ctypes.CDLL("libcuda.so.1").cuDriverGetVersion(ctypes.byref(version))
    return f"CUDA {version.value // 1000}.{version.value % 1000 // 10}"


def result_path(device: str, date: dt.date, directory: Path = RESULTS_DIR) -> Path:
    """`plugin_enqueue_<device slug>_<date>.json` under `directory`."""
    import re

    slug = re.sub(r"[^a-z0-9]+", "-", device.lower()).strip("-")
    return directory / f"plugin_enqueue_{slug}_{date.isoformat()}.json"


def summary(entries: list[dict[str, Any]]) -> dict[str, int]:
    counts = {status: 0 for status in ("passed", "failed", "error", "skipped", "configured")}
    for entry in entries:
        counts[entry["status"]] += 1
    return {"entries": len(entries), **counts}


def _write(path: Path | None, report: dict[str, Any]) -> None:
    from edgeattn.exporters.bundle import write_json

    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    report["summary"] = summary(report["entries"])
    partial = path.with_suffix(".partial")
    write_json(partial, report)
    partial.replace(path)


def run(args: argparse.Namespace) -> tuple[dict[str, Any], Path | None]:
    """Plan, build, run every entry; the report and where it was written."""
    import torch
    from enqueue_binding import Harness

    deadline = time.monotonic() + args.time_budget if args.time_budget else None
    if not args.dry_run:
        require_cuda()
    major, minor = (9, 0) if args.dry_run else torch.cuda.get_device_capability()
    arch = args.arch or major * 10 + minor
    entries, skipped_ops, skipped = plan(args.ops, args.batch, args.cases)
    facts = device_facts(args.dry_run)
    libraries = build_libraries(args, arch)
    harness = Harness(Path(libraries["harness"]), Path(libraries["plugin_library"]))
    report = {"kind": "plugin_enqueue", "date": dt.datetime.now(dt.timezone.utc).date().isoformat(),
              "dry_run": args.dry_run, "device": facts, "arch": arch,
              "libraries": {**libraries, "creators": harness.creators,
                            "harness_tensorrt_major": harness.tensorrt_major},
              "timing": {"method": "CUDA events around each call (median per round; the lower of the interleaved "
                                   "rounds is *_median_us) and around --reps back-to-back calls (mean)",
                         "reps": args.reps, "warmup": args.warmup, "rounds": ROUNDS},
              "skipped_ops": skipped_ops, "skipped_combinations": skipped, "entries": []}
    path = args.out or (None if args.dry_run else result_path(facts["device"], dt.date.fromisoformat(report["date"]),
                                                              args.out_dir))
    lost = ""
    for op, case, io, batch in entries:
        if lost or (deadline is not None and time.monotonic() > deadline):
            reason = lost or f"time budget of {args.time_budget} s spent"
            report["entries"].append(EntryResult.skipped(op.name, case.id, io, batch, reason).record)
            continue
        result = run_entry(harness, op, case, io, batch, dry_run=args.dry_run, reps=args.reps, warmup=args.warmup)
        lost = result.context_lost
        report["entries"].append(result.record)
        print(result.line(), flush=True)
        _write(path, report)
    harness.close()
    report["summary"] = summary(report["entries"])
    _write(path, report)
    return report, path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plugin-library", type=Path, help="libedgeattn_plugins.so to test (with --harness)")
    parser.add_argument("--harness", type=Path, help="libedgeattn_enqueue_harness.so built for the same TensorRT major")
    parser.add_argument("--tensorrt-root", type=Path, help="TensorRT headers (<root>/include) to build both with")
    parser.add_argument("--cubin-dir", type=Path, help="cubins from edgeattn.plugins.compile (default: compile them)")
    parser.add_argument("--build-dir", type=Path, default=ROOT / "build" / "plugin_enqueue")
    parser.add_argument("--arch", type=int, help="compute capability to build for (default: the device's; dry run: 90)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel compile jobs when building")
    parser.add_argument("--ops", nargs="*", help="op names (default: every op with a plugin)")
    parser.add_argument("--cases", nargs="*", help="spec case ids (default: every case)")
    parser.add_argument("--batch", nargs="+", type=int, default=[1], help="batch multipliers of the spec shapes")
    parser.add_argument("--reps", type=int, default=200, help="timed calls per implementation and round")
    parser.add_argument("--warmup", type=int, default=20, help="untimed calls before each timing")
    parser.add_argument("--time-budget", type=float, help="seconds; entries not started by then are skipped")
    parser.add_argument("--out", type=Path, help="JSON path (default: results dir, named by device and date)")
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--dry-run", action="store_true",
                        help="no GPU: cases on the CPU, plugins created and configured, no attach or enqueue")
    args = parser.parse_args(argv)
    try:
        report, path = run(args)
    except EdgeattnError as exc:
        print(str(exc), file=sys.stderr)
        return exc.exit_code
    counts = report["summary"]
    print(f"{counts['entries']} entries: {counts['passed']} passed, {counts['failed']} failed, "
          f"{counts['error']} errors, {counts['configured']} configured (dry run), {counts['skipped']} skipped; "
          "ops without a plugin: "
          f"{', '.join(report['skipped_ops']) or 'none'}" + (f"; wrote {path}" if path else ""))
    return 1 if counts["failed"] or counts["error"] else 0


if __name__ == "__main__":
    sys.exit(main())
