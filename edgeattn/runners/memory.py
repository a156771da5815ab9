"""Peak resident memory of this process during a block of work (Linux /proc)."""

from __future__ import annotations

import resource
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing_extensions import Self

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def current_rss_bytes() -> int:
    """Resident set size now, in bytes (0 where /proc is unavailable)."""
    kib = _status_kib("VmRSS")
    return kib * 1024 if kib is not None else 0


class PeakRss:
    """Context manager measuring the peak RSS above the RSS at entry.

    On Linux the high-water mark is reset at entry (``clear_refs`` 5), so the peak belongs to the
    block. Where that is not possible the process-wide peak is used and ``method`` says so.
    """

    def __init__(self) -> None:
        self.start_bytes = 0
        self.peak_bytes = 0
        self.method = "VmHWM reset at start"

    def __enter__(self) -> Self:
        try:
            _CLEAR_REFS.write_text("5")
        except OSError:
            self.method = "process-wide ru_maxrss (high-water mark could not be reset)"
        self.start_bytes = current_rss_bytes()
        return self

    def __exit__(self, *exc: object) -> None:
        hwm = _status_kib("VmHWM")
        if hwm is not None and self.method.startswith("VmHWM"):
            self.peak_bytes = hwm * 1024
        else:
            self.peak_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    @property
    def delta_bytes(self) -> int:
        """Peak RSS during the block minus RSS at its start (never negative)."""
        return max(0, self.peak_bytes - self.start_bytes)
