"""Variant keys and recorded launches (Python side of the C++ KernelCall), no compiler needed."""

from __future__ import annotations

import pytest

from edgeattn.errors import EdgeattnError, UsageError
from edgeattn.kernels.launches import constexpr_text


def _sha_launches(attributes, shapes=([1, 16, 49], [1, 16, 49], [1, 48, 49])):
    from edgeattn.ops import get_op

    return get_op("SingleHeadAttention").plugin_kernels.node_launches(attributes, list(shapes))


def test_constexprs_are_spelled_like_the_cpp_key():
    assert constexpr_text(True) == "True"
    assert constexpr_text(64) == "64"
    assert constexpr_text(0.25) == "f32:3e800000"
    with pytest.raises(EdgeattnError, match="not a float32 value"):
        constexpr_text(0.1)


def test_float_node_launches_one_variant_per_float_type():
    launches = _sha_launches({"scale": 0.25})
    assert [launch.io_types for launch in launches] == [("kFLOAT",) * 4, ("kHALF",) * 4]
    fp32 = launches[0]
    assert fp32.key.startswith("attention_fwd_kernel|*fp32,*fp32,*fp32,*fp32,*fp32,i32,")
    assert fp32.key.endswith("|BLOCK_D=16,BLOCK_DV=64,BLOCK_M=64,BLOCK_N=64,HAS_BIAS=False,HAS_MASK=False,"
                             "SCALE=f32:3e800000")
    assert fp32.bindings == ("in0", "in1", "in2", "in0", "in0", "out0")
    assert " grid=1,1,1 args=in0,in1,in2,in0,in0,49,49,16,48,1,784,49,1,49," in fp32.describe()


def test_int8_scales_add_the_int8_variants():
    qk = {"scale": 0.25, "int8_q_scales": [0.5], "int8_k_scales": [0.5]}
    launches = _sha_launches({**qk, "int8_v_scales": [0.5], "int8_p_scales": [0.5]})
    assert [launch.io_types for launch in launches][2:] == [
        ("kINT8", "kINT8", "kFLOAT", "kFLOAT"), ("kINT8", "kINT8", "kHALF", "kHALF"),
        ("kINT8", "kINT8", "kINT8", "kHALF")]
    assert launches[4].bindings == ("in0", "in1", "in2", "in0", "in0", "const+0", "const+4", "const+8",
                                    "const+12", "out0", "out0")
    assert launches[2].bindings[5:9] == ("const+0", "const+4", "const+0", "const+0")
    assert "V_INT8=True" in launches[4].key and "BLOCK_D=32" in launches[4].key
    assert len(_sha_launches(qk)) == 4


def test_a_symbolic_batch_is_planned_as_one_and_other_symbols_are_refused():
    batch = _sha_launches({"scale": 0.25}, (["b", 16, 49], ["b", 16, 49], ["b", 48, 49]))
    assert [launch.key for launch in batch] == [launch.key for launch in _sha_launches({"scale": 0.25})]
    with pytest.raises(UsageError, match="channels and tokens must be static"):
        _sha_launches({"scale": 0.25}, ([1, 16, "n"], [1, 16, "n"], [1, 48, "n"]))


def test_the_readme_documents_the_accepted_types():
    """The op README's plugin table lists exactly the I/O types of a node with every INT8 scale."""
    from edgeattn.ops import get_op

    op = get_op("SingleHeadAttention")
    attributes = op.plugin_kernels.case_attributes(op.spec.cases[0])
    documented = [line for line in (op.plugin_dir.parent / "README.md").read_text().splitlines()
                  if line.startswith("| k")]
    rows = [tuple(cell.strip() for cell in line.strip("|").split("|")[:4]) for line in documented]
    assert rows == [launch.io_types for launch in op.plugin_kernels.node_launches(attributes, [
        op.spec.cases[0].shapes[name] for name in op.spec.inputs])]
