"""Regenerate plugin_nodes.json: every plugin node of real plugin graphs, as the plugins see them.

    python tests/plugins/data/make_plugin_nodes.py

Exports every registry model that uses an op with a TensorRT plugin (`OpDef.plugin_kernels`) with
`edgeattn export` (random-init weights, seed 0) at its `spec.test_resolution`: the fp32 and fp16
plugin graphs of image models, the fp32 graph of LiDAR models (with their TensorRT profile's
min/opt/max for the dynamic voxel and set counts), and the INT8 plugin graph of the first model of
each image family. Every node of an op with a plugin is recorded with
`edgeattn.plugins.graph.plugin_nodes` (attributes, input and ONNX-inferred output types and
shapes), ordered by model name. The host tests run every recorded node through the plugin library;
test_fixture.py re-exports the first fp32 graph and compares (drift check, slow).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

OUT = Path(__file__).with_name("plugin_nodes.json")
PROFILE_FILE = "trt_profiles.json"


@dataclass(frozen=True)
class Export:
    """One fixture bundle: the model, its resolution (None for LiDAR), export options, graphs recorded."""

    model: str
    resolution: int | None
    precision: str
    extra: tuple[str, ...]
    graphs: tuple[str, ...]


def plugin_exports() -> list[Export]:
    """The bundles of every registry model that uses an op with a plugin, ordered by model name."""
    from edgeattn.backbones import list_models
    from edgeattn.ops import all_ops

    plugin_ops = {op.name for op in all_ops() if op.plugin_kernels is not None}
    specs = sorted((s for s in list_models() if plugin_ops & set(s.ops)), key=lambda s: s.name)
    first_of_family = {}
    for spec in specs:
        first_of_family.setdefault(spec.family, spec.name)
    exports = []
    for spec in specs:
        if spec.input_kind != "image":
            exports.append(Export(spec.name, None, "fp32", (), ("model.plugins.onnx",)))
            continue
        size = spec.test_resolution
        exports.append(Export(spec.name, size, "fp16", (), ("model.plugins.onnx", "model.plugins.fp16.onnx")))
        if first_of_family[spec.family] == spec.name:
            exports.append(Export(spec.name, size, "int8", ("--calib-data", "samples"), ("model.plugins.int8.onnx",)))
    return exports


def export_command(export: Export, precision: str, out: Path) -> list[str]:
    """The `edgeattn export` command of one fixture bundle at `precision`."""
    size = [] if export.resolution is None else ["--img-size", str(export.resolution)]
    return [sys.executable, "-m", "edgeattn", "export", "--model", export.model, *size, "--flavour", "both",
            "--precision", precision, *export.extra, "--seed", "0", "--out", str(out)]


def profile_dims(bundle: Path) -> dict[str, dict[str, int]]:
    """The bundle's TensorRT profile (symbol -> min/opt/max), empty for static graphs."""
    path = bundle / PROFILE_FILE
    if not path.is_file():
        return {}
    dims = json.loads(path.read_text())["profile"]["dims"]
    return {name: {key: int(value[key]) for key in ("min", "opt", "max")} for name, value in sorted(dims.items())}


def graph_records(bundle: Path, export: Export, graphs: tuple[str, ...]) -> list[dict]:
    """The fixture records of `graphs` in an exported bundle: nodes of the ops that have plugins."""
    import onnx

    from edgeattn.ops import all_ops
    from edgeattn.plugins.graph import plugin_nodes

    plugin_ops = {op.name for op in all_ops() if op.plugin_kernels is not None}
    dims = profile_dims(bundle)
    records = []
    for graph in graphs:
        nodes = [node.to_json() for node in plugin_nodes(onnx.load(bundle / graph)) if node.op_type in plugin_ops]
        records.append({"model": export.model, "resolution": export.resolution, "graph": graph, "dims": dims,
                        "nodes": nodes})
    return records


def main() -> int:
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, export in enumerate(plugin_exports()):
            bundle = Path(tmp) / f"bundle{index}"
            print(" ".join(export_command(export, export.precision, bundle)), flush=True)
            subprocess.run(export_command(export, export.precision, bundle), check=True, stdout=subprocess.DEVNULL)
            records += graph_records(bundle, export, export.graphs)
    OUT.write_text(json.dumps({"graphs": records}, indent=1, sort_keys=True) + "\n")
    print(f"{OUT}: {sum(len(r['nodes']) for r in records)} nodes from {len(records)} graphs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
