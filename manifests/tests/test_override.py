"""override.json rules, each broken once in a real reference override.

DG override.json: nodes 0 camera_node_override, 1 region_override, 2 device_id_override,
3 log_level_override; nodeOverrides 0 region, 1 device_id, 2 log_level, 3 camera_node.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from manifests import validate_override
from tests.support.reference import (
    DG_GRAPH,
    DG_OVERRIDE,
    INBOUND_GRAPH,
    INBOUND_OVERRIDE,
    PC_GRAPH,
    PC_OVERRIDE,
    app_packages,
    load,
    pairs,
    removing,
    requires_reference,
    setting,
)

pytestmark = requires_reference

OV = "/nodeGraphOverrides"


def dg_errors(doc, with_graph=True):
    graph = load(DG_GRAPH) if with_graph else None
    return pairs(validate_override(doc, graph=graph, packages=app_packages(DG_GRAPH)))


def kinesis_style() -> dict[str, Any]:
    # The kinesis_video_streams template: empty lists, "with" filled in before deployment.
    return {
        "nodeGraphOverrides": {
            "envelopeVersion": "2021-01-01",
            "packages": [],
            "nodes": [],
            "nodeOverrides": [{"replace": "camera_node", "with": []}],
        }
    }


def test_the_dg_override_is_valid_with_and_without_the_graph():
    assert dg_errors(load(DG_OVERRIDE)) == []
    assert dg_errors(load(DG_OVERRIDE), with_graph=False) == []


def test_envelope_version_is_required():
    doc = removing(load(DG_OVERRIDE), f"{OV}/envelopeVersion")
    assert dg_errors(doc) == [(f"{OV}/envelopeVersion", '"envelopeVersion" is required')]


def test_the_field_is_node_overrides():
    doc = load(DG_OVERRIDE)
    doc["nodeGraphOverrides"]["nodesToOverride"] = doc["nodeGraphOverrides"].pop("nodeOverrides")
    errors = validate_override(doc)
    assert pairs(errors) == [(f"{OV}/nodesToOverride", 'unknown field "nodesToOverride"')]
    assert errors[0].hint.endswith('did you mean "nodeOverrides"?')


@pytest.mark.parametrize(
    ("pointer", "value", "message"),
    [
        (
            f"{OV}/nodeOverrides/0/replace",
            "my region",
            '"my region" does not match the allowed pattern',
        ),
        (
            f"{OV}/nodeOverrides/0/with",
            {"name": "region_override"},
            "expected an array, got object",
        ),
        (
            f"{OV}/nodeOverrides/0/with/0",
            "region_override",
            "expected a replacement (an object), got string",
        ),
        (f"{OV}/nodes/1/value", 5, "expected a string, got integer"),
        (f"{OV}/nodes/0/launch", "onBoot", '"onBoot" is not an allowed value'),
        (f"{OV}/packages/0/version", "1", '"1" does not match the allowed pattern'),
    ],
)
def test_override_schema_rule(pointer, value, message):
    assert dg_errors(setting(load(DG_OVERRIDE), pointer, value)) == [(pointer, message)]


@pytest.mark.parametrize("field", ["replace", "with"])
def test_node_override_fields_are_required(field):
    doc = removing(load(DG_OVERRIDE), f"{OV}/nodeOverrides/0/{field}")
    assert dg_errors(doc, with_graph=False) == [
        (f"{OV}/nodeOverrides/0/{field}", f'"{field}" is required')
    ]


def test_replacement_needs_a_name():
    doc = setting(load(DG_OVERRIDE), f"{OV}/nodeOverrides/0/with/0", {})
    assert dg_errors(doc) == [(f"{OV}/nodeOverrides/0/with/0/name", '"name" is required')]


def test_kinesis_style_template_with_empty_lists_is_accepted_on_its_own():
    assert pairs(validate_override(kinesis_style())) == []


def test_camera_replacement_must_not_be_empty():
    errors = validate_override(kinesis_style(), graph=load(DG_GRAPH))
    assert pairs(errors) == [
        (f"{OV}/nodeOverrides/0/with", 'camera node "camera_node" is replaced with no nodes')
    ]
    doc = setting(load(DG_OVERRIDE), f"{OV}/nodeOverrides/3/with", [])
    assert dg_errors(doc) == [
        (f"{OV}/nodeOverrides/3/with", 'camera node "camera_node" is replaced with no nodes')
    ]


def test_replacing_a_node_that_is_not_overridable():
    doc = setting(load(DG_OVERRIDE), f"{OV}/nodeOverrides/0/replace", "code_node")
    assert dg_errors(doc) == [
        (f"{OV}/nodeOverrides/0/replace", 'graph node "code_node" is not overridable')
    ]
    assert dg_errors(doc, with_graph=False) == []


def test_override_mandatory_node_left_unreplaced():
    doc = removing(load(DG_OVERRIDE), f"{OV}/nodeOverrides/3")
    errors = validate_override(doc, graph=load(DG_GRAPH))
    assert pairs(errors) == [
        (
            f"{OV}/nodeOverrides",
            'graph node "camera_node" has "overrideMandatory": true but is not replaced',
        )
    ]
    assert errors[0].hint == 'add {"replace": "camera_node", "with": [{"name": "<node>"}]}'


def test_override_mandatory_with_no_node_overrides_at_all():
    doc = removing(load(DG_OVERRIDE), f"{OV}/nodeOverrides")
    assert dg_errors(doc) == [
        (
            f"{OV}/nodeOverrides",
            'graph node "camera_node" has "overrideMandatory": true but is not replaced',
        )
    ]


def test_unknown_graph_node_to_replace():
    doc = setting(load(DG_OVERRIDE), f"{OV}/nodeOverrides/0/replace", "regoin")
    assert dg_errors(doc) == [(f"{OV}/nodeOverrides/0/replace", 'unknown graph node "regoin"')]


def test_unknown_replacement_node():
    doc = setting(load(DG_OVERRIDE), f"{OV}/nodeOverrides/3/with/0/name", "camera_override")
    expected = [(f"{OV}/nodeOverrides/3/with/0/name", 'unknown node "camera_override"')]
    assert dg_errors(doc) == expected
    assert dg_errors(doc, with_graph=False) == expected


def test_node_replaced_twice():
    doc = setting(load(DG_OVERRIDE), f"{OV}/nodeOverrides/1/replace", "region")
    # device_id is no longer replaced, which is fine: it is not overrideMandatory.
    assert dg_errors(doc) == [
        (f"{OV}/nodeOverrides/1/replace", 'node "region" is replaced more than once')
    ]


def test_parameter_replaced_by_another_type():
    doc = setting(
        load(DG_OVERRIDE),
        f"{OV}/nodes/1",
        {"name": "region_override", "interface": "int32", "value": 1},
    )
    assert dg_errors(doc) == [
        (
            f"{OV}/nodeOverrides/0/with/0/name",
            'cannot replace a string parameter "region" with an int32 parameter "region_override"',
        )
    ]


def test_camera_replaced_by_a_parameter():
    doc = setting(load(DG_OVERRIDE), f"{OV}/nodeOverrides/3/with/0/name", "region_override")
    assert dg_errors(doc) == [
        (
            f"{OV}/nodeOverrides/3/with/0/name",
            'cannot replace an interface node "camera_node" with a string parameter '
            '"region_override"',
        )
    ]


def test_replacement_value_against_the_graph_node_constraint_regex():
    graph = setting(
        load(DG_GRAPH), "/nodeGraph/nodes/5/decorator/constraintRegex", "[a-z]{2}-[a-z]+-[0-9]"
    )
    doc = load(DG_OVERRIDE)
    errors = validate_override(doc, graph=graph)
    assert pairs(errors) == [
        (
            f"{OV}/nodes/1/value",
            'value "MY_REGION" does not match constraintRegex "[a-z]{2}-[a-z]+-[0-9]" of graph '
            'node "region"',
        )
    ]
    assert validate_override(setting(doc, f"{OV}/nodes/1/value", "us-west-2"), graph=graph) == []


def test_override_node_package_must_be_listed():
    doc = setting(load(DG_OVERRIDE), f"{OV}/packages", [])
    assert dg_errors(doc) == [
        (f"{OV}/nodes/0/interface", 'package "123456789012::MY_CAMERA" is not listed in packages')
    ]


def test_override_nodes_may_use_the_graph_packages():
    node = {"name": "cam", "interface": "panorama::abstract_rtsp_media_source.rtsp_v1_interface"}
    doc = setting(load(DG_OVERRIDE), f"{OV}/nodes/-", node)
    assert dg_errors(doc) == []
    assert dg_errors(doc, with_graph=False) == [
        (
            f"{OV}/nodes/4/interface",
            'package "panorama::abstract_rtsp_media_source" is not listed in packages',
        )
    ]


def test_duplicate_override_node_names():
    node = {"name": "region_override", "interface": "string", "value": "eu-west-1"}
    doc = setting(load(DG_OVERRIDE), f"{OV}/nodes/-", node)
    assert dg_errors(doc) == [(f"{OV}/nodes/4/name", 'duplicate node name "region_override"')]


def inbound_errors(doc, graph=None):
    graph = load(INBOUND_GRAPH) if graph is None else graph
    return pairs(validate_override(doc, graph=graph, packages=app_packages(INBOUND_GRAPH)))


def test_override_routing_rule_container_port_must_be_declared():
    doc = setting(load(INBOUND_OVERRIDE), f"{OV}/networkRoutingRules/0/containerPort", 80)
    assert inbound_errors(doc) == [
        (
            f"{OV}/networkRoutingRules/0/containerPort",
            "container port 80 is not declared in network.inboundPorts of "
            '"123456789012::inbound_network_code.code_interface"',
        )
    ]


def test_override_routing_rule_unknown_node():
    doc = setting(load(INBOUND_OVERRIDE), f"{OV}/networkRoutingRules/0/node", "web_node")
    assert inbound_errors(doc) == [(f"{OV}/networkRoutingRules/0/node", 'unknown node "web_node"')]
    # Which nodes exist is only known with the graph.
    assert pairs(validate_override(doc)) == []


def test_override_routing_rule_host_port_range():
    doc = setting(load(INBOUND_OVERRIDE), f"{OV}/networkRoutingRules/0/hostPort", 80)
    assert pairs(validate_override(doc)) == [
        (f"{OV}/networkRoutingRules/0/hostPort", "80 is out of range")
    ]


def test_graph_routing_rules_must_be_repeated_in_the_override():
    rule = {"node": "code_node", "containerPort": 8080, "hostPort": 8080}
    graph = setting(load(INBOUND_GRAPH), "/nodeGraph/networkRoutingRules", [rule])
    # The sample override confirms it, choosing another host port.
    assert inbound_errors(load(INBOUND_OVERRIDE), graph) == []
    doc = removing(load(INBOUND_OVERRIDE), f"{OV}/networkRoutingRules")
    assert inbound_errors(doc, graph) == [
        (
            f"{OV}/networkRoutingRules",
            'the graph routes container port 8080 of "code_node" but the override does not '
            "repeat that rule",
        )
    ]


def test_override_payload_limit():
    doc = load(PC_OVERRIDE)
    doc["nodeGraphOverrides"]["nodes"] += [
        {"name": f"p{n}", "interface": "string", "value": "v" * 1000} for n in range(52)
    ]
    size = len(json.dumps(doc, separators=(",", ":")))
    assert pairs(validate_override(doc, graph=load(PC_GRAPH))) == [
        ("", f"payload is {size} characters, the limit is 51200")
    ]


def test_an_empty_payload_means_no_override():
    assert pairs(validate_override("")) == []
    assert pairs(validate_override("  \n", graph=load(PC_GRAPH))) == []
    errors = validate_override("", graph=load(DG_GRAPH))
    assert pairs(errors) == [
        ("", 'graph node "camera_node" has "overrideMandatory": true but is not replaced')
    ]
