"""Building the plugin library and the host test program, and talking to the program."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeattn.plugins.build import PluginBuild, build_library, cuda_include_dir
from edgeattn.plugins.graph import PluginNode

HOST_SOURCE = Path(__file__).parent / "host"
HEADERS_ENV = "EDGEATTN_TENSORRT_HEADERS"
DEFAULT_HEADERS = Path(__file__).resolve().parents[2].parent / "shared" / "third_party" / "tensorrt"
TENSORRT_VERSIONS = ("10.3", "10.16", "11.1")


def headers_root(version: str) -> Path:
    """TensorRT `version`'s headers: $EDGEATTN_TENSORRT_HEADERS/<version>, else ../shared/third_party/tensorrt."""
    base = Path(os.environ.get(HEADERS_ENV, DEFAULT_HEADERS))
    return base / version


def headers_refusal(version: str) -> str:
    """Why TensorRT `version`'s headers are unavailable ("" when present)."""
    header = headers_root(version) / "include" / "NvInferRuntime.h"
    return "" if header.is_file() else f"TensorRT {version} headers not found at {header} (set {HEADERS_ENV})"


@dataclass
class Request:
    """One case for plugin_host_test (see tests/plugins/host/plugin_host_test.cpp)."""

    id: str
    plugin: str
    inputs: list[tuple[str, list[int]]]  #: (TensorRT type, runtime dims)
    attributes: dict[str, tuple[str, Any]] = field(default_factory=dict)
    raw: list[tuple[str, str, int, str]] = field(default_factory=list)
    no_fields: bool = False
    version: str = "1"
    namespace: str = "edgeattn"
    ranges: dict[int, tuple[list[int], list[int]]] = field(default_factory=dict)  #: input -> profile min, max

    def lines(self) -> list[str]:
        out = [f"case {self.id}", f"plugin {self.plugin} {self.version} {self.namespace}"]
        out += [f"attr {name} {kind} {' '.join(_encode(kind, value))}".rstrip()
                for name, (kind, value) in self.attributes.items()]
        out += [f"raw {name} {kind} {length} {data}" for name, kind, length, data in self.raw]
        out += ["nofields"] if self.no_fields else []
        for index, (kind, dims) in enumerate(self.inputs):
            line = f"input {kind} {len(dims)} {_ints(dims)}"
            if index in self.ranges:
                line += f" range {_ints(self.ranges[index][0])} {_ints(self.ranges[index][1])}"
            out.append(line)
        return [*out, "end"]


def _ints(values: list[int]) -> str:
    return " ".join(str(v) for v in values)


def _encode(kind: str, value: Any) -> list[str]:
    """Count and values of an attribute line: float32 bit patterns, decimal ints, hex UTF-8 strings."""
    values = value if isinstance(value, list) else [value]
    if kind in ("FLOAT", "FLOATS"):
        encoded = [f"{struct.unpack('<I', struct.pack('<f', float(v)))[0]:08x}" for v in values]
    elif kind in ("INT", "INTS"):
        encoded = [str(int(v)) for v in values]
    else:
        encoded = [str(value).encode().hex()]
    return [str(len(encoded)), *encoded]


def float_field(*values: float) -> str:
    """Hex bytes of float32 values as a raw field's data."""
    return b"".join(struct.pack("<f", v) for v in values).hex()


def concrete_shape(shape: list[int | str], dims: dict[str, dict[str, int]], which: str = "opt") -> list[int]:
    """A shape with its symbolic dims at the profile's `which` (min/opt/max) value; 1 if not profiled."""
    return [d if isinstance(d, int) else dims.get(d, {}).get(which, 1) for d in shape]


def node_request(request_id: str, node: PluginNode, dims: dict[str, dict[str, int]] | None = None) -> Request:
    """The request for a graph node: its attributes, types and shapes at the TensorRT profile `dims`
    (symbol -> min/opt/max; runtime dims at opt, the range for symbolic inputs; unprofiled symbols read as 1)."""
    dims = dims or {}
    inputs = [(t, concrete_shape(s, dims)) for t, s in zip(node.input_types, node.input_shapes)]
    ranges = {i: (concrete_shape(s, dims, "min"), concrete_shape(s, dims, "max"))
              for i, s in enumerate(node.input_shapes) if any(d in dims for d in s if isinstance(d, str))}
    return Request(request_id, node.op_type, inputs, dict(node.attributes), ranges=ranges)


def run_host_test(program: Path, library: Path, requests: list[Request], workdir: Path) -> list[dict[str, Any]]:
    """Run plugin_host_test on `requests`; returns the header record followed by one record per case."""
    path = workdir / "requests.txt"
    path.write_text("\n".join(line for r in requests for line in r.lines()) + "\n")
    env = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([str(program), str(library), str(path)], capture_output=True, text=True, env=env,
                            timeout=300)
    if result.returncode != 0:
        raise AssertionError(f"plugin_host_test failed ({result.returncode}):\n{result.stderr[-8000:]}")
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def build_host_test(version: str, build_dir: Path, sanitize: str = "address") -> Path:
    """Build plugin_host_test against TensorRT `version`'s headers."""
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    commands = [
        ["cmake", "-S", str(HOST_SOURCE), "-B", str(build_dir), *generator, "-DCMAKE_BUILD_TYPE=",
         f"-DTENSORRT_ROOT={headers_root(version)}", f"-DCUDA_INCLUDE_DIR={cuda_include_dir()}",
         f"-DEDGEATTN_SANITIZE={sanitize}"],
        ["cmake", "--build", str(build_dir), "-j", "2"],
    ]
    for command in commands:
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise AssertionError(f"{' '.join(command)}:\n{(result.stdout + result.stderr)[-6000:]}")
    return build_dir / "plugin_host_test"


def build_plugins(version: str, cubin_dir: Path, build_dir: Path, sanitize: str = "address") -> PluginBuild:
    """The plugin library for TensorRT `version`'s headers with the sm_87 cubins of `cubin_dir`."""
    return build_library(headers_root(version), cubin_dir, [87], build_dir, sanitize=sanitize, build_type="")
