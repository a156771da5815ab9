"""LiDAR bundles: points -> voxelize -> set partition (edgeattn.lidar, outside the engine) -> engine.

As DSVT deploys it: the data-dependent partition runs in PyTorch on the host, the attention stack in
the engine. Every frame is checked against the bundle's TensorRT profile (trt_profiles.json), on
every backend, so a frame the engine would refuse fails the same way on ONNX Runtime.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeattn.errors import UsageError
from edgeattn.runtime.backends import Engine
from edgeattn.runtime.bundle import BundleInfo
from edgeattn.runtime.options import RuntimeOptions
from edgeattn.runtime.session import Session

PROFILE_FILE = "trt_profiles.json"
POINTS_HINT = "Pass float [P, 4+] arrays (x, y, z, intensity, ...) in metres, or a list of them for a batch."


@dataclass(frozen=True)
class VoxelOutput:
    """Last-stage voxel features [M, C] float32 and their coordinates [M, 4] int32 (batch, z, y, x)."""

    features: np.ndarray
    coords: np.ndarray
    batch_size: int
    voxels_in: int
    points_dropped: int
    """Points outside the grid's range plus non-finite points."""


class VoxelSession(Session):
    """`session(points)` -> VoxelOutput; `session.prepare(points)` -> the partitioned graph inputs."""

    def __init__(self, bundle: BundleInfo, engine: Engine, options: RuntimeOptions) -> None:
        super().__init__(bundle, engine, options)
        from edgeattn.lidar.profiles import TrtProfile

        self.layout = _layout(bundle.model)
        path = bundle.path / PROFILE_FILE
        if not path.is_file():
            raise UsageError(f"{path} is missing: LiDAR bundles carry their TensorRT profile",
                             "Re-export the bundle with `edgeattn export`.")
        self.profile = TrtProfile.model_validate(json.loads(path.read_text())["profile"])
        expected = list(bundle.input.get("names", []))
        if expected and expected != list(engine.input_names):
            raise UsageError(f"the graph's inputs {engine.input_names} differ from the manifest's {expected}",
                             "Re-export the bundle.")

    def __call__(self, points: Any) -> VoxelOutput:
        frames = 1 if not isinstance(points, (list, tuple)) else len(points)
        return self._timed(frames, lambda: self.prepare(points), self._infer)

    def prepare(self, points: Any) -> tuple[Any, int]:
        """Voxelize and partition one cloud (or a list: one batch entry each); check the TRT profile."""
        from edgeattn.lidar.inputs import build_stack_inputs
        from edgeattn.lidar.voxelize import voxelize

        clouds, non_finite = _clouds(points)
        voxels = voxelize(clouds, self.layout.grid)
        inputs = build_stack_inputs(voxels, self.layout)
        self.profile.check(inputs.dims(self.layout))
        return inputs, voxels.points_dropped + non_finite

    def _infer(self, prepared: tuple[Any, int]) -> VoxelOutput:
        inputs, dropped = prepared
        feeds = {name: tensor.numpy() for name, tensor in inputs.tensors.items()}
        outputs = self.engine.run(feeds)
        coords = inputs.stage_coords[-1].numpy().astype(np.int32)
        return VoxelOutput(outputs[self.engine.output_names[0]], coords, inputs.batch_size,
                           int(inputs.tensors["voxel_feats"].shape[0]), dropped)

    def warmup_input(self) -> np.ndarray:
        from edgeattn.lidar.scenes import synthetic_scene

        return synthetic_scene(0).numpy()


def _clouds(points: Any) -> tuple[list[Any], int]:
    """Torch float tensors without non-finite rows, and how many rows were dropped."""
    import torch

    items = list(points) if isinstance(points, (list, tuple)) else [points]
    if not items:
        raise UsageError("no point clouds to run (an empty list)", POINTS_HINT)
    clouds, dropped = [], 0
    for i, item in enumerate(items):
        if isinstance(item, np.ndarray):
            item = torch.from_numpy(np.ascontiguousarray(item))
        if not isinstance(item, torch.Tensor):
            raise UsageError(f"point cloud {i} is a {type(item).__name__}", POINTS_HINT)
        if item.dim() == 2 and item.is_floating_point():
            finite = torch.isfinite(item[:, :4]).all(dim=1) if item.shape[1] >= 4 else None
            if finite is not None and not bool(finite.all()):
                dropped += int((~finite).sum())
                item = item[finite]
        clouds.append(item)
    return clouds, dropped


def _layout(model: str) -> Any:
    """The voxel grid and stage layout of a registry LiDAR model (built on the meta device: no weights)."""
    import timm
    import torch

    from edgeattn.backbones import get_spec

    spec = get_spec(model)
    with torch.device("meta"):
        network = timm.create_model(spec.timm_name)
    layout = getattr(network, "layout", None)
    if layout is None:
        raise UsageError(f"model {model} has no voxel layout", "This bundle is not a LiDAR (voxel) bundle.")
    return layout
