"""What differs between image and LiDAR exports, behind one interface the pipeline uses for both.

An `ExportInputs` knows the graph's input/output names, what module is exported (the whole image model,
or DSVT's attention stack), the trace example and dynamic axes, the parity cases, the manifest's input
entry, the TensorRT min/opt/max shapes and any extra bundle files (LiDAR: `trt_profiles.json`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import nn

from edgeattn.backbones.spec import ModelSpec
from edgeattn.calibrate.sets import CalibrationSets
from edgeattn.errors import UsageError
from edgeattn.exporters.config import ExportConfig

RANDOM_INPUT_SEED = 1234
MAX_DYNAMIC_DIM = 1 << 20


class ExportInputs(ABC):
    """The input side of one export (built before any model work, finished by `prepare`)."""

    def __init__(self, spec: ModelSpec, config: ExportConfig) -> None:
        self.spec, self.config = spec, config
        self.input_names: list[str] = []
        self.output_names: list[str] = []
        self.resolution: int | None = None

    @abstractmethod
    def exported(self, model: nn.Module) -> nn.Module:
        """The part of `model` that goes into the graph."""

    @abstractmethod
    def prepare(self, model: nn.Module) -> None:
        """Build the example, parity cases and shape profile (may need the model, e.g. its layout)."""

    @abstractmethod
    def example(self) -> tuple[torch.Tensor, ...]:
        """Trace inputs for `torch.onnx.export`."""

    @abstractmethod
    def dynamic_shapes(self) -> Any:
        """`dynamic_shapes` for `torch.export` (None: every shape static)."""

    @abstractmethod
    def parity_cases(self) -> dict[str, tuple[torch.Tensor, ...]]:
        """Named inputs every graph is compared on against torch."""

    @abstractmethod
    def manifest_input(self) -> dict[str, Any]:
        """The manifest's `input` entry."""

    @abstractmethod
    def readme_lines(self) -> list[str]:
        """The bundle README's section on the inputs."""

    def build_shapes(self) -> dict[str, str]:
        """trtexec `--minShapes/--optShapes/--maxShapes` values ({} for static graphs)."""
        return {}

    def extra_files(self) -> dict[str, Any]:
        """JSON files the bundle carries besides the graphs (name -> content)."""
        return {}

    def graph_sets(self, sets: CalibrationSets) -> CalibrationSets:
        """The calibration sets as the graph takes them (images already are; LiDAR scenes become frames)."""
        return sets


class ImageInputs(ExportInputs):
    """One NCHW image tensor in, logits out; parity on real photos plus one seeded random input."""

    def __init__(self, spec: ModelSpec, config: ExportConfig) -> None:
        super().__init__(spec, config)
        self.resolution = check_resolution(self.spec, self.config.resolution)
        self.shape = (self.config.batch, self.spec.input_size[0], self.resolution, self.resolution)
        self.input_names, self.output_names = ["image"], ["logits"]

    def exported(self, model: nn.Module) -> nn.Module:
        return model

    def prepare(self, model: nn.Module) -> None:
        """Nothing depends on the model for images."""

    def example(self) -> tuple[torch.Tensor, ...]:
        # torch.export specialises a dynamic dimension whose example size is 1, so trace a batch of 2
        batch = max(2, self.shape[0]) if self.config.dynamic_batch else self.shape[0]
        return (torch.zeros((batch, *self.shape[1:])),)

    def dynamic_shapes(self) -> Any:
        if not self.config.dynamic_batch:
            return None
        return ({0: torch.export.Dim("batch", min=1, max=1024)},)

    def parity_cases(self) -> dict[str, tuple[torch.Tensor, ...]]:
        from edgeattn.images import photo_batches

        cases = {label: (t,) for label, t in photo_batches(self.spec, self.resolution, self.shape[0]).items()}
        generator = torch.Generator().manual_seed(RANDOM_INPUT_SEED)
        cases[f"random:normal(seed={RANDOM_INPUT_SEED})"] = (torch.randn(self.shape, generator=generator),)
        return cases

    def manifest_input(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "name": "image",
            "shape": ["batch" if self.config.dynamic_batch else self.shape[0], *self.shape[1:]],
            "dtype": "float32",
            "layout": "NCHW",
            "preprocessing": {"resolution": self.resolution, "interpolation": spec.interpolation,
                              "crop_pct": spec.crop_pct, "mean": list(spec.mean), "std": list(spec.std),
                              "color": "RGB"},
        }

    def readme_lines(self) -> list[str]:
        spec = self.spec
        return ["## Input",
                f"`image`: float32 {list(self.shape)} (NCHW), RGB, resized with {spec.interpolation} interpolation "
                f"and centre-cropped (crop_pct {spec.crop_pct}), then normalised with mean {list(spec.mean)} and std "
                f"{list(spec.std)}. Output `logits`: float32 [batch, classes]."]

    def build_shapes(self) -> dict[str, str]:
        if not self.config.dynamic_batch:
            return {}
        dims = "x".join(str(d) for d in self.shape[1:])
        config = self.config
        return {"minShapes": f"image:{config.min_batch}x{dims}", "optShapes": f"image:{config.batch}x{dims}",
                "maxShapes": f"image:{config.max_batch}x{dims}"}


def check_resolution(spec: ModelSpec, resolution: int | None) -> int:
    """The export resolution (the model's by default); it must be a positive multiple of the stride."""
    size = resolution or spec.resolution
    if size <= 0 or size % spec.stride:
        lower = max(spec.stride, size // spec.stride * spec.stride)
        raise UsageError(f"resolution {size} is not a multiple of {spec.name}'s stride {spec.stride}",
                         f"Use a multiple of {spec.stride}, e.g. {lower} or {lower + spec.stride}.")
    return size


def export_inputs(spec: ModelSpec, config: ExportConfig) -> ExportInputs:
    """The input adapter of the model's input kind."""
    if spec.input_kind == "voxels":
        from edgeattn.exporters.voxel_inputs import VoxelInputs

        return VoxelInputs(spec, config)
    return ImageInputs(spec, config)
