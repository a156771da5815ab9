"""Bad plugin fields: each must make createPlugin return nullptr with one logged reason.

Fields come as TensorRT's ONNX parser would build them from a bad node (`attributes`) or verbatim
(`raw`: name, PluginFieldType name, length, hex data or "null"), or there is no collection at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from plugin_helpers import Request, float_field


@dataclass(frozen=True)
class BadField:
    id: str
    plugin: str
    expected: str  #: text the single ERROR log line must contain
    attributes: dict[str, tuple[str, Any]] = field(default_factory=dict)
    raw: tuple[tuple[str, str, int, str], ...] = ()
    no_fields: bool = False
    inputs: tuple[tuple[str, list[int]], ...] = ()

    def request(self) -> Request:
        return Request(f"bad:{self.id}", self.plugin, list(self.inputs), dict(self.attributes), list(self.raw),
                       self.no_fields)


SHA = "SingleHeadAttention"
SHA_INPUTS = (("kFLOAT", [1, 16, 49]), ("kFLOAT", [1, 16, 49]), ("kFLOAT", [1, 48, 49]))
SCALE = {"scale": ("FLOAT", 0.25)}
QK = {"int8_q_scales": ("FLOATS", [0.01]), "int8_k_scales": ("FLOATS", [0.01])}


def _sha(case_id: str, expected: str, **kwargs: Any) -> BadField:
    return BadField(case_id, SHA, expected, inputs=SHA_INPUTS, **kwargs)


BAD_FIELDS = [
    _sha("sha_missing_scale", "required field 'scale'", attributes={"plugin_version": ("STRING", "1")}),
    _sha("sha_no_collection", "required field 'scale'", no_fields=True),
    _sha("sha_scale_int", "field 'scale' has type kINT32; expected kFLOAT32", attributes={"scale": ("INT", 1)}),
    _sha("sha_scale_string", "field 'scale' has type kCHAR", attributes={"scale": ("STRING", "0.25")}),
    _sha("sha_scale_two_values", "field 'scale' has 2 values; expected 1",
         attributes={"scale": ("FLOATS", [0.25, 0.5])}),
    _sha("sha_scale_empty", "field 'scale' has 0 values; expected 1", attributes={"scale": ("FLOATS", [])}),
    _sha("sha_scale_negative", "it must be positive and finite", attributes={"scale": ("FLOAT", -0.25)}),
    _sha("sha_scale_nan", "it must be positive and finite", attributes={"scale": ("FLOAT", float("nan"))}),
    _sha("sha_int8_scale_negative", "an INT8 scale must be positive",
         attributes={**SCALE, **QK, "int8_k_scales": ("FLOATS", [-0.01])}),
    _sha("sha_int8_scale_zero", "an INT8 scale must be positive",
         attributes={**SCALE, **QK, "int8_o_scales": ("FLOATS", [0.0])}),
    _sha("sha_int8_per_head_length", "field 'int8_q_scales' has 2 values; expected 1",
         attributes={**SCALE, **QK, "int8_q_scales": ("FLOATS", [0.01, 0.02])}),
    _sha("sha_int8_q_without_k", "'int8_q_scales' and 'int8_k_scales' must be given together",
         attributes={**SCALE, "int8_q_scales": ("FLOATS", [0.01])}),
    _sha("sha_int8_v_without_p", "'int8_v_scales' and 'int8_p_scales' must be given together",
         attributes={**SCALE, **QK, "int8_v_scales": ("FLOATS", [0.01])}),
    _sha("sha_int8_vp_without_qk", "need 'int8_q_scales' and 'int8_k_scales'",
         attributes={**SCALE, "int8_v_scales": ("FLOATS", [0.01]), "int8_p_scales": ("FLOATS", [0.01])}),
    _sha("sha_unknown_field", "field 'scales' is not a field of this plugin",
         attributes=SCALE, raw=(("scales", "kFLOAT32", 1, float_field(0.25)),)),
    _sha("sha_duplicate_field", "field 'scale' is given twice",
         attributes=SCALE, raw=(("scale", "kFLOAT32", 1, float_field(0.25)),)),
    _sha("sha_negative_length", "field 'scale' has negative length -1",
         raw=(("scale", "kFLOAT32", -1, float_field(0.25)),)),
    _sha("sha_null_data", "field 'scale' has length 1 but no data", raw=(("scale", "kFLOAT32", 1, "null"),)),
    _sha("sha_scale_fp16", "field 'scale' has type kFLOAT16", raw=(("scale", "kFLOAT16", 1, "0034"),)),
]


DFC = "DFCAttention"
DFC_INPUTS = (("kFLOAT", [1, 8, 3, 3]), ("kFLOAT", [8, 1, 1, 5]), ("kFLOAT", [8]), ("kFLOAT", [8, 1, 5, 1]),
              ("kFLOAT", [8]), ("kFLOAT", [1, 8, 7, 7]))


def _dfc(case_id: str, expected: str, **kwargs: Any) -> BadField:
    return BadField(case_id, DFC, expected, inputs=DFC_INPUTS, **kwargs)


LKA = "LargeKernelAttention"
LKA_INPUTS = (("kFLOAT", [1, 8, 14, 14]), ("kFLOAT", [8, 1, 5, 5]), ("kFLOAT", [8]), ("kFLOAT", [8, 1, 7, 7]),
              ("kFLOAT", [8]))


def _lka(case_id: str, expected: str, **kwargs: Any) -> BadField:
    return BadField(case_id, LKA, expected, inputs=LKA_INPUTS, **kwargs)


SA = "SetAttention"
SA_INPUTS = (("kFLOAT", [49, 24]), ("kFLOAT", [49, 24]), ("kFLOAT", [49, 24]), ("kINT64", [7, 7]),
             ("kINT32", [7, 7]), ("kINT64", [49]))
HEADS = {"num_heads": ("INT", 3)}
SA_SCALE = {"scale": ("FLOAT", 0.35)}


def _sa(case_id: str, expected: str, **kwargs: Any) -> BadField:
    return BadField(case_id, SA, expected, inputs=SA_INPUTS, **kwargs)


BAD_FIELDS += [
    _dfc("dfc_int8_scale_is_no_field", "field 'int8_q_scales' is not a field of this plugin",
         raw=(("int8_q_scales", "kFLOAT32", 1, float_field(0.01)),)),
    _dfc("dfc_attribute_is_no_field", "field 'dilation' is not a field of this plugin",
         raw=(("dilation", "kINT32", 1, "03000000"),)),
    _lka("lka_missing_dilation", "required field 'dilation'", attributes={"plugin_version": ("STRING", "1")}),
    _lka("lka_no_collection", "required field 'dilation'", no_fields=True),
    _lka("lka_dilation_float", "field 'dilation' has type kFLOAT32; expected kINT32",
         attributes={"dilation": ("FLOAT", 3.0)}),
    _lka("lka_dilation_int64", "field 'dilation' has type kINT64",
         raw=(("dilation", "kINT64", 1, "0300000000000000"),)),
    _lka("lka_dilation_two_values", "field 'dilation' has 2 values; expected 1",
         attributes={"dilation": ("INTS", [3, 3])}),
    _lka("lka_dilation_zero", "'dilation' is 0; it must lie in [1, 1024]", attributes={"dilation": ("INT", 0)}),
    _lka("lka_dilation_negative", "'dilation' is -3; it must lie in [1, 1024]", attributes={"dilation": ("INT", -3)}),
    _lka("lka_dilation_huge", "'dilation' is 4096; it must lie in [1, 1024]", attributes={"dilation": ("INT", 4096)}),
    _lka("lka_null_data", "field 'dilation' has length 1 but no data", raw=(("dilation", "kINT32", 1, "null"),)),
    _sa("sa_missing_heads", "required field 'num_heads'", attributes=SA_SCALE),
    _sa("sa_missing_scale", "required field 'scale'", attributes=HEADS),
    _sa("sa_no_collection", "required field 'num_heads'", no_fields=True),
    _sa("sa_heads_zero", "'num_heads' is 0; it must lie in [1, 65535]",
        attributes={**SA_SCALE, "num_heads": ("INT", 0)}),
    _sa("sa_heads_negative", "'num_heads' is -8; it must lie in [1, 65535]",
        attributes={**SA_SCALE, "num_heads": ("INT", -8)}),
    _sa("sa_heads_float", "field 'num_heads' has type kFLOAT32; expected kINT32",
        attributes={**SA_SCALE, "num_heads": ("FLOAT", 3.0)}),
    _sa("sa_scale_int", "field 'scale' has type kINT32; expected kFLOAT32", attributes={**HEADS, "scale": ("INT", 1)}),
    _sa("sa_scale_zero", "it must be positive and finite", attributes={**HEADS, "scale": ("FLOAT", 0.0)}),
    _sa("sa_scale_inf", "it must be positive and finite", attributes={**HEADS, "scale": ("FLOAT", float("inf"))}),
    _sa("sa_scale_two_values", "field 'scale' has 2 values; expected 1",
        attributes={**HEADS, "scale": ("FLOATS", [0.35, 0.35])}),
    _sa("sa_int8_scale_is_no_field", "field 'int8_q_scales' is not a field of this plugin",
        attributes={**HEADS, **SA_SCALE}, raw=(("int8_q_scales", "kFLOAT32", 1, float_field(0.01)),)),
    _sa("sa_negative_length", "field 'num_heads' has negative length -1", attributes=SA_SCALE,
        raw=(("num_heads", "kINT32", -1, "03000000"),)),
]
