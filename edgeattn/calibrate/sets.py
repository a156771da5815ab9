"""Calibration settings and data sets of the precision stage: what to calibrate on and what to judge by."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from edgeattn.backbones.spec import ModelSpec
from edgeattn.calibrate.data import LIDAR, SAMPLES, CalibrationData, load_calibration_data
from edgeattn.calibrate.fp16 import IODtype
from edgeattn.calibrate.observers import Method
from edgeattn.calibrate.qdq import Style
from edgeattn.errors import UsageError


class CalibrationConfig(BaseModel):
    """How reduced-precision graphs are built (the `--calib-*` options of `edgeattn export`)."""

    model_config = ConfigDict(frozen=True)

    data: str | None = Field(None, description="image folder, .npy/.npz file or folder, 'samples' or 'lidar'")
    method: Method = "percentile"
    granularity: Literal["head", "tensor"] = "head"
    count: int | None = Field(None, ge=1, description="calibration inputs (None: 32 images or 8 LiDAR frames)")
    batch_size: int = Field(8, ge=1)
    eval_count: int | None = Field(
        None, ge=1, description="held-out inputs for fidelity, 'samples' and 'lidar' only (None: 16 images or 4 frames)")
    percentile: float = 99.99
    style: Style = "tensorrt"
    cpu_gate: bool = Field(False, description="keep fp32 wherever INT8 is slower in ORT CPU (ORT style)")
    io_dtype: IODtype = "fp32"
    v_strength: float = Field(0.5, ge=0.0, le=1.0)
    min_cosine: float | None = Field(
        None, gt=0.0, lt=1.0,
        description="keep the most sensitive quantized nodes in higher precision until logit cosine vs fp32 "
                    "on the calibration inputs reaches this (sensitivity-guided fallback)")
    seed: int = 0
    threads: int = 2

    @model_validator(mode="after")
    def _gate_needs_ort_style(self) -> CalibrationConfig:
        if self.cpu_gate and self.style != "ort":
            raise UsageError("the CPU latency gate measures ORT CPU kernels",
                             "Use --cpu-gate with --qdq-style ort (the style of cpu-x86 targets).")
        return self

    def counts(self, spec: ModelSpec) -> tuple[int, int]:
        """(calibration, held-out) input counts: the given ones, else the defaults of the model's input kind."""
        calibrate, held_out = DEFAULT_COUNTS[spec.input_kind]
        return self.count or calibrate, self.eval_count or held_out


DEFAULT_COUNTS = {"image": (32, 16), "voxels": (8, 4)}
"""(calibration, held-out) inputs by input kind. A LiDAR frame carries ~10^4 voxels in ~10^3 sets, and one
CPU run of a DSVT stack takes seconds: 8 scenes hold ~10^5 voxels of statistics per tensor."""


@dataclass(frozen=True)
class CalibrationSets:
    """The calibration set, the set fidelity is measured on, and whether that one is held out."""

    calibration: CalibrationData | None
    evaluation: CalibrationData
    held_out: bool


def load_sets(spec: ModelSpec, calib: CalibrationConfig, resolution: int, batch: int | None,
              need_data: bool) -> CalibrationSets:
    """Load the sets for a graph of static `batch` (None: dynamic); fp16 needs no calibration data."""
    batch_size = calib.batch_size if batch is None else max(batch, calib.batch_size // batch * batch)
    demo = LIDAR if spec.input_kind == "voxels" else SAMPLES
    source = calib.data
    if source is None:
        if need_data:
            raise UsageError("INT8 needs calibration data and none was given", _DATA_HINT[demo])
        source = demo
    count, eval_count = calib.counts(spec)
    data = fit_static_batch(load_calibration_data(source, spec, count, batch_size, resolution, calib.seed), batch)
    if source == demo:
        held_out = load_calibration_data(demo, spec, eval_count, batch_size, resolution, seed=calib.seed + HELD_OUT_SEED)
        return CalibrationSets(data if need_data else None, fit_static_batch(held_out, batch), True)
    return CalibrationSets(data if need_data else None, data, False)


HELD_OUT_SEED = 1000
"""Seed offset of the held-out photos or scenes: they never overlap the calibration ones."""
_DATA_HINT = {
    SAMPLES: "Pass --calib-data DIR (photos from the deployment domain), FILE.npz, or 'samples' for a demo.",
    LIDAR: "Pass --calib-data DIR of .npy/.npz point clouds ([P, 4+] x, y, z, intensity) from your sensor, "
           "or 'lidar' for the synthetic scenes.",
}


def fit_static_batch(data: CalibrationData, batch: int | None) -> CalibrationData:
    """Re-split inputs into whole batches of a static-batch graph (the remainder is dropped)."""
    if not batch or batch == 1:
        return data
    inputs = np.concatenate(data.batches)
    usable = len(inputs) // batch * batch
    if usable == 0:
        raise UsageError(
            f"{len(inputs)} calibration inputs cannot fill one batch of {batch} (static batch graph)",
            f"Pass at least {batch} inputs (--calib-count) or export with --dynamic-batch.",
        )
    batches = [inputs[i : i + batch] for i in range(0, usable, batch)]
    return CalibrationData(batches, data.source, data.kind, data.files, data.labels, data.notes)


def first_batches(batches: list[np.ndarray], count: int) -> list[np.ndarray]:
    """Whole batches from the start until at least `count` inputs (all of them if fewer)."""
    chosen, total = [], 0
    for batch in batches:
        if total >= count:
            break
        chosen.append(batch)
        total += len(batch)
    return chosen
