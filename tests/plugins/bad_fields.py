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
