"""Regenerate plugin_nodes.json: every plugin node of real plugin graphs, as the plugins see them.

    python tests/plugins/data/make_plugin_nodes.py [--only MODEL ...]

Exports every registry model that uses an op with a TensorRT plugin (`OpDef.plugin_kernels`) with
`edgeattn export` (random-init weights, seed 0): image models at their `spec.test_resolution` with
fp32 and fp16 plugin graphs, voxel models (fp32 only, as the exporter allows, with their TensorRT
profile's min/opt/max for the dynamic voxel and set counts), and the INT8 plugin graph of one model
per family (`INT8_MODELS`). Every edgeattn node of those graphs whose op has a plugin is recorded
with `edgeattn.plugins.graph.plugin_nodes` (attributes, input and ONNX-inferred output types and
shapes), in model-name then graph order, so the output is deterministic. The host tests run every
recorded node through the plugin library; test_fixture.py re-exports the first fp32 graph and
compares (drift check, slow). `--only` re-exports some models and keeps the other records.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

OUT = Path(__file__).with_name("plugin_nodes.json")
PROFILE_FILE = "trt_profiles.json"
GRAPH_ORDER = ("model.plugins.onnx", "model.plugins.fp16.onnx", "model.plugins.int8.onnx")
INT8_MODELS = ("efficientvit_b0", "efficientvit_m0", "ghostnetv2_100", "lowformer_b0", "shvit_s1", "van_b0")
"""One model per image family whose INT8 plugin graph is recorded (EfficientViT-B/L, EfficientViT-M,
GhostNetV2, LowFormer, SHViT, VAN)."""


@dataclass(frozen=True)
class Export:
    """One fixture bundle: the model, its resolution (None for voxel models), precision and graphs."""

    model: str
    resolution: int | None
    precision: str
    extra: tuple[str, ...]
    graphs: tuple[str, ...]


def plugin_op_names() -> set[str]:
    from edgeattn.ops import all_ops

    return {op.name for op in all_ops() if op.plugin_kernels is not None}


def exports() -> list[Export]:
    """The fixture bundles, by model name: every registry model using an op that has a plugin."""
    from edgeattn.backbones import list_models
    from edgeattn.backbones.stats import model_ops

    ops = plugin_op_names()
    result = []
    for spec in sorted(list_models(), key=lambda s: s.name):
        name = spec.name
        if not set(model_ops(name)) & ops:
            continue
        if spec.input_kind == "voxels":
            result.append(Export(name, None, "fp32", (), ("model.plugins.onnx",)))
            continue
        result.append(Export(name, spec.test_resolution, "fp16", (),
                             ("model.plugins.onnx", "model.plugins.fp16.onnx")))
        if name in INT8_MODELS:
            result.append(Export(name, spec.test_resolution, "int8", ("--calib-data", "samples"),
                                 ("model.plugins.int8.onnx",)))
    return result


def export_command(export: Export, precision: str, out: Path) -> list[str]:
    """The `edgeattn export` command of one fixture bundle (at `precision`)."""
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
    """The fixture records of `graphs` in an exported bundle: nodes of ops that have a plugin."""
    import onnx

    from edgeattn.plugins.graph import plugin_nodes

    ops = plugin_op_names()
    dims = profile_dims(bundle)
    return [{"model": export.model, "resolution": export.resolution, "graph": graph, "dims": dims,
             "nodes": [node.to_json() for node in plugin_nodes(onnx.load(bundle / graph)) if node.op_type in ops]}
            for graph in graphs]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", default=None, help="re-export only these models")
    args = parser.parse_args(argv)
    kept = json.loads(OUT.read_text())["graphs"] if args.only and OUT.is_file() else []
    records = [r for r in kept if r["model"] not in args.only] if args.only else []
    with tempfile.TemporaryDirectory() as tmp:
        for index, export in enumerate(exports()):
            if args.only and export.model not in args.only:
                continue
            bundle = Path(tmp) / f"bundle{index}"
            print(" ".join(export_command(export, export.precision, bundle)), flush=True)
            subprocess.run(export_command(export, export.precision, bundle), check=True, stdout=subprocess.DEVNULL)
            records += graph_records(bundle, export, export.graphs)
    records.sort(key=lambda r: (r["model"], GRAPH_ORDER.index(r["graph"])))
    OUT.write_text(json.dumps({"graphs": records}, indent=1, sort_keys=True) + "\n")
    print(f"{OUT}: {sum(len(r['nodes']) for r in records)} nodes from {len(records)} graphs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
