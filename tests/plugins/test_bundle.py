"""A `--flavour plugins` bundle carries what the device needs to build the plugin library, and its
`build_engine.sh` builds that library here (TensorRT 10.3 headers) and fails clearly without trtexec."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from plugin_helpers import build_host_test, concrete_shape, headers_refusal, headers_root, node_request, run_host_test

MODEL = "shvit_s1"
VERSION = "10.3"


def _refusal() -> str:
    from edgeattn.plugins.build import toolchain_refusal
    from edgeattn.plugins.ptxas import jetpack6_ptxas

    try:
        jetpack6_ptxas()
    except Exception as exc:  # the skip reason says how to install it
        return str(exc)
    return toolchain_refusal() or headers_refusal(VERSION)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    if reason := _refusal():
        pytest.skip(reason)
    from edgeattn.backbones import get_spec
    from edgeattn.exporters.config import ExportConfig
    from edgeattn.exporters.pipeline import run_export

    out = tmp_path_factory.mktemp("plugin-bundle") / MODEL
    config = ExportConfig(model=MODEL, target="jetson", flavour="plugins", resolution=get_spec(MODEL).test_resolution,
                          out=out)
    return run_export(config, show_progress=False).path


def _script(bundle: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(bundle / "build_engine.sh"), *args], capture_output=True, text=True, env=env,
                          timeout=600)


def test_bundle_lists_sources_and_cubins_with_their_sha256(bundle):
    from edgeattn.bundle_files import verify_bundle
    from edgeattn.plugins.cubin_check import check_table

    manifest = verify_bundle(bundle)
    listed = {entry["path"] for entry in manifest["files"]}
    plugins = manifest["plugins"]
    assert plugins["ops"] == ["SingleHeadAttention"] and plugins["archs"] == [87]
    assert {"plugins/library/CMakeLists.txt", "plugins/library/src/dynamic_entry.cpp",
            "plugins/ops/single_head_attention/plugin/single_head_attention_plugin.cpp"} <= listed
    cubins = sorted(p for p in listed if p.endswith(".cubin"))
    assert len(cubins) == plugins["kernel_variants"] > 0
    assert check_table(bundle / plugins["cubins"], 87) == []
    assert not any(p.endswith((".py", ".pyc")) for p in listed)


def test_build_engine_script_builds_the_library_then_stops_without_trtexec(bundle, tmp_path):
    from edgeattn.plugins.build import cuda_include_dir
    from edgeattn.plugins.graph import plugin_nodes

    import onnx

    work = tmp_path / MODEL
    shutil.copytree(bundle, work)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TENSORRT_ROOT": str(headers_root(VERSION)),
           "CUDA_INCLUDE_DIR": str(cuda_include_dir())}
    built = _script(work, "library", env=env)
    assert built.returncode == 0, built.stderr
    library = work / "plugins" / "libedgeattn_plugins.so"
    assert library.read_bytes() == (work / "plugins" / "build" / "trt10" / library.name).read_bytes()
    assert (work / "plugins" / "libedgeattn_plugins_static.so").is_file()
    nodes = plugin_nodes(onnx.load(work / "model.plugins.onnx"))
    program = build_host_test(VERSION, tmp_path / "host", sanitize="")
    records = run_host_test(program, library, [node_request(f"n{i}", n) for i, n in enumerate(nodes)], tmp_path)
    for node, record in zip(nodes, records[1:], strict=True):
        assert record["created"], record["log"]
        assert record["output_shapes"]["dims"] == [concrete_shape(s, {}) for s in node.output_shapes]
        assert record["runs"] and all(run["configure"] == 0 for run in record["runs"]), record["runs"]

    engine = _script(work, "plugins", "fp32", env={**env, "TRTEXEC": "/nonexistent/trtexec"})
    assert engine.returncode == 1
    assert "error: trtexec not found" in engine.stderr and "set TRTEXEC" in engine.stderr


def test_build_engine_script_names_what_is_missing(bundle, tmp_path):
    no_tools = tmp_path / "bin"
    no_tools.mkdir()
    for tool in ("bash", "dirname", "sed", "head", "uname", "tail", "nproc", "mkdir"):
        if found := shutil.which(tool):
            os.symlink(found, no_tools / tool)
    result = _script(bundle, "library", env={"PATH": str(no_tools)})
    assert result.returncode == 1 and "error: cmake not found" in result.stderr
    headers = _script(bundle, "library", env={"PATH": "/usr/bin:/bin", "TENSORRT_ROOT": str(tmp_path)})
    assert headers.returncode == 1 and "TensorRT headers not found" in headers.stderr
    portable = _script(bundle, "portable", env={"PATH": "/usr/bin:/bin"})
    assert portable.returncode == 1 and "model.onnx is not in this bundle" in portable.stderr


def test_export_prints_the_device_commands(bundle):
    from edgeattn.exporters.commands import device_commands

    class Written:
        manifest = json.loads((bundle / "manifest.json").read_text())

    text = device_commands(Written())
    assert "./build_engine.sh library" in text and "./build_engine.sh plugins fp32" in text
