"""Profiling and reports: latency statistics, per-op breakdown, roofline estimates."""

from edgeattn.profile.commands import profile_command, report_command
from edgeattn.profile.profiler import ProfileSettings, profile_run

__all__ = ["ProfileSettings", "profile_command", "profile_run", "report_command"]
