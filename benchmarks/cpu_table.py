"""CPU model table for the README, from real `edgeattn profile` runs on this machine.

Protocol (as the SHViT paper measured on CPU): single thread, batch 16, PyTorch eager and ONNX Runtime;
plus batch 1 on a single thread. Models use random-init weights (latency does not depend on them) at
their registry resolution. Each model is exported once to a portable ONNX bundle with a dynamic batch.

    .venv/bin/python benchmarks/cpu_table.py [--iters 20] [--warmup 3] [--models shvit_s4 mobilevitv2_100 ...]

Writes run JSONs to benchmarks/results/cpu/ (edgeattn.profile.report.render_run_html renders one as a page),
the cross-model HTML report to benchmarks/results/cpu_table.html and the Markdown table to
benchmarks/results/cpu_table.md. Ctrl-C stops after writing the report for the runs that finished.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from rich.console import Console

from edgeattn.exporters.pipeline import export
from edgeattn.profile.commands import profile_command, report_command
from edgeattn.profile.source import EXPORT_EXAMPLE_BATCH

RESULTS = Path(__file__).resolve().parent / "results"
MODELS = ("shvit_s1", "shvit_s4", "mobilevitv2_100", "efficientvit_b1", "ghostnetv2_100", "lowformer_b1")
SETTINGS = ((16, 1), (1, 1))
"""(batch, threads) pairs: the SHViT paper's CPU protocol first, then batch 1."""
BACKENDS = ("ort-cpu", "torch-cpu")
BASELINE = "mobilevitv2_100"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--op-profile-iters", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    console = Console()
    runs_dir = args.out / "cpu"
    runs: list[Path] = []
    try:
        with tempfile.TemporaryDirectory(prefix="edgeattn-cpu-table-") as tmp:
            for model in args.models:
                console.rule(model)
                bundle = export(model, target="cpu-x86", out=Path(tmp) / model, batch=EXPORT_EXAMPLE_BATCH,
                                dynamic_batch=True)
                for batch, threads in SETTINGS:
                    for backend in BACKENDS:
                        source = str(bundle.path) if backend == "ort-cpu" else model
                        runs.append(profile_command(source, backend=backend, batch=batch, threads=threads,
                                                    warmup=args.warmup, iters=args.iters, out=runs_dir,
                                                    op_profile_iters=args.op_profile_iters, write_html=False))
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted: writing the report for {len(runs)} finished runs[/yellow]")
    if runs:
        baseline = BASELINE if BASELINE in args.models else None
        report_command(runs, out=args.out / "cpu_table.html", baseline=baseline, markdown=args.out / "cpu_table.md")
        console.print(f"wrote {args.out / 'cpu_table.md'} and {args.out / 'cpu_table.html'}")


if __name__ == "__main__":
    main()
