"""The model registry: every model edgeattn can export, looked up by name."""

from __future__ import annotations

import difflib
import importlib

from edgeattn.backbones.spec import ModelSpec
from edgeattn.errors import UsageError

FAMILY_MODULES = (
    "edgeattn.backbones.shvit",
    "edgeattn.backbones.lowformer",
    "edgeattn.backbones.ghostnetv2",
    "edgeattn.backbones.efficientvit",
    "edgeattn.backbones.mobilevit",
    "edgeattn.backbones.van",
    "edgeattn.backbones.dsvt",
    "edgeattn.backbones.stvit",
)

_REGISTRY: dict[str, ModelSpec] | None = None


def _load() -> dict[str, ModelSpec]:
    global _REGISTRY
    if _REGISTRY is None:
        registry: dict[str, ModelSpec] = {}
        for module_name in FAMILY_MODULES:
            for spec in importlib.import_module(module_name).SPECS:
                if spec.name in registry:
                    raise RuntimeError(f"model '{spec.name}' registered twice")
                registry[spec.name] = spec
        _REGISTRY = registry
    return _REGISTRY


def list_models(family: str | None = None) -> list[ModelSpec]:
    """All registered models, optionally one family, in registration order."""
    return [s for s in _load().values() if family is None or s.family == family]


def get_spec(name: str) -> ModelSpec:
    """Look a model up by name; unknown names raise a UsageError suggesting the closest ones."""
    registry = _load()
    key = name.strip().lower()
    if key in registry:
        return registry[key]
    close = difflib.get_close_matches(key, list(registry), n=3, cutoff=0.5)
    hint = f"Did you mean {', '.join(close)}? " if close else ""
    raise UsageError(f"unknown model '{name}'", f"{hint}Run `edgeattn models` to list all models.")
