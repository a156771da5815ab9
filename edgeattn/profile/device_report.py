"""Report sections for device runs (``--remote``, ``--from-trtexec``): device facts, trtexec timings,
per-layer tables, and the cross-run comparison of measured device runs, host runs and roofline estimates."""

from __future__ import annotations

import html
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from edgeattn.profile.plots import _to_data_uri  # noqa: E402

TOP_LAYERS_SHOWN = 30
CHART_GROUPS = 8
CPU_BACKENDS = ("ort-cpu", "torch-cpu")
"""Runs on the device's CPU: the (GPU) roofline targets do not describe them."""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _ms(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def is_device_run(record: dict[str, Any]) -> bool:
    """Measured off this host: a --remote run or imported trtexec exports."""
    return "remote" in record or record["backend"] == "trtexec"


def device_label(record: dict[str, Any]) -> str:
    """Where a run was measured: the device model (or host name), else the GPU trtexec reported, else host."""
    device = record.get("device") or {}
    if "remote" in record:
        name = device.get("model") or record["remote"]["destination"]
        return f"{name} (remote)"
    if record["backend"] == "trtexec":
        return f"{record['environment'].get('gpu') or 'unknown GPU'} (trtexec exports)"
    return f"host ({record['environment'].get('cpu_model') or 'unknown CPU'})"


def clocks_warning(record: dict[str, Any]) -> str | None:
    """A warning when the device ran with unlocked (DVFS) clocks or their state is unknown."""
    if "device" not in record:
        return None
    device = record["device"]
    clocks = device.get("clocks")
    jetson = "jetson" in str(device.get("model") or "").lower() or bool(device.get("l4t"))
    fix = ("run `sudo jetson_clocks` (and pick the power mode with `sudo nvpmodel -m N`)" if jetson
           else "pin the CPU frequency (e.g. `sudo cpupower frequency-set -g performance`)")
    if clocks is None:
        return f"clock state unknown: latencies may include frequency ramp-up; for stable numbers {fix}"
    if not clocks["locked"]:
        return (f"clocks NOT locked ({clocks['source']}): frequency scaling can change clocks during the run; "
                f"for stable numbers {fix}")
    return None


def device_section(record: dict[str, Any]) -> str:
    """Facts about the device, the clock warning and the tegrastats summary."""
    device = record.get("device")
    if not device:
        return ""
    power = device.get("power_mode")
    rows = [["device", device.get("model") or "–"], ["L4T / JetPack", f"{device.get('l4t') or '–'} / "
                                                                      f"{device.get('jetpack') or '–'}"],
            ["TensorRT", device.get("tensorrt") or "–"], ["CUDA", device.get("cuda") or "–"],
            ["power mode", f"{power['name']} (id {power['id']})" if power else "–"],
            ["clocks", "unknown" if device.get("clocks") is None else
             ("locked" if device["clocks"]["locked"] else "NOT locked") + f" ({device['clocks']['source']})"],
            ["OS", device.get("os") or "–"], ["CPU", device.get("cpu_model") or "–"]]
    if device.get("clocks_note"):
        rows.append(["clock note", device["clocks_note"]])
    parts = ["<h2>Device</h2>"]
    warning = clocks_warning(record)
    if warning:
        parts.append(f'<p class="warn">{_esc(warning)}</p>')
    parts.append(_table(["", "value"], rows))
    stats = device.get("tegrastats")
    if stats and stats["samples"]:
        parts.append(f"<h3>tegrastats ({stats['samples']} samples every {stats['interval_ms']} ms, over the "
                     "benchmark command)</h3>" + _table(["quantity", "mean", "max"], _tegrastats_rows(stats)))
    elif "remote" in record:
        parts.append("<p>No tegrastats samples (tegrastats is not on this device).</p>")
    return "\n".join(parts)


def _tegrastats_rows(stats: dict[str, Any]) -> list[list[str]]:
    rows = []
    for key, label in (("gpu_load_pct", "GPU load %"), ("gpu_mhz", "GPU MHz"), ("cpu_load_pct", "CPU load % (mean of cores)"),
                       ("emc_load_pct", "EMC load %"), ("emc_mhz", "EMC MHz"), ("ram_used_mb", "RAM used MB")):
        if stats.get(key):
            rows.append([label, f"{stats[key]['mean']:.1f}", f"{stats[key]['max']:.1f}"])
    rows += [[f"{name} °C", f"{v['mean']:.1f}", f"{v['max']:.1f}"] for name, v in stats["temps_c"].items() if v]
    rows += [[f"{name} mW", f"{v['mean']:.0f}", f"{v['max']:.0f}"] for name, v in stats["rails_mw"].items() if v]
    return rows


def trtexec_timing_section(record: dict[str, Any]) -> str:
    """Percentiles of latency, GPU compute, enqueue, H2D and D2H from --exportTimes."""
    trt = record.get("trtexec")
    if not trt:
        return ""
    rows = [[label, _ms(trt[key]["median_ms"], 4), _ms(trt[key]["p90_ms"], 4), _ms(trt[key]["p99_ms"], 4),
             _ms(trt[key]["min_ms"], 4), _ms(trt[key]["max_ms"], 4)]
            for key, label in (("latency", "latency (H2D+compute+D2H)"), ("gpu_compute", "GPU compute"),
                               ("enqueue", "enqueue (host)"), ("h2d", "H2D copy"), ("d2h", "D2H copy"))]
    summary = trt.get("summary")
    check = ""
    if summary:
        check = (f" trtexec's own summary ({_esc(summary['source'])}): throughput {summary['throughput_qps']:.2f} qps, "
                 f"median {summary['latency_ms'].get('median', float('nan')):.4f} ms.")
    return (f"<h2>trtexec timings (measured, {trt['iterations']} timed iterations)</h2>"
            f"<p>{_esc(trt['warmup'])}. Throughput {trt['throughput_qps']:.2f} iterations/s "
            f"({trt['throughput_qps'] * record['settings']['batch']:.1f} images/s).{check} TensorRT "
            f"{_esc(trt.get('tensorrt') or 'version not in the exports')}, GPU {_esc(trt.get('gpu') or '–')}.</p>"
            + _table(["", "median ms", "p90 ms", "p99 ms", "min ms", "max ms"], rows))


def layer_section(record: dict[str, Any]) -> str:
    """The per-layer breakdown: sum against the timed median, categories, op types, blocks, top layers."""
    profile, breakdown = record.get("layer_profile"), record["op_breakdown"]
    if not profile or not breakdown:
        return "<h2>Per-layer breakdown</h2><p>Not available: the exports have no --exportProfile file.</p>"
    delta = 100 * (profile["ratio"] - 1)
    verdict = (f'<p class="warn">The per-layer sum is {delta:+.1f}% off the timed median, outside ±'
               f'{100 * profile["tolerance"]:.0f}%: per-layer profiling times each layer separately (it adds launch '
               "gaps and cannot use CUDA graphs), so read the shares, not the absolute times.</p>"
               if not profile["within_tolerance"] else "")
    traced = (f"{profile['traced_layers']} of {len(profile['layers'])} layers traced to nodes of "
              f"{_esc(profile['onnx_graph'])}" if profile["onnx_graph"] else
              "no ONNX graph given (--onnx): op types read from layer names")
    parts = [
        "<h2>Per-layer breakdown (measured, trtexec profile run)</h2>",
        (f"<p>{profile['profiled_iterations']} profiled iteration(s); layers sum to "
         f"{profile['layers_total_ms']:.4f} ms against a timed median GPU compute of {profile['reference_ms']:.4f} ms "
         f"({delta:+.1f}%). {traced}. Reformat/copy layers and Q/DQ conversions are their own lines.</p>"), verdict,
        _img(bars_figure(breakdown["by_op_type"], "device time by op type"), "device time by op type"),
    ]
    for key, title, rows in (("by_category", "By layer category", profile["by_category"]),
                             ("by_kind", "By kind", breakdown["by_kind"]), ("by_block", "By block", breakdown["by_block"]),
                             ("by_op_type", "By op type", breakdown["by_op_type"]),
                             ("by_edgeattn_op", "By edgeattn op", breakdown["by_edgeattn_op"])):
        if rows:
            parts.append(f"<h3>{title}</h3>" + _table(["name", "ms per run", "share"],
                                                      [[r["name"], _ms(r["ms"], 4), f"{100 * r['share']:.1f}%"] for r in rows]))
    parts.append(f"<h3>Slowest {TOP_LAYERS_SHOWN} layers</h3>" + _table(
        ["layer", "category", "op", "block", "kind", "edgeattn op / plugin", "precision", "ms", "share"],
        [[r["name"], r["category"], r["op_type"], r["block"], r["kind"], r["edgeattn_op"] or r["plugin"] or "",
          r.get("precision") or "", _ms(r["ms"], 4), f"{100 * r['share']:.1f}%"] for r in top_layers(profile)]))
    return "\n".join(parts)


def top_layers(profile: dict[str, Any], count: int = TOP_LAYERS_SHOWN) -> list[dict[str, Any]]:
    """The slowest layers, ties by engine order."""
    order = {id(r): i for i, r in enumerate(profile["layers"])}
    return sorted(profile["layers"], key=lambda r: (-r["ms"], order[id(r)]))[:count]


def bars_figure(rows: list[dict[str, Any]], title: str, top: int = 15) -> str:
    """Horizontal bars of ms per run (trtexec's per-layer profile) for the ``top`` largest groups."""
    shown = rows[:top][::-1]
    figure, axes = plt.subplots(figsize=(7, 0.3 * len(shown) + 1.2))
    axes.barh([r["name"] for r in shown], [r["ms"] for r in shown], color="#4c72b0")
    for i, r in enumerate(shown):
        axes.text(r["ms"], i, f" {100 * r['share']:.1f}%", va="center", fontsize=7)
    axes.set_xlabel("ms per run (trtexec per-layer profile)")
    axes.set_title(title, fontsize=10)
    return _to_data_uri(figure)


def _img(uri: str, alt: str) -> str:
    return f'<p><img src="{uri}" alt="{_esc(alt)}"></p>'


def matching_estimate(record: dict[str, Any]) -> tuple[str, float] | None:
    """The roofline estimate for the target that names the device (most specific match), if any.

    Only for runs on the device's GPU: the targets' estimates are GPU estimates."""
    if record["backend"] in CPU_BACKENDS:
        return None
    device = ((record.get("device") or {}).get("model") or "").lower()
    targets = (record.get("roofline") or {}).get("targets", [])
    best: tuple[int, str, float] | None = None
    for target in targets:
        words = [w for w in target["target"].lower().split("-") if w not in ("jetson", "gpu", "cpu")]
        if device and words and all(w in device for w in words) and (best is None or len(words) > best[0]):
            best = (len(words), target["target"], target["estimated_latency_ms"])
    return (best[1], best[2]) if best else None


def comparison_rows(runs: list[dict[str, Any]]) -> list[list[str]]:
    """Device and host runs side by side: measured median next to the matching roofline estimate."""
    rows = []
    for record in sorted(runs, key=lambda r: (r["model"]["name"], not is_device_run(r), r["backend"])):
        estimate = matching_estimate(record)
        median = record["latency"]["median_ms"]
        rows.append([record["model"]["name"], device_label(record), record["backend"],
                     str(record["settings"]["batch"]), _ms(median), "–" if estimate is None else
                     f"{estimate[1]:.3f} ({estimate[0]}, est.)",
                     "–" if estimate is None or not estimate[1] else f"{median / estimate[1]:.2f}×"])
    return rows


COMPARISON_HEADERS = ["model", "measured on", "backend", "batch", "median ms (measured)", "roofline ms (estimate)",
                      "measured / estimate"]


def time_share_figure(runs: list[dict[str, Any]]) -> str | None:
    """Stacked bars: where each device run's time goes, by op type (share of the per-op breakdown)."""
    device_runs = [r for r in runs if is_device_run(r) and r["op_breakdown"]]
    if not device_runs:
        return None
    totals: dict[str, float] = {}
    for record in device_runs:
        for row in record["op_breakdown"]["by_op_type"]:
            totals[row["name"]] = totals.get(row["name"], 0.0) + row["share"]
    groups = [name for name, _ in sorted(totals.items(), key=lambda kv: -kv[1])[:CHART_GROUPS]]
    figure, axes = plt.subplots(figsize=(8, 0.5 * len(device_runs) + 1.6))
    labels = [f"{r['model']['name']} · {device_label(r)}" for r in device_runs]
    left = [0.0] * len(device_runs)
    for group in [*groups, "other ops"]:
        shares = [sum(row["share"] for row in r["op_breakdown"]["by_op_type"]
                      if (row["name"] == group) or (group == "other ops" and row["name"] not in groups))
                  for r in device_runs]
        axes.barh(labels, [100 * s for s in shares], left=left, label=group)
        left = [a + 100 * b for a, b in zip(left, shares)]
    axes.set_xlabel("share of the device's per-op time (%)")
    axes.set_title("where the device's time goes (measured per-op breakdown)", fontsize=10)
    axes.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.25))
    return _to_data_uri(figure)


def comparison_section(runs: list[dict[str, Any]]) -> str:
    """The cross-run section: measured device and host runs beside roofline estimates, plus the per-op chart."""
    if not any(is_device_run(r) for r in runs):
        return ""
    parts = ["<h2>Device runs beside host runs and roofline estimates</h2>",
             "<p>Medians are measured; roofline columns are estimates from graph FLOPs/bytes and target peak numbers, "
             "shown only where a target profile names the device.</p>",
             _table(COMPARISON_HEADERS, comparison_rows(runs))]
    warnings = [f"{r['model']['name']} on {device_label(r)}: {w}" for r in runs if (w := clocks_warning(r))]
    parts += [f'<p class="warn">{_esc(w)}</p>' for w in warnings]
    figure = time_share_figure(runs)
    if figure:
        parts.append(_img(figure, "where the device's time goes"))
    return "\n".join(parts)


def comparison_markdown(runs: list[dict[str, Any]]) -> list[str]:
    """The device/host/estimate table as Markdown lines (empty without device runs)."""
    if not any(is_device_run(r) for r in runs):
        return []
    lines = ["", "Device runs beside host runs (medians measured; roofline columns are estimates):", ""]
    rows = [COMPARISON_HEADERS, ["---"] + ["---:"] * (len(COMPARISON_HEADERS) - 1), *comparison_rows(runs)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]
