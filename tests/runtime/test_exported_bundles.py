"""Sessions on bundles written by the real export pipeline: image (shvit_s1) and LiDAR (dsvt_pillar)."""

from __future__ import annotations

import numpy as np
import pytest

import edgeattn.runtime as runtime
from edgeattn.errors import EdgeattnError, UsageError
from edgeattn.runtime.backends import TensorRTBackend
from edgeattn.runtime.bundle import read_bundle
from edgeattn.runtime.options import RuntimeOptions


def test_image_session_equals_onnxruntime_on_timm_preprocessing(image_bundle, photos):
    import onnxruntime as ort
    from PIL import Image

    from edgeattn.backbones import get_spec
    from edgeattn.images import preprocess

    session = runtime.load(image_bundle)
    assert session.backend == "onnxruntime"
    frames = list(photos.values())
    logits = session(frames)
    assert logits.shape == (len(frames), 1000)
    direct = ort.InferenceSession(str(image_bundle / "model.onnx"), providers=["CPUExecutionProvider"])
    spec = get_spec("shvit_s1")
    for frame, row in zip(frames, logits):
        tensor = preprocess(spec, Image.fromarray(frame), 64).numpy()[None]
        (expected,) = direct.run(None, {"image": tensor})
        np.testing.assert_array_equal(row, expected[0])
    assert session.labels_source == "ImageNet-1k (timm)" and session.labels[281] == "tabby"


def test_image_session_matches_the_torch_model(image_bundle, photos):
    import torch

    import edgeattn
    from edgeattn.tolerances import model_fp32_atol

    model, _ = edgeattn.load_model("shvit_s1", seed=42)
    session = runtime.load(image_bundle)
    tensor = session.preprocess(list(photos.values()))
    with torch.no_grad():
        expected = model(torch.from_numpy(tensor)).numpy()
    logits = session(tensor)
    assert np.abs(logits - expected).max() <= model_fp32_atol(float(np.abs(expected).max()))


def test_tensorrt_engine_matches_onnxruntime(image_bundle, photos, tmp_path):
    """Runs where TensorRT and a GPU exist: build the engine as build_engine.sh names it, load, compare."""
    ok, reason = TensorRTBackend.can_run(read_bundle(image_bundle), RuntimeOptions())
    if not ok and "no fp32 engine" not in reason:
        pytest.skip(f"tensorrt backend unavailable here: {reason}")
    import shutil

    bundle = tmp_path / "bundle"
    shutil.copytree(image_bundle, bundle)
    _build_engine(bundle)
    frames = list(photos.values())
    expected = runtime.load(bundle, backend="onnxruntime")(frames)
    for cuda_graph in (False, True):
        session = runtime.load(bundle, backend="tensorrt", cuda_graph=cuda_graph)
        logits = session(frames)
        assert np.abs(logits - expected).max() <= 1e-3 * max(1.0, float(np.abs(expected).max()))


def _build_engine(bundle) -> None:
    import tensorrt as trt
    import torch

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    assert parser.parse_from_file(str(bundle / "model.onnx"))
    config = builder.create_builder_config()
    if hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)
    blob = builder.build_serialized_network(network, config)
    major, minor = trt.__version__.split(".")[:2]
    cc = "".join(str(v) for v in torch.cuda.get_device_capability(0))
    (bundle / f"model.trt{major}.{minor}.sm_{cc}.engine").write_bytes(bytes(blob))


def test_lidar_session_equals_the_dsvt_reference_runner(lidar_bundle):
    import timm
    import torch

    from edgeattn.lidar.scenes import synthetic_scene
    from edgeattn.lidar.session import DSVTSession

    session = runtime.load(lidar_bundle)
    points = synthetic_scene(7, azimuth_steps=512).numpy()
    result = session(points)
    with torch.device("meta"):
        layout = timm.create_model("dsvt_pillar").layout
    reference = DSVTSession(lidar_bundle / "model.onnx", lidar_bundle / "trt_profiles.json", layout)
    features, coords = reference.run_points(torch.from_numpy(points))
    np.testing.assert_array_equal(result.features, features.numpy())
    np.testing.assert_array_equal(result.coords, coords.numpy())
    assert result.features.shape == (result.voxels_in, 32) and result.batch_size == 1
    assert session.stats.calls == 1 and session.latency()["prepare_ms"]["median"] > 0


def test_lidar_non_finite_points_are_dropped_and_counted(lidar_bundle):
    from edgeattn.lidar.scenes import synthetic_scene

    session = runtime.load(lidar_bundle)
    points = synthetic_scene(7, azimuth_steps=512).numpy()
    points[::50, 0] = np.nan
    kept = np.isfinite(points).all(axis=1)
    result = session(points)
    clean = session(points[kept])
    assert result.points_dropped == clean.points_dropped + int((~kept).sum()) > 0
    np.testing.assert_array_equal(result.features, clean.features)


def test_lidar_frame_outside_the_profile_is_refused(lidar_bundle):
    from edgeattn.lidar.scenes import synthetic_scene

    session = runtime.load(lidar_bundle)
    sparse = synthetic_scene(1, azimuth_steps=64, beams=4).numpy()
    with pytest.raises(EdgeattnError, match="below the TensorRT profile minimum"):
        session(sparse)


@pytest.mark.parametrize("points, message", [
    (np.zeros((10, 3), np.float32), r"shape \(10, 3\)"),
    (np.zeros((10, 4), np.int32), "dtype torch.int32"),
    ("cloud.bin", "point cloud 0 is a str"),
    ([], "empty list"),
])
def test_lidar_bad_points(lidar_bundle, points, message):
    session = runtime.load(lidar_bundle)
    with pytest.raises(UsageError, match=message):
        session(points)
