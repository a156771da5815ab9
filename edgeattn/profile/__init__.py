"""Profiling and reports: runners per backend, latency statistics, per-op breakdown, roofline estimates."""

from edgeattn.profile.commands import profile_command, report_command
from edgeattn.profile.profiler import ProfileSettings, profile_run
from edgeattn.profile.runners import RUNNERS, Runner, backend_availability, runner_class

__all__ = ["RUNNERS", "ProfileSettings", "Runner", "backend_availability", "profile_command", "profile_run",
           "report_command", "runner_class"]
