"""The manifest's image preprocessing, one implementation: what timm's eval transform does, on uint8 frames.

Steps (timm `transforms_imagenet_eval`, crop mode "center"):
  1. resize the shorter side to floor(resolution / crop_pct) with Pillow's filter for `interpolation`
     (the longer side keeps the aspect ratio, truncated as torchvision does);
  2. centre-crop resolution x resolution (offsets rounded half to even, as torchvision's `round`);
  3. scale to [0, 1] by dividing by 255 in float32, subtract `mean`, divide by `std` (float32);
  4. HWC -> CHW.
`examples/cpp/src/preprocess.cpp` re-implements the same arithmetic, Pillow's 8-bit fixed-point filters
included (tested to match this module bit for bit with Pillow 13, which picks the pass order by shape).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeattn.errors import UsageError

INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "box", "hamming", "lanczos")
COLORS = ("RGB", "BGR")


@dataclass(frozen=True)
class Preprocessing:
    """Eval preprocessing of an image bundle, read from `manifest.json` → `input.preprocessing`."""

    resolution: int
    interpolation: str
    crop_pct: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    color: str = "RGB"

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.resolution, int) or self.resolution < 1:
            problems.append(f"resolution {self.resolution!r} is not a positive integer")
        if self.interpolation not in INTERPOLATIONS:
            problems.append(f"interpolation {self.interpolation!r} is not one of {', '.join(INTERPOLATIONS)}")
        if not 0.0 < self.crop_pct <= 1.0:
            problems.append(f"crop_pct {self.crop_pct} is outside (0, 1] (border padding is not supported)")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            problems.append(f"mean {list(self.mean)} / std {list(self.std)} need 3 values each, std > 0")
        if self.color not in COLORS:
            problems.append(f"color {self.color!r} is not RGB or BGR")
        if problems:
            raise UsageError(f"invalid preprocessing in the bundle manifest: {'; '.join(problems)}",
                             "Re-export the bundle with `edgeattn export`, or fix input.preprocessing.")

    @classmethod
    def from_manifest(cls, entry: dict[str, Any]) -> Preprocessing:
        """Build from the manifest's `input.preprocessing` dict (all keys but `color` required)."""
        missing = [k for k in ("resolution", "interpolation", "crop_pct", "mean", "std") if k not in entry]
        if missing:
            raise UsageError(f"the bundle manifest's input.preprocessing lacks {', '.join(missing)}",
                             "Re-export the bundle with a current `edgeattn export`.")
        return cls(resolution=entry["resolution"], interpolation=entry["interpolation"],
                   crop_pct=float(entry["crop_pct"]), mean=tuple(float(v) for v in entry["mean"]),
                   std=tuple(float(v) for v in entry["std"]), color=entry.get("color", "RGB"))

    @property
    def scale_size(self) -> int:
        """Length of the shorter side after resizing."""
        return math.floor(self.resolution / self.crop_pct)

    def resized_size(self, height: int, width: int) -> tuple[int, int]:
        """(height, width) after the shorter-side resize (torchvision's rule)."""
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = self.scale_size, int(self.scale_size * long / short)
        return (new_long, new_short) if width <= height else (new_short, new_long)

    def crop_offsets(self, height: int, width: int) -> tuple[int, int]:
        """(top, left) of the centre crop in a resized image of this size."""
        return (int(round((height - self.resolution) / 2.0)), int(round((width - self.resolution) / 2.0)))

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """One uint8 HWC frame, already in the model's channel order, to float32 CHW."""
        from PIL import Image

        height, width = frame.shape[:2]
        new_h, new_w = self.resized_size(height, width)
        image = Image.fromarray(np.ascontiguousarray(frame))
        if (new_h, new_w) != (height, width):
            image = image.resize((new_w, new_h), _pil_filter(self.interpolation))
        top, left = self.crop_offsets(new_h, new_w)
        size = self.resolution
        pixels = np.asarray(image)[top:top + size, left:left + size]
        return self.normalize(pixels)

    def normalize(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 HWC (already resized and cropped) to normalised float32 CHW."""
        mean = np.asarray(self.mean, dtype=np.float32)
        std = np.asarray(self.std, dtype=np.float32)
        scaled = pixels.astype(np.float32) / np.float32(255.0)
        return np.ascontiguousarray(((scaled - mean) / std).transpose(2, 0, 1))


def _pil_filter(name: str) -> Any:
    from PIL import Image

    return getattr(Image.Resampling, name.upper())
