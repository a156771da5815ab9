"""Names of the files in an edgeattn bundle (shared by the exporter, calibration, profiling and the runtime)."""

from __future__ import annotations

MANIFEST = "manifest.json"
FLAVOURS = ("portable", "plugins")
PRECISIONS = ("fp32", "fp16", "int8")


def graph_file(flavour: str = "portable", precision: str = "fp32") -> str:
    """The file of one graph: model[.plugins][.fp16|.int8].onnx."""
    return "model" + (".plugins" if flavour == "plugins" else "") + ("" if precision == "fp32" else f".{precision}") \
        + ".onnx"


def lint_key(file_name: str) -> str:
    """trt_lint.json key of a graph file: model.plugins.int8.onnx -> plugins-int8, model.onnx -> portable."""
    parts = file_name.split(".")[1:-1]
    flavour = "plugins" if "plugins" in parts else "portable"
    precision = [p for p in parts if p != "plugins"]
    return f"{flavour}-{precision[0]}" if precision else flavour
