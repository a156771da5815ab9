"""CPU-checkable parts of benchmarks/kernels.py: plan, byte/FLOP accounting, variants, output."""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from edgeattn.ops.cases import make_case
from edgeattn.ops.registry import all_ops, get_op

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "kernels.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("edgeattn_bench_kernels", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "name, expected",
    [
        ("NVIDIA H100 80GB HBM3", 3350.0),
        ("NVIDIA H100 PCIe", 2000.0),
        ("NVIDIA H200", 4800.0),
        ("NVIDIA A100-SXM4-80GB", 2039.0),
        ("Orin (nvgpu)", 204.8),
        ("Some Future GPU", None),
    ],
)
def test_peak_bandwidth_lookup(bench, name, expected):
    assert bench.peak_bandwidth_gbps(name) == expected


def test_metrics_and_roofline(bench):
    row = bench.metrics(bytes_moved=2_000_000, flops=4_000_000, median_ms=0.002, peak_gbps=2000.0)
    assert row["achieved_gbps"] == pytest.approx(1000.0)
    assert row["achieved_tflops"] == pytest.approx(2.0)
    assert row["roofline_fraction"] == pytest.approx(0.5)
    assert bench.metrics(1, 1, 1.0, None)["roofline_fraction"] is None


def test_result_path_names_device_and_date(bench, tmp_path):
    path = bench.result_path("NVIDIA H100 80GB HBM3", dt.date(2026, 11, 21), tmp_path)
    assert path == tmp_path / "kernels_nvidia-h100-80gb-hbm3_2026-11-21.json"


def test_plan_covers_every_op_case_and_batch(bench):
    runs = bench.plan(None, [1, 8])
    expected = sum(2 * len(o.spec.test_cases) + len(o.spec.cases) - len(o.spec.test_cases) for o in all_ops())
    assert len(runs) == expected
    assert {o.name for o, _, _ in runs} == {o.name for o in all_ops()}
    assert all(batch == 1 for _, case, batch in runs if case.benchmark_only)
    first = all_ops()[0]
    assert len(bench.plan([first.name], [1])) == len(first.spec.cases)


def test_byte_and_flop_accounting_single_head_attention():
    op = get_op("SingleHeadAttention")  # the one op whose shapes this accounting spells out
    case = next(
        c for c in op.spec.cases if c.id == "shvit_s1_stage2_224"
    )  # q,k [1,16,49], v [1,48,49]
    oc = make_case(op, case, dtype=torch.float16, batch=8)
    assert oc.inputs[0].shape == (8, 16, 49)
    assert oc.bytes_moved == 8 * 2 * (16 * 49 * 2 + 48 * 49 * 2)
    assert oc.flops == 8 * (2 * 49 * 49 * (16 + 48) + 5 * 49 * 49)


def test_byte_accounting_counts_optional_inputs():
    op = get_op("MultiHeadAttention")
    case = next(c for c in op.spec.cases if "attn_bias" in c.shapes)
    oc = make_case(op, case, batch=1)
    q, k, v = oc.inputs
    out_bytes = q.shape[0] * q.shape[1] * q.shape[2] * v.shape[3] * 4
    assert (
        oc.bytes_moved
        == 4 * (q.numel() + k.numel() + v.numel() + oc.attrs["attn_bias"].numel()) + out_bytes
    )


WITH_EXTRAS = [o for o in all_ops() if o.benchmark_variants is not None]


@pytest.mark.parametrize("op", WITH_EXTRAS, ids=lambda o: o.name)
def test_every_variant_runs_and_matches_on_cpu(bench, op):
    """The timed callables (interpreted Triton, eager, the op's extras: SDPA, INT8) compute the op correctly."""
    case = min(op.spec.test_cases, key=lambda c: sum(torch.Size(s).numel() for s in c.shapes.values()))
    oc = make_case(op, case, dtype=torch.float16)
    ref = op.reference(
        *(t.float() for t in oc.inputs),
        **{
            k: v.float() if torch.is_tensor(v) and v.is_floating_point() else v
            for k, v in oc.attrs.items()
        },
    )
    variants = bench.variants(op, oc, use_compile=False)
    names = [v.name for v in variants]
    assert names[:2] == ["triton", "eager"] and len(names) > 2
    for variant in variants:
        error = bench._max_error(variant.run(), ref)
        limit = 0.1 if variant.name == "triton-int8" else 1e-2
        assert error is not None and error < limit, variant.name


def test_without_cuda_exits_with_a_clear_message(bench, monkeypatch, capsys):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert bench.main(["--ops", all_ops()[0].name]) == 1
    assert "needs a CUDA GPU" in capsys.readouterr().err
