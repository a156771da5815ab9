"""Regenerate plugin_nodes.json: every plugin node of real plugin graphs, as the plugins see them.

    python tests/plugins/data/make_plugin_nodes.py

Exports each model below with `edgeattn export` (random-init weights, seed 0) and records every
edgeattn node of its plugin graphs with `edgeattn.plugins.graph.plugin_nodes` (attributes, input
and ONNX-inferred output types and shapes). The host tests run every recorded node through the
plugin library; test_fixture.py re-exports the fp32 graph and compares (drift check, slow).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).with_name("plugin_nodes.json")
EXPORTS = [
    # (model, resolution, precision, extra export options, plugin graphs recorded)
    ("shvit_s1", 128, "fp16", [], ["model.plugins.onnx", "model.plugins.fp16.onnx"]),
    ("shvit_s1", 128, "int8", ["--calib-data", "samples"], ["model.plugins.int8.onnx"]),
]


def export_command(model: str, resolution: int, precision: str, extra: list[str], out: Path) -> list[str]:
    """The `edgeattn export` command of one fixture bundle."""
    return [sys.executable, "-m", "edgeattn", "export", "--model", model, "--resolution", str(resolution),
            "--flavour", "both", "--precision", precision, *extra, "--seed", "0", "--out", str(out)]


def graph_records(bundle: Path, model: str, resolution: int, graphs: list[str]) -> list[dict]:
    """The fixture records of `graphs` in an exported bundle."""
    import onnx

    from edgeattn.plugins.graph import plugin_nodes

    return [{"model": model, "resolution": resolution, "graph": graph,
             "nodes": [node.to_json() for node in plugin_nodes(onnx.load(bundle / graph))]} for graph in graphs]


def main() -> int:
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, (model, resolution, precision, extra, graphs) in enumerate(EXPORTS):
            bundle = Path(tmp) / f"bundle{index}"
            subprocess.run(export_command(model, resolution, precision, extra, bundle), check=True)
            records += graph_records(bundle, model, resolution, graphs)
    OUT.write_text(json.dumps({"graphs": records}, indent=1, sort_keys=True) + "\n")
    print(f"{OUT}: {sum(len(r['nodes']) for r in records)} nodes from {len(records)} graphs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
