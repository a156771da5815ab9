import pytest
import torch
from safetensors.torch import save_file

from edgeattn.backbones import create_model, get_spec
from edgeattn.errors import EdgeattnError, UsageError

SPEC = get_spec("ghostnetv2_100")
X = torch.randn(1, 3, 96, 96, generator=torch.Generator().manual_seed(42))


@pytest.fixture(scope="module")
def trained():
    """A model whose weights differ from the seed-0 random init."""
    model, _ = create_model(SPEC, seed=7)
    with torch.no_grad():
        reference = model(X)
    return model.state_dict(), reference


def _outputs(checkpoint):
    model, info = create_model(SPEC, checkpoint=checkpoint)
    with torch.no_grad():
        return model(X), info


def test_random_init_is_seeded():
    a, info = create_model(SPEC, seed=3)
    b, _ = create_model(SPEC, seed=3)
    assert info.kind == "random-init" and info.seed == 3
    for (ka, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(va, vb), ka


@pytest.mark.parametrize("fmt", ["pth-raw", "pth-wrapped", "safetensors"])
def test_checkpoint_round_trip(tmp_path, trained, fmt):
    state, reference = trained
    if fmt == "safetensors":
        path = tmp_path / "w.safetensors"
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        path = tmp_path / "w.pth"
        torch.save(state if fmt == "pth-raw" else {"model": state, "epoch": 3}, path)
    out, info = _outputs(path)
    assert info.kind == "checkpoint" and len(info.sha256) == 64
    torch.testing.assert_close(out, reference, rtol=0, atol=0)


def test_official_key_names_go_through_timm_filter(tmp_path, trained):
    state, reference = trained
    official = {(k.replace("bn1.", "bn.") if ".ghost" in k else k): v for k, v in state.items()}
    official["total_ops"] = torch.zeros(1)
    assert set(official) != set(state)
    path = tmp_path / "official.pth"
    torch.save({"state_dict": official}, path)
    out, _ = _outputs(path)
    torch.testing.assert_close(out, reference, rtol=0, atol=0)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(EdgeattnError, match="not found"):
        create_model(SPEC, checkpoint=tmp_path / "nope.pth")


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_text("this is not a checkpoint")
    with pytest.raises(EdgeattnError, match="not a readable checkpoint"):
        create_model(SPEC, checkpoint=path)


def test_mismatched_keys_are_shown(tmp_path):
    other, _ = create_model(get_spec("shvit_s1"))
    path = tmp_path / "shvit.pth"
    torch.save(other.state_dict(), path)
    with pytest.raises(EdgeattnError) as info:
        create_model(SPEC, checkpoint=path)
    assert "missing" in info.value.what and "unexpected" in info.value.what


def test_pretrained_offline_points_to_checkpoint(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EdgeattnError) as info:
        create_model(SPEC, pretrained=True)
    assert "--checkpoint" in info.value.hint


def test_checkpoint_and_pretrained_conflict(tmp_path):
    with pytest.raises(UsageError):
        create_model(SPEC, checkpoint=tmp_path / "w.pth", pretrained=True)
