"""Session fixtures: the tiny model and its dynamo export (batch dynamic)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from profile_tiny_model import HEIGHT, WIDTH, TinyNet, make_tiny_net


@pytest.fixture(scope="session")
def tiny_net() -> TinyNet:
    return make_tiny_net()


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory, tiny_net: TinyNet) -> Path:
    """TinyNet exported by torch's dynamo exporter, batch dynamic, input 'image' [B, 3, 13, 11]."""
    path = tmp_path_factory.mktemp("tiny") / "tiny_net.onnx"
    example = torch.randn(2, 3, HEIGHT, WIDTH)
    program = torch.onnx.export(tiny_net, (example,), dynamo=True, input_names=["image"], output_names=["logits"],
                                dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False)
    program.save(str(path))
    return path
