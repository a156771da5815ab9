"""One profile run: warm-up, timed runs, memory, per-op breakdown and roofline estimate -> run record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnx
from pydantic import BaseModel, ConfigDict, Field
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

import edgeattn
from edgeattn.errors import UsageError
from edgeattn.profile.environment import collect_environment
from edgeattn.profile.opprofile import profile_ort_ops
from edgeattn.profile.roofline import estimate_for_targets, graph_cost
from edgeattn.runners import Runner, default_threads
from edgeattn.runners.ort import OrtRunner
from edgeattn.runners.registry import runner_class
from edgeattn.runners.tensorrt import TensorRTRunner, bundle_engine
from edgeattn.runners.torch_runners import TorchCpuRunner
from edgeattn.profile.schema import RUN_SCHEMA_ID
from edgeattn.profile.source import ModelSource
from edgeattn.profile.stats import latency_stats


class ProfileSettings(BaseModel):
    """How to measure: batch size, threads, warm-up and timed iterations, op profiling and seed."""

    model_config = ConfigDict(frozen=True)

    batch: int = Field(1, ge=1)
    threads: int | None = Field(None, ge=1, description="CPU threads; default: all usable CPUs")
    warmup: int = Field(10, ge=0)
    iters: int = Field(50, ge=1)
    op_profile_iters: int = Field(10, ge=0, description="profiled ORT runs for the per-op breakdown; 0 = skip")
    seed: int = 42
    show_progress: bool = True

    @property
    def resolved_threads(self) -> int:
        return self.threads or default_threads()


def make_runner(backend: str, source: ModelSource, settings: ProfileSettings) -> Runner:
    """Build the runner for ``backend`` from whatever the source offers."""
    cls = runner_class(backend)
    cls.require()
    threads = settings.resolved_threads
    if cls.needs == "onnx" and source.onnx_path is None:
        raise UsageError(f"backend {backend} needs an ONNX model and {source.name} has none",
                         "pass a bundle folder, a .onnx file, or a registry model name")
    if cls.needs == "torch" and source.torch_factory is None:
        raise UsageError(f"backend {backend} runs torch models; {source.name} is ONNX only",
                         "pass a registry model name, or pick --backend ort-cpu / tensorrt")
    if cls is OrtRunner:
        return OrtRunner(source.onnx_path, threads=threads)
    if cls is TensorRTRunner:
        engine = bundle_engine(source.onnx_path.parent) if source.origin == "bundle" else None
        if engine is not None:
            source.notes.append(f"TensorRT engine loaded from the bundle: {engine.name}")
            return TensorRTRunner(source.input_shapes, engine_path=engine)
        source.notes.append("TensorRT engine built from model.onnx at the feed shapes (no matching bundle engine)")
        return TensorRTRunner(source.input_shapes, onnx_path=source.onnx_path)
    module = source.torch_factory()
    if cls is TorchCpuRunner:
        return TorchCpuRunner(module, source.input_names, source.output_names, threads=threads)
    return cls(module, source.input_names, source.output_names)


def _progress(enabled: bool) -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), disable=not enabled, transient=False)


def measure(runner: Runner, feeds: dict[str, Any], settings: ProfileSettings,
            label: str) -> tuple[list[float], bool]:
    """Warm up, then time ``settings.iters`` runs. Ctrl-C stops early and keeps finished runs.

    Returns (samples in ms, interrupted).
    """
    interrupted = timed_started = False
    with _progress(settings.show_progress) as progress:
        warm = progress.add_task(f"{label} warm-up", total=settings.warmup)
        timed = progress.add_task(f"{label} timed", total=settings.iters)
        try:
            for _ in range(settings.warmup):
                runner.infer(feeds)
                progress.advance(warm)
            runner.reset_timings()
            timed_started = True
            for _ in range(settings.iters):
                runner.infer(feeds)
                progress.advance(timed)
        except KeyboardInterrupt:
            interrupted = True
    return (list(runner.timings_ms) if timed_started else []), interrupted


def gflops_per_image(onnx_path: Path, input_shapes: dict[str, tuple[int, ...]]) -> float:
    """GFLOPs of one image (batch 1) counted on the ONNX graph."""
    single = {name: (1, *shape[1:]) for name, shape in input_shapes.items()}
    return graph_cost(onnx.load(str(onnx_path)), single).flops / 1e9


def profile_run(source: ModelSource, backend: str, settings: ProfileSettings, workdir: Path) -> dict[str, Any]:
    """Profile ``source`` on ``backend`` and return a run record (see schema/run.schema.json)."""
    feeds = source.feeds(settings.seed)
    runner = make_runner(backend, source, settings)
    try:
        with runner.track_memory() as memory:
            runner.prepare()
            samples, interrupted = measure(runner, feeds, settings, f"{source.name} {backend}")
    finally:
        runner.close()
    threads = settings.resolved_threads

    breakdown = None
    if backend == "ort-cpu" and settings.op_profile_iters > 0 and not interrupted:
        try:
            breakdown = profile_ort_ops(source.onnx_path, feeds, threads, settings.op_profile_iters,
                                        workdir / "ort-profile")
        except KeyboardInterrupt:
            interrupted = True
    roofline = None
    gflops = None
    if source.onnx_path is not None:
        gflops = gflops_per_image(source.onnx_path, source.input_shapes)
        roofline = estimate_for_targets(source.onnx_path, source.input_shapes)

    return {
        "schema": RUN_SCHEMA_ID,
        "edgeattn_version": edgeattn.__version__,
        "model": {
            "name": source.name,
            "origin": source.origin,
            "params": source.params,
            "gflops": gflops,
            "input_shapes": {k: list(v) for k, v in source.input_shapes.items()},
            "output_names": list(source.output_names),
            "notes": list(source.notes),
        },
        "backend": backend,
        "settings": {"batch": settings.batch, "threads": threads, "warmup": settings.warmup,
                     "iters": settings.iters, "seed": settings.seed},
        "environment": collect_environment(threads),
        "latency": latency_stats(samples, settings.batch),
        "samples_ms": samples,
        "memory": memory,
        "interrupted": interrupted,
        "op_breakdown": breakdown,
        "roofline": roofline,
    }
