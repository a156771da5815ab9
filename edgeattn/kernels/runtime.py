"""Device, dtype and block-size checks shared by every Triton launcher."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable
from contextvars import ContextVar

import torch

from edgeattn.errors import UsageError

FLOAT_DTYPES = (torch.float32, torch.float16)
"""Float dtypes every Triton kernel accepts (fp32 accumulation inside)."""


RECORDING_LAUNCHES: ContextVar[bool] = ContextVar("edgeattn_recording_launches", default=False)
"""Set by `edgeattn.kernels.aot.record_launch`: launches are recorded, so any device will do."""


def triton_installed() -> bool:
    """True when the `triton` package can be imported."""
    return importlib.util.find_spec("triton") is not None


def interpreter_requested() -> bool:
    """True when TRITON_INTERPRET asks Triton to run kernels on the CPU interpreter."""
    return os.environ.get("TRITON_INTERPRET", "0").strip().lower() in ("1", "true", "on", "yes")


def kernel_is_interpreted(kernel: object) -> bool:
    """True when `kernel` was defined under TRITON_INTERPRET=1 (it runs on CPU tensors)."""
    from triton.runtime.interpreter import InterpretedFunction

    return isinstance(kernel, InterpretedFunction)


def device_refusal(tensors: Iterable[torch.Tensor | None], kernel: object) -> str:
    """Why `kernel` cannot run on `tensors`' device, or "" when it can (None entries are skipped)."""
    if RECORDING_LAUNCHES.get():
        return ""
    devices = {t.device for t in tensors if t is not None}
    if len(devices) != 1:
        names = ", ".join(sorted(str(d) for d in devices))
        return f"inputs are on different devices ({names}); move them to one device"
    device = devices.pop()
    interpreted = kernel_is_interpreted(kernel)
    if device.type == "cuda":
        if interpreted:
            return (
                "CUDA tensors given but Triton was loaded in interpreter mode "
                "(TRITON_INTERPRET=1); unset it to run compiled kernels on the GPU"
            )
        return ""
    if device.type == "cpu":
        if interpreted:
            return ""
        return (
            "CPU tensors need the Triton interpreter: set TRITON_INTERPRET=1 before edgeattn "
            "is imported, or move the tensors to a CUDA GPU"
        )
    return f"Triton kernels run on CUDA or (interpreted) CPU tensors, not on {device.type}"


def dtype_refusal(named: dict[str, torch.Tensor], allowed: tuple[torch.dtype, ...]) -> str:
    """Why the tensors' dtypes are unsupported, or "" when all are in `allowed`."""
    for name, tensor in named.items():
        if tensor.dtype not in allowed:
            kinds = "/".join(str(d).removeprefix("torch.") for d in allowed)
            return f"{name} has dtype {str(tensor.dtype).removeprefix('torch.')}; expected {kinds}"
    return ""


def float_qkv_refusal(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, **others: torch.Tensor | None
) -> str:
    """Why float q, k, v (and the given `others`) are unusable: not fp32/fp16, or q, k, v mixed."""
    named = {"q": q, "k": k, "v": v, **{n: t for n, t in others.items() if t is not None}}
    if reason := dtype_refusal(named, FLOAT_DTYPES):
        return reason
    return "" if q.dtype == k.dtype == v.dtype else "q, k and v must share one dtype"


def int8_attention_refusal(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                           scales: dict[str, torch.Tensor | None], heads: int) -> str:
    """Why int8 attention operands and their per-head scales are unusable ("" when fine).

    q and k must be int8; v is int8 (then `v_scale` and `p_scale` are required) or float; every scale
    given is a float32 tensor with 1 or `heads` values on the inputs' device.
    """
    reason = dtype_refusal({"q": q, "k": k}, (torch.int8,)) or dtype_refusal({"v": v}, (torch.int8, *FLOAT_DTYPES))
    if reason:
        return reason
    if v.dtype == torch.int8 and (scales.get("v_scale") is None or scales.get("p_scale") is None):
        return "int8 v needs v_scale and p_scale"
    counts = {1, heads}
    for name, scale in scales.items():
        if scale is None:
            continue
        if scale.dtype != torch.float32 or scale.numel() not in counts:
            per = "one value (per tensor = per head)" if heads == 1 else f"1 or H={heads} values (per head)"
            return f"{name} must be a float32 tensor with {per}"
        if scale.device != q.device:
            return f"{name} is on {scale.device}, inputs on {q.device}"
    return ""


def verdict(reason: str) -> tuple[bool, str]:
    """A launcher's `can_run` answer from its refusal reason ("" when the kernel accepts)."""
    return (not reason, reason or "ok")


def raise_refusal(op: str, reason: str) -> None:
    """Raise a UsageError for a launcher call that its own `can_run` refused."""
    if reason:
        raise UsageError(
            f"Triton {op} cannot run: {reason}.",
            "Fix the inputs as described, or run the op with backend='reference'.",
        )


def raise_if_refused(op: str, answer: tuple[bool, str]) -> None:
    """`raise_refusal` for a launcher's own `can_run` answer (ok, reason)."""
    ok, reason = answer
    raise_refusal(op, "" if ok else reason)


def block(n: int, minimum: int = 16, maximum: int | None = None) -> int:
    """Power-of-two block covering `n` elements, at least `minimum` (tl.dot needs >= 16)."""
    size = max(minimum, 1 << max(0, int(n) - 1).bit_length())
    return min(size, maximum) if maximum is not None else size


def per_head(scale: torch.Tensor | None, heads: int) -> torch.Tensor | None:
    """A per-tensor or per-head scale as `heads` contiguous values (None stays None)."""
    return None if scale is None else scale.reshape(-1).expand(heads).contiguous()


def int8_output(v: torch.Tensor, shape: tuple[int, ...] | torch.Size) -> torch.Tensor:
    """Output buffer of an INT8 kernel: float16 when v is int8, else v's dtype."""
    dtype = torch.float16 if v.dtype == torch.int8 else v.dtype
    return torch.empty(shape, dtype=dtype, device=v.device)
