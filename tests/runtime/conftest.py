"""Fixtures of the runtime tests: exported bundles (once per session) and scikit-image photos."""

from __future__ import annotations

import numpy as np
import pytest
from runtime_bundles import cached_bundle, export_image_bundle, export_lidar_bundle


@pytest.fixture(scope="session")
def image_bundle(tmp_path_factory):
    return cached_bundle(tmp_path_factory, "shvit_s1-cpu-x86-64", export_image_bundle)


@pytest.fixture(scope="session")
def lidar_bundle(tmp_path_factory):
    return cached_bundle(tmp_path_factory, "dsvt_pillar-narrow", export_lidar_bundle)


@pytest.fixture(scope="session")
def photos():
    """Real photos of four aspect ratios: square (astronaut 512x512), landscape (coffee 400x600), portrait
    (chelsea 300x451, transposed to 451x300: odd sizes) and a tall strip (astronaut 512x200: over 2:1, where
    Pillow 13 resizes vertically first)."""
    from edgeattn.images import sample_photo

    astronaut = np.asarray(sample_photo("astronaut"))
    chelsea = np.asarray(sample_photo("chelsea"))
    return {"astronaut": astronaut, "coffee": np.asarray(sample_photo("coffee")),
            "chelsea_portrait": np.ascontiguousarray(chelsea.transpose(1, 0, 2)),
            "astronaut_strip": np.ascontiguousarray(astronaut[:, 150:350])}
