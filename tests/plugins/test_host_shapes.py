"""Input shapes a plugin cannot run (valid fields): a logged reason at every step, never a crash
(the host program runs under AddressSanitizer), and no launch is ever planned."""

from __future__ import annotations

import pytest

from bad_fields import BAD_SHAPES


def _errors(record: dict) -> list[str]:
    logs = [*record.get("setup_log", []), *record["log"], *(m for run in record.get("runs", []) for m in run["log"])]
    return [m for m in logs if m.startswith("ERROR: ")]


@pytest.mark.parametrize("case", BAD_SHAPES, ids=lambda c: c.id)
def test_unrunnable_shapes_are_refused_with_the_reason(host_run, case):
    record = host_run.records[f"shape:{case.id}"]
    assert record["created"], record["log"]
    assert record["fields"] == record["passed_fields"]
    assert all(run["configure"] == -1 and run["shape_change"] == -1 for run in record["runs"])
    assert not any("': launch " in m for run in record["runs"] for m in run["log"])
    errors = _errors(record)
    assert errors and any(case.expected in m for m in errors), errors
    assert all(m.startswith(f"ERROR: edgeattn: {case.plugin} 'shape:{case.id}': ") for m in errors), errors
