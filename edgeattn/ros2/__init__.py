"""ROS 2 node for edgeattn bundles: `edgeattn ros2 BUNDLE` or `python -m edgeattn.ros2 BUNDLE`.

Optional extra: `pip install "edgeattn[ros2]"` (ROS 2 for Python from PyPI), or a sourced ROS 2 install.
See `edgeattn.ros2.node` for the topics; `run_node` spins until SIGINT/SIGTERM and returns the report.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from typing import Any

from edgeattn.errors import MissingDependencyError

__all__ = ["require_ros", "run_node"]

REPORT_PREFIX = "edgeattn ros2 report: "


def require_ros() -> None:
    """Raise MissingDependencyError with the install command when rclpy cannot be imported."""
    try:
        import rclpy  # noqa: F401
        import sensor_msgs.msg  # noqa: F401
        import std_msgs.msg  # noqa: F401
    except ImportError as exc:
        raise MissingDependencyError(
            f"ROS 2 for Python is not importable ({exc})",
            'Install it with `pip install "edgeattn[ros2]"`, or source your ROS 2 setup (e.g. '
            "/opt/ros/humble/setup.bash) before running the node.") from None


def run_node(config: Any, ros_args: list[str] | None = None) -> dict[str, Any]:
    """Start the node with `config` (a `NodeConfig`), spin until SIGINT/SIGTERM, print and return the report."""
    require_ros()
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    from edgeattn.ros2.node import InferenceNode

    stop = threading.Event()
    rclpy.init(args=["edgeattn", *(ros_args or [])], signal_handler_options=SignalHandlerOptions.NO)
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    node = None
    try:
        node = InferenceNode(config)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while not stop.is_set():
            executor.spin_once(timeout_sec=0.1)
        node.stop()
        report = node.report()
        node.get_logger().info(_summary(report))
        print(REPORT_PREFIX + json.dumps(report, sort_keys=True), flush=True)
        return report
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
        sys.stdout.flush()


def _summary(report: dict[str, Any]) -> str:
    latency = report.get("latency_ms") or {}
    return (f"{report['processed']} frames processed of {report['received']} received "
            f"({report['dropped']} dropped for newer ones, {report['malformed']} malformed, {report['failed']} failed); "
            f"latency median {latency.get('median', '-')} ms, p90 {latency.get('p90', '-')} ms; "
            f"{report.get('fps', '-')} frames/s")
