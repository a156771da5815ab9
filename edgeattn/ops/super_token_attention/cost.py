"""FLOPs and traffic of one SuperTokenAttention call: x [B, C, H0, W0], super-token cells h x w, n iterations.

Per padded token (N = B * M * T of them) and iteration: 9 association logits and 9 weighted partial sums
(2 * 9 * C FLOPs each) and a 9-way softmax; the upsampling adds 2 * 9 * C per token. Over the M super
tokens of each image: the qkv (3C) and proj (C) layers, 8 M C^2, and the attention between them. An ideal
kernel reads x and the weights once and writes the output once."""

from __future__ import annotations

from edgeattn.ops.cost import SOFTMAX_FLOPS, elements, numel, softmax_attention_flops
from edgeattn.ops.registry import OpCost
from edgeattn.ops.super_token_attention.layout import NEIGHBOURS, StokenGrid


def cost(shapes: dict[str, tuple[int, ...]], attributes: dict) -> OpCost:
    batch, channels, height, width = shapes["x"]
    grid = StokenGrid(height, width, int(attributes["stoken_height"]), int(attributes["stoken_width"]))
    n_iter, heads = int(attributes["n_iter"]), int(attributes["num_heads"])
    tokens = batch * grid.cells * grid.tokens_per_cell
    association = n_iter * tokens * NEIGHBOURS * (4 * channels + SOFTMAX_FLOPS)
    upsampling = 2 * tokens * NEIGHBOURS * channels
    projections = 8.0 * batch * grid.cells * channels**2
    head_dim = channels // heads
    attention = softmax_attention_flops(batch * heads, grid.cells, grid.cells, head_dim, head_dim)
    return OpCost(association + upsampling + projections + attention, elements(shapes), numel(shapes["x"]))
