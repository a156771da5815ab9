"""Facts about the device a remote run measured on: model, L4T/JetPack, TensorRT, CUDA, power mode, clocks.

``FACTS_SCRIPT`` is a POSIX shell script run on the device; it prints one ``@@section`` header per
source and never fails (missing tools print nothing). ``parse_facts`` turns its output into the run
record's ``device`` section. Sources and their formats:

- ``/proc/device-tree/model``: NUL-terminated board name (``NVIDIA Jetson AGX Orin Developer Kit``);
- ``/etc/nv_tegra_release``: ``# R36 (release), REVISION: 4.3, GCID: ...`` -> L4T 36.4.3;
- ``dpkg-query -W``: ``nvidia-jetpack 6.2+b77``, ``nvidia-l4t-core 36.4.3-2025...``, ``libnvinfer10 10.3.0.30-1+cuda12.5``;
- ``/usr/local/cuda/version.json`` (``{"cuda": {"version": "12.6.68"}}``) or ``nvcc --version`` (``release 12.6``);
- ``nvpmodel -q``: ``NV Power Mode: MAXN`` then the mode id;
- ``jetson_clocks --show`` (root only): ``cpu0: Online=1 Governor=schedutil MinFreq=729600 MaxFreq=2201600 ...``,
  ``GPU MinFreq=... MaxFreq=...``, ``EMC MinFreq=... MaxFreq=... FreqOverride=1``;
- without root, cpufreq and the GPU's devfreq in sysfs (``min max cur`` per line).

Clocks count as locked when every online CPU and the GPU run with minimum = maximum frequency (what
``jetson_clocks`` sets) and, where reported, the EMC frequency override is on.
"""

from __future__ import annotations

import json
import re
from typing import Any

FACTS_SCRIPT = r"""
s() { echo "@@$1"; }
have() { command -v "$1" >/dev/null 2>&1; }
s model; cat /proc/device-tree/model 2>/dev/null | tr -d '\000'; echo
s nv_tegra_release; cat /etc/nv_tegra_release 2>/dev/null
s dpkg; have dpkg-query && dpkg-query -W -f='${Package} ${Version}\n' nvidia-jetpack nvidia-l4t-core tensorrt \
  'libnvinfer[0-9]*' 'cuda-cudart-[0-9]*' 2>/dev/null
s cuda_json; cat /usr/local/cuda/version.json 2>/dev/null
s nvcc; (have nvcc && nvcc --version || /usr/local/cuda/bin/nvcc --version) 2>/dev/null
s nvpmodel; have nvpmodel && nvpmodel -q 2>&1
s jetson_clocks; have jetson_clocks && jetson_clocks --show 2>&1
s cpufreq; for d in /sys/devices/system/cpu/cpu[0-9]*/cpufreq; do [ -r "$d/scaling_max_freq" ] && \
  echo "${d%/cpufreq} $(cat $d/scaling_min_freq) $(cat $d/scaling_max_freq) $(cat $d/scaling_cur_freq 2>/dev/null)"; done
s gpufreq; for d in /sys/class/devfreq/*; do case "${d##*/}" in *gpu*|*ga10b*|*gv11b*|*gp10b*|*gb10b*) \
  echo "$d $(cat $d/min_freq) $(cat $d/max_freq) $(cat $d/cur_freq 2>/dev/null)";; esac; done 2>/dev/null
s uname; uname -srm
s cpu; nproc; nproc --all; (lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n1) || true
s cpuinfo; grep -m1 -i '^model name' /proc/cpuinfo 2>/dev/null
s python; python3 --version 2>&1
s tools; for t in trtexec tegrastats; do command -v $t 2>/dev/null; done; \
  [ -x /usr/src/tensorrt/bin/trtexec ] && echo /usr/src/tensorrt/bin/trtexec
s end
"""

_L4T = re.compile(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)")
_POWER_MODE = re.compile(r"NV Power Mode:\s*(\S.*?)\s*$", re.MULTILINE)
_CLOCK_LINE = re.compile(r"^(cpu\d+|GPU|EMC)\b.*?MinFreq=(\d+)\s+MaxFreq=(\d+)", re.MULTILINE)
_ONLINE_OFF = re.compile(r"Online=0")
_FREQ_OVERRIDE = re.compile(r"^EMC\b.*FreqOverride=(\d)", re.MULTILINE)
_NVCC = re.compile(r"release (\d+\.\d+)(?:, V([\d.]+))?")
_DPKG_VERSION = re.compile(r"^(\d+(?:\.\d+)*)")


def split_sections(text: str) -> dict[str, str]:
    """``@@name`` headed sections of the facts script's output -> {name: body}."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("@@"):
            current = line[2:].strip()
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    return {name: "\n".join(lines).strip() for name, lines in sections.items()}


def parse_l4t(release: str) -> str | None:
    """L4T version from /etc/nv_tegra_release (``# R36 (release), REVISION: 4.3`` -> ``36.4.3``)."""
    match = _L4T.search(release)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def parse_dpkg(text: str) -> dict[str, str]:
    """``package version`` lines -> {package: upstream version} (``10.3.0.30-1+cuda12.5`` -> ``10.3.0.30``)."""
    versions = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1]:
            match = _DPKG_VERSION.match(parts[1])
            if match:
                versions[parts[0]] = match.group(1)
    return versions


def tensorrt_from_dpkg(packages: dict[str, str]) -> str | None:
    """TensorRT version from ``tensorrt`` or the highest ``libnvinferN`` package."""
    if "tensorrt" in packages:
        return packages["tensorrt"]
    libs = sorted((name for name in packages if re.fullmatch(r"libnvinfer\d+", name)),
                  key=lambda name: int(name[len("libnvinfer"):]))
    return packages[libs[-1]] if libs else None


def parse_cuda(version_json: str, nvcc: str, packages: dict[str, str]) -> str | None:
    """CUDA toolkit version from version.json, else nvcc, else the cudart package."""
    try:
        return str(json.loads(version_json)["cuda"]["version"])
    except (ValueError, KeyError, TypeError):
        pass
    match = _NVCC.search(nvcc)
    if match:
        return match.group(2) or match.group(1)
    cudart = sorted(name for name in packages if name.startswith("cuda-cudart-"))
    return packages[cudart[-1]] if cudart else None


def parse_nvpmodel(text: str) -> dict[str, Any] | None:
    """``nvpmodel -q`` -> {"name": "MAXN", "id": 0}; None when it printed no power mode."""
    match = _POWER_MODE.search(text)
    if match is None:
        return None
    rest = text[match.end():].split()
    mode_id = next((int(token) for token in rest if token.isdigit()), None)
    return {"name": match.group(1), "id": mode_id}


def _freq_lines(text: str) -> list[tuple[int, int]]:
    pairs = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1].isdigit() and parts[2].isdigit():
            pairs.append((int(parts[1]), int(parts[2])))
    return pairs


def clocks_from_jetson_clocks(show: str) -> dict[str, Any] | None:
    """Locked-clock verdict from ``jetson_clocks --show``; None when the output has no clock lines."""
    cpus: list[tuple[int, int]] = []
    gpu: list[tuple[int, int]] = []
    for line in show.splitlines():
        match = _CLOCK_LINE.match(line.strip())
        if match is None or _ONLINE_OFF.search(line) or match.group(1) == "EMC":
            continue
        (gpu if match.group(1) == "GPU" else cpus).append((int(match.group(2)), int(match.group(3))))
    if not cpus and not gpu:
        return None
    override = _FREQ_OVERRIDE.search(show)
    locked = all(lo == hi for lo, hi in cpus + gpu) and (override is None or override.group(1) == "1")
    return {"locked": locked, "source": "jetson_clocks --show", "cpu_cores_locked":
            sum(lo == hi for lo, hi in cpus), "cpu_cores": len(cpus),
            "gpu_locked": bool(gpu) and all(lo == hi for lo, hi in gpu),
            "emc_override": None if override is None else override.group(1) == "1"}


def clocks_from_sysfs(cpufreq: str, gpufreq: str) -> dict[str, Any] | None:
    """Locked-clock verdict from cpufreq/devfreq min and max; None when neither is readable."""
    cpus, gpu = _freq_lines(cpufreq), _freq_lines(gpufreq)
    if not cpus and not gpu:
        return None
    return {"locked": all(lo == hi for lo, hi in cpus + gpu),
            "source": "sysfs cpufreq/devfreq (min == max frequency)",
            "cpu_cores_locked": sum(lo == hi for lo, hi in cpus), "cpu_cores": len(cpus),
            "gpu_locked": all(lo == hi for lo, hi in gpu) if gpu else None,
            "emc_override": None}


def _cpu_model(sections: dict[str, str]) -> str | None:
    lines = sections.get("cpu", "").splitlines()
    if len(lines) >= 3 and lines[2].strip():
        return lines[2].strip()
    info = sections.get("cpuinfo", "")
    return info.split(":", 1)[1].strip() if ":" in info else None


def _int_line(sections: dict[str, str], index: int) -> int | None:
    lines = sections.get("cpu", "").splitlines()
    return int(lines[index]) if len(lines) > index and lines[index].strip().isdigit() else None


def parse_facts(text: str) -> dict[str, Any]:
    """The facts script's output -> the run record's ``device`` section."""
    sections = split_sections(text)
    packages = parse_dpkg(sections.get("dpkg", ""))
    clocks = (clocks_from_jetson_clocks(sections.get("jetson_clocks", ""))
              or clocks_from_sysfs(sections.get("cpufreq", ""), sections.get("gpufreq", "")))
    jetpack = packages.get("nvidia-jetpack")
    tools = sections.get("tools", "").split()
    python = sections.get("python", "")
    return {
        "model": sections.get("model") or None,
        "l4t": parse_l4t(sections.get("nv_tegra_release", "")) or packages.get("nvidia-l4t-core"),
        "jetpack": ".".join(jetpack.split(".")[:2]) if jetpack else None,
        "tensorrt": tensorrt_from_dpkg(packages),
        "cuda": parse_cuda(sections.get("cuda_json", ""), sections.get("nvcc", ""), packages),
        "power_mode": parse_nvpmodel(sections.get("nvpmodel", "")),
        "clocks": clocks,
        "clocks_note": _clocks_note(sections, clocks),
        "os": sections.get("uname") or None,
        "cpu_model": _cpu_model(sections),
        "usable_cpus": _int_line(sections, 0),
        "cpu_count": _int_line(sections, 1),
        "python": python.split()[-1] if python.startswith("Python ") else None,
        "trtexec_path": next((t for t in tools if t.endswith("trtexec")), None),
        "tegrastats_path": next((t for t in tools if t.endswith("tegrastats")), None),
    }


def _clocks_note(sections: dict[str, str], clocks: dict[str, Any] | None) -> str:
    show = sections.get("jetson_clocks", "")
    if clocks is None:
        return "clock settings not readable on the device (no jetson_clocks output, no cpufreq/devfreq in sysfs)"
    if clocks["source"].startswith("sysfs") and show:
        return f"jetson_clocks --show gave no clock lines ({show.splitlines()[-1][:80]}); read sysfs instead"
    return ""
