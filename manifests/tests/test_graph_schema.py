"""graph.json structural rules: each test breaks exactly one rule of the DG sample graph.

Node indices in the DG graph: 0 code_node, 1 model_node, 2 camera_node, 3 output_node,
4 detection_threshold (float32), 5 region, 6 device_id, 7 log_level (strings).
"""

from __future__ import annotations

import pytest

from manifests import validate_graph
from tests.support.reference import (
    DG_GRAPH,
    INBOUND_GRAPH,
    PC_GRAPH,
    load,
    pairs,
    removing,
    requires_reference,
    setting,
)

pytestmark = requires_reference

NG = "/nodeGraph"
PT_GRAPH = "aws-panorama-samples/samples/PT_opengpu/yolov5s_pt_app/graphs/yolov5s_pt_app/graph.json"


def errors_of(doc, **kwargs):
    return pairs(validate_graph(doc, **kwargs))


@pytest.mark.parametrize("field", ["envelopeVersion", "packages", "nodes"])
def test_required_graph_fields(field):
    errors = errors_of(removing(load(DG_GRAPH), f"{NG}/{field}"))
    assert errors[0] == (f"{NG}/{field}", f'"{field}" is required')
    if field == "envelopeVersion":
        assert len(errors) == 1


def test_graph_root_is_required():
    assert errors_of({"nodegraph": {}}) == [
        ("/nodeGraph", '"nodeGraph" is required'),
        ("/nodegraph", 'unknown field "nodegraph"'),
    ]


@pytest.mark.parametrize(
    ("pointer", "value", "message"),
    [
        (f"{NG}/envelopeVersion", "2021-01-01 ", '"2021-01-01 " is not an allowed value'),
        (f"{NG}/description", "d" * 256, "too long: 256 characters, the maximum is 255"),
        (
            f"{NG}/packages/0/name",
            "SAMPLE_CODE",
            '"SAMPLE_CODE" does not match the allowed pattern',
        ),
        (f"{NG}/packages/0/version", "1.0.0", '"1.0.0" does not match the allowed pattern'),
        (f"{NG}/packages/0/patchVersion", 1, "expected a string, got integer"),
        (f"{NG}/nodes/0/name", "code node", '"code node" does not match the allowed pattern'),
        (f"{NG}/nodes/0/name", "n" * 129, "too long: 129 characters, the maximum is 128"),
        (
            f"{NG}/nodes/0/interface",
            "SAMPLE_CODE.interface",
            '"SAMPLE_CODE.interface" does not match the allowed pattern',
        ),
        (f"{NG}/nodes/0/launch", "always", '"always" is not an allowed value'),
        (f"{NG}/nodes/2/overridable", "yes", "expected a boolean, got string"),
        (f"{NG}/nodes/2/decorator/title", "", "must not be empty"),
        (
            f"{NG}/nodes/2/decorator/constraintRegex",
            "(",
            "not a valid regular expression: missing ), unterminated subpattern at position 0",
        ),
        (f"{NG}/nodes/4/value", "20", "expected a number, got string"),
        (f"{NG}/nodes/4/value", 1e39, "1e+39 is out of range"),
        (f"{NG}/nodes/4/value", True, "expected a number, got boolean"),
        (f"{NG}/nodes/5/value", 5, "expected a string, got integer"),
        (
            f"{NG}/edges/0/producer",
            "camera node.video_out",
            '"camera node.video_out" does not match the allowed pattern',
        ),
        (
            f"{NG}/edges/0/consumer",
            "code_node.video.in",
            '"code_node.video.in" does not match the allowed pattern',
        ),
        (f"{NG}/edges", {}, "expected an array, got object"),
    ],
)
def test_graph_schema_rule(pointer, value, message):
    assert errors_of(setting(load(DG_GRAPH), pointer, value)) == [(pointer, message)]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (2**31, "2147483648 is out of range"),
        (-(2**31) - 1, "-2147483649 is out of range"),
        (1.5, "expected an integer, got number"),
        (8.0, "expected an integer, got number"),
        (True, "expected an integer, got boolean"),
        ("8", "expected an integer, got string"),
    ],
)
def test_int32_parameter_values(value, message):
    pointer = f"{NG}/nodes/3/value"  # model_batch_size in the PT sample
    doc = load(PT_GRAPH)
    assert errors_of(setting(doc, pointer, 2**31 - 1)) == []
    assert errors_of(setting(doc, pointer, -(2**31))) == []
    assert errors_of(setting(doc, pointer, value)) == [(pointer, message)]


def test_boolean_parameter_value():
    node = {"name": "debug", "interface": "boolean", "value": "true"}
    doc = setting(load(DG_GRAPH), f"{NG}/nodes/-", node)
    assert errors_of(doc) == [(f"{NG}/nodes/8/value", "expected a boolean, got string")]
    assert errors_of(setting(doc, f"{NG}/nodes/8/value", False)) == []


def test_interface_node_has_no_value():
    errors = validate_graph(setting(load(DG_GRAPH), f"{NG}/nodes/0/value", 1))
    assert pairs(errors) == [(f"{NG}/nodes/0/value", 'unknown field "value"')]
    assert errors[0].hint == (
        "allowed fields in an interface node: name, interface, overridable, overrideMandatory, "
        "launch, decorator"
    )


def test_parameter_node_has_no_launch():
    doc = setting(load(DG_GRAPH), f"{NG}/nodes/4/launch", "onAppStart")
    assert errors_of(doc) == [(f"{NG}/nodes/4/launch", 'unknown field "launch"')]


def test_edge_needs_both_ends():
    doc = removing(load(DG_GRAPH), f"{NG}/edges/0/consumer")
    assert errors_of(doc) == [(f"{NG}/edges/0/consumer", '"consumer" is required')]


def test_unknown_graph_field_suggests_a_fix():
    doc = load(DG_GRAPH)
    doc["nodeGraph"]["edge"] = doc["nodeGraph"].pop("edges")
    errors = validate_graph(doc)
    assert pairs(errors) == [(f"{NG}/edge", 'unknown field "edge"')]
    assert errors[0].hint.endswith('did you mean "edges"?')


@pytest.mark.parametrize(
    ("pointer", "value", "message"),
    [
        ("hostPort", 7999, "7999 is out of range"),
        ("hostPort", 9001, "9001 is out of range"),
        ("containerPort", 0, "0 is out of range"),
        ("containerPort", 65536, "65536 is out of range"),
        ("node", "code node", '"code node" does not match the allowed pattern'),
    ],
)
def test_routing_rule_ranges(pointer, value, message):
    rule = {"node": "code_node", "containerPort": 8080, "hostPort": 8000}
    doc = setting(load(INBOUND_GRAPH), f"{NG}/networkRoutingRules", [rule])
    assert errors_of(doc) == []
    wrong = setting(doc, f"{NG}/networkRoutingRules/0/{pointer}", value)
    assert errors_of(wrong) == [(f"{NG}/networkRoutingRules/0/{pointer}", message)]


@pytest.mark.parametrize("host_port", [8000, 8081, 9000])
def test_routing_rule_host_port_bounds_are_allowed(host_port):
    rule = {"node": "code_node", "containerPort": 8080, "hostPort": host_port}
    doc = setting(load(INBOUND_GRAPH), f"{NG}/networkRoutingRules", [rule])
    assert errors_of(doc) == []


def test_routing_rule_host_port_hint():
    rule = {"node": "code_node", "containerPort": 8080, "hostPort": 80}
    doc = setting(load(INBOUND_GRAPH), f"{NG}/networkRoutingRules", [rule])
    (error,) = validate_graph(doc)
    assert error.hint == (
        "an integer from 8000 to 9000 (the host ports a device lets applications use)"
    )


def test_overridable_output_node_is_accepted():
    doc = load(PC_GRAPH)
    assert doc["nodeGraph"]["nodes"][2] == {
        "name": "output_node",
        "interface": "panorama::hdmi_data_sink.hdmi0",
        "overridable": True,
        "launch": "onAppStart",
    }
    assert errors_of(doc) == []
