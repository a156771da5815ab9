"""Runtime sessions: `load(bundle)` opens an image or LiDAR bundle on the best backend that can run it."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from edgeattn.errors import UsageError
from edgeattn.runtime.backends import Engine, select_backend
from edgeattn.runtime.bundle import BundleInfo, read_bundle
from edgeattn.runtime.options import RuntimeOptions
from edgeattn.runtime.stats import LatencyStats


class Session(ABC):
    """An opened bundle. Call it on inputs; `stats` holds the latency of every call since warm-up."""

    def __init__(self, bundle: BundleInfo, engine: Engine, options: RuntimeOptions) -> None:
        self.bundle = bundle
        self.engine = engine
        self.options = options
        self.stats = LatencyStats()

    @property
    def backend(self) -> str:
        """"tensorrt" or "onnxruntime"."""
        return self.engine.backend

    @property
    def description(self) -> str:
        """Backend, version and file, e.g. "onnxruntime 1.32.0 CPUExecutionProvider, model.onnx"."""
        return self.engine.description

    @abstractmethod
    def __call__(self, inputs: Any) -> Any: ...

    @abstractmethod
    def warmup_input(self) -> Any:
        """A representative input for warm-up calls."""

    def warmup(self, calls: int = 3) -> None:
        """Run `calls` times on a representative input, then forget their timings."""
        sample = self.warmup_input()
        for _ in range(calls):
            self(sample)
        self.stats.reset()

    def latency(self) -> dict[str, object]:
        """Summary of the recorded calls (see `LatencyStats.summary`)."""
        return self.stats.summary()

    def _timed(self, frames: int, prepare: Any, infer: Any) -> Any:
        start = time.perf_counter()
        prepared = prepare()
        mid = time.perf_counter()
        result = infer(prepared)
        end = time.perf_counter()
        self.stats.record(frames, (mid - start) * 1e3, (end - mid) * 1e3, (end - start) * 1e3)
        return result

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.bundle.path}, {self.description})"


def load(bundle: str | Path, backend: str = "auto", **options: Any) -> Session:
    """Open a bundle folder written by `edgeattn export`; options are the fields of `RuntimeOptions`.

    Returns an `ImageSession` (uint8 frames or float NCHW tensors in, logits out) or, for LiDAR
    bundles, a `VoxelSession` (point clouds in, last-stage voxel features out). Raises
    MissingDependencyError saying why each backend refused when none can run the bundle.
    """
    config = RuntimeOptions(backend=backend, **options)
    info = read_bundle(bundle)
    engine = select_backend(info, config).open(info, config)
    try:
        session = _session_class(info)(info, engine, config)
        if config.warmup:
            session.warmup(config.warmup)
    except BaseException:
        engine.close()
        raise
    return session


def _session_class(info: BundleInfo) -> type[Session]:
    if info.kind == "image":
        from edgeattn.runtime.image import ImageSession

        return ImageSession
    if info.kind == "voxels":
        from edgeattn.runtime.voxels import VoxelSession

        return VoxelSession
    raise UsageError(f"bundle input kind {info.kind!r} is not one this runtime runs", "Use image or voxel bundles.")


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (stable), returned as float32."""
    shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return (exp / exp.sum(axis=-1, keepdims=True)).astype(np.float32)
