"""Calibration sources: bundled photos, image folders, tensor files, and errors that name the files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from edgeattn.backbones import get_spec
from edgeattn.calibrate.data import SAMPLE_PHOTOS, load_calibration_data, photo_crops
from edgeattn.errors import EdgeattnError, UsageError

SPEC = get_spec("efficientvit_b0")
RES = 35


def test_samples_are_deterministic_normalised_and_labelled():
    first = load_calibration_data("samples", SPEC, count=5, batch_size=2, resolution=RES, seed=42)
    again = load_calibration_data("samples", SPEC, count=5, batch_size=2, resolution=RES, seed=42)
    other = load_calibration_data("samples", SPEC, count=5, batch_size=2, resolution=RES, seed=43)
    assert [b.shape for b in first.batches] == [(2, 3, RES, RES), (2, 3, RES, RES), (1, 3, RES, RES)]
    assert all(np.array_equal(a, b) for a, b in zip(first.batches, again.batches))
    assert not np.array_equal(first.batches[0], other.batches[0])
    assert first.labels == [0, 1, 2, 3, 4] and first.files[:2] == list(SAMPLE_PHOTOS[:2])
    stacked = np.concatenate(first.batches)
    assert -3.0 < stacked.mean() < 3.0 and stacked.std() > 0.3
    assert first.describe()["count"] == 5


def test_photo_crops_cover_every_photo_and_augment_changes_pixels():
    plain = photo_crops(len(SAMPLE_PHOTOS), seed=42)
    augmented = photo_crops(len(SAMPLE_PHOTOS), seed=42, augment=True)
    assert sorted(label for _, label in plain) == list(range(len(SAMPLE_PHOTOS)))
    assert all(crop.ndim == 3 and crop.shape[2] == 3 for crop, _ in plain)
    assert any(not np.array_equal(a, b) for (a, _), (b, _) in zip(plain, augmented))


def test_image_folder_uses_model_preprocessing(tmp_path):
    rng = np.random.default_rng(42)
    for index, suffix in enumerate(("png", "jpg", "PNG")):
        Image.fromarray(rng.integers(0, 255, (41, 53, 3), dtype=np.uint8)).save(tmp_path / f"img{index}.{suffix}")
    (tmp_path / "notes.txt").write_text("not an image")
    data = load_calibration_data(tmp_path, SPEC, count=8, batch_size=4, resolution=RES)
    assert data.count == 3 and data.kind == "images"
    assert data.batches[0].shape == (3, 3, RES, RES)


def test_empty_folder_names_the_folder(tmp_path):
    with pytest.raises(EdgeattnError, match=str(tmp_path)):
        load_calibration_data(tmp_path, SPEC, resolution=RES)


def test_unreadable_image_names_the_file(tmp_path):
    Image.fromarray(np.zeros((9, 9, 3), dtype=np.uint8)).save(tmp_path / "good.png")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 this is not a jpeg")
    with pytest.raises(EdgeattnError, match="broken.jpg"):
        load_calibration_data(tmp_path, SPEC, resolution=RES)


def test_tensor_files_load_and_wrong_shapes_name_the_file(tmp_path):
    good = np.random.default_rng(42).standard_normal((3, 3, RES, RES)).astype(np.float32)
    np.savez(tmp_path / "calib.npz", a=good, b=good[:1])
    data = load_calibration_data(tmp_path / "calib.npz", SPEC, count=4, batch_size=2, resolution=RES)
    assert data.count == 4 and np.array_equal(data.batches[0], good[:2])
    np.save(tmp_path / "bad.npy", np.zeros((2, 3, 7, 7), dtype=np.float32))
    with pytest.raises(EdgeattnError, match="bad.npy"):
        load_calibration_data(tmp_path / "bad.npy", SPEC, resolution=RES)
    (tmp_path / "corrupt.npy").write_bytes(b"garbage")
    with pytest.raises(EdgeattnError, match="corrupt.npy"):
        load_calibration_data(tmp_path / "corrupt.npy", SPEC, resolution=RES)


def test_missing_source_and_lidar_for_image_model_raise(tmp_path):
    with pytest.raises(EdgeattnError, match="not found"):
        load_calibration_data(tmp_path / "nowhere", SPEC)
    with pytest.raises(UsageError, match="takes images"):
        load_calibration_data("lidar", SPEC)
