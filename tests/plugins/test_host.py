"""The plugin library loaded through getCreators, every plugin exercised on the host (no GPU, no
libnvinfer), against TensorRT 10.3, 10.16 and 11.1 headers, under AddressSanitizer.

For every plugin node of the fixture graphs (every registry model using an op with a plugin: fp32,
fp16 and INT8 plugin graphs; dynamic graphs over their TensorRT profile's range) and every spec.yaml
case: fields exactly as the ONNX parser passes them, output types and shapes against ONNX, format
combinations exactly the plugin's documented I/O types (linear), serialize -> kRUNTIME round trip,
clone, attachToContext, the embedded cubin of every accepted combination over the profile's range,
the workspace the Python launcher allocates, and the launch the C++ plan describes against the
launch the Python launcher makes.
"""

from __future__ import annotations

import ctypes
import struct

import pytest

from bad_fields import BAD_FIELDS
from spec_cases import plugin_ops, spec_request

PARSER_TYPES = {"FLOAT": "kFLOAT32", "FLOATS": "kFLOAT32", "INT": "kINT32", "INTS": "kINT32", "STRING": "kCHAR"}
PLUGIN_ATTRIBUTES = ("plugin_namespace", "plugin_version")


def _has_cuda_driver() -> bool:
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


def parser_fields(field_names: list[str], attributes: dict) -> list[dict]:
    """What onnx-tensorrt's loadFields passes: creator field order, present attributes, parser types."""
    fields = []
    for name in field_names:
        if name not in attributes:
            continue
        kind, value = attributes[name]
        values = value if isinstance(value, list) else [value]
        if kind in ("FLOAT", "FLOATS"):
            data = b"".join(struct.pack("<f", v) for v in values)
        elif kind in ("INT", "INTS"):
            data = b"".join(struct.pack("<i", int(v)) for v in values)
        else:
            data = value.encode() + b"\0"
            values = data
        fields.append({"name": name, "type": PARSER_TYPES[kind], "length": len(values), "hex": data.hex()})
    return fields


def _node_records(host_run, fixture_nodes):
    for item in fixture_nodes:
        yield item, host_run.records[item.id]


def test_library_lists_one_creator_per_plugin_op(host_run):
    assert host_run.header["creators"] == len(plugin_ops())
    assert host_run.header["log"] == []


def test_creator_fields_are_the_node_attributes(host_run, fixture_nodes):
    from edgeattn.ops import get_op

    for item, record in _node_records(host_run, fixture_nodes):
        schema = {a for a in get_op(item.node.op_type).schema.attributes if a not in PLUGIN_ATTRIBUTES}
        names = [f["name"] for f in record["field_names"]]
        assert schema <= set(names), item.id
        assert set(item.node.values) <= set(names), item.id
        assert set(names) - schema <= {f"int8_{t}_scales" for t in "qkvpo"}, item.id


def test_fields_arrive_as_the_onnx_parser_passes_them(host_run, fixture_nodes):
    for item, record in _node_records(host_run, fixture_nodes):
        assert record["created"], (item.id, record["log"])
        names = [f["name"] for f in record["field_names"]]
        assert record["passed_fields"] == parser_fields(names, item.node.attributes), item.id
        assert record["capabilities"] == [True, True, True]
        assert (record["name"], record["version"], record["namespace"]) == (item.node.op_type, "1", "edgeattn")


def test_output_types_and_shapes_match_onnx(host_run, fixture_nodes):
    for item, record in _node_records(host_run, fixture_nodes):
        assert record["nb_outputs"] == len(item.node.output_types)
        assert record["output_types"] == {"status": 0, "types": item.node.output_types}, item.id
        assert record["output_shapes"] == {"status": 0, "dims": item.at().output_shapes}, item.id


def test_format_combinations_are_exactly_the_documented_ones(host_run, fixture_nodes):
    for item, record in _node_records(host_run, fixture_nodes):
        documented = sorted([[t, "kLINEAR"] for t in launch.io_types] for launch in item.launches)
        assert sorted(record["formats"]) == documented, item.id


def test_serialization_round_trip_clone_and_attach_keep_every_field(host_run, fixture_nodes):
    for item, record in _node_records(host_run, fixture_nodes):
        assert record["fields"] == record["passed_fields"], item.id
        for copy in ("runtime_fields", "clone_fields", "attached_fields"):
            assert record[copy] == record["fields"], (item.id, copy)
        assert record["setup_log"] == [], item.id


def _launch_line(log: list[str]) -> str:
    lines = [m for m in log if m.startswith("VERBOSE: ") and "': launch " in m]
    assert len(lines) == 1, log
    return lines[0].split("': launch ", 1)[1]


def test_every_accepted_combination_has_its_cubin_and_the_python_launch(host_run, fixture_nodes):
    for item, record in _node_records(host_run, fixture_nodes):
        launches = {launch.io_types: launch for launch in item.launches}
        largest = {launch.io_types: launch for launch in item.largest_launches}
        assert len(record["runs"]) == len(launches)
        for run in record["runs"]:
            io = tuple(t for t, _ in run["io"])
            assert run["configure"] == 0, (item.id, run["log"])
            assert run["workspace"] == largest[io].workspace, item.id
            assert _launch_line(run["log"]) == launches[io].describe(), item.id


@pytest.mark.skipif(_has_cuda_driver(), reason="this machine has a CUDA driver")
def test_without_a_cuda_driver_shape_change_fails_with_the_reason(host_run, fixture_nodes):
    for item, record in _node_records(host_run, fixture_nodes):
        for run in record["runs"]:
            assert run["shape_change"] == -1
            errors = [m for m in run["log"] if m.startswith("ERROR: ")]
            assert len(errors) == 1 and "cannot run: libcuda.so.1 could not be loaded" in errors[0], run["log"]


def test_spec_cases_shapes_and_missing_variants(host_run, plugin_cubins):
    """Spec cases: shapes from the op's ONNX rule; configure succeeds exactly when the variant is embedded."""
    from edgeattn.plugins.cubin_check import read_table
    from edgeattn.plugins.graph import case_launches

    embedded = {row.key for row in read_table(plugin_cubins / "sm_87")}
    for op in plugin_ops():
        for case in op.spec.cases:
            request = spec_request(op, case)
            record = host_run.records[request.id]
            assert record["created"] and record["setup_log"] == [], request.id
            launches = {launch.io_types: launch for launch in case_launches(op, case)}
            assert sorted(record["formats"]) == sorted([[t, "kLINEAR"] for t in io] for io in launches)
            for run in record["runs"]:
                launch = launches[tuple(t for t, _ in run["io"])]
                assert _launch_line(run["log"]) == launch.describe(), request.id
                assert run["workspace"] == launch.workspace, request.id
                if launch.key in embedded:
                    assert run["configure"] == 0, run["log"]
                else:
                    assert run["configure"] == -1
                    assert f"no embedded cubin for kernel variant {launch.key};" in run["log"][0], run["log"]


@pytest.mark.parametrize("case", BAD_FIELDS, ids=lambda c: c.id)
def test_bad_fields_give_nullptr_and_one_logged_reason(host_run, case):
    record = host_run.records[f"bad:{case.id}"]
    assert record["creator"] and not record["created"]
    assert len(record["log"]) == 1, record["log"]
    assert record["log"][0].startswith("ERROR: edgeattn: "), record["log"]
    assert case.expected in record["log"][0], record["log"]
