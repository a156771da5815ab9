"""User-facing errors: one line saying what went wrong, one line saying what to do."""

from __future__ import annotations


class EdgeattnError(Exception):
    """A failure caused by input or environment, shown to the user without a stack trace."""

    exit_code = 1

    def __init__(self, what: str, hint: str = "") -> None:
        super().__init__(what)
        self.what = what
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.what}\n{self.hint}" if self.hint else self.what


class UsageError(EdgeattnError):
    """The command line or API call itself is wrong (unknown name, bad flag value)."""

    exit_code = 2


class ParityError(EdgeattnError):
    """An exported graph does not reproduce the torch model within tolerance."""


class MissingDependencyError(EdgeattnError):
    """An optional dependency (TensorRT, CUDA, Triton) is not available on this machine."""


class Terminated(BaseException):
    """SIGTERM arrived (`timeout`, `docker stop`, CI cancellation): unwinds like Ctrl-C, so staging folders
    and locks are cleaned up on the way out."""
