"""MobileViTv2: the reference model SHViT's paper compares against (no edgeattn op)."""

from edgeattn.backbones.spec import ModelSpec

SPECS = [
    ModelSpec(
        name="mobilevitv2_100",
        timm_name="mobilevitv2_100",
        family="mobilevitv2",
        source="timm",
        input_size=(3, 256, 256),
        mean=(0.0, 0.0, 0.0),
        std=(1.0, 1.0, 1.0),
        crop_pct=0.888,
        pretrained_tag="cvnets_in1k",
        fp32_sensitive=("GroupNorm(1) statistics", "separable self-attention context scores"),
        test_resolution=96,
        notes="Baseline for the SHViT speed comparison; exported without edgeattn ops.",
    )
]
