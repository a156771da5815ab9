"""INT8 plugin graphs: the per-head q/k/v scale attributes equal the QuantizeLinear scales feeding the plugin.

TensorRT fuses Q -> DQ -> plugin into Q -> plugin, so the plugin dequantizes its int8 inputs with the
feeding Q's scale; attributes taken from the (different) per-head calibration amax would mis-scale them.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeattn.calibrate.int8 import attach_head_scales
from edgeattn.errors import EdgeattnError

Q_SCALES = {"q": 0.05, "k": 0.02, "v": 0.125}
SITE = {"mha": {"heads_per_call": [2], "ops_per_call": ["MultiHeadAttention"],
                "amax_after": {"q": [1.0, 2.0], "k": [3.0, 4.0], "v": [5.0, 6.0], "p": [1.0, 1.0], "o": [7.0, 8.0]}}}


def _graph(quantized: tuple[str, ...] = ("q", "k", "v"), scale_shape: tuple[int, ...] = ()) -> onnx.ModelProto:
    nodes, inits, plugin_inputs = [], [], []
    for name in ("q", "k", "v"):
        if name not in quantized:
            plugin_inputs.append(name)
            continue
        scale = np.full(scale_shape, Q_SCALES[name], dtype=np.float32)
        inits += [numpy_helper.from_array(scale, f"{name}_s"), numpy_helper.from_array(np.array(0, np.int8), f"{name}_z")]
        nodes += [helper.make_node("QuantizeLinear", [name, f"{name}_s", f"{name}_z"], [f"{name}_q"], name=f"Q_{name}"),
                  helper.make_node("DequantizeLinear", [f"{name}_q", f"{name}_s", f"{name}_z"], [f"{name}_dq"],
                                   name=f"DQ_{name}")]
        plugin_inputs.append(f"{name}_dq")
    nodes.append(helper.make_node("MultiHeadAttention", plugin_inputs, ["out"], name="mha", domain="edgeattn",
                                  num_heads=2, scale=0.25, has_attn_bias=0, has_key_mask=0))
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 2, 4, 8]) for n in ("q", "k", "v")]
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)],
                              initializer=inits)
    return helper.make_model(graph)


def _attributes(model: onnx.ModelProto) -> dict[str, list[float]]:
    node = next(n for n in model.graph.node if n.op_type == "MultiHeadAttention")
    return {a.name: list(a.floats) for a in node.attribute if a.name.startswith("int8_")}


def test_qkv_scales_are_the_feeding_quantize_scales_and_p_o_the_calibrated_ones():
    model = _graph()
    attach_head_scales(model, SITE)
    scales = _attributes(model)
    for key, value in Q_SCALES.items():
        assert scales[f"int8_{key}_scales"] == pytest.approx([value, value], rel=1e-7), key
    assert scales["int8_p_scales"] == pytest.approx([1 / 127, 1 / 127])
    assert scales["int8_o_scales"] == pytest.approx([7 / 127, 8 / 127])


def test_a_per_head_quantize_scale_is_used_per_head():
    model = _graph(scale_shape=(2,))
    attach_head_scales(model, SITE)
    assert _attributes(model)["int8_k_scales"] == pytest.approx([0.02, 0.02])


def test_a_node_left_in_fp32_gets_no_int8_attributes():
    model = _graph(quantized=())
    attach_head_scales(model, SITE)
    assert _attributes(model) == {}


def test_a_partly_quantized_node_and_a_mismatched_scale_count_are_refused():
    with pytest.raises(EdgeattnError, match=r"has Q/DQ on \['k', 'q'\] only"):
        attach_head_scales(_graph(quantized=("q", "k")), SITE)
    with pytest.raises(EdgeattnError, match="has 3 scales for 2 heads"):
        attach_head_scales(_graph(scale_shape=(3,)), SITE)
