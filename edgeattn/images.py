"""Real photos for parity and demos (scikit-image's bundled samples) and each model's preprocessing."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from PIL import Image

from edgeattn.backbones.spec import ModelSpec

SAMPLE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle_left", "hubble_deep_field")


@lru_cache(maxsize=None)
def sample_photo(name: str) -> Image.Image:
    """One of scikit-image's bundled RGB photos (shipped inside the wheel: no download)."""
    import skimage.data

    array = getattr(skimage.data, name)()
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    return Image.fromarray(array[..., :3].astype(np.uint8), mode="RGB")


def preprocess(spec: ModelSpec, image: Image.Image, resolution: int | None = None) -> torch.Tensor:
    """The model's eval preprocessing (resize, centre crop, normalise) as a [3, H, W] float tensor."""
    from timm.data import create_transform

    size = resolution or spec.resolution
    transform = create_transform(
        input_size=(3, size, size),
        interpolation=spec.interpolation,
        mean=spec.mean,
        std=spec.std,
        crop_pct=spec.crop_pct,
        is_training=False,
    )
    return transform(image)


def photo_batches(spec: ModelSpec, resolution: int, batch: int, count: int = 4) -> dict[str, torch.Tensor]:
    """`count` photos preprocessed and grouped into batches of `batch` (photos repeat to fill a batch)."""
    names = SAMPLE_PHOTOS[:count]
    tensors = [preprocess(spec, sample_photo(n), resolution) for n in names]
    batches = {}
    for start in range(0, len(names), batch):
        chunk = [tensors[(start + i) % len(tensors)] for i in range(batch)]
        label = "+".join(names[start:start + batch])
        batches[f"photo:{label}"] = torch.stack(chunk)
    return batches
