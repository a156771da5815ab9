"""Runners: one class per backend, all with the same small interface.

``can_run() -> (ok, reason)`` says whether the backend works on this machine, ``prepare()`` loads the
model, ``infer(feeds) -> outputs`` runs one batch (numpy in, numpy out) and appends its wall time in
milliseconds to ``timings_ms``, ``close()`` releases everything. Times are host-to-host: they include
copying inputs to the device and outputs back, and wait for the device to finish.
"""

from __future__ import annotations

import contextlib
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from edgeattn.errors import EdgeattnError, MissingDependencyError, UsageError
from edgeattn.profile.memory import PeakRss

if TYPE_CHECKING:
    from typing_extensions import Self

Feeds = dict[str, np.ndarray]

TENSORRT_MISSING = (
    "tensorrt Python package not installed; install it on the target (JetPack ships it), or on x86 "
    "`pip install tensorrt` matching the CUDA driver"
)


def default_threads() -> int:
    """Number of CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class Runner(ABC):
    """A backend that runs one model on numpy feeds and records the wall time of each run."""

    name: ClassVar[str]
    needs: ClassVar[str]
    """What the runner is built from: "onnx" (a model file) or "torch" (an nn.Module)."""
    memory_kind: ClassVar[str] = "host_rss_delta"

    def __init__(self) -> None:
        self.timings_ms: list[float] = []
        self.prepared = False

    @classmethod
    @abstractmethod
    def can_run(cls) -> tuple[bool, str]:
        """(True, "") when the backend works here, else (False, why not and how to fix it)."""

    @classmethod
    def require(cls) -> None:
        """Raise MissingDependencyError (with the reason) when the backend cannot run here."""
        ok, reason = cls.can_run()
        if not ok:
            raise MissingDependencyError(f"backend {cls.name} cannot run here: {reason}",
                                         "pick another --backend or install what is missing")

    def prepare(self) -> None:
        """Load the model; raises MissingDependencyError when the backend cannot run here."""
        self.require()
        self._prepare()
        self.prepared = True

    def infer(self, feeds: Feeds) -> Feeds:
        """Run one batch and record its wall time in ``timings_ms``."""
        if not self.prepared:
            raise UsageError(f"runner {self.name} used before prepare()", "call prepare() first")
        start = time.perf_counter_ns()
        outputs = self._infer(feeds)
        self.timings_ms.append((time.perf_counter_ns() - start) / 1e6)
        return outputs

    def close(self) -> None:
        """Release the model and any global state the runner changed."""
        self.prepared = False

    @contextlib.contextmanager
    def track_memory(self) -> Iterator[dict[str, Any]]:
        """Measure peak memory of the block (prepare and runs); fills the yielded dict on exit."""
        record: dict[str, Any] = {"kind": self.memory_kind}
        with PeakRss() as rss:
            yield record
        record.update(peak_bytes=rss.delta_bytes, method=f"peak RSS above the RSS before prepare() ({rss.method})")

    def reset_timings(self) -> None:
        """Forget recorded times (after warm-up)."""
        self.timings_ms.clear()

    @abstractmethod
    def _prepare(self) -> None: ...

    @abstractmethod
    def _infer(self, feeds: Feeds) -> Feeds: ...

    def __enter__(self) -> Self:
        self.prepare()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class OrtCpuRunner(Runner):
    """ONNX Runtime, CPU execution provider, all graph optimisations, explicit thread counts."""

    name = "ort-cpu"
    needs = "onnx"

    def __init__(self, onnx_path: str | Path, threads: int | None = None, inter_op_threads: int = 1,
                 profile_prefix: str | Path | None = None,
                 optimized_model_path: str | Path | None = None) -> None:
        super().__init__()
        self.onnx_path = Path(onnx_path)
        self.threads = threads or default_threads()
        self.inter_op_threads = inter_op_threads
        self.profile_prefix = profile_prefix
        self.optimized_model_path = optimized_model_path
        self.session: Any = None
        self._output_names: list[str] = []

    @classmethod
    def can_run(cls) -> tuple[bool, str]:
        try:
            import onnxruntime
        except ImportError:
            return False, "onnxruntime not installed; `pip install onnxruntime`"
        if "CPUExecutionProvider" not in onnxruntime.get_available_providers():
            return False, "this onnxruntime build has no CPUExecutionProvider"
        return True, ""

    def _prepare(self) -> None:
        import onnxruntime as ort

        if not self.onnx_path.is_file():
            raise UsageError(f"ONNX model not found: {self.onnx_path}", "pass a bundle folder or a model file")
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = self.inter_op_threads
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        if self.profile_prefix is not None:
            options.enable_profiling = True
            options.profile_file_prefix = str(self.profile_prefix)
        if self.optimized_model_path is not None:
            options.optimized_model_filepath = str(self.optimized_model_path)
        self.session = ort.InferenceSession(str(self.onnx_path), options, providers=["CPUExecutionProvider"])
        self._output_names = [o.name for o in self.session.get_outputs()]

    def _infer(self, feeds: Feeds) -> Feeds:
        return dict(zip(self._output_names, self.session.run(self._output_names, feeds)))

    def end_profiling(self) -> Path:
        """Stop ORT's profiler and return the path of its trace (JSON, Chrome trace format)."""
        if self.session is None or self.profile_prefix is None:
            raise UsageError("profiling was not enabled for this runner", "pass profile_prefix=...")
        return Path(self.session.end_profiling())

    def close(self) -> None:
        self.session = None
        super().close()


class _TorchRunner(Runner):
    """Shared code of the eager PyTorch runners."""

    needs = "torch"
    device: ClassVar[str]

    def __init__(self, module: Any, input_names: list[str], output_names: list[str] | None = None) -> None:
        super().__init__()
        self.module = module
        self.input_names = list(input_names)
        self.output_names = output_names

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


def _cuda_reason() -> str:
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
        reason = _cuda_reason()
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
        reason = _cuda_reason()
        if reason:
            return False, reason
        switch, why = _triton_backend_switch()
        return switch is not None, why

    def _forward(self, args: list[Any]) -> Any:
        switch, _ = _triton_backend_switch()
        assert switch is not None
        with switch("triton"):
            return self.module(*args)


class TensorRTRunner(Runner):
    """TensorRT Python runtime: deserialise an engine, or build one from ONNX (TRT 10/11 API).

    Buffers live in torch CUDA tensors and the engine runs with ``execute_async_v3`` on torch's
    current stream. Building from ONNX uses the precision written in the graph (strongly typed when
    the installed TensorRT supports it) and one optimisation profile fixed at the feed shapes.
    """

    name = "tensorrt"
    needs = "onnx"
    memory_kind = "cuda_max_allocated"

    def __init__(self, input_shapes: dict[str, tuple[int, ...]], onnx_path: str | Path | None = None,
                 engine_path: str | Path | None = None, workspace_mb: int = 1024) -> None:
        super().__init__()
        if (onnx_path is None) == (engine_path is None):
            raise UsageError("TensorRTRunner needs exactly one of onnx_path and engine_path",
                             "pass the bundle's model.onnx or a serialised engine (.engine/.plan)")
        self.input_shapes = {k: tuple(v) for k, v in input_shapes.items()}
        self.onnx_path = Path(onnx_path) if onnx_path else None
        self.engine_path = Path(engine_path) if engine_path else None
        self.workspace_mb = workspace_mb
        self.engine: Any = None
        self.context: Any = None
        self._buffers: dict[str, Any] = {}

    @classmethod
    def can_run(cls) -> tuple[bool, str]:
        try:
            import tensorrt  # noqa: F401
        except ImportError:
            return False, TENSORRT_MISSING
        reason = _cuda_reason()
        return (not reason), reason

    def _build_serialized(self, trt: Any, logger: Any) -> Any:
        builder = trt.Builder(logger)
        flags = 0
        if hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED"):
            flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse_from_file(str(self.onnx_path)):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise EdgeattnError(f"TensorRT could not parse {self.onnx_path}: {errors}",
                                "run `edgeattn export` with the plugin flavour's libraries loaded, or the "
                                "portable flavour")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, self.workspace_mb << 20)
        profile = builder.create_optimization_profile()
        for i in range(network.num_inputs):
            tensor = network.get_input(i)
            shape = self.input_shapes[tensor.name]
            profile.set_shape(tensor.name, shape, shape, shape)
        config.add_optimization_profile(profile)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise EdgeattnError("TensorRT failed to build an engine (see its log above)",
                                "on Jetson lower the workspace (--workspace-mb) or free memory")
        return serialized

    def _prepare(self) -> None:
        import tensorrt as trt
        import torch

        logger = trt.Logger(trt.Logger.WARNING)
        runtime = trt.Runtime(logger)
        if self.engine_path is not None:
            blob = self.engine_path.read_bytes()
        else:
            blob = self._build_serialized(trt, logger)
        self.engine = runtime.deserialize_cuda_engine(blob)
        if self.engine is None:
            raise EdgeattnError("TensorRT could not deserialise the engine",
                                "engines only load on the TensorRT version and GPU that built them")
        self.context = self.engine.create_execution_context()
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            if self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                self.context.set_input_shape(name, self.input_shapes[name])
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            dtype = torch.from_numpy(np.zeros(0, dtype=trt.nptype(self.engine.get_tensor_dtype(name)))).dtype
            shape = tuple(self.context.get_tensor_shape(name))
            self._buffers[name] = torch.empty(shape, dtype=dtype, device="cuda")
            self.context.set_tensor_address(name, self._buffers[name].data_ptr())

    def _infer(self, feeds: Feeds) -> Feeds:
        import tensorrt as trt
        import torch

        for name, value in feeds.items():
            self._buffers[name].copy_(torch.from_numpy(np.ascontiguousarray(value)))
        stream = torch.cuda.current_stream()
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise EdgeattnError("TensorRT execution failed (see its log above)", "check the input shapes")
        stream.synchronize()
        outputs: Feeds = {}
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            if self.engine.get_tensor_mode(name) == trt.TensorIOMode.OUTPUT:
                outputs[name] = self._buffers[name].float().cpu().numpy()
        return outputs

    track_memory = TorchCudaRunner.track_memory

    def close(self) -> None:
        self._buffers.clear()
        self.context = None
        self.engine = None
        super().close()


def bundle_engine(folder: Path) -> Path | None:
    """The engine `build_engine.sh` wrote in a bundle for this TensorRT version and GPU, if any.

    Its name is ``model.trt<major>.<minor>.sm_<cc>.engine``; engines from another TensorRT version
    or GPU architecture do not load, so they are ignored. Call only after ``TensorRTRunner.require()``.
    """
    import tensorrt
    import torch

    major, minor = tensorrt.__version__.split(".")[:2]
    cc_major, cc_minor = torch.cuda.get_device_capability(0)
    engine = Path(folder) / f"model.trt{major}.{minor}.sm_{cc_major}{cc_minor}.engine"
    return engine if engine.is_file() else None


RUNNERS: dict[str, type[Runner]] = {
    cls.name: cls for cls in (OrtCpuRunner, TorchCpuRunner, TorchCudaRunner, TorchCudaTritonRunner, TensorRTRunner)
}


def runner_class(backend: str) -> type[Runner]:
    """The runner class for a backend name; UsageError listing the known names otherwise."""
    try:
        return RUNNERS[backend]
    except KeyError:
        raise UsageError(f"unknown backend {backend!r}",
                         f"choose one of: {', '.join(RUNNERS)}") from None


def backend_availability() -> list[tuple[str, bool, str]]:
    """(backend, ok, reason) for every runner, in priority order."""
    return [(name, *cls.can_run()) for name, cls in RUNNERS.items()]
