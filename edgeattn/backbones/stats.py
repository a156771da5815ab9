"""Parameter and MAC counts per model at its default resolution, kept as data (`model_stats.json`).

Regenerate with `python -m edgeattn.backbones.stats` after adding models; a test recomputes a sample.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from edgeattn.backbones.registry import list_models
from edgeattn.backbones.spec import ModelSpec
from edgeattn.backbones.weights import create_model

STATS_FILE = Path(__file__).with_name("model_stats.json")


def measure(spec: ModelSpec, resolution: int | None = None) -> dict[str, float]:
    """Count parameters (millions) and multiply-accumulates (GMACs, what the papers call FLOPs)."""
    model, _ = create_model(spec)
    size = resolution or spec.resolution
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    return {
        "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 3),
        "gmacs": round(counter.get_total_flops() / 2e9, 4),
        "resolution": size,
    }


@lru_cache(maxsize=1)
def load_stats() -> dict[str, dict[str, float]]:
    return json.loads(STATS_FILE.read_text()) if STATS_FILE.exists() else {}


def main() -> None:
    stats = {spec.name: measure(spec) for spec in list_models() if spec.input_kind == "image"}
    STATS_FILE.write_text(json.dumps(stats, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(stats)} entries to {STATS_FILE}")


if __name__ == "__main__":
    main()
