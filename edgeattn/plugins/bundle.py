"""The plugin files of a bundle: what a device needs to build the plugin library next to its engine.

    package_plugins(graphs, arch, folder) -> PluginPackage

`folder` (the bundle's `plugins/`) receives the CMake project (`library/`: CMakeLists.txt, cmake/,
include/, src/), the plugin sources of the ops the graphs use (`ops/<op>/plugin/*.cpp`, where the
project's default EDGEATTN_OPS_DIR finds them) and the cubins of every kernel variant the graphs'
plugin nodes may launch, compiled for the target's arch (`cubins/sm_<arch>/variants.tsv`, each cubin with the PTX it was
assembled from, so its ISA version can be checked on the device). The
bundle's `build_engine.sh` builds the library from these files with the device's compiler and
TensorRT headers; nothing else is needed there.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import onnx

from edgeattn.plugins import SOURCE_DIR

LIBRARY_FILES = ("CMakeLists.txt", "cmake", "include", "src")
"""What of `edgeattn/plugins/` the device build needs (the Python modules stay here)."""
SOURCE_SUFFIXES = (".cpp", ".h")


@dataclass(frozen=True)
class PluginPackage:
    """What `package_plugins` wrote, for the manifest."""

    arch: int
    ops: tuple[str, ...]
    variants: int
    ptxas: str

    def manifest(self) -> dict:
        return {"library": "plugins/library", "cubins": f"plugins/cubins/sm_{self.arch}",
                "archs": [self.arch], "ops": list(self.ops), "kernel_variants": self.variants,
                "ptxas": self.ptxas}


def target_arch(compute_capability: str) -> int:
    """87 from "8.7" (the arch the cubins are compiled for)."""
    return int(compute_capability.replace(".", ""))


def package_plugins(graphs: list[onnx.ModelProto], arch: int, folder: Path) -> PluginPackage | None:
    """Write the library sources, the used ops' plugin sources and their cubins under `folder`
    (nothing, and None, when the graphs have no plugin node: they build without the library)."""
    from edgeattn.ops import get_op, ops_used
    from edgeattn.plugins.compile import compile_launches
    from edgeattn.plugins.graph import graph_launches

    ops = sorted({entry["op_type"] for graph in graphs for entry in ops_used(graph)})
    launches = graph_launches(graphs)
    if not launches:
        return None
    _copy_library(folder / "library")
    for name in ops:
        op_folder = get_op(name).folder
        _copy_sources(SOURCE_DIR.parent / "ops" / op_folder / "plugin", folder / "ops" / op_folder / "plugin")
    compile_launches(launches, [arch], folder / "cubins")
    return PluginPackage(arch=arch, ops=tuple(ops), variants=len(launches), ptxas=_ptxas_name(arch))


def _copy_library(destination: Path) -> None:
    destination.mkdir(parents=True)
    for name in LIBRARY_FILES:
        source = SOURCE_DIR / name
        if source.is_dir():
            _copy_sources(source, destination / name, suffixes=(*SOURCE_SUFFIXES, ".cmake", ".map"))
        else:
            shutil.copyfile(source, destination / name)


def _copy_sources(source: Path, destination: Path, suffixes: tuple[str, ...] = SOURCE_SUFFIXES) -> None:
    """Copy the source files under `source` (no caches, no Python), keeping the tree."""
    for path in sorted(source.rglob("*")):
        if path.is_file() and path.suffix in suffixes:
            target = destination / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def _ptxas_name(arch: int) -> str:
    from edgeattn.plugins.ptxas import JETPACK6_ARCHS, jetpack6_ptxas, ptxas_version

    if arch in JETPACK6_ARCHS:
        major, minor = ptxas_version(jetpack6_ptxas())
        return f"CUDA {major}.{minor} (JetPack 6 compatible)"
    return "Triton's bundled ptxas"
