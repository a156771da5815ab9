"""ROS 2 tests: bundles shared with tests/runtime (built once per pytest session)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))

from runtime_bundles import cached_bundle, export_image_bundle, export_lidar_bundle  # noqa: E402


@pytest.fixture(scope="session")
def image_bundle(tmp_path_factory):
    return cached_bundle(tmp_path_factory, "shvit_s1-cpu-x86-64", export_image_bundle)


@pytest.fixture(scope="session")
def lidar_bundle(tmp_path_factory):
    return cached_bundle(tmp_path_factory, "dsvt_pillar-narrow", export_lidar_bundle)


@pytest.fixture(scope="session")
def photos():
    """The first four photos of edgeattn.images (scikit-image samples: astronaut, coffee, chelsea, rocket)."""
    import numpy as np

    from edgeattn.images import SAMPLE_PHOTOS, sample_photo

    return {name: np.asarray(sample_photo(name)) for name in SAMPLE_PHOTOS[:4]}
