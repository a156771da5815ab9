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


def _plugin_ops():
    from edgeattn.ops import all_ops

    return [op for op in all_ops() if op.plugin_kernels is not None]


@pytest.mark.parametrize("op", _plugin_ops(), ids=lambda op: op.name)
def test_the_readme_documents_the_accepted_types(op):
    """The op README's plugin table lists exactly the I/O types of a node with every INT8 scale."""
    from edgeattn.plugins.graph import case_launches

    launches = case_launches(op, op.spec.cases[0])
    documented = [line for line in (op.plugin_dir.parent / "README.md").read_text().splitlines()
                  if line.startswith("| k")]
    rows = [tuple(cell.strip() for cell in line.strip("|").split("|")[:len(launches[0].io_types)])
            for line in documented]
    assert rows == [launch.io_types for launch in launches]


def test_workspace_buffers_are_laid_out_like_reserve_workspace():
    import torch

    from edgeattn.kernels.aot import KernelLaunch
    from edgeattn.kernels.launches import workspace_names

    def kernel():
        """A stand-in kernel (only its name is used)."""

    a, b, x = torch.zeros(10), torch.zeros(3, dtype=torch.float16), torch.zeros(1)
    launch = KernelLaunch(kernel, (1,), {"x": "*fp32", "a": "*fp32", "n": "i32", "b": "*fp16", "K": "constexpr"},
                          {"K": 1}, (x, a, 5, b))
    names, size = workspace_names(launch, ("a", "b"))
    assert names == {a.data_ptr(): "ws+0", b.data_ptr(): "ws+256"} and size == 256 + 6
    with pytest.raises(EdgeattnError, match="no runtime parameter 'K'"):
        workspace_names(launch, ("K",))


def _launches(name, shapes, attributes=None):
    from edgeattn.ops import get_op

    return get_op(name).plugin_kernels.node_launches(attributes or {}, shapes)


def test_dfc_gate_map_lives_in_the_workspace():
    shapes = [[2, 8, 3, 3], [8, 1, 1, 5], [8], [8, 1, 5, 1], [8], [2, 8, 7, 7]]
    fp32, fp16 = _launches("DFCAttention", shapes)
    assert fp32.io_types == ("kFLOAT",) * 7 and fp16.io_types == ("kHALF",) * 7
    assert fp32.bindings == ("in0", "in1", "in2", "in3", "in4", "in5", "out0", "ws+0")
    assert fp32.workspace == 2 * 8 * 3 * 3 * 4
    assert "SCALE_H=f32:3edb6db7" in fp32.key and fp16.key.endswith(",*fp16,*fp32|" + fp32.key.split("|")[2])
    assert " grid=16,1,1 " in fp32.describe()
    assert _launches("DFCAttention", [["b", 8, 3, 3], *shapes[1:5], ["b", 8, 7, 7]])[0].key == fp32.key


def test_lka_bands_and_their_halo_live_in_the_workspace():
    shapes = [[1, 4, 40, 9], [4, 1, 5, 5], [4], [4, 1, 7, 7], [4]]
    fp32 = _launches("LargeKernelAttention", shapes, {"dilation": 3})[0]
    bands, rows = 3, 16 + 2 * 3 * 3
    assert fp32.workspace == 4 * bands * rows * 9 * 4 and fp32.bindings[-1] == "ws+0"
    assert "BAND=16" in fp32.key and "DILATION=3" in fp32.key and " grid=12,1,1 " in fp32.describe()
    with pytest.raises(UsageError, match="only the batch may be dynamic"):
        _launches("LargeKernelAttention", [[1, 4, "h", 9], *shapes[1:]], {"dilation": 3})


def test_set_attention_variants_do_not_depend_on_voxel_or_set_counts():
    attributes = {"num_heads": 8, "scale": 0.20412415266036987}
    small = _launches("SetAttention", [[5, 192]] * 3 + [[2, 36], [2, 36], [5]], attributes)
    symbolic = _launches("SetAttention", [["n", 192]] * 3 + [["s", 36], ["s", 36], ["n"]], attributes)
    large = _launches("SetAttention", [[20000, 192]] * 3 + [[1200, 36], [1200, 36], [20000]], attributes)
    assert [launch.key for launch in small] == [launch.key for launch in symbolic] == [launch.key for launch in large]
    indices = [("kINT32", "kINT32", "kINT32"), ("kINT64", "kINT32", "kINT64")]
    assert [launch.io_types[3:6] for launch in small] == indices * 2
    assert small[0].key.split("|")[1].startswith("*fp32,*fp32,*fp32,*i32,*i32,*i32,")
    assert small[1].key.split("|")[1].startswith("*fp32,*fp32,*fp32,*i64,*i32,*i64,")
    assert " grid=313,8,1 args=in0,in1,in2,in3,in4,in5,20000,1200,36,24," in large[0].describe()
    with pytest.raises(UsageError, match="only the voxel and set counts may be dynamic"):
        _launches("SetAttention", [["n", "c"]] * 3 + [["s", 36], ["s", 36], ["n"]], attributes)
