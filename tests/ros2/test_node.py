"""The ROS 2 node for real: a node process on an exported bundle, photos and point clouds over loopback DDS.

Outputs are compared with the same edgeattn.runtime session run directly in this process (ONNX Runtime, one
thread on both sides: exact match expected). Figures (frames, differences, latency, drops) are printed.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from ros_helpers import UNSET, Client, NodeProcess, cloud_message, image_message, isolated_environment, ros_reason

import edgeattn.runtime as runtime

pytestmark = pytest.mark.skipif(bool(ros_reason()), reason=f"ROS 2 not available: {ros_reason()}")

STARTUP_S = 120.0
FRAME_TIMEOUT_S = 30.0
FIGURES: dict[str, object] = {}


@pytest.fixture(scope="module")
def ros_env():
    env = isolated_environment()
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        for key in UNSET:
            patch.delenv(key, raising=False)
        yield env


def _start(bundle, folder, env, topics, input_type, input_topic, probe, *args):
    """Start the node, wait until it subscribes and publishes, then publish `probe` (stamp 0) until the node
    has received one: best-effort frames sent before the node's reader matched ours would be lost."""
    from rclpy.qos import qos_profile_sensor_data
    from std_msgs.msg import String

    node = NodeProcess(bundle, folder, env, "--threads", "1", *args, "--ros-args", "-p", "status_period:=0.2")
    client = Client(int(env["ROS_DOMAIN_ID"]), f"edgeattn_test_{folder.name.replace('-', '_')}")
    try:
        for message_type, topic in topics + [(String, "/edgeattn/status")]:
            client.record(message_type, topic)
        publisher = client.node.create_publisher(input_type, input_topic, qos_profile_sensor_data)
        client.wait_for(lambda: publisher.get_subscription_count() > 0 and client.messages("/edgeattn/status")
                        and all(client.node.count_publishers(t) > 0 for _, t in topics),
                        STARTUP_S, "the node to subscribe and publish", node)
        deadline = time.monotonic() + STARTUP_S
        while _status(client)["received"] == 0 and time.monotonic() < deadline:
            publisher.publish(probe)
            time.sleep(0.2)
        client.wait_for(lambda: _settled(client, {"processed": 0, "dropped": 0, "received": 0}, 0),
                        STARTUP_S, "the probe frame to be processed", node)
    except BaseException:
        node.kill()
        client.close()
        raise
    return node, client, publisher


def _status(client) -> dict:
    return json.loads(client.messages("/edgeattn/status")[-1][1].data)


def _quiet_status(client, node) -> dict:
    """A status published after now, with every frame the node received processed, dropped or malformed and
    every output here: the baseline of a measurement."""
    since = time.perf_counter() + 0.05

    def quiet() -> bool:
        when, msg = client.messages("/edgeattn/status")[-1]
        now = json.loads(msg.data)
        return (when > since and now["processed"] == len(client.messages("/edgeattn/output"))
                and now["processed"] + now["dropped"] + now["malformed"] + now["failed"] == now["received"])

    client.wait_for(quiet, 30, "the node to be idle", node)
    return _status(client)


def _array(msg) -> np.ndarray:
    return np.asarray(msg.data, dtype=np.float32).reshape([d.size for d in msg.layout.dim])


@pytest.fixture(scope="module")
def image_node(image_bundle, ros_env, tmp_path_factory):
    from sensor_msgs.msg import Image
    from std_msgs.msg import Float32MultiArray, Header, String

    topics = [(Float32MultiArray, "/edgeattn/output"), (Header, "/edgeattn/output/header"),
              (String, "/edgeattn/output/topk")]
    probe = image_message(np.zeros((48, 64, 3), np.uint8), "rgb8", 0)
    node, client, publisher = _start(image_bundle, tmp_path_factory.mktemp("image-node"), ros_env, topics, Image,
                                     "/camera/image_raw", probe, "--warm-up", "1")
    yield node, client, publisher
    node.kill()
    client.close()


def _send_and_wait(client, publisher, node, msg) -> float:
    """Publish one frame and wait for its output array; returns the end-to-end latency in ms."""
    before = len(client.messages("/edgeattn/output"))
    start = time.perf_counter()
    publisher.publish(msg)
    client.wait_for(lambda: len(client.messages("/edgeattn/output")) > before, FRAME_TIMEOUT_S, "an output", node)
    return (client.messages("/edgeattn/output")[before][0] - start) * 1e3


def test_photos_in_every_encoding_match_the_direct_session(image_node, image_bundle, photos):
    from PIL import Image as PILImage

    node, client, publisher = image_node
    session = runtime.load(image_bundle, backend="onnxruntime", threads=1)
    cases = []
    for name, photo in photos.items():
        grey = np.asarray(PILImage.fromarray(photo).convert("L"))
        cases += [(name, photo, "rgb8", 0, session(photo)), (name, photo[..., ::-1], "bgr8", 7, session(photo)),
                  (name, grey[..., None], "mono8", 3, session(np.repeat(grey[..., None], 3, axis=2)))]
    latencies, worst = [], 0.0
    for stamp, (name, frame, encoding, pad, expected) in enumerate(cases, start=1):
        msg = image_message(np.ascontiguousarray(frame), encoding, stamp, pad=pad)
        latencies.append(_send_and_wait(client, publisher, node, msg))
        out = _array(client.messages("/edgeattn/output")[-1][1])
        assert [d.label for d in client.messages("/edgeattn/output")[-1][1].layout.dim] == ["batch", "classes"]
        worst = max(worst, float(np.abs(out - expected).max()))
        np.testing.assert_array_equal(out, expected, err_msg=f"{name} {encoding}")
    headers = [m for _, m in client.messages("/edgeattn/output/header") if m.stamp.sec > 0]
    assert [(h.stamp.sec, h.frame_id) for h in headers] == [(s, f"camera_{s}") for s in range(1, len(cases) + 1)]
    client.wait_for(lambda: len(client.messages("/edgeattn/output/topk")) == len(cases) + 1, 5, "top-k", node)
    for stamp, (_, (_, msg)) in enumerate(zip(cases, client.messages("/edgeattn/output/topk")[1:]), start=1):
        top = json.loads(msg.data)
        assert top["stamp"] == {"sec": stamp, "nanosec": 0} and top["frame_id"] == f"camera_{stamp}"
        expected = session.topk(cases[stamp - 1][4], 5)[0]
        assert [(p["index"], p["label"]) for p in top["top_k"]] == [(p.index, p.label) for p in expected]
    FIGURES.update(frames_sent=len(cases), outputs_received=len(client.messages("/edgeattn/output")) - 1,
                   photos=len(photos),
                   max_abs_diff=worst, latency_ms_median=round(float(np.median(latencies)), 2),
                   latency_ms_p90=round(float(np.percentile(latencies, 90)), 2))


def test_malformed_frames_are_skipped_and_reported(image_node, photos):
    node, client, publisher = image_node
    before = _quiet_status(client, node)
    good = image_message(photos["coffee"], "rgb8", 500)
    bad = [image_message(photos["coffee"], "rgb8", 501), image_message(photos["coffee"], "rgb8", 502),
           image_message(photos["coffee"], "rgb8", 503), image_message(photos["coffee"][..., :1].copy(), "mono8", 504)]
    bad[0].encoding = "yuv422"
    bad[1].step = 10
    bad[2].height = 0
    bad[3].data = bad[3].data[:100]
    for msg in bad:
        publisher.publish(msg)
        time.sleep(0.05)
    _send_and_wait(client, publisher, node, good)
    client.wait_for(lambda: _status(client)["malformed"] == before["malformed"] + 4, 5, "malformed count", node)
    reasons = _status(client)["malformed_reasons"]
    assert {"unsupported encoding 'yuv422'", "step 10 is smaller than width x channels = 1800",
            "empty image", "data holds 100 bytes; step x height needs 240000"} <= set(reasons)
    assert client.messages("/edgeattn/output/header")[-1][1].stamp.sec == 500
    assert node.alive() and "skipped a malformed message" in node.log()


def test_newest_frame_only_at_30_hz_and_in_a_burst(image_node, photos):
    node, client, publisher = image_node
    frames = list(photos.values())
    for phase, count, period in (("30hz", 60, 1 / 30), ("burst", 20, 0.0)):
        before, outputs = _quiet_status(client, node), len(client.messages("/edgeattn/output"))
        start = time.perf_counter()
        sent = {}
        for i in range(count):
            time.sleep(max(0.0, start + i * period - time.perf_counter()))
            stamp = 1000 * (2 if phase == "burst" else 1) + i
            sent[stamp] = time.perf_counter()
            publisher.publish(image_message(frames[i % len(frames)], "rgb8", stamp))
        quiet_after = time.perf_counter() + 1.0
        client.wait_for(lambda: time.perf_counter() > quiet_after and _settled(client, before, outputs), 30,
                        f"the {phase} frames to be processed or dropped", node,
                        lambda: f"(before {before}, now {_status(client)}, outputs here "
                                f"{len(client.messages('/edgeattn/output')) - outputs})")
        after = _status(client)
        received = after["received"] - before["received"]
        processed = after["processed"] - before["processed"]
        dropped = after["dropped"] - before["dropped"]
        assert processed + dropped == received <= count
        latencies = [(t - sent[h.stamp.sec]) * 1e3 for t, h in client.messages("/edgeattn/output/header")
                     if h.stamp.sec in sent]
        FIGURES[phase] = {"sent": count, "received": received, "processed": processed, "dropped": dropped,
                          "latency_ms_median": round(float(np.median(latencies)), 2),
                          "latency_ms_p90": round(float(np.percentile(latencies, 90)), 2)}
        if phase == "30hz":
            assert received == count, FIGURES[phase]
        else:
            assert dropped > 0, FIGURES[phase]


def _settled(client, before: dict, outputs: int) -> bool:
    """Every frame the node received since `before` was processed or dropped, and its output arrived here."""
    now = _status(client)
    processed = now["processed"] - before["processed"]
    return (processed + now["dropped"] - before["dropped"] == now["received"] - before["received"]
            and processed == len(client.messages("/edgeattn/output")) - outputs)


def test_shutdown_report(image_node):
    node, client, _ = image_node
    status = _quiet_status(client, node)
    report = node.stop()
    assert report["processed"] == len(client.messages("/edgeattn/output"))
    assert report["received"] >= status["received"] and report["malformed"] == status["malformed"]
    assert report["latency_ms"]["median"] <= report["latency_ms"]["p90"] and report["fps"] > 0
    assert report["backend"].startswith("onnxruntime")
    FIGURES["node_report"] = {k: report[k] for k in ("received", "processed", "dropped", "malformed", "latency_ms",
                                                     "fps")}
    print("\nROS 2 image node figures:", json.dumps(FIGURES, indent=1))


@pytest.fixture(scope="module")
def lidar_node(lidar_bundle, ros_env, tmp_path_factory):
    from sensor_msgs.msg import PointCloud2
    from std_msgs.msg import Float32MultiArray, Header, Int32MultiArray

    topics = [(Float32MultiArray, "/edgeattn/output"), (Int32MultiArray, "/edgeattn/output/coords"),
              (Header, "/edgeattn/output/header")]
    from edgeattn.lidar.scenes import synthetic_scene

    layout = {"x": (0, "f4"), "y": (4, "f4"), "z": (8, "f4"), "intensity": (12, "f4")}
    probe = cloud_message(synthetic_scene(0, azimuth_steps=256).numpy(), 0, layout, 16)
    node, client, publisher = _start(lidar_bundle, tmp_path_factory.mktemp("lidar-node"), ros_env, topics,
                                     PointCloud2, "/points", probe, "--warm-up", "0")
    yield node, client, publisher
    node.kill()
    client.close()


def test_point_clouds_match_the_direct_session(lidar_node, lidar_bundle):
    from edgeattn.lidar.scenes import synthetic_scene

    node, client, publisher = lidar_node
    session = runtime.load(lidar_bundle, backend="onnxruntime", threads=1)
    layouts = [({"x": (0, "f4"), "y": (4, "f4"), "z": (8, "f4"), "intensity": (12, "f4")}, 16),
               ({"intensity": (0, "f4"), "ring": (4, "u2"), "x": (8, "f4"), "z": (12, "f8"), "y": (20, "f4")}, 32)]
    probes = _quiet_status(client, node)["processed"]  # the start-up probe, more than once on a loaded machine
    for stamp, (layout, step) in enumerate(layouts, start=1):
        points = synthetic_scene(stamp, azimuth_steps=256).numpy()
        coords_before = len(client.messages("/edgeattn/output/coords"))
        _send_and_wait(client, publisher, node, cloud_message(points, stamp, layout, step))
        expected = session(points)
        np.testing.assert_array_equal(_array(client.messages("/edgeattn/output")[-1][1]), expected.features)
        client.wait_for(lambda: len(client.messages("/edgeattn/output/coords")) > coords_before, 5, "coords", node)
        coords = client.messages("/edgeattn/output/coords")[-1][1]
        np.testing.assert_array_equal(np.asarray(coords.data, np.int32).reshape(-1, 4), expected.coords)
        assert [d.label for d in coords.layout.dim] == ["voxels", "batch_z_y_x"]
    missing = cloud_message(synthetic_scene(9, azimuth_steps=64).numpy(), 9, layouts[0][0], 16)
    missing.fields = missing.fields[:3]
    far = cloud_message(synthetic_scene(9, azimuth_steps=64).numpy() + np.float32([500, 0, 0, 0]), 10,
                        layouts[0][0], 16)
    publisher.publish(missing)
    publisher.publish(far)
    client.wait_for(lambda: _status(client)["malformed"] == 1 and _status(client)["failed"] == 1, 30,
                    "the bad clouds to be reported", node)
    report = node.stop()
    assert (report["processed"] - probes, report["malformed"], report["failed"]) == (2, 1, 1)
    assert "lie outside the point-cloud range" in node.log() and "lacks field(s) intensity" in node.log()
