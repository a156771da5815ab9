"""A deserialised TensorRT engine (TRT 10/11 Python API) with CUDA buffers in torch tensors.

Imported only by the tensorrt backend, after it checked that tensorrt and a CUDA device exist.
Per call: input shapes are set when they change (`set_input_shape`; output buffers are then sized
from the context), inputs are copied to the device on the engine's own stream, `execute_async_v3`
runs (or a CUDA graph captured for that set of shapes replays), outputs come back as numpy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgeattn.errors import EdgeattnError, UsageError
from edgeattn.runtime.backends import Engine, Feeds


def load_plugin_library(trt: Any, path: Path) -> Any:
    """Load a `getCreators` plugin library through TensorRT's registry (what trtexec --dynamicPlugins does)."""
    handle = trt.get_plugin_registry().load_library(str(path))
    if handle is None:
        raise EdgeattnError(
            f"TensorRT could not load the plugin library {path}",
            "Build it on this device for this TensorRT version (see the bundle README); a library that "
            "registers its creators statically must be preloaded instead (LD_PRELOAD).")
    return handle


class TensorRTEngine(Engine):
    backend = "tensorrt"

    def __init__(self, path: Path, plugin_library: Path | None, cuda_graph: bool, max_batch: int | None) -> None:
        import tensorrt as trt
        import torch

        self._trt, self._torch = trt, torch
        self.logger = trt.Logger(trt.Logger.WARNING)
        self._plugins = load_plugin_library(trt, plugin_library) if plugin_library else None
        self._runtime = trt.Runtime(self.logger)
        self.engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise EdgeattnError(f"TensorRT {trt.__version__} could not deserialise {path.name}",
                                "Engines load only on the TensorRT version and GPU that built them: rebuild "
                                "with ./build_engine.sh here (plugin engines also need their library).")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        is_input = {n: self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        self.input_names = [n for n in names if is_input[n]]
        self.output_names = [n for n in names if not is_input[n]]
        self.output_shapes = {n: [d if d >= 0 else None for d in self.engine.get_tensor_shape(n)]
                              for n in self.output_names}
        self._np_dtypes = {n: np.dtype(trt.nptype(self.engine.get_tensor_dtype(n))) for n in names}
        self.max_batch = max_batch or self._profile_max_batch()
        self.cuda_graph = cuda_graph
        self.stream = torch.cuda.Stream()
        self._bound: tuple | None = None
        self._buffers: dict[str, Any] = {}
        self._graphs: dict[tuple, Any] = {}
        plugins = f", plugins {plugin_library.name}" if plugin_library else ""
        self.description = f"TensorRT {trt.__version__}, {path.name}{plugins}" + (", CUDA graphs" if cuda_graph else "")

    def _profile_max_batch(self) -> int | None:
        first = self.input_names[0]
        if tuple(self.engine.get_tensor_shape(first))[0] != -1:
            return None
        _, _, high = self.engine.get_tensor_profile_shape(first, 0)
        return int(high[0])

    def run(self, feeds: Feeds) -> Feeds:
        torch = self._torch
        key = tuple((n, tuple(feeds[n].shape)) for n in self.input_names)
        if key != self._bound:
            self._bind(key)
        with torch.cuda.stream(self.stream):
            for name in self.input_names:
                host = torch.from_numpy(np.ascontiguousarray(feeds[name], dtype=self._np_dtypes[name]))
                self._buffers[name].copy_(host, non_blocking=False)
            if self.cuda_graph:
                self._replay(key)
            elif not self.context.execute_async_v3(self.stream.cuda_stream):
                raise EdgeattnError("TensorRT execution failed (see the TensorRT log above)",
                                    "Check the input shapes against the engine's optimisation profile.")
        self.stream.synchronize()
        return {n: _to_numpy(self._buffers[n]) for n in self.output_names}

    def _bind(self, key: tuple) -> None:
        torch = self._torch
        for name, shape in key:
            if not self.context.set_input_shape(name, shape):
                low, _, high = self.engine.get_tensor_profile_shape(name, 0)
                raise UsageError(f"input {name} of shape {list(shape)} is outside the engine's profile "
                                 f"({list(low)} .. {list(high)})",
                                 "Re-export / rebuild the engine with a profile covering this shape.")
        self._buffers = {}
        for name in self.input_names + self.output_names:
            shape = tuple(self.context.get_tensor_shape(name))
            if any(d < 0 for d in shape):
                raise EdgeattnError(f"output {name} has a data-dependent shape {list(shape)}",
                                    "edgeattn bundles have shape-determined outputs; rebuild the engine.")
            dtype = torch.from_numpy(np.zeros(0, dtype=self._np_dtypes[name])).dtype
            self._buffers[name] = torch.empty(shape, dtype=dtype, device="cuda")
            self.context.set_tensor_address(name, self._buffers[name].data_ptr())
        self._bound = key
        self._graphs.clear()

    def _replay(self, key: tuple) -> None:
        """Capture the enqueue for this set of shapes once (after one plain enqueue), then replay it."""
        torch = self._torch
        graph = self._graphs.get(key)
        if graph is None:
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise EdgeattnError("TensorRT execution failed before CUDA-graph capture", "Run with cuda_graph=False.")
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, stream=self.stream):
                self.context.execute_async_v3(self.stream.cuda_stream)
            self._graphs[key] = graph
        graph.replay()

    def close(self) -> None:
        self._graphs.clear()
        self._buffers.clear()
        self.context = None
        self.engine = None


def _to_numpy(tensor: Any) -> np.ndarray:
    array = tensor.cpu().numpy()
    return array.astype(np.float32, copy=False) if np.issubdtype(array.dtype, np.floating) else array
