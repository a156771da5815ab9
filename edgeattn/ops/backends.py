"""Backend selection for edgeattn ops (in the style of NATTEN): every backend says why it refuses.

Each op has a `reference` backend (the fp32 PyTorch math, runs anywhere) and a `triton` backend
(`edgeattn/ops/<op>/triton.py`: compiled on CUDA, or on CPU under `TRITON_INTERPRET=1`).
`select_backend` walks a priority list and, when nothing fits, raises an error naming every
backend it tried and its reason. `use_backend` makes the `torch.ops.edgeattn.*` custom ops (and so
whole rewritten backbones) dispatch through this selection on CUDA tensors.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from edgeattn.errors import EdgeattnError, UsageError
from edgeattn.kernels.runtime import interpreter_requested, triton_installed
from edgeattn.ops.registry import OpDef, all_ops, get_op

BACKENDS = ("triton", "reference")
DEFAULT_PRIORITY: tuple[str, ...] = ("triton", "reference")


@dataclass(frozen=True)
class Backend:
    """One way to run one op: `can_run(*inputs, **attrs) -> (ok, reason)` and `run`."""

    name: str
    op: str
    can_run: Callable[..., tuple[bool, str]]
    run: Callable[..., Any]


def _reference_can_run(*inputs: Any, **attrs: Any) -> tuple[bool, str]:
    return True, "the fp32 PyTorch reference runs on any device and dtype"


def _triton_module(op_def: OpDef) -> Any:
    return importlib.import_module(f"edgeattn.ops.{op_def.folder}.triton")


def _triton_backend(op_def: OpDef) -> Backend:
    if not triton_installed():
        reason = "Triton is not installed (pip install triton)"
        return Backend("triton", op_def.name, lambda *a, **k: (False, reason), _unavailable(reason))
    try:
        module = _triton_module(op_def)
    except ImportError as exc:
        reason = f"edgeattn has no Triton kernel for {op_def.name} ({exc})"
        return Backend("triton", op_def.name, lambda *a, **k: (False, reason), _unavailable(reason))
    return Backend("triton", op_def.name, module.can_run, getattr(module, op_def.folder))


def _unavailable(reason: str) -> Callable[..., Any]:
    def run(*inputs: Any, **attrs: Any) -> Any:
        raise EdgeattnError(reason, "Use backend='reference'.")

    return run


def backend(op: str, name: str) -> Backend:
    """The backend `name` ("triton" or "reference") of op `op` (ONNX op type or folder name)."""
    op_def = get_op(op)
    if name == "reference":
        return Backend("reference", op_def.name, _reference_can_run, op_def.reference)
    if name == "triton":
        return _triton_backend(op_def)
    raise UsageError(
        f"Unknown backend {name!r} for {op_def.name}.", f"Use one of: {', '.join(BACKENDS)}."
    )


def int8_backend(op: str) -> Backend:
    """The INT8 Triton kernel of an attention op (int8 Q/K, per-head scales; see its triton.py)."""
    op_def = get_op(op)
    module = _triton_module(op_def)
    launcher = getattr(module, f"{op_def.folder}_int8", None)
    if launcher is None:
        with_int8 = ", ".join(
            o.name for o in all_ops() if hasattr(_triton_module(o), f"{o.folder}_int8")
        )
        raise UsageError(
            f"{op_def.name} has no INT8 Triton kernel.", f"INT8 kernels exist for: {with_int8}."
        )
    return Backend("triton-int8", op_def.name, module.can_run_int8, launcher)


def _call_check(
    candidate: Backend, inputs: Sequence[Any], attrs: Mapping[str, Any]
) -> tuple[bool, str]:
    try:
        return candidate.can_run(*inputs, **attrs)
    except TypeError as exc:
        return False, f"arguments do not match the op signature ({exc})"


def select_backend(
    op: str,
    inputs: Sequence[Any],
    priority: Sequence[str] = DEFAULT_PRIORITY,
    attrs: Mapping[str, Any] | None = None,
) -> Backend:
    """The first backend in `priority` that can run `op` on `inputs` (and `attrs`).

    Raises EdgeattnError listing every backend tried and why it refused when none fits.
    """
    if not priority:
        raise UsageError(
            "Empty backend priority list.", f"Name at least one of: {', '.join(BACKENDS)}."
        )
    attrs = dict(attrs or {})
    refusals = []
    for name in priority:
        candidate = backend(op, name)
        ok, reason = _call_check(candidate, inputs, attrs)
        if ok:
            return candidate
        refusals.append(f"{name}: {reason}")
    raise EdgeattnError(
        f"No backend can run {get_op(op).name} on these inputs; tried " + "; ".join(refusals) + ".",
        "Fix the inputs as described, or add a backend that accepts them to the priority list.",
    )


def run_op(name: str, *inputs: Any, backend: str | None = None, **attrs: Any) -> Any:
    """Run op `name` on `inputs` with `backend` (or the first that fits in DEFAULT_PRIORITY)."""
    priority = (backend,) if backend is not None else _active_priority() or DEFAULT_PRIORITY
    return select_backend(name, inputs, priority, attrs).run(*inputs, **attrs)


_ACTIVE: ContextVar[tuple[str, ...] | None] = ContextVar("edgeattn_backend", default=None)
_REGISTERED: set[tuple[str, str]] = set()


def _active_priority() -> tuple[str, ...] | None:
    return _ACTIVE.get()


def _dispatcher(op_def: OpDef) -> Callable[..., Any]:
    def dispatch(*inputs: Any, **attrs: Any) -> Any:
        priority = _active_priority() or ("reference",)
        return select_backend(op_def.name, inputs, priority, attrs).run(*inputs, **attrs)

    return dispatch


def _register_device_kernels() -> None:
    devices = ["cuda"] + (["cpu"] if interpreter_requested() else [])
    for op_def in all_ops():
        for device in devices:
            if (op_def.name, device) not in _REGISTERED:
                op_def.torch_op.register_kernel(device)(_dispatcher(op_def))
                _REGISTERED.add((op_def.name, device))


@contextlib.contextmanager
def use_backend(name: str, fallback: bool = True) -> Iterator[None]:
    """Make `torch.ops.edgeattn.*` calls on CUDA tensors run with backend `name` in this block.

    With `fallback`, inputs that backend refuses run on the reference; without it they raise
    the refusal. Under TRITON_INTERPRET=1 CPU tensors are dispatched too (for tests).
    Outside the block the custom ops run the reference, as before.
    """
    if name not in BACKENDS:
        raise UsageError(f"Unknown backend {name!r}.", f"Use one of: {', '.join(BACKENDS)}.")
    _register_device_kernels()
    priority = (name, "reference") if fallback and name != "reference" else (name,)
    token = _ACTIVE.set(priority)
    try:
        yield
    finally:
        _ACTIVE.reset(token)
