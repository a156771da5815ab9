"""Parsers and scripts of remote runs: tegrastats lines, device facts, --remote values, ssh errors,
bundle plans and the device-side shell scripts (syntax-checked by the system's sh)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from edgeattn.errors import UsageError
from edgeattn.profile import remote_scripts as scripts
from edgeattn.profile.device_facts import (
    FACTS_SCRIPT,
    clocks_from_jetson_clocks,
    clocks_from_sysfs,
    parse_facts,
    parse_l4t,
    parse_nvpmodel,
)
from edgeattn.profile.remote import RemoteRun, driver_failure
from edgeattn.profile.remote_files import plan_bundle
from edgeattn.profile.ssh import Destination, ssh_failure
from edgeattn.profile.tegrastats import TegrastatsLineError, parse_line, parse_log, summarize

# Lines written in tegrastats' documented formats (values are made up; one line per release family).
ORIN_JP6 = ("11-20-2024 14:03:12 RAM 5123/62841MB (lfb 9x4MB) SWAP 0/31421MB (cached 0MB) "
            "CPU [35%@2201,12%@2201,off,off,20%@1728,7%@1728] EMC_FREQ 18%@3199 GR3D_FREQ 87%@[1300,1300] "
            "VIC_FREQ 729 APE 174 CV0@-256C CPU@51.5C Tboard@38C SOC2@47.1C GPU@50.8C tj@51.5C "
            "VDD_GPU_SOC 9821mW/9500mW VDD_CPU_CV 2404mW/2380mW VIN_SYS_5V0 5310mW/5300mW")
ORIN_JP7 = ("07-02-2026 09:10:11 RAM 20011/62817MB (lfb 3x2MB) CPU [40%@2201,10%@2201] EMC_FREQ 5%@3199 "
            "GR3D_FREQ 31%@[1300,1300] NVENC0 off NVDLA0 off APE 174 cpu@53.2C/54.0C gpu@48.1C/48.9C "
            "VDD_GPU_SOC 6120mW/6050mW/7010mW VDD_CPU_CV 3300mW/3250mW/3900mW")
ORIN_NANO = ("RAM 3012/7620MB (lfb 2x4MB) SWAP 12/3810MB (cached 0MB) CPU [3%@729,1%@729,0%@729,2%@729,off,off] "
             "EMC_FREQ 0%@2133 GR3D_FREQ 0% cpu@47.2C soc2@45.9C soc0@46.1C gpu@45.0C "
             "VDD_IN 4826mW/4801mW VDD_CPU_GPU_CV 489mW/470mW VDD_SOC 1427mW/1420mW")
NANO_JP4 = ("RAM 1801/3964MB (lfb 180x4MB) SWAP 0/2048MB (cached 0MB) CPU [22%@1479,16%@1479,14%@1479,9%@1479] "
            "EMC_FREQ 3%@1600 GR3D_FREQ 61%@921 PLL@22C CPU@26C PMIC@100C GPU@24.5C AO@34C thermal@25C "
            "POM_5V_IN 3120/3050 POM_5V_GPU 910/880 POM_5V_CPU 560/540")
THOR = "RAM 4722/125000MB (lfb 1x512kB) EMC_FREQ 2%@4266 GR3D_FREQ @[1575,1575,1575] APE 150"
TX1 = "RAM 3468/3983MB (lfb 48x4MB) SWAP 873/8192MB (cached 295MB) cpu [17%,13%,29%,5%]@408 EMC 1%@408 APE 25 GR3D 3%@76"


def test_tegrastats_orin_jetpack6_line():
    sample = parse_line(ORIN_JP6)
    assert sample["time"] == "11-20-2024 14:03:12"
    assert sample["ram_mb"] == {"used": 5123, "total": 62841} and sample["swap_mb"] == {"used": 0, "total": 31421}
    assert sample["cpu"] == [{"load_pct": 35, "mhz": 2201}, {"load_pct": 12, "mhz": 2201}, None, None,
                             {"load_pct": 20, "mhz": 1728}, {"load_pct": 7, "mhz": 1728}]
    assert sample["emc"] == {"load_pct": 18, "mhz": 3199} and sample["gpu"] == {"load_pct": 87, "mhz": 1300}
    assert sample["temps_c"] == {"CPU": 51.5, "Tboard": 38.0, "SOC2": 47.1, "GPU": 50.8, "tj": 51.5}
    assert sample["rails_mw"] == {"VDD_GPU_SOC": {"now": 9821, "avg": 9500}, "VDD_CPU_CV": {"now": 2404, "avg": 2380},
                                  "VIN_SYS_5V0": {"now": 5310, "avg": 5300}}


@pytest.mark.parametrize("line,gpu,rail,temp", [
    (ORIN_JP7, {"load_pct": 31, "mhz": 1300}, ("VDD_GPU_SOC", 6120, 6050), ("cpu", 53.2)),
    (ORIN_NANO, {"load_pct": 0}, ("VDD_IN", 4826, 4801), ("gpu", 45.0)),
    (NANO_JP4, {"load_pct": 61, "mhz": 921}, ("POM_5V_GPU", 910, 880), ("AO", 34.0)),
    (THOR, {"mhz": 1575}, None, None),
], ids=["orin-jetpack7", "orin-nano", "nano-jetpack4", "thor"])
def test_tegrastats_formats_of_other_releases(line, gpu, rail, temp):
    sample = parse_line(line)
    assert sample["gpu"] == gpu
    if rail:
        assert sample["rails_mw"][rail[0]] == {"now": rail[1], "avg": rail[2]}
        assert "RAM" not in sample["rails_mw"] and "SWAP" not in sample["rails_mw"]
    if temp:
        assert sample["temps_c"][temp[0]] == temp[1]


def test_tegrastats_old_shared_cpu_clock_and_short_names():
    sample = parse_line(TX1)
    assert sample["cpu"] == [{"load_pct": v, "mhz": 408} for v in (17, 13, 29, 5)]
    assert sample["emc"] == {"load_pct": 1, "mhz": 408} and sample["gpu"] == {"load_pct": 3, "mhz": 76}


def test_tegrastats_log_and_summary():
    samples, skipped = parse_log("\n".join([ORIN_JP6, "tegrastats: some warning", "", ORIN_JP6.replace("87%", "41%")]))
    assert len(samples) == 2 and skipped == 1
    summary = summarize(samples, 500)
    assert summary["samples"] == 2 and summary["gpu_load_pct"] == {"mean": 64.0, "max": 87.0}
    assert summary["cpu_load_pct"]["mean"] == pytest.approx((35 + 12 + 20 + 7) / 4)
    assert summary["rails_mw"]["VDD_GPU_SOC"] == {"mean": 9821.0, "max": 9821.0}
    with pytest.raises(TegrastatsLineError, match="no RAM field"):
        parse_line("CPU [1%@100]")


JETSON_FACTS = """@@model
NVIDIA Jetson AGX Orin Developer Kit
@@nv_tegra_release
# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: Wed Jan  8 01:49:37 UTC 2025
@@dpkg
nvidia-jetpack 6.2+b77
nvidia-l4t-core 36.4.3-20250107174145
libnvinfer10 10.3.0.30-1+cuda12.5
cuda-cudart-12-6 12.6.68-1
@@cuda_json
{"cuda": {"name": "CUDA SDK", "version": "12.6.68"}}
@@nvcc
@@nvpmodel
NV Power Mode: MAXN
0
@@jetson_clocks
SOC family:tegra234  Machine:NVIDIA Jetson AGX Orin Developer Kit
Online CPUs: 0-11
cpu0: Online=1 Governor=schedutil MinFreq=2201600 MaxFreq=2201600 CurrentFreq=2201600 IdleStates: WFI=0 c7=0
cpu1: Online=1 Governor=schedutil MinFreq=2201600 MaxFreq=2201600 CurrentFreq=2201600 IdleStates: WFI=0 c7=0
cpu11: Online=0 Governor=schedutil MinFreq=729600 MaxFreq=2201600 CurrentFreq=729600 IdleStates: WFI=1 c7=1
GPU MinFreq=1300500000 MaxFreq=1300500000 CurrentFreq=1300500000
EMC MinFreq=204000000 MaxFreq=3199000000 CurrentFreq=3199000000 FreqOverride=1
DLA0_CORE:   Online=1 MinFreq=0 MaxFreq=1600000000 CurrentFreq=1600000000
NV Power Mode: MAXN
@@cpufreq
@@gpufreq
@@uname
Linux 5.15.148-tegra aarch64
@@cpu
12
12
Cortex-A78AE
@@cpuinfo
@@python
Python 3.10.12
@@tools
/usr/bin/tegrastats
/usr/src/tensorrt/bin/trtexec
@@end
"""


def test_jetson_facts():
    facts = parse_facts(JETSON_FACTS)
    assert facts["model"] == "NVIDIA Jetson AGX Orin Developer Kit"
    assert (facts["l4t"], facts["jetpack"], facts["tensorrt"], facts["cuda"]) == ("36.4.3", "6.2", "10.3.0.30", "12.6.68")
    assert facts["power_mode"] == {"name": "MAXN", "id": 0}
    assert facts["clocks"]["locked"] and facts["clocks"]["source"] == "jetson_clocks --show"
    assert facts["clocks"]["cpu_cores"] == 2, "offline cores do not count"
    assert (facts["os"], facts["cpu_model"], facts["usable_cpus"], facts["python"]) == (
        "Linux 5.15.148-tegra aarch64", "Cortex-A78AE", 12, "3.10.12")
    assert facts["trtexec_path"] == "/usr/src/tensorrt/bin/trtexec" and facts["tegrastats_path"] == "/usr/bin/tegrastats"


def test_unlocked_clocks_and_the_sysfs_fallback():
    dvfs = JETSON_FACTS.replace("cpu1: Online=1 Governor=schedutil MinFreq=2201600",
                                "cpu1: Online=1 Governor=schedutil MinFreq=729600")
    assert parse_facts(dvfs)["clocks"]["locked"] is False
    assert clocks_from_jetson_clocks("EMC MinFreq=1 MaxFreq=2 CurrentFreq=2 FreqOverride=0\n"
                                     "GPU MinFreq=5 MaxFreq=5 CurrentFreq=5")["locked"] is False
    not_root = JETSON_FACTS.split("@@jetson_clocks")[0] + (
        "@@jetson_clocks\nError: Run this script(/usr/bin/jetson_clocks) as a root user\n"
        "@@cpufreq\n/sys/devices/system/cpu/cpu0 729600 2201600 1344000\n"
        "@@gpufreq\n/sys/class/devfreq/17000000.gpu 306000000 1300500000 306000000\n@@end\n")
    facts = parse_facts(not_root)
    assert facts["clocks"]["locked"] is False and facts["clocks"]["source"].startswith("sysfs")
    assert "root user" in facts["clocks_note"]
    assert clocks_from_sysfs("", "") is None


def test_l4t_and_nvpmodel_forms():
    assert parse_l4t("# R35 (release), REVISION: 5.0, GCID: 35550185, BOARD: t186ref") == "35.5.0"
    assert parse_l4t("") is None
    assert parse_nvpmodel("NVPM WARN: something\nNV Power Mode: 15W\n2\n") == {"name": "15W", "id": 2}
    assert parse_nvpmodel("nvpmodel: command not found") is None


@pytest.mark.skipif(shutil.which("sh") is None, reason="no POSIX sh")
def test_facts_script_runs_here_and_parses():
    output = subprocess.run(["sh", "-c", FACTS_SCRIPT], capture_output=True, text=True, timeout=60).stdout
    facts = parse_facts(output)
    assert output.rstrip().endswith("@@end")
    assert facts["os"] and facts["usable_cpus"] >= 1 and facts["python"]


@pytest.mark.parametrize("text,host,user,port", [
    ("nvidia@orin.local", "orin.local", "nvidia", None), ("orin:2222", "orin", None, 2222),
    ("ubuntu@[fe80::1]:22", "fe80::1", "ubuntu", 22), ("localhost", "localhost", None, None),
], ids=["user-host", "host-port", "ipv6", "host"])
def test_destination_parsing(text, host, user, port):
    destination = Destination.parse(text)
    assert (destination.host, destination.user, destination.port) == (host, user, port)
    assert Destination.parse(str(destination)) == destination


@pytest.mark.parametrize("text", ["", "nvidia@", "@orin", "orin:99999", "orin:port"],
                         ids=["empty", "no-host", "no-user", "port-range", "port-text"])
def test_bad_destinations_are_usage_errors(text):
    with pytest.raises(UsageError, match="--remote"):
        Destination.parse(text)


@pytest.mark.parametrize("stderr,expected", [
    ("ssh: connect to host 10.0.0.7 port 22: Connection timed out", "cannot reach nvidia@10.0.0.7"),
    ("ssh: Could not resolve hostname orni: Name or service not known", "cannot resolve"),
    ("ssh: connect to host 10.0.0.7 port 22: No route to host", "cannot reach"),
    ("nvidia@10.0.0.7: Permission denied (publickey).", "authentication refused"),
    ("Host key verification failed.", "host key of 10.0.0.7 is unknown"),
    ("kex_exchange_identification: read: Connection reset by peer", "ssh to nvidia@10.0.0.7 failed"),
], ids=["timeout", "dns", "no-route", "auth", "host-key", "other"])
def test_ssh_failures_are_named(stderr, expected):
    assert expected in ssh_failure(stderr, Destination.parse("nvidia@10.0.0.7")).what


def test_driver_failures_are_named():
    run = RemoteRun(destination=Destination.parse("orin"), backend="trtexec")
    missing = driver_failure(127, f"{scripts.ERROR_MARK} missing-program trtexec\n", run)
    assert missing.what == "no trtexec on orin" and "/usr/src/tensorrt/bin/trtexec" in missing.hint
    build = driver_failure(3, f"noise\n{scripts.ERROR_MARK} build-failed 1\nline a\nerror: bad onnx\n", run)
    assert build.what.startswith("the engine build (build_engine.sh) failed") and "error: bad onnx" in build.hint
    assert "exit 9" in driver_failure(9, "", run).what


def _identity_onnx(path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    tensor = [1, 3, 4, 4]
    graph = helper.make_graph([helper.make_node("Identity", ["image"], ["logits"], name="identity")], "g",
                              [helper.make_tensor_value_info("image", TensorProto.FLOAT, tensor)],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, tensor)])
    onnx.save(helper.make_model(graph), str(path))


@pytest.fixture
def bundle(tmp_path) -> Path:
    folder = tmp_path / "net-jetson"
    folder.mkdir()
    _identity_onnx(folder / "model.onnx")
    _identity_onnx(folder / "model.plugins.fp16.onnx")
    (folder / "manifest.json").write_text(json.dumps({"model": {"name": "net"}, "precision": {"precision": "fp16"}}))
    (folder / "build_engine.sh").write_text("#!/bin/sh\n")
    (folder / "build_engine.sh").chmod(0o755)
    (folder / "model.trt10.3.sm_87.engine").write_bytes(b"x")
    return folder


def test_bundle_plans_copy_what_the_backend_needs(bundle):
    ort = plan_bundle(bundle, "ort-cpu")
    assert [f.name for f in ort.files] == ["model.onnx", "manifest.json"] and ort.folder
    trt = plan_bundle(bundle, "trtexec", flavour="plugins")
    assert trt.model_file == "model.plugins.fp16.onnx", "precision comes from the manifest"
    assert {f.name for f in trt.files} == {"model.plugins.fp16.onnx", "manifest.json", "build_engine.sh"}
    assert next(f for f in trt.files if f.name == "build_engine.sh").executable
    assert plan_bundle(bundle, "ort-cpu").digest == ort.digest
    (bundle / "manifest.json").write_text("{}")
    assert plan_bundle(bundle, "ort-cpu").digest != ort.digest
    with pytest.raises(UsageError, match="has no model.plugins.onnx"):
        plan_bundle(bundle, "trtexec", flavour="plugins", precision="fp32")
    single = plan_bundle(bundle / "model.onnx", "ort-cpu")
    assert [f.name for f in single.files] == ["model.onnx"] and not single.folder


def test_trtexec_command_line():
    assert scripts.trtexec_command("$ENGINE", plugins=True, iterations=110, duration_s=0) == [
        '"$TRTEXEC"', '--loadEngine="$ENGINE"', '--dynamicPlugins="${EDGEATTN_PLUGIN_LIB:-plugins/libedgeattn_plugins.so}"',
        "--separateProfileRun", '--exportTimes="$OUT/times.json"', '--exportProfile="$OUT/profile.json"',
        '--exportLayerInfo="$OUT/layers.json"', "--profilingVerbosity=detailed", "--iterations=110", "--duration=0",
        "--warmUp=0"]


def test_device_scripts_are_valid_posix_sh(bundle):
    plan = plan_bundle(bundle, "trtexec", flavour="plugins")
    paths = scripts.RemotePaths(".cache/edgeattn-remote", plan.digest, "r1", bundle.name)
    options = scripts.edgeattn_profile_options("ort-cpu", 2, None, 3, 20)
    assert options == ["--backend", "ort-cpu", "--batch", "2", "--warm-up", "3", "--iterations", "20"]
    driver = scripts.trtexec_driver(paths, "plugins", "fp16", iterations=120, duration_s=2.5)
    assert './build_engine.sh plugins fp16 > "$RUN/build.log"' in driver and "--duration=2.5" in driver
    for script in (scripts.prepare(paths, plan), scripts.commit_objects(paths), scripts.materialize(paths, plan),
                   scripts.edgeattn_driver(paths, plan, ["python3", "-m", "edgeattn"], options), driver,
                   scripts.stop(paths), scripts.cleanup(paths, ["ab" * 32], True, False, False)):
        subprocess.run(["sh", "-n", "-c", script], check=True)


@pytest.mark.parametrize("args,message", [
    (["profile", "b", "--keep-remote"], "--keep-remote apply to --remote runs"),
    (["profile", "b", "--remote-edgeattn", "x", "--duration", "2"], "--remote-edgeattn, --duration apply to --remote"),
    (["profile", "b", "--remote", "nvidia@"], "is not [user@]host[:port]"),
    (["profile", "b", "--remote", "orin", "--backend", "torch-cpu"], "backend torch-cpu runs registry models"),
    (["profile", "b", "--remote", "orin", "--duration", "3"], "apply to --backend trtexec"),
], ids=["keep-alone", "remote-options-alone", "bad-destination", "torch-remote", "duration-not-trtexec"])
def test_remote_option_mistakes_are_usage_errors_before_connecting(run_cli, args, message):
    result = run_cli(*args)
    assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.stderr
