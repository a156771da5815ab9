"""The ModelOpt side of benchmarks/modelopt_baseline.py; runs with the separate ModelOpt env's python.

Imports nothing from edgeattn (that env has neither edgeattn nor its onnx/onnxruntime versions).

    $EDGEATTN_MODELOPT_PYTHON benchmarks/modelopt_worker.py versions
    $EDGEATTN_MODELOPT_PYTHON benchmarks/modelopt_worker.py quantize model.onnx calib.npy out.onnx --method entropy
"""

from __future__ import annotations

import argparse
import json
import platform
import sys


def versions() -> dict:
    """Versions of the packages that shape the quantized graph, from this env."""
    import modelopt
    import modelopt.onnx.quantization  # fails here when the [onnx] extra is missing
    import onnx
    import onnxruntime

    return {"python": platform.python_version(), "modelopt": modelopt.__version__, "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__, "onnxruntime_package": _ort_package()}


def _ort_package() -> str:
    from importlib.metadata import PackageNotFoundError, version

    for name in ("onnxruntime-gpu", "onnxruntime"):
        try:
            return f"{name} {version(name)}"
        except PackageNotFoundError:
            continue
    return "unknown"


def limit_ort_threads(threads: int) -> None:
    """Make every ORT session ModelOpt opens use `threads` intra-op threads and one inter-op thread."""
    import onnxruntime as ort

    base = ort.InferenceSession.__init__

    def init(self, path_or_bytes, sess_options=None, *args, **kwargs):
        options = sess_options or kwargs.pop("sess_options", None) or ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        base(self, path_or_bytes, options, *args, **kwargs)

    ort.InferenceSession.__init__ = init


def quantize(args: argparse.Namespace) -> None:
    """INT8 PTQ of one fp32 ONNX on the CPU EP: symmetric per-tensor activations, per-channel weights."""
    import numpy as np
    from modelopt.onnx.quantization import quantize as modelopt_quantize

    limit_ort_threads(args.threads)
    modelopt_quantize(
        onnx_path=args.onnx, quantize_mode="int8", calibration_data=np.load(args.calib),
        calibration_method=args.method, calibration_eps=["cpu"], high_precision_dtype=args.high_precision,
        output_path=args.out, log_level="WARNING",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("versions")
    run = commands.add_parser("quantize")
    run.add_argument("onnx")
    run.add_argument("calib", help=".npy of [N, C, H, W] calibration inputs")
    run.add_argument("out")
    run.add_argument("--method", default="entropy", choices=("entropy", "max"))
    run.add_argument("--high-precision", default="fp32", choices=("fp32", "fp16"))
    run.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if args.command == "versions":
        json.dump(versions(), sys.stdout)
    else:
        quantize(args)


if __name__ == "__main__":
    main()
