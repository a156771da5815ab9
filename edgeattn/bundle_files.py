"""Names of the files in an edgeattn bundle (shared by the exporter, calibration, profiling and the runtime)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from edgeattn.errors import EdgeattnError

MANIFEST = "manifest.json"
BUNDLE_FORMAT = "edgeattn-bundle/1"
"""The manifest's `format` marker: how edgeattn recognises a folder as one of its bundles."""
FLAVOURS = ("portable", "plugins")
PRECISIONS = ("fp32", "fp16", "int8")


def graph_file(flavour: str = "portable", precision: str = "fp32") -> str:
    """The file of one graph: model[.plugins][.fp16|.int8].onnx."""
    return "model" + (".plugins" if flavour == "plugins" else "") + ("" if precision == "fp32" else f".{precision}") \
        + ".onnx"


def lint_key(file_name: str) -> str:
    """trt_lint.json key of a graph file: model.plugins.int8.onnx -> plugins-int8, model.onnx -> portable."""
    parts = file_name.split(".")[1:-1]
    flavour = "plugins" if "plugins" in parts else "portable"
    precision = [p for p in parts if p != "plugins"]
    return f"{flavour}-{precision[0]}" if precision else flavour


def read_json(path: Path, what: str) -> Any:
    """A JSON file, or one clear error (EdgeattnError, exit 1) saying why it cannot be read."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise EdgeattnError(f"cannot read {what} {path}: {getattr(exc, 'strerror', None) or exc}",
                         "Check the path; the file must be UTF-8 JSON written by edgeattn.") from None
    if not text.strip():
        raise EdgeattnError(f"{what} {path} is empty", "Write it again with edgeattn (the last run may have been cut off).")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise EdgeattnError(f"{what} {path} is not valid JSON ({exc})",
                         "Write it again with edgeattn; do not edit it by hand.") from None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_bundle(folder: Path, require: tuple[str, ...] = ()) -> dict[str, Any]:
    """The manifest of an edgeattn bundle, after checking its marker and the size and sha256 of every listed
    file that is present; the files in `require` (the ones about to be used) must be present."""
    folder = Path(folder)
    manifest = read_json(folder / MANIFEST, "bundle manifest")
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise EdgeattnError(f"{folder / MANIFEST} has format {found!r}: not an edgeattn bundle manifest "
                         f"({BUNDLE_FORMAT!r})", "Pass a folder written by `edgeattn export` (this version).")
    if not isinstance(manifest.get("model"), dict) or not isinstance(manifest.get("files"), list):
        raise EdgeattnError(f"{folder / MANIFEST} lacks its model or file list", "Export the bundle again.")
    listed = {str(entry.get("path", "")): entry for entry in manifest["files"]}
    for name in require:
        if name not in listed or not (folder / name).is_file():
            raise EdgeattnError(f"{folder / name} is not a file of this bundle", "Copy the whole bundle folder.")
    for name, entry in listed.items():
        path = folder / name
        if not path.is_file():
            continue
        if path.stat().st_size != entry.get("bytes") or sha256_file(path) != entry.get("sha256"):
            raise EdgeattnError(f"{path} does not match the manifest's sha256: the bundle changed after export",
                                "Export it again (or copy it again from the machine that exported it).")
    return manifest
