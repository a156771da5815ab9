"""Write `constraints.txt`: the exact versions of every package pip installed in this environment.

    python tools/write_constraints.py        # after `pip install -e ".[test,ros2,plugins]"` and a green test run

The README's set-up commands and `.ci/run` install with `pip install -c constraints.txt ...`, so a newcomer
gets the set CI tested. Distributions pip did not install (the ROS 2 wheels unpack their own) are left out.
"""

from __future__ import annotations

import platform
import sys
from importlib import metadata
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "constraints.txt"


def pip_installed() -> dict[str, str]:
    found = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and name.lower() != "edgeattn" and (dist.read_text("INSTALLER") or "").strip() == "pip":
            found[name.lower()] = dist.version
    return dict(sorted(found.items()))


def main() -> None:
    header = (f"# Tested set: Python {platform.python_version()} on {platform.machine()} "
              f"({sys.platform}). Written by tools/write_constraints.py; used by the README and .ci/run.\n")
    OUT.write_text(header + "".join(f"{name}=={version}\n" for name, version in pip_installed().items()))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
