"""Calibration data: image folders, .npy/.npz tensors, bundled sample photos, synthetic LiDAR scenes.

Images go through the model's own preprocessing (timm `resolve_data_config` + `create_transform` from
the ModelSpec's mean/std/crop/interpolation). Nothing here ever substitutes random data: an empty or
unreadable source raises an EdgeattnError naming the files.
"""

from __future__ import annotations

import functools
import importlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeattn.backbones.spec import ModelSpec
from edgeattn.errors import EdgeattnError, UsageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
TENSOR_SUFFIXES = (".npy", ".npz")
SAMPLES = "samples"
LIDAR = "lidar"
SAMPLE_PHOTOS = (
    "astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field",
    "immunohistochemistry", "retina", "camera", "coins", "clock",
)
"""scikit-image's bundled photos (no download needed); grey ones are converted to RGB."""


@dataclass(frozen=True)
class CalibrationData:
    """A loaded calibration set: the input batches and where they came from (for calibration.json)."""

    batches: list[np.ndarray]
    source: str
    kind: str
    files: list[str]
    labels: list[int] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(len(b) for b in self.batches)

    def describe(self) -> dict:
        return {"source": self.source, "kind": self.kind, "count": self.count, "files": self.files[:64],
                "notes": self.notes}


def model_transform(spec: ModelSpec, resolution: int | None = None):
    """The model's eval preprocessing (PIL image -> normalised CHW tensor) at `resolution` (default: spec)."""
    from timm.data import create_transform, resolve_data_config

    size = resolution or spec.resolution
    config = resolve_data_config(
        pretrained_cfg={
            "input_size": (3, size, size),
            "mean": spec.mean,
            "std": spec.std,
            "crop_pct": spec.crop_pct,
            "interpolation": spec.interpolation,
        }
    )
    return create_transform(**config, is_training=False)


def load_calibration_data(
    source: str | Path,
    spec: ModelSpec,
    count: int = 32,
    batch_size: int = 8,
    resolution: int | None = None,
    seed: int = 0,
) -> CalibrationData:
    """Load up to `count` inputs from `source`: "samples", "lidar", an image folder, or .npy/.npz file(s)."""
    if count < 1 or batch_size < 1:
        raise UsageError("calibration count and batch size must be at least 1", "Pass e.g. --calib-count 32.")
    text = str(source)
    if text == SAMPLES:
        if spec.input_kind == "voxels":
            raise UsageError(f"{spec.name} takes LiDAR point clouds, not photos",
                             f"Use --calib-data {LIDAR} (synthetic scenes) or a folder of .npy point clouds.")
        return sample_photos(spec, count, batch_size, resolution, seed)
    if text == LIDAR:
        return lidar_scenes(spec, count, batch_size, seed)
    path = Path(text)
    if not path.exists():
        raise EdgeattnError(
            f"calibration source not found: {path}",
            f"Pass a folder or file of .npy/.npz point clouds, or '{LIDAR}' for the synthetic scenes."
            if spec.input_kind == "voxels" else
            f"Pass an image folder, a .npy/.npz file or folder, or '{SAMPLES}' for the bundled photos.",
        )
    if spec.input_kind == "voxels":
        return _point_cloud_files(path, count)
    if path.is_file() and path.suffix.lower() not in TENSOR_SUFFIXES:
        raise EdgeattnError(
            f"unsupported calibration file {path}",
            f"Use an image folder ({', '.join(IMAGE_SUFFIXES)}) or tensors ({', '.join(TENSOR_SUFFIXES)}).",
        )
    tensors = _tensor_paths(path)
    if tensors:
        return _tensor_files(tensors, spec, count, batch_size, resolution, str(path))
    return _image_folder(path, spec, count, batch_size, resolution)


def _tensor_paths(path: Path) -> list[Path]:
    """`path` itself if it is a .npy/.npz file, else every .npy/.npz file below it (sorted)."""
    if path.is_file():
        return [path] if path.suffix.lower() in TENSOR_SUFFIXES else []
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TENSOR_SUFFIXES)


def _where(path: Path, name: str) -> str:
    """A file, and the array inside an .npz, for error messages."""
    return f"{path}{f' [{name}]' if name else ''}"


def _batched(arrays: list[np.ndarray], batch_size: int) -> list[np.ndarray]:
    return [np.stack(arrays[i : i + batch_size]).astype(np.float32) for i in range(0, len(arrays), batch_size)]


def _image_folder(folder: Path, spec: ModelSpec, count: int, batch_size: int, resolution: int | None) -> CalibrationData:
    from PIL import Image, UnidentifiedImageError

    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise EdgeattnError(
            f"no images ({', '.join(IMAGE_SUFFIXES)}) found in {folder}",
            "Put calibration photos in the folder, or pass --calib-data samples for the bundled photos.",
        )
    transform = model_transform(spec, resolution)
    arrays, used, bad = [], [], []
    for path in files[:count]:
        try:
            with Image.open(path) as image:
                arrays.append(transform(image.convert("RGB")).numpy())
            used.append(str(path))
        except (OSError, UnidentifiedImageError, ValueError):
            bad.append(str(path))
    if bad:
        raise EdgeattnError(
            f"unreadable calibration image(s): {', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}",
            "Remove or re-save these files (JPEG/PNG), then run again.",
        )
    return CalibrationData(_batched(arrays, batch_size), str(folder), "images", used)


def _tensor_files(
    files: list[Path], spec: ModelSpec, count: int, batch_size: int, resolution: int | None, source: str
) -> CalibrationData:
    expected = (spec.input_size[0], resolution or spec.resolution, resolution or spec.resolution)
    arrays: list[np.ndarray] = []
    notes: list[str] = []
    for path in files:
        for name, array in _read_tensors(path):
            array = _preprocessed(np.asarray(array), spec, _where(path, name), notes)
            if array.ndim == 3:
                array = array[None]
            if array.ndim != 4 or tuple(array.shape[1:]) != expected:
                raise EdgeattnError(
                    f"{_where(path, name)} has shape {tuple(array.shape)}, expected [N, {', '.join(map(str, expected))}]",
                    "Save preprocessed inputs (normalised, NCHW) at the export resolution.",
                )
            arrays.extend(array)
            if len(arrays) >= count:
                break
        if len(arrays) >= count:
            break
    if not arrays:
        raise EdgeattnError(f"no tensors found in {', '.join(map(str, files[:5]))}", "Save at least one NCHW array.")
    return CalibrationData(_batched(arrays[:count], batch_size), source, "tensors", [str(f) for f in files],
                           notes=notes)


PREPROCESSED_LIMIT = 20.0
"""Normalised inputs (mean/std of the model) stay within a few units; larger floats are raw pixels."""


def _preprocessed(array: np.ndarray, spec: ModelSpec, where: str, notes: list[str]) -> np.ndarray:
    """Float arrays are taken as preprocessed; uint8 arrays as raw 0-255 pixels, normalised here (noted)."""
    if array.dtype == np.uint8:
        shape = (-1, 1, 1) if array.ndim == 3 else (1, -1, 1, 1)
        mean, std = np.reshape(spec.mean, shape), np.reshape(spec.std, shape)
        notes.append(f"{where}: uint8 pixels scaled to [0, 1] and normalised with the model's mean/std")
        return ((array.astype(np.float32) / 255.0 - mean) / std).astype(np.float32)
    if array.dtype.kind not in "fi":
        raise EdgeattnError(f"{where} holds {array.dtype} values, not numbers",
                            "Save float32 preprocessed inputs (NCHW) or uint8 pixels with numpy.save/savez.")
    array = array.astype(np.float32)
    if array.size and float(np.abs(array).max()) > PREPROCESSED_LIMIT:
        raise EdgeattnError(
            f"{where} has values up to {float(np.abs(array).max()):.1f}: not normalised model inputs",
            "Save preprocessed inputs (normalised with the model's mean/std), or raw pixels as uint8 to be "
            "normalised by edgeattn.")
    return array


def _read_tensors(path: Path) -> Iterator[tuple[str, np.ndarray]]:
    try:
        if path.suffix.lower() == ".npy":
            yield "", np.load(path, allow_pickle=False)
            return
        with np.load(path, allow_pickle=False) as archive:
            names = sorted(archive.files)
            for name in names:
                yield name, archive[name]
    except (OSError, ValueError) as exc:
        raise EdgeattnError(
            f"unreadable calibration tensor file {path} ({type(exc).__name__})",
            "Save arrays with numpy.save / numpy.savez (no pickled objects).",
        ) from exc


@functools.cache
def sample_photo(name: str) -> np.ndarray:
    """One bundled scikit-image photo as HxWx3 uint8 (read-only, loaded once)."""
    import skimage.data

    image = np.asarray(getattr(skimage.data, name)())
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    image = np.ascontiguousarray(image[..., :3].astype(np.uint8))
    image.setflags(write=False)
    return image


def photo_crops(
    count: int, seed: int, size: int | None = None, augment: bool = False
) -> list[tuple[np.ndarray, int]]:
    """`count` deterministic random crops of the bundled photos, cycling through them: (crop, photo index).

    Crops cover 25-100% of the photo's area at aspect 3/4..4/3; `augment` adds flips and colour jitter.
    """
    photos = [sample_photo(name) for name in SAMPLE_PHOTOS]
    rng = np.random.default_rng(seed)
    crops = []
    for index in range(count):
        label = index % len(photos)
        image = photos[label]
        height, width = image.shape[:2]
        area = rng.uniform(0.25, 1.0) * height * width
        aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
        h = int(min(height, max(16, round(np.sqrt(area / aspect)))))
        w = int(min(width, max(16, round(np.sqrt(area * aspect)))))
        top = int(rng.integers(0, height - h + 1))
        left = int(rng.integers(0, width - w + 1))
        crop = image[top : top + h, left : left + w]
        if augment:
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
            gain = rng.uniform(0.7, 1.3, size=3)
            crop = np.clip(crop.astype(np.float32) * gain, 0, 255).astype(np.uint8)
        crops.append((np.ascontiguousarray(crop), label))
    return crops


def sample_photos(
    spec: ModelSpec, count: int, batch_size: int = 8, resolution: int | None = None, seed: int = 0
) -> CalibrationData:
    """Deterministic crops of scikit-image's bundled photos through the model's preprocessing."""
    from PIL import Image

    transform = model_transform(spec, resolution)
    crops = photo_crops(count, seed)
    arrays = [transform(Image.fromarray(crop)).numpy() for crop, _ in crops]
    names = [SAMPLE_PHOTOS[label] for _, label in crops]
    return CalibrationData(
        _batched(arrays, batch_size), f"{SAMPLES} (scikit-image photos, seed {seed})", SAMPLES, names,
        labels=[label for _, label in crops],
    )


def _point_cloud_files(path: Path, count: int) -> CalibrationData:
    """Up to `count` point clouds [P, 4+] (x, y, z, intensity, ...) from .npy/.npz files: one scan per array."""
    files = _tensor_paths(path)
    if not files:
        raise EdgeattnError(f"no .npy/.npz point clouds in {path}",
                            "Save each LiDAR scan as a float32 [P, 4] array (x, y, z, intensity) with numpy.save.")

    def scans() -> Iterator[tuple[str, np.ndarray]]:
        for file in files:
            for name, array in _read_tensors(file):
                if array.ndim != 2 or array.shape[1] < 4 or array.dtype.kind != "f":
                    raise EdgeattnError(
                        f"{_where(file, name)} holds a {array.dtype} array of shape {tuple(array.shape)}, not a point "
                        "cloud", "Save scans as float [P, 4+] arrays (x, y, z, intensity).")
                yield _where(file, name), array[None, :, :4].astype(np.float32)

    chosen = list(itertools.islice(scans(), count))
    return CalibrationData([cloud for _, cloud in chosen], str(path), "point clouds", [where for where, _ in chosen])


def lidar_scenes(spec: ModelSpec, count: int, batch_size: int, seed: int) -> CalibrationData:
    """Synthetic LiDAR point clouds (`edgeattn.lidar.scenes`), one [1, P, 4] array per scene."""
    if spec.input_kind != "voxels":
        raise UsageError(f"{spec.name} takes images, not LiDAR scenes", "Use an image folder or 'samples'.")
    try:
        scenes = importlib.import_module("edgeattn.lidar.scenes")
    except ImportError as exc:
        raise EdgeattnError(
            "synthetic LiDAR scenes are not available in this edgeattn build (edgeattn.lidar.scenes missing)",
            "Calibrate voxel models with .npz files of voxel features saved from real scans.",
        ) from exc
    clouds = [scenes.synthetic_scene(seed + i).numpy()[None] for i in range(count)]
    return CalibrationData(clouds, f"{LIDAR} (synthetic scenes, seed {seed})", LIDAR,
                           [f"scene {seed + i}" for i in range(count)])
