"""`python -m edgeattn.ros2 BUNDLE [options] [--ros-args ...]`: the same command as `edgeattn ros2`."""

import sys

from edgeattn.cli import main

sys.argv = ["edgeattn", "ros2", *sys.argv[1:]]
main()
