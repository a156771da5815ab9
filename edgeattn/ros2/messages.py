"""Output messages of the node: arrays with a labelled layout, top-k classes, stamped from the input header."""

from __future__ import annotations

import array
import json
from typing import Any

import numpy as np


def multi_array(values: np.ndarray, labels: tuple[str, ...], integer: bool = False) -> Any:
    """std_msgs/Float32MultiArray (or Int32MultiArray) with one labelled dimension per axis, row-major."""
    from std_msgs.msg import Float32MultiArray, Int32MultiArray, MultiArrayDimension

    message = Int32MultiArray() if integer else Float32MultiArray()
    strides = np.cumprod(values.shape[::-1])[::-1]
    message.layout.dim = [MultiArrayDimension(label=label, size=int(size), stride=int(stride))
                          for label, size, stride in zip(labels, values.shape, strides)]
    message.layout.data_offset = 0
    typed = np.ascontiguousarray(values, dtype=np.int32 if integer else np.float32)
    message.data = array.array("i" if integer else "f", typed.tobytes())
    return message


def vision_types() -> tuple[Any, Any] | None:
    """(Classification, ObjectHypothesis) from vision_msgs, or None when vision_msgs is not importable."""
    try:
        from vision_msgs.msg import Classification, ObjectHypothesis
    except ImportError:
        return None
    return Classification, ObjectHypothesis


def classification(header: Any, predictions: list[Any], types: tuple[Any, Any]) -> Any:
    """vision_msgs/Classification: class_id is the label (the index when there is none), score the softmax."""
    message_type, hypothesis_type = types
    message = message_type()
    message.header = header
    message.results = [hypothesis_type(class_id=p.label or str(p.index), score=float(p.score)) for p in predictions]
    return message


def topk_string(header: Any, predictions: list[Any]) -> Any:
    """std_msgs/String holding JSON: {"stamp": {"sec", "nanosec"}, "frame_id", "top_k": [{index, label, score}]}."""
    from std_msgs.msg import String

    payload = {
        "stamp": {"sec": int(header.stamp.sec), "nanosec": int(header.stamp.nanosec)},
        "frame_id": header.frame_id,
        "top_k": [{"index": p.index, "label": p.label, "score": round(float(p.score), 6)} for p in predictions],
    }
    return String(data=json.dumps(payload))
