"""Fixtures of the calibration tests."""

from __future__ import annotations

import pytest
from calib_helpers import SITE_KINDS, make_site_module


@pytest.fixture(params=SITE_KINDS)
def site_module(request):
    """(kind, module, input shape) for every attention family."""
    return (request.param, *make_site_module(request.param))


@pytest.fixture(scope="session")
def tiny_graphs():
    """(torch model, {flavour: fp32 ONNX}) of the tiny network, exported once per session."""
    import copy

    import torch
    from calib_helpers import tiny_net

    from edgeattn.exporters.onnx import export_onnx
    from edgeattn.ops import translation_table
    from edgeattn.ops.rewrite import rewrite_model

    model = tiny_net()
    rewritten, _ = rewrite_model(copy.deepcopy(model))
    graphs = {
        flavour: export_onnx(rewritten, (torch.zeros(1, 3, 13, 13),), opset=18, input_names=["image"],
                             output_names=["logits"], translation_table=translation_table(flavour))
        for flavour in ("portable", "plugins")
    }
    return model, graphs


@pytest.fixture(scope="session")
def tiny_inputs():
    """Three seeded batches of 1x3x13x13 inputs."""
    import numpy as np

    rng = np.random.default_rng(42)
    return [rng.standard_normal((1, 3, 13, 13)).astype(np.float32) for _ in range(3)]
