"""What an edgeattn attention module offers head-wise calibration, and the exact weight edits it uses.

Each op folder's modules (the replacements its `ModuleSwap`s build) subclass `HeadwiseAttention` when
their weights can move per-head range spread without changing the fp32 function:
- `scale_qk(a)`: q[h, d] * a, k[h, d] / a (q . k is unchanged; softmax and linear attention alike);
- `scale_heads(sq, sk)`: linear attention only: q[h] * sq, k[h] * sk (the normaliser cancels them);
- `scale_v(b)`: v[h, d] * b and the output projection's matching input columns / b (attention is linear
  in each value channel; ReLU before a projection is positively homogeneous).
Factors are [H, D] tensors. Calibration observes the module's own forward: its op calls are captured
(`OpDef.capture`), so no second copy of the attention maths exists.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from typing import ClassVar

from torch import Tensor, nn


class HeadwiseAttention(nn.Module, metaclass=ABCMeta):
    """Base of attention modules whose Q/K/V ranges can be rebalanced per head in the weights."""

    kind: ClassVar[str] = "softmax"
    """"softmax" or "linear"."""
    v_free: ClassVar[bool] = True
    """False where only part of V can be rescaled exactly (cascaded heads feed each other)."""

    heads: int
    qk_dim: int
    v_dim: int

    @abstractmethod
    def scale_qk(self, a: Tensor) -> None:
        """Multiply Q by `a` and divide K by `a` per channel of each head."""

    @abstractmethod
    def scale_v(self, b: Tensor) -> None:
        """Multiply V by `b` per channel and divide the matching output-projection inputs by `b`."""

    def scale_heads(self, sq: Tensor, sk: Tensor) -> None:
        """Independent per-head Q and K factors: only ReLU linear attention has this freedom."""
        raise ValueError(f"{self.kind} attention has no free per-head Q/K scales")


def conv_norm(module: nn.Module) -> tuple[nn.Module, nn.Module | None]:
    """(conv, norm) of a timm conv+norm block (SHViT `c`/`bn`, MSRA `conv`/`bn`, MIT `conv`/`norm`) or a
    plain (BN-fused) conv."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        return module, None
    for conv_name, norm_name in (("c", "bn"), ("conv", "bn"), ("conv", "norm")):
        conv, norm = getattr(module, conv_name, None), getattr(module, norm_name, None)
        if isinstance(conv, nn.Conv2d):
            return conv, norm
    raise TypeError(f"unsupported conv block {type(module).__name__}")


def scale_out(module: nn.Module, factors: Tensor) -> None:
    """Scale the output channels of a conv (+ optional BatchNorm) block by `factors`."""
    conv, norm = conv_norm(module)
    factors = factors.to(conv.weight.dtype)
    if isinstance(norm, nn.BatchNorm2d):
        norm.weight.mul_(factors)
        norm.bias.mul_(factors)
        return
    conv.weight.mul_(factors.reshape(-1, *([1] * (conv.weight.dim() - 1))))
    if conv.bias is not None:
        conv.bias.mul_(factors)


def scale_in(module: nn.Module, start: int, factors: Tensor) -> None:
    """Multiply the input channels [start, start + len) of a dense Conv2d / ConvTranspose2d by `factors`."""
    conv = conv_norm(module)[0]
    factors = factors.to(conv.weight.dtype)
    stop = start + factors.numel()
    if isinstance(conv, nn.ConvTranspose2d):
        conv.weight[start:stop].mul_(factors.reshape(-1, 1, 1, 1))
    else:
        conv.weight[:, start:stop].mul_(factors.reshape(1, -1, 1, 1))


def scale_linear_out(linear: nn.Linear, factors: Tensor) -> None:
    """Scale the output features (weight rows and bias) of a Linear layer by `factors`."""
    factors = factors.reshape(-1).to(linear.weight.dtype)
    linear.weight.mul_(factors[:, None])
    if linear.bias is not None:
        linear.bias.mul_(factors)


def scale_linear_in(linear: nn.Linear, factors: Tensor) -> None:
    """Multiply the input features (weight columns) of a Linear layer by `factors`."""
    linear.weight.mul_(factors.reshape(1, -1).to(linear.weight.dtype))


class ProjectedAttention(HeadwiseAttention):
    """Head-wise attention whose Q, K, V and output projections are `nn.Linear` layers (`q_proj`, `k_proj`,
    `v_proj`, `out_proj` of the source module, heads contiguous in the features, as in DSVT)."""

    def __init__(self, src: nn.Module) -> None:
        super().__init__()
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = src.q_proj, src.k_proj, src.v_proj, src.out_proj
        self.scale = src.scale
        self.heads = src.heads
        self.qk_dim = self.v_dim = src.q_proj.out_features // src.heads

    def scale_qk(self, a: Tensor) -> None:
        scale_linear_out(self.q_proj, a)
        scale_linear_out(self.k_proj, 1 / a)

    def scale_v(self, b: Tensor) -> None:
        scale_linear_out(self.v_proj, b)
        scale_linear_in(self.out_proj, 1 / b)
