"""What edgeattn knows about a model: identity, input contract and deploy facts."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ModelSpec(BaseModel):
    """One registry entry. Facts, not code: the export pipeline reads these."""

    model_config = ConfigDict(frozen=True)

    name: str
    family: str
    source: Literal["timm", "native"]
    timm_name: str = Field(description="name passed to timm.create_model (native models register there too)")
    input_kind: Literal["image", "voxels"] = "image"
    input_size: tuple[int, int, int] = (3, 224, 224)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    interpolation: str = "bicubic"
    crop_pct: float = 0.875
    stride: int = Field(32, description="input height and width must be multiples of this")
    fp32_sensitive: tuple[str, ...] = Field((), description="parts to keep in fp32 in reduced precision")
    dynamic_axes: tuple[str, ...] = Field(("batch",), description="axes that may be exported dynamic")
    pretrained_tag: str | None = Field(None, description="timm pretrained tag, e.g. 'in1k'")
    test_resolution: int = Field(128, description="smallest resolution used by the fast test suite")
    opset: int = 18
    notes: str = ""

    @property
    def resolution(self) -> int:
        return self.input_size[1]

    @property
    def pretrained_name(self) -> str:
        """timm name including the pretrained tag, e.g. 'shvit_s4.in1k'."""
        return f"{self.timm_name}.{self.pretrained_tag}" if self.pretrained_tag else self.timm_name
