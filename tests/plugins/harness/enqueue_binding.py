"""Python side of the plugin enqueue harness: builds libedgeattn_enqueue_harness.so and drives it with ctypes.

    harness = Harness(build_harness(tensorrt_root, build_dir), plugin_library)
    plugin = harness.create("SingleHeadAttention", {"scale": 0.25})      # fields typed as the ONNX parser types them
    plugin.configure([("kFLOAT", [1, 16, 49]), ...], [("kFLOAT", [1, 48, 49])])
    plugin.workspace(); plugin.attach(); plugin.enqueue(input_ptrs, output_ptrs, workspace_ptr, stream)

Every step returns the plugin's status; what the plugin library and the harness logged is in
`harness.take_log()`. Needs no TensorRT library and, up to `configure`/`workspace`, no GPU.
"""

from __future__ import annotations

import ctypes
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

from edgeattn.errors import EdgeattnError, UsageError

SOURCE = Path(__file__).resolve().parent
LIBRARY = "libedgeattn_enqueue_harness.so"
PLUGIN_ATTRIBUTES = ("plugin_version", "plugin_namespace")

if str(SOURCE.parent) not in sys.path:
    sys.path.insert(0, str(SOURCE.parent))  # tests/plugins: spec_cases (ONNX attribute kinds)

from spec_cases import attribute_kind  # noqa: E402

_P, _I32, _I64 = ctypes.c_void_p, ctypes.c_int32, ctypes.c_int64
_PROTOTYPES = {
    "eh_open": (_P, [ctypes.c_char_p]),
    "eh_open_error": (ctypes.c_char_p, []),
    "eh_close": (None, [_P]),
    "eh_take_log": (ctypes.c_char_p, [_P]),
    "eh_creator_count": (_I32, [_P]),
    "eh_tensorrt_major": (_I32, []),
    "eh_max_dims": (_I32, []),
    "eh_data_type": (_I32, [ctypes.c_char_p]),
    "eh_field_type": (_I32, [ctypes.c_char_p]),
    "eh_create": (_P, [_P, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, _I32,
                       ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(_I32), ctypes.POINTER(_I32), ctypes.POINTER(_P)]),
    "eh_configure": (_I32, [_P, _I32, ctypes.POINTER(_I32), ctypes.POINTER(_I32), ctypes.POINTER(_I64), _I32,
                            ctypes.POINTER(_I32), ctypes.POINTER(_I32), ctypes.POINTER(_I64)]),
    "eh_workspace": (_I64, [_P]),
    "eh_attach": (_I32, [_P]),
    "eh_enqueue": (_I32, [_P, ctypes.POINTER(_P), ctypes.POINTER(_P), _P, _P]),
    "eh_destroy": (None, [_P]),
}


def build_harness(tensorrt_root: Path, build_dir: Path, *, sanitize: str = "", jobs: int = 2,
                  build_type: str = "Release") -> Path:
    """Configure and build the harness against TensorRT headers at `tensorrt_root` (same major as the library)."""
    from edgeattn.plugins.build import cuda_include_dir, toolchain_refusal

    if reason := toolchain_refusal():
        raise UsageError(f"Cannot build the enqueue harness: {reason}.", "Install CMake and a C++17 compiler.")
    cuda = cuda_include_dir()
    if cuda is None:
        raise UsageError("CUDA headers (cuda.h, cuda_runtime_api.h) not found.", "Install them or set CUDA_HOME.")
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    for command in (
        ["cmake", "-S", str(SOURCE), "-B", str(build_dir), *generator, f"-DCMAKE_BUILD_TYPE={build_type}",
         f"-DTENSORRT_ROOT={tensorrt_root}", f"-DCUDA_INCLUDE_DIR={cuda}", f"-DEDGEATTN_SANITIZE={sanitize}"],
        ["cmake", "--build", str(build_dir), "-j", str(jobs)],
    ):
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise EdgeattnError(f"{' '.join(command)} failed:\n{(result.stdout + result.stderr)[-6000:]}",
                                "Fix the compiler or header error above.")
    return build_dir / LIBRARY


def _field_bytes(value: Any) -> tuple[str, int, bytes]:
    """(PluginFieldType name, length, data) of an attribute value as TensorRT's ONNX parser passes it."""
    kind = attribute_kind(value)
    values = value if isinstance(value, list) else [value]
    if kind in ("FLOAT", "FLOATS"):
        return "kFLOAT32", len(values), b"".join(struct.pack("<f", float(v)) for v in values)
    if kind in ("INT", "INTS"):
        return "kINT32", len(values), b"".join(struct.pack("<i", int(v)) for v in values)
    data = str(value).encode() + b"\0"
    return "kCHAR", len(data), data


def _array(ctype: Any, values: list[Any]) -> Any:
    return (ctype * max(len(values), 1))(*values)


class Plugin:
    """One plugin made by the harness: its build-phase object and, after `attach`, its runtime clone."""

    def __init__(self, harness: Harness, handle: int) -> None:
        self._harness, self._handle = harness, handle
        self.nb_inputs = 0

    def configure(self, inputs: list[tuple[str, list[int]]], outputs: list[tuple[str, list[int]]]) -> int:
        """Output types/shapes checked, every format position checked, configurePlugin: 0 or -1."""
        lib, width = self._harness.lib, self._harness.max_dims
        self.nb_inputs = len(inputs)
        arrays = []
        for tensors in (inputs, outputs):
            types = [self._harness.data_type(kind) for kind, _ in tensors]
            dims = [d for _, shape in tensors for d in ([*shape] + [0] * width)[:width]]
            arrays += [len(tensors), _array(_I32, types), _array(_I32, [len(s) for _, s in tensors]),
                       _array(_I64, dims)]
        return lib.eh_configure(self._handle, *arrays)

    def workspace(self) -> int:
        return self._harness.lib.eh_workspace(self._handle)

    def attach(self) -> int:
        """Serialize -> createPlugin(kRUNTIME) -> attachToContext -> onShapeChange: 0 or -1."""
        return self._harness.lib.eh_attach(self._handle)

    def enqueue_arguments(self, inputs: list[int], outputs: list[int], workspace: int, stream: int) -> tuple:
        """Prepared ctypes arguments of `enqueue`, so timed loops pay only for the call."""
        return (self._handle, _array(_P, inputs), _array(_P, outputs), workspace or None, stream or None)

    def enqueue(self, arguments: tuple) -> int:
        return self._harness.lib.eh_enqueue(*arguments)

    def destroy(self) -> None:
        if self._handle:
            self._harness.lib.eh_destroy(self._handle)
            self._handle = 0


class Harness:
    """The harness library with the plugin library loaded through getCreators (one session)."""

    def __init__(self, harness_library: Path, plugin_library: Path) -> None:
        self.lib = ctypes.CDLL(str(harness_library))
        for name, (restype, argtypes) in _PROTOTYPES.items():
            function = getattr(self.lib, name)
            function.restype, function.argtypes = restype, argtypes
        self._session = self.lib.eh_open(str(plugin_library).encode())
        if not self._session:
            why = self.lib.eh_open_error().decode()
            raise EdgeattnError(f"The enqueue harness cannot load the plugin library: {why}",
                                "Build libedgeattn_plugins.so (edgeattn.plugins.build) and pass its path.")
        self.max_dims = self.lib.eh_max_dims()
        self.tensorrt_major = self.lib.eh_tensorrt_major()

    @property
    def creators(self) -> int:
        return self.lib.eh_creator_count(self._session)

    def data_type(self, name: str) -> int:
        value = self.lib.eh_data_type(name.encode())
        if value < 0:
            raise UsageError(f"Unknown TensorRT data type {name}.", "Use kFLOAT, kHALF, kINT8, kINT32, ...")
        return value

    def take_log(self) -> list[str]:
        text = self.lib.eh_take_log(self._session).decode()
        return text.split("\n") if text else []

    def create(self, name: str, attributes: dict[str, Any], layer: str = "", version: str = "1",
               namespace: str = "edgeattn") -> Plugin | None:
        """createPlugin(kBUILD) for `layer` with the node's attributes as fields (plugin_version/namespace left out)."""
        fields = [(key, *_field_bytes(value)) for key, value in attributes.items() if key not in PLUGIN_ATTRIBUTES]
        buffers = [ctypes.create_string_buffer(data, len(data)) for *_, data in fields]
        handle = self.lib.eh_create(
            self._session, name.encode(), version.encode(), namespace.encode(), (layer or name).encode(), len(fields),
            _array(ctypes.c_char_p, [key.encode() for key, *_ in fields]),
            _array(_I32, [self.lib.eh_field_type(kind.encode()) for _, kind, _, _ in fields]),
            _array(_I32, [length for _, _, length, _ in fields]),
            _array(_P, [ctypes.cast(b, _P) for b in buffers]))
        return Plugin(self, handle) if handle else None

    def close(self) -> None:
        if self._session:
            self.lib.eh_close(self._session)
            self._session = None
