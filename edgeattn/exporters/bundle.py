"""The deployable bundle: an atomically written folder with ONNX files, manifest, parity and build recipe."""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edgeattn.backbones.weights import sha256_file
from edgeattn.bundle_files import MANIFEST
from edgeattn.errors import UsageError


def check_destination(out: Path, force: bool) -> None:
    """Refuse to overwrite an existing folder unless forced (checked before any work starts)."""
    if out.exists() and not force:
        raise UsageError(f"output folder {out} already exists", "Pass --force to replace it, or choose --out.")
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a folder", "Choose another --out.")


@contextlib.contextmanager
def atomic_folder(out: Path, force: bool) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces `out`, on any error it is removed."""
    check_destination(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        yield staging
        staging.chmod(0o755)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


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
        if p.is_file() and p.name not in exclude
    ]
