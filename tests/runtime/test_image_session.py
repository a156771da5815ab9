"""Image sessions: frames of any size and order, float tensors, batching, statistics, errors."""

from __future__ import annotations

import numpy as np
import pytest
from runtime_bundles import TINY_PREPROCESSING, tiny_image_bundle, tiny_reference

import edgeattn.runtime as runtime
from edgeattn.errors import EdgeattnError, MissingDependencyError, UsageError
from edgeattn.runtime.preprocess import Preprocessing

PREP = Preprocessing.from_manifest(TINY_PREPROCESSING)


def _expected(frames) -> np.ndarray:
    return tiny_reference(np.stack([PREP(f) for f in frames]))


def test_frames_of_any_size_rgb_and_bgr(tmp_path, photos):
    session = runtime.load(tiny_image_bundle(tmp_path / "b"), backend="onnxruntime")
    frames = list(photos.values())
    logits = session(frames)
    assert logits.shape == (len(frames), 5) and logits.dtype == np.float32
    np.testing.assert_allclose(logits, _expected(frames), rtol=1e-5, atol=1e-6)
    bgr = [f[..., ::-1].copy() for f in frames]
    np.testing.assert_array_equal(session(bgr, color="BGR"), logits)
    assert not np.allclose(session(bgr), logits)


def test_bgr_default_from_options(tmp_path, photos):
    frame = photos["coffee"]
    rgb = runtime.load(tiny_image_bundle(tmp_path / "b"), backend="onnxruntime")
    bgr = runtime.load(tmp_path / "b", backend="onnxruntime", color="BGR")
    np.testing.assert_array_equal(bgr(frame[..., ::-1].copy()), rgb(frame))


def test_float_nchw_is_used_as_given(tmp_path, photos):
    session = runtime.load(tiny_image_bundle(tmp_path / "b"), backend="onnxruntime")
    tensor = session.preprocess([photos["astronaut"], photos["coffee"]])
    np.testing.assert_array_equal(session(tensor), session([photos["astronaut"], photos["coffee"]]))
    np.testing.assert_array_equal(session(tensor[0]), session(tensor[:1]))


def test_torch_and_pil_inputs(tmp_path, photos):
    import torch
    from PIL import Image

    session = runtime.load(tiny_image_bundle(tmp_path / "b"), backend="onnxruntime")
    frame = photos["coffee"]
    expected = session(frame)
    np.testing.assert_array_equal(session(Image.fromarray(frame)), expected)
    np.testing.assert_array_equal(session(torch.from_numpy(session.preprocess([frame]))), expected)


def test_nhwc_uint8_batch(tmp_path, photos):
    session = runtime.load(tiny_image_bundle(tmp_path / "b"), backend="onnxruntime")
    batch = np.stack([photos["coffee"], photos["coffee"][::-1]])
    np.testing.assert_allclose(session(batch), _expected(list(batch)), rtol=1e-5, atol=1e-6)


def test_static_batch_pads_the_last_chunk(tmp_path, photos):
    session = runtime.load(tiny_image_bundle(tmp_path / "b", batch=2), backend="onnxruntime")
    frames = [photos["astronaut"], photos["coffee"], photos["chelsea_portrait"]]
    logits = session(frames)
    assert logits.shape == (3, 5)
    np.testing.assert_allclose(logits, _expected(frames), rtol=1e-5, atol=1e-6)
    assert session.stats.calls == 1 and session.stats.frames == [3]


def test_dynamic_batch_is_split_at_max_batch(tmp_path, photos):
    session = runtime.load(tiny_image_bundle(tmp_path / "b", batch="batch"), backend="onnxruntime", max_batch=2)
    frames = [photos["astronaut"], photos["coffee"], photos["chelsea_portrait"], photos["coffee"][:, ::-1]]
    calls = []
    run = session.engine.run
    session.engine.run = lambda feeds: calls.append(feeds["image"].shape[0]) or run(feeds)
    np.testing.assert_allclose(session(frames), _expected(frames), rtol=1e-5, atol=1e-6)
    assert calls == [2, 2]


def test_latency_statistics_and_warmup(tmp_path, photos):
    session = runtime.load(tiny_image_bundle(tmp_path / "b"), backend="onnxruntime", warmup=2)
    assert session.stats.calls == 0
    for _ in range(4):
        session([photos["coffee"], photos["astronaut"]])
    summary = session.latency()
    assert summary["calls"] == 4 and summary["frames"] == 8
    total, prepare, infer = summary["total_ms"], summary["prepare_ms"], summary["infer_ms"]
    assert 0 < prepare["median"] <= total["median"] and 0 < infer["median"] <= total["median"]
    assert total["median"] <= total["p90"] <= total["p99"] <= total["max"]
    assert summary["frames_per_s"] > 0
    assert "4 calls, 8 frames" in session.stats.describe()


def test_topk_uses_labels_txt(tmp_path, photos):
    names = ["ant", "bee", "cat", "dog", "eel"]
    session = runtime.load(tiny_image_bundle(tmp_path / "b", labels=names), backend="onnxruntime")
    logits = session([photos["coffee"], photos["astronaut"]])
    top = session.topk(logits, k=3)
    assert session.labels == names and session.labels_source == "labels.txt"
    for row, predictions in zip(logits, top):
        assert [p.index for p in predictions] == list(np.argsort(-row, kind="stable")[:3])
        assert [p.label for p in predictions] == [names[p.index] for p in predictions]
        probabilities = np.exp(row - row.max()) / np.exp(row - row.max()).sum()
        np.testing.assert_allclose([p.score for p in predictions], probabilities[[p.index for p in predictions]],
                                   rtol=1e-6)


def test_without_labels_topk_has_indices_only(tmp_path, photos):
    session = runtime.load(tiny_image_bundle(tmp_path / "b"), backend="onnxruntime")
    assert session.labels is None and "not ImageNet-1k" in session.labels_source
    assert all(p.label is None for p in session.topk(session(photos["coffee"]))[0])


def test_labels_txt_with_wrong_count_is_refused(tmp_path):
    session = runtime.load(tiny_image_bundle(tmp_path / "b", labels=["a", "b"]), backend="onnxruntime")
    with pytest.raises(UsageError, match="has 2 names but the model has 5 classes"):
        session.labels


@pytest.mark.parametrize("images, message", [
    (np.zeros((32, 32, 4), np.uint8), "has 4 channels"),
    (np.zeros((3, 32, 32), np.uint8), "has 3 x 32 x 32|has 32 channels"),
    (np.zeros((32, 32), np.uint8), "expected H x W x 3"),
    (np.zeros((32, 32, 3), np.int32), "dtype int32"),
    (np.zeros((1, 3, 16, 16), np.float32), r"graph takes N x 3x8x8"),
    (np.zeros((8, 8, 3), np.float32), r"float input has shape \(8, 8, 3\)"),
    (np.full((1, 3, 8, 8), np.nan, np.float32), "NaN"),
    ([], "empty list"),
    ("photo.jpg", "type str"),
    ([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.float32)], "image 1 is a float32 array"),
], ids=["4ch", "chw-uint8", "2d", "int32", "float-shape", "float-hwc", "nan", "empty", "str", "mixed-list"])
def test_bad_frames_get_one_clear_error(tmp_path, images, message):
    session = runtime.load(tiny_image_bundle(tmp_path / "b"), backend="onnxruntime")
    with pytest.raises(UsageError, match=message) as error:
        session(images)
    assert error.value.hint
    assert session.stats.calls == 0


def test_bad_color_is_refused(tmp_path, photos):
    session = runtime.load(tiny_image_bundle(tmp_path / "b"), backend="onnxruntime")
    with pytest.raises(UsageError, match="color 'HSV'"):
        session(photos["coffee"], color="HSV")


def test_unknown_option_and_backend(tmp_path):
    from pydantic import ValidationError

    bundle = tiny_image_bundle(tmp_path / "b")
    with pytest.raises(ValidationError):
        runtime.load(bundle, batchsize=4)
    with pytest.raises(UsageError, match="unknown runtime backend 'tflite'"):
        runtime.load(bundle, backend="tflite")


def test_onnxruntime_refuses_the_plugin_flavour(tmp_path):
    with pytest.raises(MissingDependencyError, match="portable graph only"):
        runtime.load(tiny_image_bundle(tmp_path / "b"), backend="onnxruntime", flavour="plugins")


def test_missing_precision_graph_names_what_is_there(tmp_path):
    with pytest.raises(MissingDependencyError, match=r"model.int8.onnx is not in the bundle .*model.onnx"):
        runtime.load(tiny_image_bundle(tmp_path / "b"), backend="onnxruntime", precision="int8")


@pytest.mark.parametrize("manifest, message", [
    (None, "has no manifest.json"),
    ("{not json", "is not valid JSON"),
    ('{"format": "other/9"}', "has format 'other/9'"),
    ('{"format": "edgeattn-bundle/1", "model": {}}', "lacks its model or file list"),
])
def test_bad_bundles_are_refused(tmp_path, manifest, message):
    folder = tmp_path / "bundle"
    folder.mkdir()
    if manifest is not None:
        (folder / "manifest.json").write_text(manifest)
    with pytest.raises(EdgeattnError, match=message):
        runtime.load(folder)


def test_missing_folder(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        runtime.load(tmp_path / "nowhere")
