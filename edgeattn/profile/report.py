"""Self-contained HTML (and Markdown) reports from run records.

Figures are embedded as base64 PNG; the pages load nothing from the network. Measured numbers and
roofline estimates are shown in separate, labelled sections.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from edgeattn.bundle_files import read_json
from edgeattn.errors import UsageError
from edgeattn.profile import device_report, plots
from edgeattn.profile.schema import validate_run

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em;max-width:70em;color:#222}
table{border-collapse:collapse;margin:0.6em 0 1.4em}
th,td{border:1px solid #ccc;padding:0.25em 0.6em;text-align:right;font-size:0.9em}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}
.estimate{background:#fff8e1;border-left:4px solid #f0ad4e;padding:0.4em 1em}
.warn{color:#b35900}
img{max-width:100%}
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{_esc(title)}</title>"
            f"<style>{_STYLE}</style></head><body>\n{body}\n</body></html>\n")


def _img(uri: str, alt: str) -> str:
    return f'<p><img src="{uri}" alt="{_esc(alt)}"></p>'


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def _roofline_section(roofline: dict[str, Any] | None) -> str:
    if roofline is None:
        return ""
    parts = ["<h2>Roofline estimate (not a measurement)</h2>",
             (f'<div class="estimate"><p>{_esc(roofline["note"])}. Precision {_esc(roofline["precision"])}; '
              f'graph FLOPs {roofline["flops"] / 1e9:.3f} G at this batch.</p>')]
    if roofline["unmodelled_ops"]:
        parts.append(f'<p class="warn">Ops without a FLOP model (counted as memory only): '
                     f'{_esc(", ".join(roofline["unmodelled_ops"]))}</p>')
    if roofline["unavailable_reason"]:
        parts.append(f'<p class="warn">No target profiles: {_esc(roofline["unavailable_reason"])}</p>')
    rows = [[t["target"], t["kind"], _fmt(t["estimated_latency_ms"], 3), _fmt(t["compute_only_ms"], 3),
             _fmt(t["memory_only_ms"], 3), t["compute_bound_nodes"], t["memory_bound_nodes"]]
            for t in roofline["targets"]]
    parts.append(_table(["target", "kind", "estimated ms", "compute-only ms", "memory-only ms",
                         "compute-bound nodes", "memory-bound nodes"], rows))
    parts.append("</div>")
    return "\n".join(parts)


def _breakdown_section(breakdown: dict[str, Any] | None, backend: str, timed_median_ms: float) -> str:
    if backend == "trtexec":
        return ""
    if breakdown is None:
        reason = ("only the ort-cpu backend has a per-op profiler here" if backend != "ort-cpu"
                  else "op profiling was skipped or the run was interrupted")
        return f"<h2>Per-op breakdown</h2><p>Not available: {_esc(reason)}.</p>"
    parts = [
        "<h2>Per-op breakdown (measured, ONNX Runtime profiler)</h2>",
        (f"<p>{breakdown['profiled_runs']} profiled runs; mean run {breakdown['run_mean_ms']:.3f} ms, kernels "
         f"{breakdown['nodes_total_ms']:.3f} ms ({100 * breakdown['coverage']:.1f}% of the run; the rest is "
         f"executor and profiler overhead). Median of the unprofiled timed runs: {timed_median_ms:.3f} ms. "
         f"{breakdown['discarded_runs']} disturbed profiled runs left out.</p>"),
        _img(plots.kind_figure(breakdown["by_kind"], "time by kind"), "time by kind"),
        _img(plots.breakdown_figure(breakdown["by_block"], "time by block"), "time by block"),
        _img(plots.breakdown_figure(breakdown["by_op_type"], "time by op type"), "time by op type"),
    ]
    for key, title in (("by_kind", "By kind"), ("by_block", "By block"), ("by_op_type", "By op type"),
                       ("by_edgeattn_op", "By edgeattn op")):
        rows = [[r["name"], _fmt(r["ms"], 4), f"{100 * r['share']:.1f}%"] for r in breakdown[key]]
        if rows:
            parts.append(f"<h3>{title}</h3>" + _table(["name", "ms per run", "share"], rows))
    top = [[n["node"], n["op_type"], n["block"], n["kind"], n["edgeattn_op"] or "", n["module"], _fmt(n["ms"], 4)]
           for n in breakdown["top_nodes"]]
    parts.append("<h3>Slowest nodes</h3>" + _table(["node", "op", "block", "kind", "edgeattn op", "module", "ms"], top))
    return "\n".join(parts)


def render_run_html(record: dict[str, Any]) -> str:
    """HTML page for one run record."""
    model, settings, latency, env = record["model"], record["settings"], record["latency"], record["environment"]
    threads = "" if settings["threads"] is None else f", {settings['threads']} threads"
    where = f", measured on {device_report.device_label(record)}" if device_report.is_device_run(record) else ""
    title = f"{model['name']} on {record['backend']}{where} (batch {settings['batch']}{threads})"
    memory = record["memory"]
    summary = [
        ["median", f"{latency['median_ms']:.3f} ms"], ["p90", f"{latency['p90_ms']:.3f} ms"],
        ["p99", f"{latency['p99_ms']:.3f} ms"], ["min / max", f"{latency['min_ms']:.3f} / {latency['max_ms']:.3f} ms"],
        ["mean ± std", f"{latency['mean_ms']:.3f} ± {latency['std_ms']:.3f} ms"],
        ["throughput", f"{latency['throughput_ips']:.1f} images/s"], ["timed runs", latency["count"]],
        ["peak memory", "not measured" if memory is None else f"{_mib(memory['peak_bytes'])} ({memory['method']})"],
    ]
    model_rows = [["params", "–" if model["params"] is None else f"{model['params'] / 1e6:.2f} M"],
                  ["GFLOPs per image", _fmt(model["gflops"], 3)],
                  ["inputs", json.dumps(model["input_shapes"])], ["origin", model["origin"]]]
    versions = ", ".join(f"{k} {v}" for k, v in env["versions"].items() if v)
    env_rows = [["CPU", f"{env['cpu_model'] or '–'} ({env['usable_cpus'] or '–'} usable of {env['cpu_count'] or '–'})"],
                ["threads", env["threads"] or "–"], ["1-min load average", _fmt(env.get("load_average_1m"))],
                ["GPU", env["gpu"] or "none"], ["OS", env["os"] or "–"],
                ["Python", env["python"] or "–"], ["versions", versions]]
    body = [f"<h1>{_esc(title)}</h1>"]
    if record["interrupted"]:
        body.append('<p class="warn">Interrupted with Ctrl-C: statistics cover the finished runs only.</p>')
    body += ["<h2>Measured latency</h2>", _table(["", "value"], summary),
             _img(plots.latency_figure(record["samples_ms"], title), "latency distribution"),
             "<h2>Model</h2>", _table(["", "value"], model_rows)]
    if model["notes"]:
        body.append("<ul>" + "".join(f"<li>{_esc(n)}</li>" for n in model["notes"]) + "</ul>")
    body += [device_report.device_section(record), device_report.trtexec_timing_section(record),
             device_report.layer_section(record) if record["backend"] == "trtexec" else "",
             _breakdown_section(record["op_breakdown"], record["backend"], latency["median_ms"]),
             _roofline_section(record["roofline"]), "<h2>Environment</h2>", _table(["", "value"], env_rows)]
    return _page(title, "\n".join(body))


def load_runs(paths: list[Path]) -> list[dict[str, Any]]:
    """Read and validate run records."""
    if not paths:
        raise UsageError("no run files given", "pass one or more RUN.json files written by `edgeattn profile`")
    runs = []
    for path in paths:
        if not path.is_file():
            raise UsageError(f"run file not found: {path}", "check the path")
        record = read_json(path, "run file")
        validate_run(record)
        runs.append(record)
    return runs


def _setting_key(run: dict[str, Any]) -> tuple[str, int, int | None]:
    return run["backend"], run["settings"]["batch"], run["settings"]["threads"]


def _attention_share(run: dict[str, Any]) -> float | None:
    """Share of profiled kernel time spent in attention modules (ort-cpu runs with a breakdown)."""
    breakdown = run["op_breakdown"]
    if breakdown is None:
        return None
    return next((r["share"] for r in breakdown["by_kind"] if r["name"] == "attention"), 0.0)


def comparison_rows(runs: list[dict[str, Any]], baseline: str | None) -> list[dict[str, Any]]:
    """One row per run: measured numbers plus speedup against ``baseline`` at the same settings.

    Speedup = baseline median latency / this median latency (above 1 means faster than baseline).
    GFLOPs missing on a torch-only run are taken from another run of the same model; parameter counts
    prefer a registry run's (torch parameters) over an ONNX file's (initializers, BatchNorm folded).
    """
    names = {r["model"]["name"] for r in runs}
    if baseline is not None and baseline not in names:
        raise UsageError(f"baseline model {baseline!r} is not among the runs",
                         f"choose one of: {', '.join(sorted(names))}")
    gflops = {r["model"]["name"]: r["model"]["gflops"] for r in runs if r["model"]["gflops"] is not None}
    params: dict[str, int] = {}
    for r in sorted(runs, key=lambda r: r["model"]["origin"] != "registry"):
        if r["model"]["params"] is not None:
            params.setdefault(r["model"]["name"], r["model"]["params"])
    base = {_setting_key(r): r["latency"]["median_ms"] for r in runs if r["model"]["name"] == baseline}
    rows = []
    for r in runs:
        median = r["latency"]["median_ms"]
        ref = base.get(_setting_key(r))
        rows.append({
            "model": r["model"]["name"], "backend": r["backend"], "batch": r["settings"]["batch"],
            "threads": r["settings"]["threads"], "gflops": gflops.get(r["model"]["name"]),
            "params_m": params[r["model"]["name"]] / 1e6 if r["model"]["name"] in params else None,
            "median_ms": median, "p90_ms": r["latency"]["p90_ms"], "min_ms": r["latency"]["min_ms"],
            "throughput_ips": r["latency"]["throughput_ips"], "attention_share": _attention_share(r),
            "speedup": (ref / median) if ref is not None and median > 0 else None,
            "estimates": {t["target"]: t["estimated_latency_ms"] for t in (r["roofline"] or {}).get("targets", [])},
            "measured_on": device_report.device_label(r),
        })
    rows.sort(key=lambda row: (row["backend"], row["batch"], row["threads"] or 0, row["median_ms"]))
    return rows


_GFLOPS_NOTE = ("GFLOPs per image are counted on the ONNX graph with a multiply-add as 2 FLOPs "
               "(papers' FLOPs are usually multiply-adds: half these).")
_ATTENTION_NOTE = ("Attention % is the share of ONNX Runtime kernel time inside attention modules "
                   "(ort-cpu runs), or of trtexec's per-layer profile time in attention layers (trtexec runs).")
_HEADERS = ["model", "backend", "batch", "threads", "params (M)", "GFLOPs", "median ms", "p90 ms", "min ms",
            "images/s", "attention %", "measured on"]


def _measured_cells(row: dict[str, Any], baseline: str | None) -> list[str]:
    cells = [row["model"], row["backend"], str(row["batch"]), "–" if row["threads"] is None else str(row["threads"]),
             _fmt(row["params_m"]), _fmt(row["gflops"], 3), _fmt(row["median_ms"]), _fmt(row["p90_ms"]),
             _fmt(row["min_ms"]), _fmt(row["throughput_ips"], 1),
             _fmt(None if row["attention_share"] is None else 100 * row["attention_share"], 1), row["measured_on"]]
    if baseline is not None:
        cells.append("–" if row["speedup"] is None else f"{row['speedup']:.2f}×")
    return cells


def _estimate_table(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    targets: list[str] = []
    for row in rows:
        targets += [t for t in row["estimates"] if t not in targets]
    seen, table = set(), []
    for row in rows:
        key = (row["model"], row["batch"])
        if key in seen or not row["estimates"]:
            continue
        seen.add(key)
        table.append([row["model"], str(row["batch"])] + [_fmt(row["estimates"].get(t), 3) for t in targets])
    return ["model", "batch"] + [f"{t} (est. ms)" for t in targets], table


def _environment_line(runs: list[dict[str, Any]]) -> str:
    host_runs = [r for r in runs if not device_report.is_device_run(r)]
    if not host_runs:
        return "all runs measured on devices (see the device table)"
    runs = host_runs
    env = runs[0]["environment"]
    versions = env["versions"]
    loads = [r["environment"].get("load_average_1m") for r in runs]
    loads = [x for x in loads if x is not None]
    load = f"; 1-min load average {min(loads):.1f}–{max(loads):.1f} during the runs" if loads else ""
    return (f"CPU: {env['cpu_model']} ({env['usable_cpus']} usable CPUs); onnxruntime {versions.get('onnxruntime')}, "
            f"torch {versions.get('torch')}; GPU: {env['gpu'] or 'none'}{load}")


def render_comparison_html(runs: list[dict[str, Any]], baseline: str | None) -> str:
    """Cross-model HTML page: measured table, Pareto plot of latency vs GFLOPs, estimate table."""
    rows = comparison_rows(runs, baseline)
    headers = _HEADERS + ([f"speedup vs {baseline}"] if baseline else [])
    body = ["<h1>edgeattn model comparison</h1>", f"<p>{_esc(_environment_line(runs))}</p>",
            f"<p>{_esc(_GFLOPS_NOTE)} {_esc(_ATTENTION_NOTE)}</p>",
            "<h2>Measured latency</h2>", _table(headers, [_measured_cells(r, baseline) for r in rows])]
    body.append(device_report.comparison_section(runs))
    for key in sorted({_setting_key(r) for r in runs}, key=lambda k: (k[0], k[1], k[2] or 0)):
        points = [{"x": r["gflops"], "y": r["median_ms"], "label": r["model"]}
                  for r in rows if (r["backend"], r["batch"], r["threads"]) == key and r["gflops"] is not None]
        if points:
            title = f"{key[0]}, batch {key[1]}" + ("" if key[2] is None else f", {key[2]} threads")
            body.append(_img(plots.pareto_figure(points, "GFLOPs per image", "median latency per batch (ms)", title),
                             f"latency vs GFLOPs, {title}"))
    est_headers, est_rows = _estimate_table(rows)
    if est_rows:
        body += ["<h2>Roofline estimates on targets (fp16; not measurements)</h2>",
                 '<div class="estimate">', _table(est_headers, est_rows), "</div>"]
    return _page("edgeattn model comparison", "\n".join(body))


def render_comparison_markdown(runs: list[dict[str, Any]], baseline: str | None) -> str:
    """The same tables as Markdown, for READMEs."""
    rows = comparison_rows(runs, baseline)
    headers = _HEADERS + ([f"speedup vs {baseline}"] if baseline else [])

    def md(head: list[str], body: list[list[str]]) -> list[str]:
        align = ["---"] + ["---:"] * (len(head) - 1)
        rows = [head, align, *body]
        return ["| " + " | ".join(r) + " |" for r in rows]

    lines = [(f"Measured with `edgeattn profile` ({_environment_line(runs)}). Latency is per batch: median, "
              f"p90 and min of the timed runs. {_GFLOPS_NOTE} {_ATTENTION_NOTE}"), ""]
    lines += md(headers, [_measured_cells(r, baseline) for r in rows])
    lines += device_report.comparison_markdown(runs)
    est_headers, est_rows = _estimate_table(rows)
    if est_rows:
        lines += ["", "Roofline estimates (fp16, from graph FLOPs/bytes and target peak numbers; not measured):", ""]
        lines += md(est_headers, est_rows)
    return "\n".join(lines) + "\n"
