"""Attention sites: where each backbone computes Q, K, V, P and O, and which weights scale them exactly.

One adapter per attention module family. Adapters work on the timm module and on its edgeattn rewrite
(`edgeattn.ops.rewrite`), which shares the same sub-modules and attribute names. Every tensor is returned
head-major: q, k [B, H, N, Dqk], v, o [B, H, N, Dv], p [B, H, N, M].

Scaling methods take per-channel factors [H, D] and change weights so that the fp32 function of the
whole module is unchanged:
- `scale_qk(a)`: q[h, d] * a, k[h, d] / a (q . k is unchanged; softmax and linear attention alike);
- `scale_heads(sq, sk)`: linear attention only: q[h] * sq, k[h] * sk (the normaliser cancels them);
- `scale_v(b)`: v[h, d] * b and the output projection's matching input columns / b (attention
  is linear in each value channel; ReLU before a projection is positively homogeneous).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _conv_norm(module: nn.Module) -> tuple[nn.Module, nn.Module | None]:
    """(conv, norm) of a timm conv+norm block (SHViT `c`/`bn`, MSRA `conv`/`bn`, MIT `conv`/`norm`) or a
    plain (BN-fused) conv."""
    if isinstance(module, nn.Conv2d):
        return module, None
    for conv_name, norm_name in (("c", "bn"), ("conv", "bn"), ("conv", "norm")):
        conv, norm = getattr(module, conv_name, None), getattr(module, norm_name, None)
        if isinstance(conv, nn.Conv2d):
            return conv, norm
    raise TypeError(f"unsupported conv block {type(module).__name__}")


def _scale_out_block(block: nn.Module, factors: Tensor) -> None:
    _scale_out(*_conv_norm(block), factors)


def _scale_out(conv: nn.Conv2d, norm: nn.Module | None, factors: Tensor) -> None:
    """Scale the output channels of conv (+ optional BatchNorm) by `factors`."""
    factors = factors.to(conv.weight.dtype)
    if isinstance(norm, nn.BatchNorm2d):
        norm.weight.mul_(factors)
        norm.bias.mul_(factors)
        return
    conv.weight.mul_(factors.reshape(-1, *([1] * (conv.weight.dim() - 1))))
    if conv.bias is not None:
        conv.bias.mul_(factors)


def _scale_in(conv: nn.Module, start: int, factors: Tensor) -> None:
    """Multiply the input channels [start, start + len) of a dense Conv2d / ConvTranspose2d by `factors`."""
    factors = factors.to(conv.weight.dtype)
    stop = start + factors.numel()
    if isinstance(conv, nn.ConvTranspose2d):
        conv.weight[start:stop].mul_(factors.reshape(-1, 1, 1, 1))
    else:
        conv.weight[:, start:stop].mul_(factors.reshape(1, -1, 1, 1))


@dataclass
class AttentionSite(ABC):
    """One attention module of a model; subclasses know how to observe it and rescale its weights."""

    name: str
    module: nn.Module
    kind: str  # "softmax" | "linear"
    heads: int
    qk_dim: int
    v_dim: int
    v_free: bool = True
    """False where V cannot be rescaled exactly (EfficientViT-M cascades each head's output onward)."""

    @abstractmethod
    def capture(self, x: Tensor) -> dict[str, Tensor]:
        """Per-head q, k, v, probabilities and outputs for the module's input `x`."""

    @abstractmethod
    def scale_qk(self, a: Tensor) -> None:
        """Multiply Q by `a` and divide K by `a` per head (exact for softmax and linear attention)."""

    @abstractmethod
    def scale_v(self, b: Tensor) -> None:
        """Divide V by `b` per channel and multiply the matching output-projection inputs by `b`."""

    def scale_heads(self, sq: Tensor, sk: Tensor) -> None:
        """Independent per-head Q and K factors: only ReLU linear attention has this freedom."""
        raise ValueError(f"{self.kind} attention has no free per-head Q/K scales")


def _softmax_stats(q: Tensor, k: Tensor, v: Tensor, scale: float, bias: Tensor | None = None) -> dict[str, Tensor]:
    scores = torch.matmul(q, k.transpose(-2, -1)) * scale
    if bias is not None:
        scores = scores + bias
    p = scores.softmax(dim=-1)
    return {"q": q, "k": k, "v": v, "p": p, "o": torch.matmul(p, v)}


class SHSASite(AttentionSite):
    """SHViT single-head attention: qkv = Conv2dNorm(pdim -> 2*qk_dim + pdim); proj = ReLU, Conv2dNorm."""

    def capture(self, x: Tensor) -> dict[str, Tensor]:
        m = self.module
        x1 = torch.split(x, [m.pdim, m.dim - m.pdim], dim=1)[0]
        qkv = m.qkv(m.pre_norm(x1))
        q, k, v = (t.flatten(2).transpose(1, 2)[:, None] for t in torch.split(qkv, [m.qk_dim, m.qk_dim, m.pdim], 1))
        return _softmax_stats(q, k, v, m.scale)

    def _qkv_factors(self, fq: Tensor, fk: Tensor, fv: Tensor) -> Tensor:
        return torch.cat([fq.reshape(-1), fk.reshape(-1), fv.reshape(-1)])

    def scale_qk(self, a: Tensor) -> None:
        ones = torch.ones(self.v_dim)
        _scale_out_block(self.module.qkv, self._qkv_factors(a, 1 / a, ones))

    def scale_v(self, b: Tensor) -> None:
        ones = torch.ones(self.qk_dim)
        _scale_out_block(self.module.qkv, self._qkv_factors(ones, ones, b))
        _scale_in(_conv_norm(self.module.proj[1])[0], 0, 1 / b.reshape(-1))


class ConvAttentionSite(AttentionSite):
    """LowFormer: pwise 1x1 (no bias) -> per head [q | k | v]; o_proj (or fused ConvTranspose) after."""

    def capture(self, x: Tensor) -> dict[str, Tensor]:
        m = self.module
        xout = m.pwise(m.conv_proj(x))
        b, _, h, w = xout.shape
        qkv = xout.reshape(b, m.num_heads, m.num_keys * m.head_dim, h * w).permute(0, 1, 3, 2)
        q, k, v = qkv.chunk(3, dim=3)
        return _softmax_stats(q, k, v, m.scale)

    def _scale_pwise(self, fq: Tensor, fk: Tensor, fv: Tensor) -> None:
        factors = torch.cat([fq, fk, fv], dim=1).reshape(-1)
        _scale_out(self.module.pwise, None, factors)

    def scale_qk(self, a: Tensor) -> None:
        self._scale_pwise(a, 1 / a, torch.ones_like(a))

    def scale_v(self, b: Tensor) -> None:
        self._scale_pwise(torch.ones_like(b), torch.ones_like(b), b)
        m = self.module
        target = m.upsampling if isinstance(m.o_proj, nn.Identity) else m.o_proj
        _scale_in(target, 0, 1 / b.reshape(-1))


class LiteMLASite(AttentionSite):
    """EfficientViT-B/L LiteMLA: qkv 1x1 -> [qkv, aggreg(qkv)...]; each 3*dim channel group is one head.

    The multi-scale aggregation (depthwise kxk, then a 1x1 grouped per q/k/v part of each head) is linear
    per group, so aggregated heads get their own factors: the grouped 1x1 undoes the source head's
    factors on its input columns and applies the aggregated head's factors on its output rows.
    """

    def capture(self, x: Tensor) -> dict[str, Tensor]:
        m = self.module
        b, _, h, w = x.shape
        qkv = m.qkv(x)
        multi = torch.cat([qkv] + [agg(qkv) for agg in m.aggreg], dim=1)
        multi = multi.reshape(b, -1, 3 * m.dim, h * w).transpose(-1, -2)
        q, k, v = multi.chunk(3, dim=-1)
        q, k = torch.relu(q), torch.relu(k)
        kv = torch.matmul(k.transpose(-1, -2), F.pad(v, (0, 1), value=1.0))
        out = torch.matmul(q, kv)
        o = out[..., :-1] / (out[..., -1:] + m.eps)
        return {"q": q, "k": k, "v": v, "o": o}

    @property
    def base_heads(self) -> int:
        return self.heads // (1 + len(self.module.aggreg))

    def _apply(self, fq: Tensor, fk: Tensor, fv: Tensor) -> None:
        """Per-channel factors [H_total, dim] for q, k, v of every head (base heads first)."""
        m = self.module
        per_head = torch.cat([fq, fk, fv], dim=1)  # [H_total, 3*dim], channel order of the reshape
        n = self.base_heads * 3 * m.dim
        base = per_head[: self.base_heads].reshape(-1)
        _scale_out_block(m.qkv, base)
        for index, agg in enumerate(m.aggreg):
            dw, grouped = agg[0], agg[1]
            if dw.bias is not None:
                dw.bias.mul_(base)
            out_f = per_head[(index + 1) * self.base_heads : (index + 2) * self.base_heads].reshape(-1)
            group = grouped.weight.shape[1]
            in_f = base.reshape(-1, group)  # input channel factors of each group's columns
            out_rows = out_f.reshape(-1, group)
            grouped.weight.mul_((out_rows[:, :, None] / in_f[:, None, :]).reshape(n, group, 1, 1))
            if grouped.bias is not None:
                grouped.bias.mul_(out_f)

    def scale_qk(self, a: Tensor) -> None:
        self._apply(a, 1 / a, torch.ones_like(a))

    def scale_heads(self, sq: Tensor, sk: Tensor) -> None:
        ones = torch.ones(self.heads, self.qk_dim)
        self._apply(ones * sq[:, None], ones * sk[:, None], torch.ones(self.heads, self.v_dim))

    def scale_v(self, b: Tensor) -> None:
        ones = torch.ones(self.heads, self.qk_dim)
        self._apply(ones, ones, b)
        _scale_in(_conv_norm(self.module.proj)[0], 0, 1 / b.reshape(-1))


class CascadedSite(AttentionSite):
    """EfficientViT-M cascaded group attention: per head qkvs[h] (ConvNorm), q -> dws[h] (ConvNorm)."""

    def capture(self, x: Tensor) -> dict[str, Tensor]:
        m = self.module
        b, _, h, w = x.shape
        feats_in = x.chunk(len(m.qkvs), dim=1)
        bias = m.attention_biases[:, m.attention_bias_idxs]
        feat = feats_in[0]
        stats: dict[str, list[Tensor]] = {key: [] for key in ("q", "k", "v", "p", "o")}
        for head, (qkv, dws) in enumerate(zip(m.qkvs, m.dws)):
            if head > 0:
                feat = feat + feats_in[head]
            q, k, v = qkv(feat).view(b, -1, h, w).split([m.key_dim, m.key_dim, m.val_dim], dim=1)
            q = dws(q)
            q, k, v = (t.flatten(2).transpose(1, 2)[:, None] for t in (q, k, v))
            one = _softmax_stats(q, k, v, m.scale, bias[head])
            for key, values in stats.items():
                values.append(one[key])
            feat = one["o"][:, 0].transpose(1, 2).reshape(b, m.val_dim, h, w)
        return {key: torch.cat(values, dim=1) for key, values in stats.items()}

    def scale_qk(self, a: Tensor) -> None:
        m = self.module
        for head in range(self.heads):
            _scale_out_block(m.dws[head], a[head])
            ones_q, ones_v = torch.ones(m.key_dim), torch.ones(m.val_dim)
            _scale_out_block(m.qkvs[head], torch.cat([ones_q, 1 / a[head], ones_v]))

    def scale_v(self, b: Tensor) -> None:
        if not torch.all(b[:-1] == 1):
            raise ValueError("cascaded attention: only the last head's V can be rescaled exactly")
        m = self.module
        last = self.heads - 1
        ones = torch.ones(2 * m.key_dim)
        _scale_out_block(m.qkvs[last], torch.cat([ones, b[last]]))
        _scale_in(_conv_norm(m.proj[1])[0], last * m.val_dim, 1 / b[last])


def find_sites(model: nn.Module) -> list[AttentionSite]:
    """Every attention module of `model` (timm original or edgeattn rewrite), in module order."""
    sites: list[AttentionSite] = []
    for name, module in model.named_modules():
        cls = type(module).__name__
        if cls in ("SHSA", "EdgeSHSA"):
            sites.append(SHSASite(name, module, "softmax", 1, module.qk_dim, module.pdim))
        elif cls in ("ConvAttention", "EdgeConvAttention"):
            sites.append(ConvAttentionSite(name, module, "softmax", module.num_heads, module.head_dim, module.head_dim))
        elif cls in ("LiteMLA", "EdgeLiteMLA"):
            heads = module.qkv.conv.out_channels // (3 * module.dim) * (1 + len(module.aggreg))
            sites.append(LiteMLASite(name, module, "linear", heads, module.dim, module.dim))
        elif cls in ("CascadedGroupAttention", "EdgeCascadedGroupAttention"):
            sites.append(
                CascadedSite(name, module, "softmax", module.num_heads, module.key_dim, module.val_dim, v_free=False)
            )
    return sites
