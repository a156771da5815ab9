"""The POSIX shell scripts a remote run sends to the device (one function per step).

Every script quotes what it is given with ``shlex.quote``. The run driver records its process group in
``<run>/pgid`` and keeps a watchdog on its standard input: when the SSH channel closes (Ctrl-C here,
a dropped connection), the watchdog sees end-of-file and stops the whole process group. Failures are
reported on stderr as one ``EDGEATTN-REMOTE-ERROR <kind> <detail>`` line followed by the log tail.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from edgeattn.profile.remote_files import BundlePlan

ERROR_MARK = "EDGEATTN-REMOTE-ERROR"
LOG_TAIL_LINES = 30
TEGRASTATS_INTERVAL_MS = 500
TRTEXEC_DEFAULT = "/usr/src/tensorrt/bin/trtexec"
PLUGIN_LIB_DEFAULT = "plugins/libedgeattn_plugins.so"


def q(text: str) -> str:
    return shlex.quote(text)


@dataclass(frozen=True)
class RemotePaths:
    """Device-side folders of one run (work folder relative to the login's home unless absolute)."""

    work: str
    digest: str
    run_id: str
    bundle_name: str
    """The local bundle folder's name, kept on the device so the model is named the same there."""

    @property
    def objects(self) -> str:
        return f"{self.work}/objects"

    @property
    def bundles(self) -> str:
        return f"{self.work}/bundles/{self.digest}"

    @property
    def bundle(self) -> str:
        return f"{self.bundles}/{self.bundle_name}"

    @property
    def run(self) -> str:
        return f"{self.work}/runs/{self.run_id}"

    @property
    def out(self) -> str:
        return f"{self.run}/out"

    @property
    def incoming(self) -> str:
        """Where uploaded objects wait until their hashes are checked."""
        return f"{self.objects}/.incoming-{self.run_id}"


def prepare(paths: RemotePaths, plan: BundlePlan) -> str:
    """Create the run folder; print ``missing <sha>`` per object to copy and ``bundle-ready`` if built."""
    hashes = " ".join(f.sha256 for f in plan.files)
    return (f"set -e; mkdir -p {q(paths.objects)} {q(paths.out)}; cd {q(paths.objects)}; "
            f"for h in {hashes}; do [ -f \"$h\" ] || echo \"missing $h\"; done; "
            f"[ -f {q(paths.bundles + '/.complete')} ] && echo bundle-ready; true")


def commit_objects(paths: RemotePaths) -> str:
    """Check each uploaded object's hash and move it into the store (a corrupt copy is an error)."""
    return (f"set -e; cd {q(paths.incoming)}; for h in *; do [ -f \"$h\" ] || continue; "
            "got=$(sha256sum \"$h\" | cut -d' ' -f1); "
            f"if [ \"$got\" != \"$h\" ]; then echo \"{ERROR_MARK} corrupt-copy $h\" >&2; exit 1; fi; "
            f"mv -f \"$h\" ../\"$h\"; done; cd ..; rmdir {q('.incoming-' + paths.run_id)}")


def materialize(paths: RemotePaths, plan: BundlePlan) -> str:
    """Rebuild the bundle folder from the objects (copies, so a build cannot alter an object)."""
    steps = [f"set -e; rm -rf {q(paths.bundles)}; mkdir -p {q(paths.bundle)}"]
    for f in plan.files:
        target = f"{paths.bundle}/{f.name}"
        steps.append(f"mkdir -p $(dirname {q(target)}) && cp {q(paths.objects + '/' + f.sha256)} {q(target)}")
        if f.executable:
            steps.append(f"chmod +x {q(target)}")
    steps.append(f"touch {q(paths.bundles + '/.complete')}")
    return "; ".join(steps)


def _prologue(paths: RemotePaths) -> str:
    """Record the process group, start the stdin watchdog, define the error helper."""
    return "\n".join([
        "set -u",
        f"RUN=$(cd {q(paths.run)} && pwd) && OUT=$(cd {q(paths.out)} && pwd) && BUNDLE=$(cd {q(paths.bundle)} && pwd)"
        " || exit 1",
        'PGID=$(cut -d" " -f5 /proc/$$/stat 2>/dev/null || echo $$); echo "$PGID" > "$RUN/pgid"',
        "exec 3<&0",
        '( cat <&3 >/dev/null 2>&1; kill -TERM -"$PGID" 2>/dev/null ) >/dev/null 2>&1 &',
        "exec 0</dev/null",
        f'fail() {{ echo "{ERROR_MARK} $1 $2" >&2; [ -f "${{3:-}}" ] && tail -n {LOG_TAIL_LINES} "$3" >&2; exit "$4"; }}',
        "TS=",
        f'if command -v tegrastats >/dev/null 2>&1; then start_ts() {{ tegrastats --interval {TEGRASTATS_INTERVAL_MS}'
        ' > "$OUT/tegrastats.log" 2>&1 3<&- & TS=$!; }; else start_ts() { :; }; fi',
        'stop_ts() { [ -n "$TS" ] && kill "$TS" 2>/dev/null; TS=; }',
    ])


def edgeattn_profile_options(backend: str, batch: int, threads: int | None, warmup: int, iterations: int) -> list[str]:
    """``edgeattn profile`` options for the device (option names of this edgeattn version)."""
    options = ["--backend", backend, "--batch", str(batch), "--warm-up", str(warmup), "--iterations", str(iterations)]
    return options + (["--threads", str(threads)] if threads else [])


def edgeattn_driver(paths: RemotePaths, plan: BundlePlan, edgeattn: Sequence[str], options: Sequence[str]) -> str:
    """Run ``edgeattn profile`` on the device, with tegrastats sampling around it where present."""
    program = edgeattn[0]
    model = '"$BUNDLE"' if plan.folder else f'"$BUNDLE"/{q(plan.model_file)}'
    command = f'{" ".join(q(a) for a in edgeattn)} profile {model} {" ".join(q(o) for o in options)} --out "$OUT"'
    return "\n".join([
        _prologue(paths),
        f"command -v {q(program)} >/dev/null 2>&1 || fail missing-program {q(program)} '' 127",
        "start_ts",
        f'{command} > "$RUN/edgeattn.log" 2>&1 3<&-; rc=$?; stop_ts',
        '[ "$rc" -eq 0 ] || fail command-failed "$rc" "$RUN/edgeattn.log" "$rc"',
    ])


def trtexec_command(engine: str, plugins: bool, iterations: int, duration_s: float, out: str = "$OUT") -> list[str]:
    """The trtexec benchmark arguments: warm-up by iteration count (first iterations dropped later)."""
    args = ['"$TRTEXEC"', f'--loadEngine="{engine}"']
    if plugins:
        args.append(f'--dynamicPlugins="${{EDGEATTN_PLUGIN_LIB:-{PLUGIN_LIB_DEFAULT}}}"')
    args += ["--separateProfileRun", f'--exportTimes="{out}/times.json"', f'--exportProfile="{out}/profile.json"',
             f'--exportLayerInfo="{out}/layers.json"', "--profilingVerbosity=detailed",
             f"--iterations={iterations}", f"--duration={duration_s:g}", "--warmUp=0"]
    return args


def trtexec_driver(paths: RemotePaths, flavour: str, precision: str, iterations: int, duration_s: float) -> str:
    """Build the engine with the bundle's build_engine.sh, then benchmark and profile it with trtexec."""
    benchmark = " ".join(trtexec_command("$ENGINE", flavour == "plugins", iterations, duration_s))
    return "\n".join([
        _prologue(paths),
        f'TRTEXEC="${{TRTEXEC:-$(command -v trtexec || echo {TRTEXEC_DEFAULT})}}"; export TRTEXEC',
        'cd "$BUNDLE"',
        f'./build_engine.sh {q(flavour)} {q(precision)} > "$RUN/build.log" 2>&1 3<&-; rc=$?',
        'if [ "$rc" -ne 0 ]; then [ -x "$TRTEXEC" ] || fail missing-program trtexec "$RUN/build.log" 127; '
        'fail build-failed "$rc" "$RUN/build.log" 3; fi',
        'ENGINE=$(sed -n "s/^engine: //p" "$RUN/build.log" | tail -n 1)',
        '[ -n "$ENGINE" ] && [ -f "$ENGINE" ] || fail build-failed no-engine "$RUN/build.log" 3',
        "start_ts",
        f'{benchmark} > "$OUT/trtexec.log" 2>&1 3<&-; rc=$?; stop_ts',
        '[ "$rc" -eq 0 ] || fail trtexec-failed "$rc" "$OUT/trtexec.log" 4',
    ])


def stop(paths: RemotePaths, grace_s: int = 5) -> str:
    """Stop the run's process group (TERM, then KILL after ``grace_s``)."""
    return (f"f={q(paths.run + '/pgid')}; if [ -f \"$f\" ] && g=$(cat \"$f\") && kill -TERM -\"$g\" 2>/dev/null; "
            f"then i=0; while kill -0 -\"$g\" 2>/dev/null && [ $i -lt {grace_s * 10} ]; do sleep 0.1; i=$((i+1)); "
            "done; kill -KILL -\"$g\" 2>/dev/null; fi; true")


def cleanup(paths: RemotePaths, created_objects: Sequence[str], created_bundle: bool, keep_cache: bool,
            keep_run: bool) -> str:
    """Remove what this run left on the device: its run folder unless ``keep_run``, and the objects and
    bundle it created unless ``keep_cache`` (those kept by earlier ``--keep-remote`` runs stay)."""
    removals = [paths.incoming] + ([] if keep_run else [paths.run])
    if not keep_cache:
        removals += [f"{paths.objects}/{h}" for h in created_objects]
        removals += [paths.bundles] if created_bundle else []
    empty = [f"{paths.work}/runs", f"{paths.work}/bundles", paths.objects, paths.work]
    return (f"rm -rf {' '.join(q(p) for p in removals)}; "
            f"for d in {' '.join(q(p) for p in empty)}; do rmdir \"$d\" 2>/dev/null; done; true")
