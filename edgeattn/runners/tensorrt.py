"""TensorRT's Python runtime: deserialise an engine (or build one from ONNX) and run it on torch buffers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgeattn.errors import EdgeattnError, UsageError
from edgeattn.runners.base import Feeds, Runner
from edgeattn.runners.torch_runners import TorchCudaRunner, cuda_reason

TENSORRT_MISSING = (
    "tensorrt Python package not installed; install it on the target (JetPack ships it), or on x86 "
    "`pip install tensorrt` matching the CUDA driver"
)


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
        reason = cuda_reason()
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
                                "Free GPU memory, or build the engine with the bundle's build_engine.sh (it caps the workspace per target).")
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
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.input_names = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.output_names = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
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
