"""What to profile: a bundle folder from ``edgeattn export``, an ONNX file, or a registry model name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from edgeattn.bundle_files import MANIFEST, verify_bundle
from edgeattn.errors import EdgeattnError, UsageError

MODEL_FILE = "model.onnx"
DEFAULT_SEED = 42
EXPORT_EXAMPLE_BATCH = 2
"""Example batch for on-the-fly exports: torch.export specialises a dynamic dim whose example size is 1."""


@dataclass
class ModelSource:
    """A model ready for runners: an ONNX file and/or a torch module factory, with its input shapes."""

    name: str
    origin: str
    """"bundle", "onnx" or "registry"."""
    input_shapes: dict[str, tuple[int, ...]]
    output_names: list[str]
    onnx_path: Path | None = None
    input_dtypes: dict[str, str] = field(default_factory=dict)
    """numpy dtype name per input; float32 when absent."""
    torch_factory: Callable[[], Any] | None = None
    """Returns the torch module (registry models only)."""
    params: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def input_names(self) -> list[str]:
        return list(self.input_shapes)

    def feeds(self, seed: int = DEFAULT_SEED) -> dict[str, np.ndarray]:
        """Deterministic random inputs (standard normal, in each input's float dtype)."""
        rng = np.random.default_rng(seed)
        feeds = {}
        for name, shape in self.input_shapes.items():
            dtype = np.dtype(self.input_dtypes.get(name, "float32"))
            if dtype.kind != "f":
                raise UsageError(f"input {name!r} of {self.name} has dtype {dtype}; random inputs are only "
                                 "generated for float inputs",
                                 "profile models with integer inputs (e.g. voxel indices) from their own scripts")
            feeds[name] = rng.standard_normal(shape, dtype=np.float32).astype(dtype)
        return feeds


def onnx_io(path: Path, batch: int) -> tuple[dict[str, tuple[int, ...]], dict[str, str], list[str], int]:
    """Input shapes (leading dynamic dim set to ``batch``), input dtypes, output names and parameter count."""
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and friends: the file is not an ONNX model
        raise EdgeattnError(f"{path} is not a readable ONNX model ({type(exc).__name__})",
                            "Export it again; the file may be truncated or not ONNX.") from None
    initializers = {i.name for i in model.graph.initializer}
    shapes: dict[str, tuple[int, ...]] = {}
    dtypes: dict[str, str] = {}
    for graph_input in model.graph.input:
        if graph_input.name in initializers:
            continue
        elem_type = graph_input.type.tensor_type.elem_type
        dtypes[graph_input.name] = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type)).name
        dims = []
        for axis, dim in enumerate(graph_input.type.tensor_type.shape.dim):
            if dim.HasField("dim_value"):
                dims.append(dim.dim_value)
            elif axis == 0:
                dims.append(batch)
            else:
                raise UsageError(f"input {graph_input.name!r} of {path} has a dynamic axis {axis} besides batch",
                                 "export it with static spatial sizes (edgeattn export --img-size N)")
        shapes[graph_input.name] = tuple(dims)
    for name, shape in shapes.items():
        if shape and shape[0] != batch:
            raise UsageError(f"{path} has a fixed batch of {shape[0]} for input {name!r}, not {batch}",
                             f"re-export with --dynamic-batch or --batch {batch}, or profile with --batch {shape[0]}")
    params = sum(int(np.prod(i.dims)) for i in model.graph.initializer
                 if i.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16) and len(i.dims) > 0)
    return shapes, dtypes, [o.name for o in model.graph.output], params


def _bundle_name(folder: Path, graph: str) -> str:
    """The model name of a bundle whose files match its manifest (a folder without one: the folder name)."""
    if not (folder / MANIFEST).is_file():
        return folder.name
    return str(verify_bundle(folder, require=(graph,))["model"].get("name", folder.name))


def _registry_model(name: str, seed: int) -> tuple[Any, tuple[int, int, int]]:
    """A registry model (random init with ``seed``, eval mode) and its (C, H, W) input size."""
    from edgeattn.backbones.registry import get_spec
    from edgeattn.backbones.weights import create_model

    spec = get_spec(name)
    return create_model(spec, seed=seed)[0], spec.input_size


def resolve_source(bundle_or_model: str, batch: int, need_onnx: bool, workdir: Path,
                   resolution: int | None = None, seed: int = 0, graph: str = MODEL_FILE) -> ModelSource:
    """Turn the command-line argument into a ModelSource.

    A folder must hold ``model.onnx`` (and usually ``manifest.json``); a ``.onnx`` path is used as is;
    anything else is a registry model name, exported on the fly into ``workdir`` when an ONNX runner
    needs it (``edgeattn.exporters.pipeline.export`` with a dynamic batch) and otherwise run in torch.
    """
    path = Path(bundle_or_model)
    if graph != MODEL_FILE and not path.is_dir():
        raise UsageError(f"--graph/--flavour pick a graph inside a bundle; {bundle_or_model} is not a bundle folder",
                         "Pass a bundle folder, or drop --graph/--flavour.")
    if path.is_dir():
        model_path = path / graph
        if not model_path.is_file():
            present = ", ".join(sorted(p.name for p in path.glob("*.onnx"))) or "none"
            raise UsageError(f"{path} has no {graph} (ONNX files there: {present})",
                             "Pick a graph the bundle has with --graph/--flavour, or re-export with that precision.")
        name = _bundle_name(path, graph)
        shapes, dtypes, outputs, params = onnx_io(model_path, batch)
        return ModelSource(name, "bundle", shapes, outputs, onnx_path=model_path,
                           input_dtypes=dtypes, params=params)
    if path.suffix == ".onnx":
        if not path.is_file():
            raise UsageError(f"ONNX file not found: {path}", "check the path")
        shapes, dtypes, outputs, params = onnx_io(path, batch)
        return ModelSource(path.stem, "onnx", shapes, outputs, onnx_path=path, input_dtypes=dtypes, params=params)

    module, input_size = _registry_model(bundle_or_model, seed)
    size = resolution or input_size[-1]
    params = sum(p.numel() for p in module.parameters())
    source = ModelSource(bundle_or_model, "registry", {"image": (batch, input_size[0], size, size)}, ["logits"],
                         torch_factory=lambda: module, params=params)
    if need_onnx:
        from edgeattn.exporters.pipeline import export

        bundle = export(bundle_or_model, target="cpu-x86", out=workdir / f"{bundle_or_model}-bundle",
                        batch=EXPORT_EXAMPLE_BATCH, dynamic_batch=True, resolution=size, seed=seed, force=True)
        source.onnx_path = Path(bundle.path) / MODEL_FILE
        source.notes.append("exported on the fly with edgeattn.exporters.pipeline.export (portable ONNX)")
        shapes, dtypes, outputs, _ = onnx_io(source.onnx_path, batch)
        source.input_shapes, source.input_dtypes, source.output_names = shapes, dtypes, outputs
    return source
