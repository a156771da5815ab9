"""LiDAR exports: DSVT's attention stack (what the DSVT authors put in TensorRT) with dynamic voxel and
set counts. The partition stays outside the engine, in `edgeattn.lidar`.

Synthetic scenes size the TensorRT profile (`trt_profiles.json`); parity runs at three voxel counts from
one graph (subsets of the largest scene around the grid centre).
"""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import nn

from edgeattn.backbones.spec import ModelSpec
from edgeattn.calibrate.data import CalibrationData
from edgeattn.calibrate.frames import Frame
from edgeattn.calibrate.sets import CalibrationSets
from edgeattn.errors import UsageError
from edgeattn.exporters.config import ExportConfig
from edgeattn.exporters.inputs import MAX_DYNAMIC_DIM, ExportInputs
from edgeattn.lidar.inputs import (
    StackInputs,
    build_stack_inputs,
    padding_probe,
    stack_dynamic_axes,
    stack_input_names,
)
from edgeattn.lidar.layout import DSVTLayout
from edgeattn.lidar.profiles import build_profile
from edgeattn.lidar.scenes import synthetic_scene
from edgeattn.lidar.voxelize import Voxels, voxelize

PARITY_VOXELS = (500, 5000, 20000)
"""Voxel counts checked for parity (capped at what the largest scene has)."""
PROFILE_FILE = "trt_profiles.json"


class VoxelInputs(ExportInputs):
    """Voxel features and partition tensors in, last-stage voxel features out."""

    parity_voxels: tuple[int, ...] = PARITY_VOXELS

    def __init__(self, spec: ModelSpec, config: ExportConfig) -> None:
        super().__init__(spec, config)
        if self.config.profile_from < 1:
            raise UsageError(f"--profile-from {self.config.profile_from} is too small", "Use at least 1 scene.")
        self.output_names = ["voxel_out"]

    def exported(self, model: nn.Module) -> nn.Module:
        return model.stack

    def prepare(self, model: nn.Module) -> None:
        self.layout = model.layout
        self.input_names = stack_input_names(self.layout)
        seed = self.config.seed
        self.scenes = [voxelize(synthetic_scene(seed + i), self.layout.grid) for i in range(self.config.profile_from)]
        frames = [build_stack_inputs(v, self.layout) for v in self.scenes]
        self.profile = build_profile(self.layout, frames)
        self._example: StackInputs = max(frames, key=lambda f: f.tensors["voxel_feats"].shape[0])

    def example(self) -> tuple[torch.Tensor, ...]:
        return self._example.as_tuple()

    def dynamic_shapes(self) -> Any:
        dims: dict[str, torch.export.Dim] = {}
        axes = stack_dynamic_axes(self.layout)
        return (tuple({axis: dims.setdefault(dim, torch.export.Dim(dim, min=2, max=MAX_DYNAMIC_DIM))
                       for axis, dim in axes[name].items()} for name in self.input_names),)

    def parity_cases(self) -> dict[str, tuple[torch.Tensor, ...]]:
        largest = max(self.scenes, key=lambda v: v.num_voxels)
        return {f"{v.num_voxels} voxels": build_stack_inputs(v, self.layout).as_tuple()
                for v in parity_subsets(largest, self.parity_voxels)}

    def manifest_input(self) -> dict[str, Any]:
        return {"kind": "voxels", "names": self.input_names, "dynamic_axes": stack_dynamic_axes(self.layout),
                "partition": "edgeattn.lidar (runs outside the engine)"}

    def readme_lines(self) -> list[str]:
        return [
            "## Inputs",
            "The graph is the DSVT attention stack with dynamic voxel and set counts. Voxelization and the set",
            "partition run outside the engine (as the DSVT authors deploy it) in `edgeattn.lidar`:",
            "```python",
            "import edgeattn.runtime",
            "session = edgeattn.runtime.load('.')   # TensorRT engine if built here, else ONNX Runtime",
            "result = session(points)               # [P, 4+] x, y, z, intensity -> result.features, result.coords",
            "```",
            f"Graph inputs: {', '.join(f'`{n}`' for n in self.input_names)}. `{PROFILE_FILE}` holds the TensorRT "
            "optimization profile (min/opt/max voxels and sets) measured on synthetic scenes; frames outside it "
            "are refused with a clear error.",
        ]

    def graph_sets(self, sets: CalibrationSets) -> CalibrationSets:
        """Point clouds voxelized and partitioned into frames with padding probes (padded set slots and empty
        pooling slots stay out of the range statistics)."""
        convert = functools.partial(scene_frames, layout=self.layout, names=self.input_names)
        return CalibrationSets(None if sets.calibration is None else convert(sets.calibration),
                               convert(sets.evaluation), sets.held_out)

    def build_shapes(self) -> dict[str, str]:
        return self.profile.trtexec_args()

    def extra_files(self) -> dict[str, Any]:
        return {PROFILE_FILE: {"profile": self.profile.model_dump(), "trtexec": self.profile.trtexec_args()}}


def parity_subsets(voxels: Voxels, counts: tuple[int, ...]) -> list[Voxels]:
    """The `n` voxels nearest the grid centre for each count (capped at the voxels available)."""
    centre = (voxels.coords[:, 2:].float() - voxels.coords[:, 2:].float().mean(0)).norm(dim=1)
    order = torch.argsort(centre, stable=True)
    sizes = sorted({min(n, voxels.num_voxels) for n in counts})
    return [voxels.subset(torch.sort(order[:n]).values) for n in sizes]


def scene_frames(data: CalibrationData, layout: DSVTLayout, names: list[str]) -> CalibrationData:
    """Every point cloud of `data` ([1, P, 4+] arrays) as one frame of the stack's inputs."""
    frames = []
    for cloud in data.batches:
        voxels = voxelize(torch.from_numpy(np.asarray(cloud[0], dtype=np.float32)), layout.grid)
        frames.append(stack_frame(build_stack_inputs(voxels, layout), layout, names))
    return replace(data, batches=frames)


def stack_frame(inputs: StackInputs, layout: DSVTLayout, names: list[str]) -> Frame:
    """One frame of the stack's inputs (in graph input order `names`) with its padding probe."""
    probe = padding_probe(inputs, layout)
    return Frame({n: inputs.tensors[n].numpy() for n in names}, {n: probe[n].numpy() for n in names})
