"""Run an exported bundle in an application: `session = edgeattn.runtime.load(BUNDLE)`.

Image bundles: `session(frames)` takes uint8 HWC frames (RGB or BGR, any size) or float NCHW tensors,
applies the manifest's preprocessing and returns logits. LiDAR bundles: `session(points)` runs
voxelize -> set partition -> engine. Backends: tensorrt (the engine built on the device), then
onnxruntime; `backend_availability(BUNDLE)` says why each one can or cannot run here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgeattn.runtime.session import Session

__all__ = ["backend_availability", "load"]


def load(bundle: str | Path, backend: str = "auto", **options: Any) -> Session:
    """Open a bundle folder; options are the fields of `edgeattn.runtime.options.RuntimeOptions`."""
    from edgeattn.runtime.session import load as _load

    return _load(bundle, backend, **options)


def backend_availability(bundle: str | Path, **options: Any) -> list[tuple[str, bool, str]]:
    """(backend, can run, reason) for every backend on this bundle, in priority order."""
    from edgeattn.runtime.backends import backend_availability as _availability
    from edgeattn.runtime.bundle import read_bundle
    from edgeattn.runtime.options import RuntimeOptions

    return _availability(read_bundle(bundle), RuntimeOptions(**options))
