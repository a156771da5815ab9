"""Resolving BUNDLE_OR_MODEL: bundle folders, ONNX files, fixed vs dynamic batch, input dtypes."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgeattn.bundle_files import BUNDLE_FORMAT, sha256_file
from edgeattn.errors import UsageError
from edgeattn.profile.source import resolve_source


@pytest.fixture
def bundle(tiny_onnx, tmp_path):
    folder = tmp_path / "tiny-bundle"
    folder.mkdir()
    shutil.copy(tiny_onnx, folder / "model.onnx")
    files = [{"path": "model.onnx", "bytes": (folder / "model.onnx").stat().st_size,
              "sha256": sha256_file(folder / "model.onnx")}]
    (folder / "manifest.json").write_text(json.dumps({"format": BUNDLE_FORMAT, "model": {"name": "tiny_from_manifest"},
                                                      "files": files}))
    return folder


def test_bundle_folder_takes_name_from_manifest_and_batch_from_argument(bundle, tmp_path):
    source = resolve_source(str(bundle), batch=5, need_onnx=True, workdir=tmp_path)
    assert source.name == "tiny_from_manifest" and source.origin == "bundle"
    assert source.input_shapes == {"image": (5, 3, 13, 11)}
    assert source.output_names == ["logits"]
    feeds = source.feeds(seed=42)
    assert feeds["image"].dtype == np.float32 and feeds["image"].shape == (5, 3, 13, 11)
    np.testing.assert_array_equal(feeds["image"], source.feeds(seed=42)["image"])


def test_folder_without_model_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="model.onnx"):
        resolve_source(str(tmp_path), batch=1, need_onnx=True, workdir=tmp_path)


def _identity_model(path, batch, elem_type=TensorProto.FLOAT):
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "id",
                              [helper.make_tensor_value_info("x", elem_type, [batch, 7])],
                              [helper.make_tensor_value_info("y", elem_type, [batch, 7])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    return path


def test_fixed_batch_mismatch_says_how_to_fix(tmp_path):
    path = _identity_model(tmp_path / "fixed.onnx", 1)
    with pytest.raises(UsageError, match="dynamic-batch"):
        resolve_source(str(path), batch=16, need_onnx=True, workdir=tmp_path)


def test_float16_inputs_get_float16_feeds(tmp_path):
    path = _identity_model(tmp_path / "half.onnx", "batch", TensorProto.FLOAT16)
    source = resolve_source(str(path), batch=3, need_onnx=True, workdir=tmp_path)
    assert source.feeds()["x"].dtype == np.float16


def test_integer_inputs_are_refused_with_a_reason(tmp_path):
    path = _identity_model(tmp_path / "ints.onnx", 2, TensorProto.INT64)
    source = resolve_source(str(path), batch=2, need_onnx=True, workdir=tmp_path)
    with pytest.raises(UsageError, match="float inputs"):
        source.feeds()


def test_unknown_model_name_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="unknown model"):
        resolve_source("not_a_model", batch=1, need_onnx=False, workdir=tmp_path)
