"""`edgeattn profile` and `edgeattn report` as plain functions; cli.py wires them to typer."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from pydantic import ValidationError
from rich.console import Console

from edgeattn.errors import UsageError
from edgeattn.bundle_files import graph_file
from edgeattn.destination import atomic_write, check_file
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
                    resolution: int | None = None, op_profile_iters: int = 10, precision: str | None = None,
                    flavour: str = "portable", show_progress: bool = True, write_html: bool = True) -> Path:
    """Profile a bundle folder, an ONNX file or a registry model on one backend.

    Writes ``<out>/<model>_<backend>_b<batch>_t<threads>.json`` (schema: profile/schema/run.schema.json)
    and (with ``write_html``) the matching ``.html`` report; returns the JSON path. ``resolution`` applies
    to registry models; ``precision`` (default: the bundle's) and ``flavour`` pick the graph of a bundle.
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
        raise _settings_error(error) from None
    console = Console(stderr=True, quiet=not show_progress)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file", "Pass a folder for the run JSON and HTML report.")
    with tempfile.TemporaryDirectory(prefix="edgeattn-profile-") as tmp:
        workdir = Path(tmp)
        source = resolve_source(bundle_or_model, batch, need_onnx=cls.needs == "onnx", workdir=workdir,
                                resolution=resolution, seed=0,
                                graph=graph_file(flavour, precision or bundle_precision(Path(bundle_or_model))))
        record = profile_run(source, backend, settings, workdir)
    validate_run(record)
    out.mkdir(parents=True, exist_ok=True)
    stem = run_file_stem(record["model"]["name"], backend, batch, record["settings"]["threads"])
    json_path = out / f"{stem}.json"
    atomic_write(json_path, json.dumps(record, indent=2) + "\n")
    if write_html:
        atomic_write(out / f"{stem}.html", render_run_html(record))
    latency = record["latency"]
    console.print(f"{record['model']['name']} {backend} batch {batch}: median {latency['median_ms']:.3f} ms, "
                  f"p90 {latency['p90_ms']:.3f} ms, {latency['throughput_ips']:.1f} images/s -> {json_path}")
    if record["interrupted"]:
        console.print("[yellow]interrupted: kept the runs that finished[/yellow]")
    return json_path


def report_command(runs: list[Path], out: Path = Path("report.html"), baseline: str | None = None,
                   markdown: Path | None = None) -> Path:
    """Cross-model report from run JSON files: HTML at ``out``, optional Markdown tables at ``markdown``."""
    out = check_file(out)
    markdown = check_file(markdown) if markdown is not None else None
    records = load_runs([Path(p) for p in runs])
    atomic_write(out, render_comparison_html(records, baseline))
    if markdown is not None:
        atomic_write(markdown, render_comparison_markdown(records, baseline))
    return out


SETTING_FLAGS = {"warmup": "--warm-up", "iters": "--iterations", "batch": "--batch", "threads": "--threads"}


def _settings_error(error: ValidationError) -> UsageError:
    first = error.errors()[0]
    flag = SETTING_FLAGS.get(str(first["loc"][0]), str(first["loc"][0]))
    return UsageError(f"invalid {flag}: {first['msg']}",
                      "--batch, --iterations and --threads must be at least 1; --warm-up at least 0.")


def _device_settings(batch: int, threads: int | None, warmup: int, iters: int) -> ProfileSettings:
    try:
        return ProfileSettings(batch=batch, threads=threads, warmup=warmup, iters=iters)
    except ValidationError as error:
        raise _settings_error(error) from None


def _write_device_run(record: dict, out: Path, stem: str, write_html: bool) -> Path:
    """Validate, then write ``<stem>.json`` (and ``.html``) into ``out``; nothing is written on error."""
    validate_run(record)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file", "Pass a folder for the run JSON and HTML report.")
    page = render_run_html(record) if write_html else None
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / f"{stem}.json"
    atomic_write(json_path, json.dumps(record, indent=2) + "\n")
    if page is not None:
        atomic_write(json_path.with_suffix(".html"), page)
    return json_path


def _summary_line(record: dict, where: str, path: Path) -> str:
    latency = record["latency"]
    return (f"{record['model']['name']} {record['backend']} batch {record['settings']['batch']} on {where}: median "
            f"{latency['median_ms']:.3f} ms, p90 {latency['p90_ms']:.3f} ms, {latency['throughput_ips']:.1f} images/s "
            f"-> {path}")


def remote_profile_command(bundle: str, remote: str, backend: str = "ort-cpu", batch: int = 1,
                           threads: int | None = None, warmup: int = 10, iters: int = 50, duration: float = 0.0,
                           keep_remote: bool = False, remote_edgeattn: str | None = None,
                           flavour: str = "portable", precision: str | None = None, out: Path = Path("profiles"),
                           show_progress: bool = True, write_html: bool = True) -> Path:
    """Profile a bundle (or .onnx file) on a device over SSH; writes the run JSON and HTML into ``out``.

    ``backend`` "trtexec" builds the engine with the bundle's build_engine.sh and runs trtexec there;
    any other backend runs ``edgeattn profile`` on the device (``remote_edgeattn``: its command).
    """
    from edgeattn.profile.remote import RemoteRun, remote_edgeattn_command, run_remote
    from edgeattn.profile.ssh import Destination

    if backend != "trtexec" and runner_class(backend).needs == "torch":
        raise UsageError(f"--remote runs bundles; backend {backend} runs registry models in torch",
                         "pick --backend ort-cpu, tensorrt or trtexec for a bundle")
    if backend != "trtexec" and (duration or flavour != "portable" or precision):
        raise UsageError("--duration, --flavour and --graph apply to --backend trtexec",
                         "drop them, or use --backend trtexec")
    if duration < 0:
        raise UsageError(f"invalid --duration {duration}", "trtexec's --duration is seconds, 0 or more")
    settings = _device_settings(batch, threads, warmup, iters)
    run = RemoteRun(destination=Destination.parse(remote), backend=backend, keep=keep_remote,
                    edgeattn=remote_edgeattn_command(remote_edgeattn), flavour=flavour, precision=precision,
                    duration_s=duration)
    console = Console(stderr=True, quiet=not show_progress, soft_wrap=True)
    result = run_remote(Path(bundle), run, settings, console)
    record = result.record
    host = re.sub(r"[^A-Za-z0-9_.-]+", "-", run.destination.host)
    threads_part = "" if record["settings"]["threads"] is None else f"_t{record['settings']['threads']}"
    stem = f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', record['model']['name'])}_{backend}_b{record['settings']['batch']}" \
           f"{threads_part}_{host}"
    path = _write_device_run(record, out, stem, write_html)
    console.print(_summary_line(record, str(run.destination), path))
    console.print("kept the device's work folder " + result.work_dir if keep_remote else
                  "removed what this run left on the device (--keep-remote keeps it)")
    return path


def trtexec_import_command(folder: Path, onnx_path: Path | None = None, out: Path = Path("profiles"),
                           show_progress: bool = True, write_html: bool = True) -> Path:
    """Turn a folder of trtexec exports into a run JSON (+ HTML); ``onnx_path`` traces layers to ONNX nodes."""
    from edgeattn.profile.trtexec import read_exports
    from edgeattn.profile.trtexec_record import coverage_line, run_record

    if onnx_path is not None and not Path(onnx_path).is_file():
        raise UsageError(f"--onnx {onnx_path} not found", "pass the ONNX graph the engine was built from")
    exports = read_exports(Path(folder))
    record = run_record(exports, onnx_path=Path(onnx_path) if onnx_path else None)
    stem = f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', record['model']['name'])}_trtexec_b{record['settings']['batch']}"
    path = _write_device_run(record, out, stem, write_html)
    console = Console(stderr=True, quiet=not show_progress, soft_wrap=True)
    console.print(_summary_line(record, record["environment"]["gpu"] or "the exporting GPU", path))
    console.print(coverage_line(record), highlight=False)
    return path


def bundle_precision(path: Path) -> str:
    """The precision a bundle was exported with ("fp32" for anything that is not a bundle)."""
    manifest = path / "manifest.json"
    if not manifest.is_file():
        return "fp32"
    try:
        entry = json.loads(manifest.read_text()).get("precision") or {}
    except (OSError, ValueError):
        return "fp32"
    return entry.get("precision", "fp32") if isinstance(entry, dict) else "fp32"


def profile_entry(bundle_or_model: str | None, *, backend: str, precision: str | None, flavour: str,
                  remote: str | None, keep_remote: bool, remote_edgeattn: str | None, duration: float,
                  from_trtexec: Path | None, onnx_graph: Path | None, **settings) -> Path:
    """`edgeattn profile`: read trtexec exports, run on a device over SSH, or run here; options that do not
    apply to the chosen mode are refused."""
    if from_trtexec is not None:
        if bundle_or_model is not None or remote is not None:
            raise UsageError("--from-trtexec reads exports; it takes no BUNDLE and no --remote",
                             "Run either `edgeattn profile --from-trtexec DIR` or `edgeattn profile BUNDLE`.")
        return trtexec_import_command(from_trtexec, onnx_graph, out=settings["out"])
    if bundle_or_model is None:
        raise UsageError("missing BUNDLE_OR_MODEL", "Pass a bundle folder, .onnx file or model name, "
                                                    "or --from-trtexec DIR.")
    if onnx_graph is not None:
        raise UsageError("--onnx applies to --from-trtexec", "Drop --onnx, or read exports with --from-trtexec DIR.")
    if remote is not None:
        settings.pop("resolution")
        return remote_profile_command(bundle_or_model, remote, backend=backend, duration=duration,
                                      keep_remote=keep_remote, remote_edgeattn=remote_edgeattn, flavour=flavour,
                                      precision=precision, **settings)
    if backend == "trtexec":
        raise UsageError("--backend trtexec runs on a device: add --remote user@host",
                         "Or read exports you made by hand with --from-trtexec DIR.")
    stray = [name for name, on in (("--keep-remote", keep_remote), ("--remote-edgeattn", remote_edgeattn is not None),
                                   ("--duration", duration != 0.0)) if on]
    if stray:
        raise UsageError(f"{', '.join(stray)} apply to --remote runs", "Add --remote user@host, or drop them.")
    return profile_command(bundle_or_model, backend=backend, precision=precision, flavour=flavour, **settings)
