"""Session fixtures of the plugin tests: fixture nodes, sm_87 cubins, and per TensorRT header
version an AddressSanitizer build of the library and of the host test program, run once on every case."""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from plugin_helpers import (
    TENSORRT_VERSIONS,
    Request,
    build_host_test,
    build_plugins,
    concrete_shape,
    headers_refusal,
    node_request,
    run_host_test,
)

FIXTURE = Path(__file__).parent / "data" / "plugin_nodes.json"


@dataclass
class FixtureNode:
    """One recorded plugin node, the request id the host tests use for it, and its graph's TensorRT
    profile (symbol -> min/opt/max; empty for static graphs)."""

    id: str
    graph: str
    node: Any  # edgeattn.plugins.graph.PluginNode
    dims: dict[str, dict[str, int]] = field(default_factory=dict)

    def at(self, which: str = "opt") -> Any:
        """The node with its symbolic dims at the profile's `which` (min/opt/max) value, as the host test runs it."""
        def shapes(items: list) -> list:
            return [concrete_shape(shape, self.dims, which) for shape in items]

        return dataclasses.replace(self.node, input_shapes=shapes(self.node.input_shapes),
                                   output_shapes=shapes(self.node.output_shapes))

    def request(self) -> Request:
        return node_request(self.id, self.node, self.dims)

    def recorded_launches(self) -> list[Any]:
        """The Python launches at the runtime (opt) shapes with the tensors they were recorded with."""
        from edgeattn.plugins.graph import node_launches

        return node_launches(self.at())

    @functools.cached_property
    def launches(self) -> list[Any]:
        """The launches at the runtime (opt) shapes, one per accepted type combination, without tensors."""
        return _without_tensors(self.recorded_launches())

    @functools.cached_property
    def largest_launches(self) -> list[Any]:
        """The launches at the profile's max shapes (what getWorkspaceSize is computed for), without tensors."""
        from edgeattn.plugins.graph import node_launches

        return _without_tensors(node_launches(self.at("max"))) if self.at("max") != self.at() else self.launches


def _without_tensors(launches: list[Any]) -> list[Any]:
    """Launches whose recorded tensor arguments are dropped (kept, the ~1000 fixture nodes' tensors hold about
    8 GB for the whole session); key, describe(), bindings and workspace need only types, scalars and grid."""
    import torch

    return [dataclasses.replace(item, launch=dataclasses.replace(
        item.launch, args=tuple(None if isinstance(a, torch.Tensor) else a for a in item.launch.args)))
        for item in launches]


@pytest.fixture(scope="session")
def fixture_nodes() -> list[FixtureNode]:
    from edgeattn.plugins.graph import PluginNode

    graphs = json.loads(FIXTURE.read_text())["graphs"]
    return [
        FixtureNode(f"g{g}:{record['name']}", f"{graph['model']}@{graph['resolution']}/{graph['graph']}",
                    PluginNode.from_json(record), graph.get("dims", {}))
        for g, graph in enumerate(graphs) for record in graph["nodes"]
    ]


@pytest.fixture(scope="session")
def plugin_cubins(tmp_path_factory, fixture_nodes) -> Path:
    """sm_87 cubins (CUDA 12.6 ptxas) of every kernel variant the fixture nodes need."""
    from edgeattn.errors import UsageError
    from edgeattn.plugins.compile import compile_launches
    from edgeattn.plugins.graph import unique_launches
    from edgeattn.plugins.ptxas import jetpack6_ptxas

    try:
        jetpack6_ptxas()
    except UsageError as exc:
        pytest.skip(f"no JetPack 6 ptxas: {exc.what} {exc.hint}")
    by_key: dict[str, Any] = {}
    for item in fixture_nodes:
        for launch in item.recorded_launches():
            by_key.setdefault(launch.key, launch)
    launches = unique_launches(list(by_key.values()))
    out = tmp_path_factory.mktemp("cubins")
    compile_launches(launches, [87], out)
    return out


@dataclass
class HostRun:
    """One TensorRT header version: its builds and the host test program's records by case id."""

    version: str
    build: Any
    header: dict[str, Any]
    records: dict[str, dict[str, Any]]


def all_requests(fixture_nodes: list[FixtureNode]) -> list[Request]:
    from bad_fields import BAD_FIELDS, BAD_SHAPES
    from spec_cases import spec_requests

    return ([item.request() for item in fixture_nodes] + spec_requests()
            + [case.request() for case in (*BAD_FIELDS, *BAD_SHAPES)])


@pytest.fixture(scope="session", params=TENSORRT_VERSIONS, ids=lambda v: f"trt{v}")
def host_run(request, tmp_path_factory, plugin_cubins, fixture_nodes) -> HostRun:
    from edgeattn.plugins.build import toolchain_refusal

    version = request.param
    if reason := toolchain_refusal() or headers_refusal(version):
        pytest.skip(reason)
    work = tmp_path_factory.mktemp(f"trt{version}")
    build = build_plugins(version, plugin_cubins, work / "library")
    program = build_host_test(version, work / "host")
    records = run_host_test(program, build.dynamic_library, all_requests(fixture_nodes), work)
    return HostRun(version, build, records[0], {r["case"]: r for r in records[1:]})
