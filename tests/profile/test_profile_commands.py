"""profile_command / report_command: JSON follows the schema, HTML is self-contained, tables are right."""

from __future__ import annotations

import copy
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from edgeattn.errors import EdgeattnError, MissingDependencyError, UsageError
from edgeattn.profile.commands import profile_command, report_command
from edgeattn.profile.plots import pareto_front
from edgeattn.profile.profiler import ProfileSettings, measure
from edgeattn.profile.report import comparison_rows, render_comparison_markdown
from edgeattn.runners.ort import OrtRunner
from edgeattn.runners.tensorrt import TensorRTRunner
from edgeattn.profile.schema import run_schema, validate_run


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.links += [v for k, v in attrs if k in ("src", "href") and v]


def assert_self_contained(page: str) -> _Collector:
    parser = _Collector()
    parser.feed(page)
    parser.close()
    assert "html" in parser.tags and "table" in parser.tags
    assert not [link for link in parser.links if re.match(r"^\s*(https?:)?//", link)]
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*https?://""", page)
    return parser


@pytest.fixture(scope="module")
def ort_run(tiny_onnx, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    return profile_command(str(tiny_onnx), backend="ort-cpu", batch=2, threads=1, warmup=2, iters=8, out=out,
                           op_profile_iters=4, show_progress=False)


def test_profile_writes_valid_json_and_self_contained_html(ort_run):
    record = json.loads(ort_run.read_text())
    jsonschema.Draft202012Validator(run_schema()).validate(record)
    assert ort_run.name == "tiny_net_ort-cpu_b2_t1.json"
    assert record["settings"] == {"batch": 2, "threads": 1, "warmup": 2, "iters": 8, "seed": 42}
    latency = record["latency"]
    assert latency["count"] == len(record["samples_ms"]) == 8
    assert latency["min_ms"] <= latency["median_ms"] <= latency["p90_ms"] <= latency["p99_ms"] <= latency["max_ms"]
    assert latency["throughput_ips"] == pytest.approx(2000.0 / latency["median_ms"])
    assert record["model"]["gflops"] > 0 and record["model"]["params"] > 0
    assert record["op_breakdown"]["by_kind"] and record["roofline"]["note"].startswith("roofline estimate")
    page = ort_run.with_suffix(".html").read_text()
    parser = assert_self_contained(page)
    assert sum(link.startswith("data:image/png;base64,") for link in parser.links) >= 3
    assert "Roofline estimate (not a measurement)" in page


def test_torch_cpu_runs_a_registry_model_without_onnx(tmp_path):
    path = profile_command("efficientvit_b0", backend="torch-cpu", batch=1, threads=1, warmup=1, iters=3,
                           out=tmp_path, resolution=96, show_progress=False)
    record = json.loads(path.read_text())
    validate_run(record)
    assert record["model"]["origin"] == "registry" and record["model"]["input_shapes"] == {"image": [1, 3, 96, 96]}
    assert record["op_breakdown"] is None and record["roofline"] is None
    assert_self_contained(path.with_suffix(".html").read_text())


def test_validate_run_rejects_a_broken_record(ort_run):
    record = json.loads(ort_run.read_text())
    record["latency"].pop("p99_ms")
    with pytest.raises(EdgeattnError, match="p99_ms"):
        validate_run(record)


def _variant(record: dict, name: str, median: float, gflops: float | None) -> dict:
    other = copy.deepcopy(record)
    other["model"]["name"] = name
    other["model"]["gflops"] = gflops
    other["latency"]["median_ms"] = median
    return other


def test_comparison_speedups_against_baseline(ort_run):
    base = json.loads(ort_run.read_text())
    runs = [_variant(base, "slow_net", 8.0, 2.0), _variant(base, "fast_net", 2.0, 0.5),
            _variant(base, "mystery_net", 4.0, None)]
    rows = {r["model"]: r for r in comparison_rows(runs, baseline="slow_net")}
    assert rows["fast_net"]["speedup"] == pytest.approx(4.0)
    assert rows["slow_net"]["speedup"] == pytest.approx(1.0)
    assert rows["mystery_net"]["speedup"] == pytest.approx(2.0)
    markdown = render_comparison_markdown(runs, baseline="slow_net")
    assert "| fast_net | ort-cpu | 2 | 1 |" in markdown and "4.00×" in markdown
    with pytest.raises(UsageError, match="baseline"):
        comparison_rows(runs, baseline="nope")


def test_report_command_writes_html_and_markdown(ort_run, tmp_path):
    base = json.loads(ort_run.read_text())
    paths = []
    for name, median in (("net_a", 3.0), ("net_b", 1.5)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(_variant(base, name, median, 0.1 * median)))
        paths.append(path)
    out = report_command(paths, out=tmp_path / "report.html", baseline="net_a", markdown=tmp_path / "table.md")
    page = out.read_text()
    assert_self_contained(page)
    assert 'alt="latency vs GFLOPs, ort-cpu, batch 2, 1 threads"' in page
    assert "2.00×" in (tmp_path / "table.md").read_text()
    again = report_command(paths, out=tmp_path / "report2.html", baseline="net_a")
    assert again.read_bytes() == out.read_bytes()


def test_report_command_refuses_missing_files(tmp_path):
    with pytest.raises(UsageError, match="not found"):
        report_command([tmp_path / "missing.json"], out=tmp_path / "r.html")


class _InterruptedRunner(OrtRunner):
    """Raises KeyboardInterrupt (as Ctrl-C would) on the 4th timed run."""

    def _infer(self, feeds):
        if len(self.timings_ms) == 3 and self.stop_armed:
            raise KeyboardInterrupt
        return super()._infer(feeds)


def test_ctrl_c_keeps_finished_runs(tiny_onnx):
    runner = _InterruptedRunner(tiny_onnx, threads=1)
    runner.stop_armed = False
    runner.prepare()
    feeds = {"image": np.zeros((1, 3, 13, 11), dtype=np.float32)}
    runner.infer(feeds)
    runner.stop_armed = True
    samples, interrupted = measure(runner, feeds, ProfileSettings(warmup=1, iters=10, show_progress=False), "t")
    runner.close()
    assert interrupted and len(samples) == 3


@pytest.mark.skipif(TensorRTRunner.can_run()[0], reason="tensorrt runs here")
def test_unavailable_backend_is_refused_before_any_work(tmp_path):
    with pytest.raises(MissingDependencyError, match="tensorrt Python package not installed"):
        profile_command("no_such_model", backend="tensorrt", out=tmp_path, show_progress=False)


def test_pareto_front_keeps_models_with_more_gflops_at_less_latency():
    points = [{"x": 0.5, "y": 1.0, "label": "a"}, {"x": 1.0, "y": 2.0, "label": "b"},
              {"x": 0.8, "y": 3.0, "label": "dominated"}, {"x": 2.0, "y": 2.5, "label": "c"}]
    assert [p["label"] for p in pareto_front(points)] == ["a", "b", "c"]


@pytest.mark.slow
def test_registry_model_is_exported_on_the_fly_for_ort(tmp_path):
    path = profile_command("shvit_s1", backend="ort-cpu", batch=2, threads=1, warmup=1, iters=3, out=tmp_path,
                           resolution=96, op_profile_iters=2, show_progress=False)
    record = json.loads(path.read_text())
    validate_run(record)
    assert record["model"]["origin"] == "registry" and record["model"]["input_shapes"] == {"image": [2, 3, 96, 96]}
    assert any("exported on the fly" in note for note in record["model"]["notes"])
    blocks = {r["name"] for r in record["op_breakdown"]["by_block"]}
    assert {"stem", "stage 0", "stage 1", "stage 2", "head"} <= blocks
    attention = {r["name"]: r["ms"] for r in record["op_breakdown"]["by_kind"]}["attention"]
    assert attention > 0
    assert record["roofline"]["targets"] and all(t["is_estimate"] for t in record["roofline"]["targets"])


FLAG = {"batch": "--batch", "iters": "--iterations", "threads": "--threads", "warmup": "--warm-up"}


@pytest.mark.parametrize("option,value", [("batch", 0), ("iters", 0), ("threads", 0), ("warmup", -1)],
                         ids=["batch-0", "iters-0", "threads-0", "warmup-negative"])
def test_bad_settings_are_usage_errors(tiny_onnx, tmp_path, option, value):
    with pytest.raises(UsageError, match=f"invalid {FLAG[option]}"):
        profile_command(str(tiny_onnx), out=tmp_path, show_progress=False, **{option: value})
