"""The `edgeattn` command line: one thin function per subcommand over the public API."""

from __future__ import annotations

import shlex
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from edgeattn.errors import EdgeattnError

app = typer.Typer(
    name="edgeattn",
    help="Export efficient-attention vision backbones to ONNX/TensorRT bundles for Jetson, GPUs and CPUs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)


class Flavour(str, Enum):
    portable = "portable"
    plugins = "plugins"
    both = "both"


class Precision(str, Enum):
    fp32 = "fp32"
    fp16 = "fp16"
    int8 = "int8"


class CalibMethod(str, Enum):
    max = "max"
    percentile = "percentile"
    entropy = "entropy"
    mse = "mse"


class Granularity(str, Enum):
    head = "head"
    tensor = "tensor"


class QdqStyle(str, Enum):
    tensorrt = "tensorrt"
    ort = "ort"


MIN_COS_HELP = ("int8: keep the most sensitive quantized layers in higher precision until logit cosine vs fp32 "
                "on the calibration inputs reaches this, e.g. 0.999")


def _open_unit_interval(value: Optional[float]) -> Optional[float]:
    if value is not None and not 0.0 < value < 1.0:
        raise typer.BadParameter(f"{value} is not between 0 and 1 (exclusive); a target such as 0.999 is typical")
    return value


@app.command()
def export(
    model: str = typer.Option(..., "--model", "-m", help="registry name, e.g. shvit_s4 (see `edgeattn models`)"),
    target: str = typer.Option("jetson", "--target", "-t", help="target profile (see `edgeattn targets`)"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="bundle folder [default: build/<model>-<target>]"),
    checkpoint: Optional[Path] = typer.Option(None, help=".pth/.pt/.safetensors state dict (official formats too)"),
    pretrained: bool = typer.Option(False, "--pretrained", help="download timm's pretrained weights"),
    resolution: Optional[int] = typer.Option(None, help="input height = width [default: the model's]"),
    batch: int = typer.Option(1, min=1, help="batch size of the exported graph"),
    dynamic_batch: bool = typer.Option(False, "--dynamic-batch", help="export a dynamic batch axis"),
    opset: Optional[int] = typer.Option(None, min=17, help="ONNX opset [default: the model's, 18]"),
    seed: int = typer.Option(0, help="seed for random-init weights when no checkpoint is given"),
    flavour: Flavour = typer.Option(Flavour.both, help="portable (standard ops), plugins (edgeattn nodes) or both"),
    allow_unsupported: bool = typer.Option(False, "--allow-unsupported",
                                           help="write the bundle even if TensorRT's parser would reject a node"),
    precision: Precision = typer.Option(Precision.fp32, help="fp16 (fp32 islands) and int8 graphs are added beside fp32"),
    calib_data: Optional[str] = typer.Option(None, "--calib-data",
                                             help="int8 calibration: image folder, .npy/.npz file, or 'samples'"),
    calib_method: CalibMethod = typer.Option(CalibMethod.percentile, "--calib-method"),
    min_cos: Optional[float] = typer.Option(None, "--min-cos", callback=_open_unit_interval, help=MIN_COS_HELP),
    profile_from: int = typer.Option(8, "--profile-from", min=1,
                                     help="LiDAR models: synthetic scenes that size the TensorRT profile"),
    force: bool = typer.Option(False, "--force", help="replace an existing output folder"),
) -> None:
    """Export MODEL for TARGET: portable and plugin ONNX, parity checks, TensorRT lint and build recipe."""
    from edgeattn.exporters.pipeline import ExportConfig, run_export

    config = ExportConfig(
        model=model, target=target, out=out, checkpoint=checkpoint, pretrained=pretrained,
        resolution=resolution, batch=batch, dynamic_batch=dynamic_batch, opset=opset, seed=seed,
        flavour=flavour.value, allow_unsupported=allow_unsupported, profile_from=profile_from, force=force,
        precision=precision.value, calib_data=calib_data, calib_method=calib_method.value, calib_min_cosine=min_cos,
        command=_command_line(),
    )
    bundle = run_export(config)
    for report in bundle.parity:
        worst = report.worst()
        console.print(f"[green]parity ok[/green] {report.graph} on {report.runtime}: max abs {worst.max_abs:.2e} "
                      f"(allowed {worst.atol:.1e}), cosine {worst.cosine:.7f}")
    fidelity = bundle.manifest.get("precision", {}).get("fidelity")
    if fidelity:
        console.print(f"{precision.value} fidelity vs fp32: " + ", ".join(f"{k} {v:.6g}" if isinstance(v, float) else
                                                                        f"{k} {v}" for k, v in fidelity.items()))
    console.print(f"bundle: [bold]{bundle.path}[/bold] ({', '.join(bundle.files)})")
    timings = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in bundle.timings.items())
    err_console.print(f"[dim]{timings}[/dim]", soft_wrap=True)


@app.command()
def calibrate(
    model: str = typer.Option(..., "--model", "-m"),
    data: str = typer.Option(..., "--data", help="image folder, .npy/.npz file, or 'samples' (bundled photos)"),
    method: CalibMethod = typer.Option(CalibMethod.percentile, help="range observer"),
    granularity: Granularity = typer.Option(Granularity.head, help="head-wise reparameterisation or per-tensor only"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="[default: build/<model>-calibrate]"),
    count: int = typer.Option(32, min=1, help="calibration images"),
    style: QdqStyle = typer.Option(QdqStyle.tensorrt, help="tensorrt (symmetric s8) or ort (u8 activations)"),
    resolution: Optional[int] = typer.Option(None),
    checkpoint: Optional[Path] = typer.Option(None),
    cpu_gate: bool = typer.Option(False, "--cpu-gate", help="ort style: keep fp32 where INT8 is slower on this CPU"),
    min_cos: Optional[float] = typer.Option(None, "--min-cos", callback=_open_unit_interval, help=MIN_COS_HELP),
) -> None:
    """Calibrate MODEL for INT8 (head-wise or per-tensor) and report fidelity against fp32."""
    from edgeattn.calibrate.commands import calibrate_command

    calibrate_command(model, data, method=method.value, granularity=granularity.value, out=out, count=count,
                      style=style.value, resolution=resolution, checkpoint=checkpoint, cpu_gate=cpu_gate,
                      min_cosine=min_cos)


@app.command()
def models(family: Optional[str] = typer.Option(None, help="only this family")) -> None:
    """List the model registry: params, GMACs at the default resolution, source and pretrained tag."""
    from edgeattn.backbones import list_models
    from edgeattn.backbones.stats import load_stats

    stats = load_stats()
    table = Table(title="edgeattn models (GMACs = multiply-accumulates, what the papers call FLOPs)")
    for column in ("name", "family", "params (M)", "GMACs", "resolution", "source", "ops", "pretrained"):
        table.add_column(column, justify="right" if column in ("params (M)", "GMACs", "resolution") else "left")
    for spec in list_models(family):
        entry = stats.get(spec.name, {})
        table.add_row(
            spec.name, spec.family,
            f"{entry['params_m']:.2f}" if entry else "-",
            f"{entry['gmacs']:.3f}" if entry else "-",
            "x".join(str(d) for d in spec.input_size[1:]) if spec.input_kind == "image" else "voxels",
            spec.source if spec.source == "native" else f"timm:{spec.timm_name}",
            ", ".join(spec.ops) or "-",
            spec.pretrained_tag or "-",
        )
    console.print(table)


@app.command()
def targets() -> None:
    """List target profiles: architecture, TensorRT lines, DLA, memory and peak numbers."""
    from edgeattn.exporters.targets import list_targets

    table = Table(title="edgeattn targets (peaks are dense vendor figures, used for estimates only)")
    for column in ("name", "aliases", "arch", "TensorRT", "DLA", "memory", "FP16 TFLOPS", "INT8 TOPS", "GB/s"):
        table.add_column(column)
    for t in list_targets():
        table.add_row(
            t.name, ", ".join(t.aliases), t.sm or "cpu", ", ".join(line.version for line in t.tensorrt) or "-",
            str(t.dla_cores), f"{t.memory_gb:g} GB", f"{t.peak_fp16_tflops:g}", f"{t.peak_int8_tops:g}",
            f"{t.memory_bandwidth_gbs:g}",
        )
    console.print(table)


@app.command()
def profile(
    bundle_or_model: str = typer.Argument(..., help="bundle folder, .onnx file or registry model name"),
    backend: str = typer.Option("ort-cpu", help="ort-cpu, torch-cpu, torch-cuda, torch-cuda-triton or tensorrt"),
    batch: int = typer.Option(1, min=1),
    threads: Optional[int] = typer.Option(None, min=1, help="CPU threads [default: all cores]"),
    warmup: int = typer.Option(10, min=0),
    iters: int = typer.Option(50, min=1),
    resolution: Optional[int] = typer.Option(None, help="registry models: input height = width"),
    out: Path = typer.Option(Path("profiles"), "--out", "-o", help="folder for the run JSON + HTML report"),
) -> None:
    """Time a model on one backend: latency percentiles, per-op breakdown, roofline estimates per target."""
    from edgeattn.profile.commands import profile_command

    path = profile_command(bundle_or_model, backend=backend, batch=batch, threads=threads, warmup=warmup,
                           iters=iters, out=out, resolution=resolution)
    console.print(f"run: [bold]{path}[/bold] (report: {path.with_suffix('.html')})")


@app.command()
def report(
    runs: list[Path] = typer.Argument(..., help="run JSON files written by `edgeattn profile`"),
    out: Path = typer.Option(Path("report.html"), "--out", "-o"),
    baseline: Optional[str] = typer.Option(None, help="model the speed-up ratios are relative to"),
    markdown: Optional[Path] = typer.Option(None, help="also write the tables as Markdown"),
) -> None:
    """Cross-model report: params, GFLOPs, measured latency, target estimates, Pareto plot."""
    from edgeattn.profile.commands import report_command

    path = report_command(runs, out=out, baseline=baseline, markdown=markdown)
    console.print(f"report: [bold]{path}[/bold]" + (f", markdown: {markdown}" if markdown else ""))


@app.command()
def backends() -> None:
    """Which profiling backends can run on this machine, and why the others cannot."""
    from edgeattn.profile.runners import backend_availability

    table = Table(title="profiling backends")
    for column in ("backend", "available", "reason"):
        table.add_column(column)
    for name, ok, reason in backend_availability():
        table.add_row(name, "yes" if ok else "no", reason)
    console.print(table)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def ros2(
    ctx: typer.Context,
    bundle: Path = typer.Argument(..., help="bundle folder written by `edgeattn export`"),
    input_topic: str = typer.Option("", "--input", help="[default: /camera/image_raw, or /points for LiDAR]"),
    output_topic: str = typer.Option("edgeattn/output", "--output", help="output topic (see the node's topics)"),
    backend: str = typer.Option("auto", help="auto, tensorrt or onnxruntime"),
    top_k: int = typer.Option(5, "--top-k", min=1, help="classes in the top-k message"),
    threads: int = typer.Option(0, min=0, help="onnxruntime intra-op threads (0: ORT's default)"),
    warmup: int = typer.Option(3, min=0, help="warm-up inferences before subscribing"),
) -> None:
    """Run BUNDLE as a ROS 2 node (images or LiDAR in, outputs out); extra --ros-args go to rclpy."""
    from edgeattn.ros2 import run_node
    from edgeattn.ros2.config import NodeConfig

    run_node(NodeConfig(bundle=bundle, input_topic=input_topic, output_topic=output_topic, backend=backend,
                        top_k=top_k, threads=threads, warmup=warmup), ctx.args)


def _command_line() -> str:
    return shlex.join(["edgeattn", *sys.argv[1:]])


def main() -> None:
    """Console entry point: user errors print two lines (what, what to do) and exit non-zero."""
    try:
        app()
    except EdgeattnError as error:
        err_console.print(f"[bold red]error:[/bold red] {escape(error.what)}", highlight=False, soft_wrap=True)
        if error.hint:
            err_console.print(error.hint, highlight=False, soft_wrap=True, markup=False)
        sys.exit(error.exit_code)
