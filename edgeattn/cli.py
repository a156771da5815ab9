"""The `edgeattn` command line: one thin function per subcommand over the public API.

Only typer (with click's plain help formatter) is imported here; every command imports what it needs when
it runs, so `--help` answers in a fraction of a second without loading torch, timm, onnx or rich.
"""

from __future__ import annotations

import shlex
import signal
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from edgeattn.errors import EdgeattnError, Terminated
from edgeattn.listing import ListFormat, print_listing

app = typer.Typer(
    name="edgeattn",
    help="Export efficient-attention vision backbones to ONNX/TensorRT bundles for Jetson, GPUs and CPUs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)

class Flavour(str, Enum):
    portable = "portable"
    plugins = "plugins"
    both = "both"


class GraphFlavour(str, Enum):
    portable = "portable"
    plugins = "plugins"


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


class Backend(str, Enum):
    ort_cpu = "ort-cpu"
    torch_cpu = "torch-cpu"
    torch_cuda = "torch-cuda"
    torch_cuda_triton = "torch-cuda-triton"
    tensorrt = "tensorrt"
    trtexec = "trtexec"


class RuntimeBackend(str, Enum):
    auto = "auto"
    tensorrt = "tensorrt"
    onnxruntime = "onnxruntime"


def _open_unit_interval(value: Optional[float]) -> Optional[float]:
    if value is not None and not 0.0 < value < 1.0:
        raise typer.BadParameter(f"{value} is not between 0 and 1 (exclusive); a target such as 0.999 is typical")
    return value


FORMAT_OPTION = typer.Option(ListFormat.auto, "--format", help="auto: a table on a terminal, plain text when piped")
IMG_SIZE_HELP = "input height = width (timm's --img-size); the model's default when omitted"
MIN_COS_HELP = ("int8: keep the most sensitive quantized layers in higher precision until logit cosine vs fp32 on "
                "the calibration inputs reaches this, e.g. 0.999")
CALIB_DATA_HELP = ("int8 calibration data: an image folder, a .npy/.npz file, or 'samples' (bundled photos); "
                   "LiDAR models: .npy/.npz point clouds or 'lidar' (synthetic scenes)")


@app.command()
def export(
    model: str = typer.Option(..., "--model", "-m", help="registry name, e.g. shvit_s4 (see `edgeattn models`)"),
    target: str = typer.Option("jetson", "--target", "-t", help="target profile (see `edgeattn targets`)"),
    checkpoint: Optional[Path] = typer.Option(None, help=".pth/.pt/.safetensors state dict (official formats too)"),
    pretrained: bool = typer.Option(False, "--pretrained", help="download timm's pretrained weights"),
    seed: int = typer.Option(0, help="seed of the random-init weights when no checkpoint is given"),
    img_size: Optional[int] = typer.Option(None, "--img-size", min=1, help=IMG_SIZE_HELP,
                                           show_default="the model's"),
    batch: int = typer.Option(1, min=1, help="batch size (the opt shape with --dynamic-batch)"),
    dynamic_batch: bool = typer.Option(False, "--dynamic-batch", help="export a dynamic batch axis"),
    min_batch: Optional[int] = typer.Option(None, "--min-batch", min=1, show_default="1",
                                            help="--dynamic-batch: TensorRT profile min shape"),
    max_batch: Optional[int] = typer.Option(None, "--max-batch", min=1, show_default="32",
                                            help="--dynamic-batch: TensorRT profile max shape"),
    opset: Optional[int] = typer.Option(None, min=17, max=23, help="ONNX opset", show_default="the model's (18)"),
    flavour: Flavour = typer.Option(
        Flavour.portable, help="portable (standard ops), plugins (edgeattn nodes, plugin sources and cubins) or both"),
    allow_unsupported: bool = typer.Option(False, "--allow-unsupported",
                                           help="write the bundle even if TensorRT's parser would reject a node"),
    profile_from: Optional[int] = typer.Option(None, "--profile-from", min=1, show_default="8",
                                               help="LiDAR models: synthetic scenes that size the TensorRT profile"),
    precision: Precision = typer.Option(Precision.fp32,
                                        help="fp16 (fp32 islands) and int8 graphs are added beside fp32"),
    calib_data: Optional[str] = typer.Option(None, "--calib-data", help=CALIB_DATA_HELP),
    calib_method: Optional[CalibMethod] = typer.Option(None, "--calib-method", show_default="percentile",
                                                       help="int8 range observer"),
    calib_granularity: Optional[Granularity] = typer.Option(None, "--calib-granularity", show_default="head",
                                                            help="int8: head-wise reparameterisation or per-tensor"),
    calib_count: Optional[int] = typer.Option(None, "--calib-count", min=1, show_default="32 images, 8 LiDAR frames",
                                              help="int8 calibration inputs"),
    min_cos: Optional[float] = typer.Option(None, "--min-cos", callback=_open_unit_interval, help=MIN_COS_HELP),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="bundle folder", show_default="build/<model>-<target>"),
    force: bool = typer.Option(False, "--force", help="replace an existing edgeattn bundle at --out"),
) -> None:
    """Export MODEL for TARGET: portable and plugin ONNX, parity checks, TensorRT lint and build recipe."""
    from edgeattn.exporters.commands import export_command

    export_command(dict(
        model=model, target=target, out=out, checkpoint=checkpoint, pretrained=pretrained, resolution=img_size,
        batch=batch, dynamic_batch=dynamic_batch, min_batch=min_batch, max_batch=max_batch, opset=opset, seed=seed,
        flavour=flavour.value, allow_unsupported=allow_unsupported, profile_from=profile_from, force=force,
        precision=precision.value, calib_data=calib_data, calib_method=calib_method and calib_method.value,
        calib_granularity=calib_granularity and calib_granularity.value, calib_count=calib_count,
        calib_min_cosine=min_cos, command=_command_line(),
    ))


@app.command()
def calibrate(
    model: str = typer.Option(..., "--model", "-m", help="registry name (see `edgeattn models`)"),
    calib_data: str = typer.Option(..., "--calib-data", help=CALIB_DATA_HELP),
    calib_method: CalibMethod = typer.Option(CalibMethod.percentile, "--calib-method", help="range observer"),
    calib_granularity: Granularity = typer.Option(Granularity.head, "--calib-granularity",
                                                  help="head-wise reparameterisation or per-tensor only"),
    calib_count: Optional[int] = typer.Option(None, "--calib-count", min=1, show_default="32 images, 8 LiDAR frames",
                                              help="calibration inputs"),
    qdq_style: QdqStyle = typer.Option(QdqStyle.tensorrt, "--qdq-style",
                                       help="tensorrt (symmetric s8) or ort (u8 activations, ORT CPU kernels)"),
    cpu_gate: bool = typer.Option(False, "--cpu-gate", help="ort style: keep fp32 where INT8 is slower on this CPU"),
    min_cos: Optional[float] = typer.Option(None, "--min-cos", callback=_open_unit_interval, help=MIN_COS_HELP),
    img_size: Optional[int] = typer.Option(None, "--img-size", min=1, help=IMG_SIZE_HELP,
                                           show_default="the model's"),
    checkpoint: Optional[Path] = typer.Option(None, help=".pth/.pt/.safetensors state dict"),
    seed: int = typer.Option(0, help="seed of the random-init weights when no checkpoint is given"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", show_default="build/<model>-calibrate",
                                       help="output folder"),
    force: bool = typer.Option(False, "--force", help="replace an existing calibration folder at --out"),
    report: bool = typer.Option(False, "--report",
                                help="print the per-head Q/K/V/output ranges and spread of every attention site; "
                                     "write them to <out>.head-ranges.json and .html"),
) -> None:
    """Calibrate MODEL for INT8 (head-wise or per-tensor) and report fidelity against fp32."""
    from edgeattn.exporters.calibrate_command import calibrate_command

    calibrate_command(model, calib_data, method=calib_method.value, granularity=calib_granularity.value, out=out,
                      count=calib_count, style=qdq_style.value, resolution=img_size, checkpoint=checkpoint,
                      seed=seed, cpu_gate=cpu_gate, min_cosine=min_cos, force=force, report=report)


@app.command()
def models(family: Optional[str] = typer.Option(None, help="only this family"),
           fmt: ListFormat = FORMAT_OPTION) -> None:
    """List the model registry: params, GMACs at the default resolution, ops, source and pretrained tag."""
    from edgeattn.backbones import list_models
    from edgeattn.backbones.stats import load_stats, model_ops

    stats = load_stats()
    rows = []
    for spec in list_models(family):
        entry = stats.get(spec.name, {})
        rows.append([
            spec.name, spec.family, _rounded(entry.get("params_m"), 2), _rounded(entry.get("gmacs"), 3),
            "x".join(str(d) for d in spec.input_size[1:]) if spec.input_kind == "image" else "voxels",
            model_ops(spec.name), spec.source if spec.source == "native" else f"timm:{spec.timm_name}", spec.pretrained_tag,
        ])
    columns = [("name", "name"), ("family", "family"), ("params_m", "params (M)"), ("gmacs", "GMACs"),
               ("resolution", "resolution"), ("ops", "ops"), ("source", "source"), ("pretrained", "pretrained")]
    print_listing("edgeattn models (GMACs = multiply-accumulates, what the papers call FLOPs)", columns, rows, fmt)


@app.command()
def targets(fmt: ListFormat = FORMAT_OPTION) -> None:
    """List target profiles: architecture, TensorRT lines, DLA, memory and peak numbers."""
    from edgeattn.exporters.targets import list_targets

    rows = [[t.name, list(t.aliases), t.sm or "cpu", [line.version for line in t.tensorrt], t.dla_cores,
             t.memory_gb, t.peak_fp16_tflops, t.peak_int8_tops, t.memory_bandwidth_gbs] for t in list_targets()]
    columns = [("name", "name"), ("aliases", "aliases"), ("arch", "arch"), ("tensorrt", "TensorRT"),
               ("dla_cores", "DLA"), ("memory_gb", "memory (GB)"), ("fp16_tflops", "FP16 TFLOPS"),
               ("int8_tops", "INT8 TOPS"), ("bandwidth_gbs", "GB/s")]
    print_listing("edgeattn targets (peaks are dense vendor figures, used for estimates only)", columns, rows, fmt)


@app.command()
def profile(
    bundle_or_model: Optional[str] = typer.Argument(None, help="bundle folder, .onnx file or registry model name"),
    backend: Backend = typer.Option(Backend.ort_cpu, help="see `edgeattn backends` for what runs here and why; "
                                                          "trtexec runs on a device (--remote)"),
    graph: Optional[Precision] = typer.Option(None, help="bundles: which precision's graph to time",
                                              show_default="the bundle's precision"),
    flavour: GraphFlavour = typer.Option(GraphFlavour.portable, help="bundles: portable or plugin graph"),
    batch: int = typer.Option(1, min=1),
    threads: Optional[int] = typer.Option(None, min=1, help="CPU threads", show_default="all usable CPUs"),
    warm_up: int = typer.Option(10, "--warm-up", min=0, help="untimed runs before timing"),
    iterations: int = typer.Option(50, "--iterations", min=1, help="timed runs"),
    duration: float = typer.Option(0.0, "--duration", min=0.0, help="--backend trtexec: minimum seconds of timed runs"),
    img_size: Optional[int] = typer.Option(None, "--img-size", min=1, help="registry models: " + IMG_SIZE_HELP,
                                           show_default="the model's"),
    remote: Optional[str] = typer.Option(None, "--remote", help="run on a device over SSH: user@host[:port] "
                                                                "(your ssh keys/agent/config; never a password)"),
    keep_remote: bool = typer.Option(False, "--keep-remote", help="keep the device's work folder (bundle cache, logs)"),
    remote_edgeattn: Optional[str] = typer.Option(None, "--remote-edgeattn", show_default="$EDGEATTN_REMOTE_EDGEATTN "
                                                  "or edgeattn", help="edgeattn command on the device"),
    from_trtexec: Optional[Path] = typer.Option(None, "--from-trtexec", help="read a folder of trtexec exports "
                                                "(--exportTimes/--exportProfile/--exportLayerInfo) instead of running"),
    onnx_graph: Optional[Path] = typer.Option(None, "--onnx", help="--from-trtexec: the ONNX graph the engine was "
                                                                   "built from (maps layers to nodes and blocks)"),
    out: Path = typer.Option(Path("profiles"), "--out", "-o", help="folder for the run JSON + HTML report"),
) -> None:
    """Time a model on one backend: latency percentiles, per-op breakdown, roofline estimates per target."""
    from edgeattn.profile.commands import profile_entry

    path = profile_entry(
        bundle_or_model, backend=backend.value, precision=graph and graph.value, flavour=flavour.value, batch=batch,
        threads=threads, warmup=warm_up, iters=iterations, duration=duration, resolution=img_size, remote=remote,
        keep_remote=keep_remote, remote_edgeattn=remote_edgeattn, from_trtexec=from_trtexec, onnx_graph=onnx_graph,
        out=out)
    typer.echo(f"run: {path} (report: {path.with_suffix('.html')})")


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
    typer.echo(f"report: {path}" + (f", markdown: {markdown}" if markdown else ""))


@app.command()
def backends(fmt: ListFormat = FORMAT_OPTION) -> None:
    """Which profiling backends can run on this machine, and why the others cannot."""
    from edgeattn.runners.registry import backend_availability

    rows = [[name, "yes" if ok else "no", reason] for name, ok, reason in backend_availability()]
    print_listing("profiling backends", [("backend", "backend"), ("available", "available"), ("reason", "reason")],
                  rows, fmt)


def _rounded(value: Optional[float], digits: int) -> Optional[float]:
    return None if value is None else round(value, digits)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def ros2(
    ctx: typer.Context,
    bundle: Path = typer.Argument(..., help="bundle folder written by `edgeattn export`"),
    input_topic: str = typer.Option("", "--input", help="input topic",
                                    show_default="/camera/image_raw, or /points for LiDAR bundles"),
    output_topic: str = typer.Option("edgeattn/output", "--output", help="output topic (see the node's topics)"),
    backend: RuntimeBackend = typer.Option(RuntimeBackend.auto, help="runtime backend (auto: TensorRT when its "
                                                                     "engine loads here, else onnxruntime)"),
    top_k: int = typer.Option(5, "--top-k", min=1, help="classes in the top-k message"),
    threads: int = typer.Option(0, min=0, help="onnxruntime intra-op threads (0: ORT's default)"),
    warm_up: int = typer.Option(3, "--warm-up", min=0, help="warm-up inferences before subscribing"),
) -> None:
    """Run BUNDLE as a ROS 2 node (images or LiDAR in, outputs out); extra --ros-args go to rclpy."""
    from edgeattn.ros2 import run_node
    from edgeattn.ros2.config import NodeConfig

    run_node(NodeConfig(bundle=bundle, input_topic=input_topic, output_topic=output_topic, backend=backend.value,
                        top_k=top_k, threads=threads, warmup=warm_up), ctx.args)


def _command_line() -> str:
    return shlex.join(["edgeattn", *sys.argv[1:]])


def main() -> None:
    """Console entry point: user errors print two lines (what, what to do) and exit non-zero; Ctrl-C and
    SIGTERM remove unfinished output and exit 130 / 143 with one line."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        app()
    except EdgeattnError as error:
        _print_error(error)
        sys.exit(error.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("edgeattn: interrupted (Ctrl-C); unfinished output was removed\n")
        sys.exit(130)
    except Terminated:
        sys.stderr.write("edgeattn: terminated (SIGTERM); unfinished output was removed\n")
        sys.exit(143)


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


def _print_error(error: EdgeattnError) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(stderr=True)
    console.print(f"[bold red]error:[/bold red] {escape(error.what)}", highlight=False, soft_wrap=True)
    if error.hint:
        console.print(error.hint, highlight=False, soft_wrap=True, markup=False)
