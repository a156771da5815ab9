"""The enqueue checks of every plugin op: every spec case x every accepted I/O type combination.

    cases = [enqueue_case(op, case, io, batch=1, device="cuda") for io in case_io_types(op, case)]

`edgeattn.ops.enqueue.EnqueueCase` is one check; an op's `PluginKernels.enqueue_case` builds its own,
otherwise `edgeattn.ops.enqueue.float_case` covers the float combinations of its spec inputs.
"""

from __future__ import annotations

from typing import Any

from edgeattn.ops.enqueue import EnqueueCase, float_case, generic_case_applies


def case_io_types(op: Any, case: Any) -> list[tuple[str, ...]]:
    """The I/O type combinations the op's plugin accepts at a spec case (one per recorded launch)."""
    from edgeattn.plugins.graph import case_launches

    return [launch.io_types for launch in case_launches(op, case)]


def enqueue_case(op: Any, case: Any, io_types: tuple[str, ...], batch: int, device: str) -> EnqueueCase:
    """The op's own enqueue case when it defines one, else the generic float case."""
    hook = op.plugin_kernels.enqueue_case
    return hook(case, io_types, batch, device) if hook is not None else float_case(op, case, io_types, batch, device)


def unsupported_reason(op: Any, io_types: tuple[str, ...]) -> str:
    """Why no enqueue case can be built for `io_types` ("" when one can)."""
    if op.plugin_kernels.enqueue_case is not None or generic_case_applies(op, io_types):
        return ""
    return (f"{op.name} defines no PluginKernels.enqueue_case, and the generic case covers only float "
            f"combinations of its spec inputs (not {','.join(io_types)})")
