"""The node under test in its own process, and an in-process ROS 2 client that talks to it over loopback.

DDS traffic stays on this machine and away from other runs: a random ROS_DOMAIN_ID and the Fast DDS profile
fastdds_loopback.xml (shared memory + UDP on 127.0.0.1 only) for both processes. ROS_AUTOMATIC_DISCOVERY_RANGE
is left unset: its LOCALHOST setting makes rmw_fastrtps replace the profile's transports with default ones
whose 512 KiB shared-memory segments cannot carry a camera frame.
"""

from __future__ import annotations

import array
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

REPORT_PREFIX = "edgeattn ros2 report: "
ROOT = Path(__file__).resolve().parents[2]


def ros_reason() -> str:
    """Why ROS 2 for Python cannot be used here ("" when it can)."""
    try:
        from edgeattn.ros2 import require_ros

        require_ros()
    except Exception as error:  # MissingDependencyError, or a broken ROS install
        return str(error).replace("\n", " ")
    return ""


UNSET = ("ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_LOCALHOST_ONLY", "ROS_STATIC_PEERS", "FASTDDS_BUILTIN_TRANSPORTS",
         "FASTRTPS_DEFAULT_PROFILES_FILE")


def isolated_environment() -> dict[str, str]:
    """Environment variables that keep DDS on loopback, in a domain of its own (and remove those in UNSET)."""
    return {"ROS_DOMAIN_ID": str(random.SystemRandom().randint(1, 100)), "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp",
            "FASTDDS_DEFAULT_PROFILES_FILE": str(Path(__file__).with_name("fastdds_loopback.xml")),
            "RCUTILS_COLORIZED_OUTPUT": "0"}


class NodeProcess:
    """`python -m edgeattn.ros2 BUNDLE ...` with its output in files; stop() sends SIGINT and reads the report."""

    def __init__(self, bundle: Path, folder: Path, env: dict[str, str], *args: str) -> None:
        self.stdout_path = folder / "node.out"
        self.stderr_path = folder / "node.err"
        pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        environment = {k: v for k, v in os.environ.items() if k not in UNSET}
        environment.update(env, PYTHONPATH=pythonpath)
        with open(self.stdout_path, "w") as out, open(self.stderr_path, "w") as err:
            self.process = subprocess.Popen([sys.executable, "-m", "edgeattn.ros2", str(bundle), *args],
                                            stdout=out, stderr=err, env=environment)

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.stderr_path.read_text()

    def stop(self, timeout: float = 30.0) -> dict[str, Any]:
        """SIGINT, wait for a clean exit (code 0), return the shutdown report."""
        if self.alive():
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"node did not stop within {timeout} s:\n{self.log()}") from None
        assert code == 0, f"node exited with {code}:\n{self.log()}"
        lines = [line for line in self.stdout_path.read_text().splitlines() if line.startswith(REPORT_PREFIX)]
        assert len(lines) == 1, self.stdout_path.read_text() + self.log()
        return json.loads(lines[0][len(REPORT_PREFIX):])

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
            self.process.wait()


class Client:
    """A ROS 2 node in the test process: publishers, recording subscriptions, a background executor."""

    def __init__(self, domain_id: int, name: str) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.received: dict[str, list[tuple[float, Any]]] = {}
        self._running = True
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while self._running:
            self.executor.spin_once(timeout_sec=0.02)

    def record(self, message_type: Any, topic: str) -> None:
        self.received[topic] = []

        def store(msg: Any) -> None:
            with self._lock:
                self.received[topic].append((time.perf_counter(), msg))

        from rclpy.qos import QoSProfile, ReliabilityPolicy

        self.node.create_subscription(message_type, topic, store,
                                      QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE))

    def messages(self, topic: str) -> list[tuple[float, Any]]:
        with self._lock:
            return list(self.received[topic])

    def wait_for(self, condition: Callable[[], bool], timeout: float, what: str, node: NodeProcess,
                 detail: Callable[[], str] = lambda: "") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            if not node.alive():
                raise AssertionError(f"node exited while waiting for {what}:\n{node.log()}")
            time.sleep(0.01)
        raise AssertionError(f"timed out after {timeout} s waiting for {what} {detail()}:\n{node.log()}")

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=5)
        self.node.destroy_node()
        self.context.try_shutdown()


def image_message(frame: np.ndarray, encoding: str, stamp: int, pad: int = 0) -> Any:
    """sensor_msgs/Image from HxWxC uint8 (C = 3 for rgb8/bgr8, 1 for mono8), rows padded by `pad` bytes."""
    from sensor_msgs.msg import Image

    height, width = frame.shape[:2]
    rows = frame.reshape(height, -1)
    if pad:
        rows = np.concatenate([rows, np.full((height, pad), 0xAB, np.uint8)], axis=1)
    msg = Image(height=height, width=width, encoding=encoding, step=rows.shape[1], is_bigendian=0)
    msg.data = array.array("B", np.ascontiguousarray(rows).tobytes())
    msg.header.stamp.sec = stamp
    msg.header.frame_id = f"camera_{stamp}"
    return msg


def cloud_message(points: np.ndarray, stamp: int, layout: dict[str, tuple[int, str]], point_step: int) -> Any:
    """sensor_msgs/PointCloud2 of points [P, 4] with each field at (offset, numpy type) and the given step."""
    from sensor_msgs.msg import PointCloud2, PointField

    codes = {"f4": PointField.FLOAT32, "f8": PointField.FLOAT64, "u2": PointField.UINT16}
    dtype = np.dtype({"names": list(layout), "formats": ["<" + t for _, t in layout.values()],
                      "offsets": [o for o, _ in layout.values()], "itemsize": point_step})
    packed = np.zeros(len(points), dtype=dtype)
    for i, name in enumerate(("x", "y", "z", "intensity")):
        packed[name] = points[:, i]
    msg = PointCloud2(height=1, width=len(points), is_bigendian=False, point_step=point_step,
                      row_step=point_step * len(points), is_dense=True)
    msg.fields = [PointField(name=n, offset=o, datatype=codes[t], count=1) for n, (o, t) in layout.items()]
    msg.data = array.array("B", packed.tobytes())
    msg.header.stamp.sec = stamp
    msg.header.frame_id = "lidar"
    return msg
