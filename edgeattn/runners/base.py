"""The runner interface: `can_run() -> (ok, reason)`, `prepare()`, `infer(feeds) -> outputs`, `close()`.

`infer` takes and returns numpy arrays by tensor name and appends its wall time in milliseconds to
`timings_ms`. Times are host-to-host: they include copies to and from a device and wait for it.
"""

from __future__ import annotations

import contextlib
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from edgeattn.errors import MissingDependencyError, UsageError
from edgeattn.runners.memory import PeakRss

if TYPE_CHECKING:
    from typing_extensions import Self

Feeds = dict[str, np.ndarray]


def default_threads() -> int:
    """Number of CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class Runner(ABC):
    """A backend that runs one model on numpy feeds and records the wall time of each run."""

    name: ClassVar[str]
    needs: ClassVar[str]
    """What the runner is built from: "onnx" (a model file) or "torch" (an nn.Module)."""
    memory_kind: ClassVar[str] = "host_rss_delta"

    def __init__(self) -> None:
        self.timings_ms: list[float] = []
        self.prepared = False
        self.input_names: list[str] = []
        self.output_names: list[str] = []

    @classmethod
    @abstractmethod
    def can_run(cls) -> tuple[bool, str]:
        """(True, "") when the backend works here, else (False, why not and how to fix it)."""

    @classmethod
    def require(cls) -> None:
        """Raise MissingDependencyError (with the reason) when the backend cannot run here."""
        ok, reason = cls.can_run()
        if not ok:
            raise MissingDependencyError(f"backend {cls.name} cannot run here: {reason}",
                                         "Pick another --backend or install what is missing.")

    def prepare(self) -> Self:
        """Load the model; raises MissingDependencyError when the backend cannot run here."""
        if not self.prepared:
            self.require()
            self._prepare()
            self.prepared = True
        return self

    def infer(self, feeds: Feeds) -> Feeds:
        """Run one batch and record its wall time in `timings_ms`."""
        if not self.prepared:
            raise UsageError(f"runner {self.name} used before prepare()", "Call prepare() first.")
        start = time.perf_counter_ns()
        outputs = self._infer(feeds)
        self.timings_ms.append((time.perf_counter_ns() - start) / 1e6)
        return outputs

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Positional form of `infer`: inputs in graph order, outputs in graph order."""
        if len(inputs) != len(self.input_names):
            raise UsageError(f"{len(inputs)} inputs given, the model takes {len(self.input_names)} "
                             f"({', '.join(self.input_names)})", "Pass one array per model input.")
        outputs = self.infer(dict(zip(self.input_names, inputs)))
        return [outputs[name] for name in self.output_names]

    def close(self) -> None:
        """Release the model and any global state the runner changed."""
        self.prepared = False

    @contextlib.contextmanager
    def track_memory(self) -> Iterator[dict[str, Any]]:
        """Measure peak memory of the block (prepare and runs); fills the yielded dict on exit."""
        record: dict[str, Any] = {"kind": self.memory_kind}
        with PeakRss() as rss:
            yield record
        record.update(peak_bytes=rss.delta_bytes, method=f"peak RSS above the RSS before prepare() ({rss.method})")

    def reset_timings(self) -> None:
        """Forget recorded times (after warm-up)."""
        self.timings_ms.clear()

    @abstractmethod
    def _prepare(self) -> None: ...

    @abstractmethod
    def _infer(self, feeds: Feeds) -> Feeds: ...

    def __enter__(self) -> Self:
        return self.prepare()

    def __exit__(self, *exc: object) -> None:
        self.close()
