"""Modules calling the MultiHeadAttention op: LowFormer's downsampled attention and EfficientViT-M's
cascaded group attention (timm), STViT's global attention, with their head-wise weight edits; DSVT's
region pooling attention."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from edgeattn.ops.attention_module import HeadwiseAttention, ProjectedAttention, scale_in, scale_out
from edgeattn.ops.multi_head_attention.torch_op import multi_head_attention_op
from edgeattn.ops.softmax_attention import attention_and_probabilities


class EdgeConvAttention(HeadwiseAttention):
    """LowFormer `ConvAttention`: pwise 1x1 (no bias) -> per head [q | k | v]; o_proj (or a fused
    ConvTranspose upsampling) after. One `edgeattn::multi_head_attention` call."""

    def __init__(self, src) -> None:
        super().__init__()
        self.num_heads, self.head_dim, self.num_keys = src.num_heads, src.head_dim, src.num_keys
        self.scale, self.o_proj_inpdim = src.scale, src.o_proj_inpdim
        self.conv_proj, self.pwise = src.conv_proj, src.pwise
        self.o_proj, self.upsampling = src.o_proj, src.upsampling
        self.heads, self.qk_dim, self.v_dim = src.num_heads, src.head_dim, src.head_dim

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        xout = self.pwise(self.conv_proj(x))
        batch, _, h, w = xout.shape
        qkv = xout.reshape(batch, self.num_heads, self.num_keys * self.head_dim, h * w)
        q, k, v = qkv.permute(0, 1, 3, 2).chunk(3, dim=3)
        values = multi_head_attention_op(q, k, v, self.scale)
        o = self.o_proj(values.permute(0, 1, 3, 2).reshape(batch, self.o_proj_inpdim, h, w))
        return self.upsampling(o)[..., :height, :width]

    def _scale_pwise(self, fq: Tensor, fk: Tensor, fv: Tensor) -> None:
        scale_out(self.pwise, torch.cat([fq, fk, fv], dim=1).reshape(-1))

    def scale_qk(self, a: Tensor) -> None:
        self._scale_pwise(a, 1 / a, torch.ones_like(a))

    def scale_v(self, b: Tensor) -> None:
        self._scale_pwise(torch.ones_like(b), torch.ones_like(b), b)
        scale_in(self.upsampling if isinstance(self.o_proj, nn.Identity) else self.o_proj, 0, 1 / b.reshape(-1))


class EdgeCascadedGroupAttention(HeadwiseAttention):
    """EfficientViT-M cascaded group attention: one `edgeattn::multi_head_attention` call per head (heads
    are sequential: each head's input adds the previous head's output), with its relative position bias.

    Per head: qkvs[h] (ConvNorm) -> q, k, v; q -> dws[h] (ConvNorm). Because each head's output feeds the
    next head, only the last head's V can be rescaled exactly."""

    v_free = False

    def __init__(self, src) -> None:
        super().__init__()
        self.num_heads, self.scale = src.num_heads, src.scale
        self.key_dim, self.val_dim, self.resolution = src.key_dim, src.val_dim, src.resolution
        self.qkvs, self.dws, self.proj = src.qkvs, src.dws, src.proj
        self.attention_biases = src.attention_biases
        self.register_buffer("attention_bias_idxs", src.attention_bias_idxs, persistent=False)
        self.heads, self.qk_dim, self.v_dim = src.num_heads, src.key_dim, src.val_dim

    def forward(self, x: Tensor) -> Tensor:
        batch, _, height, width = x.shape
        feats_in = x.chunk(len(self.qkvs), dim=1)
        feats_out = []
        feat = feats_in[0]
        for head, (qkv, dws) in enumerate(zip(self.qkvs, self.dws, strict=True)):
            if head > 0:
                feat = feat + feats_in[head]
            q, k, v = qkv(feat).view(batch, -1, height, width).split(
                [self.key_dim, self.key_dim, self.val_dim], dim=1
            )
            q = dws(q)
            tokens = [t.flatten(2).transpose(-2, -1).unsqueeze(1) for t in (q, k, v)]
            # per-head gather from the parameter: constant-folds to one small initializer per head
            attn_bias = self.attention_biases[head][self.attention_bias_idxs].unsqueeze(0)
            out = multi_head_attention_op(*tokens, self.scale, attn_bias)
            feat = out.squeeze(1).transpose(-2, -1).reshape(batch, self.val_dim, height, width)
            feats_out.append(feat)
        return self.proj(torch.cat(feats_out, dim=1))

    def scale_qk(self, a: Tensor) -> None:
        for head in range(self.heads):
            scale_out(self.dws[head], a[head])
            scale_out(self.qkvs[head], torch.cat([torch.ones(self.key_dim), 1 / a[head], torch.ones(self.val_dim)]))

    def scale_v(self, b: Tensor) -> None:
        if not torch.all(b[:-1] == 1):
            raise ValueError("cascaded attention: only the last head's V can be rescaled exactly")
        last = self.heads - 1
        scale_out(self.qkvs[last], torch.cat([torch.ones(2 * self.key_dim), b[last]]))
        scale_in(self.proj[1], last * self.val_dim, 1 / b[last])


def capture(q: Tensor, k: Tensor, v: Tensor, scale: float, attn_bias: Tensor | None = None,
            key_mask: Tensor | None = None) -> dict[str, Tensor]:
    """Head-major statistics of one call (inputs are already [B, H, N, D]); masked keys (padded slots) are
    zeroed in k and v so that they add nothing to the ranges."""
    if key_mask is not None:
        valid = key_mask.to(torch.bool)[:, None, :, None]
        k, v = k.masked_fill(~valid, 0.0), v.masked_fill(~valid, 0.0)
    out, probabilities = attention_and_probabilities(q, k, v, scale, attn_bias, key_mask)
    return {"q": q, "k": k, "v": v, "p": probabilities, "o": out}


class EdgeRegionAttention(ProjectedAttention):
    """DSVT's region pooling attention (`edgeattn.backbones.dsvt.RegionAttention`): projections, one masked
    call (one query per region over its members), output projection."""

    def forward(self, query: Tensor, keys: Tensor, members: Tensor, key_mask: Tensor) -> Tensor:
        regions, dim = query.shape

        def heads(t: Tensor) -> Tensor:
            return t.reshape(regions, -1, self.heads, dim // self.heads).transpose(1, 2)

        out = multi_head_attention_op(heads(self.q_proj(query)), heads(self.k_proj(keys)),
                                      heads(self.v_proj(members)), self.scale, key_mask=key_mask)
        return self.out_proj(out.transpose(1, 2).reshape(regions, dim))


class EdgeGlobalAttention(HeadwiseAttention):
    """STViT's global attention (`edgeattn.backbones.stvit.GlobalAttention`): qkv 1x1 -> per head
    [q | k | v] -> one call over all H*W tokens -> proj 1x1."""

    def __init__(self, src) -> None:
        super().__init__()
        self.num_heads, self.scale = src.num_heads, src.scale
        self.qkv, self.proj = src.qkv, src.proj
        self.heads = src.num_heads
        self.qk_dim = self.v_dim = src.qkv.in_channels // src.num_heads

    def forward(self, x: Tensor) -> Tensor:
        batch, channels, height, width = x.shape
        qkv = self.qkv(x).reshape(batch, self.num_heads, 3 * self.qk_dim, height * width)
        q, k, v = qkv.transpose(-1, -2).chunk(3, dim=-1)
        out = multi_head_attention_op(q, k, v, self.scale)
        return self.proj(out.transpose(-1, -2).reshape(batch, channels, height, width))

    def _scale_qkv(self, fq: Tensor, fk: Tensor, fv: Tensor) -> None:
        scale_out(self.qkv, torch.cat([fq, fk, fv], dim=1).reshape(-1))

    def scale_qk(self, a: Tensor) -> None:
        self._scale_qkv(a, 1 / a, torch.ones_like(a))

    def scale_v(self, b: Tensor) -> None:
        self._scale_qkv(torch.ones_like(b), torch.ones_like(b), b)
        scale_in(self.proj, 0, 1 / b.reshape(-1))
