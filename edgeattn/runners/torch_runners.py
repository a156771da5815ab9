"""Eager PyTorch runners: CPU, CUDA, and CUDA with the edgeattn ops on their Triton kernels."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np

from edgeattn.errors import EdgeattnError
from edgeattn.runners.base import Feeds, Runner, default_threads


class _TorchRunner(Runner):
    """Shared code of the eager PyTorch runners."""

    needs = "torch"
    device: ClassVar[str]

    def __init__(self, module: Any, input_names: list[str], output_names: list[str] | None = None) -> None:
        super().__init__()
        self.module = module
        self.input_names = list(input_names)
        self.output_names = list(output_names or [])

    def _outputs(self, result: Any) -> Feeds:
        import torch

        tensors = [result] if isinstance(result, torch.Tensor) else list(result)
        names = self.output_names or [f"output_{i}" for i in range(len(tensors))]
        if len(names) != len(tensors):
            raise EdgeattnError(f"model returned {len(tensors)} outputs but {len(names)} names are known",
                                "check the bundle manifest's output list")
        return {n: t.detach().float().cpu().numpy() for n, t in zip(names, tensors)}


class TorchCpuRunner(_TorchRunner):
    """Eager PyTorch on CPU, inference mode, fp32, with ``torch.set_num_threads(threads)``."""

    name = "torch-cpu"
    device = "cpu"

    def __init__(self, module: Any, input_names: list[str], output_names: list[str] | None = None,
                 threads: int | None = None) -> None:
        super().__init__(module, input_names, output_names)
        self.threads = threads or default_threads()
        self._previous_threads: int | None = None

    @classmethod
    def can_run(cls) -> tuple[bool, str]:
        try:
            import torch  # noqa: F401
        except ImportError:
            return False, "torch not installed; `pip install torch`"
        return True, ""

    def _prepare(self) -> None:
        import torch

        self._previous_threads = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        self.module = self.module.eval().to("cpu")

    def _infer(self, feeds: Feeds) -> Feeds:
        import torch

        with torch.inference_mode():
            args = [torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in self.input_names]
            return self._outputs(self.module(*args))

    def close(self) -> None:
        import torch

        if self._previous_threads is not None:
            torch.set_num_threads(self._previous_threads)
            self._previous_threads = None
        super().close()


def cuda_reason() -> str:
    try:
        import torch
    except ImportError:
        return "torch not installed; `pip install torch` (a CUDA build)"
    if not torch.cuda.is_available():
        return "no CUDA device visible to torch (needs an NVIDIA GPU, its driver and a CUDA build of torch)"
    return ""


def _triton_backend_switch() -> tuple[Callable[[str], Any] | None, str]:
    """edgeattn's op-backend switch ``use_backend``, or (None, why it is unavailable)."""
    try:
        from edgeattn.ops.backends import use_backend
    except ImportError:
        return None, "edgeattn.ops.backends.use_backend is not available in this edgeattn version"
    try:
        import triton  # noqa: F401
    except ImportError:
        return None, "triton not installed; `pip install triton`"
    return use_backend, ""


class TorchCudaRunner(_TorchRunner):
    """Eager PyTorch on CUDA device 0, fp32; memory is CUDA max allocated."""

    name = "torch-cuda"
    device = "cuda"
    memory_kind = "cuda_max_allocated"

    @classmethod
    def can_run(cls) -> tuple[bool, str]:
        reason = cuda_reason()
        return (not reason), reason

    def _prepare(self) -> None:
        self.module = self.module.eval().to("cuda")

    def _forward(self, args: list[Any]) -> Any:
        return self.module(*args)

    def _infer(self, feeds: Feeds) -> Feeds:
        import torch

        with torch.inference_mode():
            args = [torch.from_numpy(np.ascontiguousarray(feeds[n])).to("cuda") for n in self.input_names]
            result = self._forward(args)
            torch.cuda.synchronize()
            return self._outputs(result)

    @contextlib.contextmanager
    def track_memory(self) -> Iterator[dict[str, Any]]:
        import torch

        record: dict[str, Any] = {"kind": self.memory_kind}
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated()
        yield record
        torch.cuda.synchronize()
        record.update(peak_bytes=max(0, torch.cuda.max_memory_allocated() - start),
                      method="torch.cuda.max_memory_allocated above start")

    def close(self) -> None:
        self.module = self.module.to("cpu")
        super().close()


class TorchCudaTritonRunner(TorchCudaRunner):
    """Eager PyTorch on CUDA with attention modules swapped for edgeattn ops running Triton kernels.

    ``prepare()`` applies ``edgeattn.ops.rewrite.rewrite_model`` (same weights; ``swaps`` lists what
    changed) and every run goes through ``use_backend("triton")`` (reference fallback per call).
    """

    name = "torch-cuda-triton"

    def __init__(self, module: Any, input_names: list[str], output_names: list[str] | None = None) -> None:
        super().__init__(module, input_names, output_names)
        self.swaps: list[str] = []

    def _prepare(self) -> None:
        from edgeattn.ops.rewrite import rewrite_model

        self.module, self.swaps = rewrite_model(self.module)
        super()._prepare()

    @classmethod
    def can_run(cls) -> tuple[bool, str]:
        reason = cuda_reason()
        if reason:
            return False, reason
        switch, why = _triton_backend_switch()
        return switch is not None, why

    def _forward(self, args: list[Any]) -> Any:
        switch, _ = _triton_backend_switch()
        assert switch is not None
        with switch("triton"):
            return self.module(*args)
