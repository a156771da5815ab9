"""ops.rewrite: timm attention modules -> edgeattn op modules, same weights, same outputs."""

from __future__ import annotations

import copy
import functools

import pytest
import timm
import torch
from timm.models.efficientvit_mit import LiteMLA

from torch.utils._python_dispatch import TorchDispatchMode

from edgeattn.backbones import list_models
from edgeattn.backbones.stats import model_ops
from edgeattn.backbones.weights import randomize_zero_init as perturb_for_parity
from edgeattn.errors import UsageError
from edgeattn.ops import all_ops
from edgeattn.ops.rewrite import rewrite_model
from edgeattn.tolerances import REWRITE_MAX_REL

SEED = 42
TIMM_IMAGE = [s for s in list_models() if s.source == "timm" and s.input_kind == "image"]
SEED_MODELS = [next(s.name for s in TIMM_IMAGE if s.family == family and model_ops(s.name))
               for family in sorted({s.family for s in TIMM_IMAGE if model_ops(s.name)})]
"""The first model of every timm family that has edgeattn ops."""
ALL_VARIANTS = [s.name for s in TIMM_IMAGE]
REPLACEMENTS = {swap.replacement.rpartition(":")[2] for op in all_ops() for swap in op.swaps}
SOURCES = {swap.source.rpartition(":")[2] for op in all_ops() for swap in op.swaps}


class _ScaledOps(TorchDispatchMode):
    """Multiplies the output of every edgeattn op call: a broken op."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        return out * 1.5 if func.namespace == "edgeattn" else out


@functools.cache
def _original(name: str) -> torch.nn.Module:
    torch.manual_seed(SEED)
    return perturb_for_parity(timm.create_model(name, pretrained=False).eval(), SEED)


def make_model(name: str) -> torch.nn.Module:
    """A fresh copy of the seeded, perturbed random-init model (created once per name)."""
    return copy.deepcopy(_original(name))


def max_rel_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return ((actual - expected).abs().max() / expected.abs().max()).item()


@pytest.mark.parametrize("name", SEED_MODELS)
def test_rewritten_seed_model_matches_original(name):
    original = make_model(name)
    x = torch.randn(2, 3, 128, 128, generator=torch.Generator().manual_seed(SEED))
    rewritten, swaps = rewrite_model(copy.deepcopy(original))
    with torch.no_grad():
        expected, actual = original(x), rewritten(x)
    assert swaps and {line.rpartition("-> ")[2] for line in swaps} == set(model_ops(name))
    assert sum(type(m).__name__ in REPLACEMENTS for m in rewritten.modules()) == len(swaps)
    assert max_rel_error(actual, expected) <= REWRITE_MAX_REL


@pytest.mark.parametrize("name", SEED_MODELS)
def test_attention_is_visible_in_the_parity_check(name):
    """The comparison must be able to fail: breaking the op changes the model output."""
    model, _ = rewrite_model(make_model(name))
    x = torch.randn(1, 3, 128, 128, generator=torch.Generator().manual_seed(SEED))
    with torch.no_grad():
        expected = model(x)
        with _ScaledOps():
            broken = model(x)
        assert max_rel_error(broken, expected) > 100 * REWRITE_MAX_REL


@pytest.mark.parametrize("name", SEED_MODELS)
def test_rewrite_shares_the_original_parameters(name):
    original = make_model(name)
    before = {p.data_ptr() for p in original.parameters()}
    rewritten, _ = rewrite_model(original)
    after = {p.data_ptr() for p in rewritten.parameters()}
    assert after <= before


@pytest.mark.parametrize("name", ALL_VARIANTS)
def test_every_family_variant_is_rewritten(name):
    model, swaps = rewrite_model(timm.create_model(name, pretrained=False))
    remaining = [type(m).__name__ for m in model.modules() if type(m).__name__ in SOURCES]
    assert remaining == []
    assert sorted({line.rpartition("-> ")[2] for line in swaps}) == model_ops(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(ALL_VARIANTS) - set(SEED_MODELS)))
def test_every_family_variant_matches_original(name):
    torch.manual_seed(SEED)
    model = perturb_for_parity(timm.create_model(name, pretrained=False).eval(), SEED)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(SEED))
    with torch.no_grad():
        expected = model(x)
        model, _ = rewrite_model(model)
        assert max_rel_error(model(x), expected) <= REWRITE_MAX_REL


def test_model_without_edgeattn_attention_is_unchanged():
    model = timm.create_model("mobilevitv2_050", pretrained=False).eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rewritten, swaps = rewrite_model(model)
    assert swaps == []
    assert rewritten is model
    assert all(torch.equal(state[k], v) for k, v in rewritten.state_dict().items())


def test_rewrite_is_idempotent():
    model, first = rewrite_model(timm.create_model("efficientvit_b0", pretrained=False))
    _, second = rewrite_model(model)
    assert first and second == []


def test_a_module_the_op_cannot_compute_is_refused():
    model = timm.create_model("efficientvit_b0", pretrained=False)
    for module in model.modules():
        if isinstance(module, LiteMLA):
            module.kernel_func = torch.nn.GELU()
    with pytest.raises(UsageError, match="LiteMLA with kernel GELU"):
        rewrite_model(model)
