"""Per-op breakdown: block/kind attribution from dynamo scopes, aggregation, and sums vs measured runs."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from profile_tiny_model import HEIGHT, SEED, WIDTH

from edgeattn.profile.blocks import (
    NodeOrigin,
    attribute_nodes,
    block_from_scopes,
    node_origins,
    origin_of,
)
from edgeattn.profile.opprofile import aggregate, profile_ort_ops, split_runs


@pytest.mark.parametrize(
    "scopes,block",
    [
        (["stem", "stem.in_conv"], "stem"),
        (["stages", "stages.2", "stages.2.blocks.1"], "stage 2"),
        (["blocks", "blocks.13", "blocks.13.ghost1"], "stage 13"),
        (["patch_embed", "patch_embed.proj"], "stem"),
        (["patch_embed1", "patch_embed1.proj"], "stem"),
        (["patch_embed3", "patch_embed3.proj"], "stage 3"),
        (["head", "head.fc"], "head"),
        (["conv_head"], "head"),
        ([], "other"),
        (["final_norm"], "final_norm"),
    ],
    ids=["stem", "timm-stages", "ghostnet-blocks", "patch-embed", "van-patch-embed1", "van-patch-embed3", "head",
         "conv-head", "top-level", "unknown-top"],
)
def test_block_from_scopes(scopes, block):
    assert block_from_scopes(scopes) == block


@pytest.mark.parametrize(
    "op_type,domain,classes,kind,op_name",
    [
        ("Conv", "", ["timm.X", "torch.nn.modules.conv.Conv2d", "aten.conv2d.default"], "conv", None),
        ("MatMul", "", ["timm.X", "timm.models.shvit.SHSA", "aten.matmul.default"], "attention", None),
        ("Softmax", "", ["timm.X", "edgeattn.ops.single_head_attention.modules.EdgeSHSA", "edgeattn.single_head_attention.default"],
         "attention", "SingleHeadAttention"),
        ("Conv", "", ["timm.X", "edgeattn.ops.single_head_attention.modules.EdgeSHSA", "torch.nn.modules.conv.Conv2d", "aten.conv2d"],
         "attention", None),
        ("SingleHeadAttention", "edgeattn", [], "attention", "SingleHeadAttention"),
        ("LayerNormalization", "", ["timm.X", "torch.nn.modules.normalization.LayerNorm"], "norm", None),
        ("Relu", "", ["timm.X", "torch.nn.modules.activation.ReLU", "aten.relu.default"], "other", None),
    ],
    ids=["conv", "shsa-matmul", "edgeattn-portable", "conv-in-edgeattn-module", "edgeattn-domain", "layernorm",
         "relu"],
)
def test_origin_kind(op_type, domain, classes, kind, op_name):
    origin = origin_of(op_type, domain, ["", "stages", "stages.1", "op"], classes)
    assert (origin.kind, origin.edgeattn_op, origin.block) == (kind, op_name, "stage 1")


def _event(name: str, op: str, ts: int, dur: int) -> dict:
    return {"cat": "Node", "name": f"{name}_kernel_time", "ts": ts, "dur": dur, "args": {"op_name": op}}


def _run(ts: int, dur: int) -> dict:
    return {"cat": "Session", "name": "model_run", "ts": ts, "dur": dur}


def test_aggregate_sums_per_group_and_drops_warmup_and_disturbed_runs():
    trace = []
    for i, dur in enumerate([9000, 1000, 1000, 1000, 5000]):  # warm-up, 3 normal, one disturbed
        ts = i * 10_000
        trace += [_run(ts, dur), _event("a", "Conv", ts + 1, 600), _event("b", "MatMul", ts + 610, 300),
                  {"cat": "Node", "name": "a_fence_before", "ts": ts + 1, "dur": 5}]
    origins = {"a": NodeOrigin("stem", "conv", None, "stem.0"),
               "b": NodeOrigin("stage 1", "attention", "SingleHeadAttention", "stages.1.attn")}
    runs = split_runs(trace, warmup=1)
    assert [d for d, _ in runs] == [1.0, 1.0, 1.0, 5.0]
    result = aggregate(runs, origins)
    assert result["profiled_runs"] == 3 and result["discarded_runs"] == 1
    assert result["run_mean_ms"] == pytest.approx(1.0)
    assert result["nodes_total_ms"] == pytest.approx(0.9)
    assert {r["name"]: r["ms"] for r in result["by_op_type"]} == pytest.approx({"Conv": 0.6, "MatMul": 0.3})
    assert {r["name"]: r["ms"] for r in result["by_kind"]} == pytest.approx({"conv": 0.6, "attention": 0.3})
    assert result["by_edgeattn_op"][0]["name"] == "SingleHeadAttention"
    assert sum(r["share"] for r in result["by_block"]) == pytest.approx(1.0)


def test_dynamo_scopes_give_blocks(tiny_onnx):
    origins = node_origins(onnx.load(str(tiny_onnx)))
    blocks = {o.block for o in origins.values()}
    assert {"stem", "stage 0", "stage 1", "head"} <= blocks
    assert {o.kind for o in origins.values() if o.module.startswith("stages.1.mixer")} == {"attention"}


def test_breakdown_sums_to_measured_run_within_15_percent(tiny_onnx, tmp_path):
    feeds = {"image": np.random.default_rng(SEED).standard_normal((8, 3, HEIGHT, WIDTH), dtype=np.float32)}
    result = profile_ort_ops(tiny_onnx, feeds, threads=1, iters=12, workdir=tmp_path)
    assert result["nodes_total_ms"] == pytest.approx(result["run_mean_ms"], rel=0.15)
    for key in ("by_op_type", "by_block", "by_kind"):
        assert sum(r["ms"] for r in result[key]) == pytest.approx(result["nodes_total_ms"], rel=1e-9)
    blocks = {r["name"] for r in result["by_block"]}
    assert {"stem", "stage 0", "stage 1"} <= blocks
    kinds = {r["name"]: r["ms"] for r in result["by_kind"]}
    assert kinds["attention"] > 0 and kinds["conv"] > 0


def test_optimised_nodes_trace_back_to_exported_scopes(tiny_onnx, tmp_path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "opt.onnx")
    options.intra_op_num_threads = 1
    ort.InferenceSession(str(tiny_onnx), options, providers=["CPUExecutionProvider"])
    optimized = onnx.load(str(tmp_path / "opt.onnx"))
    origins = attribute_nodes(onnx.load(str(tiny_onnx)), optimized)
    assert set(origins) == {n.name for n in optimized.graph.node}
    softmax = next(n.name for n in optimized.graph.node if n.op_type == "Softmax")
    assert origins[softmax].kind == "attention" and origins[softmax].block == "stage 1"
    convs = [origins[n.name] for n in optimized.graph.node if n.op_type == "Conv"]
    assert {o.kind for o in convs} == {"conv", "attention"}
