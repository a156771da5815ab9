"""LiDAR inputs for voxel backbones (DSVT): voxelizer, synthetic scenes, set partition, TRT profiles.

Everything here runs outside the exported graph (as the DSVT authors deploy it): it may use
data-dependent torch ops such as `torch.unique`, and it is vectorised (no Python loops over points).
"""

from edgeattn.lidar.inputs import (
    StackInputs,
    build_stack_inputs,
    stack_dynamic_axes,
    stack_input_names,
)
from edgeattn.lidar.layout import DSVTLayout, StageLayout
from edgeattn.lidar.partition import SetPartition, set_partition, window_partition
from edgeattn.lidar.profiles import TrtProfile, build_profile
from edgeattn.lidar.scenes import synthetic_scene
from edgeattn.lidar.voxelize import VOXEL_FEATURES, VoxelGrid, Voxels, voxelize

__all__ = [
    "VOXEL_FEATURES",
    "DSVTLayout",
    "SetPartition",
    "StackInputs",
    "StageLayout",
    "TrtProfile",
    "VoxelGrid",
    "Voxels",
    "build_profile",
    "build_stack_inputs",
    "set_partition",
    "stack_dynamic_axes",
    "stack_input_names",
    "synthetic_scene",
    "voxelize",
    "window_partition",
]
