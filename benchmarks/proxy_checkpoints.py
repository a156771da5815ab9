"""Proxy checkpoints: brief CPU fine-tuning on a photo-identity task so top-1 agreement means something.

No ImageNet weights can be downloaded here, and random-init logits barely change between images, so
top-1 agreement of an INT8 model with fp32 is meaningless on them. This script trains each model for a
few hundred steps to tell scikit-image's bundled photos apart (class = source photo; random crops,
flips and colour jitter), evaluates top-1 accuracy on held-out crops, and saves `<model>.pth` outside
git (default ~/.cache/edgeattn/proxy_checkpoints; reproducible from the seed). Then:

    python benchmarks/proxy_checkpoints.py --models shvit_s4 efficientvit_b1 --steps 120
    python benchmarks/quant_fidelity.py --checkpoints ~/.cache/edgeattn/proxy_checkpoints
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from edgeattn.backbones import create_model, get_spec
from edgeattn.calibrate.data import SAMPLE_PHOTOS, model_transform, photo_crops
from edgeattn.errors import EdgeattnError

MODELS = ("shvit_s4", "lowformer_b1", "efficientvit_b1", "efficientvit_m4", "ghostnetv2_100", "van_b0")
DEFAULT_OUT = Path.home() / ".cache" / "edgeattn" / "proxy_checkpoints"
RESULTS = Path(__file__).parent / "results"
HELD_OUT_SEED = 10_000


def _batch(spec, resolution: int, count: int, seed: int, augment: bool) -> tuple[torch.Tensor, torch.Tensor]:
    transform = model_transform(spec, resolution)
    crops = photo_crops(count, seed, augment=augment)
    images = torch.stack([transform(Image.fromarray(crop)) for crop, _ in crops])
    return images, torch.tensor([label for _, label in crops])


def train_one(name: str, args, progress: Progress) -> dict:
    try:
        spec = get_spec(name)
    except EdgeattnError as exc:
        return {"model": name, "skipped": str(exc).splitlines()[0]}
    resolution = max(spec.stride, args.resolution // spec.stride * spec.stride)
    torch.manual_seed(args.seed)
    model, _ = create_model(spec, seed=args.seed)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=args.steps, pct_start=0.15)
    task = progress.add_task(f"train {name}", total=args.steps)
    start = time.perf_counter()
    losses = []
    for step in range(args.steps):
        images, labels = _batch(spec, resolution, args.batch, args.seed * 100_000 + step * args.batch, augment=True)
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        progress.update(task, advance=1, description=f"train {name} loss {np.mean(losses[-10:]):.3f}")
        if (step + 1) % 10 == 0:
            progress.console.log(f"{name} step {step + 1}/{args.steps} loss {np.mean(losses[-10:]):.3f}")
    train_seconds = time.perf_counter() - start
    model.eval()
    images, labels = _batch(spec, resolution, args.eval_count, HELD_OUT_SEED, augment=False)
    with torch.no_grad():
        accuracy = float((model(images).argmax(-1) == labels).float().mean())
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{name}.pth"
    torch.save(model.state_dict(), path)
    return {"model": name, "resolution": resolution, "steps": args.steps, "batch": args.batch, "lr": args.lr,
            "seed": args.seed, "train_seconds": train_seconds, "final_loss": float(np.mean(losses[-10:])),
            "held_out_top1": accuracy, "held_out_count": args.eval_count, "checkpoint": str(path)}


def _merged(path: Path, records: list[dict], threads: int) -> list[dict]:
    """Earlier results for other models, with this run's records (and thread count) replacing their own."""
    kept = json.loads(path.read_text())["models"] if path.is_file() else []
    fresh = {r["model"]: r | {"threads": threads} for r in records}
    return [fresh.pop(r["model"], r) for r in kept] + list(fresh.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--eval-count", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    console = Console()
    with Progress(console=console) as progress:
        records = [train_one(name, args, progress) for name in args.models]
    table = Table(title=f"Proxy task: {len(SAMPLE_PHOTOS)} photos, held-out crops")
    for column in ("model", "steps", "train s", "final loss", "held-out top-1"):
        table.add_column(column)
    for r in records:
        if "skipped" in r:
            table.add_row(r["model"], "-", "-", "-", r["skipped"])
        else:
            table.add_row(r["model"], str(r["steps"]), f"{r['train_seconds']:.0f}", f"{r['final_loss']:.3f}",
                          f"{r['held_out_top1']:.1%}")
    console.print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "proxy_checkpoints.json"
    out.write_text(json.dumps({"device": {"machine": platform.machine(), "torch": torch.__version__},
                               "classes": list(SAMPLE_PHOTOS), "models": _merged(out, records, args.threads)},
                              indent=2, sort_keys=True) + "\n")
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
