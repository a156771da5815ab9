"""Cubin checks: ELF machine and ABI, PTX ISA for JetPack 6, kernel symbol and parameters."""

from __future__ import annotations

import shutil

import pytest

from edgeattn.plugins.cubin_check import check_table, inspect_cubin, ptx_version, read_table


def test_sm87_cubins_load_on_jetpack6_and_match_the_launches(plugin_cubins):
    folder = plugin_cubins / "sm_87"
    assert check_table(folder, 87) == []
    for row in read_table(folder):
        facts = inspect_cubin((folder / row.file).read_bytes())
        assert (facts.machine, facts.os_abi, facts.abi_version, facts.arch) == (190, 51, 7, 87)
        assert ptx_version((folder / row.file).with_suffix(".ptx").read_text()) <= (8, 5)
        assert len(facts.param_sizes[row.kernel]) == row.num_params == len(row.key.split("|")[1].split(",")) + 2


@pytest.fixture
def tampered(plugin_cubins, tmp_path):
    folder = tmp_path / "sm_87"
    shutil.copytree(plugin_cubins / "sm_87", folder)
    return folder, read_table(folder)[0]


def test_a_newer_ptx_isa_is_refused(tampered):
    folder, row = tampered
    ptx = folder / row.file.replace(".cubin", ".ptx")
    ptx.write_text(ptx.read_text().replace(".version 8.5", ".version 8.8", 1))
    assert any("PTX ISA 8.8 > 8.5" in p for p in check_table(folder, 87))


def test_a_launch_with_other_parameters_is_refused(tampered):
    folder, row = tampered
    table = folder / "variants.tsv"
    table.write_text(table.read_text().replace(row.key, row.key.replace("|*", "|i32,*", 1), 1))
    assert any("parameter sizes" in p for p in check_table(folder, 87))


def test_a_changed_cubin_is_refused(tampered):
    folder, row = tampered
    (folder / row.file).write_bytes((folder / row.file).read_bytes() + b"\0")
    assert check_table(folder, 87) == [f"{row.file}: sha256 differs from the table"]


def test_the_wrong_arch_is_refused(plugin_cubins):
    assert any("sm_87" in p for p in check_table(plugin_cubins / "sm_87", 90))


@pytest.mark.slow
def test_sm90_cubins_compile_with_tritons_ptxas(tmp_path):
    from edgeattn.plugins.compile import compile_launches
    from edgeattn.plugins.graph import spec_launches

    launches = spec_launches()[:2]
    folders = compile_launches(launches, [90], tmp_path)
    rows = read_table(folders[90])
    assert len(rows) == 2 and check_table(folders[90], 90) == []
