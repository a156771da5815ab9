"""What the precision stage feeds a graph: image batches (one float input) or multi-input frames (LiDAR).

A `Frame` holds every input of one sample of a multi-input graph (DSVT's voxel features and partition
tensors) and, optionally, its padding probe: the same feeds with every padded slot pointing at other
data. The graph's valid outputs do not depend on padding, so an element that differs between the two
runs derives from padding; range statistics leave such elements out (`valid_values`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Union

import numpy as np
import torch

from edgeattn.runners.base import Feeds


@dataclass(frozen=True)
class Frame:
    """All graph inputs of one sample by input name, in the graph's input order, and the padding probe's
    feeds (None: no padding)."""

    feeds: Feeds
    probe: Feeds | None = None

    def __len__(self) -> int:
        return 1


Batch = Union[np.ndarray, Frame]
"""One entry of `CalibrationData.batches`: an image batch [N, C, H, W] or a frame."""


def runs(runner, batch: Batch) -> Iterator[tuple[Feeds, Feeds | None, Batch]]:
    """(feeds, probe feeds, what the torch model takes) of every run `batch` makes on a prepared `runner`:
    one per static-batch chunk of an image batch, one per frame. Float feeds get the runner's input dtype."""
    if isinstance(batch, Frame):
        yield _typed(runner, batch.feeds), None if batch.probe is None else _typed(runner, batch.probe), batch
        return
    for chunk in runner.split_batch(np.asarray(batch, dtype=np.float32)):
        yield {runner.input_names[0]: chunk.astype(runner.input_dtype(0))}, None, chunk


def _typed(runner, feeds: Feeds) -> Feeds:
    index = {name: i for i, name in enumerate(runner.input_names)}
    return {name: value.astype(runner.input_dtype(index[name])) if value.dtype.kind == "f" else value
            for name, value in feeds.items()}


def valid_values(values: np.ndarray, probe_values: np.ndarray | None) -> np.ndarray:
    """The elements of `values` that padding does not change (all of them without a probe run)."""
    if probe_values is None:
        return values
    return values[values == probe_values]


def torch_inputs(batch: Batch) -> tuple[torch.Tensor, ...]:
    """`batch` as the positional tensors of the exported torch module (a frame's feeds are in input order)."""
    if isinstance(batch, Frame):
        return tuple(torch.from_numpy(np.ascontiguousarray(value)) for value in batch.feeds.values())
    return (torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)),)
