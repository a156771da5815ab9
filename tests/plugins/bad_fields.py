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


MHA = "MultiHeadAttention"
MHA_INPUTS = (("kFLOAT", [1, 2, 49, 32]), ("kFLOAT", [1, 2, 49, 32]), ("kFLOAT", [1, 2, 49, 32]))
MHA_FIELDS = {"num_heads": ("INT", 2), "scale": ("FLOAT", 0.1767766952966369), "has_attn_bias": ("INT", 0),
              "has_key_mask": ("INT", 0)}
MHA_QK = {"int8_q_scales": ("FLOATS", [0.01, 0.02]), "int8_k_scales": ("FLOATS", [0.01, 0.02])}


def _mha(case_id: str, expected: str, **kwargs: Any) -> BadField:
    return BadField(case_id, MHA, expected, inputs=MHA_INPUTS, **kwargs)


BAD_FIELDS += [
    _mha("mha_missing_num_heads", "required field 'num_heads'",
         attributes={k: v for k, v in MHA_FIELDS.items() if k != "num_heads"}),
    _mha("mha_missing_has_key_mask", "required field 'has_key_mask'",
         attributes={k: v for k, v in MHA_FIELDS.items() if k != "has_key_mask"}),
    _mha("mha_no_collection", "required field 'num_heads'", no_fields=True),
    _mha("mha_num_heads_float", "field 'num_heads' has type kFLOAT32; expected kINT32",
         attributes={**MHA_FIELDS, "num_heads": ("FLOAT", 2.0)}),
    _mha("mha_num_heads_two_values", "field 'num_heads' has 2 values; expected 1",
         attributes={**MHA_FIELDS, "num_heads": ("INTS", [2, 2])}),
    _mha("mha_num_heads_zero", "'num_heads' is 0; it must be at least 1",
         attributes={**MHA_FIELDS, "num_heads": ("INT", 0)}),
    _mha("mha_num_heads_negative", "'num_heads' is -2; it must be at least 1",
         attributes={**MHA_FIELDS, "num_heads": ("INT", -2)}),
    _mha("mha_scale_zero", "field 'scale' is 0.000000; it must be positive",
         attributes={**MHA_FIELDS, "scale": ("FLOAT", 0.0)}),
    _mha("mha_scale_inf", "it must be positive and finite",
         attributes={**MHA_FIELDS, "scale": ("FLOAT", float("inf"))}),
    _mha("mha_has_bias_two", "field 'has_attn_bias' is 2; it must be 0 or 1",
         attributes={**MHA_FIELDS, "has_attn_bias": ("INT", 2)}),
    _mha("mha_has_mask_negative", "field 'has_key_mask' is -1; it must be 0 or 1",
         attributes={**MHA_FIELDS, "has_key_mask": ("INT", -1)}),
    _mha("mha_has_bias_string", "field 'has_attn_bias' has type kCHAR",
         attributes={**MHA_FIELDS, "has_attn_bias": ("STRING", "1")}),
    _mha("mha_int8_per_head_length", "field 'int8_k_scales' has 3 values; expected 1 or num_heads = 2",
         attributes={**MHA_FIELDS, **MHA_QK, "int8_k_scales": ("FLOATS", [0.01, 0.02, 0.03])}),
    _mha("mha_int8_empty", "field 'int8_q_scales' has 0 values; expected at least 1",
         attributes={**MHA_FIELDS, **MHA_QK, "int8_q_scales": ("FLOATS", [])}),
    _mha("mha_int8_scale_negative_head", "an INT8 scale must be positive",
         attributes={**MHA_FIELDS, **MHA_QK, "int8_q_scales": ("FLOATS", [0.01, -0.02])}),
    _mha("mha_int8_o_scale_nan", "an INT8 scale must be positive",
         attributes={**MHA_FIELDS, **MHA_QK, "int8_o_scales": ("FLOATS", [0.01, float("nan")])}),
    _mha("mha_int8_k_without_q", "'int8_q_scales' and 'int8_k_scales' must be given together",
         attributes={**MHA_FIELDS, "int8_k_scales": ("FLOATS", [0.01, 0.02])}),
    _mha("mha_int8_p_without_v", "'int8_v_scales' and 'int8_p_scales' must be given together",
         attributes={**MHA_FIELDS, **MHA_QK, "int8_p_scales": ("FLOATS", [0.01, 0.02])}),
    _mha("mha_int8_vp_without_qk", "need 'int8_q_scales' and 'int8_k_scales'",
         attributes={**MHA_FIELDS, "int8_v_scales": ("FLOATS", [0.01]), "int8_p_scales": ("FLOATS", [0.01])}),
    _mha("mha_unknown_field", "field 'attn_bias' is not a field of this plugin",
         attributes=MHA_FIELDS, raw=(("attn_bias", "kFLOAT32", 1, float_field(0.0)),)),
    _mha("mha_negative_length", "field 'num_heads' has negative length -1",
         attributes={k: v for k, v in MHA_FIELDS.items() if k != "num_heads"},
         raw=(("num_heads", "kINT32", -1, "02000000"),)),
    _mha("mha_num_heads_int64", "field 'num_heads' has type kINT64",
         raw=(("num_heads", "kINT64", 1, "0200000000000000"),)),
]


RLA = "ReLULinearAttention"
RLA_INPUTS = (("kFLOAT", [1, 8, 196, 16]), ("kFLOAT", [1, 8, 196, 16]), ("kFLOAT", [1, 8, 196, 16]))
EPS = {"eps": ("FLOAT", 1e-5)}
RLA_QK = {"int8_q_scales": ("FLOATS", [0.01] * 8), "int8_k_scales": ("FLOATS", [0.01] * 8)}


def _rla(case_id: str, expected: str, **kwargs: Any) -> BadField:
    return BadField(case_id, RLA, expected, inputs=RLA_INPUTS, **kwargs)


BAD_FIELDS += [
    _rla("rla_missing_eps", "required field 'eps'", attributes={"plugin_version": ("STRING", "1")}),
    _rla("rla_no_collection", "required field 'eps'", no_fields=True),
    _rla("rla_eps_int", "field 'eps' has type kINT32; expected kFLOAT32", attributes={"eps": ("INT", 0)}),
    _rla("rla_eps_two_values", "field 'eps' has 2 values; expected 1", attributes={"eps": ("FLOATS", [1e-5, 1e-5])}),
    _rla("rla_eps_zero", "field 'eps' is 0.000000; it must be positive", attributes={"eps": ("FLOAT", 0.0)}),
    _rla("rla_eps_negative", "it must be positive and finite", attributes={"eps": ("FLOAT", -1e-5)}),
    _rla("rla_eps_nan", "it must be positive and finite", attributes={"eps": ("FLOAT", float("nan"))}),
    _rla("rla_int8_scale_zero", "an INT8 scale must be positive",
         attributes={**EPS, **RLA_QK, "int8_v_scales": ("FLOATS", [0.01] * 7 + [0.0])}),
    _rla("rla_int8_empty", "field 'int8_v_scales' has 0 values; expected at least 1",
         attributes={**EPS, **RLA_QK, "int8_v_scales": ("FLOATS", [])}),
    _rla("rla_int8_q_without_k", "'int8_q_scales' and 'int8_k_scales' must be given together",
         attributes={**EPS, "int8_q_scales": ("FLOATS", [0.01] * 8)}),
    _rla("rla_int8_v_without_qk", "'int8_v_scales' needs 'int8_q_scales' and 'int8_k_scales'",
         attributes={**EPS, "int8_v_scales": ("FLOATS", [0.01] * 8)}),
    _rla("rla_int8_scales_int", "field 'int8_q_scales' has type kINT32",
         attributes={**EPS, **RLA_QK, "int8_q_scales": ("INTS", [1] * 8)}),
    _rla("rla_unknown_field", "field 'int8_p_scales' is not a field of this plugin",
         attributes={**EPS, **RLA_QK}, raw=(("int8_p_scales", "kFLOAT32", 1, float_field(0.01)),)),
    _rla("rla_null_data", "field 'eps' has length 1 but no data", raw=(("eps", "kFLOAT32", 1, "null"),)),
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


@dataclass(frozen=True)
class BadShape:
    """Valid fields but input shapes the plugin cannot run: created, then every shape query, configure
    and launch plan refuses them with a logged reason containing `expected` (never a crash)."""

    id: str
    plugin: str
    expected: str
    attributes: dict[str, tuple[str, Any]]
    inputs: tuple[tuple[str, list[int]], ...]

    def request(self) -> Request:
        return Request(f"shape:{self.id}", self.plugin, list(self.inputs), dict(self.attributes))


MHA_BIAS = {**MHA_FIELDS, "num_heads": ("INT", 1), "has_attn_bias": ("INT", 1)}
MHA_MASK = {**MHA_FIELDS, "num_heads": ("INT", 8), "has_key_mask": ("INT", 1)}
EV_M = (("kFLOAT", [1, 1, 49, 16]), ("kFLOAT", [1, 1, 49, 16]), ("kFLOAT", [1, 1, 49, 32]))
DSVT = (("kFLOAT", [64, 8, 36, 24]),) * 3

BAD_SHAPES = [
    BadShape("mha_heads_differ_from_num_heads", MHA, "q has 2 heads; field 'num_heads' is 4",
             {**MHA_FIELDS, "num_heads": ("INT", 4)}, MHA_INPUTS),
    BadShape("mha_bias_input_missing", MHA, "expected 4 inputs and 1 outputs, got 3 and 1", MHA_BIAS, EV_M),
    BadShape("mha_bias_shape", MHA, "attn_bias [1, 49, 48] must be [H, N, M] or [B, H, N, M]", MHA_BIAS,
             (*EV_M, ("kFLOAT", [1, 49, 48]))),
    BadShape("mha_mask_shape", MHA, "key_mask [32, 36] must be [B, M] = [64, 36]", MHA_MASK,
             (*DSVT, ("kINT32", [32, 36]))),
    BadShape("mha_k_head_dim", MHA, "must be [B, H, M, D] with B, H, D of q", MHA_FIELDS,
             (MHA_INPUTS[0], ("kFLOAT", [1, 2, 49, 16]), MHA_INPUTS[2])),
    BadShape("mha_head_dim_over_256", MHA, "head dim 320 exceeds the kernel limit 256", MHA_FIELDS,
             (("kFLOAT", [1, 2, 49, 320]),) * 3),
    BadShape("mha_3d_inputs", MHA, "q, k and v must be 4-D", MHA_FIELDS, (("kFLOAT", [2, 49, 32]),) * 3),
    BadShape("rla_scales_for_other_heads", RLA, "field 'int8_q_scales' has 3 values for 8 heads",
             {**EPS, "int8_q_scales": ("FLOATS", [0.01] * 3), "int8_k_scales": ("FLOATS", [0.01] * 8)},
             RLA_INPUTS),
    BadShape("rla_v_tokens", RLA, "must be [B, H, N, Dv] with B, H, N of q", EPS,
             (*RLA_INPUTS[:2], ("kFLOAT", [1, 8, 49, 16]))),
    BadShape("rla_k_shape", RLA, "must have the same shape", EPS,
             (RLA_INPUTS[0], ("kFLOAT", [1, 8, 196, 32]), RLA_INPUTS[2])),
    BadShape("rla_3d_inputs", RLA, "q, k and v must be 4-D", EPS, (("kFLOAT", [8, 196, 16]),) * 3),
]
