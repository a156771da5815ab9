"""``edgeattn profile BUNDLE --remote user@host[:port]``: copy the bundle, run on the device, bring results back.

Steps: hash the files the backend needs and copy the missing ones into the device's content-addressed
store (``remote_files``); read the device facts; run ``edgeattn profile`` (any edgeattn backend) or
``build_engine.sh`` + trtexec (``--backend trtexec``) there with tegrastats sampling; fetch the results;
remove what the run left unless ``--keep-remote``. Ctrl-C stops the remote processes and removes the
run folder before returning. No step leaves a partial local result: the run JSON is written only after
everything succeeded.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from edgeattn.errors import EdgeattnError, UsageError
from edgeattn.profile import remote_scripts as scripts
from edgeattn.profile.device_facts import FACTS_SCRIPT, parse_facts
from edgeattn.profile.profiler import ProfileSettings
from edgeattn.profile.remote_files import BundlePlan, bundle_precision, plan_bundle, remote_work_dir
from edgeattn.profile.schema import validate_run
from edgeattn.profile.ssh import Connection, Destination
from edgeattn.profile.tegrastats import parse_log, summarize

REMOTE_EDGEATTN_ENV = "EDGEATTN_REMOTE_EDGEATTN"
STOP_TIMEOUT_S = 20


class RemoteInterrupted(EdgeattnError):
    """Ctrl-C during a remote run (after the device was cleaned up)."""

    exit_code = 130


@dataclass(frozen=True)
class RemoteRun:
    """Where and how to run: destination, backend, what to keep, which edgeattn and trtexec settings."""

    destination: Destination
    backend: str
    keep: bool = False
    edgeattn: tuple[str, ...] = ("edgeattn",)
    flavour: str = "portable"
    precision: str | None = None
    duration_s: float = 0.0


def remote_edgeattn_command(value: str | None) -> tuple[str, ...]:
    """The device's edgeattn command (``--remote-edgeattn``, else $EDGEATTN_REMOTE_EDGEATTN, else ``edgeattn``)."""
    text = value or os.environ.get(REMOTE_EDGEATTN_ENV) or "edgeattn"
    words = tuple(shlex.split(text))
    if not words:
        raise UsageError("--remote-edgeattn is empty", "pass the device's edgeattn command, e.g. ~/venv/bin/edgeattn")
    return words


@dataclass
class _Left:
    """What this run created on the device (so that cleanup removes exactly that)."""

    objects: list[str] = field(default_factory=list)
    bundle: bool = False
    copied_bytes: int = 0
    reused: int = 0


@contextmanager
def _no_interrupts() -> Iterator[None]:
    """Ignore Ctrl-C while the device is being cleaned up (it takes seconds, and must not be cut short)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _check(result: subprocess.CompletedProcess[bytes], what: str) -> str:
    if result.returncode != 0:
        tail = result.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise EdgeattnError(f"{what} failed on the device: {' / '.join(tail) or f'exit {result.returncode}'}",
                            "check its free space and permissions, or set EDGEATTN_REMOTE_DIR to another folder")
    return result.stdout.decode(errors="replace")


def copy_bundle(conn: Connection, paths: scripts.RemotePaths, plan: BundlePlan, left: _Left) -> None:
    """Copy what the device does not have yet (by content hash) and rebuild the bundle folder there."""
    lines = _check(conn.run(scripts.prepare(paths, plan)), "creating the work folder").split("\n")
    if "bundle-ready" in lines:
        left.reused = len(plan.files)
        return
    missing = {line.split()[1] for line in lines if line.startswith("missing ")}
    unique = {f.sha256: f for f in plan.files if f.sha256 in missing}
    steps = [scripts.materialize(paths, plan)]
    if unique:
        conn.upload([(f.path, sha) for sha, f in unique.items()], paths.incoming)
        left.objects = list(unique)
        steps.insert(0, scripts.commit_objects(paths))
    left.bundle = True  # from here on the bundle folder may exist, complete or not
    _check(conn.run("\n".join(f"( {step} ) || exit 1" for step in steps)), "checking and unpacking the copied files")
    left.copied_bytes = sum(f.size for f in unique.values())
    left.reused = len(plan.files) - sum(1 for f in plan.files if f.sha256 in unique)


def driver_script(paths: scripts.RemotePaths, plan: BundlePlan, run: RemoteRun, settings: ProfileSettings) -> str:
    """The device-side script for this backend."""
    if run.backend == "trtexec":
        precision = run.precision or bundle_precision(plan.root)
        return scripts.trtexec_driver(paths, run.flavour, precision, settings.warmup + settings.iters, run.duration_s)
    options = scripts.edgeattn_profile_options(run.backend, settings.batch, settings.threads, settings.warmup,
                                               settings.iters)
    return scripts.edgeattn_driver(paths, plan, run.edgeattn, options)


def driver_failure(code: int, stderr: str, run: RemoteRun) -> EdgeattnError:
    """One clear error from the driver's ``EDGEATTN-REMOTE-ERROR kind detail`` line and the log tail."""
    lines = stderr.rstrip().splitlines()
    marks = [i for i, line in enumerate(lines) if line.startswith(scripts.ERROR_MARK)]
    if not marks:
        return EdgeattnError(f"the run on {run.destination} failed (exit {code})", "\n".join(lines[-10:]) or "no output")
    kind, _, detail = lines[marks[-1]][len(scripts.ERROR_MARK):].strip().partition(" ")
    tail = "\n".join(lines[marks[-1] + 1:]) or "(the log is empty)"
    if kind == "missing-program" and detail == "trtexec":
        return EdgeattnError(f"no trtexec on {run.destination}",
                             "install TensorRT there (JetPack ships /usr/src/tensorrt/bin/trtexec) or set TRTEXEC in "
                             "the device's environment")
    if kind == "missing-program":
        return EdgeattnError(f"`{detail}` not found on {run.destination}",
                             "install edgeattn on the device, or pass --remote-edgeattn /path/to/edgeattn")
    what = {"build-failed": "the engine build (build_engine.sh) failed on the device",
            "trtexec-failed": "trtexec failed on the device",
            "command-failed": "`edgeattn profile` failed on the device"}.get(kind, f"the device reported {kind}")
    return EdgeattnError(f"{what} (exit {detail}); its log ends:",
                         f"{tail}\n(add --keep-remote to keep the device's run folder and logs)")


def run_driver(conn: Connection, script: str, run: RemoteRun) -> None:
    """Run the driver and wait. Its stdin stays open until it exits: the driver's watchdog stops the
    remote processes when it closes early (Ctrl-C here, or a dropped connection)."""
    with tempfile.TemporaryFile() as err:
        process = conn.popen(script, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err)
        try:
            process.wait()
        except BaseException:
            process.kill()
            process.wait()
            raise
        finally:
            assert process.stdin is not None
            process.stdin.close()
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    if process.returncode == 255:
        from edgeattn.profile.ssh import ssh_failure

        raise ssh_failure(stderr, run.destination)
    if process.returncode != 0:
        raise driver_failure(process.returncode, stderr, run)


def tegrastats_summary(out: Path) -> dict[str, Any] | None:
    """Summary of the tegrastats samples the driver logged, None where tegrastats did not run."""
    log = out / "tegrastats.log"
    if not log.is_file():
        return None
    samples, _ = parse_log(log.read_text(errors="replace"))
    return summarize(samples, scripts.TEGRASTATS_INTERVAL_MS)


def _model_name(plan: BundlePlan) -> str:
    manifest = plan.root / "manifest.json"
    if plan.folder and manifest.is_file():
        model = json.loads(manifest.read_text()).get("model")
        if isinstance(model, dict) and model.get("name"):
            return str(model["name"])
    return plan.root.name if plan.folder else Path(plan.model_file).stem


def results_record(out: Path, plan: BundlePlan, run: RemoteRun, settings: ProfileSettings,
                   facts: dict[str, Any]) -> dict[str, Any]:
    """The run record from the fetched results (the device's run JSON, or trtexec's exports)."""
    if run.backend == "trtexec":
        from edgeattn.profile.trtexec import read_exports
        from edgeattn.profile.trtexec_record import run_record

        return run_record(read_exports(out), onnx_path=plan.root / plan.model_file, model_name=_model_name(plan),
                          origin="bundle", warmup_runs=settings.warmup,
                          requested={"iterations": settings.iters, "duration_s": run.duration_s}, facts=facts)
    found = sorted(out.glob("*.json"))
    if len(found) != 1:
        raise EdgeattnError(f"the device's edgeattn wrote {len(found)} run files, expected one",
                            "run the same edgeattn version on the device and here")
    record = json.loads(found[0].read_text())
    try:
        validate_run(record)
    except EdgeattnError as error:
        raise EdgeattnError(f"the device's run record does not follow this version's schema: {error.what}",
                            "install the same edgeattn version on the device (pip install edgeattn==VERSION)") from None
    return record


@dataclass
class RemoteResult:
    """A finished remote run: the record and what was copied."""

    record: dict[str, Any]
    left: _Left
    work_dir: str


def _tidy(conn: Connection, paths: scripts.RemotePaths, left: _Left, keep_cache: bool, keep_run: bool,
          stop: bool = True) -> str | None:
    """Stop the run's processes (after a failure) and remove what it left; a warning if that fails."""
    script = scripts.cleanup(paths, left.objects, left.bundle, keep_cache, keep_run)
    with _no_interrupts():
        try:
            result = conn.run(f"{scripts.stop(paths)}\n{script}" if stop else script, timeout=STOP_TIMEOUT_S)
        except (EdgeattnError, subprocess.TimeoutExpired) as error:
            return f"could not clean up {paths.run} on the device: {error}"
    return None if result.returncode == 0 else f"cleaning up {paths.run} on the device failed"


def _steps(conn: Connection, paths: scripts.RemotePaths, plan: BundlePlan, run: RemoteRun,
           settings: ProfileSettings, left: _Left, facts: dict[str, Any], console: Console) -> dict[str, Any]:
    """Copy, run, fetch and read the results (cleanup is the caller's)."""
    copy_bundle(conn, paths, plan, left)
    console.print(f"copied {len(left.objects)} file(s) ({left.copied_bytes / 2**20:.1f} MiB) to {paths.work}, "
                  f"{left.reused} already there")
    console.print(f"running {_command_summary(run, plan)} on the device …")
    run_driver(conn, driver_script(paths, plan, run, settings), run)
    with tempfile.TemporaryDirectory(prefix="edgeattn-remote-") as tmp:
        conn.download(paths.out, Path(tmp))
        record = results_record(Path(tmp), plan, run, settings, facts)
        record["device"] = {"tegrastats": tegrastats_summary(Path(tmp))}
    return record


def _run_and_tidy(conn: Connection, paths: scripts.RemotePaths, plan: BundlePlan, run: RemoteRun,
                  settings: ProfileSettings, facts: dict[str, Any],
                  console: Console) -> tuple[dict[str, Any], _Left, str | None]:
    """The run's steps; whatever happens, the device is tidied (Ctrl-C: processes stopped, run folder removed)."""
    left = _Left()
    try:
        record = _steps(conn, paths, plan, run, settings, left, facts, console)
    except KeyboardInterrupt:
        warning = _tidy(conn, paths, left, keep_cache=run.keep, keep_run=False)
        raise RemoteInterrupted("interrupted: the remote processes were stopped and the device's run folder "
                                "removed" if warning is None else f"interrupted; {warning}",
                                "nothing was written here; run again to profile") from None
    except BaseException:
        warning = _tidy(conn, paths, left, keep_cache=run.keep, keep_run=run.keep)
        if warning:
            console.print(f"[yellow]{warning}[/yellow]")
        raise
    return record, left, _tidy(conn, paths, left, keep_cache=run.keep, keep_run=run.keep, stop=False)


def run_remote(source: Path, run: RemoteRun, settings: ProfileSettings, console: Console) -> RemoteResult:
    """Profile ``source`` (bundle folder or .onnx) on the device; see the module docstring."""
    plan = plan_bundle(source, run.backend, run.flavour, run.precision)
    run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    paths = scripts.RemotePaths(remote_work_dir(), plan.digest, run_id, plan.root.name)
    console.print(f"connecting to {run.destination} …")
    try:
        with Connection(run.destination) as conn:
            facts = parse_facts(_check(conn.run(FACTS_SCRIPT), "reading the device facts"))
            console.print(f"device: {describe_device(facts)}")
            record, left, warning = _run_and_tidy(conn, paths, plan, run, settings, facts, console)
    except KeyboardInterrupt:
        raise RemoteInterrupted("interrupted before anything ran on the device",
                                "nothing was left on the device or written here") from None
    if warning:
        console.print(f"[yellow]{warning}[/yellow]")
    record["device"] = {**facts, **record["device"]}
    record["remote"] = {"destination": str(run.destination), "work_dir": paths.work, "files_copied": len(left.objects),
                        "bytes_copied": left.copied_bytes, "files_reused": left.reused, "kept": run.keep,
                        "command": _command_summary(run, plan)}
    return RemoteResult(record=record, left=left, work_dir=paths.work)


def _command_summary(run: RemoteRun, plan: BundlePlan) -> str:
    if run.backend == "trtexec":
        return f"`./build_engine.sh {run.flavour} {run.precision or bundle_precision(plan.root)}` and trtexec"
    target = plan.root.name if plan.folder else plan.model_file
    return f"`{shlex.join(run.edgeattn)} profile {target} --backend {run.backend}`"


def describe_device(facts: dict[str, Any]) -> str:
    """One line: model, L4T/JetPack, TensorRT, CUDA, power mode, clocks."""
    parts = [facts.get("model") or f"{facts.get('os') or 'unknown OS'} (no /proc/device-tree/model)"]
    for key, label in (("l4t", "L4T"), ("jetpack", "JetPack"), ("tensorrt", "TensorRT"), ("cuda", "CUDA")):
        if facts.get(key):
            parts.append(f"{label} {facts[key]}")
    if facts.get("power_mode"):
        parts.append(f"power mode {facts['power_mode']['name']}")
    clocks = facts.get("clocks")
    parts.append("clocks unknown" if clocks is None else "clocks locked" if clocks["locked"] else "clocks NOT locked")
    return ", ".join(parts)
