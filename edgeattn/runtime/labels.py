"""Class names of an image bundle: its labels.txt, else ImageNet-1k's (timm) for 1000-class heads."""

from __future__ import annotations

from pathlib import Path

from edgeattn.errors import UsageError
from edgeattn.runtime.bundle import LABELS_FILE

IMAGENET_CLASSES = 1000


def class_names(bundle_path: Path, classes: int) -> tuple[list[str] | None, str]:
    """(names, source) for a head of `classes` outputs; (None, why not) when there are none.

    A `labels.txt` in the bundle (one name per line) wins; it must have one line per class.
    """
    path = bundle_path / LABELS_FILE
    if path.is_file():
        names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        if len(names) != classes:
            raise UsageError(f"{path} has {len(names)} names but the model has {classes} classes",
                             "Write one class name per line, in output order.")
        return names, LABELS_FILE
    if classes != IMAGENET_CLASSES:
        return None, f"no {LABELS_FILE} in the bundle and {classes} classes are not ImageNet-1k's"
    try:
        from timm.data import ImageNetInfo
    except ImportError:
        return None, "timm is not installed (it ships the ImageNet-1k class names)"
    info = ImageNetInfo()
    return [info.index_to_description(i).split(",")[0] for i in range(classes)], "ImageNet-1k (timm)"
