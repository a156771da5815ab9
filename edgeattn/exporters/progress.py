"""Rich progress for multi-step commands: one line per step, with timing."""

from __future__ import annotations

import contextlib
import time
from typing import Iterator

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn


class Steps:
    """A fixed list of named steps shown as a progress bar on stderr (silent when disabled)."""

    def __init__(self, names: list[str], enabled: bool = True) -> None:
        self.names = names
        self.timings: dict[str, float] = {}
        self._progress = Progress(
            SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(), console=Console(stderr=True), disable=not enabled, transient=False,
        )
        self._task = None

    def __enter__(self) -> "Steps":
        self._progress.__enter__()
        self._task = self._progress.add_task(self.names[0], total=len(self.names))
        return self

    def __exit__(self, *exc) -> None:
        self._progress.__exit__(*exc)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        self._progress.update(self._task, description=name)
        start = time.perf_counter()
        yield
        self.timings[name] = time.perf_counter() - start
        self._progress.advance(self._task)
