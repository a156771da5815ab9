"""Kernel tests run Triton's CPU interpreter: the flag must be set before triton is imported.

The interpreter accepts any `tl.dot` shape; NVIDIA GPUs need K >= 32 for int8 and >= 16 for fp16
operands. Where this Triton version exposes the interpreter's rule, it is replaced by NVIDIA's,
so a block size that would not compile on a GPU fails here too (test_aot_compile.py compiles
every kernel for real either way).
"""

import os

os.environ["TRITON_INTERPRET"] = "1"

from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.backends.nvidia.compiler import min_dot_size  # noqa: E402
from triton.runtime import interpreter  # noqa: E402

_builder = getattr(interpreter, "interpreter_builder", None)
if _builder is not None and "min_dot_size" in getattr(_builder, "codegen_fns", {}):
    _builder.codegen_fns["min_dot_size"] = min_dot_size(GPUTarget("cuda", 90, 32))
