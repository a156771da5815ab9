"""SuperTokenAttention: reference vs a loop-by-loop oracle, portable ONNX (ORT), plugin ONNX
(ReferenceEvaluator), the torch custom op, the INT8 reference, and the OpDef's cost, cases and capture."""

from __future__ import annotations

import math

import numpy as np
import onnx
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from onnx.reference import ReferenceEvaluator
from ops_harness import (
    FLAVOURS,
    FUZZ,
    CaseRun,
    assert_plugin_nodes,
    assert_portable_graph,
    export_dynamic,
    export_op,
    random_inputs,
    reference,
    run_op,
    spec_cases,
)
from torch.export import Dim
from torch.utils.flop_counter import FlopCounterMode

from edgeattn.errors import UsageError
from edgeattn.ops import get_op
from edgeattn.ops.cases import make_case
from edgeattn.ops.cost import SOFTMAX_FLOPS
from edgeattn.ops.super_token_attention import int8_reference
from edgeattn.ops.super_token_attention.layout import StokenGrid
from edgeattn.ops.super_token_attention.reference import merge_heads, sample_super_tokens, upsample
from edgeattn.tolerances import OP_FP16_ATOL, OP_FP32_ATOL

OP = get_op("SuperTokenAttention")
SPEC_CASES = spec_cases(OP)


def sta_case(batch, channels, height, width, cell_h, cell_w, n_iter=1, heads=1):
    shapes = {
        "x": [batch, channels, height, width],
        "qkv_weight": [3 * channels, channels],
        "qkv_bias": [3 * channels],
        "proj_weight": [channels, channels],
        "proj_bias": [channels],
    }
    attributes = {"stoken_height": cell_h, "stoken_width": cell_w, "n_iter": n_iter, "num_heads": heads,
                  "assoc_scale": channels**-0.5, "attn_scale": (channels // heads) ** -0.5}
    return shapes, attributes


ODD_CASES = {
    "c12-13x11-cells4x3-iter2-heads3-batch2": sta_case(2, 12, 13, 11, 4, 3, n_iter=2, heads=3),
    "c8-7x7-cells8x8-one-padded-cell": sta_case(1, 8, 7, 7, 8, 8, heads=2),
    "c6-9x15-cells3x5-exact-grid": sta_case(1, 6, 9, 15, 3, 5, heads=2),
    "c10-5x17-cells2x2-iter3": sta_case(1, 10, 5, 17, 2, 2, n_iter=3, heads=5),
    "c4-1x1-map": sta_case(2, 4, 1, 1, 4, 4),
    "c16-6x6-cells1x1": sta_case(1, 16, 6, 6, 1, 1, heads=4),
}
ALL_CASES = {**SPEC_CASES, **ODD_CASES}


def sta_inputs(shapes, seed=42):
    """Seeded inputs with 1/sqrt(C)-scaled projections and small biases, so outputs are O(1)."""
    inputs = random_inputs(shapes, seed)
    channels = shapes["x"][1]
    for name in ("qkv_weight", "proj_weight"):
        inputs[name] = inputs[name] / math.sqrt(channels)
    for name in ("qkv_bias", "proj_bias"):
        inputs[name] = inputs[name] * 0.1
    return inputs


def _naive_sample(tokens, grid, n_iter, assoc_scale, count_padding=True):
    """Loop-by-loop super token sampling of one image; tokens: {(y, x): [C]} over the padded map."""
    height, width = grid.padded
    channels = next(iter(tokens.values())).shape[0]
    cells = [(i, j) for i in range(grid.rows) for j in range(grid.cols)]
    stokens = {c: torch.stack([tokens[(y, x)] for y in range(c[0] * grid.cell_h, (c[0] + 1) * grid.cell_h)
                               for x in range(c[1] * grid.cell_w, (c[1] + 1) * grid.cell_w)]).mean(0)
               for c in cells}
    zero = torch.zeros(channels, dtype=torch.float64)
    for _ in range(n_iter):
        assoc, weighted, mass = {}, {c: zero.clone() for c in cells}, {c: 0.0 for c in cells}
        for y in range(height):
            for x in range(width):
                i, j = y // grid.cell_h, x // grid.cell_w
                near = [(i + k // 3 - 1, j + k % 3 - 1) for k in range(9)]
                logits = torch.stack([tokens[(y, x)] @ stokens.get(n, zero) for n in near]) * assoc_scale
                assoc[(y, x)] = torch.softmax(logits, 0)
                if not count_padding and (y >= grid.height or x >= grid.width):
                    continue
                for k, n in enumerate(near):
                    if n in stokens:
                        weighted[n] += assoc[(y, x)][k] * tokens[(y, x)]
                        mass[n] += float(assoc[(y, x)][k])
        stokens = {c: weighted[c] / (mass[c] + 1e-12) for c in cells}
    return stokens, assoc, cells


def naive_super_token_attention(x, qkv_weight, qkv_bias, proj_weight, proj_bias, stoken_height,
                                stoken_width, n_iter, num_heads, assoc_scale, attn_scale,
                                count_padding=True):
    """The paper's three steps written as explicit loops over tokens and super tokens (float64)."""
    batch, channels, height0, width0 = x.shape
    grid = StokenGrid(height0, width0, stoken_height, stoken_width)
    height, width = grid.padded
    padded = torch.zeros(batch, channels, height, width, dtype=torch.float64)
    padded[:, :, :height0, :width0] = x.double()
    out = torch.zeros_like(padded)
    head_dim = channels // num_heads
    for b in range(batch):
        tokens = {(y, xx): padded[b, :, y, xx] for y in range(height) for xx in range(width)}
        stokens, assoc, cells = _naive_sample(tokens, grid, n_iter, assoc_scale, count_padding)
        s = torch.stack([stokens[c] for c in cells])
        qkv = s @ qkv_weight.double().T + qkv_bias.double()
        heads = []
        for h in range(num_heads):
            q, k, v = (qkv[:, (3 * h + p) * head_dim:(3 * h + p + 1) * head_dim] for p in range(3))
            heads.append(torch.softmax(q @ k.T * attn_scale, dim=-1) @ v)
        refined = torch.cat(heads, dim=1) @ proj_weight.double().T + proj_bias.double()
        by_cell = {c: refined[n] for n, c in enumerate(cells)}
        for (y, xx), a in assoc.items():
            i, j = y // stoken_height, xx // stoken_width
            near = [(i + k // 3 - 1, j + k % 3 - 1) for k in range(9)]
            out[b, :, y, xx] = sum(a[k] * by_cell[n] for k, n in enumerate(near) if n in by_cell)
    return out[:, :, :height0, :width0]


NAIVE_CASES = ["c12-13x11-cells4x3-iter2-heads3-batch2", "c8-7x7-cells8x8-one-padded-cell",
               "c6-9x15-cells3x5-exact-grid", "c4-1x1-map", "c16-6x6-cells1x1"]


@pytest.mark.parametrize("case_id", NAIVE_CASES)
def test_reference_matches_loop_by_loop_oracle(case_id):
    shapes, attributes = ODD_CASES[case_id]
    inputs = sta_inputs(shapes)
    expected = naive_super_token_attention(**inputs, **attributes)
    actual = OP.reference(**inputs, **attributes)
    torch.testing.assert_close(actual.double(), expected, atol=1e-5, rtol=1e-5)


def test_padding_tokens_count_in_the_association_mass():
    """Zero padding tokens join the association (uniform 1/9) and its normalising mass, as in STViT."""
    shapes, attributes = sta_case(1, 8, 7, 6, 4, 4)
    inputs = sta_inputs(shapes)
    without = naive_super_token_attention(**inputs, **attributes, count_padding=False)
    actual = OP.reference(**inputs, **attributes).double()
    assert (actual - without).abs().max() > 1e-3
    torch.testing.assert_close(actual, naive_super_token_attention(**inputs, **attributes), atol=1e-5, rtol=1e-5)


@FUZZ
@given(
    height=st.integers(1, 9), width=st.integers(1, 9), cell_h=st.integers(1, 4), cell_w=st.integers(1, 4),
    n_iter=st.integers(1, 2), heads=st.sampled_from([1, 2]), seed=st.integers(0, 2**16),
)
def test_fuzz_reference_against_oracle(height, width, cell_h, cell_w, n_iter, heads, seed):
    shapes, attributes = sta_case(1, 4, height, width, cell_h, cell_w, n_iter, heads)
    inputs = sta_inputs(shapes, seed)
    expected = naive_super_token_attention(**inputs, **attributes)
    torch.testing.assert_close(OP.reference(**inputs, **attributes).double(), expected, atol=1e-5, rtol=1e-5)


def test_reference_keeps_dtype_and_computes_in_fp32():
    shapes, attributes = ODD_CASES["c12-13x11-cells4x3-iter2-heads3-batch2"]
    half = {k: v.half() for k, v in sta_inputs(shapes).items()}
    out = OP.reference(**half, **attributes)
    assert out.dtype == torch.float16
    expected = OP.reference(**{k: v.float() for k, v in half.items()}, **attributes)
    torch.testing.assert_close(out.float(), expected, atol=OP_FP16_ATOL, rtol=0)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"qkv_weight": torch.zeros(12, 6)}, "qkv_weight"),
        ({"proj_bias": torch.zeros(5)}, "proj_bias"),
        ({"x": torch.zeros(6, 5, 5)}, "B, C, H, W"),
        ({"num_heads": 4}, "num_heads must divide C"),
        ({"n_iter": 0}, "n_iter"),
        ({"stoken_width": 0}, "Super-token size"),
    ],
    ids=["qkv-weight", "proj-bias", "3-d-x", "heads", "n-iter", "cell-width"],
)
def test_reference_rejects_bad_inputs(change, match):
    shapes, attributes = sta_case(1, 6, 5, 5, 2, 2, heads=2)
    arguments = {**sta_inputs(shapes), **attributes, **change}
    with pytest.raises(UsageError, match=match):
        OP.reference(**arguments)


def test_torch_op_is_one_node_with_fake_shape():
    shapes, attributes = ODD_CASES["c12-13x11-cells4x3-iter2-heads3-batch2"]
    inputs = sta_inputs(shapes)

    class Call(torch.nn.Module):
        def forward(self, x):
            weights = (inputs[n] for n in ("qkv_weight", "qkv_bias", "proj_weight", "proj_bias"))
            return OP.torch_op(x, *weights, **attributes)

    program = torch.export.export(Call(), (inputs["x"],))
    targets = [n.target for n in program.graph.nodes if n.op == "call_function"]
    assert targets.count(torch.ops.edgeattn.super_token_attention.default) == 1
    torch.testing.assert_close(program.module()(inputs["x"]), OP.reference(**inputs, **attributes))


@pytest.fixture(scope="module")
def cases():
    overrides = {cid: sta_inputs(shapes) for cid, (shapes, _) in ALL_CASES.items()}
    return CaseRun(OP, ALL_CASES, overrides=overrides)


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("case_id", ALL_CASES)
def test_onnx_flavour_matches_reference(cases, case_id, flavour):
    cases.check(case_id, flavour)


def test_portable_graph_gathers_neighbourhoods_with_index_tables(cases):
    model = cases.model("portable")
    assert_portable_graph(model)
    kinds = {n.op_type for n in model.graph.node}
    assert {"Gather", "Softmax", "MatMul", "ReduceSum"} <= kinds
    assert not kinds & {"ScatterND", "ScatterElements", "Loop", "If"}


def test_plugin_graph_has_one_node_per_call(cases):
    model = cases.model("plugins")
    assert_plugin_nodes(model, "SuperTokenAttention", len(ALL_CASES))
    nodes = [n for n in model.graph.node if n.domain == "edgeattn"]
    for node, (_, attributes) in zip(nodes, ALL_CASES.values(), strict=True):
        values = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        assert set(values) == set(attributes) | {"plugin_namespace", "plugin_version"}
        assert {k: values[k] for k in ("stoken_height", "stoken_width", "n_iter", "num_heads")} == {
            k: attributes[k] for k in ("stoken_height", "stoken_width", "n_iter", "num_heads")}
        assert values["assoc_scale"] == pytest.approx(attributes["assoc_scale"], rel=1e-7)
        assert len(node.input) == 5


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_export_is_byte_identical_twice(flavour):
    shapes, attributes = ODD_CASES["c6-9x15-cells3x5-exact-grid"]
    inputs = sta_inputs(shapes)
    first = export_op(OP, inputs, attributes, flavour).SerializeToString()
    assert first == export_op(OP, inputs, attributes, flavour).SerializeToString()


def test_fp16_portable_matches_reference():
    shapes, attributes = ODD_CASES["c12-13x11-cells4x3-iter2-heads3-batch2"]
    inputs = {k: v.half() for k, v in sta_inputs(shapes).items()}
    actual = run_op(export_op(OP, inputs, attributes, "portable"), "portable", inputs)
    assert actual.dtype == np.float16
    expected = reference(OP, {k: v.float() for k, v in inputs.items()}, attributes)
    np.testing.assert_allclose(actual.astype(np.float32), expected, atol=OP_FP16_ATOL, rtol=0)


@pytest.fixture(scope="module")
def dynamic_batch_portable():
    shapes, attributes = sta_case(2, 6, 11, 10, 4, 3, heads=2)
    model = export_dynamic(OP, sta_inputs(shapes), attributes, {"x": {0: Dim("batch", min=1, max=8)}})
    return model, attributes


@pytest.mark.parametrize("batch", [1, 3, 5])
def test_portable_runs_any_batch(dynamic_batch_portable, batch):
    model, attributes = dynamic_batch_portable
    shapes, _ = sta_case(batch, 6, 11, 10, 4, 3, heads=2)
    inputs = sta_inputs(shapes, seed=batch)
    np.testing.assert_allclose(run_op(model, "portable", inputs), reference(OP, inputs, attributes),
                               atol=OP_FP32_ATOL, rtol=1e-4)


def qk_amax_scales(inputs, attributes):
    """Per-head max-abs scales (amax / 127) of the super-token q and k, from the reference's pieces."""
    grid = StokenGrid(*inputs["x"].shape[2:], attributes["stoken_height"], attributes["stoken_width"])
    stokens, _ = sample_super_tokens(inputs["x"], grid, attributes["n_iter"], attributes["assoc_scale"])
    qkv = torch.nn.functional.linear(stokens, inputs["qkv_weight"], inputs["qkv_bias"])
    heads = attributes["num_heads"]
    parts = qkv.reshape(*qkv.shape[:2], heads, 3, -1)
    return [parts[..., p, :].abs().amax(dim=(0, 1, 3)) / 127 for p in (0, 1)]


def test_int8_reference_quantizes_only_the_super_token_attention():
    shapes, attributes = sta_case(1, 64, 13, 11, 4, 3, heads=2)
    inputs = sta_inputs(shapes)
    q_scale, k_scale = qk_amax_scales(inputs, attributes)
    expected = OP.reference(**inputs, **attributes)
    fitted = int8_reference.super_token_attention_int8(**inputs, **attributes, q_scale=q_scale, k_scale=k_scale)
    error = (fitted - expected).abs().max()
    assert 0 < error < 1e-2 * expected.abs().max()
    coarse = int8_reference.super_token_attention_int8(**inputs, **attributes, q_scale=q_scale * 20,
                                                       k_scale=k_scale * 20)
    assert (coarse - expected).abs().max() > 5 * error


def test_int8_quantize_heads_rounds_half_up_and_saturates():
    x = torch.tensor([-300.0, -2.5, -0.5, 0.49, 0.5, 1.5, 300.0]).reshape(1, 1, 1, -1)
    codes = int8_reference.quantize_heads(x, torch.ones(1))
    assert codes.dtype == torch.int8
    assert codes.flatten().tolist() == [-127, -2, 0, 0, 1, 2, 127]


@pytest.mark.parametrize("case_id", ["c12-13x11-cells4x3-iter2-heads3-batch2", *SPEC_CASES])
def test_cost_counts_the_reference_matmuls_plus_the_softmaxes(case_id):
    """OpDef.cost against torch's FLOP counter on the reference (which counts matmuls only): the model
    adds the 9-way association softmax per token and iteration and the super-token attention softmax."""
    shapes, attributes = ALL_CASES[case_id]
    inputs = sta_inputs(shapes)
    counter = FlopCounterMode(display=False)
    with counter:
        OP.reference(**inputs, **attributes)
    grid = StokenGrid(*shapes["x"][2:], attributes["stoken_height"], attributes["stoken_width"])
    batch, tokens = shapes["x"][0], grid.cells * grid.tokens_per_cell
    softmaxes = SOFTMAX_FLOPS * batch * (attributes["n_iter"] * tokens * 9 + attributes["num_heads"] * grid.cells**2)
    cost = OP.cost({name: tuple(shape) for name, shape in shapes.items()}, attributes)
    assert cost.flops == counter.get_total_flops() + softmaxes
    assert cost.output_elements == math.prod(shapes["x"])
    assert cost.input_elements == sum(math.prod(shape) for shape in shapes.values())


def test_make_case_gives_a_batched_call_with_o1_outputs():
    case = OP.spec.test_cases[1]
    oc = make_case(OP, case, batch=2)
    x, qkv_weight = oc.inputs[:2]
    assert tuple(x.shape) == (2, *case.shapes["x"][1:]) and tuple(qkv_weight.shape) == tuple(case.shapes["qkv_weight"])
    out = OP.reference(*oc.inputs, **oc.attrs)
    assert 0.05 < float(out.std()) < 5
    assert oc.flops == OP.cost({"x": tuple(x.shape), **{n: tuple(s) for n, s in case.shapes.items() if n != "x"}},
                               dict(case.attributes)).flops


def test_capture_is_the_super_token_attention_of_the_call():
    """capture's q, k, v, p, o are the op's own intermediate tensors: o through proj and the upsampling
    gives the op's output, and p's rows are probabilities."""
    shapes, attributes = ODD_CASES["c12-13x11-cells4x3-iter2-heads3-batch2"]
    inputs = sta_inputs(shapes)
    stats = OP.capture(*inputs.values(), *attributes.values())
    grid = StokenGrid(13, 11, 4, 3)
    assert stats["q"].shape == stats["o"].shape == (2, 3, grid.cells, 4)
    assert stats["p"].shape == (2, 3, grid.cells, grid.cells)
    torch.testing.assert_close(stats["p"].sum(-1), torch.ones(2, 3, grid.cells))
    _, assoc = sample_super_tokens(inputs["x"], grid, attributes["n_iter"], attributes["assoc_scale"])
    refined = merge_heads(stats["o"], inputs["proj_weight"], inputs["proj_bias"])
    out = upsample(refined, assoc, grid, inputs["x"].shape)
    torch.testing.assert_close(out, OP.reference(**inputs, **attributes), atol=1e-6, rtol=1e-6)


def _one_node_graph(inputs, attributes):
    """A graph of one SuperTokenAttention node with `attributes`, run by the ReferenceEvaluator."""
    values = [onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, list(t.shape)) for n, t in inputs.items()]
    node = onnx.helper.make_node(OP.name, list(inputs), ["out"], domain="edgeattn", **attributes)
    graph = onnx.helper.make_graph([node], "sta", values,
                                   [onnx.helper.make_tensor_value_info("out", onnx.TensorProto.FLOAT, None)])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 18),
                                                         onnx.helper.make_opsetid("edgeattn", 1)])
    return ReferenceEvaluator(model, new_ops=[OP.evaluator]).run(None, {n: t.numpy() for n, t in inputs.items()})[0]


def test_int8_plugin_node_runs_the_int8_reference():
    """With per-head scale attributes (INT8 plugin graphs) the evaluator computes the INT8 kernels' maths."""
    shapes, attributes = sta_case(1, 64, 13, 11, 4, 3, heads=2)
    inputs = sta_inputs(shapes)
    q_scale, k_scale = qk_amax_scales(inputs, attributes)
    scaled = _one_node_graph(inputs, {**attributes, "int8_q_scales": q_scale.tolist(),
                                      "int8_k_scales": k_scale.tolist()})
    plain = _one_node_graph(inputs, attributes)
    expected = int8_reference.super_token_attention_int8(**inputs, **attributes, q_scale=q_scale, k_scale=k_scale)
    np.testing.assert_allclose(scaled, expected.numpy(), atol=1e-6)
    np.testing.assert_allclose(plain, reference(OP, inputs, attributes), atol=1e-6)
    assert np.abs(scaled - plain).max() > 1e-5


def test_the_op_replaces_the_stvit_super_token_module():
    (swap,) = OP.swaps
    assert swap.source_class().__name__ == "StokenAttention"
    assert OP.int8.quantized_inputs == 0 and OP.int8.head_scales
