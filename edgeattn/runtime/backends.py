"""Backends of a runtime session, each with a reason when it cannot run (priority: tensorrt, onnxruntime).

A backend opens an `Engine`: named numpy inputs in, named numpy outputs out. `select_backend` walks
the priority list for backend="auto" and, when nothing fits, says why each backend refused.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from edgeattn.errors import MissingDependencyError, UsageError
from edgeattn.runtime.bundle import PLUGIN_LIBRARY, BundleInfo, EngineFile
from edgeattn.runtime.options import RuntimeOptions

Feeds = dict[str, np.ndarray]

_ORT_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
               "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(bool)": np.bool_,
               "tensor(uint8)": np.uint8, "tensor(int8)": np.int8}


class Engine(ABC):
    """An opened graph or engine."""

    backend: ClassVar[str]
    description: str
    input_names: list[str]
    output_names: list[str]
    output_shapes: dict[str, list[int | None]]
    """Declared output shapes (None for a dynamic dimension)."""
    max_batch: int | None
    """Largest batch one call takes (dynamic-batch graphs); None: no limit or a static batch."""

    @abstractmethod
    def run(self, feeds: Feeds) -> Feeds:
        """One call: numpy arrays by input name -> float32 (or integer) arrays by output name."""

    def close(self) -> None:
        """Release the engine's memory."""


class Backend(ABC):
    name: ClassVar[str]

    @classmethod
    @abstractmethod
    def can_run(cls, bundle: BundleInfo, options: RuntimeOptions) -> tuple[bool, str]:
        """(True, "") when this backend can run the bundle here, else (False, why not and what to do)."""

    @classmethod
    @abstractmethod
    def open(cls, bundle: BundleInfo, options: RuntimeOptions) -> Engine:
        """Open the bundle's graph or engine (call after `can_run` said yes)."""


class OnnxRuntimeEngine(Engine):
    backend = "onnxruntime"

    def __init__(self, path: Path, threads: int | None, max_batch: int | None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                     if p in ort.get_available_providers()]
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        inputs = self.session.get_inputs()
        self.input_names = [i.name for i in inputs]
        outputs = self.session.get_outputs()
        self.output_names = [o.name for o in outputs]
        self.output_shapes = {o.name: [d if isinstance(d, int) else None for d in o.shape] for o in outputs}
        self._dtypes = {i.name: _ORT_DTYPES.get(i.type, np.float32) for i in inputs}
        first = inputs[0].shape[0] if inputs[0].shape else None
        self.max_batch = max_batch if not isinstance(first, int) else None
        provider = self.session.get_providers()[0]
        self.description = f"onnxruntime {ort.__version__} {provider}, {path.name}"

    def run(self, feeds: Feeds) -> Feeds:
        typed = {n: np.ascontiguousarray(feeds[n], dtype=self._dtypes[n]) for n in self.input_names}
        outputs = self.session.run(self.output_names, typed)
        return {n: _as_float32(v) for n, v in zip(self.output_names, outputs)}

    def close(self) -> None:
        self.session = None


class OnnxRuntimeBackend(Backend):
    """ONNX Runtime on the bundle's portable graph (CUDA when onnxruntime-gpu is installed, else CPU)."""

    name = "onnxruntime"

    @classmethod
    def can_run(cls, bundle: BundleInfo, options: RuntimeOptions) -> tuple[bool, str]:
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return False, "onnxruntime is not installed (`pip install onnxruntime`, or onnxruntime-gpu)"
        if options.flavour == "plugins":
            return False, "ONNX Runtime runs the portable graph only (edgeattn plugin nodes are TensorRT plugins)"
        try:
            bundle.onnx_file(options.precision or bundle.precision)
        except UsageError as error:
            return False, error.what
        return True, ""

    @classmethod
    def open(cls, bundle: BundleInfo, options: RuntimeOptions) -> Engine:
        path = bundle.onnx_file(options.precision or bundle.precision)
        return OnnxRuntimeEngine(path, options.threads, options.max_batch)


class TensorRTBackend(Backend):
    """A TensorRT engine built on this device by the bundle's build_engine.sh, plugins loaded, CUDA via torch."""

    name = "tensorrt"

    @classmethod
    def can_run(cls, bundle: BundleInfo, options: RuntimeOptions) -> tuple[bool, str]:
        found, reason = _tensorrt_and_gpu()
        if found is None:
            return False, reason
        trt_version, arch = found
        engine, reason = pick_engine(bundle, options, trt_version, arch)
        if engine is None:
            return False, reason
        if engine.flavour == "plugins":
            library = plugin_library(bundle, options)
            if not library.is_file():
                return False, (f"{engine.path.name} needs the edgeattn plugin library, not found at {library} "
                               "(build it on the device, or set plugin_library / EDGEATTN_PLUGIN_LIB)")
        return True, ""

    @classmethod
    def open(cls, bundle: BundleInfo, options: RuntimeOptions) -> Engine:
        from edgeattn.runtime.trt_engine import TensorRTEngine

        found, reason = _tensorrt_and_gpu()
        if found is None:
            raise MissingDependencyError(f"backend tensorrt cannot run here: {reason}", "Use backend='onnxruntime'.")
        engine, reason = pick_engine(bundle, options, *found)
        if engine is None:
            raise UsageError(reason, "Run ./build_engine.sh in the bundle on this device first.")
        library = plugin_library(bundle, options) if engine.flavour == "plugins" else None
        return TensorRTEngine(engine.path, library, options.cuda_graph, options.max_batch)


def _tensorrt_and_gpu() -> tuple[tuple[str, str] | None, str]:
    """((TensorRT "major.minor", "sm_XY"), "") or (None, why TensorRT cannot run here)."""
    try:
        import tensorrt
    except ImportError:
        return None, ("the tensorrt Python package is not installed (JetPack ships it: "
                      "`sudo apt install python3-libnvinfer`; x86: `pip install tensorrt` for your CUDA driver)")
    except OSError as exc:
        return None, f"the tensorrt Python package is installed but libnvinfer failed to load ({exc})"
    try:
        import torch
    except ImportError:
        return None, "torch is not installed (the tensorrt backend keeps its CUDA buffers in torch tensors)"
    if not torch.cuda.is_available():
        return None, "no CUDA device is visible to torch (needs an NVIDIA GPU, its driver and a CUDA build of torch)"
    major, minor = tensorrt.__version__.split(".")[:2]
    cc_major, cc_minor = torch.cuda.get_device_capability(0)
    return (f"{major}.{minor}", f"sm_{cc_major}{cc_minor}"), ""


def pick_engine(bundle: BundleInfo, options: RuntimeOptions, trt_version: str,
                arch: str) -> tuple[EngineFile | None, str]:
    """The engine to load for this TensorRT version and GPU, or (None, why there is none).

    An explicit `options.engine` wins. Otherwise the bundle's engines for `trt_version` and `arch`
    at the requested precision (default: the bundle's) are candidates; the plugins flavour is
    preferred when its library is present, unless `options.flavour` says otherwise.
    """
    if options.engine is not None:
        path = options.engine if options.engine.is_absolute() else bundle.path / options.engine
        if not path.is_file():
            return None, f"engine file {path} does not exist"
        parsed = EngineFile.parse(path)
        return parsed or EngineFile(path, options.flavour or "portable", options.precision or bundle.precision,
                                    trt_version, arch), ""
    precision = options.precision or bundle.precision
    all_engines = bundle.engines()
    here = [e for e in all_engines if e.trt_version == trt_version and e.arch == arch and e.precision == precision]
    if options.flavour:
        here = [e for e in here if e.flavour == options.flavour]
    if not here:
        others = ", ".join(e.path.name for e in all_engines) or "none"
        return None, (f"no {precision} engine for TensorRT {trt_version} on {arch} in {bundle.path} "
                      f"(engines there: {others}); run ./build_engine.sh in the bundle on this device")
    if len(here) > 1 and plugin_library(bundle, options).is_file():
        return next(e for e in here if e.flavour == "plugins"), ""
    return next((e for e in here if e.flavour == "portable"), here[0]), ""


def plugin_library(bundle: BundleInfo, options: RuntimeOptions) -> Path:
    """options.plugin_library, else $EDGEATTN_PLUGIN_LIB, else the bundle's plugins/libedgeattn_plugins.so."""
    if options.plugin_library is not None:
        return options.plugin_library
    env = os.environ.get("EDGEATTN_PLUGIN_LIB")
    path = Path(env) if env else Path(PLUGIN_LIBRARY)
    return path if path.is_absolute() else bundle.path / path


BACKENDS: dict[str, type[Backend]] = {cls.name: cls for cls in (TensorRTBackend, OnnxRuntimeBackend)}
"""In priority order for backend="auto"."""


def backend_availability(bundle: BundleInfo, options: RuntimeOptions) -> list[tuple[str, bool, str]]:
    """(backend, ok, reason) for every backend, in priority order."""
    return [(name, *cls.can_run(bundle, options)) for name, cls in BACKENDS.items()]


def select_backend(bundle: BundleInfo, options: RuntimeOptions) -> type[Backend]:
    """The backend to open: the one asked for, or the first in priority order that can run."""
    if options.backend != "auto":
        if options.backend not in BACKENDS:
            raise UsageError(f"unknown runtime backend {options.backend!r}",
                             f"Choose auto, {', '.join(BACKENDS)}.")
        cls = BACKENDS[options.backend]
        ok, reason = cls.can_run(bundle, options)
        if not ok:
            others = [n for n in BACKENDS if n != cls.name]
            raise MissingDependencyError(f"backend {cls.name} cannot run {bundle.path}: {reason}",
                                         f"Use backend='auto' or {', '.join(others)}.")
        return cls
    refusals = []
    for name, ok, reason in backend_availability(bundle, options):
        if ok:
            return BACKENDS[name]
        refusals.append(f"{name}: {reason}")
    raise MissingDependencyError(f"no backend can run {bundle.path}: " + "; ".join(refusals),
                                 "Install what the first reason names (onnxruntime runs everywhere).")


def _as_float32(value: Any) -> np.ndarray:
    array = np.asarray(value)
    return array.astype(np.float32, copy=False) if np.issubdtype(array.dtype, np.floating) else array
