"""sensor_msgs -> numpy, checked: one `MalformedMessage` (with the reason) for anything the node must skip.

Works on any object with the message's fields (rclpy messages in the node), without importing ROS.
"""

from __future__ import annotations

from typing import Any

import numpy as np

IMAGE_ENCODINGS = {"rgb8": 3, "bgr8": 3, "mono8": 1}
POINT_FIELDS = ("x", "y", "z", "intensity")
_POINT_TYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 8: "f8"}
"""sensor_msgs/PointField datatypes (INT8 .. FLOAT64) as numpy type codes."""


class MalformedMessage(ValueError):
    """A message the node cannot use; str() says why."""


def image_to_frame(msg: Any) -> tuple[np.ndarray, str]:
    """sensor_msgs/Image (rgb8, bgr8, mono8; rows padded to `step`) -> (uint8 HxWx3, "RGB" or "BGR")."""
    encoding = str(msg.encoding).lower()
    if encoding not in IMAGE_ENCODINGS:
        raise MalformedMessage(f"unsupported encoding {msg.encoding!r} (the node takes rgb8, bgr8 or mono8)")
    channels = IMAGE_ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise MalformedMessage(f"empty image ({width} x {height})")
    if step < width * channels:
        raise MalformedMessage(f"step {step} is smaller than width x channels = {width * channels}")
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size < step * height:
        raise MalformedMessage(f"data holds {data.size} bytes; step x height needs {step * height}")
    pixels = data[: step * height].reshape(height, step)[:, : width * channels].reshape(height, width, channels)
    if channels == 1:
        return np.ascontiguousarray(np.repeat(pixels, 3, axis=2)), "RGB"
    return np.ascontiguousarray(pixels), "BGR" if encoding == "bgr8" else "RGB"


def cloud_to_points(msg: Any) -> np.ndarray:
    """sensor_msgs/PointCloud2 -> float32 [P, 4] (x, y, z, intensity), fields at any offsets and types."""
    fields = {f.name: f for f in msg.fields}
    missing = [name for name in POINT_FIELDS if name not in fields]
    if missing:
        raise MalformedMessage(f"point cloud lacks field(s) {', '.join(missing)} (has {', '.join(fields) or 'none'})")
    width, height = int(msg.width), int(msg.height)
    point_step, row_step = int(msg.point_step), int(msg.row_step)
    if width * height == 0:
        raise MalformedMessage(f"empty point cloud ({width} x {height} points)")
    if point_step * width > row_step:
        raise MalformedMessage(f"row_step {row_step} is smaller than point_step x width = {point_step * width}")
    endian = ">" if msg.is_bigendian else "<"
    formats, offsets = [], []
    for name in POINT_FIELDS:
        field = fields[name]
        code = _POINT_TYPES.get(int(field.datatype))
        if code is None:
            raise MalformedMessage(f"field {name} has unknown datatype {field.datatype}")
        if int(field.offset) + np.dtype(code).itemsize > point_step:
            raise MalformedMessage(f"field {name} at offset {field.offset} does not fit point_step {point_step}")
        formats.append(endian + code)
        offsets.append(int(field.offset))
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size < row_step * height:
        raise MalformedMessage(f"data holds {data.size} bytes; row_step x height needs {row_step * height}")
    rows = data[: row_step * height].reshape(height, row_step)[:, : point_step * width]
    layout = np.dtype({"names": list(POINT_FIELDS), "formats": formats, "offsets": offsets, "itemsize": point_step})
    points = np.ascontiguousarray(rows).view(layout).reshape(-1)
    return np.stack([points[name].astype(np.float32) for name in POINT_FIELDS], axis=1)
