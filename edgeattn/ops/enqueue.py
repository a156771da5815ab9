"""What a plugin's enqueue is checked with on a GPU: inputs, fields, the reference, the Triton launch.

One `EnqueueCase` per (spec.yaml case, I/O type combination the plugin accepts). Float combinations of
an op whose plugin inputs are its spec inputs come from `float_case`; anything else (INT8 inputs with
their scales, extra inputs) from the op's own `PluginKernels.enqueue_case`, built with the helpers here.
`edgeattn.plugins.enqueue` lists the cases; `benchmarks/plugin_enqueue.py` runs them through the enqueue
harness (tests/plugins/harness) and compares with `expected`.
"""


from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edgeattn.errors import UsageError

TORCH_TYPES = {"kFLOAT": "float32", "kHALF": "float16", "kINT8": "int8", "kINT32": "int32", "kINT64": "int64"}
"""torch dtype names of the TensorRT types plugins exchange."""


@dataclass
class EnqueueCase:
    """One enqueue check of a plugin.

    io_types: TensorRT type names, inputs then outputs (one accepted combination).
    attributes: the plugin node's attributes (the fields), INT8 scales matching `inputs`.
    inputs: tensors in plugin input order, of `io_types`; outputs: buffers the plugin writes (NaN-filled).
    expected: fp32 reference outputs; atol/rtol: the comparison's tolerance; reference: which one it is.
    triton: launches the op's Triton kernel from Python on the same inputs (timed against the plugin).
    """

    op: str
    case_id: str
    batch: int
    io_types: tuple[str, ...]
    attributes: dict[str, Any]
    inputs: tuple[Any, ...]
    outputs: tuple[Any, ...]
    expected: tuple[Any, ...]
    atol: float
    rtol: float
    reference: str
    triton: Callable[[], Any]


def torch_dtype(trt_type: str) -> Any:
    """The torch dtype of a TensorRT type name."""
    import torch

    if trt_type not in TORCH_TYPES:
        raise UsageError(f"No torch dtype for TensorRT type {trt_type}.", f"Use one of: {', '.join(TORCH_TYPES)}.")
    return getattr(torch, TORCH_TYPES[trt_type])


def poisoned(shape: Any, trt_type: str, device: str) -> Any:
    """An output buffer an unwritten element shows up in: NaN for floats, -128 for int8."""
    import torch

    dtype = torch_dtype(trt_type)
    fill = float("nan") if dtype.is_floating_point else torch.iinfo(dtype).min
    return torch.full(tuple(shape), fill, dtype=dtype, device=device)


def _upcast(value: Any) -> Any:
    import torch

    return value.float() if isinstance(value, torch.Tensor) and value.is_floating_point() else value


def _as_tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, tuple | list) else (value,)


def generic_case_applies(op: Any, io_types: tuple[str, ...]) -> bool:
    """Whether `float_case` covers `io_types`: float types only, the plugin's inputs being the spec inputs."""
    return set(io_types) <= {"kFLOAT", "kHALF"} and len(io_types) > len(op.spec.inputs)


def float_case(op: Any, case: Any, io_types: tuple[str, ...], batch: int, device: str) -> EnqueueCase:
    """The enqueue check of a float type combination whose plugin inputs are the op's spec inputs."""
    from edgeattn.ops.cases import make_case
    from edgeattn.ops.backends import backend

    if not generic_case_applies(op, io_types):
        raise UsageError(
            f"{op.name}: no generic enqueue case for I/O types {io_types} (spec inputs {op.spec.inputs}).",
            "Give the op's PluginKernels an enqueue_case for combinations other than float spec inputs.",
        )
    nb_inputs = len(op.spec.inputs)
    half = "kHALF" in io_types[:nb_inputs]
    oc = make_case(op, case, dtype=torch_dtype("kHALF" if half else "kFLOAT"), batch=batch, device=device)
    inputs = tuple(t.to(torch_dtype(kind)) for t, kind in zip(oc.inputs, io_types, strict=False))
    expected = tuple(t.float() for t in _as_tuple(
        op.reference(*(_upcast(t) for t in inputs), **{k: _upcast(v) for k, v in oc.attrs.items()})))
    outputs = tuple(poisoned(t.shape, kind, device) for t, kind in zip(expected, io_types[nb_inputs:], strict=True))
    launch_out = [poisoned(t.shape, t_kind, device) for t, t_kind in zip(expected, io_types[nb_inputs:], strict=True)]
    run = backend(op.name, "triton").run
    tolerance = op.spec.tolerances["fp16" if half else "fp32"]
    return EnqueueCase(
        op=op.name, case_id=case.id, batch=batch, io_types=tuple(io_types),
        attributes=dict(op.plugin_kernels.case_attributes(case)), inputs=inputs, outputs=outputs,
        expected=expected, atol=tolerance.atol, rtol=tolerance.rtol,
        reference=f"fp32 reference on the {'fp16' if half else 'fp32'} inputs",
        triton=lambda: run(*inputs, **oc.attrs, out=launch_out[0] if len(launch_out) == 1 else launch_out),
    )
