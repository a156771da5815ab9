"""The one prepared GPU session: everything a session with a lent CUDA GPU should run, in one command.

    python benchmarks/gpu_session.py --prepare     # here, no GPU: fill .gpu_session/ (carried to the GPU machine)
    python benchmarks/gpu_session.py --dry-run     # here: the plan, what is prepared, the carried libraries checked
    python3 benchmarks/gpu_session.py --out "$OUT" # on the GPU machine (benchmarks/README_gpu.md has the `run` call)

Stages, in this order, each inside the session's --budget (seconds, default 465: 8 minutes with margin):
  env      nvidia-smi, versions, tools; Python packages the machine lacks installed from the carried
           wheels (pip --no-index --target); `import edgeattn.ops` checked
  plugin   libedgeattn_plugins.so (carried sm_90 cubins and TensorRT headers) and the enqueue harness built
           with the machine's cmake and c++ (or the carried prebuilt pair, saying why), then
           benchmarks/plugin_enqueue.py at batch 1 and 8
  tests    EDGEATTN_TEST_GPU=1 pytest tests/gpu (xdist workers; tests not started by the deadline skip)
  kernels  benchmarks/kernels.py (do_bench 10/40 ms; torch.compile at batch 8 fp16, in its second pass)
Everything lands flat in --out: session_*.json (stages, times, reasons), session_*.log (all output),
plugin_enqueue_*.json, tests_gpu_*.json, kernels_*.json. Without a CUDA device it exits with code 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PREPARED = ROOT / ".gpu_session"
ARCH = 90
"""The lent machine's GPU (H200, sm_90): the arch the carried cubins are compiled for."""
TENSORRT_HEADERS = "10.16"
WHEELS = {"pydantic": "pydantic", "pydantic-core": "pydantic_core", "annotated-types": "annotated_types",
          "typing-inspection": "typing_inspection", "typing-extensions": "typing_extensions"}
"""Distributions the GPU image lacks (or may have too old), and their import names."""
BUDGETS = {"env": 45, "plugin": 150, "tests": 140, "kernels": 130}
"""Planned seconds per stage; a stage may use what earlier stages left unused."""
BUILD_FAILED = 3
"""plugin_enqueue.py's exit code when it cannot build the library or the harness."""
SITE = Path("/tmp/edgeattn-gpu/site")
BUILD = Path("/tmp/edgeattn-gpu/build")


@dataclass
class Stage:
    """One stage's outcome: ok, failed, timeout or skipped, why, how long, what it wrote."""

    name: str
    status: str = "skipped"
    seconds: float = 0.0
    reason: str = ""
    files: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)


class Session:
    """Runs commands with deadlines, appending all their output to one log."""

    def __init__(self, out: Path, log: Path, env: dict[str, str]) -> None:
        self.out, self.log, self.env = out, log, env

    def run(self, stage: Stage, command: list[str], timeout: float, extra_env: dict[str, str] | None = None) -> int:
        """Run `command` in its own process group; on timeout the whole group is killed (returns -9)."""
        stage.commands.append(" ".join(command))
        with self.log.open("a") as log:
            log.write(f"\n===== [{stage.name}] $ {' '.join(command)}\n")
            log.flush()
            process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                       env={**self.env, **(extra_env or {})}, start_new_session=True)
            try:
                return process.wait(timeout=max(timeout, 1))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                log.write(f"\n===== [{stage.name}] killed after {timeout:.0f} s\n")
                return -9


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# ----------------------------------------------------------------------------------------- prepare (here)

def prepare(tensorrt_headers: Path) -> dict[str, Any]:
    """Fill .gpu_session/: sm_90 cubins, TensorRT headers, a prebuilt library pair, wheels, manifest."""
    from edgeattn.plugins.compile import compile_launches
    from edgeattn.plugins.graph import spec_launches

    shutil.rmtree(PREPARED, ignore_errors=True)
    launches = spec_launches()
    compile_launches(launches, [ARCH], PREPARED / "cubins")
    for ptx in (PREPARED / "cubins").rglob("*.ptx"):
        ptx.unlink()  # only the cubins are embedded
    shutil.copytree(tensorrt_headers / "include", PREPARED / "tensorrt" / "include")
    _prebuild()
    wheels = _download_wheels(PREPARED / "wheels")
    import triton

    manifest = {"date": dt.date.today().isoformat(), "commit": _git("rev-parse", "HEAD"),
                "dirty": bool(_git("status", "--porcelain")), "arch": ARCH, "triton": triton.__version__,
                "tensorrt_headers": TENSORRT_HEADERS, "variant_keys": sorted(launch.key for launch in launches),
                "wheels": wheels,
                "files": {p.relative_to(PREPARED).as_posix(): _sha256(p) for p in sorted(PREPARED.rglob("*"))
                          if p.is_file()}}
    (PREPARED / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def _git(*args: str) -> str:
    result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return result.stdout.strip()


def _prebuild() -> None:
    """The library and harness built here (Release), used on the GPU machine when it has no compiler."""
    sys.path.insert(0, str(ROOT / "tests" / "plugins" / "harness"))
    from enqueue_binding import build_harness

    from edgeattn.plugins.build import build_library

    work = BUILD / "prebuild"
    shutil.rmtree(work, ignore_errors=True)
    library = build_library(PREPARED / "tensorrt", PREPARED / "cubins", [ARCH], work / "plugins",
                            static_registration=False)
    harness = build_harness(PREPARED / "tensorrt", work / "harness")
    (PREPARED / "prebuilt").mkdir(parents=True)
    for built in (library.dynamic_library, harness):
        shutil.copy2(built, PREPARED / "prebuilt" / built.name)


def _download_wheels(folder: Path) -> dict[str, str]:
    """cp312 manylinux wheels of WHEELS at the versions installed here (the GPU image runs Python 3.12)."""
    from importlib.metadata import version

    pins = {name: version(name) for name in WHEELS}
    platforms = [arg for tag in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
                 for arg in ("--platform", tag)]
    command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version",
               "3.12", "--implementation", "cp", *platforms, "-d", str(folder),
               *(f"{name}=={pin}" for name, pin in pins.items())]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PIP_FIND_LINKS": ""})
    if result.returncode != 0:
        raise SystemExit(f"pip download failed:\n{result.stderr[-3000:]}")
    return pins


# ----------------------------------------------------------------------------------------- stages (GPU)

def stage_env(session: Session, stage: Stage, budget: float) -> dict[str, Any]:
    """Facts, missing packages installed from the carried wheels, edgeattn importable on CUDA."""
    facts: dict[str, Any] = {"python": sys.version.split()[0], "executable": sys.executable,
                             "cpus": os.cpu_count(), "nvidia_smi": _nvidia_smi(),
                             "tools": {t: shutil.which(t) for t in ("cmake", "c++", "g++", "ninja", "nvcc")}}
    missing = [dist for dist, module in WHEELS.items() if importlib.util.find_spec(module) is None]
    facts["installed_from_wheels"] = missing
    if missing and (why := _install_wheels(session, stage, missing, budget)):
        stage.status, stage.reason = "failed", why
        return facts
    probe = _probe(session)
    if "error" in probe and not _install_wheels(session, stage, list(WHEELS), budget):
        facts["installed_from_wheels"] = list(WHEELS)
        probe = _probe(session)  # a too-old package of the image shadowed by the carried one
    facts.update(probe)
    if "error" in probe:
        stage.status, stage.reason = "failed", f"edgeattn does not import here: {probe['error']}"
    elif not probe.get("cuda"):
        stage.status, stage.reason = "failed", "no CUDA device: torch.cuda.is_available() is False"
    else:
        stage.status = "ok"
    return facts


def _nvidia_smi() -> str:
    query = "name,driver_version,memory.total,clocks.sm,clocks.max.sm,temperature.gpu,power.draw"
    try:
        result = subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable: {exc}"
    return result.stdout.strip() or result.stderr.strip()


def _install_wheels(session: Session, stage: Stage, dists: list[str], budget: float) -> str:
    """Install the carried wheels of `dists` into SITE: "" or why not."""
    normalized = {d.replace("-", "_") for d in dists}
    wheels = [str(w) for w in sorted((PREPARED / "wheels").glob("*.whl")) if w.name.split("-")[0] in normalized]
    if len(wheels) != len(dists):
        return f"the carried wheels of {dists} are not all in {PREPARED / 'wheels'}: run --prepare"
    code = session.run(stage, [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                               "--no-cache-dir", "--upgrade", "--target", str(SITE), *wheels], budget)
    return "" if code == 0 else f"pip could not install the carried wheels {dists} (exit code {code}; see the log)"


PROBE = """import json, torch, triton, edgeattn.ops, edgeattn.plugins.enqueue
cuda = torch.cuda.is_available()
facts = {"torch": torch.__version__, "triton": triton.__version__, "cuda_runtime": torch.version.cuda, "cuda": cuda}
if cuda:
    facts.update(device=torch.cuda.get_device_name(), capability=list(torch.cuda.get_device_capability()),
                 memory_gib=round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1))
print(json.dumps(facts))"""


def _probe(session: Session) -> dict[str, Any]:
    try:
        result = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True,
                                env=session.env, timeout=120)
    except subprocess.TimeoutExpired:
        return {"error": "importing torch, triton and edgeattn.ops took over 120 s"}
    if result.returncode != 0:
        return {"error": (result.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def plugin_command(out: Path, budget: float, *, build: bool, cubins: bool = True) -> list[str]:
    """benchmarks/plugin_enqueue.py at batch 1 and 8: building the pair here, or with the prebuilt one."""
    if build:
        libraries = ["--tensorrt-root", str(PREPARED / "tensorrt"), "--build-dir", str(BUILD / "plugin"),
                     "--jobs", str(os.cpu_count()), *(["--cubin-dir", str(PREPARED / "cubins")] if cubins else [])]
    else:
        libraries = ["--plugin-library", str(PREPARED / "prebuilt" / "libedgeattn_plugins.so"),
                     "--harness", str(PREPARED / "prebuilt" / "libedgeattn_enqueue_harness.so")]
    return [sys.executable, "benchmarks/plugin_enqueue.py", *libraries, "--batch", "1", "8", "--reps", "200",
            "--time-budget", f"{budget:.0f}", "--out", str(out)]


def tests_command(junit: Path) -> list[str]:
    """pytest tests/gpu with xdist workers and per-test timeouts when this Python has the plugins."""
    command = [sys.executable, "-m", "pytest", "tests/gpu", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}"]
    if importlib.util.find_spec("xdist") is not None:
        command += ["-n", str(min(8, os.cpu_count() or 1))]
    if importlib.util.find_spec("pytest_timeout") is not None:
        command += ["--timeout", "120"]
    return command


def kernels_command(out: Path, budget: float) -> list[str]:
    return [sys.executable, "benchmarks/kernels.py", "--out-dir", str(out), "--warmup", "10", "--rep", "40",
            "--compile-batch", "8", "--compile-dtype", "fp16", "--time-budget", f"{budget:.0f}"]


def stage_plugin(session: Session, stage: Stage, budget: float, facts: dict[str, Any], name: str) -> None:
    """Build the library and harness here (or use the prebuilt pair) and run every plugin's enqueue."""
    out = session.out / f"plugin_enqueue_{name}.json"
    started = time.monotonic()
    tools = facts["tools"]
    on_arch = facts.get("capability") == [ARCH // 10, ARCH % 10]
    if tools["cmake"] and (tools["c++"] or tools["g++"]):
        stage.reason = "library and harness built on this machine" + ("" if on_arch else
                                                                        f", cubins compiled here (not sm_{ARCH})")
        code = session.run(stage, plugin_command(out, budget - 40, build=True, cubins=on_arch), budget)
        if code != BUILD_FAILED:
            return _finish(stage, code, [out], started)
        stage.reason = "building here failed (see the log); the prebuilt pair was used"
    else:
        stage.reason = f"no cmake/c++ on this machine ({tools}); the pair prebuilt on the preparing machine was used"
    remaining = budget - (time.monotonic() - started)
    code = session.run(stage, plugin_command(out, remaining - 20, build=False), remaining)
    _finish(stage, code, [out], started)


def _finish(stage: Stage, code: int, outputs: list[Path], started: float) -> None:
    stage.seconds = round(time.monotonic() - started, 1)
    stage.files = [p.name for p in outputs if p.is_file()]
    stage.status = "timeout" if code == -9 else "ok" if code == 0 else "failed"
    if code not in (0, -9):
        why = f"exit code {code} (failures or errors: see the JSON)"
        stage.reason = f"{stage.reason}; {why}" if stage.reason else why


def stage_tests(session: Session, stage: Stage, budget: float, name: str) -> None:
    """EDGEATTN_TEST_GPU=1 pytest tests/gpu, with xdist and per-test timeouts when the image has them."""
    started = time.monotonic()
    junit = BUILD / "tests_gpu.xml"
    junit.unlink(missing_ok=True)  # a report of an earlier session on this machine is not this one's
    deadline = time.time() + budget - 30
    code = session.run(stage, tests_command(junit), budget,
                       {"EDGEATTN_TEST_GPU": "1", "EDGEATTN_GPU_DEADLINE": f"{deadline:.0f}"})
    out = session.out / f"tests_gpu_{name}.json"
    if junit.is_file():
        out.write_text(json.dumps(junit_summary(junit), indent=2, sort_keys=True) + "\n")
    _finish(stage, code, [out], started)
    if code == 1:
        stage.reason = "some GPU tests failed (see the JSON)"


def junit_summary(path: Path) -> dict[str, Any]:
    """Counts and every test's outcome, time and (shortened) message from a JUnit XML report."""
    import xml.etree.ElementTree as ET

    tests, counts = [], {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for tag, name in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
            element = case.find(tag)
            if element is not None:
                outcome, message = name, (element.get("message") or element.text or "")[:2000]
                break
        counts[outcome] += 1
        tests.append({"test": f"{case.get('classname')}::{case.get('name')}", "outcome": outcome,
                      "seconds": float(case.get("time") or 0), "message": message})
    return {"kind": "tests_gpu", "counts": counts, "tests": tests}


def stage_kernels(session: Session, stage: Stage, budget: float) -> None:
    """benchmarks/kernels.py with a time budget; it names its own JSON by device and date."""
    started = time.monotonic()
    before = set(session.out.glob("kernels_*.json"))
    code = session.run(stage, kernels_command(session.out, budget - 30), budget)
    _finish(stage, code, sorted(set(session.out.glob("kernels_*.json")) - before), started)


# ----------------------------------------------------------------------------------------- the session

STAGES = ("env", "plugin", "tests", "kernels")


def run_session(out: Path, budget: float, only: list[str]) -> int:
    """Every stage in order within `budget` seconds; returns 0 if all ran cleanly, 1 if not, 2 without a GPU."""
    started = time.monotonic()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(SITE)]), "PYTHONUNBUFFERED": "1",
           "PIP_FIND_LINKS": ""}
    env.pop("TRITON_INTERPRET", None)
    BUILD.mkdir(parents=True, exist_ok=True)
    session = Session(out, BUILD / "session.log", env)
    stages = {name: Stage(name) for name in STAGES}
    facts = stage_env(session, stages["env"], BUDGETS["env"])
    stages["env"].seconds = round(time.monotonic() - started, 1)
    if stages["env"].status != "ok":
        print(f"{stages['env'].reason}; nothing was run and nothing written to {out} "
              "(python benchmarks/gpu_session.py --dry-run shows the plan).", file=sys.stderr)
        return 2 if "no CUDA device" in stages["env"].reason else 1
    out.mkdir(parents=True, exist_ok=True)
    log = out / "session.log"
    if session.log.is_file():
        shutil.move(session.log, log)
    session.log = log
    name = f"{_slug(facts['device'])}_{dt.datetime.now(dt.timezone.utc).date().isoformat()}"
    for stage_name in STAGES[1:]:
        if only and stage_name not in only:
            stages[stage_name].reason = "not asked for (--stages)"
            continue
        later = sum(BUDGETS[s] for s in STAGES[STAGES.index(stage_name) + 1:] if not only or s in only)
        budget_now = budget - (time.monotonic() - started) - later
        _run_stage(session, stages[stage_name], budget_now, facts, name)
    report = {"kind": "gpu_session", "budget_s": budget, "elapsed_s": round(time.monotonic() - started, 1),
              "environment": facts, "prepared": _manifest_summary(), "stages": [asdict(s) for s in stages.values()]}
    (out / f"session_{name}.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    if log.is_file():
        log.rename(out / f"session_{name}.log")
    _print_table(stages.values(), report["elapsed_s"])
    return 0 if all(s.status in ("ok", "skipped") for s in stages.values()) else 1


def _run_stage(session: Session, stage: Stage, budget: float, facts: dict[str, Any], name: str) -> None:
    if budget < 20:
        stage.reason = f"only {budget:.0f} s of the session budget left"
        return
    print(f"[{stage.name}] budget {budget:.0f} s", flush=True)
    if stage.name == "plugin":
        stage_plugin(session, stage, budget, facts, name)
    elif stage.name == "tests":
        stage_tests(session, stage, budget, name)
    else:
        stage_kernels(session, stage, budget)


def _manifest_summary() -> dict[str, Any]:
    path = PREPARED / "manifest.json"
    if not path.is_file():
        return {"error": "no .gpu_session/manifest.json: run --prepare before the GPU call"}
    manifest = json.loads(path.read_text())
    return {k: manifest[k] for k in ("date", "commit", "dirty", "arch", "triton", "tensorrt_headers", "wheels")}


def _print_table(stages: Any, elapsed: float) -> None:
    print(f"\n{'stage':8} {'status':8} {'seconds':>7}  files / reason")
    for s in stages:
        print(f"{s.name:8} {s.status:8} {s.seconds:7.1f}  {', '.join(s.files)} {s.reason}".rstrip())
    print(f"session: {elapsed:.0f} s")


# ----------------------------------------------------------------------------------------- dry run (here)

def dry_run(budget: float) -> int:
    """Print the plan, check .gpu_session/ against the current code, load and configure the prebuilt pair."""
    print(f"Session budget {budget:.0f} s; stages and planned seconds: "
          + ", ".join(f"{s} {BUDGETS[s]}" for s in STAGES))
    print(f"Tools here: { {t: shutil.which(t) for t in ('cmake', 'c++', 'ninja', 'nvcc')} }")
    problems = prepared_problems()
    for problem in problems:
        print(f"PREPARED: {problem}")
    if problems:
        print("Run `python benchmarks/gpu_session.py --prepare` before the GPU call.")
        return 1
    print(f"Prepared: {json.dumps(_manifest_summary(), sort_keys=True)}")
    out = Path("$OUT")
    print("Commands on the GPU machine (budgets are what is left when a stage starts):")
    for line in (plugin_command(out / "plugin_enqueue_<device>_<date>.json", BUDGETS["plugin"] - 40, build=True),
                 plugin_command(out / "plugin_enqueue_<device>_<date>.json", BUDGETS["plugin"] - 20, build=False),
                 ["EDGEATTN_TEST_GPU=1", "EDGEATTN_GPU_DEADLINE=<now+budget-30>",
                  *tests_command(BUILD / "tests_gpu.xml")],
                 kernels_command(out, BUDGETS["kernels"] - 30)):
        print("  " + " ".join(line))
    command = plugin_command(Path("/dev/null"), 0, build=False)[:-4] + ["--dry-run"]
    print(f"Checking the carried prebuilt pair here:\n$ {' '.join(command)}", flush=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(command, cwd=ROOT, env=env).returncode


def prepared_problems() -> list[str]:
    """What is missing or stale in .gpu_session/ for the current code ([] when ready)."""
    from edgeattn.plugins.graph import spec_launches

    path = PREPARED / "manifest.json"
    if not path.is_file():
        return [f"{path} missing"]
    manifest = json.loads(path.read_text())
    problems = [f"{name} changed since --prepare" for name, digest in manifest["files"].items()
                if not (PREPARED / name).is_file() or _sha256(PREPARED / name) != digest]
    keys = sorted(launch.key for launch in spec_launches())
    if keys != manifest["variant_keys"]:
        problems.append(f"the cubins are stale: the spec cases need {len(keys)} kernel variants, "
                        f"{len(set(keys) - set(manifest['variant_keys']))} of them not prepared")
    return problems


def _default_headers() -> Path:
    base = os.environ.get("EDGEATTN_TENSORRT_HEADERS")
    return (Path(base) if base else ROOT.parent / "shared" / "third_party" / "tensorrt") / TENSORRT_HEADERS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--prepare", action="store_true", help="fill .gpu_session/ here (needs no GPU)")
    mode.add_argument("--dry-run", action="store_true", help="print the plan and check the prepared files")
    parser.add_argument("--out", type=Path, help="where the session's files go (on the GPU machine: $OUT)")
    parser.add_argument("--budget", type=float, default=465.0, help="seconds for the whole session")
    parser.add_argument("--stages", nargs="+", choices=STAGES[1:], default=[], help="run only these (env always runs)")
    parser.add_argument("--tensorrt-headers", type=Path, default=_default_headers(),
                        help=f"TensorRT root whose include/ is carried (--prepare; default: TensorRT "
                             f"{TENSORRT_HEADERS} from $EDGEATTN_TENSORRT_HEADERS or ../shared/third_party/tensorrt)")
    args = parser.parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # --prepare and --dry-run import edgeattn from this checkout
    if args.prepare:
        if not (args.tensorrt_headers / "include" / "NvInferRuntime.h").is_file():
            print(f"No TensorRT headers at {args.tensorrt_headers}/include.\nPass --tensorrt-headers <TensorRT root>.",
                  file=sys.stderr)
            return 2
        manifest = prepare(args.tensorrt_headers)
        print(f"prepared {PREPARED}: {len(manifest['variant_keys'])} sm_{ARCH} variants, wheels {manifest['wheels']}")
        return 0
    if args.dry_run:
        return dry_run(args.budget)
    if args.out is None:
        parser.error("--out is required for a session (on the GPU machine: --out \"$OUT\")")
    return run_session(args.out, args.budget, args.stages)


if __name__ == "__main__":
    sys.exit(main())
