"""`edgeattn profile` and `edgeattn report` as plain functions; cli.py wires them to typer."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from pydantic import ValidationError
from rich.console import Console

from edgeattn.errors import UsageError
from edgeattn.exporters.bundle import graph_file
from edgeattn.profile.profiler import ProfileSettings, profile_run
from edgeattn.profile.report import (
    load_runs,
    render_comparison_html,
    render_comparison_markdown,
    render_run_html,
)
from edgeattn.runners.registry import runner_class
from edgeattn.profile.schema import validate_run
from edgeattn.profile.source import resolve_source


def run_file_stem(model: str, backend: str, batch: int, threads: int) -> str:
    """File name stem of a run: ``<model>_<backend>_b<batch>_t<threads>``."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", model)
    return f"{safe}_{backend}_b{batch}_t{threads}"


def profile_command(bundle_or_model: str, backend: str = "ort-cpu", batch: int = 1, threads: int | None = None,
                    warmup: int = 10, iters: int = 50, out: Path = Path("profiles"),
                    resolution: int | None = None, op_profile_iters: int = 10, precision: str = "fp32",
                    flavour: str = "portable", show_progress: bool = True, write_html: bool = True) -> Path:
    """Profile a bundle folder, an ONNX file or a registry model on one backend.

    Writes ``<out>/<model>_<backend>_b<batch>_t<threads>.json`` (schema: profile/schema/run.schema.json)
    and (with ``write_html``) the matching ``.html`` report; returns the JSON path. ``resolution`` applies
    to registry models; ``precision`` and ``flavour`` pick the graph of a bundle.
    """
    cls = runner_class(backend)
    cls.require()
    if flavour == "plugins" and backend != "tensorrt":
        raise UsageError(f"backend {backend} cannot run edgeattn plugin nodes",
                         "Profile the plugin graph with --backend tensorrt (plugin library loaded), or use "
                         "--flavour portable.")
    try:
        settings = ProfileSettings(batch=batch, threads=threads, warmup=warmup, iters=iters,
                                   op_profile_iters=op_profile_iters, show_progress=show_progress)
    except ValidationError as error:
        first = error.errors()[0]
        raise UsageError(f"invalid --{str(first['loc'][0]).replace('_', '-')}: {first['msg']}",
                         "batch, iters and threads must be at least 1; warmup at least 0") from None
    console = Console(stderr=True, quiet=not show_progress)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file", "Pass a folder for the run JSON and HTML report.")
    with tempfile.TemporaryDirectory(prefix="edgeattn-profile-") as tmp:
        workdir = Path(tmp)
        source = resolve_source(bundle_or_model, batch, need_onnx=cls.needs == "onnx", workdir=workdir,
                                resolution=resolution, seed=0, graph=graph_file(flavour, precision))
        record = profile_run(source, backend, settings, workdir)
    validate_run(record)
    out.mkdir(parents=True, exist_ok=True)
    stem = run_file_stem(record["model"]["name"], backend, batch, record["settings"]["threads"])
    json_path = out / f"{stem}.json"
    json_path.write_text(json.dumps(record, indent=2) + "\n")
    if write_html:
        (out / f"{stem}.html").write_text(render_run_html(record))
    latency = record["latency"]
    console.print(f"{record['model']['name']} {backend} batch {batch}: median {latency['median_ms']:.3f} ms, "
                  f"p90 {latency['p90_ms']:.3f} ms, {latency['throughput_ips']:.1f} images/s -> {json_path}")
    if record["interrupted"]:
        console.print("[yellow]interrupted: kept the runs that finished[/yellow]")
    return json_path


def report_command(runs: list[Path], out: Path = Path("report.html"), baseline: str | None = None,
                   markdown: Path | None = None) -> Path:
    """Cross-model report from run JSON files: HTML at ``out``, optional Markdown tables at ``markdown``."""
    records = load_runs([Path(p) for p in runs])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_comparison_html(records, baseline))
    if markdown is not None:
        Path(markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(markdown).write_text(render_comparison_markdown(records, baseline))
    return out
