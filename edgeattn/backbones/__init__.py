"""Model registry over timm (and native families), with deploy facts per model."""

from edgeattn.backbones import dsvt, stvit, van  # noqa: F401  (register the native families with timm)
from edgeattn.backbones.registry import get_spec, list_models
from edgeattn.backbones.spec import ModelSpec
from edgeattn.backbones.weights import WeightsInfo, create_model, load_checkpoint

__all__ = ["ModelSpec", "WeightsInfo", "create_model", "get_spec", "list_models", "load_checkpoint"]
