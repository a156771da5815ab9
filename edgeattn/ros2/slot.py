"""Newest-frame-only hand-over between the subscription callback and the inference thread."""

from __future__ import annotations

import threading
from typing import Any


class LatestSlot:
    """Holds at most one item: `put` replaces an item nobody took yet (counted in `dropped`)."""

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._item: Any = None
        self.received = 0
        self.dropped = 0

    def put(self, item: Any) -> None:
        with self._ready:
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self.received += 1
            self._ready.notify()

    def take(self, timeout: float) -> Any:
        """The newest item, or None when none arrived within `timeout` seconds."""
        with self._ready:
            if self._item is None:
                self._ready.wait(timeout)
            item, self._item = self._item, None
            return item
