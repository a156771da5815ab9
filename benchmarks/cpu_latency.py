"""ORT CPU latency: edgeattn's ONNX vs plain `torch.onnx.export` of the same timm model vs torch eager.

Batch 1, fixed thread count, median of N timed runs after warm-up; all ratios come from one run of this
script on one machine. Writes benchmarks/results/cpu_latency-<cpu>-<date>.json.

    python benchmarks/cpu_latency.py [--models shvit_s4 ...] [--threads 2] [--iters 50]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

import edgeattn
from edgeattn.backbones import create_model, get_spec

DEFAULT_MODELS = ["shvit_s4", "lowformer_b1", "ghostnetv2_100", "efficientvit_b1", "efficientvit_m4", "van_b0",
                  "mobilevitv2_100"]
RESULTS = Path(__file__).parent / "results"


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def time_calls(fn, warmup: int, iters: int) -> list[float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return samples


def interleaved(calls: dict, warmup: int, iters: int, rounds: int = 5) -> dict[str, list[float]]:
    """Time every variant in alternating rounds, so that drift in machine load hits all of them alike."""
    samples: dict[str, list[float]] = {label: [] for label in calls}
    for label, fn in calls.items():
        time_calls(fn, warmup, 0)
    for _ in range(rounds):
        for label, fn in calls.items():
            samples[label] += time_calls(fn, 0, max(1, iters // rounds))
    return samples


def ort_session(path: Path, threads: int) -> ort.InferenceSession:
    """A CPU session whose idle worker threads sleep: several sessions are alive while variants alternate,
    and spinning threads of one would steal the cores of the next."""
    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def plain_export(model: torch.nn.Module, x: torch.Tensor, path: Path, dynamo: bool) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), str(path), dynamo=dynamo, opset_version=18)


def bench_model(name: str, threads: int, warmup: int, iters: int, work: Path, int8: bool) -> dict:
    spec = get_spec(name)
    options = {"precision": "int8", "calib_data": "samples"} if int8 else {}
    bundle = edgeattn.export(name, "cpu-x86", out=work / name, force=True, flavour="portable", **options)
    model, _ = create_model(spec)
    x = torch.randn(1, *spec.input_size, generator=torch.Generator().manual_seed(0))
    plain_dynamo, plain_legacy = work / f"{name}.plain.onnx", work / f"{name}.legacy.onnx"
    plain_export(model, x, plain_dynamo, dynamo=True)
    plain_export(model, x, plain_legacy, dynamo=False)

    feeds = {"image": x.numpy()}
    variants = {"edgeattn_onnx": bundle.path / "model.onnx", "plain_export": plain_dynamo,
                "plain_export_torchscript": plain_legacy}
    if int8:
        variants["edgeattn_int8"] = bundle.path / "model.int8.onnx"
    calls = {}
    for label, path in variants.items():
        session = ort_session(path, threads)
        data = {session.get_inputs()[0].name: feeds["image"]}
        calls[label] = lambda session=session, data=data: session.run(None, data)
    torch.set_num_threads(threads)
    calls["torch_eager"] = torch.no_grad()(lambda: model(x))
    samples = interleaved(calls, warmup, iters)
    medians = {label: statistics.median(values) for label, values in samples.items()}
    extra = {}
    if int8:
        calibration = json.loads((bundle.path / "calibration.json").read_text())
        extra = {"int8_speedup_vs_fp32": round(medians["edgeattn_onnx"] / medians["edgeattn_int8"], 3),
                 "int8_fidelity": bundle.manifest["precision"]["fidelity"], "int8_cpu_gate": calibration["cpu_gate"]}
    return {
        **extra,
        "model": name,
        "resolution": spec.resolution,
        "median_ms": {k: round(v, 3) for k, v in medians.items()},
        "p90_ms": {k: round(float(np.percentile(v, 90)), 3) for k, v in samples.items()},
        "ratio_edgeattn_to_plain": round(medians["edgeattn_onnx"] / medians["plain_export"], 3),
        "ratio_edgeattn_to_torchscript_export": round(medians["edgeattn_onnx"] / medians["plain_export_torchscript"], 3),
        "speedup_vs_eager": round(medians["torch_eager"] / medians["edgeattn_onnx"], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--int8", action="store_true",
                        help="also export INT8 (ORT style, calibrated on the bundled photos, CPU gate) and time it")
    args = parser.parse_args()

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            row = bench_model(name, args.threads, args.warmup, args.iters, Path(tmp), args.int8)
            results.append(row)
            print(json.dumps(row))
    today = dt.date.today().isoformat()
    cpu = cpu_name()
    report = {
        "benchmark": "cpu_latency",
        "date": today,
        "device": {"cpu": cpu, "threads": args.threads, "machine": platform.machine()},
        "versions": {"torch": torch.__version__, "onnxruntime": ort.__version__, "edgeattn": edgeattn.__version__},
        "protocol": f"batch 1, ORT CPUExecutionProvider intra_op={args.threads}, torch.set_num_threads({args.threads}), "
                    f"{args.warmup} warm-up + {args.iters} timed runs in 5 interleaved rounds, median; "
                    "int8_cpu_gate holds the gate's own back-to-back fp32/INT8 measurements",
        "results": results,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    slug = "".join(c if c.isalnum() else "-" for c in cpu).strip("-").lower()[:40]
    out = RESULTS / f"cpu_latency-{slug}-{today}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
