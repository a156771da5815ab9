"""Model registry over timm (and native families), with deploy facts per model."""

import importlib

from edgeattn.backbones.registry import FAMILY_MODULES, get_spec, list_models
from edgeattn.backbones.spec import ModelSpec
from edgeattn.backbones.weights import WeightsInfo, create_model, load_checkpoint

for _family in FAMILY_MODULES:  # importing a native family registers its models with timm
    importlib.import_module(_family)

__all__ = ["ModelSpec", "WeightsInfo", "create_model", "get_spec", "list_models", "load_checkpoint"]
