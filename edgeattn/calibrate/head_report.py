"""`edgeattn calibrate --report`: per attention site, the per-head ranges of Q, K, V and the output, and
their spread, so a user sees whether a checkpoint needs head-wise scales.

The ranges are max |x| per head over the calibration inputs, as head-wise calibration records them in
`calibration.json` (`heads`): `before` is the checkpoint's own, `after` is after the exact
reparameterisation. Spread = max / min over the heads; per-tensor INT8 gives the smallest-range head
log2(spread) fewer bits than the largest.
"""

from __future__ import annotations

import html
import math
from typing import Any

TENSORS = ("q", "k", "v", "o")
SPREAD_HINT = 4.0
"""Spread above which per-tensor INT8 costs the smallest head two bits or more: head-wise scales help."""
COLUMNS = (("site", "attention site"), ("kind", "kind"), ("heads", "heads"), ("tensor", "tensor"),
           ("max_abs", "max |x| per head"), ("spread", "spread"), ("spread_after", "spread after reparam."))


def head_ranges(heads: dict[str, dict]) -> dict[str, Any]:
    """The report's JSON from calibration.json's `heads` record."""
    sites = {}
    for name, record in heads.items():
        tensors = {
            t: {"max_abs": record["amax_before"][t], "spread": record["spread_before"][t],
                "max_abs_after": record["amax_after"][t], "spread_after": record["spread_after"][t]}
            for t in TENSORS if t in record["amax_before"]
        }
        worst = max((v["spread"] for v in tensors.values()), default=1.0)
        sites[name] = {"kind": record["kind"], "heads": record["heads"], "module": record["module"],
                       "tensors": tensors, "max_spread": worst, "needs_headwise": worst > SPREAD_HINT}
    return {"range": "max |x| per head over the calibration inputs", "spread": "max / min over heads",
            "spread_hint": SPREAD_HINT, "sites": sites,
            "max_spread": max((s["max_spread"] for s in sites.values()), default=None),
            "sites_needing_headwise": sorted(n for n, s in sites.items() if s["needs_headwise"])}


def rows(report: dict[str, Any]) -> list[list[Any]]:
    """One row per site and tensor, in the order of `COLUMNS`."""
    table = []
    for name, site in report["sites"].items():
        for tensor, values in site["tensors"].items():
            table.append([name, site["kind"], site["heads"], tensor,
                          " ".join(_num(v) for v in values["max_abs"]), _num(values["spread"]),
                          _num(values["spread_after"])])
    return table


def verdict(report: dict[str, Any]) -> str:
    """One line: does this checkpoint need head-wise scales?"""
    if not report["sites"]:
        return "no head-wise calibratable attention site in this model"
    needing = report["sites_needing_headwise"]
    largest = f"largest spread {_num(report['max_spread'])}"
    if needing:
        return (f"{len(needing)} of {len(report['sites'])} attention sites spread more than "
                f"{SPREAD_HINT:g}x across heads ({largest}): head-wise scales help this checkpoint")
    return (f"every attention site is within {SPREAD_HINT:g}x across heads ({largest}): "
            "per-tensor scales lose little here")


def render_html(report: dict[str, Any], title: str) -> str:
    """A self-contained HTML page of the report."""
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows(report))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:2em}}"
            "table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:0.2em 0.6em;text-align:left}"
            f"</style></head><body>\n<h1>{html.escape(title)}</h1>\n<p>{html.escape(verdict(report))}</p>\n"
            f"<p>Range: {html.escape(report['range'])}; spread: {html.escape(report['spread'])}.</p>\n"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>\n</body></html>\n")


def _num(value: float) -> str:
    if value is None or not math.isfinite(value):
        return str(value)
    return f"{value:.3g}"
