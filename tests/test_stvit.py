"""STViT: timm registration, parameter counts, official forward semantics, checkpoint filter, the rewrite to
edgeattn ops (same function, shared weights, head-wise edits), export parity."""

from __future__ import annotations

import copy
import re
import subprocess
import sys

import numpy as np
import pytest
import timm
import torch
import torch.nn.functional as F
from timm.models import reparameterize_model

from onnx_helpers import export_flavour, run_plugins, run_portable
from torch.utils._python_dispatch import TorchDispatchMode

import edgeattn.backbones.stvit as stvit
from edgeattn.backbones.stats import load_stats, measure, model_ops
from edgeattn.backbones.weights import load_checkpoint
from edgeattn.errors import EdgeattnError, UsageError
from edgeattn.ops.rewrite import rewrite_model
from edgeattn.tolerances import MODEL_FP32_MIN_COSINE, REWRITE_MAX_REL, model_fp32_atol

SEED = 42
CONFIGS = {  # depths, heads, cell sizes
    "stvit_s": ((3, 5, 9, 3), (1, 2, 5, 8), (8, 4, 1, 1)),
    "stvit_b": ((4, 6, 14, 6), (2, 3, 6, 8), (8, 4, 1, 1)),
    "stvit_l": ((4, 7, 19, 8), (2, 3, 7, 10), (8, 4, 1, 1)),
}
PAPER_PARAMS_M = {"stvit_s": 25, "stvit_b": 52, "stvit_l": 95}
"""Table 2 of the paper and the official README (whole millions)."""
OFFICIAL_PARAMS = {"stvit_s": 25_495_624, "stvit_b": 51_691_288, "stvit_l": 94_971_096}
"""Trainable parameters of hhb072/STViT models/stvit.py (stvit_small/base/large), counted from that code;
it also holds 162 frozen identity-kernel values per block (Unfold/Fold), which are not parameters here."""


def seeded_model(name: str, **kwargs) -> stvit.STViT:
    """An STViT with random weights, non-trivial BN statistics and layer scales (so no path hides)."""
    torch.manual_seed(SEED)
    model = timm.create_model(name, **kwargs).eval()
    generator = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                count = module.num_features
                module.running_mean.copy_(0.1 * torch.randn(count, generator=generator))
                module.running_var.copy_(torch.rand(count, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(count, generator=generator) + 0.5)
                module.bias.copy_(0.1 * torch.randn(count, generator=generator))
        for key, param in model.named_parameters():
            if key.endswith(".gamma"):
                param.copy_(torch.rand(param.shape, generator=generator) * 0.2 + 0.05)
    return model


def image(batch: int, height: int, width: int) -> torch.Tensor:
    return torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(SEED))


_TO_OFFICIAL = [
    (r"^stem\.", "patch_embed.proj."),
    (r"^stages\.(\d)\.downsample\.conv\.", lambda m: f"layers.{int(m[1]) - 1}.downsample.proj.0."),
    (r"^stages\.(\d)\.downsample\.norm\.", lambda m: f"layers.{int(m[1]) - 1}.downsample.proj.1."),
    (r"^stages\.(\d)\.blocks\.", r"layers.\1.blocks."),
    (r"\.norm1\.", ".norm1.norm."),
    (r"\.attn\.", ".attn.stoken_refine."),
    (r"\.mlp\.dwconv\.", ".mlp2.conv."),
    (r"\.mlp\.", ".mlp2."),
    (r"^head_proj\.conv\.", "proj."),
    (r"^head_proj\.norm\.", "norm."),
]


def to_official(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our keys -> official hhb072/STViT keys (written independently of the filter), with the frozen
    Unfold/Fold identity kernels the official blocks carry."""
    out = {}
    for key, value in state_dict.items():
        gamma = re.search(r"\.ls([12])\.gamma$", key)
        if gamma:
            key, value = key[: gamma.start()] + f".gamma_{gamma[1]}", value.reshape(1, -1, 1, 1)
        for pattern, replacement in _TO_OFFICIAL:
            key = re.sub(pattern, replacement, key)
        out[key] = value
        if key.endswith(".pos_embed.conv.weight"):
            block = key.removesuffix("pos_embed.conv.weight")
            out[block + "attn.unfold.weights"] = torch.eye(9).reshape(9, 1, 3, 3)
            out[block + "attn.fold.weights"] = torch.eye(9).reshape(9, 1, 3, 3)
    return out


def _bn(sd, x, key):
    return F.batch_norm(x, sd[key + ".running_mean"], sd[key + ".running_var"], sd[key + ".weight"],
                        sd[key + ".bias"], training=False, eps=1e-5)


def _conv(sd, x, key, **kwargs):
    return F.conv2d(x, sd[key + ".weight"], sd[key + ".bias"], **kwargs)


def _official_unfold(sd, key, maps):
    """The official `Unfold`: a conv with the frozen 3x3 identity kernels -> [B, C * 9, hh * ww]."""
    batch, channels, height, width = maps.shape
    out = F.conv2d(maps.reshape(batch * channels, 1, height, width), sd[key + "unfold.weights"], padding=1)
    return out.reshape(batch, channels * 9, height * width)


def _official_fold(sd, key, x):
    """The official `Fold`: the transposed conv with the frozen identity kernels."""
    return F.conv_transpose2d(x, sd[key + "fold.weights"], padding=1)


def _official_refine(sd, x, key, heads):
    """The official `Attention` on a [B, C, H, W] map (keys on dim -2 of the attention matrix)."""
    batch, channels, height, width = x.shape
    qkv = _conv(sd, x, key + "qkv").reshape(batch, heads, 3 * channels // heads, height * width)
    q, k, v = qkv.chunk(3, dim=2)
    attn = ((k.transpose(-1, -2) @ q) * (channels // heads) ** -0.5).softmax(dim=-2)
    return _conv(sd, (v @ attn).reshape(batch, channels, height, width), key + "proj")


def _official_neighbours(sd, key, stokens):
    batch, channels, rows, cols = stokens.shape
    return _official_unfold(sd, key, stokens).transpose(1, 2).reshape(batch, rows * cols, channels, 9)


def _official_stoken(sd, x, key, heads, cell):
    """The official `StokenAttention.stoken_forward` with one iteration (all official models use one)."""
    batch, channels, height0, width0 = x.shape
    x = F.pad(x, (0, (cell - width0 % cell) % cell, 0, (cell - height0 % cell) % cell))
    height, width = x.shape[-2:]
    rows, cols = height // cell, width // cell
    pixels = x.reshape(batch, channels, rows, cell, cols, cell).permute(0, 2, 4, 3, 5, 1)
    pixels = pixels.reshape(batch, rows * cols, cell * cell, channels)
    near = _official_neighbours(sd, key, F.adaptive_avg_pool2d(x, (rows, cols)))
    affinity = (pixels @ near * channels**-0.5).softmax(-1)
    mass = _official_fold(sd, key, affinity.sum(2).transpose(1, 2).reshape(batch, 9, rows, cols))
    stokens = (pixels.transpose(-1, -2) @ affinity).permute(0, 2, 3, 1).reshape(batch * channels, 9, rows, cols)
    stokens = _official_fold(sd, key, stokens).reshape(batch, channels, rows, cols) / (mass + 1e-12)
    stokens = _official_refine(sd, stokens, key + "stoken_refine.", heads)
    pixels = _official_neighbours(sd, key, stokens) @ affinity.transpose(-1, -2)
    pixels = pixels.reshape(batch, rows, cols, channels, cell, cell).permute(0, 3, 1, 4, 2, 5)
    return pixels.reshape(batch, channels, height, width)[:, :, :height0, :width0]


def _official_attention(sd, x, key, heads, cell):
    """The official `StokenAttention`: super token attention, or its direct (cell 1) path."""
    if cell > 1:
        return _official_stoken(sd, x, key, heads, cell)
    return _official_refine(sd, x, key + "stoken_refine.", heads)


def official_forward(sd: dict[str, torch.Tensor], x: torch.Tensor, name: str) -> torch.Tensor:
    """The official STViT forward written as functions over an official-format state dict."""
    depths, heads, cells = CONFIGS[name]
    for index, stride in zip((0, 3, 6, 9), (2, 1, 2, 1), strict=True):
        x = _bn(sd, F.gelu(_conv(sd, x, f"patch_embed.proj.{index}", stride=stride, padding=1)),
                f"patch_embed.proj.{index + 2}")
    for i, depth in enumerate(depths):
        if i:
            x = _bn(sd, _conv(sd, x, f"layers.{i - 1}.downsample.proj.0", stride=2, padding=1),
                    f"layers.{i - 1}.downsample.proj.1")
        channels = x.shape[1]
        for j in range(depth):
            p = f"layers.{i}.blocks.{j}."
            x = x + _conv(sd, x, p + "pos_embed.conv", padding=1, groups=channels)
            norm = F.layer_norm(x.permute(0, 2, 3, 1), (channels,), sd[p + "norm1.norm.weight"],
                                sd[p + "norm1.norm.bias"], eps=1e-6).permute(0, 3, 1, 2)
            attn = _official_attention(sd, norm, p + "attn.", heads[i], cells[i])
            x = x + sd.get(p + "gamma_1", 1.0) * attn
            m = F.gelu(_conv(sd, _bn(sd, x, p + "norm2"), p + "mlp2.fc1"))
            m = m + _conv(sd, m, p + "mlp2.conv.conv", padding=1, groups=m.shape[1])
            x = x + sd.get(p + "gamma_2", 1.0) * _conv(sd, m, p + "mlp2.fc2")
    x = F.silu(_bn(sd, _conv(sd, x, "proj"), "norm"))
    return F.linear(x.mean(dim=(2, 3)), sd["head.weight"], sd["head.bias"])


@pytest.mark.parametrize("name", CONFIGS)
def test_registered_with_published_param_count(name):
    with torch.device("meta"):
        model = timm.create_model(name)
    params = sum(p.numel() for p in model.parameters())
    assert params == OFFICIAL_PARAMS[name]
    # The paper prints whole millions: stvit_s (25.50M) is 2 % above its "25M", b and l within 1 %.
    assert round(params / 1e6) == PAPER_PARAMS_M[name]
    assert abs(params / 1e6 - PAPER_PARAMS_M[name]) <= max(0.01 * PAPER_PARAMS_M[name], 0.5)
    depths, heads, cells = CONFIGS[name]
    assert tuple(len(stage.blocks) for stage in model.stages) == depths
    assert [stage.blocks[0].attn.num_heads for stage in model.stages] == list(heads)
    kinds = [type(stage.blocks[0].attn) for stage in model.stages]
    assert kinds == [stvit.StokenAttention] * 2 + [stvit.GlobalAttention] * 2
    assert [stage.blocks[0].attn.stoken_size for stage in model.stages[:2]] == [(c, c) for c in cells[:2]]


def test_import_edgeattn_backbones_registers_the_family_with_timm():
    code = "import edgeattn.backbones, timm; m = timm.create_model('stvit_s', num_classes=3); print(type(m).__name__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "STViT"


def test_specs_describe_every_variant():
    assert [s.name for s in stvit.SPECS] == list(CONFIGS)
    for spec in stvit.SPECS:
        assert (spec.family, spec.source, spec.timm_name) == ("stvit", "native", spec.name)
        assert model_ops(spec.name) == ["MultiHeadAttention", "SuperTokenAttention"] and spec.stride == 32
        assert spec.input_size == (3, 224, 224) and spec.crop_pct == 0.875 and spec.pretrained_tag is None
        assert timm.is_model(spec.timm_name)


@pytest.mark.parametrize("name, size", [("stvit_s", (40, 40)), ("stvit_b", (72, 40))])
def test_forward_matches_official_forward_with_padded_cells(name, size):
    """40 px: stage-1 10x10 tokens in 8x8 cells and stage-2 5x5 in 4x4 cells, both zero-padded."""
    model = seeded_model(name)
    x = image(2, *size)
    with torch.no_grad():
        expected = official_forward(to_official(model.state_dict()), x, name)
        out = model(x)
    torch.testing.assert_close(out, expected, atol=2e-5, rtol=1e-5)


def test_timm_interface():
    model = seeded_model("stvit_s")
    x = image(1, 64, 64)
    with torch.no_grad():
        features = model.forward_features(x)
        logits = model(x)
        pooled = model.forward_head(features, pre_logits=True)
        final, intermediates = model.forward_intermediates(x)
    assert features.shape == (1, 1024, 2, 2) and logits.shape == (1, 1000)
    torch.testing.assert_close(model.forward_head(features), logits)
    torch.testing.assert_close(pooled, features.mean(dim=(2, 3)))
    torch.testing.assert_close(final, features)
    assert [t.shape[1:] for t in intermediates] == [(64, 16, 16), (128, 8, 8), (320, 4, 4), (512, 2, 2)]
    model.reset_classifier(7)
    assert model(x).shape == (1, 7)
    model.reset_classifier(0, "")
    torch.testing.assert_close(model(x), features)


def test_features_only():
    torch.manual_seed(SEED)
    backbone = timm.create_model("stvit_s", features_only=True).eval()
    with torch.no_grad():
        maps = backbone(image(1, 64, 64))
    assert [m.shape[1:] for m in maps] == [(64, 16, 16), (128, 8, 8), (320, 4, 4), (512, 2, 2)]
    assert backbone.feature_info.reduction() == [4, 8, 16, 32]


def test_reparameterize_folds_batchnorms_exactly():
    model = seeded_model("stvit_s")
    x = image(1, 72, 40)
    with torch.no_grad():
        expected = model(x)
        fused = reparameterize_model(model, inplace=False)
        actual = fused(x)
    left = [n for n, m in fused.named_modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert left == ["stem.2", "stem.5", "stem.8", "stem.11"], "only the BNs after GELU stay"
    assert isinstance(fused.stages[1].downsample, torch.nn.Conv2d) and isinstance(fused.head_proj, torch.nn.Conv2d)
    assert (actual - expected).abs().max() <= REWRITE_MAX_REL * expected.abs().max()


def test_checkpoint_filter_round_trip_strict(tmp_path):
    source = seeded_model("stvit_b")
    official = to_official(source.state_dict())
    assert "layers.2.blocks.0.gamma_1" in official and "layers.0.downsample.proj.1.running_var" in official
    assert "layers.0.blocks.0.attn.unfold.weights" in official
    x = image(1, 64, 64)
    with torch.no_grad():
        expected = source(x)
    torch.manual_seed(SEED + 1)
    target = timm.create_model("stvit_b").eval()
    assert not torch.equal(target(x), expected)
    target.load_state_dict(stvit.checkpoint_filter_fn({"model": dict(official)}, target), strict=True)
    with torch.no_grad():
        assert torch.equal(target(x), expected)
    path = tmp_path / "stvit-base-224.pth"
    torch.save({"model": official, "epoch": 299}, path)
    fresh = timm.create_model("stvit_b").eval()
    load_checkpoint(fresh, path)
    with torch.no_grad():
        assert torch.equal(fresh(x), expected)


def test_checkpoint_filter_drops_the_classifier_for_headless_models():
    official = to_official(seeded_model("stvit_s").state_dict())
    headless = timm.create_model("stvit_s", num_classes=0)
    headless.load_state_dict(stvit.checkpoint_filter_fn(official, headless), strict=True)


def test_checkpoint_filter_refuses_a_changed_identity_kernel():
    official = to_official(seeded_model("stvit_s").state_dict())
    official["layers.1.blocks.2.attn.fold.weights"] = torch.ones(9, 1, 3, 3)
    with pytest.raises(EdgeattnError, match="identity kernel"):
        stvit.checkpoint_filter_fn(official, timm.create_model("stvit_s"))


def test_checkpoint_of_another_variant_is_refused(tmp_path):
    with torch.device("meta"):
        small = timm.create_model("stvit_s")
    path = tmp_path / "stvit-small-224.pth"
    torch.save({"model": {k: torch.zeros(v.shape) for k, v in to_official(small.state_dict()).items()}}, path)
    with pytest.raises(EdgeattnError, match="does not match STViT"):
        load_checkpoint(timm.create_model("stvit_b"), path)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a.ravel(), b.ravel()) / (np.linalg.norm(a) * np.linalg.norm(b)))


class _ScaledOps(TorchDispatchMode):
    """Multiplies the output of every edgeattn op call: a broken op."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        return out * 1.5 if func.namespace == "edgeattn" else out


def _max_rel(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return float((actual - expected).abs().max() / expected.abs().max())


def test_rewrite_swaps_every_attention_and_keeps_the_function():
    original = seeded_model("stvit_s", depths=(2, 3, 2, 1))
    rewritten, swaps = rewrite_model(copy.deepcopy(original))
    assert sorted({line.rpartition("-> ")[2] for line in swaps}) == model_ops("stvit_s")
    assert sum("StokenAttention -> SuperTokenAttention" in line for line in swaps) == 2 + 3
    assert sum("GlobalAttention -> MultiHeadAttention" in line for line in swaps) == 2 + 1
    assert not [m for m in rewritten.modules() if isinstance(m, (stvit.StokenAttention, stvit.GlobalAttention))]
    assert list(rewritten.state_dict()) == list(original.state_dict())
    x = image(2, 72, 40)
    with torch.no_grad():
        expected, actual = original(x), rewritten(x)
        with _ScaledOps():
            broken = rewritten(x)
    assert _max_rel(actual, expected) <= REWRITE_MAX_REL
    assert _max_rel(broken, expected) > 100 * REWRITE_MAX_REL, "the attention must be visible in the output"


def test_rewrite_shares_the_original_parameters():
    original = seeded_model("stvit_s", depths=(1, 1, 1, 1))
    before = {p.data_ptr() for p in original.parameters()}
    rewritten, _ = rewrite_model(original)
    assert {p.data_ptr() for p in rewritten.parameters()} <= before


@pytest.mark.parametrize(
    "module, shape",
    [
        (lambda: stvit.StokenAttention(12, 3, (4, 3), n_iter=2), (2, 12, 13, 11)),
        (lambda: stvit.StokenAttention(8, 2, (8, 8)), (1, 8, 7, 7)),
        (lambda: stvit.GlobalAttention(16, 4), (2, 16, 5, 7)),
    ],
    ids=["stoken-13x11-cells4x3-iter2", "stoken-one-padded-cell", "global-5x7"],
)
def test_attention_modules_match_their_op_modules_at_odd_sizes(module, shape):
    torch.manual_seed(SEED)
    original = module().eval()
    x = torch.randn(shape, generator=torch.Generator().manual_seed(SEED))
    rewritten, swaps = rewrite_model(copy.deepcopy(original))
    assert len(swaps) == 1 and type(rewritten) is not type(original)
    with torch.no_grad():
        assert _max_rel(rewritten(x), original(x)) <= REWRITE_MAX_REL


@pytest.mark.parametrize("build", [lambda: stvit.StokenAttention(10, 3, (2, 2)), lambda: stvit.GlobalAttention(10, 4),
                                   lambda: stvit.StokenAttention(8, 2, (2, 2), n_iter=0)],
                         ids=["stoken-heads", "global-heads", "stoken-n-iter"])
def test_bad_attention_configuration_is_a_usage_error(build):
    with pytest.raises(UsageError, match="heads|n_iter"):
        build()


def test_stats_entry_is_fresh_and_close_to_the_paper():
    """model_stats.json holds what `measure` gives (params, MACs at 224, ops); the paper reports 4.4 GFLOPs."""
    assert measure(stvit.SPECS[0]) == load_stats()["stvit_s"]
    assert load_stats()["stvit_s"]["gmacs"] == pytest.approx(4.4, rel=0.05)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a.ravel(), b.ravel()) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_export_parity_both_flavours():
    """A shallow stvit_s (the full variants go through tests/test_export.py): both attention kinds,
    BatchNorms folded, portable graph on ONNX Runtime and plugin graph on the ReferenceEvaluator."""
    model = reparameterize_model(seeded_model("stvit_s", depths=(1, 2, 1, 1)), inplace=True)
    x = image(1, 64, 96)
    with torch.no_grad():
        ref = model(x).numpy()
    model, _ = rewrite_model(model)
    atol = model_fp32_atol(float(np.abs(ref).max()))
    portable = export_flavour(model, (x,), "portable")
    assert {n.domain for n in portable.graph.node} <= {"", "ai.onnx"}
    (out,) = run_portable(portable, [x.numpy()])
    assert np.abs(out - ref).max() <= atol and _cosine(out, ref) >= MODEL_FP32_MIN_COSINE
    plugins = export_flavour(model, (x,), "plugins")
    kinds = [n.op_type for n in plugins.graph.node if n.domain == "edgeattn"]
    assert kinds.count("SuperTokenAttention") == 1 + 2 and kinds.count("MultiHeadAttention") == 1 + 1
    assert not {"Softmax", "ReduceSum"} & {n.op_type for n in plugins.graph.node}, "attention left outside the ops"
    (out,) = run_plugins(plugins, [x.numpy()])
    assert np.abs(out - ref).max() <= atol and _cosine(out, ref) >= MODEL_FP32_MIN_COSINE


def test_deployable_plugin_graph_decomposes_super_token_attention():
    """SuperTokenAttention has no TensorRT plugin: the exporter's plugin graph decomposes it into standard ops
    while the global stages keep their MultiHeadAttention plugin nodes; it matches torch and the portable graph."""
    from edgeattn.ops import get_op, plugin_graph_ops

    assert get_op("SuperTokenAttention").plugin_kernels is None and get_op("MultiHeadAttention").plugin_kernels
    model = reparameterize_model(seeded_model("stvit_s", depths=(1, 2, 1, 1)), inplace=True)
    x = image(1, 64, 96)
    with torch.no_grad():
        ref = model(x).numpy()
    model, _ = rewrite_model(model)
    plugins = export_flavour(model, (x,), "plugins", deployable=True)
    kinds = [n.op_type for n in plugins.graph.node if n.domain == "edgeattn"]
    assert kinds == ["MultiHeadAttention"] * (1 + 1), kinds
    assert "Softmax" in {n.op_type for n in plugins.graph.node}, "the super token association is decomposed"
    (out,) = run_plugins(plugins, [x.numpy()])
    assert np.abs(out - ref).max() <= model_fp32_atol(float(np.abs(ref).max()))
    assert _cosine(out, ref) >= MODEL_FP32_MIN_COSINE
    (portable,) = run_portable(export_flavour(model, (x,), "portable"), [x.numpy()])
    assert np.abs(out - portable).max() <= 1e-4 * np.abs(portable).max()
    assert plugin_graph_ops(model_ops("stvit_s")) == {"plugin": ["MultiHeadAttention"],
                                                      "portable": ["SuperTokenAttention"]}
