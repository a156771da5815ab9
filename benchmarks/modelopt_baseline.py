"""NVIDIA ModelOpt INT8 PTQ baseline on the same graphs and photo crops as benchmarks/quant_fidelity.py.

Two processes: this script (project venv) exports each model's fp32 portable ONNX and the calibration
crops, benchmarks/modelopt_worker.py runs `modelopt.onnx.quantization.quantize(quantize_mode="int8")` on
the CPU EP in a separate env (ModelOpt pins its own onnx/onnxruntime-gpu, so it is no project dependency),
and this script scores the returned Q/DQ graph against fp32 on held-out crops with
`edgeattn.calibrate.fidelity.evaluate`. Create the ModelOpt env once:

    python3 -m venv ~/modelopt-venv
    PIP_FIND_LINKS= ~/modelopt-venv/bin/pip install "nvidia-modelopt[onnx]"
    export EDGEATTN_MODELOPT_PYTHON=~/modelopt-venv/bin/python

    python benchmarks/modelopt_baseline.py --method entropy --checkpoints ~/.cache/edgeattn/proxy_checkpoints
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from int8_models import load_benchmark_model
from rich.console import Console
from rich.table import Table

from edgeattn.calibrate.data import sample_photos
from edgeattn.calibrate.fidelity import evaluate
from edgeattn.errors import EdgeattnError
from edgeattn.exporters.bundle import json_safe

MODELS = ("shvit_s4", "lowformer_b1", "efficientvit_b1", "efficientvit_m4", "ghostnetv2_100", "van_b0")
RESULTS = Path(__file__).parent / "results"
WORKER = Path(__file__).parent / "modelopt_worker.py"
ENV_VAR = "EDGEATTN_MODELOPT_PYTHON"
CREATE_ENV = (f'python3 -m venv ~/modelopt-venv && PIP_FIND_LINKS= ~/modelopt-venv/bin/pip install '
              f'"nvidia-modelopt[onnx]" && export {ENV_VAR}=~/modelopt-venv/bin/python')
ERROR_LINES = 20


class ModelOptMissing(Exception):
    """No usable ModelOpt python: the message says how to create its env."""


def _worker_env(threads: int) -> dict[str, str]:
    return os.environ | {"OMP_NUM_THREADS": str(threads), "CUDA_VISIBLE_DEVICES": ""}


def find_modelopt_python(explicit: str | None, environ=os.environ) -> Path:
    """The ModelOpt env's python from --modelopt-python or $EDGEATTN_MODELOPT_PYTHON; it must exist."""
    value = explicit or environ.get(ENV_VAR)
    if not value:
        raise ModelOptMissing(f"no ModelOpt python given (--modelopt-python or ${ENV_VAR}); create it: {CREATE_ENV}")
    path = Path(value).expanduser()
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise ModelOptMissing(f"ModelOpt python {path} is missing; create it: {CREATE_ENV}")
    return path


def modelopt_versions(python: Path) -> dict:
    """Versions from the ModelOpt env; a python without `modelopt.onnx.quantization` is reported as missing."""
    done = subprocess.run([str(python), str(WORKER), "versions"], capture_output=True, text=True,
                          env=_worker_env(1), check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ModelOptMissing(f"{python} cannot import modelopt.onnx.quantization ({last}); create it: {CREATE_ENV}")
    return json.loads(done.stdout)


def run_modelopt(python: Path, folder: Path, args) -> tuple[onnx.ModelProto | None, str | None]:
    """Quantize folder/model.onnx with folder/calib.npy in the ModelOpt env: (graph, None) or (None, error)."""
    out = folder / "modelopt.onnx"
    command = [str(python), str(WORKER), "quantize", str(folder / "model.onnx"), str(folder / "calib.npy"),
               str(out), "--method", args.method, "--high-precision", args.high_precision,
               "--threads", str(args.threads)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=_worker_env(args.threads),
                              timeout=args.timeout, check=False)
    except subprocess.TimeoutExpired:
        return None, f"ModelOpt quantize ran past {args.timeout} s"
    if done.returncode != 0 or not out.is_file():
        lines = [line for line in done.stderr.splitlines() if line.strip()] or [f"exit code {done.returncode}"]
        return None, "\n".join(lines[-ERROR_LINES:])
    return onnx.load(out), None


def qdq_summary(model: onnx.ModelProto) -> dict:
    """Q/DQ node counts, opset and the op types that read a DequantizeLinear output."""
    dq_outputs = {out for n in model.graph.node if n.op_type == "DequantizeLinear" for out in n.output}
    consumers = Counter(n.op_type for n in model.graph.node if dq_outputs.intersection(n.input))
    types = Counter(n.op_type for n in model.graph.node)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    return {"quantize_linear": types["QuantizeLinear"], "dequantize_linear": types["DequantizeLinear"],
            "opset": opset, "dq_consumer_op_types": dict(sorted(consumers.items()))}


def fidelity_summary(report) -> dict:
    """The logits metrics quant_fidelity.py records, plus 1-cos and the three worst layers."""
    data = report.to_json()
    return {k: data[k] for k in ("top1_agreement", "cosine", "sqnr_db", "kl", "max_abs", "count")} | {
        "one_minus_cos": 1.0 - data["cosine"], "worst_layers": data["worst_layers"][:3]}


def run_model(name: str, python: Path, args) -> dict:
    """Export, quantize with ModelOpt, evaluate one model; a ModelOpt failure is recorded, not raised."""
    loaded = load_benchmark_model(name, args.checkpoints, args.seed, args.resolution)
    if isinstance(loaded, str):
        return {"model": name, "skipped": loaded}
    spec, resolution, record = loaded.spec, loaded.resolution, loaded.record()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        fp32 = loaded.export_portable(folder / "model.onnx")
        calib = sample_photos(spec, args.calib_count, 8, resolution, seed=args.seed)
        held_out = sample_photos(spec, args.eval_count, 8, resolution, seed=args.seed + 1000)
        np.save(folder / "calib.npy", np.concatenate(calib.batches).astype(np.float32))
        quantize_start = time.perf_counter()
        int8, error = run_modelopt(python, folder, args)
        record["quantize_seconds"] = time.perf_counter() - quantize_start
        if error is not None:
            record["error"] = error
        else:
            record["qdq"] = qdq_summary(int8)
            report = evaluate(fp32, int8, held_out.batches, "modelopt", threads=args.threads)
            record["fidelity"] = fidelity_summary(report)
    record["seconds"] = time.perf_counter() - start
    return record


def _fmt(value, spec: str) -> str:
    return format(value, spec) if isinstance(value, (int, float)) else str(value)


def print_table(console: Console, records: list[dict], method: str) -> None:
    table = Table(title=f"ModelOpt INT8 PTQ ({method}) vs fp32, held-out photo crops")
    for column in ("model", "weights", "top-1 agree", "cosine", "1-cos", "SQNR dB", "KL", "Q/DQ", "s"):
        table.add_column(column)
    for r in records:
        kind = r.get("weights", {}).get("kind", "-")
        if "fidelity" not in r:
            reason = r.get("skipped") or r["error"].splitlines()[-1]
            table.add_row(r["model"], kind, f"[red]{reason[:100]}[/red]", "", "", "", "", "", "")
            continue
        f = r["fidelity"]
        table.add_row(r["model"], kind, _fmt(f["top1_agreement"], ".1%"), _fmt(f["cosine"], ".5f"),
                      _fmt(f["one_minus_cos"], ".2e"), _fmt(f["sqnr_db"], ".1f"), _fmt(f["kl"], ".2e"),
                      str(r["qdq"]["quantize_linear"]), f"{r['seconds']:.0f}")
    console.print(table)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--calib-count", type=int, default=16)
    parser.add_argument("--eval-count", type=int, default=16)
    parser.add_argument("--method", default="entropy", choices=("entropy", "max"))
    parser.add_argument("--high-precision", default="fp32", choices=("fp32", "fp16"),
                        help="dtype of the unquantized ops (ModelOpt's own default is fp16)")
    parser.add_argument("--checkpoints", type=Path, default=None, help="folder of <model>.pth (proxy or real)")
    parser.add_argument("--modelopt-python", default=None, help=f"ModelOpt env's python (default: ${ENV_VAR})")
    parser.add_argument("--threads", type=int, default=1, help="ORT/torch threads in both processes")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds allowed per ModelOpt quantize")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        python = find_modelopt_python(args.modelopt_python)
        env_versions = modelopt_versions(python)
    except ModelOptMissing as exc:
        sys.exit(f"error: {exc}")
    console = Console()
    torch.set_num_threads(args.threads)
    records = []
    for name in args.models:
        console.print(f"modelopt baseline: {name}")
        try:
            records.append(run_model(name, python, args))
        except EdgeattnError as exc:
            records.append({"model": name, "skipped": str(exc).splitlines()[0]})
    kind = "proxy" if args.checkpoints else "random-init"
    out = args.out or RESULTS / f"modelopt_baseline_{kind}_{args.method}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "device": {"machine": platform.machine(), "processor": platform.processor() or platform.machine(),
                   "execution_provider": "CPUExecutionProvider", "threads": args.threads,
                   "project": {"onnx": onnx.__version__, "onnxruntime": ort.__version__, "torch": torch.__version__},
                   "modelopt_env": env_versions},
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
                     if k != "modelopt_python"} | {"quantize_mode": "int8", "calibration_eps": ["cpu"]},
        "models": records,
    }
    out.write_text(json.dumps(json_safe(data), indent=2, sort_keys=True, allow_nan=False) + "\n")
    print_table(console, records, args.method)
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
