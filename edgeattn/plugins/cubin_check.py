"""Static checks of a cubin table: what the plugin launcher and the target driver rely on.

For every row of `sm_<arch>/variants.tsv`: the file's sha256; the ELF header (machine EM_CUDA,
OS/ABI CUDA, ABI version, the arch in e_flags); the kernel symbol; the parameter count and sizes in
the cubin's `.nv.info.<kernel>` (EIATTR_KPARAM_INFO) against the variant key's argument types plus
Triton's two hidden scratch pointers; and the PTX ISA `.version` (<= 8.5 for JetPack 6's sm_87).
"""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass
from pathlib import Path

EM_CUDA = 190
ELFOSABI_CUDA = 51
EIATTR_KPARAM_INFO = 0x17
EIFMT_SVAL = 4
JETPACK6_MAX_PTX = (8, 5)
JETPACK6_ABI = 7
COLUMNS = ("kernel", "key", "num_warps", "shared_bytes", "num_params", "global_scratch_bytes",
           "global_scratch_align", "file", "sha256")


@dataclass(frozen=True)
class CubinFacts:
    """What a cubin says about itself."""

    machine: int
    os_abi: int
    abi_version: int
    arch: int
    functions: tuple[str, ...]
    param_sizes: dict[str, tuple[int, ...]]


@dataclass(frozen=True)
class TableRow:
    kernel: str
    key: str
    num_warps: int
    shared_bytes: int
    num_params: int
    file: str
    sha256: str


def read_table(folder: Path) -> list[TableRow]:
    """Rows of `folder/variants.tsv`."""
    rows = []
    for line in (folder / "variants.tsv").read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        values = dict(zip(COLUMNS, line.split("\t"), strict=True))
        rows.append(TableRow(values["kernel"], values["key"], int(values["num_warps"]), int(values["shared_bytes"]),
                             int(values["num_params"]), values["file"], values["sha256"]))
    return rows


def _kparam_sizes(info: bytes) -> tuple[int, ...]:
    """Parameter sizes by ordinal from a `.nv.info.<kernel>` section (4-byte records, SVAL payloads)."""
    sizes: dict[int, int] = {}
    offset = 0
    while offset + 4 <= len(info):
        fmt, attribute, value = info[offset], info[offset + 1], struct.unpack_from("<H", info, offset + 2)[0]
        payload = info[offset + 4: offset + 4 + value] if fmt == EIFMT_SVAL else b""
        offset += 4 + (value if fmt == EIFMT_SVAL else 0)
        if attribute == EIATTR_KPARAM_INFO and len(payload) >= 12:
            _, ordinal, _, flags = struct.unpack_from("<IHHI", payload)
            sizes[ordinal] = (flags >> 18) & 0x3FFF
    return tuple(sizes[i] for i in sorted(sizes))


def inspect_cubin(data: bytes) -> CubinFacts:
    """ELF header, functions and parameter sizes of a cubin."""
    import io

    from elftools.elf.elffile import ELFFile

    elf = ELFFile(io.BytesIO(data))
    (machine,) = struct.unpack_from("<H", data, 18)
    (flags,) = struct.unpack_from("<I", data, 48)  # ELF64: e_flags after e_entry, e_phoff, e_shoff
    symbols = elf.get_section_by_name(".symtab")
    functions = tuple(s.name for s in symbols.iter_symbols() if s["st_info"]["type"] == "STT_FUNC") if symbols else ()
    params = {}
    for name in functions:
        section = elf.get_section_by_name(f".nv.info.{name}")
        params[name] = _kparam_sizes(section.data()) if section is not None else ()
    return CubinFacts(
        machine=machine,
        os_abi=data[7],
        abi_version=data[8],
        arch=flags & 0xFF,
        functions=functions,
        param_sizes=params,
    )


def ptx_version(ptx: str) -> tuple[int, int]:
    """The `.version` of a PTX file."""
    match = re.search(r"^\.version\s+(\d+)\.(\d+)", ptx, re.M)
    if match is None:
        raise ValueError("PTX without a .version line")
    return int(match.group(1)), int(match.group(2))


def expected_param_sizes(key: str) -> tuple[int, ...]:
    """Parameter sizes a variant key implies: pointers and i64 take 8 bytes, i32 4; + 2 hidden pointers."""
    types = key.split("|")[1].split(",")
    return tuple(4 if kind == "i32" else 8 for kind in types) + (8, 8)


def row_problems(folder: Path, row: TableRow, arch: int) -> list[str]:
    """What is wrong with one row's cubin and PTX ([] when nothing)."""
    data = (folder / row.file).read_bytes()
    if hashlib.sha256(data).hexdigest() != row.sha256:
        return [f"{row.file}: sha256 differs from the table"]
    facts = inspect_cubin(data)
    problems = []
    if facts.machine != EM_CUDA or facts.os_abi != ELFOSABI_CUDA or facts.arch != arch:
        problems.append(f"{row.file}: ELF machine {facts.machine}, OS/ABI {facts.os_abi}, sm_{facts.arch}")
    if arch == 87 and facts.abi_version != JETPACK6_ABI:
        problems.append(f"{row.file}: ELF ABI version {facts.abi_version}; JetPack 6 loads {JETPACK6_ABI}")
    if row.kernel not in facts.functions:
        problems.append(f"{row.file}: no kernel symbol {row.kernel} (has {', '.join(facts.functions)})")
    elif (facts.param_sizes[row.kernel] != expected_param_sizes(row.key)
          or len(facts.param_sizes[row.kernel]) != row.num_params):
        problems.append(f"{row.file}: parameter sizes {facts.param_sizes[row.kernel]} do not match the launch")
    version = ptx_version((folder / row.file).with_suffix(".ptx").read_text())
    if arch == 87 and version > JETPACK6_MAX_PTX:
        problems.append(f"{row.file}: PTX ISA {version[0]}.{version[1]} > 8.5, which JetPack 6 cannot JIT")
    return problems


def check_table(folder: Path, arch: int) -> list[str]:
    """Every problem of the table in `folder` ([] when the cubins are what the launcher expects)."""
    rows = read_table(folder)
    if not rows:
        return [f"{folder / 'variants.tsv'} lists no cubins"]
    return [problem for row in rows for problem in row_problems(folder, row, arch)]
