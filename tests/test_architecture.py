"""The shape of the house: one op, one folder (nothing outside an op's folder names it), and no import cycle
between edgeattn's subpackages."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

from edgeattn.ops import all_ops

PACKAGE = Path(__file__).resolve().parents[1] / "edgeattn"
BENCHMARKS = PACKAGE.parent / "benchmarks"


def _op_folder(path: Path) -> str | None:
    parts = path.relative_to(PACKAGE).parts
    return parts[1] if len(parts) > 2 and parts[0] == "ops" else None


def _op_words() -> dict[str, set[str]]:
    """Per op folder: the op's name, its module path and the classes defined in its folder."""
    words: dict[str, set[str]] = {}
    for op in all_ops():
        classes = {node.name for path in (PACKAGE / "ops" / op.folder).rglob("*.py")
                   for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.ClassDef)}
        words[op.folder] = {op.name, f"ops.{op.folder}", f"{op.folder}_op", *classes}
    return words


def test_nothing_outside_an_op_folder_names_the_op():
    words = _op_words()
    patterns = {folder: re.compile(r"\b(" + "|".join(map(re.escape, sorted(names))) + r")\b")
                for folder, names in words.items()}
    found = []
    for path in [*PACKAGE.rglob("*.py"), *BENCHMARKS.glob("*.py")]:
        text = path.read_text()
        for folder, pattern in patterns.items():
            if path.is_relative_to(PACKAGE) and _op_folder(path) == folder:
                continue
            found += [f"{path.relative_to(PACKAGE.parent)}: {match}" for match in set(pattern.findall(text))]
    assert len(words) >= 6 and sum(map(len, words.values())) > 20
    assert not found, "op knowledge outside the op's folder:\n" + "\n".join(sorted(found))


def _subpackage(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def _import_graph() -> dict[str, set[str]]:
    """Subpackage (or top-level module) -> the ones it imports, counting imports inside functions too.

    Entry points (`__main__`) and the root package's public-API re-exports are not dependencies of a
    subpackage, so they are left out."""
    graph: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        if path.name == "__main__.py" or path.parent == PACKAGE and path.name == "__init__.py":
            continue
        source = _subpackage(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] == "edgeattn" and len(parts) > 1 and parts[1] != source:
                    graph[source].add(parts[1])
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path, node, target][[*path, node].index(target):]
            if target not in state and (found := visit(target, [*path, node])):
                return found
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [])):
            return found
    return None


def test_no_import_cycle_between_subpackages():
    graph = _import_graph()
    assert {"ops", "exporters", "calibrate", "kernels", "backbones"} <= set(graph)
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_cycle_check_can_fail():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
