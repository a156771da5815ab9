"""Nothing a user types destroys data or passes silently: destinations are checked before any work,
writes are atomic and locked, signals clean up, options that do not apply are refused, and broken inputs
give one clear line instead of a traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from edgeattn import destination
from edgeattn.errors import EdgeattnError, Terminated, UsageError

FAST = ["--model", "shvit_s1", "--target", "jetson", "--flavour", "portable", "--img-size", "64"]


def _fake_bundle(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"format": destination.BUNDLE_FORMAT, "model": {}, "files": []}))
    (folder / "model.onnx").write_bytes(b"old")
    return folder


def _clean(result) -> None:
    """One error line, no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    assert len([line for line in result.stderr.splitlines() if line.startswith("error:")]) == 1, result.stderr


def test_out_dot_with_force_deletes_nothing(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    for out in (".", ""):
        result = run_cli("export", *FAST, "--out", out, "--force")
        assert result.exit_code == 2 and "current folder" in result.stderr
        _clean(result)
    assert (tmp_path / "notes.txt").read_text() == "mine" and sorted(os.listdir(tmp_path)) == ["notes.txt"]


def test_force_replaces_only_an_edgeattn_bundle(run_cli, tmp_path):
    mine = tmp_path / "mine"
    (mine / "sub").mkdir(parents=True)
    (mine / "notes.txt").write_text("mine")
    (mine / "sub" / "keep.txt").write_text("keep")
    result = run_cli("export", *FAST, "--out", str(mine), "--force")
    assert result.exit_code == 2 and "not an edgeattn bundle" in result.stderr
    assert (mine / "notes.txt").read_text() == "mine" and (mine / "sub" / "keep.txt").read_text() == "keep"


def test_force_on_a_bundle_replaces_it_and_says_so(run_cli, tmp_path):
    old = _fake_bundle(tmp_path / "b")
    result = run_cli("export", *FAST, "--out", str(old), "--force")
    assert result.exit_code == 0, result.stderr
    assert "replaced the edgeattn bundle" in result.stderr
    assert (old / "model.onnx").read_bytes() != b"old" and destination.is_bundle(old)


@pytest.mark.parametrize("case", ["symlink", "dangling", "parent-is-file", "ancestor"])
def test_bad_destinations_are_refused_before_any_work(run_cli, tmp_path, monkeypatch, case):
    target = tmp_path / "real"
    target.mkdir()
    out = tmp_path / "out"
    if case == "symlink":
        out.symlink_to(target)
    elif case == "dangling":
        out.symlink_to(tmp_path / "missing")
    elif case == "parent-is-file":
        (tmp_path / "file").write_text("x")
        out = tmp_path / "file" / "b"
    else:
        monkeypatch.chdir(target)
        out = tmp_path
    start = time.perf_counter()
    result = run_cli("export", *FAST, "--out", str(out), "--force")
    assert result.exit_code == 2, result.stderr
    _clean(result)
    assert time.perf_counter() - start < 30, "the destination must be checked before the export work"
    assert sorted(p.name for p in target.iterdir()) == []


def test_unwritable_parent_is_refused(run_cli, tmp_path, monkeypatch):
    monkeypatch.setattr(destination.os, "access", lambda path, mode: False)
    result = run_cli("export", *FAST, "--out", str(tmp_path / "b"))
    assert result.exit_code == 2 and "not writable" in result.stderr


def test_a_second_run_into_the_same_folder_is_refused(run_cli, tmp_path):
    held = destination.claim(tmp_path / "b", force=False)
    try:
        result = run_cli("export", *FAST, "--out", str(tmp_path / "b"))
        assert result.exit_code == 1 and "another edgeattn run is writing" in result.stderr
    finally:
        destination.release(held)


def test_the_final_rename_never_deletes_a_folder_it_did_not_check(tmp_path):
    claimed = destination.claim(tmp_path / "b", force=False)
    with pytest.raises(EdgeattnError, match="changed while this run was writing"):
        with destination.atomic_folder(claimed) as staging:
            (staging / "x").write_text("new")
            (tmp_path / "b").mkdir()
            (tmp_path / "b" / "theirs.txt").write_text("theirs")
    destination.release(claimed)
    assert (tmp_path / "b" / "theirs.txt").read_text() == "theirs"
    assert not list(tmp_path.glob(".b.*.partial"))


def test_a_signal_removes_the_staging_folder(tmp_path):
    claimed = destination.claim(tmp_path / "b", force=False)
    with pytest.raises(Terminated):
        with destination.atomic_folder(claimed) as staging:
            (staging / "model.onnx").write_bytes(b"x" * 1000)
            raise Terminated()
    destination.release(claimed)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".b.lock"]


def test_stale_staging_of_a_killed_run_is_removed_and_named(run_cli, tmp_path):
    stale = tmp_path / ".b.abcd1234.partial"
    stale.mkdir()
    (stale / destination.PID_FILE).write_text("999999999")
    (stale / "model.onnx").write_bytes(b"x" * 100)
    claimed = destination.claim(tmp_path / "b", force=False)
    destination.release(claimed)
    assert claimed.removed_stale == [stale.name] and not stale.exists()


def test_sigterm_exits_143_with_one_line_and_leaves_nothing(tmp_path):
    out = tmp_path / "b"
    process = subprocess.Popen([sys.executable, "-m", "edgeattn", "export", *FAST, "--out", str(out)],
                               stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (tmp_path / ".b.lock").exists():
        time.sleep(0.2)
    time.sleep(2)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    assert "terminated (SIGTERM)" in stderr and "Traceback" not in stderr
    assert not out.exists() and not list(tmp_path.glob(".b.*.partial"))


def test_calibrate_is_atomic_and_needs_force_for_an_existing_bundle(run_cli, tmp_path):
    empty = tmp_path / "photos"
    empty.mkdir()
    out = tmp_path / "cal"
    result = run_cli("calibrate", "--model", "shvit_s1", "--calib-data", str(empty), "--img-size", "64",
                     "--out", str(out))
    assert result.exit_code == 1 and "no images" in result.stderr
    assert not out.exists() and [p.name for p in tmp_path.glob(".cal.*")] == [".cal.lock"]
    bundle = _fake_bundle(tmp_path / "existing")
    result = run_cli("calibrate", "--model", "shvit_s1", "--calib-data", "samples", "--out", str(bundle))
    assert result.exit_code == 2 and "--force" in result.stderr
    assert (bundle / "model.onnx").read_bytes() == b"old"
    (tmp_path / "a-file").write_text("x")
    result = run_cli("calibrate", "--model", "shvit_s1", "--calib-data", "samples", "--out", str(tmp_path / "a-file"))
    assert result.exit_code == 2 and "not a folder" in result.stderr


@pytest.mark.parametrize("args,message", [
    (["--model", "dsvt_pillar", "--target", "cpu-x86", "--precision", "int8", "--calib-data", "lidar"],
     "built for TensorRT"),
    (["--model", "shvit_s1", "--img-size", "0"], "--img-size"),
    (["--model", "shvit_s1", "--calib-data", "samples"], "int8 only"),
    (["--model", "shvit_s1", "--opset", "99"], "--opset"),
    (["--model", "shvit_s1", "--profile-from", "3"], "LiDAR"),
], ids=["int8-voxels-on-cpu", "resolution-0", "calib-without-int8", "opset-99", "profile-from-on-images"])
def test_options_that_do_not_apply_are_refused(run_cli, tmp_path, args, message):
    result = run_cli("export", *args, "--out", str(tmp_path / "x"))
    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "x").exists()


def _npz_data(spec, tmp_path, **arrays):
    from edgeattn.calibrate.data import load_calibration_data

    path = tmp_path / "calib.npz"
    np.savez(path, **arrays)
    return load_calibration_data(path, spec, count=2, batch_size=2, resolution=64)


def test_uint8_pixels_are_normalised_with_a_note_and_raw_floats_are_refused(tmp_path):
    from edgeattn.backbones import get_spec

    spec = get_spec("shvit_s1")
    pixels = np.full((2, 3, 64, 64), 255, dtype=np.uint8)
    data = _npz_data(spec, tmp_path, x=pixels)
    expected = (1.0 - spec.mean[0]) / spec.std[0]
    assert data.batches[0][0, 0, 0, 0] == pytest.approx(expected, rel=1e-5) and "uint8 pixels" in data.notes[0]
    with pytest.raises(EdgeattnError, match="not normalised"):
        _npz_data(spec, tmp_path, x=pixels.astype(np.float32))
    with pytest.raises(EdgeattnError, match="not numbers"):
        _npz_data(spec, tmp_path, x=np.array([["a"]]))


@pytest.fixture(scope="module")
def small_bundle(tmp_path_factory):
    from edgeattn.exporters.config import ExportConfig
    from edgeattn.exporters.pipeline import run_export

    out = tmp_path_factory.mktemp("bundle") / "b"
    run_export(ExportConfig(model="shvit_s1", target="cpu-x86", flavour="portable", resolution=64, out=out),
               show_progress=False)
    return out


@pytest.mark.parametrize("damage,message", [
    ("edited-manifest", "does not match the manifest"),
    ("truncated-onnx", "does not match the manifest"),
    ("invalid-manifest", "not valid JSON"),
    ("foreign-manifest", "not an edgeattn bundle manifest"),
])
def test_profile_verifies_the_bundle_it_reads(run_cli, small_bundle, tmp_path, damage, message):
    import shutil

    bundle = tmp_path / "copy"
    shutil.copytree(small_bundle, bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    if damage == "edited-manifest":
        manifest["files"][0]["sha256"] = "0" * 64
        (bundle / "manifest.json").write_text(json.dumps(manifest))
    elif damage == "truncated-onnx":
        data = (bundle / "model.onnx").read_bytes()
        (bundle / "model.onnx").write_bytes(data[: len(data) // 2])
    elif damage == "invalid-manifest":
        (bundle / "manifest.json").write_text("{not json")
    else:
        (bundle / "manifest.json").write_text(json.dumps({"format": "other"}))
    result = run_cli("profile", str(bundle), "--iterations", "1", "--warm-up", "0", "--out", str(tmp_path / "p"))
    assert result.exit_code == 1 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "p").exists()


@pytest.mark.parametrize("content", [b"", b"\x00\xff\x10binary", b"[1, 2"], ids=["empty", "binary", "truncated"])
def test_report_refuses_unreadable_runs_in_one_line(run_cli, tmp_path, content):
    run = tmp_path / "run.json"
    run.write_bytes(content)
    result = run_cli("report", str(run), "--out", str(tmp_path / "r.html"))
    assert result.exit_code == 1 and "run file" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "r.html").exists()


def test_report_out_must_be_a_file(run_cli, tmp_path):
    result = run_cli("report", str(tmp_path / "missing.json"), "--out", str(tmp_path))
    assert result.exit_code == 2 and "not a file" in result.stderr


def test_destination_rules_are_usage_errors_in_the_api(tmp_path):
    with pytest.raises(UsageError):
        destination.claim(Path("."), force=True)
