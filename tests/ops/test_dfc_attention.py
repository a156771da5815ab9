"""DFCAttention: reference math vs timm's GhostModuleV2 gate, portable ONNX (ORT), plugin ONNX."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from ops_harness import (
    FLAVOURS,
    FUZZ,
    check_portable,
    export_dynamic,
    random_inputs,
    spec_cases,
)
from torch import nn
from torch.export import Dim

from edgeattn.ops import get_op
from edgeattn.ops.dfc_attention.modules import fold_conv_bn

OP = get_op("DFCAttention")
SPEC_CASES = spec_cases(OP)


def dfc_shapes(channels, gate_hw, features_hw, batch=1, kernel=5):
    return {
        "gate": [batch, channels, *gate_hw],
        "w_h": [channels, 1, 1, kernel],
        "b_h": [channels],
        "w_v": [channels, 1, kernel, 1],
        "b_v": [channels],
        "features": [batch, channels, *features_hw],
    }


ODD_CASES = {
    "7x7-from-3x3": (dfc_shapes(8, (3, 3), (7, 7), batch=2), {}),
    "13x11-from-6x5": (dfc_shapes(12, (6, 5), (13, 11)), {}),
    "1x1-from-1x1": (dfc_shapes(4, (1, 1), (1, 1)), {}),
    "9x15-from-4x7-kernel3": (dfc_shapes(6, (4, 7), (9, 15), kernel=3), {}),
}
ALL_CASES = {**SPEC_CASES, **ODD_CASES}


def random_bn(channels, generator):
    bn = nn.BatchNorm2d(channels).eval()
    bn.weight.data = torch.rand(channels, generator=generator) + 0.5
    bn.bias.data = torch.randn(channels, generator=generator)
    bn.running_mean = torch.randn(channels, generator=generator)
    bn.running_var = torch.rand(channels, generator=generator) + 0.5
    return bn


@pytest.mark.parametrize("hw", [(7, 7), (13, 11), (14, 14), (3, 17)], ids=lambda hw: f"{hw[0]}x{hw[1]}")
def test_reference_matches_timm_ghostnetv2_gate(hw):
    """timm GhostModuleV2: short_conv(avg_pool2d(x, 2)) -> sigmoid -> interpolate nearest -> multiply."""
    generator = torch.Generator().manual_seed(42)
    channels = 6
    conv_h = nn.Conv2d(channels, channels, (1, 5), padding=(0, 2), groups=channels, bias=False)
    conv_v = nn.Conv2d(channels, channels, (5, 1), padding=(2, 0), groups=channels, bias=False)
    bn_h, bn_v = random_bn(channels, generator), random_bn(channels, generator)
    x = torch.randn(1, channels, *hw, generator=generator)
    features = torch.randn(1, channels, *hw, generator=generator)
    gate = F.avg_pool2d(x, kernel_size=2, stride=2)
    with torch.no_grad():
        res = bn_v(conv_v(bn_h(conv_h(gate))))
        expected = features * F.interpolate(torch.sigmoid(res), size=hw, mode="nearest")
        w_h, b_h = fold_conv_bn(conv_h, bn_h)
        w_v, b_v = fold_conv_bn(conv_v, bn_v)
        actual = OP.reference(gate, w_h, b_h, w_v, b_v, features)
    torch.testing.assert_close(actual, expected, atol=1e-6, rtol=1e-5)


def test_nearest_resize_picks_floor_of_scaled_index():
    inputs = random_inputs(dfc_shapes(3, (3, 2), (7, 5)))
    inputs["features"] = torch.ones_like(inputs["features"])
    out = OP.reference(**inputs)
    x = F.conv2d(inputs["gate"], inputs["w_h"], inputs["b_h"], padding=(0, 2), groups=3)
    attn = torch.sigmoid(F.conv2d(x, inputs["w_v"], inputs["b_v"], padding=(2, 0), groups=3))
    rows = [i * 3 // 7 for i in range(7)]
    cols = [j * 2 // 5 for j in range(5)]
    torch.testing.assert_close(out, attn[:, :, rows][:, :, :, cols])


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_onnx_flavour_matches_reference_on_every_case(cases, flavour):
    """One export per flavour covers every case; the graph structure is checked on it too."""
    cases.check_flavour(flavour)
    if flavour == "portable":
        check_nearest_resizes(cases.model("portable"))


def check_nearest_resizes(model):
    resizes = [n for n in model.graph.node if n.op_type == "Resize"]
    assert len(resizes) == len(ALL_CASES)
    for node in resizes:
        attributes = {a.name: a.s.decode() for a in node.attribute if a.type == a.STRING}
        assert attributes["mode"] == "nearest"
        assert attributes["coordinate_transformation_mode"] == "asymmetric"
        assert attributes["nearest_mode"] == "floor"


@pytest.fixture(scope="module")
def dynamic_portable():
    shapes = dfc_shapes(5, (4, 4), (9, 9), batch=2)
    batch = Dim("batch", min=1, max=4)
    dims = {
        "gate": {0: batch, 2: Dim("h", min=2, max=40), 3: Dim("w", min=2, max=40)},
        "features": {0: batch, 2: Dim("H", min=2, max=80), 3: Dim("W", min=2, max=80)},
    }
    return export_dynamic(OP, random_inputs(shapes), {}, dims)


@FUZZ
@given(
    batch=st.integers(1, 3),
    height=st.integers(2, 60),
    width=st.integers(2, 60),
    seed=st.integers(0, 2**16),
)
def test_fuzz_portable_decomposition(dynamic_portable, batch, height, width, seed):
    shapes = dfc_shapes(5, (max(2, height // 2), max(2, width // 2)), (height, width), batch=batch)
    check_portable(OP, dynamic_portable, random_inputs(shapes, seed), {})
