import pytest

from edgeattn.backbones import get_spec, list_models
from edgeattn.backbones.stats import model_ops, load_stats, measure
from edgeattn.errors import UsageError

REQUIRED = (
    [f"shvit_s{i}" for i in range(1, 5)]
    + [f"lowformer_{v}" for v in ("b0", "b1", "b15", "b2", "b3", "e1", "e2", "e3")]
    + ["ghostnetv2_100", "ghostnetv2_130", "ghostnetv2_160"]
    + [f"efficientvit_b{i}" for i in range(4)]
    + [f"efficientvit_l{i}" for i in range(1, 4)]
    + [f"efficientvit_m{i}" for i in range(6)]
    + ["mobilevitv2_100"]
)


def test_every_seed_variant_is_registered():
    names = {spec.name for spec in list_models()}
    assert set(REQUIRED) <= names


@pytest.mark.parametrize("name", REQUIRED)
def test_spec_facts_are_consistent(name):
    spec = get_spec(name)
    assert spec.resolution % spec.stride == 0
    assert spec.test_resolution % spec.stride == 0
    assert spec.opset >= 17
    if spec.family != "mobilevitv2" and spec.name not in ("lowformer_e1", "lowformer_e2"):
        assert model_ops(spec.name), "attention families must use edgeattn ops"


def test_unknown_model_suggests_close_names():
    with pytest.raises(UsageError) as info:
        get_spec("shvit_s5")
    assert "shvit_s4" in info.value.hint


def test_stats_table_covers_image_models():
    stats = load_stats()
    assert {s.name for s in list_models() if s.input_kind == "image"} <= set(stats)


@pytest.mark.parametrize("name", ["shvit_s1", "efficientvit_b0"])
def test_stats_match_a_fresh_measurement(name):
    assert measure(get_spec(name)) == load_stats()[name]


def test_stats_match_published_sizes():
    stats = load_stats()
    assert stats["shvit_s4"]["gmacs"] == pytest.approx(0.986, rel=0.02)
    assert stats["ghostnetv2_100"]["gmacs"] == pytest.approx(0.167, rel=0.03)
    assert stats["efficientvit_b1"]["params_m"] == pytest.approx(9.1, rel=0.02)


def test_readme_model_table_is_generated_from_the_registry():
    from pathlib import Path

    from edgeattn.backbones.stats import markdown_table

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    assert markdown_table() in readme, "run `python -m edgeattn.backbones.stats` to refresh the README table"
