"""The profiling backends by name, in priority order, with the reason each one cannot run here."""

from __future__ import annotations

from edgeattn.errors import UsageError
from edgeattn.runners.base import Runner
from edgeattn.runners.ort import OrtRunner
from edgeattn.runners.tensorrt import TensorRTRunner
from edgeattn.runners.torch_runners import TorchCpuRunner, TorchCudaRunner, TorchCudaTritonRunner

RUNNERS: dict[str, type[Runner]] = {
    cls.name: cls for cls in (OrtRunner, TorchCpuRunner, TorchCudaRunner, TorchCudaTritonRunner, TensorRTRunner)
}


def runner_class(backend: str) -> type[Runner]:
    """The runner class for a backend name; UsageError listing the known names otherwise."""
    try:
        return RUNNERS[backend]
    except KeyError:
        raise UsageError(f"unknown backend {backend!r}", f"Choose one of: {', '.join(RUNNERS)}.") from None


def backend_availability() -> list[tuple[str, bool, str]]:
    """(backend, ok, reason) for every runner, in priority order."""
    return [(name, *cls.can_run()) for name, cls in RUNNERS.items()]
