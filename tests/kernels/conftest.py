"""Kernel tests run Triton's CPU interpreter: the flag must be set before triton is imported."""

import os

os.environ["TRITON_INTERPRET"] = "1"
