"""examples/cpp: the loader compiles against TensorRT 10.3, 10.16 and 11.1 headers (-Wall -Wextra -Werror,
objects only: there is no libnvinfer here), and its preprocessing equals edgeattn.runtime's bit for bit."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from runtime_bundles import tiny_image_bundle

from edgeattn.backbones import list_models
from edgeattn.runtime.preprocess import Preprocessing

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "examples" / "cpp"
TRT_VERSIONS = ("10.3", "10.16", "11.1")
FILTERS = ("bilinear", "bicubic", "box", "hamming", "lanczos", "nearest")


def _tool_reason() -> str:
    missing = [tool for tool in ("cmake", "c++") if shutil.which(tool) is None]
    return f"{' and '.join(missing)} not found (install cmake and a C++17 compiler)" if missing else ""


def _tensorrt_headers() -> Path | None:
    """$EDGEATTN_TENSORRT_HEADERS, else the nearest shared/third_party/tensorrt above the repository."""
    env = os.environ.get("EDGEATTN_TENSORRT_HEADERS")
    if env:
        return Path(env)
    for parent in ROOT.parents:
        candidate = parent / "shared" / "third_party" / "tensorrt"
        if candidate.is_dir():
            return candidate
    return None


def _cmake(build: Path, *options: str, target: str) -> subprocess.CompletedProcess:
    configure = subprocess.run(["cmake", "-S", str(SOURCE), "-B", str(build), *options],
                               capture_output=True, text=True, timeout=300)
    if configure.returncode != 0:
        return configure
    return subprocess.run(["cmake", "--build", str(build), "-j2", "--target", target],
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def check_binary(tmp_path_factory) -> Path:
    reason = _tool_reason()
    if reason:
        pytest.skip(reason)
    build = tmp_path_factory.mktemp("cpp-host")
    result = _cmake(build, "-DEDGEATTN_LOADER=OFF", target="preprocess_check")
    assert result.returncode == 0, result.stdout + result.stderr
    return build / "preprocess_check"


def _write_netpbm(path: Path, pixels: np.ndarray) -> Path:
    magic = b"P6" if pixels.ndim == 3 else b"P5"
    path.write_bytes(magic + f"\n# edgeattn test\n{pixels.shape[1]} {pixels.shape[0]}\n255\n".encode() + pixels.tobytes())
    return path


def _image_configs() -> list[dict]:
    seen, configs = set(), []
    for spec in list_models():
        key = (spec.test_resolution, spec.interpolation, spec.crop_pct, spec.mean, spec.std)
        if spec.input_kind == "image" and key not in seen:
            seen.add(key)
            configs.append({"resolution": key[0], "interpolation": key[1], "crop_pct": key[2],
                            "mean": list(key[3]), "std": list(key[4]), "color": "RGB"})
    return configs


@pytest.mark.parametrize("config", _image_configs() + [
    {"resolution": 33, "interpolation": "bilinear", "crop_pct": 0.9, "mean": [0.1, 0.2, 0.3], "std": [0.3, 0.2, 0.1],
     "color": "BGR"}], ids=lambda c: f"{c['resolution']}px-{c['interpolation']}-crop{c['crop_pct']}-{c['color']}")
def test_cpp_preprocessing_equals_python(config, check_binary, photos, tmp_path):
    bundle = tiny_image_bundle(tmp_path / "bundle", preprocessing=config)
    prep = Preprocessing.from_manifest(config)
    for name, frame in photos.items():
        out = tmp_path / f"{name}.f32"
        result = subprocess.run([str(check_binary), "preprocess", str(bundle),
                                 str(_write_netpbm(tmp_path / f"{name}.ppm", frame)), str(out)],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        ours = np.fromfile(out, dtype=np.float32).reshape(3, config["resolution"], config["resolution"])
        model_order = frame[..., ::-1] if config["color"] == "BGR" else frame
        np.testing.assert_array_equal(ours, prep(np.ascontiguousarray(model_order)), err_msg=name)


def test_grey_pgm_is_replicated_to_rgb(check_binary, photos, tmp_path):
    config = _image_configs()[0]
    bundle = tiny_image_bundle(tmp_path / "bundle", preprocessing=config)
    grey = photos["coffee"][..., 1].copy()
    out = tmp_path / "grey.f32"
    result = subprocess.run([str(check_binary), "preprocess", str(bundle),
                             str(_write_netpbm(tmp_path / "grey.pgm", grey)), str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    expected = Preprocessing.from_manifest(config)(np.repeat(grey[..., None], 3, axis=2))
    np.testing.assert_array_equal(np.fromfile(out, dtype=np.float32).reshape(expected.shape), expected)


@pytest.mark.parametrize("interpolation", FILTERS)
@pytest.mark.parametrize("size", [(109, 73), (333, 500), (640, 97)], ids=["down", "up", "mixed"])
def test_cpp_resize_equals_pillow(interpolation, size, check_binary, photos, tmp_path):
    import PIL
    from PIL import Image

    if size == (640, 97) and int(PIL.__version__.split(".")[0]) < 13:
        pytest.skip(f"Pillow {PIL.__version__} always resizes horizontally first; the loader follows Pillow 13")
    frame = photos["chelsea_portrait"]
    out = tmp_path / "resized.rgb"
    result = subprocess.run([str(check_binary), "resize", str(_write_netpbm(tmp_path / "f.ppm", frame)), str(size[0]),
                             str(size[1]), interpolation, str(out)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    expected = np.asarray(Image.fromarray(frame).resize(size, getattr(Image.Resampling, interpolation.upper())))
    np.testing.assert_array_equal(np.fromfile(out, dtype=np.uint8).reshape(expected.shape), expected)


def test_cpp_reads_the_manifest_like_python(check_binary, tmp_path):
    config = {"resolution": 96, "interpolation": "bicubic", "crop_pct": 0.888, "mean": [0.0, 0.0, 0.0],
              "std": [1.0, 1.0, 1.0], "color": "RGB"}
    bundle = tiny_image_bundle(tmp_path / "bundle", batch="batch", preprocessing=config)
    result = subprocess.run([str(check_binary), "manifest", str(bundle)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "model tiny", "input image [-1, 3, 96, 96]",
        "preprocessing 96 bicubic 0.888 mean 0 0 0 std 1 1 1 RGB", "output logits"]


@pytest.mark.parametrize("text, message", [
    ('{"format": "edgeattn-bundle/1", "model": {"name": "x"}, "input": {"kind": "voxels"}}', "voxels bundle"),
    ('{"format": "edgeattn-bundle/1", "model": {"name": "x"', "expected ',' or '}' at byte"),
    ('{"format": "other"}', "is not an edgeattn-bundle/1 manifest"),
    ('[1, 2,]', "unexpected character at byte 6"),
], ids=["voxels", "truncated", "format", "trailing-comma"])
def test_cpp_manifest_errors_are_reported(text, message, check_binary, tmp_path):
    (tmp_path / "manifest.json").write_text(text)
    result = subprocess.run([str(check_binary), "manifest", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("error: ") and message in result.stderr


@pytest.mark.parametrize("version", TRT_VERSIONS)
def test_loader_compiles_against_tensorrt_headers(version, tmp_path):
    reason = _tool_reason()
    if reason:
        pytest.skip(reason)
    headers = _tensorrt_headers()
    include = headers / version / "include" if headers else None
    if include is None or not (include / "NvInferRuntime.h").is_file():
        pytest.skip(f"TensorRT {version} headers not found (set EDGEATTN_TENSORRT_HEADERS to the folder holding "
                    "<version>/include)")
    result = _cmake(tmp_path / "build", "-DEDGEATTN_COMPILE_ONLY=ON", f"-DTENSORRT_INCLUDE_DIR={include}",
                    target="edgeattn_loader_objects")
    if result.returncode != 0 and "Could NOT find CUDAToolkit" in result.stdout + result.stderr:
        pytest.skip("CUDA headers not found (CMake's FindCUDAToolkit: install the CUDA toolkit or set CUDAToolkit_ROOT)")
    assert result.returncode == 0, result.stdout + result.stderr
    objects = sorted(p.name for p in (tmp_path / "build").rglob("*.o"))
    assert objects == ["engine.cpp.o", "main.cpp.o"]
