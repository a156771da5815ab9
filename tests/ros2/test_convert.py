"""Message conversion (real sensor_msgs messages) and the newest-frame-only slot."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from ros_helpers import cloud_message, image_message, ros_reason

from edgeattn.ros2.slot import LatestSlot

needs_ros = pytest.mark.skipif(bool(ros_reason()), reason=f"ROS 2 not available: {ros_reason()}")


def test_slot_keeps_the_newest_and_counts_drops():
    slot = LatestSlot()
    for i in range(5):
        slot.put(i)
    assert slot.take(timeout=0.01) == 4
    assert (slot.received, slot.dropped) == (5, 4)
    assert slot.take(timeout=0.01) is None


def test_slot_wakes_a_waiting_taker():
    slot = LatestSlot()
    taken = []
    worker = threading.Thread(target=lambda: taken.append(slot.take(timeout=5)))
    worker.start()
    slot.put("frame")
    worker.join(timeout=5)
    assert taken == ["frame"] and slot.dropped == 0


@needs_ros
@pytest.mark.parametrize("encoding, pad", [("rgb8", 0), ("bgr8", 5), ("mono8", 3)])
def test_image_encodings_and_step_padding(encoding, pad):
    from edgeattn.ros2.convert import image_to_frame

    rng = np.random.default_rng(42)
    frame = rng.integers(0, 256, (7, 13, 1 if encoding == "mono8" else 3), dtype=np.uint8)
    pixels, color = image_to_frame(image_message(frame, encoding, 1, pad=pad))
    expected = np.repeat(frame, 3, axis=2) if encoding == "mono8" else frame
    np.testing.assert_array_equal(pixels, expected)
    assert color == ("BGR" if encoding == "bgr8" else "RGB")


@needs_ros
@pytest.mark.parametrize("change, message", [
    ({"encoding": "rgba16"}, "unsupported encoding 'rgba16'"),
    ({"step": 10}, "step 10 is smaller than width x channels = 39"),
    ({"height": 0}, "empty image"),
    ({"height": 9}, "data holds 273 bytes; step x height needs 351"),
])
def test_malformed_images_are_named(change, message):
    from edgeattn.ros2.convert import MalformedMessage, image_to_frame

    msg = image_message(np.zeros((7, 13, 3), np.uint8), "rgb8", 1)
    for key, value in change.items():
        setattr(msg, key, value)
    with pytest.raises(MalformedMessage, match=message):
        image_to_frame(msg)


@needs_ros
def test_point_fields_at_any_offsets_and_types():
    from edgeattn.ros2.convert import cloud_to_points

    rng = np.random.default_rng(42)
    points = rng.normal(size=(11, 4)).astype(np.float32)
    layout = {"intensity": (0, "f4"), "ring": (4, "u2"), "x": (8, "f4"), "z": (12, "f8"), "y": (20, "f4")}
    np.testing.assert_array_equal(cloud_to_points(cloud_message(points, 1, layout, point_step=28)), points)


@needs_ros
@pytest.mark.parametrize("change, message", [
    ("no-intensity", "lacks field\\(s\\) intensity"),
    ("short-data", "data holds"),
    ("bad-offset", "does not fit point_step"),
    ("empty", "empty point cloud"),
])
def test_malformed_clouds_are_named(change, message):
    from edgeattn.ros2.convert import MalformedMessage, cloud_to_points

    layout = {"x": (0, "f4"), "y": (4, "f4"), "z": (8, "f4"), "intensity": (12, "f4")}
    msg = cloud_message(np.zeros((5, 4), np.float32), 1, layout, point_step=16)
    if change == "no-intensity":
        msg.fields = msg.fields[:3]
    elif change == "short-data":
        msg.width = 6
        msg.row_step = 96
    elif change == "bad-offset":
        msg.fields[3].offset = 14
    else:
        msg.width = 0
    with pytest.raises(MalformedMessage, match=message):
        cloud_to_points(msg)
