"""The plugin enqueue harness and its drivers on a machine without a GPU.

Built here against the CUDA and TensorRT headers: the harness library exports only its C API and needs
no TensorRT; it loads libedgeattn_plugins.so through getCreators, creates, checks and configures every
plugin's spec cases, and refuses to attach without a CUDA driver. benchmarks/plugin_enqueue.py exits 2
without a GPU and its --dry-run configures every entry; every enqueue case matches its own reference
through the interpreted Triton launch; benchmarks/gpu_session.py refuses without a GPU and checks
its prepared files.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from plugin_helpers import TENSORRT_VERSIONS, headers_refusal, headers_root
from spec_cases import plugin_ops

HARNESS = Path(__file__).parent / "harness"
BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(HARNESS))

from enqueue_binding import Harness, build_harness  # noqa: E402
from enqueue_run import compare  # noqa: E402


def _has_cuda_driver() -> bool:
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"edgeattn_bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _first_cases() -> list[tuple]:
    """(op, first spec case, I/O types) for every accepted combination of every plugin op's first case."""
    from edgeattn.plugins.enqueue import case_io_types

    return [(op, op.spec.cases[0], io) for op in plugin_ops() for io in case_io_types(op, op.spec.cases[0])]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    """The plugin library (sm_90 cubins of every plugin op's first case) and the harness, newest TensorRT headers."""
    from edgeattn.plugins.build import build_library, cuda_include_dir, toolchain_refusal
    from edgeattn.plugins.compile import compile_launches
    from edgeattn.plugins.graph import case_launches, unique_launches

    version = next((v for v in reversed(TENSORRT_VERSIONS) if not headers_refusal(v)), None)
    if reason := toolchain_refusal() or ("" if cuda_include_dir() else "no CUDA headers (cuda.h) found"):
        pytest.skip(reason)
    if version is None:
        pytest.skip(headers_refusal(TENSORRT_VERSIONS[-1]))
    work = tmp_path_factory.mktemp("harness")
    launches = unique_launches([launch for op in plugin_ops() for launch in case_launches(op, op.spec.cases[0])])
    compile_launches(launches, [90], work / "cubins")
    library = build_library(headers_root(version), work / "cubins", [90], work / "plugins", build_type="",
                            static_registration=False)
    harness = build_harness(headers_root(version), work / "harness", build_type="")
    return {"plugin_library": library.dynamic_library, "harness": harness}


@pytest.fixture
def harness(built):
    session = Harness(built["harness"], built["plugin_library"])
    yield session
    session.close()


def _io(case, io):
    nb_inputs = len(case.inputs)
    return ([(kind, list(t.shape)) for kind, t in zip(io[:nb_inputs], case.inputs, strict=True)],
            [(kind, list(t.shape)) for kind, t in zip(io[nb_inputs:], case.outputs, strict=True)])


def test_harness_exports_only_its_c_api_and_needs_no_tensorrt(built):
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile

    with built["harness"].open("rb") as handle:
        elf = ELFFile(handle)
        exported = {s.name for s in elf.get_section_by_name(".dynsym").iter_symbols()
                    if s["st_shndx"] != "SHN_UNDEF" and s["st_info"]["type"] == "STT_FUNC"}
        needed = [t.needed for sec in elf.iter_sections() if isinstance(sec, DynamicSection)
                  for t in sec.iter_tags() if t.entry.d_tag == "DT_NEEDED"]
    assert exported and all(name.startswith("eh_") for name in exported), exported
    assert not [name for name in needed if "nvinfer" in name or "cuda" in name], needed


@pytest.mark.skipif(_has_cuda_driver(), reason="this machine has a CUDA driver")
def test_every_combination_configures_and_refuses_to_attach_without_a_driver(harness):
    from edgeattn.plugins.enqueue import enqueue_case
    from edgeattn.plugins.graph import case_launches

    assert harness.creators == len(plugin_ops())
    for op, spec_case, io in _first_cases():
        case = enqueue_case(op, spec_case, io, 1, "cpu")
        plugin = harness.create(op.name, case.attributes, layer=f"{op.name}/{','.join(io)}")
        assert plugin is not None, harness.take_log()
        assert plugin.configure(*_io(case, io)) == 0, harness.take_log()
        launch = next(launch for launch in case_launches(op, spec_case) if launch.io_types == io)
        assert plugin.workspace() == launch.workspace
        harness.take_log()
        assert plugin.attach() == -1
        assert "libcuda.so.1 could not be loaded" in " ".join(harness.take_log())
        assert plugin.enqueue(plugin.enqueue_arguments([0] * len(case.inputs), [0], 0, 0)) == -1
        assert harness.take_log() == [f"ERROR: harness: {op.name}/{','.join(io)}: enqueue before a successful attach"]
        plugin.destroy()


def test_configure_checks_the_outputs_and_types_against_the_plugin(harness):
    from edgeattn.plugins.enqueue import enqueue_case

    op, spec_case, io = _first_cases()[0]
    case = enqueue_case(op, spec_case, io, 1, "cpu")
    inputs, outputs = _io(case, io)
    plugin = harness.create(op.name, case.attributes, layer="bad")
    wrong_shape = [(kind, [d + 1 for d in shape]) for kind, shape in outputs]
    assert plugin.configure(inputs, wrong_shape) == -1
    assert any("has shape" in line for line in harness.take_log())
    assert plugin.configure([("kBF16", shape) for _, shape in inputs], outputs) == -1
    assert any(line.startswith("ERROR: ") for line in harness.take_log())
    assert plugin.workspace() == -1 and "before a successful configure" in harness.take_log()[0]
    plugin.destroy()


def test_bad_fields_and_unknown_plugins_give_none_and_the_reason(harness):
    op, spec_case, _ = next(item for item in _first_cases() if item[0].plugin_kernels.case_attributes(item[1]))
    attributes = op.plugin_kernels.case_attributes(spec_case)
    plugin = harness.create(op.name, {**attributes, "not_a_field": 1})
    assert plugin is not None
    assert "WARNING: harness: attribute 'not_a_field' is not a field of the plugin; dropped" in harness.take_log()
    plugin.destroy()
    assert harness.create(op.name, {}) is None
    assert any("required field" in line for line in harness.take_log())
    assert harness.create("NoSuchPlugin", {}) is None
    assert harness.take_log() == ["ERROR: harness: no creator for plugin edgeattn::NoSuchPlugin version 1"]


@pytest.mark.parametrize("index", range(len(_first_cases())),
                         ids=[f"{op.name}-{','.join(io)}" for op, _, io in _first_cases()])
def test_enqueue_cases_match_their_reference_through_the_interpreted_triton_launch(index):
    """Inputs of the plugin's types, poisoned outputs, and a reference the op's own Triton launch reproduces."""
    import torch

    from edgeattn.ops.enqueue import torch_dtype
    from edgeattn.plugins.enqueue import enqueue_case

    op, spec_case, io = _first_cases()[index]
    case = enqueue_case(op, spec_case, io, 1, "cpu")
    nb_inputs = len(case.inputs)
    assert [t.dtype for t in (*case.inputs, *case.outputs)] == [torch_dtype(kind) for kind in io]
    assert all(torch.isnan(t.float()).all() for t in case.outputs)
    assert [t.shape for t in case.outputs] == [t.shape for t in case.expected] and nb_inputs < len(io)
    assert set(op.plugin_kernels.case_attributes(spec_case)) <= set(case.attributes)
    out = case.triton()
    result = compare(tuple(out) if isinstance(out, tuple | list) else (out,), case.expected, case.atol, case.rtol)
    assert result["passed"], result
    assert not compare(case.outputs, case.expected, case.atol, case.rtol)["passed"]  # NaN counts as unwritten


def test_driver_refuses_without_a_gpu(monkeypatch, capsys):
    import torch

    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _script("plugin_enqueue").main([]) == 2
    assert capsys.readouterr().err.startswith("no CUDA device: ")


def test_driver_dry_run_configures_every_entry(built, tmp_path):
    from edgeattn.ops import all_ops
    from edgeattn.plugins.graph import case_launches

    out = tmp_path / "dry.json"
    ids = sorted({case.id for _, case, _ in _first_cases()})
    args = ["--dry-run", "--plugin-library", str(built["plugin_library"]), "--harness", str(built["harness"]),
            "--cases", *ids, "--out", str(out)]
    assert _script("plugin_enqueue").main(args) == 0
    report = json.loads(out.read_text())
    assert report["summary"]["configured"] == report["summary"]["entries"] == len(_first_cases())
    assert set(report["skipped_ops"]) == {op.name for op in all_ops() if op.plugin_kernels is None}
    workspace = {(op.name, launch.io_types): launch.workspace for op, case, _ in _first_cases()
                 for launch in case_launches(op, case)}
    for entry in report["entries"]:
        expected = workspace[(entry["op"], tuple(entry["io_types"]))]
        assert entry["steps"] == {"create": 0, "configure": 0, "workspace": expected}, entry["log"]


def test_gpu_session_refuses_without_a_gpu_and_writes_nothing(tmp_path, capsys):
    if _has_cuda_driver():
        pytest.skip("this machine has a CUDA driver")
    session = _script("gpu_session")
    assert session.main(["--out", str(tmp_path / "out")]) == 2
    assert "no CUDA device" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_gpu_session_reads_junit_and_checks_its_prepared_files(tmp_path, monkeypatch):
    session = _script("gpu_session")
    junit = tmp_path / "junit.xml"
    junit.write_text('<testsuites><testsuite><testcase classname="t" name="a" time="0.5"/>'
                     '<testcase classname="t" name="b"><failure message="boom">trace</failure></testcase>'
                     '<testcase classname="t" name="c"><skipped message="no GPU"/></testcase></testsuite></testsuites>')
    summary = session.junit_summary(junit)
    assert summary["counts"] == {"passed": 1, "failed": 1, "error": 0, "skipped": 1}
    assert summary["tests"][1] == {"test": "t::b", "outcome": "failed", "seconds": 0.0, "message": "boom"}
    monkeypatch.setattr(session, "PREPARED", tmp_path / "prepared")
    assert session.prepared_problems() == [f"{tmp_path / 'prepared' / 'manifest.json'} missing"]
    (tmp_path / "prepared").mkdir()
    (tmp_path / "prepared" / "cubin").write_bytes(b"x")
    manifest = {"files": {"cubin": "0" * 64}, "variant_keys": []}
    (tmp_path / "prepared" / "manifest.json").write_text(json.dumps(manifest))
    problems = session.prepared_problems()
    assert problems[0] == "cubin changed since --prepare"
    assert problems[1].startswith("the cubins are stale: ") == bool(plugin_ops())
