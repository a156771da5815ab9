"""Calibration settings and data sets of the precision stage: what to calibrate on and what to judge by."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from edgeattn.backbones.spec import ModelSpec
from edgeattn.calibrate.data import SAMPLES, CalibrationData, load_calibration_data, sample_photos
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
    count: int = Field(32, ge=1)
    batch_size: int = Field(8, ge=1)
    eval_count: int = Field(16, ge=1, description="held-out inputs for fidelity ('samples' only)")
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
    source = calib.data
    if source is None:
        if need_data:
            raise UsageError(
                "INT8 needs calibration data and none was given",
                "Pass --calib-data DIR (photos from the deployment domain), FILE.npz, or 'samples' for a demo.",
            )
        source = SAMPLES
    data = fit_static_batch(load_calibration_data(source, spec, calib.count, batch_size, resolution, calib.seed),
                            batch)
    if source == SAMPLES:
        held_out = sample_photos(spec, calib.eval_count, batch_size, resolution, seed=calib.seed + 1000)
        return CalibrationSets(data if need_data else None, fit_static_batch(held_out, batch), True)
    return CalibrationSets(data if need_data else None, data, False)


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
