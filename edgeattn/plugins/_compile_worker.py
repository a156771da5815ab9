"""Child process of `edgeattn.plugins.compile`: compiles one arch's variants with Triton (no GPU).

    python -m edgeattn.plugins._compile_worker request.json

Runs without TRITON_INTERPRET and with the arch's TRITON_PTXAS_PATH (set by the parent).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import sys
from pathlib import Path

HEADER = (
    "# kernel\tkey\tnum_warps\tshared_bytes\tnum_params\tglobal_scratch_bytes\tglobal_scratch_align\tfile\tsha256"
)


def entry_params(ptx: str, kernel: str) -> int:
    """Parameters of `.entry <kernel>(...)` in the PTX."""
    match = re.search(rf"\.entry\s+{re.escape(kernel)}\s*\((.*?)\)", ptx, re.S)
    if match is None:
        raise RuntimeError(f"PTX has no .entry {kernel}")
    return match.group(1).count(".param")


def compile_one(item: dict, arch: int, out: Path) -> str:
    """Compile one variant, write its cubin and PTX, return its table row."""
    from edgeattn.kernels.aot import KernelLaunch, compile_launch

    kernel = getattr(importlib.import_module(item["module"]), item["kernel"])
    constexprs = dict(item["constexprs"])
    num_warps = int(constexprs.pop("num_warps", 4))
    compiled = compile_launch(KernelLaunch(kernel, (), item["signature"], constexprs), arch=arch, num_warps=num_warps)
    meta = compiled.metadata
    if meta.num_ctas != 1 or meta.launch_cooperative_grid or meta.launch_pdl:
        raise RuntimeError(f"{item['kernel']}: clusters, cooperative grids and PDL are not supported by the launcher")
    ptx, cubin = compiled.asm["ptx"], compiled.asm["cubin"]
    params = entry_params(ptx, meta.name)
    expected = sum(kind != "constexpr" for kind in item["signature"].values()) + 2
    if params != expected:
        raise RuntimeError(f"{meta.name}: PTX has {params} parameters, the launch passes {expected}")
    stem = f"{meta.name}-{hashlib.sha256(item['key'].encode()).hexdigest()[:16]}"
    (out / f"{stem}.cubin").write_bytes(cubin)
    (out / f"{stem}.ptx").write_text(ptx)
    digest = hashlib.sha256(cubin).hexdigest()
    columns = [meta.name, item["key"], meta.num_warps, meta.shared, params, meta.global_scratch_size,
               meta.global_scratch_align, f"{stem}.cubin", digest]
    return "\t".join(str(c) for c in columns)


def main(request_path: str) -> int:
    import triton

    request = json.loads(Path(request_path).read_text())
    arch, out = int(request["arch"]), Path(request["out"])
    out.mkdir(parents=True, exist_ok=True)
    for stale in (*out.glob("*.cubin"), *out.glob("*.ptx")):
        stale.unlink()
    rows = [compile_one(item, arch, out) for item in sorted(request["launches"], key=lambda i: i["key"])]
    title = f"# edgeattn Triton cubins for sm_{arch} (triton {triton.__version__}); embedded by embed_cubins.cmake"
    (out / "variants.tsv").write_text("\n".join([title, HEADER, *rows]) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
