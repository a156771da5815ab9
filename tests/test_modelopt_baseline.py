"""benchmarks/modelopt_baseline.py without ModelOpt: a missing or unusable ModelOpt env is one clear error."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from onnx import TensorProto, helper

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "modelopt_baseline.py"


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def baseline(monkeypatch_module):
    monkeypatch_module.syspath_prepend(str(SCRIPT.parent))
    spec = importlib.util.spec_from_file_location("edgeattn_modelopt_baseline", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _exit_message(baseline, argv, capsys) -> tuple[int | str, str]:
    with pytest.raises(SystemExit) as exit_:
        baseline.main(argv)
    return exit_.value.code, capsys.readouterr().out


def test_no_python_given_says_how_to_create_the_env(baseline, monkeypatch, capsys):
    monkeypatch.delenv(baseline.ENV_VAR, raising=False)
    code, out = _exit_message(baseline, ["--models", "shvit_s4"], capsys)
    assert code != 0 and isinstance(code, str) and "\n" not in code
    assert baseline.ENV_VAR in code and 'pip install "nvidia-modelopt[onnx]"' in code and "python3 -m venv" in code
    assert out == ""


def test_missing_python_path_is_named(baseline, monkeypatch, tmp_path, capsys):
    missing = tmp_path / "nope" / "bin" / "python"
    monkeypatch.setenv(baseline.ENV_VAR, str(missing))
    code, _ = _exit_message(baseline, [], capsys)
    assert str(missing) in code and "is missing" in code and baseline.CREATE_ENV in code


def test_python_without_modelopt_is_rejected(baseline):
    with pytest.raises(baseline.ModelOptMissing, match="cannot import modelopt.onnx.quantization"):
        baseline.modelopt_versions(Path(sys.executable))


def test_qdq_summary_counts_quantized_consumers(baseline):
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xd"]),
        helper.make_node("Relu", ["xd"], ["y"]),
        helper.make_node("Relu", ["x"], ["y2"]),
    ]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        [helper.make_tensor("s", TensorProto.FLOAT, [], [0.1]), helper.make_tensor("z", TensorProto.INT8, [], [0])],
    )
    summary = baseline.qdq_summary(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)]))
    assert summary == {"quantize_linear": 1, "dequantize_linear": 1, "opset": 19, "dq_consumer_op_types": {"Relu": 1}}
