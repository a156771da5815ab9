"""Runners: one small interface (prepare, infer, close, can_run -> reason) for every backend.

Parity, fidelity, the sensitivity ranking, the CPU gate, profiling and the runtime all run graphs through
these classes, and compare their outputs with `edgeattn.runners.compare`.
"""

from edgeattn.runners.base import Feeds, Runner, default_threads

__all__ = ["Feeds", "Runner", "default_threads"]
