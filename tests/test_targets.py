import pytest
from pydantic import ValidationError

from edgeattn.exporters.targets import TargetProfile, get_target, list_targets
from edgeattn.errors import UsageError

REQUIRED = ("jetson-orin-nano", "jetson-orin-nx", "jetson-agx-orin", "jetson-thor", "gpu-ampere", "gpu-ada",
            "gpu-hopper", "cpu-x86", "cpu-arm")


def test_required_targets_exist():
    names = {t.name for t in list_targets()}
    assert set(REQUIRED) <= names


def test_jetson_alias_is_orin_on_jetpack6():
    target = get_target("jetson")
    assert target.compute_capability == "8.7"
    assert target.default_tensorrt.version == "10.3"
    assert not target.default_tensorrt.python_plugins


def test_tensorrt_lines_follow_the_field():
    assert [line.version for line in get_target("jetson-agx-orin").tensorrt] == ["10.3", "10.16", "11.4"]
    assert get_target("gpu-hopper").default_tensorrt.strongly_typed_only
    assert get_target("jetson-orin-nx").dla_cores == 2
    assert get_target("jetson-thor").dla_cores == 0
    assert get_target("jetson-thor").sm == "sm_110"


def test_unknown_target_lists_choices():
    with pytest.raises(UsageError) as info:
        get_target("jetsn")
    assert "jetson-orin-nano" in info.value.hint


def test_profiles_are_validated():
    with pytest.raises(ValidationError):
        TargetProfile(name="bad", kind="gpu", description="no arch", memory_gb=8, workspace_mb=1024,
                      peak_fp32_tflops=1, peak_fp16_tflops=1, peak_int8_tops=1, memory_bandwidth_gbs=1)
    with pytest.raises(ValidationError):
        TargetProfile(name="bad", kind="cpu", description="workspace too big", memory_gb=1, workspace_mb=4096,
                      peak_fp32_tflops=1, peak_fp16_tflops=1, peak_int8_tops=1, memory_bandwidth_gbs=1)
