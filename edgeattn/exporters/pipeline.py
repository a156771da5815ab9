"""`edgeattn export`: one pipeline in numbered steps for every image model; per-model facts come from the registry."""

from __future__ import annotations

import copy
import platform
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnx
import torch
from timm.utils import reparameterize_model
from pydantic import BaseModel, ConfigDict, Field, model_validator

import edgeattn
from edgeattn.backbones import ModelSpec, WeightsInfo, create_model, get_spec
from edgeattn.errors import EdgeattnError, ParityError, UsageError
from edgeattn.exporters import bundle as bundle_io
from edgeattn.exporters.build_script import render_build_script
from edgeattn.exporters.bundle_readme import render_bundle_readme, render_voxel_bundle_readme
from edgeattn.exporters.onnx import export_onnx, save_onnx
from edgeattn.exporters.parity import ParityReport, check_parity, torch_outputs
from edgeattn.exporters.progress import Steps
from edgeattn.calibrate.pipeline import precision_steps
from edgeattn.exporters.targets import TargetProfile, get_target
from edgeattn.exporters.trt_lint import LintReport, lint
from edgeattn.images import photo_batches
from edgeattn.ops import ops_used, translation_table
from edgeattn.runners import Runner
from edgeattn.runners.ort import OrtRunner
from edgeattn.runners.reference import ReferenceRunner
from edgeattn.ops.rewrite import rewrite_model

FLAVOUR_CHOICES = {"portable": ("portable",), "plugins": ("plugins",), "both": ("portable", "plugins")}
FLAVOUR_FILES = {"portable": "model.onnx", "plugins": "model.plugins.onnx"}
INPUT_NAME = "image"
OUTPUT_NAME = "logits"
RANDOM_INPUT_SEED = 1234


CALIBRATION_FIELDS = ("calib_data", "calib_method", "calib_granularity", "calib_count", "calib_min_cosine")
DYNAMIC_BATCH_FIELDS = ("min_batch", "max_batch")


class ExportConfig(BaseModel):
    """Everything that decides what `export` writes. Same config → byte-identical ONNX and manifest.

    A field that does not apply to the other choices (e.g. `calib_data` with fp32, `max_batch` without
    `dynamic_batch`) is refused when it is given explicitly, never ignored."""

    model_config = ConfigDict(frozen=True)

    model: str
    target: str = "jetson"
    out: Path | None = Field(None, description="default build/<model>-<target>")
    checkpoint: Path | None = None
    pretrained: bool = False
    seed: int = 0
    resolution: int | None = Field(None, ge=1, description="input height = width; default: the model's")
    batch: int = Field(1, ge=1)
    dynamic_batch: bool = False
    min_batch: int = Field(1, ge=1, description="lower bound of the TensorRT profile with dynamic_batch")
    max_batch: int = Field(32, ge=1, description="upper bound of the TensorRT profile with dynamic_batch")
    profile_from: int = Field(8, ge=1, description="LiDAR models: synthetic scenes that set the TensorRT profile")
    opset: int | None = Field(None, ge=17, le=23)
    flavour: Literal["portable", "plugins", "both"] = "both"
    allow_unsupported: bool = Field(False, description="write the bundle even if the TensorRT lint finds errors")
    precision: Literal["fp32", "fp16", "int8"] = "fp32"
    calib_data: str | None = Field(None, description="int8: image folder, .npy/.npz, or 'samples'")
    calib_method: Literal["max", "percentile", "entropy", "mse"] = "percentile"
    calib_granularity: Literal["head", "tensor"] = "head"
    calib_count: int = Field(32, ge=1)
    calib_min_cosine: float | None = Field(None, gt=0.0, lt=1.0,
                                           description="int8: sensitivity-guided fallback target (logit cosine)")
    force: bool = False
    command: str | None = Field(None, description="the command line recorded in the manifest")

    @model_validator(mode="after")
    def _given_fields_apply(self) -> ExportConfig:
        given = self.model_fields_set
        if self.precision != "int8":
            stray = [f for f in CALIBRATION_FIELDS if f in given]
            if stray:
                raise UsageError(f"{flag_name(stray[0])} applies to int8 only, and the precision is {self.precision}",
                                 "Add --precision int8, or drop the calibration options.")
        if not self.dynamic_batch:
            stray = [f for f in DYNAMIC_BATCH_FIELDS if f in given]
            if stray:
                raise UsageError(f"{flag_name(stray[0])} sets the dynamic batch profile, but --dynamic-batch is off",
                                 "Add --dynamic-batch, or drop --min-batch/--max-batch.")
        elif not self.min_batch <= self.batch <= self.max_batch:
            raise UsageError(f"the batch profile must satisfy min <= opt <= max, got {self.min_batch} <= "
                             f"{self.batch} <= {self.max_batch}", "Adjust --min-batch, --batch or --max-batch.")
        return self


def flag_name(field: str) -> str:
    """The CLI flag of an ExportConfig field, with the field name for API callers."""
    flag = {"resolution": "--img-size", "calib_min_cosine": "--min-cos"}.get(field, f"--{field.replace('_', '-')}")
    return f"{flag} ({field})"


class Bundle(BaseModel):
    """What `export` wrote."""

    path: Path
    manifest: dict[str, Any]
    parity: list[ParityReport]
    timings: dict[str, float] = Field(default_factory=dict, description="seconds per step (not in the manifest)")

    @property
    def files(self) -> list[str]:
        return [f["path"] for f in self.manifest["files"]]


def export(model: str, target: str = "jetson", out: str | Path | None = None, **options: Any) -> Bundle:
    """Export a registry model to a deployable bundle folder. Options are the fields of ExportConfig."""
    return run_export(ExportConfig(model=model, target=target, out=out, **options))


def run_export(config: ExportConfig, show_progress: bool = True) -> Bundle:
    spec = get_spec(config.model)
    target = get_target(config.target)
    out = Path(config.out) if config.out else Path("build") / f"{spec.name}-{target.name}"
    _check_flags_apply_to(spec, config)
    if spec.input_kind == "voxels":
        bundle_io.check_destination(out, config.force)
        return _run_voxel_export(config, spec, target, out, show_progress)
    resolution = _check_resolution(spec, config.resolution)
    bundle_io.check_destination(out, config.force)
    opset = config.opset or spec.opset
    input_shape = (config.batch, 3, resolution, resolution)
    flavours = FLAVOUR_CHOICES[config.flavour]
    trt_versions = [line.version for line in target.tensorrt]

    step_names = ["load model", "rewrite attention into edgeattn ops, fuse BatchNorm"]
    for flavour in flavours:
        step_names += [f"export {flavour} ONNX", f"check {flavour} parity"]
    step_names += ["lint for TensorRT"] if trt_versions else []
    step_names += precision_steps(config.precision, config.calib_min_cosine is not None) \
        if config.precision != "fp32" else []
    step_names += ["write bundle"]
    graphs: dict[str, bytes] = {}
    parity: list[ParityReport] = []
    lint_reports: dict[str, LintReport] = {}
    steps = Steps(step_names, show_progress)
    with steps:
        with steps.step("load model"):
            model, weights = create_model(spec, config.checkpoint, config.pretrained, config.seed)
            cases = _parity_cases(spec, resolution, config.batch)
            reference = {label: torch_outputs(model, inputs) for label, inputs in cases.items()}
        with steps.step("rewrite attention into edgeattn ops, fuse BatchNorm"):
            rewritten, swaps = rewrite_model(copy.deepcopy(model))
            rewritten = reparameterize_model(rewritten, inplace=True)
        for flavour in flavours:
            with steps.step(f"export {flavour} ONNX"):
                proto = export_onnx(rewritten, (torch.zeros(_example_shape(input_shape, config)),), opset=opset,
                                    input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                                    dynamic_batch=config.dynamic_batch,
                                    translation_table=translation_table(flavour),
                                    metadata={"edgeattn.model": spec.name, "edgeattn.flavour": flavour})
                graphs[flavour] = proto.SerializeToString(deterministic=True)
            with steps.step(f"check {flavour} parity"):
                report = check_parity(FLAVOUR_FILES[flavour], _parity_runner(flavour, graphs[flavour]), reference,
                                      cases, [OUTPUT_NAME])
                _require(report)
                parity.append(report)
        if trt_versions:
            with steps.step("lint for TensorRT"):
                for flavour in flavours:
                    lint_reports[flavour] = lint(onnx.load_from_string(graphs[flavour]), trt_versions)
                _require_lint(lint_reports, config.allow_unsupported)
        ops = ops_used(onnx.load_from_string(graphs["plugins"])) if "plugins" in graphs else []
        with bundle_io.atomic_folder(out, config.force) as staging:
            for flavour, data in graphs.items():
                (staging / FLAVOUR_FILES[flavour]).write_bytes(data)
            precision_entries = _build_precision(config, spec, target, rewritten, staging, steps)
            if trt_versions:
                for name in precision_entries.get("files", []):
                    if name.endswith(".onnx"):
                        lint_reports[_graph_key(name)] = lint(onnx.load(staging / name), trt_versions)
                _require_lint(lint_reports, config.allow_unsupported)
            with steps.step("write bundle"):
                bundle_io.write_json(staging / "parity.json", [p.model_dump() for p in parity])
                if lint_reports:
                    bundle_io.write_json(staging / "trt_lint.json",
                                         {f: r.model_dump(mode="json") for f, r in lint_reports.items()})
                if target.tensorrt:
                    script = staging / "build_engine.sh"
                    script.write_text(render_build_script(
                        spec.name, target, _batch_shapes(input_shape, config) if config.dynamic_batch else {},
                        edgeattn.__version__, config.precision))
                    script.chmod(0o755)
                files = sorted(p.name for p in staging.iterdir()) + ["README.md", bundle_io.MANIFEST]
                (staging / "README.md").write_text(render_bundle_readme(
                    spec, target, files, input_shape, weights.describe(), _summary(parity)))
                manifest = _manifest(config, spec, target, weights,
                                     _image_input(spec, input_shape, config.dynamic_batch), opset, parity,
                                     bundle_io.file_table(staging))
                manifest.update(ops=ops, rewrites=swaps, flavours=list(graphs), precision=precision_entries,
                                trt_lint={f: {"ok": r.ok, "errors": len(r.errors), "findings": len(r.findings)}
                                          for f, r in lint_reports.items()})
                bundle_io.write_json(staging / bundle_io.MANIFEST, manifest)
    return Bundle(path=out, manifest=manifest, parity=parity, timings=steps.timings)


def _build_precision(config: ExportConfig, spec: ModelSpec, target: TargetProfile, model: torch.nn.Module,
                     staging: Path, steps: Steps) -> dict[str, Any]:
    """fp16 graphs with fp32 islands, or INT8 graphs with head-wise calibration, beside the fp32 ones."""
    if config.precision == "fp32":
        return {"precision": "fp32"}
    from edgeattn.calibrate.pipeline import CalibrationConfig, build_precision

    on_cpu = target.kind == "cpu"
    calib = CalibrationConfig(
        data=config.calib_data, method=config.calib_method, granularity=config.calib_granularity,
        count=config.calib_count, style="ort" if on_cpu else "tensorrt", cpu_gate=on_cpu and config.precision == "int8",
        min_cosine=config.calib_min_cosine, seed=config.seed,
    )
    return build_precision(staging, spec, model, config.precision, calib, steps)


def _example_shape(input_shape: tuple[int, ...], config: ExportConfig) -> tuple[int, ...]:
    """torch.export specialises a dynamic dimension whose example size is 1, so trace a batch of 2."""
    return (max(2, input_shape[0]), *input_shape[1:]) if config.dynamic_batch else input_shape


def _batch_shapes(input_shape: tuple[int, ...], config: ExportConfig) -> dict[str, str]:
    dims = "x".join(str(d) for d in input_shape[1:])
    return {"minShapes": f"{INPUT_NAME}:{config.min_batch}x{dims}", "optShapes": f"{INPUT_NAME}:{config.batch}x{dims}",
            "maxShapes": f"{INPUT_NAME}:{config.max_batch}x{dims}"}


def _run_voxel_export(config: ExportConfig, spec: ModelSpec, target: TargetProfile, out: Path,
                      show_progress: bool) -> Bundle:
    """LiDAR backbones: the attention stack goes to ONNX with dynamic voxel and set counts; the set
    partition stays in edgeattn's runtime (edgeattn.lidar), as the DSVT authors deploy it."""
    from edgeattn.exporters.dsvt import export_dsvt

    model, weights = create_model(spec, config.checkpoint, config.pretrained, config.seed)
    with bundle_io.atomic_folder(out, config.force) as staging:
        info = export_dsvt(spec, model, staging, flavour=config.flavour, profile_from=config.profile_from,
                           seed=config.seed, progress=show_progress)
        parity = [ParityReport.model_validate(p) for p in info["parity"]]
        lint_reports = {f: lint(onnx.load(staging / name), [line.version for line in target.tensorrt])
                        for f, name in info["graphs"].items()} if target.tensorrt else {}
        _require_lint(lint_reports, config.allow_unsupported)
        bundle_io.write_json(staging / "parity.json", info["parity"])
        if lint_reports:
            bundle_io.write_json(staging / "trt_lint.json", {f: r.model_dump(mode="json") for f, r in lint_reports.items()})
        if target.tensorrt:
            script = staging / "build_engine.sh"
            script.write_text(render_build_script(spec.name, target, info["trtexec"], edgeattn.__version__))
            script.chmod(0o755)
        files = sorted(p.name for p in staging.iterdir()) + ["README.md", bundle_io.MANIFEST]
        (staging / "README.md").write_text(render_voxel_bundle_readme(spec, target, files, info, weights.describe(),
                                                                      _summary(parity)))
        graphs = {f: onnx.load(staging / name) for f, name in info["graphs"].items()}
        voxel_input = {"kind": "voxels", "names": info["input_names"], "dynamic_axes": info["dynamic_axes"],
                       "partition": "edgeattn.lidar (runs outside the engine)"}
        manifest = _manifest(config, spec, target, weights, voxel_input, spec.opset, parity,
                             bundle_io.file_table(staging))
        manifest.update(
            outputs=[{"name": n, "dtype": "float32"} for n in info["output_names"]],
            ops=ops_used(graphs["plugins"]) if "plugins" in graphs else [],
            flavours=list(graphs),
            tensorrt_profile=info["trtexec"],
            trt_lint={f: {"ok": r.ok, "errors": len(r.errors), "findings": len(r.findings)}
                      for f, r in lint_reports.items()},
        )
        bundle_io.write_json(staging / bundle_io.MANIFEST, manifest)
    return Bundle(path=out, manifest=manifest, parity=parity, timings=info["timings_s"])


IMAGE_ONLY_FIELDS = ("resolution", "batch", "dynamic_batch", "min_batch", "max_batch")


def _check_flags_apply_to(spec: ModelSpec, config: ExportConfig) -> None:
    """Refuse explicitly given options that do not apply to this model's input kind."""
    given = config.model_fields_set
    if spec.input_kind == "voxels":
        stray = [f for f in IMAGE_ONLY_FIELDS if f in given and getattr(config, f) != ExportConfig.model_fields[f].default]
        if stray:
            raise UsageError(f"{spec.name} takes voxels, not images: {flag_name(stray[0])} does not apply",
                             "Voxel and set counts are always dynamic; size the TensorRT profile with --profile-from N.")
        if config.precision != "fp32":
            raise UsageError(f"--precision {config.precision} is not available for voxel models ({spec.name}) yet",
                             "Export LiDAR models with --precision fp32.")
    elif "profile_from" in given:
        raise UsageError(f"{flag_name('profile_from')} sizes LiDAR profiles; {spec.name} takes images",
                         "Drop --profile-from; use --dynamic-batch with --min-batch/--max-batch for image models.")


def _parity_runner(flavour: str, data: bytes) -> Runner:
    return OrtRunner(data, threads=2) if flavour == "portable" else ReferenceRunner(data)


def _graph_key(file_name: str) -> str:
    """trt_lint.json key of a reduced-precision graph: model.plugins.int8.onnx -> plugins-int8."""
    parts = file_name.split(".")[1:-1]
    flavour = "plugins" if "plugins" in parts else "portable"
    return f"{flavour}-{parts[-1]}"


def _require_lint(reports: dict[str, LintReport], allow_unsupported: bool) -> None:
    errors = [(flavour, f) for flavour, r in reports.items() for f in r.errors]
    if errors and not allow_unsupported:
        flavour, first = errors[0]
        raise EdgeattnError(
            f"{len(errors)} node(s) TensorRT cannot parse, e.g. {first.node} ({first.op}) in the {flavour} "
            f"flavour: {first.reason}",
            "Nothing was written. Pass --allow-unsupported to write the bundle anyway (trt_lint.json lists all).",
        )


def _check_resolution(spec: ModelSpec, resolution: int | None) -> int:
    size = resolution or spec.resolution
    if size <= 0 or size % spec.stride:
        lower = max(spec.stride, size // spec.stride * spec.stride)
        raise UsageError(
            f"resolution {size} is not a multiple of {spec.name}'s stride {spec.stride}",
            f"Use a multiple of {spec.stride}, e.g. {lower} or {lower + spec.stride}.",
        )
    return size


def _parity_cases(spec: ModelSpec, resolution: int, batch: int) -> dict[str, tuple[torch.Tensor, ...]]:
    """Real photos with the model's preprocessing, plus one seeded random input."""
    cases = {label: (tensor,) for label, tensor in photo_batches(spec, resolution, batch).items()}
    generator = torch.Generator().manual_seed(RANDOM_INPUT_SEED)
    cases[f"random:normal(seed={RANDOM_INPUT_SEED})"] = (
        torch.randn((batch, 3, resolution, resolution), generator=generator),
    )
    return cases


def _require(parity: ParityReport) -> None:
    if not parity.passed:
        worst = parity.worst()
        raise ParityError(
            f"{parity.graph} differs from torch on {parity.runtime}: max abs {worst.max_abs:.3g} "
            f"(allowed {worst.atol:.3g}), cosine {worst.cosine:.6f}",
            "Nothing was written. Report the model name and flags; try another --opset meanwhile.",
        )


def _summary(reports: list[ParityReport]) -> str:
    lines = []
    for parity in reports:
        worst = parity.worst()
        lines.append(
            f"- `{parity.graph}` on {parity.runtime} vs torch fp32 over {len(parity.cases)} inputs (real photos + "
            f"random): worst max abs {worst.max_abs:.2e} (allowed {worst.atol:.1e}), cosine >= "
            f"{min(o.cosine for c in parity.cases for o in c.outputs):.7f}.")
    return "\n".join(lines + ["Details: `parity.json`."])


def _tool_versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import onnxscript
    import timm

    return {
        "edgeattn": edgeattn.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "onnxscript": onnxscript.__version__,
        "numpy": np.__version__,
    }


def _image_input(spec: ModelSpec, input_shape: tuple[int, ...], dynamic_batch: bool) -> dict[str, Any]:
    return {
        "name": INPUT_NAME,
        "shape": ["batch" if dynamic_batch else input_shape[0], *input_shape[1:]],
        "dtype": "float32",
        "layout": "NCHW",
        "preprocessing": {
            "resolution": input_shape[-1],
            "interpolation": spec.interpolation,
            "crop_pct": spec.crop_pct,
            "mean": list(spec.mean),
            "std": list(spec.std),
            "color": "RGB",
        },
    }


def _manifest(config: ExportConfig, spec: ModelSpec, target: TargetProfile, weights: WeightsInfo,
              input_spec: dict[str, Any], opset: int, parity: list[ParityReport],
              files: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "format": "edgeattn-bundle/1",
        "model": {"name": spec.name, "family": spec.family, "source": spec.source, "timm_name": spec.timm_name},
        "weights": weights.model_dump(exclude_none=True),
        "input": input_spec,
        "outputs": [{"name": OUTPUT_NAME, "dtype": "float32"}],
        "opset": opset,
        "deploy_hints": {"fp32_sensitive": list(spec.fp32_sensitive), "dynamic_axes": list(spec.dynamic_axes)},
        "target": target.model_dump(mode="json"),
        "parity": [{"graph": p.graph, "runtime": p.runtime, "passed": p.passed,
                    "worst_max_abs": p.worst().max_abs, "min_cosine": min(o.cosine for c in p.cases for o in c.outputs)}
                   for p in parity],
        "files": files,
        "tools": _tool_versions(),
        "command": config.command or f"edgeattn.export({config.model_dump(mode='json', exclude_defaults=True)})",
    }
