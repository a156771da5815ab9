"""`edgeattn calibrate`: the export pipeline at INT8, then a report of fidelity and of the per-head ranges.

It writes a bundle (both flavours, fp32 and INT8 graphs, calibration.json, fidelity.json) like
`edgeattn export --precision int8` does, through the same stages and the same atomic folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def calibrate_command(model: str, data: str, method: str = "percentile", granularity: str = "head",
                      out: Path | None = None, count: int = 32, style: str = "tensorrt",
                      resolution: int | None = None, checkpoint: Path | None = None, seed: int = 0,
                      cpu_gate: bool = False, min_cosine: float | None = None, force: bool = False,
                      show_progress: bool = True) -> dict[str, Any]:
    """Calibrate `model` for INT8 into the bundle folder `out` and print the results; returns the manifest."""
    from pydantic import ValidationError
    from rich.console import Console

    from edgeattn.exporters.commands import usage_error
    from edgeattn.exporters.config import ExportConfig
    from edgeattn.exporters.pipeline import run_export

    options = {"resolution": resolution, "checkpoint": checkpoint, "calib_min_cosine": min_cosine}
    try:
        config = ExportConfig(
            model=model, target="cpu-x86" if style == "ort" else "jetson", seed=seed, force=force,
            out=out or Path("build") / f"{model}-calibrate", precision="int8", calib_data=data, calib_method=method,
            calib_granularity=granularity, calib_count=count, calib_style=style, calib_cpu_gate=cpu_gate,
            **{key: value for key, value in options.items() if value is not None})
    except ValidationError as error:
        raise usage_error(error) from None
    bundle = run_export(config, show_progress)
    print_report(Console(), bundle.path)
    return bundle.manifest


def print_report(console, folder: Path) -> None:
    """Fidelity, per-head ranges and SQNR, fallback and worst layers of a calibrated bundle."""
    import json

    from rich.table import Table

    fidelity = json.loads((folder / "fidelity.json").read_text())["int8"]
    calibration = json.loads((folder / "calibration.json").read_text())
    table = Table(title=f"INT8 vs fp32 torch ({calibration['granularity']}-wise, {calibration['method']})")
    for column in ("top-1 agree", "cosine", "SQNR dB", "KL", "inputs"):
        table.add_column(column)
    table.add_row(f"{fidelity['top1_agreement']:.1%}", f"{fidelity['cosine']:.6f}", f"{fidelity['sqnr_db']:.1f}",
                  f"{fidelity['kl']:.2e}", str(fidelity["count"]))
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


def _print_fallback(console, fallback: dict | None) -> None:
    if fallback:
        console.print(f"sensitivity fallback: {len(fallback['kept_in_higher_precision'])} of "
                      f"{fallback['quantized_nodes']} quantized nodes kept in higher precision; calibration-set "
                      f"cosine {fallback['cosine_all_int8']:.5f} -> {fallback['cosine_after_fallback']:.5f} "
                      f"(target {fallback['target_cosine']})")
