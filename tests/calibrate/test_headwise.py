"""Head-wise reparameterisations: fp32 outputs unchanged, per-head (or per-channel) range spread shrinks."""

from __future__ import annotations

import copy

import pytest
import torch
from calib_helpers import make_site_module

from edgeattn.calibrate.capture import find_sites
from edgeattn.calibrate.headwise import collect_stats, reparameterise
from edgeattn.ops.rewrite import rewrite_model
from edgeattn.tolerances import REWRITE_MAX_REL


def _batches(shape, count=2):
    generator = torch.Generator().manual_seed(42)
    return [torch.randn(shape, generator=generator).numpy() for _ in range(count)]


def _max_rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("which", ["qk", "v"])
def test_weight_edits_are_exact(site_module, which):
    _, module, shape = site_module
    x = torch.as_tensor(_batches(shape, 1)[0])
    edited = copy.deepcopy(module)
    (site,) = find_sites(edited)
    generator = torch.Generator().manual_seed(42)
    with torch.no_grad():
        if which == "qk":
            site.module.scale_qk(torch.rand(site.heads, site.qk_dim, generator=generator) * 4 + 0.25)
        else:
            factors = torch.rand(site.heads, site.v_dim, generator=generator) * 4 + 0.25
            if not site.v_free:
                factors[:-1] = 1.0
            site.module.scale_v(factors)
        assert _max_rel(edited(x), module(x)) <= REWRITE_MAX_REL
    changed = [k for k, v in module.state_dict().items() if not torch.equal(v, edited.state_dict()[k])]
    assert changed, "the edit must change some weights"


def test_reparameterise_keeps_outputs_and_shrinks_spread(site_module):
    kind, module, shape = site_module
    result = reparameterise(module, _batches(shape), v_strength=0.5)
    assert result.max_rel_change <= REWRITE_MAX_REL
    (record,) = result.sites.values()
    before, after = record["spread_before"], record["spread_after"]
    if record["heads"] > 1:
        assert after["q"] * after["k"] <= before["q"] * before["k"] * (1 + 1e-6)
        assert after["q"] < before["q"] or after["k"] < before["k"]
        assert after["v"] <= before["v"] * (1 + 1e-6)
        if kind != "cascaded":
            assert after["v"] < before["v"]
    else:
        (site_before,) = find_sites(module)
        (site_after,) = find_sites(result.model)
        stats_b = collect_stats(module, [site_before], _batches(shape))[site_before.name]
        stats_a = collect_stats(result.model, [site_after], _batches(shape))[site_after.name]
        spread = lambda t: float(t.max() / t.min())
        assert spread(stats_a.channel_amax["v"]) < spread(stats_b.channel_amax["v"])
        assert spread(stats_a.channel_amax["q"]) * spread(stats_a.channel_amax["k"]) < spread(
            stats_b.channel_amax["q"]) * spread(stats_b.channel_amax["k"])
    assert set(record["sqnr_db_after"]) >= {"q", "k", "v", "o"}
    assert len(record["sqnr_db_after"]["q"]) == record["heads"]


def test_v_balancing_raises_worst_head_sqnr_for_multi_head_softmax():
    module, shape = make_site_module("lowformer")
    (record,) = reparameterise(module, _batches(shape), v_strength=1.0).sites.values()
    assert min(record["sqnr_db_after"]["v"]) > min(record["sqnr_db_before"]["v"])


def test_linear_attention_free_heads_equalise_heads_within_eps_effect():
    module, shape = make_site_module("litemla")
    result = reparameterise(module, _batches(shape), free_linear_heads=True)
    (record,) = result.sites.values()
    assert record["spread_after"]["q"] == pytest.approx(1.0, abs=1e-3)
    assert record["spread_after"]["k"] == pytest.approx(1.0, abs=1e-3)
    assert result.max_rel_change < 1e-2


def test_sites_are_the_rewritten_modules_and_share_weights():
    from timm.models.efficientvit_mit import LiteMLA

    torch.manual_seed(42)
    original = torch.nn.Sequential(LiteMLA(32, 32, dim=8, norm_layer=(None, torch.nn.BatchNorm2d))).eval()
    assert find_sites(original) == []
    rewritten, swaps = rewrite_model(copy.deepcopy(original))
    (site,) = find_sites(rewritten)
    assert swaps and site.name == "0" and site.kind == "linear"
    result = reparameterise(rewritten, _batches((2, 32, 13, 11)))
    assert result.max_rel_change <= REWRITE_MAX_REL
