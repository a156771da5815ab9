"""Read trtexec's exports (``--exportTimes``, ``--exportProfile``, ``--exportLayerInfo``) and its log.

Files are recognised by content, not name, so exports a user made by hand work as well as ours:

- times (``--exportTimes``): a list of per-iteration records ``{startEnqMs, endEnqMs, startH2dMs, ...,
  h2dMs, computeMs, d2hMs, latencyMs}`` in ms since the start of the benchmark. The warm-up iterations are
  in the file too (records that start before the warm-up time);
- profile (``--exportProfile``): ``[{"count": N}, {"name", "timeMs", "averageMs", "medianMs", "percentage"}, ...]``,
  per-layer times of the separate profile run (``--separateProfileRun``), N profiled iterations;
- layer info (``--exportLayerInfo``): ``{"Layers": [...], "Bindings": [...]}``; with
  ``--profilingVerbosity=detailed`` at build time each layer is an object (type, tactic, formats, and since
  TensorRT 8.6 a ``Metadata`` string naming the ONNX nodes), otherwise a list of layer names;
- the trtexec log (``*.log``/``*.txt``), and the TensorRT engine explorer's ``*.metadata.json`` summaries of
  it, for the TensorRT version, the device, the warm-up time and trtexec's own performance summary.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeattn.errors import EdgeattnError, UsageError

TIMES_KEYS = ("startEnqMs", "endEnqMs", "h2dMs", "computeMs", "d2hMs", "latencyMs")
PROFILE_KEYS = ("name", "averageMs")
DEFAULT_WARMUP_MS = 200.0
"""trtexec's default ``--warmUp`` (ms) when the exports do not say what was used."""
_LOG_SUFFIXES = (".log", ".txt")
_RUN_SCHEMA_PREFIX = "edgeattn-profile-run/"
_TRT_BANNER = re.compile(r"\[TensorRT v(\d+)\]")
_TRT_VERSION = re.compile(r"TensorRT version:\s*([\d.]+)")
_LOG_FIELD = re.compile(r"\[I\]\s+([A-Za-z][A-Za-z0-9 /()%-]*?)\s*:\s*(.+?)\s*$", re.MULTILINE)
_WARMUP = re.compile(r"\(\+\s*([\d.]+)\s*ms warm ?up\)")
_THROUGHPUT = re.compile(r"Throughput:\s*([\d.]+)\s*qps")
_LATENCY_SUMMARY = re.compile(r"\[I\]\s+Latency:\s*(.+)$", re.MULTILINE)
_SUMMARY_VALUE = re.compile(r"(min|max|mean|median)\s*=\s*([\d.]+)\s*ms")


@dataclass
class TrtexecExports:
    """What a folder of trtexec exports holds; any part but the times may be missing."""

    folder: Path
    files: dict[str, str] = field(default_factory=dict)
    """kind ("times", "profile", "layers", "log", "trex_profile", "trex_device", "trex_build") -> file name."""
    times: list[dict[str, float]] = field(default_factory=list)
    profile_count: int = 0
    profile: list[dict[str, Any]] = field(default_factory=list)
    layers: list[Any] = field(default_factory=list)
    bindings: list[str] = field(default_factory=list)
    log: str = ""
    trex: dict[str, Any] = field(default_factory=dict)

    @property
    def stem(self) -> str:
        """Model name from the export file names (``resnet.onnx.engine.timing.json`` -> ``resnet``)."""
        name = self.files.get("times") or self.files.get("profile") or self.folder.name
        stem = name.split(".")[0]
        return stem or self.folder.name


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except UnicodeDecodeError:
        raise EdgeattnError(f"{path} is not a text file", "pass a folder of trtexec JSON exports") from None
    except json.JSONDecodeError as error:
        raise EdgeattnError(f"{path} is truncated or not valid JSON (line {error.lineno}, column {error.colno}: "
                            f"{error.msg})", "export it again with trtexec; the file may have been cut off") from None


def json_kind(data: Any) -> str | None:
    """Which trtexec (or engine explorer) export ``data`` is; None when it is none of them."""
    if isinstance(data, dict):
        if "Layers" in data:
            return "layers"
        if "performance_summary" in data:
            return "trex_profile"
        if "build_options" in data or "model_options" in data:
            return "trex_build"
        if str(data.get("schema", "")).startswith(_RUN_SCHEMA_PREFIX):
            return "run_record"
        return None
    if isinstance(data, list) and data and isinstance(data[0], dict):
        first = data[0]
        if "latencyMs" in first or "computeMs" in first:
            return "times"
        if set(first) == {"count"} or "averageMs" in first:
            return "profile"
        if "ComputeCapability" in first:
            return "trex_device"
    return None


def _is_trtexec_log(text: str) -> bool:
    return "TensorRT.trtexec" in text or "=== Performance summary ===" in text


def read_exports(folder: Path) -> TrtexecExports:
    """Read every trtexec export in ``folder``; clear errors for unknown, truncated or duplicate files."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"--from-trtexec {folder} is not a folder", "pass the folder trtexec wrote its exports to")
    exports = TrtexecExports(folder=folder)
    for path in sorted(folder.iterdir()):
        if path.suffix == ".json" and path.is_file():
            data = _load_json(path)
            kind = json_kind(data)
            if kind is None:
                raise EdgeattnError(f"{path} is not a trtexec export (expected the JSON of --exportTimes, "
                                    "--exportProfile or --exportLayerInfo)", "move other JSON files out of the folder")
            if kind != "run_record":
                _store(exports, kind, path, data)
        elif path.suffix in _LOG_SUFFIXES and path.is_file():
            text = path.read_text(errors="replace")
            if _is_trtexec_log(text):
                _store(exports, "log", path, text)
    if "times" not in exports.files:
        raise EdgeattnError(f"no --exportTimes file in {folder}",
                            "run trtexec with --exportTimes=FILE (and --exportProfile, --exportLayerInfo) into it")
    return exports


def _store(exports: TrtexecExports, kind: str, path: Path, data: Any) -> None:
    if kind in exports.files:
        raise EdgeattnError(f"two {kind} exports in {exports.folder}: {exports.files[kind]} and {path.name}",
                            "keep the exports of one trtexec run per folder")
    exports.files[kind] = path.name
    if kind == "times":
        exports.times = _checked_records(path, data, TIMES_KEYS)
    elif kind == "profile":
        head = data[0] if "count" in data[0] else {"count": 1}
        exports.profile_count = int(head["count"])
        exports.profile = _checked_records(path, [e for e in data if "count" not in e], PROFILE_KEYS)
    elif kind == "layers":
        exports.layers = list(data["Layers"])
        exports.bindings = [str(b) for b in data.get("Bindings", [])]
    elif kind == "log":
        exports.log = data
    else:
        exports.trex[kind] = data


def _checked_records(path: Path, records: list[Any], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    for index, record in enumerate(records):
        missing = [k for k in keys if not isinstance(record, dict) or k not in record]
        if missing:
            raise EdgeattnError(f"{path} entry {index} lacks {', '.join(missing)}: not a trtexec export this "
                                "reader knows", "export it again with trtexec 8.6 or newer")
    if not records:
        raise EdgeattnError(f"{path} holds no records", "export it again; the run may have been interrupted")
    return records


def tensorrt_version(exports: TrtexecExports) -> str | None:
    """TensorRT version from the log (``TensorRT version: 10.3.0`` or the ``[TensorRT v100300]`` banner)."""
    match = _TRT_VERSION.search(exports.log)
    if match:
        return match.group(1)
    banner = _TRT_BANNER.search(exports.log)
    if banner is None:
        return None
    digits = banner.group(1)
    if len(digits) >= 6:  # TensorRT 10+: major*10000 + minor*100 + patch (v100300 -> 10.3.0)
        return f"{int(digits[:-4])}.{int(digits[-4:-2])}.{int(digits[-2:])}"
    if len(digits) == 4:  # TensorRT 8: major*1000 + minor*100 + patch (v8601 -> 8.6.1)
        return f"{digits[0]}.{digits[1]}.{int(digits[2:])}"
    return None


def log_fields(log: str) -> dict[str, str]:
    """``[I] Key: value`` lines of a trtexec log (first occurrence of each key)."""
    fields: dict[str, str] = {}
    for key, value in _LOG_FIELD.findall(log):
        fields.setdefault(key.strip(), value)
    return fields


def warmup_ms(exports: TrtexecExports) -> tuple[float, str]:
    """The warm-up time trtexec used and where that came from."""
    options = exports.trex.get("trex_profile", {}).get("inference_options", {})
    for text, source in ((str(options.get("Duration", "")), "engine explorer metadata"),
                         (log_fields(exports.log).get("Duration", ""), "trtexec log")):
        match = _WARMUP.search(text)
        if match:
            return float(match.group(1)), source
    warm = log_fields(exports.log).get("Warmup")
    if warm and warm.split()[0].replace(".", "", 1).isdigit():
        return float(warm.split()[0]), "trtexec log"
    return DEFAULT_WARMUP_MS, "assumed: trtexec's default --warmUp=200"


def _percentiles(values: np.ndarray) -> dict[str, float]:
    return {"mean_ms": float(values.mean()), "median_ms": float(np.median(values)),
            "p90_ms": float(np.percentile(values, 90)), "p99_ms": float(np.percentile(values, 99)),
            "min_ms": float(values.min()), "max_ms": float(values.max())}


def timed_records(exports: TrtexecExports, warmup_runs: int | None) -> tuple[list[dict[str, float]], str]:
    """The records of the timed phase and how warm-up was removed.

    With ``warmup_runs`` (our own runs: trtexec ran with ``--warmUp=0``) the first that many records
    are dropped; otherwise records starting before trtexec's warm-up time are.
    """
    records = exports.times
    if warmup_runs is not None:
        kept = records[warmup_runs:]
        note = f"first {warmup_runs} iterations dropped as warm-up"
    else:
        limit, source = warmup_ms(exports)
        kept = [r for r in records if r["startEnqMs"] >= limit]
        note = f"iterations starting in the first {limit:g} ms dropped as warm-up ({source})"
    if not kept:
        raise EdgeattnError(f"{exports.files['times']} has no iterations after the warm-up ({note})",
                            "run trtexec longer (--iterations or --duration)")
    return kept, note


def timing_section(records: list[dict[str, float]], note: str) -> dict[str, Any]:
    """Percentiles of latency, GPU compute, enqueue, H2D and D2H, and throughput over the timed records."""
    column = {key: np.asarray([r[key] for r in records], dtype=np.float64)
              for key in ("latencyMs", "computeMs", "h2dMs", "d2hMs")}
    enqueue = np.asarray([r["endEnqMs"] - r["startEnqMs"] for r in records], dtype=np.float64)
    end = max(r.get("endD2hMs", r["endEnqMs"]) for r in records)
    span_ms = end - min(r["startEnqMs"] for r in records)
    return {
        "iterations": len(records),
        "warmup": note,
        "latency": _percentiles(column["latencyMs"]),
        "gpu_compute": _percentiles(column["computeMs"]),
        "enqueue": _percentiles(enqueue),
        "h2d": _percentiles(column["h2dMs"]),
        "d2h": _percentiles(column["d2hMs"]),
        "throughput_qps": len(records) * 1000.0 / span_ms if span_ms > 0 else 0.0,
        "span_ms": span_ms,
    }


def trtexec_summary(exports: TrtexecExports) -> dict[str, Any] | None:
    """trtexec's own performance summary (from its log or the engine explorer metadata), for cross-checks."""
    summary = exports.trex.get("trex_profile", {}).get("performance_summary")
    if summary and isinstance(summary.get("Latency"), list) and len(summary["Latency"]) >= 4:
        lat = summary["Latency"]
        return {"source": exports.files["trex_profile"], "throughput_qps": float(summary.get("Throughput", 0.0)),
                "latency_ms": {"min": lat[0], "max": lat[1], "mean": lat[2], "median": lat[3]}}
    throughput = _THROUGHPUT.search(exports.log)
    latency = _LATENCY_SUMMARY.search(exports.log)
    if throughput and latency:
        values = {k: float(v) for k, v in _SUMMARY_VALUE.findall(latency.group(1))}
        return {"source": exports.files["log"], "throughput_qps": float(throughput.group(1)), "latency_ms": values}
    return None


def device_from_exports(exports: TrtexecExports) -> dict[str, Any]:
    """GPU name, compute capability, CUDA and TensorRT versions as the exports and log record them."""
    fields = log_fields(exports.log)
    info = exports.trex.get("trex_profile", {}).get("device_information", {})
    props = (exports.trex.get("trex_device") or [{}])[0]
    cuda = props.get("CUDA_VERSION")
    return {
        "gpu": fields.get("Selected Device") or info.get("Selected Device") or props.get("Name"),
        "compute_capability": fields.get("Compute Capability") or (str(info["Compute Capability"])
                                                                   if "Compute Capability" in info else None),
        "cuda": ".".join(str(v) for v in cuda) if isinstance(cuda, list) else None,
        "tensorrt": tensorrt_version(exports),
    }
