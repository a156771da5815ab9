"""tools/int8_table.py: the README INT8 table from results JSON, written only between its markers."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "int8_table.py"


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("edgeattn_int8_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _variant(cosine):
    return {"cosine": cosine, "one_minus_cos": 1 - cosine}


RESULTS = {"settings": {"eval_count": 16, "calib_count": 16, "method": "percentile"}, "device": {"onnxruntime": "1.32.0"},
           "models": [{"model": "shvit_s4", "resolution": 64, "weights": {"kind": "random-init", "seed": 0},
                       "variants": {"edgeattn-head": _variant(0.9991), "edgeattn-tensor": _variant(0.9990),
                                    "edgeattn-head-ort": _variant(0.9992), "edgeattn-head-fallback-0.999": _variant(0.9995),
                                    "ort-quantize_static-default": _variant(0.9980)}},
                      {"model": "van_b0", "skipped": "no checkpoint"}]}
MODELOPT = {"models": [{"model": "shvit_s4", "resolution": 64, "weights": {"kind": "random-init", "seed": 0},
                        "fidelity": _variant(0.9993)},
                       {"model": "shvit_s4", "resolution": 64, "weights": {"kind": "random-init", "seed": 3},
                        "fidelity": _variant(0.5)}]}


def test_table_has_every_column_from_the_json_and_modelopt_only_on_the_same_weights(tool):
    table = tool.render(RESULTS, [MODELOPT])
    row = next(line for line in table.splitlines() if line.startswith("| shvit_s4"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:3] == ["shvit_s4", "64²", "random-init (seed 0)"]
    assert cells[3:] == ["0.99910 (9.0e-04)", "0.99900 (1.0e-03)", "0.99920 (8.0e-04)", "0.99950 (5.0e-04)",
                         "0.99800 (2.0e-03)", "0.99930 (7.0e-04)"]
    assert "van_b0" not in table
    other = tool.render({**RESULTS, "models": [{**RESULTS["models"][0], "weights": {"kind": "random-init", "seed": 1}}]},
                        [MODELOPT])
    assert other.splitlines()[-1].rstrip(" |").endswith(tool.NOT_MEASURED)


def test_readme_is_changed_only_between_the_markers(tool, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{tool.START}\nold table\n{tool.END}\noutro\n")
    results = tmp_path / "r.json"
    results.write_text(json.dumps(RESULTS))
    assert tool.main([str(results), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith(f"intro\n{tool.START}\n") and text.endswith(f"{tool.END}\noutro\n")
    assert "old table" not in text and "| shvit_s4 | 64² |" in text
    assert tool.main([str(results), "--readme", str(readme)]) == 0 and readme.read_text() == text


def test_missing_markers_is_one_error_and_leaves_the_readme_alone(tool, tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n")
    results = tmp_path / "r.json"
    results.write_text(json.dumps(RESULTS))
    assert tool.main([str(results), "--readme", str(readme)]) == 1
    assert readme.read_text() == "no markers\n"
    assert "int8-table" in capsys.readouterr().err


def test_runs_of_the_same_model_merge_their_variants(tool):
    base = {**RESULTS, "models": [{**RESULTS["models"][0], "variants": {"edgeattn-head": _variant(0.9991)}}]}
    extra = {"models": [{**RESULTS["models"][0], "variants": {"edgeattn-head-fallback-0.9998": _variant(0.9998)}}]}
    merged = tool.merge([base, extra])
    assert len(merged["models"]) == 1 and merged["settings"] == RESULTS["settings"]
    assert set(merged["models"][0]["variants"]) == {"edgeattn-head", "edgeattn-head-fallback-0.9998"}
