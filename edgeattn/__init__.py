"""edgeattn: export efficient-attention vision backbones to ONNX and TensorRT edge deployments.

Public API: `load_model` (registry model with weights) and `export` (deployable bundle). Importing the
package is light (no torch, timm or onnx); `import edgeattn.backbones` registers the native families
(VAN, DSVT, STViT) with timm, so `timm.create_model("van_b0")` works after it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from torch import nn

    from edgeattn.backbones import WeightsInfo
    from edgeattn.exporters.pipeline import Bundle


def load_model(name: str, checkpoint: str | Path | None = None, pretrained: bool = False,
               seed: int = 0) -> tuple["nn.Module", "WeightsInfo"]:
    """A registry model in eval mode with its weights (checkpoint, timm pretrained, or seeded random init)."""
    from edgeattn.backbones import create_model, get_spec

    return create_model(get_spec(name), Path(checkpoint) if checkpoint else None, pretrained, seed)


def export(model: str, target: str = "jetson", out: str | Path | None = None, **options: Any) -> "Bundle":
    """Export a registry model to a bundle folder; options are the fields of `ExportConfig`."""
    from edgeattn.exporters.pipeline import export as run

    return run(model, target, out, **options)
