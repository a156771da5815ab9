"""Backend selection with reasons, and which engine the tensorrt backend would load."""

from __future__ import annotations

from pathlib import Path

import pytest
from runtime_bundles import tiny_image_bundle

import edgeattn.runtime as runtime
from edgeattn.errors import MissingDependencyError
from edgeattn.runtime.backends import TensorRTBackend, pick_engine, plugin_library
from edgeattn.runtime.bundle import EngineFile, read_bundle
from edgeattn.runtime.options import RuntimeOptions


@pytest.fixture
def tiny(tmp_path):
    return tiny_image_bundle(tmp_path / "tiny")


def _touch(folder: Path, *names: str) -> None:
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")


def test_auto_falls_back_to_onnxruntime_and_says_why(tiny):
    session = runtime.load(tiny)
    rows = runtime.backend_availability(tiny)
    assert [name for name, _, _ in rows] == ["tensorrt", "onnxruntime"]
    ok = {name: flag for name, flag, _ in rows}
    if not ok["tensorrt"]:
        assert session.backend == "onnxruntime"
        assert rows[0][2]
    assert ok["onnxruntime"] and rows[1][2] == ""


def test_tensorrt_refusal_is_precise_here(tiny):
    ok, reason = TensorRTBackend.can_run(read_bundle(tiny), RuntimeOptions())
    if ok:
        pytest.skip("TensorRT and a GPU are present: the refusal path does not apply")
    assert any(key in reason for key in ("tensorrt Python package", "no CUDA device", "no fp32 engine"))
    with pytest.raises(MissingDependencyError, match="backend tensorrt cannot run") as error:
        runtime.load(tiny, backend="tensorrt")
    assert reason in error.value.what and "onnxruntime" in error.value.hint


def test_engine_names_from_build_engine_sh_are_parsed():
    parsed = EngineFile.parse(Path("model.plugins.int8.trt10.3.sm_87.engine"))
    assert (parsed.flavour, parsed.precision, parsed.trt_version, parsed.arch) == ("plugins", "int8", "10.3", "sm_87")
    parsed = EngineFile.parse(Path("model.trt11.1.sm_90.engine"))
    assert (parsed.flavour, parsed.precision, parsed.trt_version, parsed.arch) == ("portable", "fp32", "11.1", "sm_90")
    assert EngineFile.parse(Path("model.onnx")) is None
    assert EngineFile.parse(Path("model.trt10.sm_87.engine")) is None


def test_engine_for_this_version_and_gpu_is_picked(tiny):
    _touch(tiny, "model.trt10.3.sm_87.engine", "model.plugins.trt10.3.sm_87.engine", "model.trt10.16.sm_87.engine",
           "model.int8.trt10.3.sm_87.engine", "model.trt10.3.sm_110.engine")
    bundle = read_bundle(tiny)
    engine, _ = pick_engine(bundle, RuntimeOptions(), "10.3", "sm_87")
    assert engine.path.name == "model.trt10.3.sm_87.engine"  # no plugin library: portable
    _touch(tiny, "plugins/libedgeattn_plugins.so")
    engine, _ = pick_engine(bundle, RuntimeOptions(), "10.3", "sm_87")
    assert engine.path.name == "model.plugins.trt10.3.sm_87.engine"
    engine, _ = pick_engine(bundle, RuntimeOptions(flavour="portable"), "10.3", "sm_87")
    assert engine.path.name == "model.trt10.3.sm_87.engine"
    engine, _ = pick_engine(bundle, RuntimeOptions(precision="int8"), "10.3", "sm_87")
    assert engine.path.name == "model.int8.trt10.3.sm_87.engine"
    engine, _ = pick_engine(bundle, RuntimeOptions(), "10.16", "sm_87")
    assert engine.path.name == "model.trt10.16.sm_87.engine"


def test_no_engine_for_this_gpu_lists_what_is_there(tiny):
    _touch(tiny, "model.trt10.3.sm_87.engine")
    engine, reason = pick_engine(read_bundle(tiny), RuntimeOptions(), "10.3", "sm_90")
    assert engine is None
    assert "no fp32 engine for TensorRT 10.3 on sm_90" in reason and "model.trt10.3.sm_87.engine" in reason
    assert "build_engine.sh" in reason


def test_explicit_engine_path(tiny):
    engine, reason = pick_engine(read_bundle(tiny), RuntimeOptions(engine=Path("custom.plan")), "10.3", "sm_87")
    assert engine is None and "custom.plan does not exist" in reason
    _touch(tiny, "custom.plan")
    engine, _ = pick_engine(read_bundle(tiny), RuntimeOptions(engine=Path("custom.plan")), "10.3", "sm_87")
    assert engine.path == tiny / "custom.plan" and engine.flavour == "portable"


def test_plugin_library_location(tiny, monkeypatch):
    bundle = read_bundle(tiny)
    monkeypatch.delenv("EDGEATTN_PLUGIN_LIB", raising=False)
    assert plugin_library(bundle, RuntimeOptions()) == tiny / "plugins/libedgeattn_plugins.so"
    monkeypatch.setenv("EDGEATTN_PLUGIN_LIB", "/opt/lib/libx.so")
    assert plugin_library(bundle, RuntimeOptions()) == Path("/opt/lib/libx.so")
    assert plugin_library(bundle, RuntimeOptions(plugin_library=Path("/y.so"))) == Path("/y.so")
