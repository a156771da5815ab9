"""Parameter and MAC counts per model at its default resolution, and the edgeattn ops its rewrite uses,
kept as data (`model_stats.json`, so listing models builds none of them).

Regenerate with `python -m edgeattn.backbones.stats` after adding models or ops; a test recomputes a sample.
The ops come from the ops' own module swaps (`OpDef.swaps`), the one place a model is linked to an op.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from edgeattn.backbones.registry import list_models
from edgeattn.backbones.spec import ModelSpec
from edgeattn.backbones.weights import create_model

STATS_FILE = Path(__file__).with_name("model_stats.json")


def measure(spec: ModelSpec, resolution: int | None = None) -> dict[str, Any]:
    """Parameters (millions), multiply-accumulates (GMACs, what the papers call FLOPs; image models) and
    the edgeattn ops of the model."""
    from edgeattn.ops.rewrite import ops_in

    model, _ = create_model(spec)
    entry: dict[str, Any] = {"params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 3),
                             "ops": ops_in(model)}
    if spec.input_kind == "image":
        size = resolution or spec.resolution
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model(torch.zeros(1, 3, size, size))
        entry.update(gmacs=round(counter.get_total_flops() / 2e9, 4), resolution=size)
    return entry


def model_ops(name: str) -> list[str]:
    """The edgeattn ops a registry model uses (from `model_stats.json`)."""
    return list(load_stats().get(name, {}).get("ops", []))


@lru_cache(maxsize=1)
def load_stats() -> dict[str, dict[str, float]]:
    return json.loads(STATS_FILE.read_text()) if STATS_FILE.exists() else {}


README_MARKERS = ("<!-- models-table -->", "<!-- /models-table -->")


def markdown_table() -> str:
    """The README's model table, generated from the registry and `model_stats.json`."""
    stats = load_stats()
    rows = ["| model | family | params (M) | GMACs | resolution | edgeattn ops | source | pretrained |",
            "|---|---|---:|---:|---|---|---|---|"]
    for spec in list_models():
        entry = stats.get(spec.name, {})
        size = f"{spec.resolution}²" if spec.input_kind == "image" else "voxels"
        params = f"{entry['params_m']:.2f}" if "params_m" in entry else "–"
        gmacs = f"{entry['gmacs']:.3f}" if "gmacs" in entry else "–"
        rows.append(f"| `{spec.name}` | {spec.family} | {params} | {gmacs} | {size} | "
                    f"{', '.join(model_ops(spec.name)) or '–'} | {'native' if spec.source == 'native' else 'timm'} | "
                    f"{spec.pretrained_tag or '–'} |")
    return "\n".join(rows)


def update_readme(readme: Path) -> None:
    """Replace the table between the README markers with a freshly generated one."""
    text = readme.read_text()
    head, rest = text.split(README_MARKERS[0], 1)
    _, tail = rest.split(README_MARKERS[1], 1)
    readme.write_text(f"{head}{README_MARKERS[0]}\n{markdown_table()}\n{README_MARKERS[1]}{tail}")


def main() -> None:
    stats = {spec.name: measure(spec) for spec in list_models()}
    STATS_FILE.write_text(json.dumps(stats, indent=1, sort_keys=True) + "\n")
    load_stats.cache_clear()
    update_readme(Path(__file__).parents[2] / "README.md")
    print(f"wrote {len(stats)} entries to {STATS_FILE} and the README model table")


if __name__ == "__main__":
    main()
