"""Creating a registry model with weights: a checkpoint file, timm pretrained, or seeded random init."""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path
from typing import Any, Literal

import timm
import torch
from pydantic import BaseModel
from torch import nn

from edgeattn.backbones.spec import ModelSpec
from edgeattn.bundle_files import sha256_file
from edgeattn.errors import EdgeattnError, UsageError

CHECKPOINT_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors")
_WRAPPER_KEYS = ("state_dict", "model", "model_ema", "module", "net")


class WeightsInfo(BaseModel):
    """Where the weights came from, as recorded in the bundle manifest."""

    kind: Literal["checkpoint", "pretrained", "random-init", "module"]
    path: str | None = None
    sha256: str | None = None
    tag: str | None = None
    seed: int | None = None

    def describe(self) -> str:
        if self.kind == "checkpoint":
            return f"checkpoint {self.path} (sha256 {self.sha256[:12]})"
        if self.kind == "pretrained":
            return f"timm pretrained {self.tag}"
        if self.kind == "module":
            return f"an nn.Module passed to edgeattn (state dict sha256 {self.sha256[:12]})"
        return f"random-init + seed {self.seed} (zero-initialised BatchNorm and position biases re-drawn)"


def module_weights(model: nn.Module) -> WeightsInfo:
    """Provenance of a model given in memory: the sha256 of its state dict (names, shapes, values)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return WeightsInfo(kind="module", sha256=digest.hexdigest())


def create_model(
    spec: ModelSpec,
    checkpoint: Path | None = None,
    pretrained: bool = False,
    seed: int = 0,
) -> tuple[nn.Module, WeightsInfo]:
    """Build the model in eval mode with its weights; exactly one weights source applies."""
    if checkpoint is not None and pretrained:
        raise UsageError("--checkpoint and --pretrained were both given", "Pass one weights source.")
    if pretrained:
        return _create_pretrained(spec), WeightsInfo(kind="pretrained", tag=spec.pretrained_name)
    torch.manual_seed(seed)
    model = timm.create_model(spec.timm_name, pretrained=False)
    if checkpoint is None:
        randomize_zero_init(model, seed)
        return model.eval(), WeightsInfo(kind="random-init", seed=seed)
    load_checkpoint(model, Path(checkpoint))
    return model.eval(), WeightsInfo(kind="checkpoint", path=str(checkpoint), sha256=sha256_file(Path(checkpoint)))


@torch.no_grad()
def randomize_zero_init(model: nn.Module, seed: int = 42) -> nn.Module:
    """Re-draw the parts timm initialises to constants so that every path reaches the output, in place.

    timm zero-initialises some BatchNorm weights after attention (SHViT, EfficientViT-M) and the
    relative-position biases, which makes the attention invisible in any output comparison of a
    random-init model. Random-init exports apply this so parity, profiling and calibration see real
    attention; the manifest records it.
    """
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine:
            count = module.num_features
            module.weight.copy_(torch.rand(count, generator=generator) + 0.5)
            module.bias.copy_(torch.randn(count, generator=generator) * 0.1)
            if module.running_mean is not None:
                module.running_mean.copy_(torch.randn(count, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(count, generator=generator) + 0.5)
    for name, parameter in model.named_parameters():
        if name.endswith("attention_biases"):
            parameter.copy_(torch.randn(parameter.shape, generator=generator))
    return model


def _create_pretrained(spec: ModelSpec) -> nn.Module:
    if spec.pretrained_tag is None:
        raise UsageError(
            f"{spec.name} has no pretrained weights in timm",
            "Train or obtain a checkpoint and pass --checkpoint PATH.",
        )
    try:
        return timm.create_model(spec.pretrained_name, pretrained=True).eval()
    except Exception as exc:  # network, hub and cache errors all end here
        raise EdgeattnError(
            f"could not fetch pretrained weights '{spec.pretrained_name}' ({type(exc).__name__}: {exc})".splitlines()[0],
            "This machine may be offline: download the checkpoint on a connected machine and pass "
            "--checkpoint PATH (.pth/.pt/.safetensors).",
        ) from exc


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a state dict from .pth/.pt/.bin/.safetensors, unwrapping common training wrappers."""
    if not path.is_file():
        raise EdgeattnError(f"checkpoint not found: {path}", "Check the path passed to --checkpoint.")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj: Any = load_file(str(path))
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise EdgeattnError(
            f"{path} is not a readable checkpoint ({type(exc).__name__})",
            f"Pass a PyTorch state dict saved with torch.save or safetensors ({', '.join(CHECKPOINT_SUFFIXES)}).",
        ) from exc
    for key in _WRAPPER_KEYS:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise EdgeattnError(
            f"{path} does not contain a state dict (found {type(obj).__name__})",
            "Save the weights with torch.save(model.state_dict(), PATH).",
        )
    return {k.removeprefix("module."): v for k, v in obj.items()}


def _checkpoint_filter(model: nn.Module):
    module = importlib.import_module(type(model).__module__)
    return getattr(module, "checkpoint_filter_fn", None)


def load_checkpoint(model: nn.Module, path: Path) -> None:
    """Load a checkpoint strictly; official-repo key names go through the family's timm filter function."""
    state_dict = read_state_dict(path)
    expected = model.state_dict()
    candidates = [state_dict]
    filter_fn = _checkpoint_filter(model)
    if filter_fn is not None and set(state_dict) != set(expected):
        try:
            candidates.insert(0, filter_fn(dict(state_dict), model))
        except Exception:
            pass
    for candidate in candidates:
        if set(candidate) == set(expected) and all(candidate[k].shape == expected[k].shape for k in expected):
            model.load_state_dict(candidate, strict=True)
            return
    best = candidates[0]
    missing = sorted(set(expected) - set(best))
    unexpected = sorted(set(best) - set(expected))
    mismatched = sorted(k for k in set(expected) & set(best) if best[k].shape != expected[k].shape)
    details = "; ".join(
        f"{label} ({len(keys)}): {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("shape mismatch", mismatched))
        if keys
    )
    raise EdgeattnError(
        f"checkpoint {path} does not match {type(model).__name__}: {details}",
        "Check that the checkpoint belongs to this model variant (e.g. shvit_s4, not shvit_s3).",
    )
