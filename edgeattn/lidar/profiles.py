"""TensorRT optimization profiles for the DSVT stack, measured on scenes, and the check against them.

Per dynamic dimension (voxels_s{i}, sets_s{i}_shift{h}) over the scenes: min = a tenth of the smallest
value (sparse frames still run; TensorRT tunes its kernels at opt), opt = the median, max = 1.25x the
largest. DSVT's own profile spans 3000/20000/35000 voxels; a wrong opt costs up to 2-3x latency.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable

from pydantic import BaseModel

from edgeattn.errors import EdgeattnError
from edgeattn.lidar.inputs import StackInputs, stack_dynamic_axes
from edgeattn.lidar.layout import DSVTLayout

MIN_FACTOR = 0.1
MAX_FACTOR = 1.25


class DimRange(BaseModel):
    min: int
    opt: int
    max: int
    observed: list[int]


class TrtProfile(BaseModel):
    """Dimension ranges plus the full per-input min/opt/max shapes."""

    scenes: int
    dims: dict[str, DimRange]
    shapes: dict[str, dict[str, list[int]]]

    def trtexec_args(self) -> dict[str, str]:
        """`--minShapes/--optShapes/--maxShapes` values: name:AxBxC,... in graph input order."""
        return {
            f"{level}Shapes": ",".join(
                f"{name}:{'x'.join(str(d) for d in shape[level])}" for name, shape in self.shapes.items()
            )
            for level in ("min", "opt", "max")
        }

    def check(self, dims: dict[str, int]) -> None:
        """Raise when a frame's sizes fall outside the profile (the engine would refuse them)."""
        for name, value in dims.items():
            bounds = self.dims[name]
            if value > bounds.max:
                raise EdgeattnError(
                    f"{name} = {value} exceeds the TensorRT profile maximum {bounds.max}",
                    "Re-export with --profile-from on scenes like this one (denser clouds), or crop the "
                    "point-cloud range before voxelizing.",
                )
            if value < bounds.min:
                raise EdgeattnError(
                    f"{name} = {value} is below the TensorRT profile minimum {bounds.min}",
                    "Re-export with --profile-from including sparser scenes.",
                )


def build_profile(layout: DSVTLayout, frames: Iterable[StackInputs]) -> TrtProfile:
    """min/opt/max of every dynamic dimension over `frames` and the resulting input shapes."""
    frames = list(frames)
    if not frames:
        raise EdgeattnError("no scenes to build the TensorRT profile from",
                            "Pass --profile-from N with N >= 1.")
    observed: dict[str, list[int]] = {}
    for frame in frames:
        for name, value in frame.dims(layout).items():
            observed.setdefault(name, []).append(value)
    dims = {
        name: DimRange(
            min=max(1, math.floor(min(values) * MIN_FACTOR)),
            opt=int(statistics.median_low(values)),
            max=math.ceil(max(values) * MAX_FACTOR),
            observed=values,
        )
        for name, values in observed.items()
    }
    axes = stack_dynamic_axes(layout)
    shapes = {}
    for name, tensor in frames[0].tensors.items():
        shapes[name] = {}
        for level in ("min", "opt", "max"):
            shape = list(tensor.shape)
            for axis, dim in axes[name].items():
                shape[axis] = getattr(dims[dim], level)
            shapes[name][level] = shape
    return TrtProfile(scenes=len(frames), dims=dims, shapes=shapes)
