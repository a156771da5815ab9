"""LowFormer (attention on a downsampled map, WACV 2025): timm-backed, deploy facts per variant."""

from edgeattn.backbones.spec import ModelSpec

_FACTS = dict(
    family="lowformer",
    source="timm",
    crop_pct=0.95,
    fp32_sensitive=("GroupNorm(1) statistics", "softmax input"),
    test_resolution=96,
    notes="Lowtention: depthwise downsample -> MHA (head_dim 32) -> ConvTranspose upsample.",
)

_CONV_ONLY = dict(notes="timm's E1/E2 configurations have no attention stage: a convolutional baseline.")

SPECS = [
    ModelSpec(name=name, timm_name=name, pretrained_tag=None if name == "lowformer_b2" else "in1k",
              **{**_FACTS, **(_CONV_ONLY if name in ("lowformer_e1", "lowformer_e2") else {})})
    for name in (
        "lowformer_b0", "lowformer_b1", "lowformer_b15", "lowformer_b2", "lowformer_b3",
        "lowformer_e1", "lowformer_e2", "lowformer_e3",
    )
]
