"""The built shared objects: what they export, what they need, what they embed.

libedgeattn_plugins.so (getCreators + setLoggerFinder) must need no libnvinfer at all (it is linked
with -Wl,--no-undefined); libedgeattn_plugins_static.so registers at load time and leaves exactly
TensorRT's getPluginRegistry/getLogger to libnvinfer (not present here, so left undefined).
"""

from __future__ import annotations

import re
from pathlib import Path

from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

from edgeattn.plugins.cubin_check import read_table

RUNTIME_LIBRARIES = re.compile(
    r"^(libstdc\+\+\.so\.6|libgcc_s\.so\.1|libc\.so\.6|libm\.so\.6|ld-linux-.*|libasan\.so\.\d+)$")
TENSORRT_SYMBOL = re.compile(r"nvinfer|getPluginRegistry|getLogger|createInfer")


def symbols(path: Path) -> tuple[set[str], set[str], list[str]]:
    """(defined exported symbols, undefined symbols, DT_NEEDED) of a shared object."""
    with path.open("rb") as handle:
        elf = ELFFile(handle)
        defined, undefined = set(), set()
        for symbol in elf.get_section_by_name(".dynsym").iter_symbols():
            if not symbol.name or symbol["st_info"]["bind"] == "STB_LOCAL":
                continue
            if symbol["st_shndx"] == "SHN_UNDEF":
                undefined.add(symbol.name)
            elif symbol["st_info"]["type"] in ("STT_FUNC", "STT_OBJECT"):
                defined.add(symbol.name)
        needed = [tag.needed for section in elf.iter_sections() if isinstance(section, DynamicSection)
                  for tag in section.iter_tags() if tag.entry.d_tag == "DT_NEEDED"]
    return defined, undefined, needed


def test_getcreators_library_exports_two_entry_points_and_needs_no_tensorrt(host_run):
    defined, undefined, needed = symbols(host_run.build.dynamic_library)
    assert defined == {"getCreators", "setLoggerFinder"}
    assert all(RUNTIME_LIBRARIES.match(name) for name in needed), needed
    assert not {name for name in undefined if TENSORRT_SYMBOL.search(name)}


def test_static_library_registers_through_libnvinfer(host_run):
    defined, undefined, _ = symbols(host_run.build.static_library)
    assert "getCreators" not in defined and "setLoggerFinder" not in defined
    assert {name for name in undefined if TENSORRT_SYMBOL.search(name)} == {"getPluginRegistry", "getLogger"}


def test_every_cubin_of_the_table_is_embedded(host_run, plugin_cubins):
    library = host_run.build.dynamic_library.read_bytes()
    rows = read_table(plugin_cubins / "sm_87")
    assert rows
    for row in rows:
        assert (plugin_cubins / "sm_87" / row.file).read_bytes() in library, row.file


def test_our_code_builds_with_wall_werror_for_cxx17(host_run):
    rules = next(host_run.build.build_dir.glob("build.ninja"), None) or host_run.build.build_dir / "Makefile"
    text = rules.read_text() if rules.name == "build.ninja" else "".join(
        p.read_text() for p in host_run.build.build_dir.rglob("flags.make"))
    assert "-Wall" in text and "-Werror" in text and "-std=c++17" in text
    assert host_run.build.tensorrt_version.startswith(host_run.version)
