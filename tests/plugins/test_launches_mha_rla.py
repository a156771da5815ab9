"""MultiHeadAttention and ReLULinearAttention plugin launches (Python side of the C++ plans), no compiler."""

from __future__ import annotations

import pytest

from edgeattn.errors import UsageError

MHA_SHAPES = ([1, 2, 49, 32], [1, 2, 49, 32], [1, 2, 49, 32])
MHA = {"num_heads": 2, "scale": 0.25, "has_attn_bias": 0, "has_key_mask": 0}
MHA_INT8 = {"int8_q_scales": [0.5, 0.25], "int8_k_scales": [0.5, 0.25], "int8_v_scales": [0.5, 0.25],
            "int8_p_scales": [0.5, 0.25]}
RLA_SHAPES = ([1, 8, 196, 16], [1, 8, 196, 16], [1, 8, 196, 16])


def _launches(op: str, attributes: dict, shapes) -> list:
    from edgeattn.ops import get_op

    return get_op(op).plugin_kernels.node_launches(attributes, [list(s) for s in shapes])


def test_mha_optional_inputs_are_typed_and_bound_in_node_order():
    bias = _launches("MultiHeadAttention", {**MHA, "num_heads": 1, "has_attn_bias": 1},
                     ([4, 1, 49, 16], [4, 1, 49, 16], [4, 1, 49, 32], [1, 49, 49]))
    assert [launch.io_types for launch in bias] == [("kFLOAT",) * 5, ("kHALF",) * 5]
    assert bias[0].bindings == ("in0", "in1", "in2", "in3", "in0", "out0")
    assert "HAS_BIAS=True,HAS_MASK=False" in bias[0].key
    assert ",0,2401,49,1,0,0," in bias[0].describe()  # [H, N, M] bias: no batch stride; no mask strides
    mask = _launches("MultiHeadAttention", {**MHA, "num_heads": 8, "has_key_mask": 1},
                     (["sets", 8, 36, 24],) * 3 + (["sets", 36],))
    assert mask[1].io_types == ("kHALF", "kHALF", "kHALF", "kINT32", "kHALF")
    assert mask[0].key.startswith("attention_fwd_kernel|*fp32,*fp32,*fp32,*fp32,*i32,")
    assert mask[0].bindings == ("in0", "in1", "in2", "in0", "in3", "out0")
    assert mask[0].launch.grid[0] == 8  # a symbolic set count is planned as 1: the key does not depend on it


def test_mha_int8_per_head_scales_are_four_arrays_of_h_values():
    launches = _launches("MultiHeadAttention", {**MHA, **MHA_INT8}, MHA_SHAPES)
    assert [launch.io_types for launch in launches][2:] == [
        ("kINT8", "kINT8", "kFLOAT", "kFLOAT"), ("kINT8", "kINT8", "kHALF", "kHALF"),
        ("kINT8", "kINT8", "kINT8", "kHALF")]
    assert launches[4].bindings[5:9] == ("const+0", "const+8", "const+16", "const+24")
    assert launches[2].bindings[5:9] == ("const+0", "const+8", "const+0", "const+0")
    one = {name: [0.5] for name in MHA_INT8}
    assert [launch.describe() for launch in _launches("MultiHeadAttention", {**MHA, **one}, MHA_SHAPES)] == [
        launch.describe() for launch in _launches("MultiHeadAttention", {**MHA, **MHA_INT8}, MHA_SHAPES)]


def test_mha_refuses_inconsistent_nodes():
    with pytest.raises(UsageError, match="has_attn_bias=1 and has_key_mask=0 say 4"):
        _launches("MultiHeadAttention", {**MHA, "has_attn_bias": 1}, MHA_SHAPES)
    with pytest.raises(UsageError, match="num_heads=4 but q has 2 heads"):
        _launches("MultiHeadAttention", {**MHA, "num_heads": 4}, MHA_SHAPES)
    with pytest.raises(UsageError, match="has 3 values for 2 heads"):
        _launches("MultiHeadAttention", {**MHA, **MHA_INT8, "int8_k_scales": [1.0, 1.0, 1.0]}, MHA_SHAPES)
    with pytest.raises(UsageError, match="only its first dim may be symbolic"):
        _launches("MultiHeadAttention", MHA, ([1, 2, "n", 32],) * 3)


def test_rla_float_and_int8_launches():
    scales = {"int8_q_scales": [0.5] * 8, "int8_k_scales": [0.25] * 8, "int8_v_scales": [0.125] * 8}
    launches = _launches("ReLULinearAttention", {"eps": 1e-5, **scales}, RLA_SHAPES)
    assert [launch.io_types[2:] for launch in launches] == [
        ("kFLOAT", "kFLOAT"), ("kHALF", "kHALF"), ("kFLOAT", "kFLOAT"), ("kHALF", "kHALF"), ("kINT8", "kHALF")]
    fp32, int8_v = launches[0], launches[4]
    assert fp32.bindings == ("in0", "in1", "in2", "in0", "in0", "in0", "out0", "out0")
    assert fp32.key.endswith("|BLOCK_D=16,BLOCK_DV=16,BLOCK_N=64,EPS=f32:3727c5ac,QK_INT8=False,"
                             "STORE_STATE=False,V_INT8=False")
    assert " grid=8,1,1 args=in0,in1,in2,in0,in0,in0,196,16,16,8,25088,3136,16,1," in fp32.describe()
    assert int8_v.bindings[3:6] == ("const+0", "const+32", "const+64")
    assert launches[2].bindings[3:6] == ("const+0", "const+32", "const+0")
    assert "BLOCK_N=64" in int8_v.key and "QK_INT8=True" in int8_v.key and "V_INT8=True" in int8_v.key
    with pytest.raises(UsageError, match="has 3 values for 8 heads"):
        _launches("ReLULinearAttention", {"eps": 1e-5, **scales, "int8_q_scales": [0.5] * 3}, RLA_SHAPES)


def _readme_rows(op, columns: int) -> list[tuple[str, ...]]:
    lines = [line for line in (op.plugin_dir.parent / "README.md").read_text().splitlines() if line.startswith("| k")]
    return [tuple(cell.strip() for cell in line.strip("|").split("|")[:columns]) for line in lines]


def test_the_readmes_document_the_accepted_types():
    """The op READMEs' plugin tables list exactly the I/O types of a node with every input and INT8 scale."""
    from edgeattn.ops import get_op

    mha = get_op("MultiHeadAttention")
    attributes = {**MHA, "num_heads": 1, "has_attn_bias": 1, "has_key_mask": 1, **MHA_INT8}
    attributes.update({name: values[:1] for name, values in MHA_INT8.items()})
    shapes = ([4, 1, 49, 16], [4, 1, 49, 16], [4, 1, 49, 32], [1, 49, 49], [4, 49])
    assert _readme_rows(mha, 6) == [launch.io_types for launch in _launches(mha.name, attributes, shapes)]
    rla = get_op("ReLULinearAttention")
    case = rla.spec.cases[0]
    launches = _launches(rla.name, rla.plugin_kernels.case_attributes(case), [case.shapes[n] for n in rla.spec.inputs])
    assert _readme_rows(rla, 4) == [launch.io_types for launch in launches]
