"""Kernels that hand a workspace buffer from one phase to the next inside one launch.

A plugin launch with workspace buffers (`Binding::workspace`, "ws+<offset>") is one kernel launch
whose programs each write a private slice and read it back after a CTA barrier. That is valid on a
GPU only if the compiled code really orders them: every path from a first-phase global store to an
L2 (`.cg`) load passes a `bar.sync`, and nothing reads through the non-coherent path. Checked on the
sm_87 PTX of every such variant of the fixture graphs (also checked by compile_launches itself).
"""

from __future__ import annotations

import pytest

from edgeattn.plugins.cubin_check import read_table
from edgeattn.plugins.ptx_barriers import unfenced_reads


@pytest.fixture(scope="module")
def workspace_ptx(plugin_cubins, fixture_nodes) -> dict[str, str]:
    """PTX of every sm_87 variant whose launch places buffers in the plugin workspace, by key."""
    keys = {launch.key for item in fixture_nodes for launch in item.launches if launch.workspace}
    folder = plugin_cubins / "sm_87"
    ptx = {row.key: (folder / row.file).with_suffix(".ptx").read_text() for row in read_table(folder)
           if row.key in keys}
    assert ptx and set(ptx) == keys
    return ptx


def test_workspace_launches_bind_a_buffer_the_launcher_allocated(fixture_nodes):
    for item in fixture_nodes:
        for launch in item.launches:
            assert (launch.workspace > 0) == any(b.startswith("ws+") for b in launch.bindings), item.id


def test_every_workspace_read_follows_a_cta_barrier(workspace_ptx):
    for key, ptx in workspace_ptx.items():
        assert "bar.sync" in ptx and "ld.global.cg" in ptx, key
        assert unfenced_reads(ptx) == [], key


def test_the_check_finds_a_missing_barrier(workspace_ptx):
    for key, ptx in workspace_ptx.items():
        without = "\n".join(line for line in ptx.splitlines() if "bar.sync" not in line)
        problems = unfenced_reads(without)
        assert problems and all("without a CTA barrier" in p for p in problems), key


def test_the_check_refuses_reads_that_bypass_l2(workspace_ptx):
    ptx = next(iter(workspace_ptx.values()))
    assert unfenced_reads(ptx.replace("ld.global.cg", "ld.global", 1).replace("ld.global.cg", "ld.global.nc")) == [
        "the kernel reads through the non-coherent path (ld.global.nc)"]
    assert "no L2 (ld.global.cg) load" in unfenced_reads(ptx.replace("ld.global.cg", "ld.global"))[0]
