"""Compile the kernel variants of plugin graphs to cubins, one table per arch, for the plugin library.

    python -m edgeattn.plugins.compile model.plugins.onnx [more.onnx] --arch 87 90 --out cubins/ [--spec]

Writes `<out>/sm_<arch>/variants.tsv` and one `.cubin` (+ its `.ptx`) per variant: what the
library's CMake embeds (`EDGEATTN_CUBIN_DIR`). Compiling runs in one child process per arch without
TRITON_INTERPRET (kernels defined under the interpreter cannot be compiled), with the arch's ptxas
(`edgeattn.plugins.ptxas`); every table is checked (`edgeattn.plugins.cubin_check`), and the PTX of
every kernel that hands a workspace buffer between its phases (`edgeattn.plugins.ptx_barriers`),
before returning.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from edgeattn.errors import EdgeattnError
from edgeattn.kernels.launches import PluginLaunch
from edgeattn.plugins.ptxas import ptxas_environment

TABLE = "variants.tsv"


def arch_dir(out: Path, arch: int) -> Path:
    return out / f"sm_{arch}"


def _request(launches: list[PluginLaunch], arch: int, out: Path) -> dict:
    return {
        "arch": arch,
        "out": str(arch_dir(out, arch)),
        "launches": [
            {
                "module": launch.kernel_module,
                "kernel": launch.launch.name,
                "key": launch.key,
                "signature": launch.launch.signature,
                "constexprs": launch.launch.constexprs,
            }
            for launch in launches
        ],
    }


def workspace_problems(launches: list[PluginLaunch], folder: Path) -> list[str]:
    """Kernels of `folder` whose launches use workspace buffers but whose PTX does not fence them."""
    from edgeattn.plugins.cubin_check import read_table
    from edgeattn.plugins.ptx_barriers import unfenced_reads

    files = {row.key: folder / row.file for row in read_table(folder)}
    problems = []
    for launch in launches:
        if launch.workspace and launch.key in files:
            ptx = files[launch.key].with_suffix(".ptx").read_text()
            problems += [f"{files[launch.key].name}: {p}" for p in unfenced_reads(ptx)]
    return problems


def compile_launches(launches: list[PluginLaunch], archs: list[int], out: Path) -> dict[int, Path]:
    """Compile every launch for every arch (archs in parallel); returns arch -> its folder."""
    from edgeattn.plugins.cubin_check import check_table

    if not launches:
        raise EdgeattnError("No kernel variants to compile.", "Pass plugin graphs with edgeattn nodes, or --spec.")
    out.mkdir(parents=True, exist_ok=True)
    envs = {arch: ptxas_environment(arch, dict(os.environ)) for arch in archs}
    with tempfile.TemporaryDirectory() as tmp:
        running = []
        for arch in archs:
            request = Path(tmp) / f"sm_{arch}.json"
            request.write_text(json.dumps(_request(launches, arch, out)))
            command = [sys.executable, "-m", "edgeattn.plugins._compile_worker", str(request)]
            running.append((arch, subprocess.Popen(command, env=envs[arch], stderr=subprocess.PIPE, text=True)))
        for arch, process in running:
            _, stderr = process.communicate()
            if process.returncode != 0:
                raise EdgeattnError(f"Compiling the kernels for sm_{arch} failed:\n{stderr[-4000:]}",
                                    "Fix the kernel or its launch; the log above is Triton's.")
    for arch in archs:
        problems = check_table(arch_dir(out, arch), arch)
        if problems:
            raise EdgeattnError(f"sm_{arch} cubins fail their checks: " + "; ".join(problems),
                                "Use the ptxas edgeattn.plugins.ptxas selects for this arch.")
        problems = workspace_problems(launches, arch_dir(out, arch))
        if problems:
            raise EdgeattnError(f"sm_{arch} kernels read their workspace unsafely: " + "; ".join(problems),
                                "Separate the phases with tl.debug_barrier() and read the workspace with "
                                "cache_modifier='.cg', or split the kernel into two launches.")
    return {arch: arch_dir(out, arch) for arch in archs}


def main(argv: list[str] | None = None) -> int:
    import onnx

    from edgeattn.plugins.graph import graph_launches, spec_launches, unique_launches

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("graphs", nargs="*", type=Path, help="plugin ONNX graphs (model.plugins*.onnx)")
    parser.add_argument("--arch", nargs="+", type=int, default=[87], help="compute capabilities, e.g. 87 90")
    parser.add_argument("--out", type=Path, required=True, help="output folder (EDGEATTN_CUBIN_DIR)")
    parser.add_argument("--spec", action="store_true", help="also every spec.yaml case of every plugin op")
    args = parser.parse_args(argv)
    try:
        launches = graph_launches([onnx.load(path) for path in args.graphs])
        if args.spec:
            launches = unique_launches(launches + spec_launches())
        folders = compile_launches(launches, args.arch, args.out)
    except EdgeattnError as exc:
        print(str(exc), file=sys.stderr)
        return exc.exit_code
    for arch, folder in folders.items():
        print(f"sm_{arch}: {len(launches)} variants in {folder / TABLE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
