"""Parse ``tegrastats`` lines (Jetson load, clocks, temperatures and power rails) and summarise them.

One line per interval, fields separated by spaces; which fields appear depends on the module and the
L4T release. Forms handled (from NVIDIA's tegrastats documentation and lines seen on each release):

- optional ``MM-DD-YYYY HH:MM:SS`` timestamp first (L4T 35+);
- ``RAM used/totalMB (lfb NxSIZE)``, ``SWAP used/totalMB (cached NMB)``;
- ``CPU [12%@1420,off,...]`` per core (load % at MHz, or ``off``), or the old ``CPU [12%,7%]@1420``;
- ``EMC_FREQ 3%@3199`` (or ``EMC_FREQ 0%``), ``GR3D_FREQ 45%@1300``, ``GR3D_FREQ 45%@[1300,1300]``
  (per GPC, JetPack 6.1+/7), ``GR3D_FREQ @[1000,1000]`` (Thor, no load), old ``GR3D 3%@76``;
- temperatures ``name@47.5C`` (JetPack 7 adds ``/max``: ``cpu@52.9C/53.1C``); ``-256C`` means no sensor;
- power rails ``VDD_IN 4826mW/4826mW`` (current/average), ``VDD_GPU_SOC 5139mW/5139mW/5139mW``
  (current/average/peak, JetPack 7) and the older unit-less ``POM_5V_IN 2545/2547`` or ``GPU 0/0``.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

_DATE = re.compile(r"^(\d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2})\s+")
_RAM = re.compile(r"\bRAM (\d+)/(\d+)MB")
_SWAP = re.compile(r"\bSWAP (\d+)/(\d+)MB")
_CPU = re.compile(r"\bCPU \[([^\]]*)\](?:@(\d+))?", re.IGNORECASE)
_CORE = re.compile(r"^(\d+)%(?:@(\d+))?$")
_EMC = re.compile(r"\bEMC(?:_FREQ)? (\d+)%(?:@(\d+))?")
_GR3D = re.compile(r"\bGR3D(?:_FREQ)? (?:(\d+)%)?(?:@\[?([\d,]+)\]?)?")
_TEMP = re.compile(r"\b([A-Za-z][\w-]*)@(-?\d+(?:\.\d+)?)C(?:/-?\d+(?:\.\d+)?C)?")
_RAIL = re.compile(r"\b([A-Za-z][A-Za-z0-9_]*) (\d+)(?:mW)?/(\d+)(?:mW)?(?:/(\d+)(?:mW)?)?(?=\s|$)")
_NO_SENSOR_C = -200.0
_NOT_RAILS = {"RAM", "SWAP", "IRAM"}


class TegrastatsLineError(ValueError):
    """A line that is not tegrastats output (no RAM field)."""


def _cpu_cores(match: re.Match[str] | None) -> list[dict[str, int] | None]:
    if match is None:
        return []
    shared_mhz = int(match.group(2)) if match.group(2) else None
    cores: list[dict[str, int] | None] = []
    for item in match.group(1).split(","):
        core = _CORE.match(item.strip())
        if core is None:
            cores.append(None)
            continue
        mhz = int(core.group(2)) if core.group(2) else shared_mhz
        cores.append({"load_pct": int(core.group(1)), **({"mhz": mhz} if mhz is not None else {})})
    return cores


def _gr3d(line: str) -> dict[str, Any]:
    match = _GR3D.search(line)
    if match is None or (match.group(1) is None and match.group(2) is None):
        return {}
    result: dict[str, Any] = {}
    if match.group(1) is not None:
        result["load_pct"] = int(match.group(1))
    if match.group(2):
        result["mhz"] = max(int(v) for v in match.group(2).split(",") if v)
    return result


def parse_line(line: str) -> dict[str, Any]:
    """One tegrastats line -> {time, ram_mb, swap_mb, cpu, emc, gpu, temps_c, rails_mw}.

    ``cpu`` is a list per core ({load_pct, mhz} or None when the core is off); ``rails_mw`` maps a rail
    to {"now", "avg"} milliwatts. Raises TegrastatsLineError for a line without a RAM field.
    """
    text = line.strip()
    sample: dict[str, Any] = {}
    date = _DATE.match(text)
    if date:
        sample["time"] = date.group(1)
        text = text[date.end():]
    ram = _RAM.search(text)
    if ram is None:
        raise TegrastatsLineError(f"not a tegrastats line (no RAM field): {line.strip()[:80]!r}")
    sample["ram_mb"] = {"used": int(ram.group(1)), "total": int(ram.group(2))}
    swap = _SWAP.search(text)
    if swap:
        sample["swap_mb"] = {"used": int(swap.group(1)), "total": int(swap.group(2))}
    sample["cpu"] = _cpu_cores(_CPU.search(text))
    emc = _EMC.search(text)
    if emc:
        sample["emc"] = {"load_pct": int(emc.group(1)), **({"mhz": int(emc.group(2))} if emc.group(2) else {})}
    sample["gpu"] = _gr3d(text)
    sample["temps_c"] = {name: float(value) for name, value in _TEMP.findall(text) if float(value) > _NO_SENSOR_C}
    sample["rails_mw"] = {name: {"now": int(now), "avg": int(avg)}
                          for name, now, avg, _peak in _RAIL.findall(text) if name not in _NOT_RAILS}
    return sample


def parse_log(text: str) -> tuple[list[dict[str, Any]], int]:
    """All tegrastats lines of a log -> (samples, number of lines that were not tegrastats output)."""
    samples, skipped = [], 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            samples.append(parse_line(line))
        except TegrastatsLineError:
            skipped += 1
    return samples, skipped


def _stats(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    array = np.asarray(values, dtype=np.float64)
    return {"mean": float(array.mean()), "max": float(array.max())}


def summarize(samples: list[dict[str, Any]], interval_ms: int) -> dict[str, Any]:
    """Mean and max per quantity over the samples: GPU/CPU/EMC load, clocks, temperatures, rail power."""
    cpu_loads = [float(np.mean([c["load_pct"] for c in s["cpu"] if c])) for s in samples if any(s["cpu"])]
    temps: dict[str, list[float]] = {}
    rails: dict[str, list[float]] = {}
    for sample in samples:
        for name, value in sample["temps_c"].items():
            temps.setdefault(name, []).append(value)
        for name, value in sample["rails_mw"].items():
            rails.setdefault(name, []).append(float(value["now"]))
    return {
        "interval_ms": interval_ms,
        "samples": len(samples),
        "gpu_load_pct": _stats([s["gpu"]["load_pct"] for s in samples if "load_pct" in s["gpu"]]),
        "gpu_mhz": _stats([s["gpu"]["mhz"] for s in samples if "mhz" in s["gpu"]]),
        "cpu_load_pct": _stats(cpu_loads),
        "emc_load_pct": _stats([s["emc"]["load_pct"] for s in samples if "emc" in s]),
        "emc_mhz": _stats([s["emc"]["mhz"] for s in samples if "mhz" in s.get("emc", {})]),
        "ram_used_mb": _stats([s["ram_mb"]["used"] for s in samples]),
        "temps_c": {name: _stats(values) for name, values in sorted(temps.items())},
        "rails_mw": {name: _stats(values) for name, values in sorted(rails.items())},
    }
