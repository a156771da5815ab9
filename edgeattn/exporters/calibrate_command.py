"""`edgeattn calibrate`: the export pipeline at INT8, then a report of fidelity and of the per-head ranges.

It writes a bundle (both flavours, fp32 and INT8 graphs, calibration.json, fidelity.json) like
`edgeattn export --precision int8` does, through the same stages and the same atomic folder. With
`report`, the per-head ranges of every attention site (`edgeattn.calibrate.head_report`) are printed and
written beside the bundle as `<out>.head-ranges.json` and `.html` (the bundle itself is left as exported).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgeattn.errors import UsageError


def calibrate_command(model: str, data: str, method: str = "percentile", granularity: str = "head",
                      out: Path | None = None, count: int | None = None, style: str = "tensorrt",
                      resolution: int | None = None, checkpoint: Path | None = None, seed: int = 0,
                      cpu_gate: bool = False, min_cosine: float | None = None, force: bool = False,
                      report: bool = False, show_progress: bool = True) -> dict[str, Any]:
    """Calibrate `model` for INT8 into the bundle folder `out` and print the results; returns the manifest."""
    from pydantic import ValidationError
    from rich.console import Console

    from edgeattn.exporters.commands import usage_error
    from edgeattn.exporters.config import ExportConfig
    from edgeattn.exporters.pipeline import run_export

    if report and granularity != "head":
        raise UsageError("--report shows the per-head ranges that head-wise calibration records",
                         "Drop --calib-granularity tensor (head is the default), or drop --report.")

    options = {"resolution": resolution, "checkpoint": checkpoint, "calib_min_cosine": min_cosine}
    try:
        config = ExportConfig(
            model=model, target="cpu-x86" if style == "ort" else "jetson", seed=seed, force=force,
            out=out or Path("build") / f"{model}-calibrate", precision="int8", calib_data=data, calib_method=method,
            calib_granularity=granularity, calib_count=count, calib_style=style, calib_cpu_gate=cpu_gate,
            **{key: value for key, value in options.items() if value is not None})
    except ValidationError as error:
        raise usage_error(error) from None
    report_paths = head_report_paths(Path(config.out)) if report else None
    bundle = run_export(config, show_progress)
    print_report(Console(), bundle.path)
    if report_paths is not None:
        write_head_report(bundle.path, report_paths)
    return bundle.manifest


def head_report_paths(out: Path) -> tuple[Path, Path]:
    """`<out>.head-ranges.json` and `.html`, checked writable before any model work."""
    from edgeattn.destination import check_file

    return tuple(check_file(out.with_name(f"{out.name}.head-ranges.{suffix}")) for suffix in ("json", "html"))


def write_head_report(folder: Path, paths: tuple[Path, Path]) -> dict[str, Any]:
    """Print the per-head range table of a calibrated bundle (plain text when piped) and write JSON + HTML."""
    import json
    import sys

    from edgeattn.calibrate.head_report import COLUMNS, head_ranges, render_html, rows, verdict
    from edgeattn.destination import atomic_write
    from edgeattn.exporters.bundle import json_safe
    from edgeattn.listing import ListFormat, print_listing

    calibration = json.loads((folder / "calibration.json").read_text())
    data = head_ranges(calibration["heads"]) | {"bundle": str(folder)}
    title = f"Per-head ranges of {folder.name}"
    print_listing(title, COLUMNS, rows(data), ListFormat.auto)
    sys.stdout.write(verdict(data) + "\n")
    atomic_write(paths[0], json.dumps(json_safe(data), indent=2, sort_keys=True, allow_nan=False) + "\n")
    atomic_write(paths[1], render_html(data, title))
    sys.stdout.write(f"head ranges: {paths[0]}, {paths[1]}\n")
    return data


def print_report(console, folder: Path) -> None:
    """Fidelity, per-head ranges and SQNR, fallback and worst layers of a calibrated bundle."""
    import json

    from rich.table import Table

    fidelity = json.loads((folder / "fidelity.json").read_text())["int8"]
    calibration = json.loads((folder / "calibration.json").read_text())
    table = Table(title=f"INT8 vs fp32 torch ({calibration['granularity']}-wise, {calibration['method']})")
    for column in ("top-1 agree", "cosine", "SQNR dB", "KL", "inputs"):
        table.add_column(column)
    table.add_row(_cell(fidelity["top1_agreement"], ".1%"), f"{fidelity['cosine']:.6f}", f"{fidelity['sqnr_db']:.1f}",
                  _cell(fidelity["kl"], ".2e"), str(fidelity["count"]))
    console.print(table)
    if calibration["heads"]:
        heads = Table(title="Per-head SQNR (dB) of per-tensor int8, mean over heads: before -> after reparameterisation")
        for column in ("attention module", "heads", "q", "k", "v", "o"):
            heads.add_column(column)
        for name, record in calibration["heads"].items():
            cells = [f"{np.mean(record['sqnr_db_before'][t]):.1f} -> {np.mean(record['sqnr_db_after'][t]):.1f}"
                     for t in ("q", "k", "v", "o")]
            heads.add_row(name, str(record["heads"]), *cells)
        console.print(heads)
    _print_fallback(console, calibration.get("fallback"))
    worst = fidelity.get("worst_layers", [])[:5]
    if worst:
        console.print("worst layers: " + ", ".join(f"{w['tensor']} ({w['sqnr_db']:.1f} dB)" for w in worst))
    console.print(f"bundle: {folder}")


def _cell(value: float | None, spec: str) -> str:
    """A metric cell; backbone features (LiDAR) have no top-1 or KL."""
    return "n/a (features)" if value is None else format(value, spec)


def _print_fallback(console, fallback: dict | None) -> None:
    if fallback:
        console.print(f"sensitivity fallback: {len(fallback['kept_in_higher_precision'])} of "
                      f"{fallback['quantized_nodes']} quantized nodes kept in higher precision; calibration-set "
                      f"cosine {fallback['cosine_all_int8']:.5f} -> {fallback['cosine_after_fallback']:.5f} "
                      f"(target {fallback['target_cosine']})")
