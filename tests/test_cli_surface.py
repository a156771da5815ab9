"""The CLI a user meets: light imports, help that shows defaults, listings that pipe, hints naming real flags."""

from __future__ import annotations

import ast
import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
import typer.main

from edgeattn.backbones import list_models
from edgeattn.cli import app
from edgeattn.exporters.targets import list_targets

PACKAGE = Path(__file__).resolve().parents[1] / "edgeattn"
HEAVY = ("torch", "timm", "onnx", "onnxruntime", "numpy", "rich")
COMMAND = typer.main.get_command(app)
EXTERNAL_FLAGS = {"--fp16", "--int8", "--stronglyTyped", "--minShapes", "--optShapes", "--maxShapes", "--exportTimes",
                  "--exportProfile", "--exportLayerInfo", "--version"}
"""Flags of trtexec and ptxas, which messages may name."""


def _edgeattn(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgeattn", *args], capture_output=True, text=True, timeout=300)


def test_cli_import_and_help_load_no_heavy_module():
    code = ("import sys; from edgeattn.cli import app; import typer.main; cmd = typer.main.get_command(app)\n"
            "for args in ([], *[[name] for name in cmd.commands]):\n"
            "    try: cmd.main([*args, '--help'], standalone_mode=False)\n"
            "    except SystemExit: pass\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_every_option_with_a_default_shows_it_in_help():
    for name, command in COMMAND.commands.items():
        for param in command.params:
            if not isinstance(param, click.Option) or param.is_flag or param.name == "help":
                continue
            if param.default is None and param.show_default in (None, False, True):
                continue
            record = param.get_help_record(click.Context(command))
            assert record and "default:" in record[1], f"{name} {param.opts[0]} hides its default"


def test_one_name_for_one_thing_across_commands():
    export_flags = {opt for p in COMMAND.commands["export"].params for opt in p.opts}
    calibrate_flags = {opt for p in COMMAND.commands["calibrate"].params for opt in p.opts}
    shared = {"--calib-data", "--calib-method", "--calib-granularity", "--calib-count", "--min-cos", "--img-size"}
    assert shared <= export_flags and shared <= calibrate_flags
    profile_flags = {opt for p in COMMAND.commands["profile"].params for opt in p.opts}
    assert {"--iterations", "--warm-up", "--img-size", "--graph", "--flavour"} <= profile_flags


def test_models_piped_prints_every_name_whole():
    result = _edgeattn("models")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    names = [line.split()[0] for line in lines[1:]]
    assert names == [spec.name for spec in list_models()]
    assert "shvit_s4" in names and "…" not in result.stdout
    assert re.search(r"^shvit_s4\s+shvit\s+16\.59\s+0\.986", result.stdout, re.MULTILINE)


@pytest.mark.parametrize("command,key,expected", [
    ("models", "name", lambda: [s.name for s in list_models()]),
    ("targets", "name", lambda: [t.name for t in list_targets()]),
    ("backends", "backend", lambda: ["ort-cpu", "torch-cpu", "torch-cuda", "torch-cuda-triton", "tensorrt"]),
])
def test_listings_as_json_and_csv(command, key, expected):
    as_json = json.loads(_edgeattn(command, "--format", "json").stdout)
    assert [row[key] for row in as_json] == expected()
    rows = list(csv.reader(io.StringIO(_edgeattn(command, "--format", "csv").stdout)))
    assert len(rows) == len(as_json) + 1 and len({len(r) for r in rows}) == 1


def _error_strings() -> list[tuple[str, str]]:
    """(file, text) of every string literal passed to an edgeattn error or typer.BadParameter."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if not (name.endswith("Error") or name == "BadParameter"):
                continue
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                for part in ast.walk(arg):
                    if isinstance(part, ast.Constant) and isinstance(part.value, str):
                        found.append((path.name, part.value))
    return found


def _module_cli_flags(file: str) -> set[str]:
    """Flags a module's own argparse CLI defines (`python -m edgeattn....`)."""
    text = next(PACKAGE.rglob(file)).read_text()
    return set(re.findall(r"add_argument\(\s*\"(--[a-z][a-z0-9-]*)\"", text))


def test_every_flag_named_in_an_error_exists():
    flags = {opt for command in COMMAND.commands.values() for p in command.params for opt in p.opts} | {"--help"}
    named = {(file, flag) for file, text in _error_strings() for flag in re.findall(r"--[a-zA-Z][a-zA-Z0-9-]*", text)}
    unknown = sorted((file, flag) for file, flag in named
                     if flag not in flags | EXTERNAL_FLAGS | _module_cli_flags(file))
    assert len(named) > 20 and not unknown


def test_a_calibration_flag_without_int8_is_refused(run_cli, tmp_path):
    result = run_cli("export", "--model", "shvit_s1", "--calib-data", "samples", "--out", str(tmp_path / "x"))
    assert result.exit_code == 2 and "--calib-data" in result.stderr and "int8" in result.stderr
    assert not (tmp_path / "x").exists()


def test_a_batch_profile_without_dynamic_batch_is_refused(run_cli, tmp_path):
    result = run_cli("export", "--model", "shvit_s1", "--max-batch", "8", "--out", str(tmp_path / "x"))
    assert result.exit_code == 2 and "--dynamic-batch" in result.stderr
