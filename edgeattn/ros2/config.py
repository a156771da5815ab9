"""Settings of the edgeattn ROS 2 node (no ROS import here: the CLI builds them before ROS is checked)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_INPUTS = {"image": "/camera/image_raw", "voxels": "/points"}


class NodeConfig(BaseModel):
    """The node's settings; each one but `bundle` is also a ROS parameter of the same name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bundle: Path
    input_topic: str = Field("", description="default: /camera/image_raw (images) or /points (LiDAR)")
    output_topic: str = "edgeattn/output"
    backend: str = "auto"
    top_k: int = Field(5, ge=1)
    threads: int = Field(0, ge=0, description="onnxruntime intra-op threads (0: ORT's default)")
    warmup: int = Field(3, ge=0)
    status_period: float = Field(1.0, gt=0)
