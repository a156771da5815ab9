"""The edgeattn ROS 2 node: camera images or LiDAR clouds in, model outputs out, on an edgeattn.runtime session.

Topics (names relative to the node's namespace; `output` is the output_topic parameter):
  input_topic          sensor_msgs/Image (rgb8, bgr8, mono8) or, LiDAR bundles, sensor_msgs/PointCloud2;
                       sensor-data QoS (best effort, keep last 5)
  output               std_msgs/Float32MultiArray: logits [batch, classes] or voxel features [voxels, channels]
  output/header        std_msgs/Header of the input frame, published just before each output array
  output/classification  vision_msgs/Classification (top-k, stamped), when vision_msgs is importable;
  output/topk          otherwise std_msgs/String with JSON (stamp, frame_id, top_k); image bundles with class names
  output/coords        std_msgs/Int32MultiArray [voxels, 4] (batch, z, y, x): LiDAR bundles
  ~/status             std_msgs/String JSON counters, every status_period seconds
Frames arriving while inference runs replace each other: only the newest is processed (counted as dropped).
Imports rclpy: import it after `edgeattn.ros2.require_ros()`.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any

import numpy as np
from rclpy.node import Node

from edgeattn.errors import EdgeattnError
from edgeattn.ros2 import messages
from edgeattn.ros2.config import DEFAULT_INPUTS, NodeConfig
from edgeattn.ros2.convert import MalformedMessage, cloud_to_points, image_to_frame
from edgeattn.ros2.slot import LatestSlot

NODE_NAME = "edgeattn"


class InferenceNode(Node):
    """Subscribes to the input topic, runs the bundle on the newest frame, publishes the outputs."""

    def __init__(self, config: NodeConfig) -> None:
        super().__init__(NODE_NAME)
        self.config = self._with_parameters(config)
        import edgeattn.runtime as runtime

        options = {"threads": self.config.threads} if self.config.threads else {}
        self.session = runtime.load(self.config.bundle, backend=self.config.backend, warmup=self.config.warmup,
                                    **options)
        self.kind = self.session.bundle.kind
        self.slot = LatestSlot()
        self.malformed: Counter[str] = Counter()
        self.failed = 0
        self.latencies_ms: list[float] = []
        self._times: list[float] = []
        self._stop = threading.Event()
        self._create_topics()
        self._worker = threading.Thread(target=self._work, name="edgeattn-inference", daemon=True)
        self._worker.start()
        self.get_logger().info(f"{self.session.bundle.model} on {self.session.description}: "
                               f"{self.input_topic} -> {self.output_topic}")

    def _with_parameters(self, config: NodeConfig) -> NodeConfig:
        values = {}
        for name, value in config.model_dump(exclude={"bundle"}).items():
            values[name] = self.declare_parameter(name, value).value
        return NodeConfig(bundle=config.bundle, **values)

    def _create_topics(self) -> None:
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import Image, PointCloud2
        from std_msgs.msg import Float32MultiArray, Header, Int32MultiArray, String

        self.input_topic = self.config.input_topic or DEFAULT_INPUTS[self.kind]
        self.output_topic = self.config.output_topic
        message_type = Image if self.kind == "image" else PointCloud2
        self.create_subscription(message_type, self.input_topic, self._on_message, qos_profile_sensor_data)
        self.out = self.create_publisher(Float32MultiArray, self.output_topic, 10)
        self.out_header = self.create_publisher(Header, f"{self.output_topic}/header", 10)
        self.vision = messages.vision_types()
        self.out_topk = None
        if self.kind == "image" and self.session.labels is not None:
            if self.vision:
                self.out_topk = self.create_publisher(self.vision[0], f"{self.output_topic}/classification", 10)
            else:
                self.out_topk = self.create_publisher(String, f"{self.output_topic}/topk", 10)
        self.out_coords = (self.create_publisher(Int32MultiArray, f"{self.output_topic}/coords", 10)
                           if self.kind == "voxels" else None)
        self.status = self.create_publisher(String, "~/status", 10)
        self.create_timer(self.config.status_period, self._publish_status)

    def _on_message(self, msg: Any) -> None:
        received = time.perf_counter()
        try:
            data = image_to_frame(msg) if self.kind == "image" else cloud_to_points(msg)
        except MalformedMessage as error:
            reason = str(error)
            self.malformed[reason.split(" (")[0]] += 1
            self.get_logger().warning(f"skipped a malformed message on {self.input_topic}: {reason}",
                                      throttle_duration_sec=1.0)
            return
        self.slot.put((data, msg.header, received))

    def _work(self) -> None:
        while not self._stop.is_set():
            item = self.slot.take(timeout=0.1)
            if item is not None:
                self._process(*item)

    def _process(self, data: Any, header: Any, received: float) -> None:
        try:
            if self.kind == "image":
                frame, color = data
                self._publish_image(self.session(frame, color=color), header)
            else:
                self._publish_voxels(self.session(data), header)
        except EdgeattnError as error:
            self.failed += 1
            self.get_logger().warning(f"frame skipped: {error.what}", throttle_duration_sec=1.0)
            return
        done = time.perf_counter()
        self.latencies_ms.append((done - received) * 1e3)
        self._times.append(done)

    def _publish_image(self, logits: np.ndarray, header: Any) -> None:
        self.out_header.publish(header)
        self.out.publish(messages.multi_array(logits, ("batch", "classes")))
        if self.out_topk is not None:
            predictions = self.session.topk(logits, self.config.top_k)[0]
            self.out_topk.publish(messages.classification(header, predictions, self.vision) if self.vision
                                  else messages.topk_string(header, predictions))

    def _publish_voxels(self, result: Any, header: Any) -> None:
        self.out_header.publish(header)
        self.out.publish(messages.multi_array(result.features, ("voxels", "channels")))
        self.out_coords.publish(messages.multi_array(result.coords, ("voxels", "batch_z_y_x"), integer=True))

    def counters(self) -> dict[str, Any]:
        """Frames received, processed, dropped (replaced by newer ones), malformed (by reason), failed."""
        return {"received": self.slot.received + sum(self.malformed.values()), "processed": len(self.latencies_ms),
                "dropped": self.slot.dropped, "malformed": sum(self.malformed.values()),
                "malformed_reasons": dict(self.malformed), "failed": self.failed}

    def _publish_status(self) -> None:
        from std_msgs.msg import String

        self.status.publish(String(data=json.dumps(self.counters())))

    def report(self) -> dict[str, Any]:
        """Counters, per-frame latency (message received -> outputs published) and throughput."""
        latencies = np.asarray(self.latencies_ms)
        report = self.counters()
        if latencies.size:
            report["latency_ms"] = {"median": round(float(np.median(latencies)), 3),
                                    "p90": round(float(np.percentile(latencies, 90)), 3),
                                    "max": round(float(latencies.max()), 3)}
        if len(self._times) > 1:
            report["fps"] = round((len(self._times) - 1) / (self._times[-1] - self._times[0]), 2)
        report["inference"] = self.session.latency()
        report["backend"] = self.session.description
        return report

    def stop(self) -> None:
        self._stop.set()
        self._worker.join(timeout=10)
        self.session.close()
