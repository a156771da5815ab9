"""One entry of benchmarks/plugin_enqueue.py: an op's spec case at one I/O type combination and batch.

Build phase (also in a dry run, on the CPU): the op's `EnqueueCase`, createPlugin(kBUILD) from its
attributes, configure (types, shapes, formats, cubins), workspace. Runtime phase (GPU): attach
(serialized fields -> kRUNTIME plugin -> attachToContext -> onShapeChange), enqueue on a CUDA stream,
the output against the reference, the Python Triton launch against the same reference, and both timed.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from enqueue_binding import Harness, Plugin

ROUNDS = 2
"""Each implementation is timed twice, interleaved: the spread between rounds is the noise."""


@dataclass
class EntryResult:
    """The JSON record of one entry; `context_lost` says why no later entry can run (a CUDA fault)."""

    record: dict[str, Any]
    context_lost: str = ""

    @classmethod
    def skipped(cls, op: str, case_id: str, io: tuple[str, ...], batch: int, reason: str) -> EntryResult:
        return cls({**_base(op, case_id, io, batch), "status": "skipped", "reason": reason})

    def line(self) -> str:
        """One line for the console: status, entry, error and timings."""
        r = self.record
        text = f"{r['status'].upper():10} {r['op']} {r['case']} b{r['batch']} {','.join(r['io_types'])}"
        if "plugin" in r:
            worst = max(o["max_abs_err"] for o in r["plugin"]["outputs"])
            text += f" max|err| {worst:.3g} (atol {r['atol']:.3g})"
        if "timing" in r:
            text += f" enqueue {r['timing']['plugin_median_us']:.1f} us"
            if "triton_median_us" in r["timing"]:
                text += f", triton {r['timing']['triton_median_us']:.1f} us"
        if r.get("error"):
            text += f" - {r['error'].splitlines()[0]}"
        return text


def _base(op: str, case_id: str, io: tuple[str, ...], batch: int) -> dict[str, Any]:
    return {"op": op, "case": case_id, "batch": batch, "io_types": list(io)}


def _describe(case: Any) -> dict[str, Any]:
    return {"input_shapes": [list(t.shape) for t in case.inputs],
            "output_shapes": [list(t.shape) for t in case.outputs], "attributes": case.attributes, "reference": case.reference, "atol": case.atol, "rtol": case.rtol}


def compare(outputs: tuple[Any, ...], expected: tuple[Any, ...], atol: float, rtol: float) -> dict[str, Any]:
    """Per output: max abs error, elements left unwritten (still NaN / -128), within atol + rtol*|ref|."""
    import torch

    per_output = []
    for out, ref in zip(outputs, expected, strict=True):
        got = out.float()
        unwritten = int(torch.isnan(got).sum()) if out.is_floating_point() else int((out == -128).sum())
        error = (got - ref).abs()
        per_output.append({"max_abs_err": float(torch.nan_to_num(error, nan=float("inf")).max()),
                           "max_abs_ref": float(ref.abs().max()), "unwritten": unwritten,
                           "within_tolerance": bool((error <= atol + rtol * ref.abs()).all())})
    return {"outputs": per_output, "passed": all(o["within_tolerance"] and not o["unwritten"] for o in per_output)}


def time_calls(fn: Any, reps: int, warmup: int) -> dict[str, float]:
    """Median/p10/p90 of CUDA-event time around single calls, and the mean of `reps` back-to-back calls (us)."""
    import torch

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    pairs = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(reps)]
    for start, end in pairs:
        start.record()
        fn()
        end.record()
    first, last = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    first.record()
    for _ in range(reps):
        fn()
    last.record()
    torch.cuda.synchronize()
    single = sorted(start.elapsed_time(end) * 1e3 for start, end in pairs)
    return {"median_us": statistics.median(single), "p10_us": single[len(single) // 10],
            "p90_us": single[(9 * len(single)) // 10], "back_to_back_us": first.elapsed_time(last) * 1e3 / reps}


def _timings(plugin: Plugin, arguments: tuple, triton: Any, reps: int, warmup: int) -> dict[str, Any]:
    rounds: dict[str, list[dict[str, float]]] = {"plugin": [], "triton": []}
    for _ in range(ROUNDS):
        rounds["plugin"].append(time_calls(lambda: plugin.enqueue(arguments), reps, warmup))
        if triton is not None:
            rounds["triton"].append(time_calls(triton, reps, warmup))
    timing: dict[str, Any] = {"rounds": rounds,
                              "plugin_median_us": min(r["median_us"] for r in rounds["plugin"])}
    if rounds["triton"]:
        timing["triton_median_us"] = min(r["median_us"] for r in rounds["triton"])
        timing["triton_over_plugin"] = timing["triton_median_us"] / timing["plugin_median_us"]
    return timing


def _triton_check(case: Any) -> dict[str, Any]:
    """The Python Triton launch on the same inputs against the same reference (tells plugin from kernel bugs)."""
    import torch

    try:
        out = case.triton()
        torch.cuda.synchronize()
    except Exception as exc:  # recorded: the plugin's own result still counts
        return {"error": f"{type(exc).__name__}: {exc}"}
    return compare(tuple(out) if isinstance(out, tuple | list) else (out,), case.expected, case.atol, case.rtol)


def _context_alive() -> bool:
    import torch

    try:
        torch.zeros(1, device="cuda").add_(1).item()
    except Exception:  # any failure here means the context is unusable
        return False
    return True


def _runtime_phase(harness: Harness, plugin: Plugin, case: Any, record: dict[str, Any], reps: int,
                   warmup: int) -> EntryResult:
    import torch

    steps = record["steps"]
    stream = torch.cuda.Stream()
    torch.cuda.synchronize()  # the inputs and poisoned outputs were written on the default stream
    with torch.cuda.stream(stream):
        steps["attach"] = plugin.attach()
        if steps["attach"] != 0:
            return _finish(record, harness, "error", "attach (kRUNTIME plugin, attachToContext, onShapeChange) failed")
        workspace = torch.empty(steps["workspace"], dtype=torch.uint8, device="cuda") if steps["workspace"] else None
        arguments = plugin.enqueue_arguments([t.data_ptr() for t in case.inputs], [t.data_ptr() for t in case.outputs],
                                             workspace.data_ptr() if workspace is not None else 0, stream.cuda_stream)
        steps["enqueue"] = plugin.enqueue(arguments)
        torch.cuda.synchronize()
        if steps["enqueue"] != 0:
            return _finish(record, harness, "error", "enqueue returned non-zero")
        record["plugin"] = compare(case.outputs, case.expected, case.atol, case.rtol)
        record["triton"] = _triton_check(case)
        triton = case.triton if "error" not in record["triton"] else None
        record["timing"] = _timings(plugin, arguments, triton, reps, warmup)
    return _finish(record, harness, "passed" if record["plugin"]["passed"] else "failed")


def _finish(record: dict[str, Any], harness: Harness, status: str, error: str = "") -> EntryResult:
    record["status"] = status
    record["log"] = record.get("log", []) + harness.take_log()
    if error:
        record["error"] = error
    return EntryResult(record)


def _build_phase(plugin: Plugin, case: Any, steps: dict[str, Any]) -> int:
    """configure (output types/shapes vs the reference's, formats, cubins) and the workspace size."""
    nb_inputs = len(case.inputs)
    io = case.io_types
    inputs = [(kind, list(t.shape)) for kind, t in zip(io[:nb_inputs], case.inputs, strict=True)]
    outputs = [(kind, list(t.shape)) for kind, t in zip(io[nb_inputs:], case.outputs, strict=True)]
    steps["configure"] = plugin.configure(inputs, outputs)
    if steps["configure"] != 0:
        return -1
    steps["workspace"] = plugin.workspace()
    return 0 if steps["workspace"] >= 0 else -1


def run_entry(harness: Harness, op: Any, case: Any, io: tuple[str, ...], batch: int, *, dry_run: bool,
              reps: int, warmup: int) -> EntryResult:
    """Run one entry; a dry run stops after the build phase (no device needed)."""
    from edgeattn.plugins.enqueue import enqueue_case

    record = _base(op.name, case.id, io, batch)
    try:
        enqueue = enqueue_case(op, case, io, batch, "cpu" if dry_run else "cuda")
    except Exception as exc:  # a case that cannot be built is recorded, the sweep goes on
        return _finish(record, harness, "error", f"building the enqueue case failed: {type(exc).__name__}: {exc}")
    record.update(_describe(enqueue))
    if not all(t.is_contiguous() for t in (*enqueue.inputs, *enqueue.outputs)):
        return _finish(record, harness, "error", "the enqueue case has non-contiguous tensors (plugins take linear)")
    steps = record["steps"] = {}
    plugin = harness.create(op.name, enqueue.attributes, layer=f"{op.name}/{case.id}/b{batch}/{','.join(io)}")
    steps["create"] = 0 if plugin is not None else -1
    if plugin is None:
        return _finish(record, harness, "error", "createPlugin(kBUILD) returned nullptr")
    try:
        if _build_phase(plugin, enqueue, steps) != 0:
            return _finish(record, harness, "error", "configure or getWorkspaceSize failed")
        if dry_run:
            return _finish(record, harness, "configured")
        return _runtime_phase(harness, plugin, enqueue, record, reps, warmup)
    except Exception as exc:  # a CUDA fault (illegal address, launch failure) surfaces at synchronize
        result = _finish(record, harness, "error", f"{type(exc).__name__}: {exc}")
        if not _context_alive():
            result.context_lost = f"the CUDA context was lost after {op.name} {case.id} {','.join(io)}: {exc}"
        return result
    finally:
        plugin.destroy()
