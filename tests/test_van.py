"""VAN: timm registration, official forward semantics, checkpoint filters, rewrite and ONNX export parity."""

from __future__ import annotations

import re

import numpy as np
import pytest
import timm
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from timm.utils import reparameterize_model

import edgeattn.backbones.van as van
from edgeattn.backbones.stats import model_ops
from edgeattn.backbones.weights import load_checkpoint
from edgeattn.errors import EdgeattnError
from onnx_helpers import export_flavour, run_plugins, run_portable
from edgeattn.ops.large_kernel_attention.modules import EdgeLKA
from edgeattn.ops.rewrite import rewrite_model
from edgeattn.tolerances import MODEL_FP32_MIN_COSINE, REWRITE_MAX_REL, model_fp32_atol

SEED = 42
DEPTHS = {"van_b0": (3, 3, 5, 2), "van_b1": (2, 2, 4, 2), "van_b2": (3, 3, 12, 3), "van_b3": (3, 5, 27, 3)}
PUBLISHED_PARAMS_M = {"van_b0": 4.1, "van_b1": 13.9, "van_b2": 26.6, "van_b3": 44.8}
EXPORT_RESOLUTION = {"van_b0": 96, "van_b1": 96, "van_b2": 64, "van_b3": 64}


def seeded_model(name: str, **kwargs) -> van.VAN:
    """A VAN with random weights and non-trivial BN statistics and layer scales (so no path hides)."""
    torch.manual_seed(SEED)
    model = timm.create_model(name, **kwargs).eval()
    generator = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.copy_(0.1 * torch.randn(module.num_features, generator=generator))
                module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
            if isinstance(module, torch.nn.LayerNorm):
                module.bias.copy_(0.1 * torch.randn(module.normalized_shape, generator=generator))
        for name_, param in model.named_parameters():
            if name_.endswith(".gamma"):
                param.copy_(torch.rand(param.shape, generator=generator) * 0.08 + 0.02)
    return model


def image(batch: int, height: int, width: int) -> torch.Tensor:
    return torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(SEED))


# Our keys -> official Visual-Attention-Network/VAN-Classification keys (written independently of the filter).
def to_official(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state_dict.items():
        key = re.sub(r"^stages\.(\d)\.patch_embed\.", lambda m: f"patch_embed{int(m[1]) + 1}.", key)
        key = re.sub(r"^stages\.(\d)\.blocks\.(\d+)\.", lambda m: f"block{int(m[1]) + 1}.{m[2]}.", key)
        key = re.sub(r"^stages\.(\d)\.norm\.", lambda m: f"norm{int(m[1]) + 1}.", key)
        key = key.replace(".attn.lka.", ".attn.spatial_gating_unit.")
        key = key.replace(".mlp.dwconv.", ".mlp.dwconv.dwconv.")
        key = key.replace(".ls1.gamma", ".layer_scale_1").replace(".ls2.gamma", ".layer_scale_2")
        out[key] = value
    return out


_TO_HF = [
    (".attn.lka.conv0.", ".attention.attention_layer.attention.depth_wise."),
    (".attn.lka.conv_spatial.", ".attention.attention_layer.attention.depth_wise_dilated."),
    (".attn.lka.conv1.", ".attention.attention_layer.attention.point_wise."),
    (".attn.proj_1.", ".attention.pre_projection.conv."),
    (".attn.proj_2.", ".attention.post_projection."),
    (".norm1.", ".pre_normomalization."),
    (".norm2.", ".post_normalization."),
    (".ls1.gamma", ".attention_scaling.weight"),
    (".ls2.gamma", ".mlp_scaling.weight"),
    (".mlp.fc1.", ".mlp.in_dense."),
    (".mlp.dwconv.", ".mlp.depth_wise."),
    (".mlp.fc2.", ".mlp.out_dense."),
]


# Our keys -> Hugging Face transformers VanModel ("") or VanForImageClassification ("van.") keys.
def to_hf(state_dict: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state_dict.items():
        if key.startswith("head."):
            out["classifier." + key.removeprefix("head.")] = value
            continue
        key = re.sub(r"^stages\.(\d)\.patch_embed\.proj\.", r"encoder.stages.\1.embeddings.convolution.", key)
        key = re.sub(
            r"^stages\.(\d)\.patch_embed\.norm\.", r"encoder.stages.\1.embeddings.normalization.", key
        )
        key = re.sub(r"^stages\.(\d)\.norm\.", r"encoder.stages.\1.normalization.", key)
        key = re.sub(r"^stages\.(\d)\.blocks\.", r"encoder.stages.\1.layers.", key)
        for ours, theirs in _TO_HF:
            key = key.replace(ours, theirs)
        out[prefix + key] = value
    width = state_dict["stages.3.norm.weight"].shape[0]
    out[prefix + "layernorm.weight"] = torch.ones(width)  # defined by VanModel, never applied
    out[prefix + "layernorm.bias"] = torch.zeros(width)
    return out


def official_forward(sd: dict[str, torch.Tensor], x: torch.Tensor, depths: tuple[int, ...]) -> torch.Tensor:
    """The official VAN forward written as functions over an official-format state dict."""

    def conv(t, key, **kwargs):
        return F.conv2d(t, sd[key + ".weight"], sd[key + ".bias"], **kwargs)

    def bn(t, key):
        return F.batch_norm(
            t, sd[key + ".running_mean"], sd[key + ".running_var"], sd[key + ".weight"], sd[key + ".bias"],
            training=False, eps=1e-5,
        )

    batch = x.shape[0]
    for i, depth in enumerate(depths, start=1):
        x = bn(conv(x, f"patch_embed{i}.proj", stride=4 if i == 1 else 2, padding=3 if i == 1 else 1),
               f"patch_embed{i}.norm")
        channels, height, width = x.shape[1:]
        for j in range(depth):
            p = f"block{i}.{j}."
            h = bn(x, p + "norm1")
            u = F.gelu(conv(h, p + "attn.proj_1"))
            lka = p + "attn.spatial_gating_unit."
            attn = conv(u, lka + "conv0", padding=2, groups=channels)
            attn = conv(attn, lka + "conv_spatial", padding=9, dilation=3, groups=channels)
            attn = conv(attn, lka + "conv1")
            a = conv(u * attn, p + "attn.proj_2") + h
            x = x + sd[p + "layer_scale_1"][:, None, None] * a
            m = conv(bn(x, p + "norm2"), p + "mlp.fc1")
            m = conv(F.gelu(conv(m, p + "mlp.dwconv.dwconv", padding=1, groups=m.shape[1])), p + "mlp.fc2")
            x = x + sd[p + "layer_scale_2"][:, None, None] * m
        norm = (sd[f"norm{i}.weight"], sd[f"norm{i}.bias"])
        tokens = F.layer_norm(x.flatten(2).transpose(1, 2), (channels,), *norm, eps=1e-6)
        x = tokens.reshape(batch, height, width, channels).permute(0, 3, 1, 2)
    return F.linear(x.mean(dim=(2, 3)), sd["head.weight"], sd["head.bias"])


@pytest.mark.parametrize("name", PUBLISHED_PARAMS_M)
def test_registered_with_published_param_count(name):
    with torch.device("meta"):
        model = timm.create_model(name)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    assert params == pytest.approx(PUBLISHED_PARAMS_M[name], rel=0.01)
    depths = tuple(len(stage.blocks) for stage in model.stages)
    assert depths == DEPTHS[name]
    assert model.pretrained_cfg["classifier"] == "head"


def test_specs_describe_every_variant():
    assert [s.name for s in van.SPECS] == list(DEPTHS)
    for spec in van.SPECS:
        assert (spec.family, spec.source, spec.timm_name) == ("van", "native", spec.name)
        assert model_ops(spec.name) == ["LargeKernelAttention"] and spec.stride == 32 and spec.pretrained_tag is None
        assert spec.test_resolution == 96 and spec.input_size == (3, 224, 224)
        assert timm.is_model(spec.timm_name)


def test_forward_matches_official_forward_odd_size():
    model = seeded_model("van_b0")
    x = image(2, 75, 53)
    with torch.no_grad():
        expected = official_forward(to_official(model.state_dict()), x, DEPTHS["van_b0"])
        out = model(x)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_timm_interface():
    model = seeded_model("van_b0")
    x = image(1, 96, 96)
    with torch.no_grad():
        features = model.forward_features(x)
        logits = model(x)
        pooled = model.forward_head(features, pre_logits=True)
        _, intermediates = model.forward_intermediates(x)
    assert features.shape == (1, 256, 3, 3) and logits.shape == (1, 1000)
    torch.testing.assert_close(model.forward_head(features), logits)
    torch.testing.assert_close(pooled, features.mean(dim=(2, 3)))
    assert [t.shape[1:] for t in intermediates] == [(32, 24, 24), (64, 12, 12), (160, 6, 6), (256, 3, 3)]
    torch.testing.assert_close(intermediates[-1], features)
    model.reset_classifier(7)
    assert model.num_classes == 7 and model(x).shape == (1, 7)
    model.reset_classifier(0)
    assert model(x).shape == (1, 256)
    model.reset_classifier(0, "")
    torch.testing.assert_close(model(x), features)


def test_reparameterize_folds_batchnorms_exactly():
    model = seeded_model("van_b0")
    x = image(1, 75, 53)
    with torch.no_grad():
        expected = model(x)
        fused = reparameterize_model(model, inplace=False)
        actual = fused(x)
    batchnorms = [n for n, m in fused.named_modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert batchnorms and all(n.endswith(".norm1") for n in batchnorms)
    assert isinstance(fused.stages[0].patch_embed, torch.nn.Conv2d)
    assert (actual - expected).abs().max() <= REWRITE_MAX_REL * expected.abs().max()


def test_features_only():
    torch.manual_seed(SEED)
    backbone = timm.create_model("van_b0", features_only=True).eval()
    with torch.no_grad():
        maps = backbone(image(1, 64, 64))
    assert [m.shape[1:] for m in maps] == [(32, 16, 16), (64, 8, 8), (160, 4, 4), (256, 2, 2)]
    assert backbone.feature_info.reduction() == [4, 8, 16, 32]


def _load_and_compare(source: van.VAN, naming: dict[str, torch.Tensor], path, target: van.VAN) -> None:
    x = image(1, 64, 64)
    with torch.no_grad():
        expected = source(x)
    assert not torch.equal(target(x), expected)
    target.load_state_dict(van.checkpoint_filter_fn(dict(naming), target), strict=True)
    with torch.no_grad():
        assert torch.equal(target(x), expected)
    fresh = timm.create_model("van_b0", num_classes=target.num_classes).eval()
    load_checkpoint(fresh, path)
    with torch.no_grad():
        assert torch.equal(fresh(x), expected)


def test_checkpoint_filter_official_naming(tmp_path):
    source = seeded_model("van_b0")
    official = to_official(source.state_dict())
    assert "block1.0.attn.spatial_gating_unit.conv_spatial.weight" in official
    path = tmp_path / "van_tiny_754.pth.tar"
    torch.save({"epoch": 300, "state_dict": official}, path)
    torch.manual_seed(SEED + 1)
    _load_and_compare(source, {"state_dict": official}, path, timm.create_model("van_b0").eval())


def test_checkpoint_filter_hf_image_classification_naming(tmp_path):
    source = seeded_model("van_b0")
    hf = to_hf(source.state_dict(), "van.")
    assert "van.encoder.stages.0.layers.0.pre_normomalization.running_var" in hf and "classifier.weight" in hf
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in hf.items()}, str(path))
    torch.manual_seed(SEED + 1)
    _load_and_compare(source, hf, path, timm.create_model("van_b0").eval())


def test_checkpoint_filter_hf_base_model_naming(tmp_path):
    source = seeded_model("van_b0", num_classes=0)
    hf = to_hf(source.state_dict(), "")
    assert "encoder.stages.3.normalization.weight" in hf and "layernorm.weight" in hf
    path = tmp_path / "pytorch_model.bin"
    torch.save(hf, path)
    torch.manual_seed(SEED + 1)
    _load_and_compare(source, hf, path, timm.create_model("van_b0", num_classes=0).eval())


def test_checkpoint_of_another_variant_is_refused(tmp_path):
    path = tmp_path / "van_small.pth"
    with torch.device("meta"):
        small = timm.create_model("van_b1")
    torch.save({k: torch.zeros(v.shape) for k, v in to_official(small.state_dict()).items()}, path)
    with pytest.raises(EdgeattnError, match="does not match VAN"):
        load_checkpoint(timm.create_model("van_b0"), path)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a.ravel(), b.ravel()) / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize("name", EXPORT_RESOLUTION)
def test_rewrite_and_export_parity(name):
    model = seeded_model(name)
    size = EXPORT_RESOLUTION[name]
    x = image(1, size, size)
    with torch.no_grad():
        ref = model(x)
    model, swaps = rewrite_model(model)
    assert len(swaps) == sum(DEPTHS[name]) and all(s.endswith("LKA -> LargeKernelAttention") for s in swaps)
    assert isinstance(model.stages[0].blocks[0].attn.lka, EdgeLKA)
    with torch.no_grad():
        rewritten = model(x)
    assert (rewritten - ref).abs().max() <= REWRITE_MAX_REL * ref.abs().max()
    ref_np = ref.numpy()
    atol = model_fp32_atol(float(np.abs(ref_np).max()))

    portable = export_flavour(model, (x,), "portable")
    assert not [n for n in portable.graph.node if n.domain == "edgeattn"]
    dilated = [n for n in portable.graph.node for a in n.attribute if a.name == "dilations" and a.ints == [3, 3]]
    assert len(dilated) == sum(DEPTHS[name])
    (out,) = run_portable(portable, [x.numpy()])
    assert np.abs(out - ref_np).max() <= atol and _cosine(out, ref_np) >= MODEL_FP32_MIN_COSINE

    plugins = export_flavour(model, (x,), "plugins")
    lka_nodes = [n for n in plugins.graph.node if n.op_type == "LargeKernelAttention"]
    assert len(lka_nodes) == sum(DEPTHS[name]) and all(n.domain == "edgeattn" for n in lka_nodes)
    dilations = [list(a.ints) for n in plugins.graph.node for a in n.attribute if a.name == "dilations"]
    assert all(d == [1, 1] for d in dilations), "a dilated depthwise conv was left outside the op"
    (out,) = run_plugins(plugins, [x.numpy()])
    assert np.abs(out - ref_np).max() <= atol and _cosine(out, ref_np) >= MODEL_FP32_MIN_COSINE
