"""The README's two set-up commands are the ones CI runs, with the tested constraints file."""

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]


def _setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_the_test_command_is_what_ci_runs():
    install, tests = _setup_commands()[:2]
    assert "edgeattn export --model shvit_s4 --target jetson" in install
    ci_command = tests.split(" && ", 2)[2]
    assert ci_command.startswith("pip install -c constraints.txt")
    assert ci_command in (ROOT / ".ci" / "run").read_text()
    assert "pip install -c constraints.txt" in install


def test_constraints_pin_every_runtime_dependency():
    pinned = {line.split("==")[0].lower().replace("_", "-") for line in (ROOT / "constraints.txt").read_text().splitlines()
              if "==" in line}
    for name in ("torch", "torchvision", "timm", "onnx", "onnxruntime", "onnxscript", "typer", "numpy"):
        assert name in pinned, name
