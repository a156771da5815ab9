"""SuperTokenAttention in ONNX: schema, shape rule, portable decomposition, plugin node.

The portable form uses standard ops only (Pad, Reshape, Transpose, MatMul, Softmax, Gather,
ReduceMean/ReduceSum, Div, Slice). The 3x3 super-token neighbourhoods (unfold) and the scatter-add
of each cell's contributions back to its neighbours (fold) are single Gathers with index tables
computed at export time from the static token grid; the batch may be dynamic.
"""

from __future__ import annotations

from onnxscript import opset18 as op

from edgeattn.ops._onnx_common import (
    PLUGIN_ATTRIBUTES,
    Attribute,
    Input,
    cast_like_input,
    edgeattn_opset,
    register_schema,
    static_dim,
    to_float,
)
from edgeattn.ops.super_token_attention.layout import EPS, NEIGHBOURS, StokenGrid

OP_TYPE = "SuperTokenAttention"

SCHEMA = register_schema(
    OP_TYPE,
    "STViT super token attention on x [B, C, H, W]: zero-pad to multiples of the super-token size, "
    "super tokens = cell means; n_iter times: A = softmax over the 3x3 neighbouring super tokens of "
    "assoc_scale * <token, super token>, super tokens = A-weighted token means; then multi-head "
    "self-attention over the super tokens (qkv and proj linear layers, per-head [q, k, v] order) and "
    "every token = A-weighted sum of its neighbouring refined super tokens; padding cropped.",
    inputs=[
        Input("x", doc="token map [B, C, H, W] (after STViT's norm1)"),
        Input("qkv_weight", doc="super-token qkv projection [3C, C], per head [q, k, v] rows"),
        Input("qkv_bias", doc="its bias [3C]"),
        Input("proj_weight", doc="output projection [C, C]"),
        Input("proj_bias", doc="its bias [C]"),
    ],
    attributes=[
        Attribute("stoken_height", int, "super-token cell height h (STViT: 8 in stage 1, 4 in stage 2)"),
        Attribute("stoken_width", int, "super-token cell width w"),
        Attribute("n_iter", int, "association iterations (>= 1; STViT: 1)"),
        Attribute("num_heads", int, "heads of the super-token self-attention"),
        Attribute("assoc_scale", float, "multiplier of <token, super token> (STViT: C ** -0.5)"),
        Attribute("attn_scale", float, "softmax scale of the super-token attention (head_dim ** -0.5)"),
    ],
)


def output_shape(x: list[int], qkv_weight, qkv_bias, proj_weight, proj_bias) -> list[int]:
    """Shape rule: x's shape."""
    return list(x)


def _ints(values: list[int]):
    return op.Constant(value_ints=values)


def _cell_tokens(x, grid: StokenGrid, channels: int):
    """[B, C, H0, W0] -> zero-padded tokens per cell [B, M, T, C]."""
    height, width = grid.padded
    pads = [0, 0, 0, 0, 0, 0, height - grid.height, width - grid.width]
    x = op.Pad(x, _ints(pads)) if pads[6] or pads[7] else x
    x = op.Reshape(x, _ints([-1, channels, grid.rows, grid.cell_h, grid.cols, grid.cell_w]))
    x = op.Transpose(x, perm=[0, 2, 4, 3, 5, 1])
    return op.Reshape(x, _ints([-1, grid.cells, grid.tokens_per_cell, channels]))


def _gather_rows(rows, table: list[int], width: int, cells: int):
    """rows [B, R, K] plus a zero row R -> rows at `table` (flat, M * 9 entries) as [B, M, 9, K]."""
    padded = op.Pad(rows, _ints([0, 0, 0, 0, 1, 0]))
    gathered = op.Gather(padded, _ints(table), axis=1)
    return op.Reshape(gathered, _ints([-1, cells, NEIGHBOURS, width]))


def _neighbours(stokens, grid: StokenGrid, channels: int):
    """Super tokens [B, M, C] -> each cell's 3x3 neighbours [B, M, 9, C], zeros outside the grid."""
    return _gather_rows(stokens, grid.neighbour_table(), channels, grid.cells)


def _fold(per_cell, grid: StokenGrid, width: int):
    """[B, M, 9, K] contributions of each cell to its neighbours -> per super token [B, M, K]."""
    flat = op.Reshape(per_cell, _ints([-1, grid.cells * NEIGHBOURS, width]))
    incoming = _gather_rows(flat, grid.fold_table(), width, grid.cells)
    return op.ReduceSum(incoming, _ints([2]), keepdims=0)


def _iterate(tokens, grid: StokenGrid, channels: int, n_iter: int, assoc_scale: float):
    """Cell means, then n_iter (association, sampling) rounds; returns (super tokens, last A)."""
    stokens = op.ReduceMean(tokens, _ints([2]), keepdims=0)
    for _ in range(n_iter):
        near = _neighbours(stokens, grid, channels)
        logits = op.MatMul(tokens, op.Transpose(near, perm=[0, 1, 3, 2]))
        assoc = op.Softmax(op.Mul(logits, op.Constant(value_float=assoc_scale)), axis=-1)
        weighted = _fold(op.MatMul(op.Transpose(assoc, perm=[0, 1, 3, 2]), tokens), grid, channels)
        mass = _fold(op.Unsqueeze(op.ReduceSum(assoc, _ints([2]), keepdims=0), _ints([3])), grid, 1)
        stokens = op.Div(weighted, op.Add(mass, op.Constant(value_float=EPS)))
    return stokens, assoc


def _refine(stokens, qkv_weight, qkv_bias, proj_weight, proj_bias, cells: int, channels: int,
            num_heads: int, attn_scale: float):
    """Multi-head self-attention over [B, M, C] super tokens with the qkv / proj linear layers."""
    head_dim = channels // num_heads
    qkv = op.Add(op.MatMul(stokens, op.Transpose(to_float(qkv_weight), perm=[1, 0])), to_float(qkv_bias))
    qkv = op.Transpose(op.Reshape(qkv, _ints([-1, cells, num_heads, 3, head_dim])), perm=[3, 0, 2, 1, 4])
    q, k, v = (op.Gather(qkv, op.Constant(value_int=i), axis=0) for i in range(3))
    scores = op.Mul(op.MatMul(q, op.Transpose(k, perm=[0, 1, 3, 2])), op.Constant(value_float=attn_scale))
    out = op.MatMul(op.Softmax(scores, axis=-1), v)
    out = op.Reshape(op.Transpose(out, perm=[0, 2, 1, 3]), _ints([-1, cells, channels]))
    return op.Add(op.MatMul(out, op.Transpose(to_float(proj_weight), perm=[1, 0])), to_float(proj_bias))


def _upsample(stokens, assoc, grid: StokenGrid, channels: int):
    """[B, M, C] super tokens through A [B, M, T, 9] -> [B, C, H0, W0] (padding cropped)."""
    tokens = op.MatMul(assoc, _neighbours(stokens, grid, channels))
    tokens = op.Reshape(tokens, _ints([-1, grid.rows, grid.cols, grid.cell_h, grid.cell_w, channels]))
    height, width = grid.padded
    tokens = op.Reshape(op.Transpose(tokens, perm=[0, 5, 1, 3, 2, 4]), _ints([-1, channels, height, width]))
    if (height, width) == (grid.height, grid.width):
        return tokens
    return op.Slice(tokens, _ints([0, 0]), _ints([grid.height, grid.width]), _ints([2, 3]))


def portable(x, qkv_weight, qkv_bias, proj_weight, proj_bias, stoken_height: int, stoken_width: int,
             n_iter: int, num_heads: int, assoc_scale: float, attn_scale: float):
    """Standard ONNX ops only, fp32 inside; C, H and W static, the batch may be dynamic."""
    channels = static_dim(x, 1, OP_TYPE)
    grid = StokenGrid(static_dim(x, 2, OP_TYPE), static_dim(x, 3, OP_TYPE), stoken_height, stoken_width)
    tokens = _cell_tokens(to_float(x), grid, channels)
    stokens, assoc = _iterate(tokens, grid, channels, n_iter, assoc_scale)
    stokens = _refine(stokens, qkv_weight, qkv_bias, proj_weight, proj_bias, grid.cells, channels,
                      num_heads, attn_scale)
    return cast_like_input(_upsample(stokens, assoc, grid, channels), x)


def plugin(x, qkv_weight, qkv_bias, proj_weight, proj_bias, stoken_height: int, stoken_width: int,
           n_iter: int, num_heads: int, assoc_scale: float, attn_scale: float):
    """One `edgeattn::SuperTokenAttention` node; the projection weights are initializer inputs."""
    return edgeattn_opset().SuperTokenAttention(
        x, qkv_weight, qkv_bias, proj_weight, proj_bias,
        stoken_height=stoken_height,
        stoken_width=stoken_width,
        n_iter=n_iter,
        num_heads=num_heads,
        assoc_scale=assoc_scale,
        attn_scale=attn_scale,
        **PLUGIN_ATTRIBUTES,
    )
