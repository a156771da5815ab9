"""Run an exported DSVT stack in ONNX Runtime: points -> voxels -> partition -> engine -> BEV map.

The partition runs here in PyTorch, as in the DSVT authors' deployment; every frame is checked
against the TensorRT profile the export wrote, so a frame the engine would refuse fails clearly here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from edgeattn.errors import UsageError
from edgeattn.lidar.inputs import StackInputs, build_stack_inputs
from edgeattn.lidar.layout import DSVTLayout
from edgeattn.lidar.profiles import TrtProfile
from edgeattn.lidar.voxelize import Voxels, voxelize
from edgeattn.runners.ort import OrtRunner


class DSVTSession:
    """An exported portable stack (model.onnx) plus its trt_profiles.json and the model's layout."""

    def __init__(self, onnx_path: Path, profile_path: Path, layout: DSVTLayout, threads: int = 2) -> None:
        for path in (onnx_path, profile_path):
            if not Path(path).is_file():
                raise UsageError(f"{path} does not exist", "Point at the files written by `edgeattn export`.")
        self.layout = layout
        self.profile = TrtProfile.model_validate(json.loads(Path(profile_path).read_text())["profile"])
        self.runner = OrtRunner(onnx_path, threads).prepare()

    def prepare(self, voxels: Voxels) -> StackInputs:
        """Partition one batch of voxels and check it fits the TensorRT profile."""
        inputs = build_stack_inputs(voxels, self.layout)
        self.profile.check(inputs.dims(self.layout))
        return inputs

    def run_voxels(self, voxels: Voxels) -> tuple[Tensor, Tensor]:
        """Last-stage voxel features [M, C] and their coordinates [M, 4]."""
        inputs = self.prepare(voxels)
        feeds = {name: np.ascontiguousarray(t.numpy()) for name, t in inputs.tensors.items()}
        (out,) = self.runner.infer(feeds).values()
        return torch.from_numpy(out), inputs.stage_coords[-1]

    def run_points(self, points: Tensor | list[Tensor]) -> tuple[Tensor, Tensor]:
        """Voxelize raw point clouds [P, 4+] on the model's grid, then `run_voxels`."""
        return self.run_voxels(voxelize(points, self.layout.grid))
