"""Bundles for the runtime and ROS 2 tests: real exports (cached once per pytest session) and tiny graphs.

- `image_bundle`: `edgeattn export` of shvit_s1 for cpu-x86, portable, 64x64 (about 30 s on 2 cores);
- `lidar_bundle`: the export pipeline on dsvt_pillar with narrow layers (dim 32) and one profile scene;
- `tiny_image_bundle`: a hand-written manifest beside a 3-node ONNX graph (global average pool ->
  matrix product), whose outputs a numpy reference computes exactly: for batching and error paths.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SEED = 42
TINY_CLASSES = 5
TINY_WEIGHTS = np.arange(3 * TINY_CLASSES, dtype=np.float32).reshape(3, TINY_CLASSES) / 7.0 - 1.0
TINY_PREPROCESSING = {"resolution": 8, "interpolation": "bicubic", "crop_pct": 0.875,
                      "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "color": "RGB"}


def cached_bundle(tmp_path_factory, name: str, build) -> Path:
    """Build a bundle once per pytest session (shared by tests/runtime and tests/ros2)."""
    out = tmp_path_factory.getbasetemp() / "runtime-bundles" / name
    if not (out / "manifest.json").is_file():
        build(out)
    return out


def export_image_bundle(out: Path) -> None:
    from edgeattn.exporters.pipeline import ExportConfig, run_export

    run_export(ExportConfig(model="shvit_s1", target="cpu-x86", out=out, flavour="portable", resolution=64,
                            seed=SEED), show_progress=False)


def export_lidar_bundle(out: Path) -> None:
    """The real export pipeline for dsvt_pillar, kept fast: layers narrowed to dim 32, parity checked at
    97, 300 and 1000 voxels instead of up to 20000."""
    import timm
    import torch
    from pytest import MonkeyPatch

    from edgeattn.exporters.pipeline import ExportConfig, run_export
    from edgeattn.exporters.voxel_inputs import VoxelInputs

    torch.manual_seed(SEED)
    narrow = timm.create_model("dsvt_pillar", dim=32, heads=4, ffn=64).eval()
    with MonkeyPatch.context() as patch:
        patch.setattr(VoxelInputs, "parity_voxels", (97, 300, 1000))
        run_export(ExportConfig(model="dsvt_pillar", target="jetson", out=out, flavour="portable", profile_from=2,
                                seed=SEED), show_progress=False, model=narrow)


def tiny_image_bundle(out: Path, batch: int | str = 1, preprocessing: dict | None = None,
                      labels: list[str] | None = None) -> Path:
    """A bundle folder with a real (tiny) ONNX graph: logits = mean_hw(image) @ TINY_WEIGHTS."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edgeattn.bundle_files import sha256_file

    out.mkdir(parents=True, exist_ok=True)
    size = (preprocessing or TINY_PREPROCESSING)["resolution"]
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["image"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], ["flat"]),
         helper.make_node("MatMul", ["flat", "weights"], ["logits"])],
        "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, TINY_CLASSES])],
        [numpy_helper.from_array(TINY_WEIGHTS, "weights")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 10
    onnx.save(model, out / "model.onnx")
    manifest = {
        "format": "edgeattn-bundle/1",
        "model": {"name": "tiny", "family": "test"},
        "input": {"name": "image", "shape": [batch, 3, size, size], "dtype": "float32", "layout": "NCHW",
                  "preprocessing": preprocessing or TINY_PREPROCESSING},
        "outputs": [{"name": "logits", "dtype": "float32"}],
        "precision": {"precision": "fp32"},
        "files": [{"path": "model.onnx", "bytes": (out / "model.onnx").stat().st_size,
                   "sha256": sha256_file(out / "model.onnx")}],
    }
    (out / "manifest.json").write_text(json.dumps(manifest))
    if labels is not None:
        (out / "labels.txt").write_text("\n".join(labels) + "\n")
    return out


def tiny_reference(tensor: np.ndarray) -> np.ndarray:
    """What the tiny graph computes, in float64."""
    return tensor.astype(np.float64).mean(axis=(2, 3)) @ TINY_WEIGHTS.astype(np.float64)
