"""`edgeattn calibrate`: calibrate one model, write INT8 graphs and reports, print fidelity and head SQNR."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from edgeattn.backbones import create_model, get_spec
from edgeattn.calibrate.observers import METHODS, Method
from edgeattn.calibrate.pipeline import (
    FP32_FILES,
    CalibrationConfig,
    build_precision,
    precision_steps,
)
from edgeattn.calibrate.qdq import STYLES, Style
from edgeattn.errors import UsageError


def calibrate_command(
    model: str,
    data: str,
    method: Method = "percentile",
    granularity: Literal["head", "tensor"] = "head",
    out: Path | None = None,
    count: int = 32,
    style: Style = "tensorrt",
    resolution: int | None = None,
    checkpoint: Path | None = None,
    seed: int = 0,
    cpu_gate: bool = False,
    min_cosine: float | None = None,
    force: bool = False,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Export `model` in fp32 (both flavours), build its INT8 graphs in `out`, print the results.

    `out` is written atomically (nothing is left behind on failure); an existing folder is replaced only
    with `force`.

    Returns the manifest entries of the INT8 stage (files, calibration and fidelity summaries).
    """
    from rich.console import Console

    from edgeattn.exporters.bundle import atomic_folder, check_destination
    from edgeattn.exporters.onnx import export_onnx, save_onnx
    from edgeattn.exporters.progress import Steps
    from edgeattn.ops import translation_table
    from edgeattn.ops.rewrite import rewrite_model

    if method not in METHODS:
        raise UsageError(f"unknown method {method!r}", f"Use one of: {', '.join(METHODS)}.")
    if granularity not in ("head", "tensor"):
        raise UsageError(f"unknown granularity {granularity!r}", "Use head or tensor.")
    if style not in STYLES:
        raise UsageError(f"unknown style {style!r}", f"Use one of: {', '.join(STYLES)}.")
    spec = get_spec(model)
    size = resolution or spec.resolution
    if size % spec.stride:
        raise UsageError(f"resolution {size} is not a multiple of {spec.stride} for {spec.name}",
                         f"Pass a multiple of {spec.stride}.")
    folder = Path(out) if out else Path("build") / f"{spec.name}-calibrate"
    check_destination(folder, force)
    config = CalibrationConfig(data=data, method=method, granularity=granularity, count=count, style=style,
                               cpu_gate=cpu_gate, min_cosine=min_cosine, seed=seed)
    steps = Steps(["load model", "export fp32 graphs", *precision_steps("int8", min_cosine is not None)],
                  show_progress)
    with steps, atomic_folder(folder, force) as staging:
        with steps.step("load model"):
            torch_model, _ = create_model(spec, checkpoint=checkpoint, seed=seed)
        with steps.step("export fp32 graphs"):
            rewritten, _ = rewrite_model(copy.deepcopy(torch_model))
            for flavour, name in FP32_FILES.items():
                proto = export_onnx(rewritten, (torch.zeros(1, 3, size, size),), opset=spec.opset,
                                    input_names=["image"], output_names=["logits"],
                                    translation_table=translation_table(flavour),
                                    metadata={"edgeattn.model": spec.name, "edgeattn.flavour": flavour})
                save_onnx(proto, staging / name)
        entries = build_precision(staging, spec, torch_model, "int8", config, steps)
        _print(Console(), staging, entries, folder)
    return entries


def _print(console, folder: Path, entries: dict[str, Any], destination: Path) -> None:
    import json

    from rich.table import Table

    fidelity = json.loads((folder / "fidelity.json").read_text())["int8"]
    calibration = json.loads((folder / "calibration.json").read_text())
    table = Table(title=f"INT8 vs fp32 ({entries['calibration']['granularity']}-wise, {entries['calibration']['method']})")
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
    fallback = calibration.get("fallback")
    if fallback:
        console.print(f"sensitivity fallback: {len(fallback['kept_in_higher_precision'])} of "
                      f"{fallback['quantized_nodes']} quantized nodes kept in higher precision; calibration-set "
                      f"cosine {fallback['cosine_all_int8']:.5f} -> {fallback['cosine_after_fallback']:.5f} "
                      f"(target {fallback['target_cosine']})")
    worst = fidelity.get("worst_layers", [])[:5]
    if worst:
        console.print("worst layers: " + ", ".join(f"{w['tensor']} ({w['sqnr_db']:.1f} dB)" for w in worst))
    console.print(f"wrote {', '.join(entries['files'])} to {destination}")
