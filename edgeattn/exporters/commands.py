"""`edgeattn export` as a plain function: build the config from the flags that were given, run, print."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from edgeattn.errors import UsageError
from edgeattn.exporters.config import flag_name


def export_command(options: dict[str, Any]) -> Any:
    """Run an export from CLI options (None means "not given") and print parity, fidelity and the bundle."""
    from rich.console import Console

    from edgeattn.exporters.config import ExportConfig
    from edgeattn.exporters.pipeline import run_export

    given = {key: value for key, value in options.items() if value is not None}
    try:
        config = ExportConfig(**given)
    except ValidationError as error:
        raise usage_error(error) from None
    bundle = run_export(config)
    console, err_console = Console(), Console(stderr=True)
    for report in bundle.parity:
        worst = report.worst()
        console.print(f"parity ok {report.graph} on {report.runtime}: max abs {worst.max_abs:.2e} "
                      f"(allowed {worst.atol:.1e}), cosine {worst.cosine:.7f}", markup=False, highlight=False)
    fidelity = bundle.manifest.get("precision", {}).get("fidelity")
    if fidelity:
        console.print(f"{config.precision} fidelity vs fp32: " + ", ".join(
            f"{k} {v:.6g}" if isinstance(v, float) else f"{k} {v}" for k, v in fidelity.items() if v is not None),
            markup=False)
    console.print(f"bundle: {bundle.path} ({', '.join(top_level(bundle.files))})", markup=False, highlight=False)
    if "plugins" in bundle.manifest:
        console.print(device_commands(bundle), markup=False, highlight=False, soft_wrap=True)
    if bundle.replaced:
        err_console.print(f"replaced {bundle.replaced}", markup=False, highlight=False)
    if bundle.removed_stale:
        err_console.print(f"removed {len(bundle.removed_stale)} staging folder(s) left by killed runs: "
                          + ", ".join(bundle.removed_stale), markup=False, highlight=False)
    timings = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in bundle.timings.items())
    err_console.print(timings, style="dim", soft_wrap=True, markup=False, highlight=False)
    return bundle


def top_level(files: list[str]) -> list[str]:
    """Bundle files with folders collapsed: "plugins/ (38 files)"."""
    counts: dict[str, int] = {}
    for name in files:
        head = name.split("/", 1)[0] + ("/" if "/" in name else "")
        counts[head] = counts.get(head, 0) + 1
    return [f"{name} ({count} files)" if name.endswith("/") else name for name, count in counts.items()]


def device_commands(bundle: Any) -> str:
    """What to run on the device to build the plugin library and the plugin engine."""
    precision = bundle.manifest["precision"]["precision"]
    plugins = bundle.manifest["plugins"]
    count = len(plugins["ops"])
    return "\n".join([
        f"on the device ({bundle.manifest['target']['name']}, sm_{plugins['archs'][0]}), after copying the bundle:",
        f"  ./build_engine.sh library              # plugins/libedgeattn_plugins.so "
        f"({count} plugin{'s' if count != 1 else ''}, {plugins['kernel_variants']} kernel variants)",
        f"  ./build_engine.sh plugins {precision:<12}# the library, then the engine of the plugin graph",
        "  (needs CMake >= 3.18, a C++17 compiler, TensorRT and CUDA headers; TENSORRT_ROOT / CUDA_INCLUDE_DIR "
        "override JetPack's paths)"])


def usage_error(error: ValidationError) -> UsageError:
    """The first pydantic validation error as a one-line UsageError naming the CLI flag."""
    first = error.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else ""
    message = str(first["msg"]).removeprefix("Value error, ")
    return UsageError(f"invalid {flag_name(field) if field else 'options'}: {message}",
                      "Run `edgeattn export --help` for the accepted values.")
