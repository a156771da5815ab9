"""`edgeattn calibrate --report`: per-head ranges and spread from head-wise calibration, printed plain when
piped and written as JSON + HTML."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from calib_helpers import tiny_net

from edgeattn.calibrate.head_report import SPREAD_HINT, head_ranges, render_html, rows, verdict
from edgeattn.calibrate.headwise import reparameterise
from edgeattn.errors import UsageError
from edgeattn.exporters.calibrate_command import calibrate_command, write_head_report
from edgeattn.ops.rewrite import rewrite_model


@pytest.fixture(scope="module")
def heads():
    """calibration.json's `heads` record of the tiny net (ReLU linear attention with 8 heads, single-head SHSA)."""
    rng = np.random.default_rng(42)
    batches = [rng.standard_normal((2, 3, 13, 13)).astype(np.float32) for _ in range(2)]
    rewritten, _ = rewrite_model(copy.deepcopy(tiny_net()))
    with torch.no_grad():
        return reparameterise(rewritten, batches).sites


def test_spread_is_max_over_min_of_the_recorded_head_ranges(heads):
    report = head_ranges(heads)
    assert set(report["sites"]) == set(heads)
    for name, site in report["sites"].items():
        for tensor, values in site["tensors"].items():
            amax = np.asarray(heads[name]["amax_before"][tensor])
            assert len(values["max_abs"]) == heads[name]["heads"]
            assert values["spread"] == pytest.approx(amax.max() / amax.min(), rel=1e-6)
        assert site["max_spread"] == pytest.approx(max(v["spread"] for v in site["tensors"].values()))
    assert len(rows(report)) == sum(len(s["tensors"]) for s in report["sites"].values())


def test_verdict_flags_sites_whose_heads_spread_beyond_the_hint(heads):
    wide = copy.deepcopy(heads)
    name = next(n for n, r in wide.items() if r["heads"] > 1)
    values = wide[name]["amax_before"]["v"]
    wide[name]["amax_before"]["v"] = [1.0] * (len(values) - 1) + [2 * SPREAD_HINT]
    wide[name]["spread_before"]["v"] = 2 * SPREAD_HINT
    report = head_ranges(wide)
    assert report["sites_needing_headwise"] == [name] and report["sites"][name]["needs_headwise"]
    assert "head-wise scales help" in verdict(report)
    assert "no head-wise calibratable" in verdict(head_ranges({}))


def test_report_is_printed_plain_when_piped_and_written_as_json_and_html(heads, tmp_path, capsys):
    bundle = tmp_path / "tiny-calibrate"
    bundle.mkdir()
    (bundle / "calibration.json").write_text(json.dumps({"heads": heads}))
    paths = (tmp_path / "tiny-calibrate.head-ranges.json", tmp_path / "tiny-calibrate.head-ranges.html")
    write_head_report(bundle, paths)
    out = capsys.readouterr().out
    assert "\x1b[" not in out and "┃" not in out
    first = next(iter(heads))
    assert any(line.split()[:2] == [first, heads[first]["kind"]] for line in out.splitlines())
    written = json.loads(paths[0].read_text())
    assert written["sites"][first]["heads"] == heads[first]["heads"]
    page = paths[1].read_text()
    assert page.startswith("<!DOCTYPE html>") and first in page and "spread" in page
    assert render_html(head_ranges(heads), "t") == render_html(head_ranges(heads), "t")


def test_report_needs_head_wise_calibration(tmp_path):
    with pytest.raises(UsageError, match="--report"):
        calibrate_command("shvit_s1", "samples", granularity="tensor", out=tmp_path / "x", report=True)
    assert list(tmp_path.iterdir()) == []
