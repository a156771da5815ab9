"""SetAttention: reference vs a per-set loop, portable ONNX (ORT) and plugin ONNX (ReferenceEvaluator)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from edgeattn.lidar.partition import set_partition, window_partition
from onnx_helpers import export_flavour, run_plugins, run_portable
from edgeattn.ops.set_attention import OP_DEF
from edgeattn.ops.set_attention.reference import set_attention
from edgeattn.ops.set_attention.torch_op import set_attention_op
from edgeattn.tolerances import OP_FP16_ATOL, OP_FP32_ATOL, OP_FP32_RTOL

SEED = 42


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny tensors: one intra-op thread avoids oversubscription on small shared CI boxes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
SPEC_CASES = {case.id: case for case in OP_DEF.spec.test_cases}


def make_case(case, rotation: int = 0):
    """Random q, k, v and the partition of `n` random voxels on a 29x23x(window z) grid."""
    n, channels = case.shapes["q"]
    set_size = case.shapes["set_inds"][1]
    window = tuple(case.attributes["window"])
    generator = torch.Generator().manual_seed(SEED)
    grid = (29, 23, window[2])
    cells = torch.randperm(grid[0] * grid[1] * grid[2], generator=generator)[:n]
    x, y, z = cells % grid[0], (cells // grid[0]) % grid[1], cells // (grid[0] * grid[1])
    coords = torch.stack([torch.zeros_like(x), z, y, x], dim=1)
    sets = set_partition(window_partition(coords, window, (0, 0, 0)), window, set_size)
    q, k, v = (torch.randn(n, channels, generator=generator) for _ in range(3))
    return q, k, v, sets.set_inds[rotation], sets.set_valid[rotation], sets.voxel_slot[rotation]


def loop_set_attention(q, k, v, set_inds, set_valid, num_heads, scale):
    """One set at a time with torch's MultiheadAttention math written out per head."""
    out = torch.full_like(v, float("nan"))
    head_dim = q.shape[1] // num_heads
    for s in range(set_inds.shape[0]):
        members = set_inds[s]
        keys = members[set_valid[s]]
        for h in range(num_heads):
            cols = slice(h * head_dim, (h + 1) * head_dim)
            weights = torch.softmax(q[members, cols] @ k[keys, cols].T * scale, dim=-1)
            values = weights @ v[keys, cols]
            for t in range(set_inds.shape[1]):
                if set_valid[s, t]:
                    out[members[t], cols] = values[t]
    return out


class SetAttentionCall(nn.Module):
    def __init__(self, num_heads: int, scale: float) -> None:
        super().__init__()
        self.num_heads, self.scale = num_heads, scale

    def forward(self, q, k, v, set_inds, set_valid, voxel_slot):
        return set_attention_op(q, k, v, set_inds, set_valid, voxel_slot, self.num_heads, self.scale)


def heads_and_scale(case):
    num_heads = case.attributes["num_heads"]
    return num_heads, (case.shapes["q"][1] // num_heads) ** -0.5


@pytest.mark.parametrize("rotation", [0, 1], ids=["y_major", "x_major"])
@pytest.mark.parametrize("case_id", SPEC_CASES)
def test_reference_matches_per_set_loop(case_id, rotation):
    case = SPEC_CASES[case_id]
    inputs = make_case(case, rotation)
    num_heads, scale = heads_and_scale(case)
    expected = loop_set_attention(*inputs[:5], num_heads, scale)
    actual = set_attention(*inputs, num_heads, scale)
    assert torch.isfinite(expected).all(), "some voxel never got a valid slot"
    torch.testing.assert_close(actual, expected, atol=OP_FP32_ATOL, rtol=OP_FP32_RTOL)


def test_masked_duplicates_do_not_count_as_keys():
    case = SPEC_CASES["odd_n49_c24_h3_t7"]
    q, k, v, set_inds, set_valid, slot = make_case(case)
    assert not set_valid.all(), "case must contain duplicates"
    num_heads, scale = heads_and_scale(case)
    unmasked = set_attention(q, k, v, set_inds, torch.ones_like(set_valid), slot, num_heads, scale)
    masked = set_attention(q, k, v, set_inds, set_valid, slot, num_heads, scale)
    assert (unmasked - masked).abs().max() > 1e-3


@pytest.mark.parametrize("flavour", ["portable", "plugins"])
@pytest.mark.parametrize("case_id", SPEC_CASES)
def test_onnx_flavours_match_reference(case_id, flavour):
    case = SPEC_CASES[case_id]
    inputs = make_case(case)
    num_heads, scale = heads_and_scale(case)
    model = export_flavour(SetAttentionCall(num_heads, scale), inputs, flavour)
    op_types = {node.op_type for node in model.graph.node}
    if flavour == "plugins":
        node = next(n for n in model.graph.node if n.op_type == "SetAttention")
        assert node.domain == "edgeattn"
        attrs = {a.name for a in node.attribute}
        assert {"num_heads", "scale", "plugin_namespace", "plugin_version"} <= attrs
    else:
        assert "SetAttention" not in op_types and {"Gather", "Softmax"} <= op_types
    run = run_portable if flavour == "portable" else run_plugins
    (actual,) = run(model, [t.numpy() for t in inputs])
    expected = set_attention(*inputs, num_heads, scale)
    np.testing.assert_allclose(actual, expected.numpy(), atol=OP_FP32_ATOL, rtol=OP_FP32_RTOL)


def test_fp16_inputs_stay_within_fp16_tolerance():
    case = SPEC_CASES["pillar_n197_c192_h8_t36"]
    q, k, v, *index = make_case(case)
    num_heads, scale = heads_and_scale(case)
    expected = set_attention(q, k, v, *index, num_heads, scale)
    half = set_attention(q.half(), k.half(), v.half(), *index, num_heads, scale)
    assert half.dtype == torch.float16
    torch.testing.assert_close(half.float(), expected, atol=OP_FP16_ATOL, rtol=0)


def test_fake_impl_gives_voxel_shape():
    case = SPEC_CASES["odd_n49_c24_h3_t7"]
    inputs = make_case(case)
    num_heads, scale = heads_and_scale(case)
    program = torch.export.export(SetAttentionCall(num_heads, scale), inputs)
    out = next(n for n in program.graph.nodes if n.op == "output").args[0][0]
    assert tuple(out.meta["val"].shape) == (49, 24)
