"""Export of DSVT's attention stack (what the DSVT authors put in TensorRT) with dynamic voxel/set counts.

Steps: synthetic scenes -> TensorRT profile (trt_profiles.json) -> torch.onnx.export(dynamo=True) of
`DSVTStack` with partition tensors as graph inputs -> parity at three voxel counts from each
exported graph (ONNX Runtime for "portable", onnx.reference with edgeattn ops for "plugins").
Files: model.onnx (portable) or model.plugins.onnx (plugins), trt_profiles.json.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from pathlib import Path
from typing import Any

import onnx
import torch

from edgeattn.backbones.spec import ModelSpec
from edgeattn.errors import ParityError, UsageError
from edgeattn.exporters.parity import (
    ParityReport,
    check_parity,
    torch_outputs,
)
from edgeattn.exporters.progress import Steps
from edgeattn.lidar.inputs import (
    StackInputs,
    build_stack_inputs,
    stack_dynamic_axes,
    stack_input_names,
)
from edgeattn.lidar.layout import DSVTLayout
from edgeattn.lidar.profiles import TrtProfile, build_profile
from edgeattn.lidar.scenes import synthetic_scene
from edgeattn.lidar.voxelize import Voxels, voxelize
from edgeattn.ops import FLAVOURS, translation_table
from edgeattn.runners.ort import OrtRunner
from edgeattn.runners.reference import ReferenceRunner

PARITY_VOXELS = (500, 5000, 20000)
"""Voxel counts checked for parity (capped at what the largest scene has)."""

OUTPUT_NAMES = ["voxel_out"]
ONNX_FILES = {"portable": "model.onnx", "plugins": "model.plugins.onnx"}
PROFILE_FILE = "trt_profiles.json"
MAX_DIM = 1 << 20


def export_dsvt(
    spec: ModelSpec,
    model: torch.nn.Module,
    out_dir: Path,
    *,
    flavour: str = "portable",
    profile_from: int = 8,
    seed: int = 0,
    progress: bool = True,
    parity_voxels: tuple[int, ...] = PARITY_VOXELS,
) -> dict[str, Any]:
    """Write the stack's ONNX file(s) and trt_profiles.json into `out_dir`; return files, parity, profile.

    `model` is a `DSVT` (edgeattn.backbones.dsvt); `flavour` is "portable", "plugins" or "both".
    The returned dict is JSON-ready: files, graphs (flavour -> file), input/output names, dynamic
    axes, parity (one ParityReport dump per flavour), profile, trtexec shape strings, step timings.
    Raises ParityError when a graph does not reproduce torch at every checked voxel count.
    """
    flavours = list(FLAVOURS) if flavour == "both" else [flavour]
    if any(f not in FLAVOURS for f in flavours):
        raise UsageError(f"unknown ONNX flavour {flavour!r}", f"Use one of: {', '.join(FLAVOURS)}, both.")
    if profile_from < 1:
        raise UsageError(f"--profile-from {profile_from} is too small", "Use at least 1 synthetic scene.")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    layout: DSVTLayout = model.layout
    stack = model.stack.eval()
    names = [f"{profile_from} synthetic scenes -> TensorRT profile", "torch reference outputs"]
    for f in flavours:
        names += [f"export {f} ONNX", f"check {f} parity at {len(parity_voxels)} voxel counts"]
    reports: list[ParityReport] = []
    with Steps(names, enabled=progress) as steps:
        with steps.step(names[0]):
            scenes = [voxelize(synthetic_scene(seed + i), layout.grid) for i in range(profile_from)]
            frames = [build_stack_inputs(v, layout) for v in scenes]
            profile = build_profile(layout, frames)
            write_profile(out_dir / PROFILE_FILE, profile)
        with steps.step(names[1]):
            largest = max(scenes, key=lambda v: v.num_voxels)
            cases = {f"{v.num_voxels} voxels": build_stack_inputs(v, layout).as_tuple()
                     for v in parity_subsets(largest, parity_voxels)}
            reference = {label: torch_outputs(stack, inputs) for label, inputs in cases.items()}
        example = max(frames, key=lambda f: f.tensors["voxel_feats"].shape[0])
        for f in flavours:
            with steps.step(f"export {f} ONNX"):
                proto = export_stack(stack, layout, example, f, spec.opset)
                data = proto.SerializeToString(deterministic=True)
                (out_dir / ONNX_FILES[f]).write_bytes(data)
            with steps.step(f"check {f} parity at {len(parity_voxels)} voxel counts"):
                runner = OrtRunner(data, threads=2) if f == "portable" else ReferenceRunner(data)
                reports.append(check_parity(ONNX_FILES[f], runner, reference, cases, OUTPUT_NAMES))
    for report in reports:
        if not report.passed:
            worst = report.worst()
            raise ParityError(
                f"{report.graph} differs from torch: max abs {worst.max_abs:.3g} > {worst.atol:.3g} "
                f"(cosine {worst.cosine:.6f})",
                "Nothing was written. Report this with the model name and flavour.",
            )
    return {
        "files": sorted([ONNX_FILES[f] for f in flavours] + [PROFILE_FILE]),
        "graphs": {f: ONNX_FILES[f] for f in flavours},
        "input_names": stack_input_names(layout),
        "output_names": OUTPUT_NAMES,
        "dynamic_axes": stack_dynamic_axes(layout),
        "parity": [r.model_dump() for r in reports],
        "profile": profile.model_dump(),
        "trtexec": profile.trtexec_args(),
        "timings_s": steps.timings,
    }


def export_stack(stack: torch.nn.Module, layout: DSVTLayout, example: StackInputs, flavour: str,
                 opset: int) -> onnx.ModelProto:
    """torch.onnx.export(dynamo=True) of the attention stack with named dynamic voxel and set counts."""
    dims: dict[str, torch.export.Dim] = {}
    axes = stack_dynamic_axes(layout)
    dynamic_shapes = [
        {axis: dims.setdefault(dim, torch.export.Dim(dim, min=2, max=MAX_DIM)) for axis, dim in axes[name].items()}
        for name in stack_input_names(layout)
    ]
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            stack,
            example.as_tuple(),
            dynamo=True,
            opset_version=opset,
            input_names=stack_input_names(layout),
            output_names=OUTPUT_NAMES,
            dynamic_shapes=(tuple(dynamic_shapes),),
            custom_translation_table=translation_table(flavour),
            optimize=True,
            verbose=False,
        )
    proto = program.model_proto
    proto.producer_name = "edgeattn"
    del proto.metadata_props[:]
    if flavour == "portable":
        onnx.checker.check_model(proto)
    return proto


def parity_subsets(voxels: Voxels, counts: tuple[int, ...]) -> list[Voxels]:
    """The `n` voxels nearest the grid centre for each count (capped at the voxels available)."""
    centre = (voxels.coords[:, 2:].float() - voxels.coords[:, 2:].float().mean(0)).norm(dim=1)
    order = torch.argsort(centre, stable=True)
    sizes = sorted({min(n, voxels.num_voxels) for n in counts})
    return [voxels.subset(torch.sort(order[:n]).values) for n in sizes]


def write_profile(path: Path, profile: TrtProfile) -> None:
    """trt_profiles.json: dimension ranges, per-input shapes and the trtexec shape strings."""
    data = {"profile": profile.model_dump(), "trtexec": profile.trtexec_args()}
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
