"""Head-wise stress axis of benchmarks/quant_fidelity.py: per-head range spread that changes no fp32 output.

Head h of every multi-head attention site gets factor s_h = spread^(h / (H - 1)): V rows of head h times s_h
and the matching output-projection columns divided by s_h (`HeadwiseAttention.scale_v`; cascaded attention
can only move its last head's V), and Q times s_h, K divided by s_h (`scale_qk`; exact for softmax and ReLU
linear attention). The fp32 outputs are asserted unchanged; then head-wise and per-tensor INT8 are built on
the rescaled weights and scored on the same held-out crops.
"""

from __future__ import annotations

import copy

import torch
from int8_models import BenchmarkModel, calibration
from torch import nn

from edgeattn.calibrate.capture import Site, find_sites
from edgeattn.calibrate.data import sample_photos
from edgeattn.errors import EdgeattnError
from edgeattn.exporters.stages import HEADWISE_MAX_REL
from edgeattn.ops.rewrite import rewrite_model


def head_factors(heads: int, spread: float) -> torch.Tensor:
    """s_h, geometric from 1 to `spread` over the heads."""
    return spread ** (torch.arange(heads, dtype=torch.float64) / max(heads - 1, 1))


def rescale_site(site: Site, spread: float) -> None:
    """Move `spread` into the site's per-head Q/K and V ranges without changing its fp32 function."""
    factors = head_factors(site.heads, spread).float()
    with torch.no_grad():
        site.module.scale_qk(factors[:, None].expand(site.heads, site.qk_dim).clone())
        v = torch.ones(site.heads, site.v_dim)
        if site.v_free:
            v = factors[:, None].expand(site.heads, site.v_dim).clone()
        else:
            v[-1] = spread
        site.module.scale_v(v)


def stressed_model(model: nn.Module, spread: float, check: torch.Tensor | tuple[torch.Tensor, ...]
                   ) -> tuple[nn.Module, int, float]:
    """(rewritten copy with `spread` moved into every multi-head site, sites rescaled, fp32 max rel change on
    the model's input(s) `check`)."""
    check = check if isinstance(check, tuple) else (check,)
    stressed, _ = rewrite_model(copy.deepcopy(model))
    stressed.eval()
    sites = [site for site in find_sites(stressed) if site.heads > 1]
    for site in sites:
        rescale_site(site, spread)
    with torch.no_grad():
        before, after = model.eval()(*check), stressed(*check)
    change = float((after - before).abs().max() / before.abs().max().clamp_min(1e-30))
    if change > HEADWISE_MAX_REL:
        raise EdgeattnError(f"head stress x{spread} changed fp32 outputs by {change:.2e} (relative)",
                            "The per-head rescaling must be exact; check the site's scale_qk/scale_v.")
    return stressed, len(sites), change


def stress_record(loaded: BenchmarkModel, args) -> dict:
    """Head-wise vs per-tensor (TensorRT style) cosine at each spread, with the measured head spreads."""
    check = torch.as_tensor(sample_photos(loaded.spec, 4, 4, loaded.resolution, seed=args.seed + 2000).batches[0])
    rows = []
    for spread in args.spreads:
        model, sites, change = stressed_model(loaded.model, spread, check)
        if sites == 0:
            return {"skipped": "no multi-head attention site (single-head attention has no per-head spread)"}
        row = {"spread": spread, "sites": sites, "fp32_max_rel_change": change}
        for granularity in ("head", "tensor"):
            calib = calibration(granularity, "tensorrt", args)
            result = loaded.int8_build(calib, model=model).precision(calib)
            fidelity = result.reports["fidelity.json"]["int8"]
            row[granularity] = {"cosine": fidelity["cosine"], "sqnr_db": fidelity["sqnr_db"]}
            heads = result.reports["calibration.json"]["heads"]
            if heads:
                row["measured_spread"] = {t: max(r["spread_before"][t] for r in heads.values() if t in r["spread_before"])
                                          for t in ("q", "k", "v", "o")}
        rows.append(row)
    return {"style": "tensorrt", "rows": rows}
