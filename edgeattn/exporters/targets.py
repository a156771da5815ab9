"""Deployment target profiles: what a device runs (TensorRT lines, DLA) and how fast it can go.

Peak numbers are dense (no 2:4 sparsity) vendor figures; they feed roofline *estimates* only. Sources:
NVIDIA Jetson Orin / Thor module data sheets, Ampere GA102 / Ada AD102 / Hopper H100 whitepapers; TensorRT
versions per JetPack from the JetPack release notes (see ../shared/notes/tensorrt.md).
"""

from __future__ import annotations

import difflib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from edgeattn.errors import UsageError


class TensorRTLine(BaseModel):
    """One TensorRT release line a target runs in the field."""

    model_config = ConfigDict(frozen=True)

    version: str = Field(description="major.minor, e.g. '10.3'")
    platform: str = Field(description="how it reaches the device, e.g. 'JetPack 6.1/6.2'")
    cuda: str

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def strongly_typed_only(self) -> bool:
        """TensorRT 11 dropped weak typing: precision must be written into the ONNX graph."""
        return self.major >= 11

    @property
    def python_plugins(self) -> bool:
        """tensorrt.plugin (QDP) needs >= 10.6; ahead-of-time QDP needs >= 10.9."""
        major, minor = (int(p) for p in self.version.split(".")[:2])
        return (major, minor) >= (10, 6)


class TargetProfile(BaseModel):
    """A validated deployment target."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: Literal["jetson", "gpu", "cpu"]
    description: str
    aliases: tuple[str, ...] = ()
    compute_capability: str | None = Field(None, description="e.g. '8.7'; None for CPUs")
    tensorrt: tuple[TensorRTLine, ...] = ()
    dla_cores: int = 0
    memory_gb: float
    workspace_mb: int = Field(description="TensorRT builder workspace cap")
    peak_fp32_tflops: float
    peak_fp16_tflops: float
    peak_int8_tops: float
    memory_bandwidth_gbs: float
    unified_memory: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> "TargetProfile":
        if self.kind != "cpu" and (self.compute_capability is None or not self.tensorrt):
            raise ValueError(f"{self.name}: GPU targets need a compute capability and TensorRT lines")
        if self.workspace_mb > self.memory_gb * 1024:
            raise ValueError(f"{self.name}: workspace exceeds device memory")
        if min(self.peak_fp32_tflops, self.peak_fp16_tflops, self.peak_int8_tops, self.memory_bandwidth_gbs) <= 0:
            raise ValueError(f"{self.name}: peak numbers must be positive")
        return self

    @property
    def sm(self) -> str | None:
        """'sm_87' style architecture name."""
        return f"sm_{self.compute_capability.replace('.', '')}" if self.compute_capability else None

    @property
    def default_tensorrt(self) -> TensorRTLine | None:
        return self.tensorrt[0] if self.tensorrt else None


_JP6 = TensorRTLine(version="10.3", platform="JetPack 6.1/6.2", cuda="12.6")
_JP72_ORIN = TensorRTLine(version="10.16", platform="JetPack 7.2", cuda="13.2")
_JP722 = TensorRTLine(version="11.4", platform="JetPack 7.2.2+", cuda="13.2")
_JP7_THOR = TensorRTLine(version="10.13", platform="JetPack 7.0/7.1", cuda="13.0")
_DESKTOP = TensorRTLine(version="11", platform="TensorRT 11.x (desktop/server)", cuda="13.x")
_DESKTOP_10 = TensorRTLine(version="10.16", platform="TensorRT 10.x (desktop/server, legacy)", cuda="12.x")

_ORIN_NANO = dict(
    peak_fp32_tflops=1.28, peak_fp16_tflops=10.0, peak_int8_tops=20.0, memory_bandwidth_gbs=68.0,
)

TARGETS: tuple[TargetProfile, ...] = (
    TargetProfile(
        name="jetson-orin", kind="jetson", aliases=("jetson", "orin"),
        description="Any Jetson Orin module on JetPack 6 (sized for the smallest: Orin Nano 8GB)",
        compute_capability="8.7", tensorrt=(_JP6, _JP72_ORIN), dla_cores=0, memory_gb=8, workspace_mb=1024,
        unified_memory=True, **_ORIN_NANO,
    ),
    TargetProfile(
        name="jetson-orin-nano", kind="jetson", aliases=("orin-nano",),
        description="Jetson Orin Nano 8GB (1024 CUDA cores, 32 tensor cores, no DLA)",
        compute_capability="8.7", tensorrt=(_JP6, _JP72_ORIN), dla_cores=0, memory_gb=8, workspace_mb=1024,
        unified_memory=True, **_ORIN_NANO,
    ),
    TargetProfile(
        name="jetson-orin-nx", kind="jetson", aliases=("orin-nx",),
        description="Jetson Orin NX 16GB (1024 CUDA cores, 32 tensor cores, 2 DLA)",
        compute_capability="8.7", tensorrt=(_JP6, _JP72_ORIN), dla_cores=2, memory_gb=16, workspace_mb=2048,
        unified_memory=True, peak_fp32_tflops=1.88, peak_fp16_tflops=15.0, peak_int8_tops=30.0,
        memory_bandwidth_gbs=102.4,
    ),
    TargetProfile(
        name="jetson-agx-orin", kind="jetson", aliases=("agx-orin", "orin-agx"),
        description="Jetson AGX Orin 64GB (2048 CUDA cores, 64 tensor cores, 2 DLA)",
        compute_capability="8.7", tensorrt=(_JP6, _JP72_ORIN, _JP722), dla_cores=2, memory_gb=64,
        workspace_mb=4096, unified_memory=True, peak_fp32_tflops=5.3, peak_fp16_tflops=42.5,
        peak_int8_tops=85.0, memory_bandwidth_gbs=204.8,
    ),
    TargetProfile(
        name="jetson-thor", kind="jetson", aliases=("thor",),
        description="Jetson AGX Thor T5000 (Blackwell, 2560 CUDA cores, 96 tensor cores, no DLA)",
        compute_capability="11.0", tensorrt=(_JP7_THOR, _JP72_ORIN, _JP722), dla_cores=0, memory_gb=128,
        workspace_mb=8192, unified_memory=True, peak_fp32_tflops=8.0, peak_fp16_tflops=258.0,
        peak_int8_tops=517.0, memory_bandwidth_gbs=273.0,
    ),
    TargetProfile(
        name="gpu-ampere", kind="gpu", aliases=("ampere", "rtx3090"),
        description="Desktop Ampere GPU (GeForce RTX 3090, GA102)",
        compute_capability="8.6", tensorrt=(_DESKTOP, _DESKTOP_10), memory_gb=24, workspace_mb=8192,
        peak_fp32_tflops=35.6, peak_fp16_tflops=71.0, peak_int8_tops=284.0, memory_bandwidth_gbs=936.0,
    ),
    TargetProfile(
        name="gpu-ada", kind="gpu", aliases=("ada", "rtx4090"),
        description="Desktop Ada GPU (GeForce RTX 4090, AD102)",
        compute_capability="8.9", tensorrt=(_DESKTOP, _DESKTOP_10), memory_gb=24, workspace_mb=8192,
        peak_fp32_tflops=82.6, peak_fp16_tflops=165.2, peak_int8_tops=660.6, memory_bandwidth_gbs=1008.0,
    ),
    TargetProfile(
        name="gpu-hopper", kind="gpu", aliases=("hopper", "h100"),
        description="Hopper data-centre GPU (H100 SXM5 80GB)",
        compute_capability="9.0", tensorrt=(_DESKTOP, _DESKTOP_10), memory_gb=80, workspace_mb=16384,
        peak_fp32_tflops=67.0, peak_fp16_tflops=989.0, peak_int8_tops=1979.0, memory_bandwidth_gbs=3350.0,
    ),
    TargetProfile(
        name="cpu-x86", kind="cpu", aliases=("x86", "cpu"),
        description="x86-64 CPU with AVX2/AVX-512 VNNI via ONNX Runtime (representative 8-core desktop)",
        memory_gb=16, workspace_mb=0, peak_fp32_tflops=1.0, peak_fp16_tflops=1.0, peak_int8_tops=4.0,
        memory_bandwidth_gbs=50.0,
    ),
    TargetProfile(
        name="cpu-arm", kind="cpu", aliases=("arm", "aarch64"),
        description="64-bit Arm CPU via ONNX Runtime (representative: 8x Cortex-A78AE, Jetson Orin CPU complex)",
        memory_gb=8, workspace_mb=0, peak_fp32_tflops=0.2, peak_fp16_tflops=0.4, peak_int8_tops=0.8,
        memory_bandwidth_gbs=68.0,
    ),
)


def list_targets() -> list[TargetProfile]:
    """All target profiles, in display order."""
    return list(TARGETS)


def get_target(name: str) -> TargetProfile:
    """Look a target up by name or alias; unknown names raise a UsageError listing the choices."""
    key = name.strip().lower()
    for target in TARGETS:
        if key == target.name or key in target.aliases:
            return target
    names = [t.name for t in TARGETS]
    close = difflib.get_close_matches(key, names + [a for t in TARGETS for a in t.aliases], n=3)
    hint = f"Did you mean {', '.join(close)}? " if close else ""
    raise UsageError(
        f"unknown target '{name}'",
        f"{hint}Known targets: {', '.join(names)} (alias 'jetson' = Orin family on JetPack 6).",
    )
