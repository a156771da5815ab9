"""`edgeattn export`: one pipeline in numbered steps for every image model; per-model facts come from the registry."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

import edgeattn
from edgeattn.backbones import ModelSpec, WeightsInfo, create_model, get_spec
from edgeattn.errors import ParityError, UsageError
from edgeattn.exporters import bundle as bundle_io
from edgeattn.exporters.build_script import render_build_script
from edgeattn.exporters.bundle_readme import render_bundle_readme
from edgeattn.exporters.onnx import export_onnx, save_onnx
from edgeattn.exporters.parity import ParityReport, check_parity, ort_runner
from edgeattn.exporters.progress import Steps
from edgeattn.exporters.targets import TargetProfile, get_target
from edgeattn.images import photo_batches

INPUT_NAME = "image"
OUTPUT_NAME = "logits"
RANDOM_INPUT_SEED = 1234


class ExportConfig(BaseModel):
    """Everything that decides what `export` writes. Same config → byte-identical ONNX and manifest."""

    model_config = ConfigDict(frozen=True)

    model: str
    target: str = "jetson"
    out: Path | None = Field(None, description="default build/<model>-<target>")
    checkpoint: Path | None = None
    pretrained: bool = False
    seed: int = 0
    resolution: int | None = Field(None, description="input height = width; default: the model's")
    batch: int = Field(1, ge=1)
    dynamic_batch: bool = False
    max_batch: int = Field(32, ge=1, description="upper bound of the TensorRT profile with --dynamic-batch")
    opset: int | None = Field(None, ge=17)
    force: bool = False
    command: str | None = Field(None, description="the command line recorded in the manifest")


class Bundle(BaseModel):
    """What `export` wrote."""

    path: Path
    manifest: dict[str, Any]
    parity: list[ParityReport]

    @property
    def files(self) -> list[str]:
        return [f["path"] for f in self.manifest["files"]]


def export(model: str, target: str = "jetson", out: str | Path | None = None, **options: Any) -> Bundle:
    """Export a registry model to a deployable bundle folder. Options are the fields of ExportConfig."""
    return run_export(ExportConfig(model=model, target=target, out=out, **options))


def run_export(config: ExportConfig, show_progress: bool = True) -> Bundle:
    spec = get_spec(config.model)
    target = get_target(config.target)
    resolution = _check_resolution(spec, config.resolution)
    out = Path(config.out) if config.out else Path("build") / f"{spec.name}-{target.name}"
    bundle_io.check_destination(out, config.force)
    opset = config.opset or spec.opset
    input_shape = (config.batch, 3, resolution, resolution)

    steps = Steps(["load model", "export ONNX", "check parity (ONNX Runtime)", "write bundle"], show_progress)
    with steps:
        with steps.step("load model"):
            model, weights = create_model(spec, config.checkpoint, config.pretrained, config.seed)
        with steps.step("export ONNX"):
            example = torch.zeros(input_shape)
            proto = export_onnx(model, (example,), opset=opset, input_names=[INPUT_NAME],
                                output_names=[OUTPUT_NAME], dynamic_batch=config.dynamic_batch,
                                metadata={"edgeattn.model": spec.name, "edgeattn.flavour": "portable"})
            onnx_bytes = proto.SerializeToString(deterministic=True)
        with steps.step("check parity (ONNX Runtime)"):
            cases = _parity_cases(spec, resolution, config.batch)
            parity = check_parity("model.onnx", _ort_label(), model, ort_runner(onnx_bytes),
                                  cases, [OUTPUT_NAME])
            _require(parity)
        with steps.step("write bundle"):
            with bundle_io.atomic_folder(out, config.force) as staging:
                save_onnx(proto, staging / "model.onnx")
                bundle_io.write_json(staging / "parity.json", [parity.model_dump()])
                if target.tensorrt:
                    script = staging / "build_engine.sh"
                    script.write_text(render_build_script(spec.name, target, INPUT_NAME, input_shape,
                                                          config.dynamic_batch, config.max_batch,
                                                          edgeattn.__version__))
                    script.chmod(0o755)
                files = sorted(p.name for p in staging.iterdir()) + ["README.md", bundle_io.MANIFEST]
                (staging / "README.md").write_text(render_bundle_readme(
                    spec, target, files, input_shape, weights.describe(), _summary(parity)))
                manifest = _manifest(config, spec, target, weights, input_shape, opset, [parity],
                                     bundle_io.file_table(staging))
                bundle_io.write_json(staging / bundle_io.MANIFEST, manifest)
    return Bundle(path=out, manifest=manifest, parity=[parity])


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


def _summary(parity: ParityReport) -> str:
    worst = parity.worst()
    return (f"`{parity.graph}` on {parity.runtime} vs torch fp32 over {len(parity.cases)} inputs "
            f"(real photos + random): worst max abs {worst.max_abs:.2e} (allowed {worst.atol:.1e}), "
            f"cosine >= {min(o.cosine for c in parity.cases for o in c.outputs):.7f}. Details: `parity.json`.")


def _ort_label() -> str:
    import onnxruntime

    return f"onnxruntime {onnxruntime.__version__} CPUExecutionProvider"


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


def _manifest(config: ExportConfig, spec: ModelSpec, target: TargetProfile, weights: WeightsInfo,
              input_shape: tuple[int, ...], opset: int, parity: list[ParityReport],
              files: list[dict[str, Any]]) -> dict[str, Any]:
    batch_dim: Any = "batch" if config.dynamic_batch else input_shape[0]
    return {
        "format": "edgeattn-bundle/1",
        "model": {"name": spec.name, "family": spec.family, "source": spec.source, "timm_name": spec.timm_name},
        "weights": weights.model_dump(exclude_none=True),
        "input": {
            "name": INPUT_NAME,
            "shape": [batch_dim, *input_shape[1:]],
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
        },
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
