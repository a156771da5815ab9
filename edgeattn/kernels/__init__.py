"""Shared helpers for the Triton kernels in `edgeattn/ops/*/triton.py`.

Triton chooses between compiling for the GPU and its CPU interpreter when a kernel is *defined*
(`TRITON_INTERPRET=1` must be set before the kernel modules are imported). The helpers here check
that choice against the tensors a launcher receives, so a mismatch becomes a clear refusal instead
of a crash deep inside Triton.
"""
