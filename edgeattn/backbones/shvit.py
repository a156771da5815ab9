"""SHViT (single-head attention, CVPR 2024): timm-backed, deploy facts per variant."""

from edgeattn.backbones.spec import ModelSpec

_FACTS = dict(
    family="shvit",
    source="timm",
    stride=16,
    fp32_sensitive=("GroupNorm(1) statistics before each SHSA",),
    pretrained_tag="in1k",
    test_resolution=96,
    notes="16x patchify stem; single-head attention on a quarter of the channels in stages 2-3.",
)

SPECS = [
    ModelSpec(name="shvit_s1", timm_name="shvit_s1", **_FACTS),
    ModelSpec(name="shvit_s2", timm_name="shvit_s2", **_FACTS),
    ModelSpec(name="shvit_s3", timm_name="shvit_s3", **_FACTS),
    ModelSpec(name="shvit_s4", timm_name="shvit_s4", input_size=(3, 256, 256), **_FACTS),
]
