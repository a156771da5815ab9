"""DSVT fp16 and INT8: padding stays out of the statistics, head-wise edits are exact, held-out scenes stay close
to fp32 and the dynamic voxel/set profile is the fp32 export's."""

from __future__ import annotations

import copy
import json

import numpy as np
import onnx
import pytest
import timm
import torch

from edgeattn.calibrate.capture import find_sites
from edgeattn.calibrate.data import load_calibration_data
from edgeattn.calibrate.frames import Frame
from edgeattn.calibrate.headwise import reparameterise
from edgeattn.calibrate.qdq import QDQConfig, activation_tensors, collect_ranges
from edgeattn.calibrate.sensitivity import select_fallback
from edgeattn.errors import EdgeattnError, UsageError
from edgeattn.exporters.config import ExportConfig
from edgeattn.exporters.pipeline import run_export
from edgeattn.exporters.voxel_inputs import stack_frame
from edgeattn.lidar.inputs import build_stack_inputs, stack_input_names
from edgeattn.lidar.scenes import synthetic_scene
from edgeattn.lidar.voxelize import voxelize
from edgeattn.ops.rewrite import rewrite_model
from edgeattn.tolerances import REWRITE_MAX_REL

SEED = 42
HELD_OUT_MIN_COSINE = 0.999
"""Issue #15's goal for DSVT INT8 on held-out scenes."""
FP16_MIN_COSINE = 0.99999


def small_model(name: str):
    torch.manual_seed(SEED)
    return timm.create_model(name, dim=32, heads=4, ffn=64).eval()


def scene_inputs(model, seed: int = SEED, azimuth_steps: int = 512):
    return build_stack_inputs(voxelize(synthetic_scene(seed, azimuth_steps=azimuth_steps), model.layout.grid),
                              model.layout)


def frame(model, seed: int = SEED, azimuth_steps: int = 512) -> Frame:
    return stack_frame(scene_inputs(model, seed, azimuth_steps), model.layout, stack_input_names(model.layout))


def stack_output(stack, feeds) -> torch.Tensor:
    with torch.no_grad():
        return stack(*(torch.from_numpy(v) for v in feeds.values()))


@pytest.mark.parametrize("name", ["dsvt_pillar", "dsvt_voxel"])
def test_padding_probe_moves_only_padded_slots_and_keeps_the_output(name):
    model = small_model(name)
    sample = frame(model)
    moved = [n for n in sample.feeds if not np.array_equal(sample.feeds[n], sample.probe[n])]
    assert any(n.startswith("set_inds") for n in moved)
    assert any(n.startswith("pool_inds") for n in moved) == (name == "dsvt_voxel")
    for n in moved:
        assert n.startswith(("set_inds", "pool_inds"))
        valid = sample.feeds[n.replace("inds", "valid")]
        np.testing.assert_array_equal(sample.feeds[n][valid], sample.probe[n][valid])
        assert (sample.feeds[n][~valid] != sample.probe[n][~valid]).all()
    torch.testing.assert_close(stack_output(model.stack, sample.probe), stack_output(model.stack, sample.feeds),
                               atol=1e-6, rtol=0)


@pytest.mark.parametrize("which", ["qk", "v"])
def test_headwise_weight_edits_of_set_and_pooling_attention_are_exact(which):
    stack = rewrite_model(copy.deepcopy(small_model("dsvt_voxel").stack))[0]
    edited = copy.deepcopy(stack)
    sites = find_sites(edited)
    kinds = {type(site.module).__name__ for site in sites}
    assert kinds == {"EdgeVoxelSetAttention", "EdgeRegionAttention"}
    generator = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for site in sites:
            dim = site.qk_dim if which == "qk" else site.v_dim
            factors = torch.rand(site.heads, dim, generator=generator) * 4 + 0.25
            (site.module.scale_qk if which == "qk" else site.module.scale_v)(factors)
    feeds = frame(small_model("dsvt_voxel")).feeds
    before, after = stack_output(stack, feeds), stack_output(edited, feeds)
    assert float((after - before).abs().max() / before.abs().max()) <= REWRITE_MAX_REL
    assert any(not torch.equal(v, edited.state_dict()[k]) for k, v in stack.state_dict().items())


def test_reparameterise_balances_set_attention_heads_without_changing_outputs():
    model = small_model("dsvt_pillar")
    stack = rewrite_model(copy.deepcopy(model.stack))[0]
    with torch.no_grad():
        for layer in stack.modules():
            if type(layer).__name__ == "EdgeVoxelSetAttention":
                layer.v_proj.weight.mul_(torch.linspace(0.25, 4.0, 32)[:, None])
    result = reparameterise(stack, [frame(model, SEED), frame(model, SEED + 1)])
    assert result.max_rel_change <= REWRITE_MAX_REL
    assert len(result.sites) == 8
    for record in result.sites.values():
        assert record["spread_after"]["v"] < record["spread_before"]["v"]


ONE_WORKER = pytest.mark.xdist_group("dsvt-int8")
"""The tests of the module-scoped INT8 export run on one xdist worker, so the export runs once."""


@pytest.fixture(scope="module")
def int8_export(tmp_path_factory):
    """A narrowed dsvt_voxel (set and pooling attention) exported fp32 and INT8 (both flavours), calibrated
    on two synthetic scenes and judged on four held-out ones."""
    root = tmp_path_factory.mktemp("dsvt_int8")
    common = dict(model="dsvt_voxel", target="jetson", seed=SEED, profile_from=2)
    fp32 = run_export(ExportConfig(out=root / "fp32", **common), show_progress=False, model=small_model("dsvt_voxel"))
    int8 = run_export(ExportConfig(out=root / "int8", flavour="both", precision="int8", calib_data="lidar",
                                   calib_count=2, **common), show_progress=False, model=small_model("dsvt_voxel"))
    return fp32, int8


@ONE_WORKER
def test_int8_holds_on_held_out_scenes(int8_export):
    _, result = int8_export
    fidelity = json.loads((result.path / "fidelity.json").read_text())
    assert fidelity["held_out"] and fidelity["data"]["kind"] == "lidar" and fidelity["int8"]["count"] == 4
    for key in ("int8", "plugins"):
        report = fidelity[key]
        assert report["cosine"] >= HELD_OUT_MIN_COSINE, (key, report["cosine"])
        assert report["top1_agreement"] is None
    layers = fidelity["int8"]["layers"]
    assert layers and all(0.99 < layer["cosine"] <= 1.0 and layer["sqnr_db"] > 20 for layer in layers)
    calibration = json.loads((result.path / "calibration.json").read_text())
    assert len(calibration["heads"]) == 8 + 3


@ONE_WORKER
def test_int8_keeps_the_fp32_profile_and_quantizes_the_plugin(int8_export):
    fp32, int8 = int8_export
    assert (int8.path / "trt_profiles.json").read_bytes() == (fp32.path / "trt_profiles.json").read_bytes()
    assert int8.manifest["tensorrt_profile"] == fp32.manifest["tensorrt_profile"]
    proto = onnx.load(int8.path / "model.plugins.int8.onnx")
    producers = {out: node.op_type for node in proto.graph.node for out in node.output}
    for node in (n for n in proto.graph.node if n.op_type == "SetAttention"):
        assert [producers.get(x) for x in node.input[:3]] == ["DequantizeLinear"] * 3


@ONE_WORKER
def test_range_statistics_leave_padded_slots_out(int8_export):
    fp32, _ = int8_export
    model = small_model("dsvt_voxel")
    proto = onnx.load(fp32.path / "model.onnx")
    tensors = [out for node in proto.graph.node if node.op_type in ("MatMul", "Softmax") for out in node.output]
    config = QDQConfig(method="max")
    sample = frame(model)
    masked = collect_ranges(proto, [sample], tensors, config)
    everything = collect_ranges(proto, [Frame(sample.feeds)], tensors, config)
    amax = {name: (masked[name].amax, everything[name].amax) for name in tensors}
    assert all(m <= e for m, e in amax.values())
    assert any(m < 0.9 * e for m, e in amax.values()), "padded set slots must have been observed without a probe"


def test_int8_refusals_for_lidar_models(tmp_path):
    spec_cfg = dict(model="dsvt_pillar", precision="int8", calib_data="lidar", out=tmp_path / "b")
    with pytest.raises(UsageError, match="built for TensorRT"):
        run_export(ExportConfig(target="cpu-x86", **spec_cfg), show_progress=False, model=small_model("dsvt_pillar"))
    with pytest.raises(UsageError, match="qdq-style ort"):
        run_export(ExportConfig(target="jetson", calib_style="ort", **spec_cfg), show_progress=False,
                   model=small_model("dsvt_pillar"))
    assert not (tmp_path / "b").exists()


def test_point_cloud_files_load_and_bad_arrays_name_the_file(tmp_path):
    from edgeattn.backbones.dsvt import SPECS

    spec = SPECS[0]
    cloud = synthetic_scene(SEED, azimuth_steps=64).numpy()
    np.save(tmp_path / "a.npy", cloud)
    np.savez(tmp_path / "b.npz", scan=np.concatenate([cloud, cloud[:, :1]], axis=1))
    data = load_calibration_data(tmp_path, spec, 8, 1, None, 0)
    assert len(data.batches) == 2 and all(b.shape == (1, len(cloud), 4) for b in data.batches)
    np.testing.assert_array_equal(data.batches[1][0], cloud)
    with pytest.raises(UsageError, match="not photos"):
        load_calibration_data("samples", spec, 2, 1, None, 0)
    np.save(tmp_path / "c.npy", cloud[:, :3])
    with pytest.raises(EdgeattnError, match="c.npy.*not a point cloud"):
        load_calibration_data(tmp_path, spec, 8, 1, None, 0)


@ONE_WORKER
def test_sensitivity_fallback_runs_on_frames(int8_export):
    fp32, _ = int8_export
    proto = onnx.load(fp32.path / "model.onnx")
    config = QDQConfig(method="percentile")
    sample = frame(small_model("dsvt_voxel"), azimuth_steps=128)
    observers = collect_ranges(proto, [sample], activation_tensors(proto, config), config)
    fallback = select_fallback(proto, observers, config, [sample], 0.99999)
    assert fallback.cosine_all_int8 < fallback.target_cosine <= fallback.cosine_after
    assert 0 < len(fallback.kept) < fallback.quantized_nodes
    damage = [entry["one_minus_cos_alone"] for entry in fallback.ranking]
    assert damage == sorted(damage, reverse=True) and damage[0] > 0


def test_fp16_export_of_the_stack(tmp_path):
    result = run_export(ExportConfig(model="dsvt_pillar", target="jetson", out=tmp_path / "b", seed=SEED,
                                     profile_from=1, precision="fp16"), show_progress=False,
                        model=small_model("dsvt_pillar"))
    fidelity = json.loads((result.path / "fidelity.json").read_text())
    assert fidelity["held_out"] and fidelity["fp16"]["count"] == 4
    assert fidelity["fp16"]["cosine"] >= FP16_MIN_COSINE and fidelity["fp16"]["top1_agreement"] is None
    proto = onnx.load(result.path / "model.fp16.onnx")
    assert any(init.data_type == onnx.TensorProto.FLOAT16 for init in proto.graph.initializer)
