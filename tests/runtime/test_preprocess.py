"""The manifest preprocessing equals timm's own eval transform for every registry image model's config."""

from __future__ import annotations

import numpy as np
import pytest

from edgeattn.backbones import list_models
from edgeattn.errors import UsageError
from edgeattn.runtime.preprocess import Preprocessing


def _configs() -> dict[tuple, list[str]]:
    """Distinct (resolution, interpolation, crop_pct, mean, std) over the registry's image models, at the
    default resolution and at the fast-test resolution."""
    groups: dict[tuple, list[str]] = {}
    for spec in list_models():
        if spec.input_kind != "image":
            continue
        for size in (spec.resolution, spec.test_resolution):
            groups.setdefault((size, spec.interpolation, spec.crop_pct, spec.mean, spec.std), []).append(spec.name)
    return groups


CONFIGS = _configs()


def _timm_transform(model: str, size: int):
    """timm's transform from timm's own data config of the model (its pretrained cfg), at `size`."""
    import timm
    from timm.data import create_transform, resolve_data_config

    from edgeattn.backbones import get_spec

    spec = get_spec(model)
    cfg = timm.models.get_pretrained_cfg(spec.pretrained_name)
    config = resolve_data_config({"input_size": (3, size, size)}, pretrained_cfg=cfg.to_dict())
    return create_transform(**config, is_training=False), config


def test_registry_configs_cover_every_crop_pct():
    assert len(CONFIGS) >= 8
    assert {key[2] for key in CONFIGS} == {0.875, 0.95, 1.0, 0.888, 0.9}


@pytest.mark.parametrize("key", list(CONFIGS), ids=lambda k: f"{k[0]}px-{k[1]}-crop{k[2]}-mean{k[3][0]}")
def test_matches_timm_create_transform(key, photos):
    from PIL import Image

    size, interpolation, crop_pct, mean, std = key
    model = CONFIGS[key][0]
    transform, timm_config = _timm_transform(model, size)
    assert (timm_config["interpolation"], timm_config["crop_pct"]) == (interpolation, crop_pct)
    prep = Preprocessing(resolution=size, interpolation=interpolation, crop_pct=crop_pct, mean=mean, std=std)
    for name in ("coffee", "chelsea_portrait", "astronaut_strip"):
        ours = prep(photos[name])
        theirs = transform(Image.fromarray(photos[name])).numpy()
        assert ours.shape == theirs.shape == (3, size, size)
        assert ours.dtype == np.float32
        np.testing.assert_array_equal(ours, theirs, err_msg=f"{model} at {size}px on {name}")


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest", "lanczos"])
def test_other_filters_match_timm(interpolation, photos):
    from PIL import Image
    from timm.data import create_transform

    prep = Preprocessing(resolution=96, interpolation=interpolation, crop_pct=0.9, mean=(0.5, 0.4, 0.3),
                         std=(0.2, 0.25, 0.3))
    transform = create_transform(input_size=(3, 96, 96), interpolation=interpolation, crop_pct=0.9,
                                 mean=prep.mean, std=prep.std, is_training=False)
    frame = photos["astronaut"]
    np.testing.assert_array_equal(prep(frame), transform(Image.fromarray(frame)).numpy())


def test_sizes_follow_torchvision_rules():
    prep = Preprocessing(resolution=64, interpolation="bicubic", crop_pct=0.875, mean=(0, 0, 0), std=(1, 1, 1))
    assert prep.scale_size == 73
    assert prep.resized_size(400, 600) == (73, 109)
    assert prep.resized_size(451, 300) == (109, 73)
    assert prep.crop_offsets(73, 109) == (4, 22)  # (73 - 64) / 2 = 4.5 rounds half to even


@pytest.mark.parametrize("field, value, message", [
    ("crop_pct", 1.2, "crop_pct 1.2 is outside"),
    ("interpolation", "area", "interpolation 'area'"),
    ("resolution", 0, "resolution 0"),
    ("color", "GBR", "color 'GBR'"),
])
def test_invalid_preprocessing_is_refused(field, value, message):
    entry = {"resolution": 64, "interpolation": "bicubic", "crop_pct": 0.875, "mean": [0, 0, 0], "std": [1, 1, 1]}
    entry[field] = value
    with pytest.raises(UsageError, match=message):
        Preprocessing.from_manifest(entry)


def test_missing_keys_are_named():
    with pytest.raises(UsageError, match="lacks crop_pct, mean"):
        Preprocessing.from_manifest({"resolution": 64, "interpolation": "bicubic", "std": [1, 1, 1]})
