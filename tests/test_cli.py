"""The CLI's error paths (one clear error, non-zero exit, no partial bundle) and determinism."""

import json
import subprocess

import pytest
import torch

from edgeattn.backbones import create_model, get_spec

FAST = ["--model", "efficientvit_b0", "--img-size", "96"]


def _no_partial_output(folder):
    parent = folder.parent
    return not folder.exists() and not any(p.name.endswith(".partial") for p in parent.iterdir())


def test_export_writes_a_bundle(run_cli, tmp_path):
    out = tmp_path / "b"
    result = run_cli("export", *FAST, "--target", "jetson", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert "parity ok" in result.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"].startswith("edgeattn export --model efficientvit_b0")


def test_unknown_model_suggests(run_cli, tmp_path):
    result = run_cli("export", "--model", "efficientvit_b9", "--out", str(tmp_path / "x"))
    assert result.exit_code == 2
    assert "unknown model 'efficientvit_b9'" in result.stderr and "efficientvit_b" in result.stderr
    assert "Traceback" not in result.stderr
    assert _no_partial_output(tmp_path / "x")


def test_unknown_target_lists_targets(run_cli, tmp_path):
    result = run_cli("export", *FAST, "--target", "xavier", "--out", str(tmp_path / "x"))
    assert result.exit_code == 2
    assert "jetson-orin-nano" in result.stderr


@pytest.mark.parametrize("value", ["1", "0", "1.5"])
def test_min_cos_outside_the_open_unit_interval_is_a_usage_error(run_cli, tmp_path, value):
    result = run_cli("export", *FAST, "--precision", "int8", "--calib-data", "samples", "--min-cos", value,
                     "--out", str(tmp_path / "x"))
    assert result.exit_code == 2
    assert "--min-cos" in result.stderr and "0.999" in result.stderr
    assert _no_partial_output(tmp_path / "x")


def test_resolution_not_multiple_of_stride(run_cli, tmp_path):
    result = run_cli("export", "--model", "efficientvit_b0", "--img-size", "100", "--out", str(tmp_path / "x"))
    assert result.exit_code == 2
    assert "multiple of" in result.stderr and "96" in result.stderr


@pytest.mark.parametrize("case", ["missing", "not-a-checkpoint", "wrong-keys"])
def test_bad_checkpoints(run_cli, tmp_path, case):
    path = tmp_path / "w.pth"
    if case == "not-a-checkpoint":
        path.write_bytes(b"\x00garbage")
    elif case == "wrong-keys":
        torch.save({"conv.weight": torch.zeros(1), "head.bias": torch.zeros(2)}, path)
    out = tmp_path / "x"
    result = run_cli("export", *FAST, "--checkpoint", str(path), "--out", str(out))
    assert result.exit_code == 1
    expected = {"missing": "not found", "not-a-checkpoint": "not a readable checkpoint",
                "wrong-keys": "missing (" }[case]
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert _no_partial_output(out)


def test_existing_bundle_needs_force(run_cli, tmp_path):
    out = tmp_path / "b"
    assert run_cli("export", *FAST, "--out", str(out)).exit_code == 0
    first = (out / "manifest.json").read_bytes()
    result = run_cli("export", *FAST, "--out", str(out))
    assert result.exit_code == 2 and "--force" in result.stderr
    assert (out / "manifest.json").read_bytes() == first
    result = run_cli("export", *FAST, "--out", str(out), "--force")
    assert result.exit_code == 0 and "replaced the edgeattn bundle" in result.stderr


def test_nan_output_is_refused(run_cli, tmp_path):
    model, _ = create_model(get_spec("efficientvit_b0"))
    state = model.state_dict()
    state["head.classifier.4.bias"][0] = float("nan")
    path = tmp_path / "nan.pth"
    torch.save(state, path)
    out = tmp_path / "x"
    result = run_cli("export", *FAST, "--checkpoint", str(path), "--out", str(out))
    assert result.exit_code == 1
    assert "NaN/Inf" in result.stderr
    assert _no_partial_output(out)


def test_export_is_deterministic(run_cli, tmp_path):
    first, second = tmp_path / "one" / "b", tmp_path / "two" / "b"
    for out in (first, second):
        assert run_cli("export", *FAST, "--out", str(out)).exit_code == 0
    for name in ("model.onnx", "parity.json", "build_engine.sh", "README.md"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    strip = lambda p: {k: v for k, v in json.loads(p.read_text()).items() if k != "command"}
    assert strip(first / "manifest.json") == strip(second / "manifest.json")


def test_same_flags_give_byte_identical_manifest(run_cli, tmp_path):
    out = tmp_path / "b"
    runs = []
    for _ in range(2):
        assert run_cli("export", *FAST, "--out", str(out), "--force").exit_code == 0
        runs.append(((out / "manifest.json").read_bytes(), (out / "model.onnx").read_bytes()))
    assert runs[0] == runs[1]


def test_build_script_is_valid_bash_and_explains_missing_trtexec(run_cli, tmp_path):
    out = tmp_path / "b"
    assert run_cli("export", *FAST, "--out", str(out)).exit_code == 0
    script = out / "build_engine.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    result = subprocess.run([str(script)], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "TRTEXEC": "/nonexistent/trtexec"})
    assert result.returncode == 1 and "trtexec not found" in result.stderr
    result = subprocess.run([str(script), "fp8"], capture_output=True, text=True)
    assert result.returncode == 2


def test_models_and_targets_tables(run_cli):
    result = run_cli("models")
    assert result.exit_code == 0 and "shvit_s4" in result.stdout and "0.986" in result.stdout
    result = run_cli("targets")
    assert result.exit_code == 0 and "jetson-thor" in result.stdout


def test_profile_out_must_be_a_folder(run_cli, tmp_path):
    target = tmp_path / "a-file"
    target.write_text("x")
    result = run_cli("profile", "efficientvit_b0", "--out", str(target))
    assert result.exit_code == 2 and "is a file" in result.stderr


def test_int8_export_lints_the_quantized_graphs_for_tensorrt(run_cli, tmp_path):
    out = tmp_path / "int8"
    result = run_cli("export", *FAST, "--target", "jetson", "--flavour", "both", "--precision", "int8",
                     "--calib-data", "samples", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    reports = json.loads((out / "trt_lint.json").read_text())
    assert {"portable", "plugins", "portable-int8", "plugins-int8"} <= set(reports)
    for key in ("portable-int8", "plugins-int8"):
        assert not [f for f in reports[key]["findings"] if f["severity"] == "error"], key
    summary = json.loads((out / "manifest.json").read_text())["trt_lint"]
    assert summary["plugins-int8"]["ok"]
