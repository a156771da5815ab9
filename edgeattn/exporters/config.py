"""What decides an export: `ExportConfig`, validated before any work (a given option that does not apply is
refused with the reason, never ignored)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edgeattn.backbones.spec import ModelSpec
from edgeattn.errors import UsageError

CALIBRATION_FIELDS = ("calib_data", "calib_method", "calib_granularity", "calib_count", "calib_min_cosine",
                      "calib_style", "calib_cpu_gate")
DYNAMIC_BATCH_FIELDS = ("min_batch", "max_batch")


class ExportConfig(BaseModel):
    """Everything that decides what `export` writes. Same config → byte-identical ONNX and manifest.

    A field that does not apply to the other choices (e.g. `calib_data` with fp32, `max_batch` without
    `dynamic_batch`) is refused when it is given explicitly, never ignored."""

    model_config = ConfigDict(frozen=True)

    model: str
    target: str = "jetson"
    out: Path | None = Field(None, description="default build/<model>-<target>")
    checkpoint: Path | None = None
    pretrained: bool = False
    seed: int = 0
    resolution: int | None = Field(None, ge=1, description="input height = width; default: the model's")
    batch: int = Field(1, ge=1)
    dynamic_batch: bool = False
    min_batch: int = Field(1, ge=1, description="lower bound of the TensorRT profile with dynamic_batch")
    max_batch: int = Field(32, ge=1, description="upper bound of the TensorRT profile with dynamic_batch")
    profile_from: int = Field(8, ge=1, description="LiDAR models: synthetic scenes that set the TensorRT profile")
    opset: int | None = Field(None, ge=17, le=23)
    flavour: Literal["portable", "plugins", "both"] = "portable"
    allow_unsupported: bool = Field(False, description="write the bundle even if the TensorRT lint finds errors")
    precision: Literal["fp32", "fp16", "int8"] = "fp32"
    calib_data: str | None = Field(None, description="int8: image folder, .npy/.npz, 'samples' (photos) or 'lidar'")
    calib_method: Literal["max", "percentile", "entropy", "mse"] = "percentile"
    calib_granularity: Literal["head", "tensor"] = "head"
    calib_count: int | None = Field(None, ge=1, description="int8: calibration inputs (default 32 images, 8 LiDAR frames)")
    calib_min_cosine: float | None = Field(None, gt=0.0, lt=1.0,
                                           description="int8: sensitivity-guided fallback target (logit cosine)")
    calib_style: Literal["tensorrt", "ort"] | None = Field(
        None, description="int8 Q/DQ style; default: ort for CPU targets, tensorrt otherwise")
    calib_cpu_gate: bool | None = Field(
        None, description="int8, ort style: keep fp32 where INT8 is slower on this CPU; default: on for CPU targets")
    force: bool = False
    command: str | None = Field(None, description="the command line recorded in the manifest")

    @model_validator(mode="after")
    def _given_fields_apply(self) -> ExportConfig:
        given = self.model_fields_set
        if self.precision != "int8":
            stray = [f for f in CALIBRATION_FIELDS if f in given]
            if stray:
                raise UsageError(f"{flag_name(stray[0])} applies to int8 only, and the precision is {self.precision}",
                                 "Add --precision int8, or drop the calibration options.")
        if not self.dynamic_batch:
            stray = [f for f in DYNAMIC_BATCH_FIELDS if f in given]
            if stray:
                raise UsageError(f"{flag_name(stray[0])} sets the dynamic batch profile, but --dynamic-batch is off",
                                 "Add --dynamic-batch, or drop --min-batch/--max-batch.")
        elif not self.min_batch <= self.batch <= self.max_batch:
            raise UsageError(f"the batch profile must satisfy min <= opt <= max, got {self.min_batch} <= "
                             f"{self.batch} <= {self.max_batch}", "Adjust --min-batch, --batch or --max-batch.")
        return self


def flag_name(field: str) -> str:
    """The CLI flag of an ExportConfig field, with the field name for API callers."""
    flag = {"resolution": "--img-size", "calib_min_cosine": "--min-cos", "calib_style": "--qdq-style",
            "calib_cpu_gate": "--cpu-gate"}.get(field, f"--{field.replace('_', '-')}")
    return f"{flag} ({field})"


def _on_cpu(target: str) -> bool:
    from edgeattn.exporters.targets import get_target

    return get_target(target).kind == "cpu"


IMAGE_ONLY_FIELDS = ("resolution", "batch", "dynamic_batch", "min_batch", "max_batch")


def check_flags_apply_to(spec: ModelSpec, config: ExportConfig) -> None:
    """Refuse explicitly given options that do not apply to this model's input kind."""
    given = config.model_fields_set
    if spec.input_kind == "voxels":
        stray = [f for f in IMAGE_ONLY_FIELDS if f in given and getattr(config, f) != ExportConfig.model_fields[f].default]
        if stray:
            raise UsageError(f"{spec.name} takes voxels, not images: {flag_name(stray[0])} does not apply",
                             "Voxel and set counts are always dynamic; size the TensorRT profile with --profile-from N.")
        if config.precision != "fp32" and _on_cpu(config.target):
            raise UsageError(f"--precision {config.precision} for LiDAR models ({spec.name}) is built for TensorRT",
                             "Export for a Jetson or GPU target (e.g. --target jetson), or use --precision fp32 "
                             "on CPU targets.")
        if config.calib_style == "ort":
            raise UsageError(f"--qdq-style ort is the x86 CPU style; {spec.name} INT8 is built for TensorRT",
                             "Drop --qdq-style (tensorrt is the default for Jetson and GPU targets).")
    elif "profile_from" in given:
        raise UsageError(f"{flag_name('profile_from')} sizes LiDAR profiles; {spec.name} takes images",
                         "Drop --profile-from; use --dynamic-batch with --min-batch/--max-batch for image models.")
