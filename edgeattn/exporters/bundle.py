"""Files of a bundle: strict, deterministic JSON and the manifest's file table (written through
`edgeattn.destination.atomic_folder`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from edgeattn.bundle_files import MANIFEST, sha256_file


def write_json(path: Path, data: Any) -> None:
    """Strict JSON (see `json_safe`) with sorted keys and a trailing newline: byte-identical for identical data."""
    path.write_text(json.dumps(json_safe(data), indent=2, sort_keys=True, allow_nan=False) + "\n")


def json_safe(value: Any) -> Any:
    """JSON-safe copy: numpy scalars to Python, non-finite floats to strings ("inf", "nan")."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    return value


def file_table(folder: Path, exclude: tuple[str, ...] = (MANIFEST,)) -> list[dict[str, Any]]:
    """Every file in the bundle with its size and sha256, in a stable order."""
    return [
        {"path": p.relative_to(folder).as_posix(), "bytes": p.stat().st_size, "sha256": sha256_file(p)}
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in exclude and not p.name.startswith(".")
    ]
