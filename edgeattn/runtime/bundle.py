"""Reading a bundle folder written by `edgeattn export`: manifest, graphs, engines, labels."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeattn.bundle_files import MANIFEST, PRECISIONS, verify_bundle
from edgeattn.errors import UsageError

LABELS_FILE = "labels.txt"
PLUGIN_LIBRARY = "plugins/libedgeattn_plugins.so"
"""Where `build_engine.sh` expects the plugin library (EDGEATTN_PLUGIN_LIB overrides it there and here)."""

_ENGINE = re.compile(r"^model(?P<plugins>\.plugins)?(?:\.(?P<precision>fp16|int8))?"
                     r"\.trt(?P<trt>\d+\.\d+)\.(?P<arch>sm_\d+)\.engine$")


@dataclass(frozen=True)
class EngineFile:
    """An engine named by `build_engine.sh`: model[.plugins][.fp16|.int8].trt<major.minor>.sm_<cc>.engine."""

    path: Path
    flavour: str
    precision: str
    trt_version: str
    arch: str

    @classmethod
    def parse(cls, path: Path) -> EngineFile | None:
        match = _ENGINE.match(path.name)
        if match is None:
            return None
        return cls(path, "plugins" if match["plugins"] else "portable", match["precision"] or "fp32",
                   match["trt"], match["arch"])


@dataclass(frozen=True)
class BundleInfo:
    """What the runtime needs from a bundle: its kind, input contract, outputs and files."""

    path: Path
    manifest: dict[str, Any] = field(repr=False)

    @property
    def model(self) -> str:
        return self.manifest["model"]["name"]

    @property
    def kind(self) -> str:
        """"image" or "voxels"."""
        return self.manifest["input"].get("kind", "image")

    @property
    def input(self) -> dict[str, Any]:
        return self.manifest["input"]

    @property
    def precision(self) -> str:
        """The precision the bundle was exported for (its reduced-precision graphs, if any)."""
        return self.manifest.get("precision", {}).get("precision", "fp32")

    def onnx_file(self, precision: str) -> Path:
        """The portable graph of `precision` (model.onnx, model.fp16.onnx or model.int8.onnx)."""
        name = "model.onnx" if precision == "fp32" else f"model.{precision}.onnx"
        path = self.path / name
        if not path.is_file():
            held = sorted(p.name for p in self.path.glob("model*.onnx") if ".plugins." not in p.name)
            raise UsageError(f"{name} is not in the bundle {self.path} (portable graphs here: {', '.join(held) or 'none'})",
                             f"Pick a precision the bundle holds, or re-export with --flavour portable "
                             f"--precision {precision}.")
        return path

    def engines(self) -> list[EngineFile]:
        """Every engine `build_engine.sh` wrote here, in name order."""
        found = (EngineFile.parse(p) for p in sorted(self.path.glob("*.engine")))
        return [e for e in found if e is not None]


def read_bundle(path: str | Path) -> BundleInfo:
    """Open a bundle folder; UsageError when it is not one this runtime can read."""
    folder = Path(path)
    if not folder.is_dir():
        raise UsageError(f"bundle folder {folder} does not exist",
                         "Pass the folder written by `edgeattn export` (it holds manifest.json).")
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise UsageError(f"{folder} has no {MANIFEST}: it is not an edgeattn bundle",
                         "Pass the folder written by `edgeattn export`.")
    manifest = verify_bundle(folder)
    missing = [k for k in ("model", "input", "outputs") if k not in manifest]
    if missing:
        raise UsageError(f"{manifest_path} lacks {', '.join(missing)}", "Re-export the bundle.")
    return BundleInfo(folder, manifest)
