"""Everything `edgeattn.runtime.load` can be told, in one config object."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RuntimeOptions(BaseModel):
    """How a bundle is opened. Defaults pick what the bundle was exported for."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: str = Field("auto", description="auto (tensorrt, then onnxruntime), tensorrt or onnxruntime")
    precision: Literal["fp32", "fp16", "int8"] | None = Field(
        None, description="graph/engine precision [default: the bundle's]")
    flavour: Literal["portable", "plugins"] | None = Field(
        None, description="tensorrt: engine of this ONNX flavour [default: plugins when built, else portable]")
    engine: Path | None = Field(None, description="tensorrt: engine file (relative to the bundle or absolute)")
    plugin_library: Path | None = Field(
        None, description="tensorrt: plugin library [default: $EDGEATTN_PLUGIN_LIB or plugins/libedgeattn_plugins.so]")
    cuda_graph: bool = Field(False, description="tensorrt: capture each input shape's enqueue in a CUDA graph")
    threads: int | None = Field(None, ge=1, description="onnxruntime: intra-op threads [default: ORT's]")
    max_batch: int | None = Field(None, ge=1, description="largest batch per engine call for dynamic-batch graphs")
    color: Literal["RGB", "BGR"] = Field("RGB", description="channel order of the uint8 frames you pass")
    warmup: int = Field(0, ge=0, description="warm-up calls at load (not counted in the latency statistics)")
