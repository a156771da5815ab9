"""`edgeattn export` (and `edgeattn calibrate`): one pipeline in numbered stages for image and LiDAR models.

The stages live in `exporters.stages`; what differs between input kinds lives in `exporters.inputs`. This
module plans the run, shows progress, and writes the bundle atomically from the stages' artifacts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import onnx
from pydantic import BaseModel, Field
from torch import nn

import edgeattn
from edgeattn import destination
from edgeattn.backbones import get_spec
from edgeattn.bundle_files import graph_file, lint_key
from edgeattn.calibrate.precision import PrecisionResult, precision_steps
from edgeattn.calibrate.sets import CalibrationConfig
from edgeattn.errors import UsageError
from edgeattn.exporters import bundle as bundle_io
from edgeattn.exporters import stages
from edgeattn.exporters.build_script import render_build_script
from edgeattn.exporters.bundle_readme import render_bundle_readme
from edgeattn.exporters.config import ExportConfig, check_flags_apply_to
from edgeattn.exporters.inputs import export_inputs
from edgeattn.exporters.manifest import build_manifest
from edgeattn.exporters.parity import ParityReport
from edgeattn.exporters.progress import Steps
from edgeattn.exporters.targets import TargetProfile, get_target
from edgeattn.ops import ops_used, plugin_graph_ops
from edgeattn.plugins.bundle import PluginPackage, package_plugins, target_arch


class Bundle(BaseModel):
    """What `export` wrote."""

    path: Path
    manifest: dict[str, Any]
    parity: list[ParityReport]
    timings: dict[str, float] = Field(default_factory=dict, description="seconds per step (not in the manifest)")
    replaced: str | None = Field(None, description="what --force replaced")
    removed_stale: list[str] = Field(default_factory=list, description="staging folders of killed runs removed")

    @property
    def files(self) -> list[str]:
        return [f["path"] for f in self.manifest["files"]]


def export(model: str, target: str = "jetson", out: str | Path | None = None, **options: Any) -> Bundle:
    """Export a registry model to a deployable bundle folder. Options are the fields of ExportConfig."""
    return run_export(ExportConfig(model=model, target=target, out=out, **options))


def plan_export(config: ExportConfig, model: nn.Module | None = None) -> stages.Plan:
    """Stage 0: resolve names, check every option and the destination before any model work."""
    spec, target = get_spec(config.model), get_target(config.target)
    check_flags_apply_to(spec, config)
    out = Path(config.out) if config.out else Path("build") / f"{spec.name}-{target.name}"
    inputs = export_inputs(spec, config)
    if model is not None and (config.checkpoint or config.pretrained):
        raise UsageError("a model was given, so --checkpoint/--pretrained do not apply",
                         "Load the weights into the module first, or pass only the model name.")
    check_memory(spec, inputs)
    return stages.Plan(config, spec, target, out, inputs, stages.FLAVOUR_CHOICES[config.flavour],
                       calibration_config(config, target), model)


def calibration_config(config: ExportConfig, target: TargetProfile) -> CalibrationConfig | None:
    """The precision stage's settings (style and CPU gate follow the target unless given)."""
    if config.precision == "fp32":
        return None
    on_cpu = target.kind == "cpu"
    style = config.calib_style or ("ort" if on_cpu else "tensorrt")
    gate = config.calib_cpu_gate if config.calib_cpu_gate is not None else (
        on_cpu and config.precision == "int8" and style == "ort")
    return CalibrationConfig(data=config.calib_data, method=config.calib_method, granularity=config.calib_granularity,
                             count=config.calib_count, style=style, cpu_gate=gate,
                             min_cosine=config.calib_min_cosine, seed=config.seed)


def _step_names(plan: stages.Plan) -> list[str]:
    names = ["1 load model", "2 rewrite attention into edgeattn ops" + (", calibrate heads" if plan.calib else ""),
             "3 export ONNX", "4 check parity and TensorRT support"]
    names += precision_steps(plan.config.precision, plan.config.calib_min_cosine is not None)
    if _packages_plugins(plan):
        names.append(f"package TensorRT plugins ({plan.target.sm} cubins)")
    return names + ["write bundle"]


def _packages_plugins(plan: stages.Plan) -> bool:
    """Plugin graphs for a TensorRT target ship with the plugin library's sources and cubins."""
    return "plugins" in plan.flavours and plan.target.compute_capability is not None


def run_export(config: ExportConfig, show_progress: bool = True, model: nn.Module | None = None) -> Bundle:
    """Run every stage and write the bundle; nothing is left at `out` if any stage fails.

    `model` exports a module you already have (e.g. fine-tuned in memory) with `config.model`'s registry facts;
    the manifest records the sha256 of its state dict."""
    plan = plan_export(config, model)
    claimed = destination.claim(plan.out, config.force)
    try:
        return _run(plan, claimed, show_progress)
    finally:
        destination.release(claimed)


def _run(plan: stages.Plan, claimed: destination.Claim, show_progress: bool) -> Bundle:
    names = _step_names(plan)
    with Steps(names, show_progress) as steps:
        with steps.step(names[0]):
            loaded = stages.load(plan)
        with steps.step(names[1]):
            prepared = stages.rewrite(plan, loaded)
        with steps.step(names[2]):
            graphs = stages.export(plan, prepared)
        with steps.step(names[3]):
            checked = stages.Checked([stages.parity(plan, loaded, f, graphs[f]) for f in plan.flavours])
        precise = stages.precision(plan, loaded, prepared, graphs, steps) if plan.calib else PrecisionResult()
        files = _bundle_graphs(plan, graphs, precise)
        if plan.trt_versions:
            checked.lint = stages.lint_graphs(plan, {lint_key(name): graph for name, graph in files.items()})
        package = None
        with destination.atomic_folder(claimed) as staging:
            if _packages_plugins(plan):
                with steps.step(names[-2]):
                    package = _package_plugins(plan, files, staging)
            with steps.step(names[-1]):
                manifest = _write(plan, staging, loaded, prepared, checked, files, precise, package)
    return Bundle(path=claimed.path, manifest=manifest, parity=checked.parity, timings=steps.timings,
                  replaced=claimed.replaced, removed_stale=claimed.removed_stale)


def _bundle_graphs(plan: stages.Plan, graphs: dict[str, onnx.ModelProto],
                   precise: PrecisionResult) -> dict[str, onnx.ModelProto]:
    """The graphs that ship: the requested flavours, fp32 and reduced precision."""
    files = {graph_file(f): graphs[f] for f in plan.flavours}
    precision = plan.config.precision
    files.update({graph_file(f, precision): precise.graphs[graph_file(f, precision)]
                  for f in plan.flavours if graph_file(f, precision) in precise.graphs})
    return files


def _package_plugins(plan: stages.Plan, graphs: dict[str, onnx.ModelProto], staging: Path) -> PluginPackage | None:
    plugin_graphs = [graph for name, graph in sorted(graphs.items()) if name.startswith(graph_file("plugins")[:-5])]
    return package_plugins(plugin_graphs, target_arch(plan.target.compute_capability), staging / "plugins")


def _write(plan: stages.Plan, staging: Path, loaded: stages.Loaded, prepared: stages.Prepared,
           checked: stages.Checked, graphs: dict[str, onnx.ModelProto], precise: PrecisionResult,
           package: PluginPackage | None) -> dict[str, Any]:
    config, spec, target, inputs = plan.config, plan.spec, plan.target, plan.inputs
    for name, graph in graphs.items():
        (staging / name).write_bytes(graph.SerializeToString(deterministic=True))
    reports = {"parity.json": [p.model_dump() for p in checked.parity], **inputs.extra_files(), **precise.reports}
    if checked.lint:
        reports["trt_lint.json"] = {key: r.model_dump(mode="json") for key, r in checked.lint.items()}
    for name, data in reports.items():
        bundle_io.write_json(staging / name, data)
    if target.tensorrt:
        script = staging / "build_engine.sh"
        script.write_text(render_build_script(spec.name, target, inputs.build_shapes(), edgeattn.__version__,
                                              config.precision))
        script.chmod(0o755)
    files = sorted(p.name for p in staging.iterdir() if not p.name.startswith(".")) + ["README.md",
                                                                                       bundle_io.MANIFEST]
    (staging / "README.md").write_text(render_bundle_readme(
        spec, target, files, inputs.readme_lines(), loaded.weights.describe(), parity_summary(checked.parity),
        voxels=spec.input_kind == "voxels"))
    plugins = graphs.get(graph_file("plugins"))
    manifest = build_manifest(
        config, spec, target, loaded.weights, inputs.manifest_input(), inputs.output_names, checked.parity,
        bundle_io.file_table(staging), ops=ops_used(plugins) if plugins is not None else [],
        rewrites=prepared.swaps, flavours=list(plan.flavours),
        precision=precise.manifest | {"files": sorted(precise.reports) + sorted(
            n for n in graphs if n in precise.graphs)} if plan.calib else {"precision": "fp32"},
        trt_lint={key: {"ok": r.ok, "errors": len(r.errors), "findings": len(r.findings)}
                  for key, r in checked.lint.items()},
        **({"tensorrt_profile": inputs.build_shapes()} if spec.input_kind == "voxels" else {}),
        **({"plugin_graph": plugin_graph_ops(prepared.ops)} if plugins is not None else {}),
        **({"plugins": package.manifest()} if package else {}))
    bundle_io.write_json(staging / bundle_io.MANIFEST, manifest)
    return manifest


MEMORY_PER_PIXEL_GB = 1.5 / 256**2
"""Peak memory of an export per input pixel, measured on shvit_s4 at 256x256 (about 1.5 GB): the estimate
scales it with the input area, which dominates tracing and parity at large resolutions."""


def check_memory(spec, inputs) -> None:
    """Warn (stderr) when the input is so large that the export may not fit in this machine's memory."""
    resolution = getattr(inputs, "resolution", None)
    if resolution is None or resolution <= 2 * spec.resolution:
        return
    needed = MEMORY_PER_PIXEL_GB * resolution**2 * inputs.shape[0]
    available = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 1e9
    if needed > 0.5 * available:
        import sys

        sys.stderr.write(f"warning: --img-size {resolution} is {resolution**2 / spec.resolution**2:.0f}x the model's "
                         f"input area; the export may need about {needed:.0f} GB (this machine has "
                         f"{available:.0f} GB)\n")


def parity_summary(reports: list[ParityReport]) -> str:
    """The bundle README's lines on parity."""
    lines = []
    for parity in reports:
        worst = parity.worst()
        lines.append(
            f"- `{parity.graph}` on {parity.runtime} vs torch fp32 over {len(parity.cases)} inputs: worst max abs "
            f"{worst.max_abs:.2e} (allowed {worst.atol:.1e}), cosine >= "
            f"{min(o.cosine for c in parity.cases for o in c.outputs):.7f}.")
    return "\n".join(lines + ["Details: `parity.json`; reduced-precision graphs: `fidelity.json`."])
