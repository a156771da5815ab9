"""Every kernel variant compiles to PTX and a cubin for NVIDIA GPUs, on this CPU-only machine.

The interpreter (tests/kernels/conftest.py) cannot show that kernels compile for a GPU, so this
test compiles them in a child process without TRITON_INTERPRET, using Triton's bundled LLVM and
ptxas. sm_87 is Jetson Orin (the edge target); sm_90 (Hopper) is marked slow.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

CHECK = textwrap.dedent(
    """
    import sys
    from edgeattn.kernels import compile_check

    arch = int(sys.argv[1])
    for variant in compile_check.VARIANTS:
        name, compiled = compile_check.compile_variant(variant, arch)
        assert compiled.asm["cubin"], variant.name
        ptx = compiled.asm["ptx"]
        if name in ("dfc_attention_kernel", "large_kernel_attention_kernel"):
            # Workspace kernels: a CTA barrier between phases, workspace reads through L2.
            assert "bar.sync" in ptx and "ld.global.cg" in ptx, name
            assert "ld.global.nc" not in ptx, name
        print("compiled", variant.name)
    """
)


@pytest.mark.parametrize(
    "arch", [87, pytest.param(90, marks=pytest.mark.slow)], ids=lambda a: f"sm_{a}"
)
def test_every_kernel_compiles_for_gpu(arch):
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_DEFAULT_FP_FUSION"] = "1"
    result = subprocess.run(
        [sys.executable, "-c", CHECK, str(arch)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    from edgeattn.kernels.compile_check import VARIANTS

    assert result.stdout.count("compiled") == len(VARIANTS)
