"""Which ptxas compiles the cubins of each arch.

sm_87 (Jetson Orin) cubins must load on JetPack 6, whose CUDA 12.6 driver JIT-compiles PTX only up
to ISA 8.5 and loads ELF ABI v7 cubins: they are built with the ptxas of CUDA 12.6
(`nvidia-cuda-nvcc-cu12==12.6.85`). Other archs use Triton's bundled ptxas.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
from pathlib import Path

from edgeattn.errors import UsageError

JETPACK6_ARCHS = frozenset({87})
JETPACK6_PTXAS_ENV = "EDGEATTN_JETPACK6_PTXAS"
JETPACK6_CUDA = (12, 6)
INSTALL_HINT = (
    "Install CUDA 12.6's ptxas: `pip install nvidia-cuda-nvcc-cu12==12.6.85` into this environment, or "
    f"`pip install --target DIR nvidia-cuda-nvcc-cu12==12.6.85` and set {JETPACK6_PTXAS_ENV}="
    "DIR/nvidia/cuda_nvcc/bin/ptxas."
)


def ptxas_version(ptxas: Path) -> tuple[int, int]:
    """The CUDA release of a ptxas binary, e.g. (12, 6)."""
    try:
        text = subprocess.run([str(ptxas), "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise UsageError(f"Cannot run ptxas {ptxas}: {exc}.", INSTALL_HINT) from exc
    match = re.search(r"release (\d+)\.(\d+)", text)
    if match is None:
        raise UsageError(f"{ptxas} --version names no CUDA release.", INSTALL_HINT)
    return int(match.group(1)), int(match.group(2))


def _installed_nvcc_ptxas() -> Path | None:
    spec = importlib.util.find_spec("nvidia.cuda_nvcc") if importlib.util.find_spec("nvidia") else None
    if spec is None or not spec.submodule_search_locations:
        return None
    candidate = Path(next(iter(spec.submodule_search_locations))) / "bin" / "ptxas"
    return candidate if candidate.is_file() else None


def jetpack6_ptxas() -> Path:
    """CUDA 12.6's ptxas: $EDGEATTN_JETPACK6_PTXAS, else the installed nvidia-cuda-nvcc-cu12 package."""
    configured = os.environ.get(JETPACK6_PTXAS_ENV)
    ptxas = Path(configured) if configured else _installed_nvcc_ptxas()
    if ptxas is None or not ptxas.is_file():
        where = f"{JETPACK6_PTXAS_ENV}={configured} is not a file" if configured else "no CUDA 12.6 ptxas found"
        raise UsageError(f"sm_87 cubins for JetPack 6 need CUDA 12.6's ptxas ({where}).", INSTALL_HINT)
    version = ptxas_version(ptxas)
    if version[0] != JETPACK6_CUDA[0] or version[1] > JETPACK6_CUDA[1]:
        raise UsageError(
            f"{ptxas} is CUDA {version[0]}.{version[1]}; JetPack 6 drivers need cubins from CUDA 12.0-12.6 ptxas.",
            INSTALL_HINT,
        )
    return ptxas


def ptxas_environment(arch: int, environ: dict[str, str]) -> dict[str, str]:
    """Environment of a compile process for sm_<arch>: no interpreter, the right ptxas, no line info
    (cubins without it are about 4x smaller; line info only serves source-level profiling)."""
    env = {k: v for k, v in environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_DISABLE_LINE_INFO"] = "1"
    if arch in JETPACK6_ARCHS:
        env["TRITON_PTXAS_PATH"] = str(jetpack6_ptxas())
    return env
