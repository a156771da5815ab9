"""GhostNetV2 (DFC attention, NeurIPS 2022): timm-backed, deploy facts per variant."""

from edgeattn.backbones.spec import ModelSpec

_FACTS = dict(
    family="ghostnetv2",
    source="timm",
    fp32_sensitive=(),
    pretrained_tag="in1k",
    test_resolution=96,
    notes="DFC gate: avgpool 2x -> 1x1 -> DW 1x5 -> DW 5x1 -> sigmoid -> nearest resize -> multiply.",
)

SPECS = [ModelSpec(name=name, timm_name=name, **_FACTS) for name in ("ghostnetv2_100", "ghostnetv2_130", "ghostnetv2_160")]
