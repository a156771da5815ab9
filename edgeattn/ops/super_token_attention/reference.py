"""fp32 reference for SuperTokenAttention (STViT): sample super tokens, attend over them, map back.

Huang et al., "Vision Transformer with Super Token Sampling" (CVPR 2023). Written from the paper and
the official repository's semantics (hhb072/STViT, models/stvit.py `StokenAttention`); see README.md.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from edgeattn.errors import UsageError
from edgeattn.ops.softmax_attention import softmax_attention
from edgeattn.ops.super_token_attention.layout import EPS, NEIGHBOURS, StokenGrid


def check_inputs(
    x: Tensor, qkv_weight: Tensor, qkv_bias: Tensor, proj_weight: Tensor, proj_bias: Tensor,
    stoken_height: int, stoken_width: int, n_iter: int, num_heads: int,
) -> None:
    """Raise a UsageError naming the first input or attribute that does not fit the op."""
    if x.dim() != 4 or 0 in x.shape:
        raise UsageError(f"SuperTokenAttention x has shape {tuple(x.shape)}.", "Pass a non-empty [B, C, H, W] map.")
    channels = x.shape[1]
    expected = {
        "qkv_weight": (qkv_weight, (3 * channels, channels)),
        "qkv_bias": (qkv_bias, (3 * channels,)),
        "proj_weight": (proj_weight, (channels, channels)),
        "proj_bias": (proj_bias, (channels,)),
    }
    for name, (tensor, shape) in expected.items():
        if tuple(tensor.shape) != shape:
            raise UsageError(
                f"SuperTokenAttention {name} has shape {tuple(tensor.shape)} for C = {channels}.",
                f"Pass {name} of shape {list(shape)} (1x1 conv weights flattened to 2-D).",
            )
    if min(stoken_height, stoken_width, n_iter, num_heads) < 1 or channels % num_heads:
        raise UsageError(
            f"SuperTokenAttention got stoken {stoken_height}x{stoken_width}, n_iter {n_iter}, "
            f"num_heads {num_heads} for C = {channels}.",
            "Super-token size, n_iter and num_heads must be >= 1, and num_heads must divide C.",
        )


def cell_tokens(x: Tensor, grid: StokenGrid) -> Tensor:
    """[B, C, H0, W0] -> zero-padded tokens grouped by cell [B, M, T, C]."""
    batch, channels = x.shape[:2]
    height, width = grid.padded
    x = F.pad(x, (0, width - grid.width, 0, height - grid.height))
    x = x.reshape(batch, channels, grid.rows, grid.cell_h, grid.cols, grid.cell_w)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(batch, grid.cells, grid.tokens_per_cell, channels)


def neighbours(stokens: Tensor, grid: StokenGrid) -> Tensor:
    """Super tokens [B, M, C] -> each cell's 3x3 neighbours [B, M, 9, C] (zeros outside the grid)."""
    batch, _, channels = stokens.shape
    maps = stokens.transpose(1, 2).reshape(batch, channels, grid.rows, grid.cols)
    unfolded = F.unfold(maps, kernel_size=3, padding=1)  # [B, C * 9, M]
    return unfolded.reshape(batch, channels, NEIGHBOURS, grid.cells).permute(0, 3, 2, 1)


def associate(tokens: Tensor, stokens: Tensor, grid: StokenGrid, assoc_scale: float) -> Tensor:
    """Association A [B, M, T, 9]: softmax over each token's 9 neighbouring super tokens of
    assoc_scale * <token, super token>; a neighbour outside the grid is a zero vector (logit 0)."""
    logits = torch.matmul(tokens, neighbours(stokens, grid).transpose(-1, -2)) * assoc_scale
    return logits.softmax(dim=-1)


def _fold(per_cell: Tensor, grid: StokenGrid) -> Tensor:
    """[B, M, 9, K] contributions of each cell to its neighbours -> summed per super token [B, M, K]."""
    batch, _, _, width = per_cell.shape
    cols = per_cell.permute(0, 3, 2, 1).reshape(batch, width * NEIGHBOURS, grid.cells)
    folded = F.fold(cols, (grid.rows, grid.cols), kernel_size=3, padding=1)  # [B, K, hh, ww]
    return folded.reshape(batch, width, grid.cells).transpose(1, 2)


def sample(tokens: Tensor, assoc: Tensor, grid: StokenGrid) -> Tensor:
    """Super tokens [B, M, C]: association-weighted mean of the tokens of their 3x3 cells."""
    weighted = _fold(torch.matmul(assoc.transpose(-1, -2), tokens), grid)
    mass = _fold(assoc.sum(dim=2).unsqueeze(-1), grid)
    return weighted / (mass + EPS)


def sample_super_tokens(x: Tensor, grid: StokenGrid, n_iter: int,
                        assoc_scale: float) -> tuple[Tensor, Tensor]:
    """Super tokens [B, M, C] after n_iter (association, sampling) rounds from the cell means,
    and the last association A [B, M, T, 9]."""
    tokens = cell_tokens(x.float(), grid)
    stokens = tokens.mean(dim=2)
    for _ in range(n_iter):
        assoc = associate(tokens, stokens, grid, assoc_scale)
        stokens = sample(tokens, assoc, grid)
    return stokens, assoc


def split_heads(stokens: Tensor, qkv_weight: Tensor, qkv_bias: Tensor, num_heads: int) -> Tensor:
    """q, k, v [3, B, heads, M, D] of the super tokens [B, M, C] through the qkv layer, whose 3C outputs are
    ordered per head: [q (D), k (D), v (D)] for head 0, then head 1..."""
    batch, cells, channels = stokens.shape
    qkv = F.linear(stokens.float(), qkv_weight.float(), qkv_bias.float())
    return qkv.reshape(batch, cells, num_heads, 3, channels // num_heads).permute(3, 0, 2, 1, 4)


def merge_heads(heads: Tensor, proj_weight: Tensor, proj_bias: Tensor) -> Tensor:
    """Attention output [B, heads, M, D] -> the proj layer's output [B, M, C]."""
    batch, num_heads, cells, head_dim = heads.shape
    merged = heads.transpose(1, 2).reshape(batch, cells, num_heads * head_dim)
    return F.linear(merged, proj_weight.float(), proj_bias.float())


def refine(
    stokens: Tensor, qkv_weight: Tensor, qkv_bias: Tensor, proj_weight: Tensor, proj_bias: Tensor,
    num_heads: int, attn_scale: float,
) -> Tensor:
    """Multi-head self-attention over the super tokens [B, M, C] (STViT's `stoken_refine`)."""
    q, k, v = split_heads(stokens, qkv_weight, qkv_bias, num_heads)
    return merge_heads(softmax_attention(q, k, v, attn_scale), proj_weight, proj_bias)


def upsample(stokens: Tensor, assoc: Tensor, grid: StokenGrid, out_shape: torch.Size) -> Tensor:
    """Tokens from super tokens through the association: [B, M, C] -> [B, C, H0, W0]."""
    batch, channels = out_shape[:2]
    tokens = torch.matmul(assoc, neighbours(stokens, grid))  # [B, M, T, C]
    tokens = tokens.reshape(batch, grid.rows, grid.cols, grid.cell_h, grid.cell_w, channels)
    height, width = grid.padded
    tokens = tokens.permute(0, 5, 1, 3, 2, 4).reshape(batch, channels, height, width)
    return tokens[:, :, : grid.height, : grid.width]


def super_token_attention(
    x: Tensor,
    qkv_weight: Tensor,
    qkv_bias: Tensor,
    proj_weight: Tensor,
    proj_bias: Tensor,
    stoken_height: int,
    stoken_width: int,
    n_iter: int,
    num_heads: int,
    assoc_scale: float,
    attn_scale: float,
) -> Tensor:
    """Super token attention on x [B, C, H0, W0] -> [B, C, H0, W0].

    1. Zero-pad to multiples of the super-token size; super tokens S = mean of each cell's tokens.
    2. n_iter times: association A = softmax_9(assoc_scale * <token, 3x3 neighbouring S>), then
       S = sum_tokens A * token / (sum_tokens A + 1e-12) over the tokens associated with each S.
    3. S' = proj(MHSA(qkv(S))): num_heads heads, softmax scale attn_scale.
    4. Each token = sum_9 A * S' of its neighbouring super tokens (last A), padding cropped.
    Weights: qkv_weight [3C, C], qkv_bias [3C], proj_weight [C, C], proj_bias [C].
    Computed in fp32; the result has x's dtype.
    """
    check_inputs(x, qkv_weight, qkv_bias, proj_weight, proj_bias, stoken_height, stoken_width,
                 n_iter, num_heads)
    grid = StokenGrid(x.shape[2], x.shape[3], stoken_height, stoken_width)
    stokens, assoc = sample_super_tokens(x, grid, n_iter, assoc_scale)
    stokens = refine(stokens, qkv_weight, qkv_bias, proj_weight, proj_bias, num_heads, attn_scale)
    return upsample(stokens, assoc, grid, x.shape).to(x.dtype)
