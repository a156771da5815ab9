"""DSVT export: one ONNX graph with dynamic voxel/set counts reproduces torch at several voxel counts."""

from __future__ import annotations

import json

import onnx
import pytest
import timm
import torch

from edgeattn.backbones import dsvt
from edgeattn.backbones.stats import model_ops
from edgeattn.errors import UsageError
from edgeattn.exporters.config import ExportConfig
from edgeattn.exporters.parity import compare_output
from edgeattn.exporters.pipeline import run_export
from edgeattn.exporters.voxel_inputs import VoxelInputs
from edgeattn.exporters.trt_lint import lint
from edgeattn.lidar.inputs import build_stack_inputs
from edgeattn.lidar.scenes import synthetic_scene
from edgeattn.lidar.session import DSVTSession
from edgeattn.lidar.voxelize import voxelize

SEED = 42


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny tensors: one intra-op thread avoids oversubscription on small shared CI boxes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
SPECS = {spec.name: spec for spec in dsvt.SPECS}


def small_model(name: str) -> dsvt.DSVT:
    torch.manual_seed(SEED)
    return timm.create_model(name, dim=32, heads=4, ffn=64).eval()


def export_small(model, name: str, out, parity_voxels=None, **options):
    """The export pipeline on a narrowed DSVT (its layout and registry facts are the real model's)."""
    config = ExportConfig(model=name, target="jetson", out=out, seed=SEED, **{"flavour": "portable", **options})
    saved = VoxelInputs.parity_voxels
    VoxelInputs.parity_voxels = parity_voxels or saved
    try:
        return run_export(config, show_progress=False, model=model)
    finally:
        VoxelInputs.parity_voxels = saved


def parity_counts(bundle) -> list[int]:
    (report,) = bundle.parity
    assert report.passed, report
    return [int(c.input.split()[0]) for c in report.cases]


@pytest.fixture(scope="module")
def pillar_export(tmp_path_factory):
    model = small_model("dsvt_pillar")
    out = tmp_path_factory.mktemp("dsvt_pillar") / "bundle"
    return model, out, export_small(model, "dsvt_pillar", out, profile_from=2)


def test_portable_parity_at_three_voxel_counts_from_one_graph(pillar_export):
    _, out, result = pillar_export
    counts = parity_counts(result)
    assert len(counts) == 3 and counts[0] == 500 and counts[1] == 5000 and counts[2] > 15000
    proto = onnx.load(out / "model.onnx")
    assert {n.domain for n in proto.graph.node} <= {"", "ai.onnx"}
    op_types = {n.op_type for n in proto.graph.node}
    assert not op_types & {"Unique", "NonZero", "ScatterND", "ScatterElements", "Loop", "If"}
    dims = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in proto.graph.input}
    assert dims["voxel_feats"] == ["voxels_s0", 7]
    assert dims["set_inds_s0_shift0"] == [2, "sets_s0_shift0", 36]
    assert dims["set_inds_s0_shift1"] == [2, "sets_s0_shift1", 36]
    assert dims["voxel_slot_s0_shift1"] == [2, "voxels_s0"]


def test_exported_graph_passes_the_tensorrt_lint(pillar_export):
    _, out, _ = pillar_export
    report = lint(onnx.load(out / "model.onnx"), ["10.3", "10.16", "11"])
    assert report.ok, report.findings


def test_trt_profile_file_and_trtexec_shapes(pillar_export):
    _, out, result = pillar_export
    data = json.loads((out / "trt_profiles.json").read_text())
    dims = data["profile"]["dims"]
    assert set(dims) == {"voxels_s0", "sets_s0_shift0", "sets_s0_shift1"}
    for bounds in dims.values():
        assert bounds["min"] < min(bounds["observed"]) <= bounds["opt"] <= max(bounds["observed"]) < bounds["max"]
    shapes = data["trtexec"]["maxShapes"].split(",")
    assert [s.split(":")[0] for s in shapes] == result.manifest["input"]["names"]
    assert f"voxel_feats:{dims['voxels_s0']['max']}x7" in shapes


def test_session_runs_points_like_the_torch_model(pillar_export):
    model, out, _ = pillar_export
    session = DSVTSession(out / "model.onnx", out / "trt_profiles.json", model.layout)
    voxels = voxelize(synthetic_scene(SEED, azimuth_steps=1024), model.layout.grid)
    features, coords = session.run_voxels(voxels)
    with torch.no_grad():
        bev = model(voxels.features, voxels.coords)
    expected = model.scatter_bev(features, coords, 1)
    assert bev.shape == (1, 32, 468, 468)
    parity = compare_output("bev", bev.numpy(), expected.numpy())
    assert parity.passed, parity


def test_both_flavours_share_one_profile_and_pass_parity(tmp_path):
    result = export_small(small_model("dsvt_pillar"), "dsvt_pillar", tmp_path / "b", (97, 300, 1000),
                          flavour="both", profile_from=1)
    assert {"model.onnx", "model.plugins.onnx", "trt_profiles.json"} <= set(result.files)
    portable, plugins = result.parity
    assert portable.runtime.startswith("onnxruntime ") and "ReferenceEvaluator" in plugins.runtime
    for report in (portable, plugins):
        assert [c.input for c in report.cases] == ["97 voxels", "300 voxels", "1000 voxels"]
        assert report.passed
    proto = onnx.load(tmp_path / "b" / "model.plugins.onnx")
    plugin_nodes = [n for n in proto.graph.node if n.op_type == "SetAttention"]
    assert len(plugin_nodes) == 8 and all(n.domain == "edgeattn" for n in plugin_nodes)


def test_image_options_are_refused_for_voxel_models(tmp_path):
    with pytest.raises(UsageError, match="takes voxels"):
        export_small(small_model("dsvt_pillar"), "dsvt_pillar", tmp_path / "b", resolution=224)


def test_voxel_model_with_attention_pooling_exports(tmp_path):
    result = export_small(small_model("dsvt_voxel"), "dsvt_voxel", tmp_path / "b", (300, 1000, 3000),
                          profile_from=1)
    assert parity_counts(result) == [300, 1000, 3000]
    dims = json.loads((tmp_path / "b" / "trt_profiles.json").read_text())["profile"]["dims"]
    assert {"voxels_s3", "sets_s3_shift1"} <= set(dims)


def test_full_width_pillar_parity_at_modest_counts(tmp_path):
    torch.manual_seed(SEED)
    model = timm.create_model("dsvt_pillar").eval()
    assert model.config.dims == (192,) and model.config.heads == (8,) and model.config.ffn == (384,)
    assert parity_counts(export_small(model, "dsvt_pillar", tmp_path / "b", (300, 1200), profile_from=1)) == [300, 1200]


def test_export_is_deterministic(pillar_export, tmp_path):
    model, out, _ = pillar_export
    again = export_small(model, "dsvt_pillar", tmp_path / "again", profile_from=2)
    assert (again.path / "model.onnx").read_bytes() == (out / "model.onnx").read_bytes()


def test_registry_entries():
    pillar, voxel = SPECS["dsvt_pillar"], SPECS["dsvt_voxel"]
    for spec in (pillar, voxel):
        assert spec.family == "dsvt" and spec.source == "native" and spec.input_kind == "voxels"
        assert "SetAttention" in model_ops(spec.name)
    model = small_model("dsvt_pillar")
    assert sum(len(b.layers) for b in model.stack.stages[0]) == 8
