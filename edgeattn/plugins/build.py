"""Build the plugin library with CMake against one TensorRT header version.

    build_library(tensorrt_root, cubin_dir, archs, build_dir) -> PluginBuild

The library is built once per TensorRT major version (the V3 plugin ABI differs between 10 and 11);
`build_dir` should name it (e.g. build/trt10). Only the headers are needed: libnvinfer is linked into
the statically registering library when CMake finds it (on the device).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from edgeattn.errors import EdgeattnError, UsageError
from edgeattn.plugins import SOURCE_DIR

DYNAMIC_LIBRARY = "libedgeattn_plugins.so"
STATIC_LIBRARY = "libedgeattn_plugins_static.so"


@dataclass(frozen=True)
class PluginBuild:
    """A built library: where, for which TensorRT, and its two shared objects."""

    build_dir: Path
    tensorrt_version: str
    dynamic_library: Path
    static_library: Path | None
    log: str


def toolchain_refusal() -> str:
    """Why the library cannot be built here ("" when cmake and a C++ compiler are present)."""
    missing = [tool for tool in ("cmake", "c++") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not found (apt-get install cmake g++)"
    return ""


def tensorrt_version(tensorrt_root: Path) -> str:
    """"10.3.0" from <root>/include/NvInferVersion.h."""
    header = tensorrt_root / "include" / "NvInferVersion.h"
    if not header.is_file():
        raise UsageError(f"No TensorRT headers at {tensorrt_root} ({header} missing).",
                         "Pass the TensorRT root whose include/ holds NvInferRuntime.h.")
    text = header.read_text()
    parts = []
    for part in ("MAJOR", "MINOR", "PATCH"):
        match = re.search(rf"#define TRT_{part}_ENTERPRISE (\d+)", text) or re.search(
            rf"#define NV_TENSORRT_{part} (\d+)", text)
        parts.append(match.group(1) if match else "?")
    return ".".join(parts)


def cuda_include_dir() -> Path | None:
    """A folder with cuda.h and cuda_runtime_api.h: the CUDA toolkit's, or an nvidia-* wheel's."""
    candidates = [Path(os.environ["CUDA_HOME"]) / "include"] if os.environ.get("CUDA_HOME") else []
    candidates.append(Path("/usr/local/cuda/include"))
    site = Path(sysconfig.get_paths()["purelib"]) / "nvidia"
    candidates += [site / "cu13" / "include", site / "cuda_runtime" / "include"]
    for folder in candidates:
        if (folder / "cuda.h").is_file() and (folder / "cuda_runtime_api.h").is_file():
            return folder
    return None


def _run(command: list[str], log: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    log.append(f"$ {' '.join(command)}\n{result.stdout}{result.stderr}")
    if result.returncode != 0:
        raise EdgeattnError(f"{command[0]} failed:\n{(result.stdout + result.stderr)[-6000:]}",
                            "Fix the error above (compiler, headers or cubins).")


def build_library(tensorrt_root: Path, cubin_dir: Path, archs: list[int], build_dir: Path, *,
                  sanitize: str = "", jobs: int = 2, static_registration: bool = True,
                  build_type: str = "Release") -> PluginBuild:
    """Configure and build the plugin library for the TensorRT headers at `tensorrt_root`.

    sanitize: e.g. "address" (host tests); build_type: CMake's ("" = no optimisation, quickest to build).
    """
    if reason := toolchain_refusal():
        raise UsageError(f"Cannot build the plugin library: {reason}.", "Install CMake and a C++17 compiler.")
    cuda = cuda_include_dir()
    if cuda is None:
        raise UsageError("CUDA headers (cuda.h, cuda_runtime_api.h) not found.",
                         "Install the CUDA toolkit headers or set CUDA_HOME.")
    version = tensorrt_version(tensorrt_root)
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    log: list[str] = []
    _run(["cmake", "-S", str(SOURCE_DIR), "-B", str(build_dir), *generator, f"-DCMAKE_BUILD_TYPE={build_type}",
          f"-DTENSORRT_ROOT={tensorrt_root}", f"-DEDGEATTN_CUBIN_DIR={cubin_dir}",
          f"-DEDGEATTN_CUDA_ARCHS={';'.join(str(a) for a in archs)}", f"-DCUDA_INCLUDE_DIR={cuda}",
          f"-DEDGEATTN_SANITIZE={sanitize}",
          f"-DEDGEATTN_STATIC_REGISTRATION={'ON' if static_registration else 'OFF'}"],
         log)
    _run(["cmake", "--build", str(build_dir), "-j", str(jobs)], log)
    static = build_dir / STATIC_LIBRARY
    return PluginBuild(build_dir, version, build_dir / DYNAMIC_LIBRARY,
                       static if static_registration else None, "\n".join(log))
