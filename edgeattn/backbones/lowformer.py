"""LowFormer (attention on a downsampled map, WACV 2025): timm-backed, deploy facts per variant."""

from edgeattn.backbones.spec import ModelSpec

_FACTS = dict(
    family="lowformer",
    source="timm",
    crop_pct=0.95,
    ops=("MultiHeadAttention",),
    fp32_sensitive=("GroupNorm(1) statistics", "softmax input"),
    test_resolution=96,
    notes="Lowtention: depthwise downsample -> MHA (head_dim 32) -> ConvTranspose upsample.",
)

SPECS = [
    ModelSpec(name=name, timm_name=name, pretrained_tag=None if name == "lowformer_b2" else "in1k", **_FACTS)
    for name in (
        "lowformer_b0", "lowformer_b1", "lowformer_b15", "lowformer_b2", "lowformer_b3",
        "lowformer_e1", "lowformer_e2", "lowformer_e3",
    )
]
