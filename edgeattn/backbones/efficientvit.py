"""EfficientViT: MIT B/L (ReLU linear attention) and MSRA M (cascaded group attention), timm-backed."""

from edgeattn.backbones.spec import ModelSpec

_MIT = dict(
    source="timm",
    crop_pct=0.95,
    fp32_sensitive=("LiteMLA kᵀv state, normaliser and division", "LayerNorm statistics (L series)"),
    pretrained_tag="r224_in1k",
    test_resolution=96,
    notes="LiteMLA: ReLU linear attention with multi-scale aggregation; official code runs it in fp32.",
)
_MSRA = dict(
    family="efficientvit-m",
    source="timm",
    fp32_sensitive=("softmax input with relative position bias",),
    pretrained_tag="r224_in1k",
    test_resolution=96,
    notes="Cascaded group attention: one head at a time, each fed by the previous head's output.",
)

SPECS = [
    *(ModelSpec(name=n, timm_name=n, family="efficientvit-b", **_MIT) for n in
      ("efficientvit_b0", "efficientvit_b1", "efficientvit_b2", "efficientvit_b3")),
    *(ModelSpec(name=n, timm_name=n, family="efficientvit-l", **{**_MIT, "crop_pct": 1.0}) for n in
      ("efficientvit_l1", "efficientvit_l2", "efficientvit_l3")),
    *(ModelSpec(name=f"efficientvit_m{i}", timm_name=f"efficientvit_m{i}", **_MSRA) for i in range(6)),
]
