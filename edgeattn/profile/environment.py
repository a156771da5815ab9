"""Where a measurement was taken: CPU, GPU, thread counts and library versions."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

_VERSIONED = ("edgeattn", "torch", "onnx", "onnxruntime", "numpy", "timm", "triton", "tensorrt")


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo, falling back to the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages that affect timings (None when not installed)."""
    versions: dict[str, str | None] = {}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def gpu_name() -> str | None:
    """Name of CUDA device 0, or None when torch sees no CUDA device."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_name(0)


def _load_average() -> float | None:
    """1-minute load average at collection time: other work on a shared machine skews timings."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def collect_environment(threads: int | None) -> dict[str, object]:
    """Describe this machine for a run record; `threads` is the thread count the runner was given."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    return {
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count() or 1,
        "usable_cpus": usable,
        "threads": threads,
        "load_average_1m": _load_average(),
        "gpu": gpu_name(),
        "python": platform.python_version(),
        "versions": package_versions(),
    }
