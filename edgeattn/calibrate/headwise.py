"""Head-wise calibration: per-head statistics of Q, K, V, P, O and exact reparameterisations.

TensorRT quantizes activations per tensor only, so heads with small ranges lose precision next to
heads with large ones. The reparameterisations here move that spread into weights without changing the
fp32 function (each attention module's `scale_qk` / `scale_heads` / `scale_v`, see
`edgeattn.ops.attention_module`):
- Q/K balancing (softmax and linear attention): q * a, k / a per channel, a chosen so that q and k follow
  the per-channel geometric mean of their ranges;
- ReLU linear attention: q and k each get a free positive factor per head that equalises the head ranges
  (the normaliser cancels them; only its eps term sees the change, far below fp32 tolerance);
- V/O balancing: v * b per channel and the output projection's input columns / b, with migration
  strength 0.5 by default (the rest of the spread stays in the projection weights, whose quantization
  is per output channel).
Per-head SQNR of per-tensor symmetric int8 is measured before and after.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from edgeattn.calibrate.capture import Site, find_sites, run_captures
from edgeattn.calibrate.frames import Batch, torch_inputs

TENSORS = ("q", "k", "v", "p", "o")
CHANNEL_TENSORS = ("q", "k", "v")
FACTOR_LIMIT = 1e3
INT8_MAX = 127


@dataclass
class SiteStats:
    """Streaming per-head (and per-channel for q, k, v) max |x| of one attention site."""

    heads: int
    channel_amax: dict[str, Tensor] = field(default_factory=dict)
    head_amax: dict[str, Tensor] = field(default_factory=dict)

    def update(self, captured: dict[str, Tensor]) -> None:
        for key, value in captured.items():
            head = value.detach().abs().amax(dim=(0, 2, 3))
            self.head_amax[key] = torch.maximum(self.head_amax[key], head) if key in self.head_amax else head
            if key in CHANNEL_TENSORS:
                channel = value.detach().abs().amax(dim=(0, 2))
                old = self.channel_amax.get(key)
                self.channel_amax[key] = channel if old is None else torch.maximum(old, channel)

    def spread(self, key: str) -> float:
        """max / min of the per-head ranges (1.0 = every head has the same range)."""
        amax = self.head_amax[key].clamp_min(1e-12)
        return float(amax.max() / amax.min())


@dataclass
class SiteSQNR:
    """Per-head signal and noise energy of per-tensor symmetric int8 fake quantization."""

    signal: dict[str, Tensor] = field(default_factory=dict)
    noise: dict[str, Tensor] = field(default_factory=dict)

    def update(self, captured: dict[str, Tensor], scales: dict[str, float]) -> None:
        for key, value in captured.items():
            value = value.detach()
            scale = scales[key]
            quantized = torch.clamp(torch.round(value / scale), -INT8_MAX, INT8_MAX) * scale
            signal = value.pow(2).sum(dim=(0, 2, 3))
            noise = (value - quantized).pow(2).sum(dim=(0, 2, 3))
            self.signal[key] = self.signal.get(key, 0) + signal
            self.noise[key] = self.noise.get(key, 0) + noise

    def db(self) -> dict[str, list[float]]:
        return {
            key: [float(v) for v in 10 * torch.log10(self.signal[key].clamp_min(1e-30) / self.noise[key].clamp_min(1e-30))]
            for key in self.signal
        }


def collect_stats(model: nn.Module, sites: list[Site], batches: Iterable[Batch]) -> dict[str, SiteStats]:
    """Per-head/per-channel max |x| of every site over the calibration batches."""
    stats = {site.name: SiteStats(site.heads) for site in sites}
    run_captures(model, sites, batches, lambda site, cap: stats[site.name].update(cap))
    return stats


def per_tensor_scales(stats: SiteStats) -> dict[str, float]:
    """Per-tensor symmetric int8 scale of each captured tensor (max over heads / 127)."""
    return {key: max(float(v.max()), 1e-12) / INT8_MAX for key, v in stats.head_amax.items()}


def measure_sqnr(model: nn.Module, sites: list[Site], batches: Iterable[Batch],
                 stats: dict[str, SiteStats]) -> dict[str, dict[str, list[float]]]:
    """Per-head SQNR (dB) of every captured tensor under per-tensor int8 scales from `stats`."""
    sqnr = {site.name: SiteSQNR() for site in sites}
    scales = {name: per_tensor_scales(s) for name, s in stats.items()}
    run_captures(model, sites, batches, lambda site, cap: sqnr[site.name].update(cap, scales[site.name]))
    return {name: s.db() for name, s in sqnr.items()}


def _log_amax(amax: Tensor) -> Tensor:
    floor = amax.max().clamp_min(1e-12) * 1e-6
    return torch.log(amax.clamp_min(floor).double())


def _limit(factors: Tensor) -> Tensor:
    return factors.clamp(1 / FACTOR_LIMIT, FACTOR_LIMIT).float()


@dataclass
class SiteFactors:
    """The factors applied to one site: per channel a (Q/K), b (V); per head sq, sk (linear attention)."""

    qk: Tensor | None = None
    v: Tensor | None = None
    q_heads: Tensor | None = None
    k_heads: Tensor | None = None

    def to_json(self) -> dict[str, list]:
        return {key: value.tolist() for key, value in vars(self).items() if value is not None}


def compute_factors(
    site: Site, stats: SiteStats, v_strength: float = 0.5, free_linear_heads: bool = False
) -> SiteFactors:
    """Reparameterisation factors for one site from its calibration statistics.

    `free_linear_heads` also equalises q and k of linear-attention heads independently; exact up to the
    normaliser's eps (out = num / (den + eps) becomes num / (den + eps / (sq * sk))), so it is off by
    default and its output change is reported when used.
    """
    factors = SiteFactors(qk=_qk_balance(site, stats))
    a = factors.qk
    if site.kind == "linear" and free_linear_heads:
        q_head = (stats.channel_amax["q"] * a).amax(dim=1)
        k_head = (stats.channel_amax["k"] / a).amax(dim=1)
        lqh, lkh = _log_amax(q_head), _log_amax(k_head)
        factors.q_heads = _limit(torch.exp(lqh.mean() - lqh))
        factors.k_heads = _limit(torch.exp(lkh.mean() - lkh))
    if v_strength > 0:
        factors.v = _v_balance(site, stats, v_strength)
    return factors


def _qk_balance(site: Site, stats: SiteStats) -> Tensor:
    """Q/K factors [H, D]: per head (per channel for a single head) q * a and k / a, with a chosen so that
    log ranges of q and k both follow their average (the product of the q and k spreads cannot grow)."""
    if site.heads > 1:
        lq, lk = _log_amax(stats.head_amax["q"])[:, None], _log_amax(stats.head_amax["k"])[:, None]
    else:
        lq, lk = _log_amax(stats.channel_amax["q"]), _log_amax(stats.channel_amax["k"])
    a = torch.exp(((lq.mean() - lq) - (lk.mean() - lk)) / 2)
    return _limit(a.expand(site.heads, site.qk_dim).clone())


def _v_balance(site: Site, stats: SiteStats, strength: float) -> Tensor:
    """V factors [H, Dv]: each channel's log range moves `strength` of the way to the mean; in cascaded
    attention only the last head moves, as a whole, toward the mean head range."""
    if not site.v_free:
        lv = _log_amax(stats.head_amax["v"])
        b = torch.ones(site.heads, site.v_dim, dtype=torch.float64)
        b[-1] = torch.exp(strength * (lv.mean() - lv[-1]))
        return _limit(b)
    lv = _log_amax(stats.channel_amax["v"])
    return _limit(torch.exp(strength * (lv.mean() - lv)))


def apply_factors(site: Site, factors: SiteFactors) -> None:
    """Edit the site's weights in place (fp32 function unchanged)."""
    with torch.no_grad():
        if factors.qk is not None:
            site.module.scale_qk(factors.qk)
        if factors.q_heads is not None:
            site.module.scale_heads(factors.q_heads, factors.k_heads)
        if factors.v is not None:
            site.module.scale_v(factors.v)


@dataclass
class HeadwiseResult:
    """The reparameterised model and the per-head record written to calibration.json."""

    model: nn.Module
    sites: dict[str, dict]
    max_rel_change: float


def reparameterise(
    model: nn.Module, batches: list[Batch], v_strength: float = 0.5, free_linear_heads: bool = False
) -> HeadwiseResult:
    """Head-wise reparameterisation of a copy of `model`; `model` itself is left untouched.

    Collects per-head statistics, applies the exact reparameterisations, and measures per-head SQNR and
    ranges before and after plus the fp32 output change (max |new - old| / max |old|) on the first batch.
    """
    new_model = copy.deepcopy(model)
    new_model.eval()
    sites_before = find_sites(model)
    sites_after = find_sites(new_model)
    stats_before = collect_stats(model, sites_before, batches)
    sqnr_before = measure_sqnr(model, sites_before, batches, stats_before)
    applied: dict[str, SiteFactors] = {}
    for site in sites_after:
        applied[site.name] = compute_factors(site, stats_before[site.name], v_strength, free_linear_heads)
        apply_factors(site, applied[site.name])
    stats_after = collect_stats(new_model, sites_after, batches)
    sqnr_after = measure_sqnr(new_model, sites_after, batches, stats_after)
    with torch.no_grad():
        x = torch_inputs(batches[0])
        before, after = model(*x), new_model(*x)
    max_rel = float((after - before).abs().max() / before.abs().max().clamp_min(1e-30))
    record = {}
    for site in sites_after:
        b, a = stats_before[site.name], stats_after[site.name]
        record[site.name] = {
            "kind": site.kind,
            "heads": site.heads,
            "module": type(site.module).__name__,
            "heads_per_call": site.heads_per_call,
            "ops_per_call": site.ops_per_call,
            "amax_before": {k: v.tolist() for k, v in b.head_amax.items()},
            "amax_after": {k: v.tolist() for k, v in a.head_amax.items()},
            "spread_before": {k: b.spread(k) for k in b.head_amax},
            "spread_after": {k: a.spread(k) for k in a.head_amax},
            "sqnr_db_before": sqnr_before[site.name],
            "sqnr_db_after": sqnr_after[site.name],
            "factors": applied[site.name].to_json(),
        }
    return HeadwiseResult(new_model, record, max_rel)


def head_scales(record: dict) -> dict[str, list[float]]:
    """Per-head int8 scales (amax / 127) of q, k, v, p, o after reparameterisation, for plugin attributes."""
    return {key: [max(v, 1e-12) / INT8_MAX for v in values] for key, values in record["amax_after"].items()}
