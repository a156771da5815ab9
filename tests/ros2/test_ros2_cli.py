"""`edgeattn ros2` through the real entry point: help, and one clear error for a bad bundle or a missing ROS 2."""

from __future__ import annotations

from ros_helpers import ros_reason


def test_help_lists_the_node_options(run_cli):
    result = run_cli("ros2", "--help")
    assert result.exit_code == 0
    for option in ("--input", "--output", "--backend", "--top-k", "--threads", "--warm-up"):
        assert option in result.stdout


def test_missing_bundle_is_one_clear_error(run_cli, tmp_path):
    result = run_cli("ros2", str(tmp_path / "nowhere"), "--input", "/camera/image_raw")
    if ros_reason():
        assert result.exit_code == 1 and 'pip install "edgeattn[ros2]"' in result.stderr
    else:
        assert result.exit_code == 2
        assert "bundle folder" in result.stderr and "does not exist" in result.stderr
    assert "Traceback" not in result.stderr
