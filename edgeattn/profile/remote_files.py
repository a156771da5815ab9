"""Which bundle files a remote run needs, their content hashes, and the device-side work folder layout.

On the device, under the work folder (``~/.cache/edgeattn-remote`` unless ``EDGEATTN_REMOTE_DIR`` says
otherwise)::

    objects/<sha256>          every file copied once, named by its content (a second run copies nothing)
    bundles/<digest>/...      the bundle rebuilt from objects; the engine and timing cache land here
    runs/<id>/                one run: pid, logs and the results brought back

Without ``--keep-remote`` a run removes its run folder and whatever objects and bundle it created.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import onnx

from edgeattn.errors import UsageError

REMOTE_DIR_ENV = "EDGEATTN_REMOTE_DIR"
DEFAULT_REMOTE_DIR = ".cache/edgeattn-remote"
MANIFEST = "manifest.json"
BUILD_SCRIPT = "build_engine.sh"
FLAVOUR_BASES = {"portable": "model", "plugins": "model.plugins"}
PRECISIONS = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class BundleFile:
    """One file to copy: local path, path inside the bundle, content hash, size, executable bit."""

    path: Path
    name: str
    sha256: str
    size: int
    executable: bool


@dataclass(frozen=True)
class BundlePlan:
    """The files a remote run copies, the bundle's digest, and the model file the device runs."""

    files: tuple[BundleFile, ...]
    digest: str
    model_file: str
    """Bundle-relative path of the ONNX graph the device runs (edgeattn backends) or builds (trtexec)."""
    root: Path
    folder: bool
    """True for a bundle folder (the device profiles the folder), False for a single .onnx file."""

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)


def remote_work_dir() -> str:
    """Device-side work folder (relative paths are relative to the login's home folder)."""
    return os.environ.get(REMOTE_DIR_ENV, DEFAULT_REMOTE_DIR).rstrip("/") or DEFAULT_REMOTE_DIR


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def external_data_files(onnx_path: Path) -> list[Path]:
    """Files holding an ONNX graph's external tensor data (beside the graph)."""
    model = onnx.load(str(onnx_path), load_external_data=False)
    names = {entry.value for init in model.graph.initializer for entry in init.external_data
             if entry.key == "location"}
    return [onnx_path.parent / name for name in sorted(names)]


def bundle_precision(folder: Path) -> str:
    """The precision the bundle was exported at (manifest), fp32 when it does not say."""
    manifest = folder / MANIFEST
    if manifest.is_file():
        entry = json.loads(manifest.read_text()).get("precision", {})
        if isinstance(entry, dict) and entry.get("precision") in PRECISIONS:
            return str(entry["precision"])
    return "fp32"


def trtexec_graph(folder: Path, flavour: str, precision: str) -> str:
    """The ONNX file ``build_engine.sh FLAVOUR PRECISION`` builds from (its own naming rule)."""
    base = FLAVOUR_BASES[flavour]
    return f"{base}.onnx" if precision == "fp32" else f"{base}.{precision}.onnx"


def _selected(source: Path, backend: str, flavour: str, precision: str) -> tuple[Path, list[Path], str]:
    """(bundle root, files to copy, model file) for a backend."""
    if source.is_file():
        if source.suffix != ".onnx" or backend == "trtexec":
            raise UsageError(f"--remote with --backend {backend} needs a bundle folder, not {source}",
                             "export one with `edgeattn export -m MODEL -t TARGET`")
        return source.parent, [source, *external_data_files(source)], source.name
    if not source.is_dir():
        raise UsageError(f"--remote needs a bundle folder or an .onnx file; {source} is neither",
                         "export a bundle first: `edgeattn export -m MODEL -t TARGET`")
    model = trtexec_graph(source, flavour, precision) if backend == "trtexec" else "model.onnx"
    if not (source / model).is_file():
        raise UsageError(f"{source} has no {model}",
                         f"export it with --flavour {flavour} --precision {precision}" if backend == "trtexec"
                         else "pass a bundle folder made by `edgeattn export`")
    files = [source / model, *external_data_files(source / model)]
    files += [source / MANIFEST] if (source / MANIFEST).is_file() else []
    if backend == "trtexec":
        if not (source / BUILD_SCRIPT).is_file():
            raise UsageError(f"{source} has no {BUILD_SCRIPT}: it was exported for a target without TensorRT",
                             "export for a TensorRT target, e.g. `edgeattn export -m MODEL -t jetson-orin`")
        files += [source / BUILD_SCRIPT, *sorted(source.glob("timing.*.cache"))]
        if flavour == "plugins" and (source / "plugins").is_dir():
            files += sorted(p for p in (source / "plugins").rglob("*")
                            if p.is_file() and p.relative_to(source).parts[1] != "build")
    return source, files, model


def plan_bundle(source: Path, backend: str, flavour: str = "portable", precision: str | None = None) -> BundlePlan:
    """Hash the files a remote run of ``backend`` needs; the digest names the bundle on the device."""
    source = Path(source)
    chosen_precision = precision or (bundle_precision(source) if source.is_dir() else "fp32")
    root, paths, model = _selected(source, backend, flavour, chosen_precision)
    files = []
    for path in dict.fromkeys(paths):
        files.append(BundleFile(path=path, name=path.relative_to(root).as_posix(), sha256=sha256_file(path),
                                size=path.stat().st_size, executable=os.access(path, os.X_OK)))
    listing = [root.name, *(f"{f.name}\0{f.sha256}\0{int(f.executable)}" for f in files)]
    digest = hashlib.sha256("\n".join(listing).encode())
    return BundlePlan(files=tuple(files), digest=digest.hexdigest()[:32], model_file=model, root=root,
                      folder=source.is_dir())
