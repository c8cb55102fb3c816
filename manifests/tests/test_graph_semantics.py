"""graph.json rules beyond the schema, each broken once in a real reference graph.

DG graph nodes: 0 code_node, 1 model_node, 2 camera_node, 3 output_node,
4 detection_threshold (float32), 5 region, 6 device_id, 7 log_level (strings).
DG graph edges: 0 camera->code video, 1 code->output video, 2 detection_threshold->threshold,
3 region, 4 device_id, 5 log_level.
"""

from __future__ import annotations

import json
import time
from typing import Any

from manifests import MAX_PAYLOAD_CHARS, validate_graph
from manifests.nodes import REGEX_BUDGET_S, REGEX_TIME_LIMIT_S
from tests.support.reference import (
    DG_GRAPH,
    INBOUND_GRAPH,
    app_packages,
    load,
    pairs,
    requires_reference,
    setting,
)

pytestmark = requires_reference

NG = "/nodeGraph"
CAMERA = {"name": "camera_2", "interface": "panorama::abstract_rtsp_media_source.rtsp_v1_interface"}


def dg_errors(doc, with_packages=True):
    packages = app_packages(DG_GRAPH) if with_packages else None
    return pairs(validate_graph(doc, packages=packages))


def edge(doc, index, producer, consumer):
    return setting(doc, f"{NG}/edges/{index}", {"producer": producer, "consumer": consumer})


def test_the_dg_sample_is_valid_with_and_without_its_packages():
    assert dg_errors(load(DG_GRAPH)) == []
    assert dg_errors(load(DG_GRAPH), with_packages=False) == []


def test_unknown_package():
    doc = setting(load(DG_GRAPH), f"{NG}/nodes/0/interface", "123456789012::OTHER_CODE.interface")
    errors = validate_graph(doc)
    assert pairs(errors) == [
        (f"{NG}/nodes/0/interface", 'package "123456789012::OTHER_CODE" is not listed in packages')
    ]
    assert errors[0].hint == (
        'list the package in /nodeGraph/packages, e.g. {"name": "123456789012::OTHER_CODE", '
        '"version": "1.0"}'
    )


def test_unknown_interface_in_a_supplied_package():
    pointer = f"{NG}/nodes/0/interface"
    doc = setting(load(DG_GRAPH), pointer, "123456789012::SAMPLE_CODE.code_interface")
    errors = validate_graph(doc, packages=app_packages(DG_GRAPH))
    assert pairs(errors) == [
        (pointer, 'package "123456789012::SAMPLE_CODE" has no interface "code_interface"')
    ]
    assert errors[0].hint == "interfaces of 123456789012::SAMPLE_CODE: interface"
    # Without the package.json the interface cannot be judged, so nothing is reported.
    assert dg_errors(doc, with_packages=False) == []


def test_unknown_interface_of_a_stock_package_needs_no_documents():
    pointer = f"{NG}/nodes/3/interface"
    doc = setting(load(DG_GRAPH), pointer, "panorama::hdmi_data_sink.hdmi1")
    assert dg_errors(doc, with_packages=False) == [
        (pointer, 'package "panorama::hdmi_data_sink" has no interface "hdmi1"')
    ]


def test_unknown_node_on_an_edge():
    doc = edge(load(DG_GRAPH), 0, "camera.video_out", "code_node.video_in")
    assert dg_errors(doc) == [(f"{NG}/edges/0/producer", 'unknown node "camera"')]


def test_unknown_output_port_of_a_stock_interface():
    doc = edge(load(DG_GRAPH), 0, "camera_node.video", "code_node.video_in")
    errors = validate_graph(doc)
    assert pairs(errors) == [
        (f"{NG}/edges/0/producer", 'node "camera_node" has no output port "video"')
    ]
    assert errors[0].hint == (
        "output ports of panorama::abstract_rtsp_media_source.rtsp_v1_interface: video_out"
    )


def test_unknown_input_port_of_a_package_interface():
    doc = edge(load(DG_GRAPH), 2, "detection_threshold", "code_node.thresh")
    assert dg_errors(doc) == [
        (f"{NG}/edges/2/consumer", 'node "code_node" has no input port "thresh"')
    ]
    assert dg_errors(doc, with_packages=False) == []


def test_input_port_used_as_producer():
    doc = edge(load(DG_GRAPH), 1, "code_node.video_in", "output_node.video_in")
    assert dg_errors(doc) == [
        (f"{NG}/edges/1/producer", '"code_node.video_in" is an input port and cannot be a producer')
    ]


def test_output_port_used_as_consumer():
    doc = edge(load(DG_GRAPH), 0, "camera_node.video_out", "code_node.video_out")
    assert dg_errors(doc) == [
        (
            f"{NG}/edges/0/consumer",
            '"code_node.video_out" is an output port and cannot be a consumer',
        )
    ]


def test_interface_node_producer_needs_a_port():
    doc = edge(load(DG_GRAPH), 0, "camera_node", "code_node.video_in")
    errors = validate_graph(doc)
    assert pairs(errors) == [
        (
            f"{NG}/edges/0/producer",
            'producer "camera_node" must name one of the node\'s output ports',
        )
    ]
    assert errors[0].hint == "write '<node>.<output port>': video_out"


def test_consumer_needs_a_port():
    doc = edge(load(DG_GRAPH), 1, "code_node.video_out", "output_node")
    assert dg_errors(doc) == [
        (
            f"{NG}/edges/1/consumer",
            'consumer "output_node" must name one of the node\'s input ports',
        )
    ]


def test_parameter_producer_has_no_named_port():
    doc = edge(load(DG_GRAPH), 2, "detection_threshold.value", "code_node.threshold")
    assert dg_errors(doc) == [
        (f"{NG}/edges/2/producer", 'parameter node "detection_threshold" has no port "value"')
    ]


def test_parameter_node_cannot_be_a_consumer():
    doc = edge(load(DG_GRAPH), 3, "device_id", "region.value")
    assert dg_errors(doc) == [
        (f"{NG}/edges/3/consumer", 'parameter node "region" has no input ports')
    ]


def test_type_mismatch_parameter_to_media():
    doc = edge(load(DG_GRAPH), 2, "detection_threshold", "code_node.video_in")
    assert dg_errors(doc) == [
        (
            f"{NG}/edges/2",
            'type mismatch: "detection_threshold" produces float32 but "code_node.video_in" '
            "accepts media",
        )
    ]


def test_type_mismatch_between_parameter_types():
    doc = edge(load(DG_GRAPH), 3, "region", "code_node.threshold")
    assert dg_errors(doc) == [
        (
            f"{NG}/edges/3",
            'type mismatch: "region" produces string but "code_node.threshold" accepts float32',
        )
    ]
    # Port types live in package.json: without it there is nothing to compare.
    assert dg_errors(doc, with_packages=False) == []


def test_type_mismatch_between_interface_ports():
    packages = app_packages(DG_GRAPH)
    outputs = packages["123456789012::SAMPLE_CODE"]["nodePackage"]["interfaces"][0]["outputs"]
    outputs.append({"name": "label", "type": "string"})
    doc = edge(load(DG_GRAPH), 1, "code_node.label", "output_node.video_in")
    assert pairs(validate_graph(doc, packages=packages)) == [
        (
            f"{NG}/edges/1",
            'type mismatch: "code_node.label" produces string but "output_node.video_in" '
            "accepts media",
        )
    ]


def test_parameter_value_against_decorator_constraint_regex():
    doc = setting(
        load(DG_GRAPH), f"{NG}/nodes/5/decorator/constraintRegex", "[a-z]{2}-[a-z]+-[0-9]"
    )
    assert dg_errors(doc) == []
    doc = setting(doc, f"{NG}/nodes/5/value", "US-EAST-1")
    errors = validate_graph(doc)
    assert pairs(errors) == [
        (
            f"{NG}/nodes/5/value",
            'value "US-EAST-1" does not match constraintRegex "[a-z]{2}-[a-z]+-[0-9]" of its '
            "decorator",
        )
    ]
    assert errors[0].hint == "a value matching [a-z]{2}-[a-z]+-[0-9]"
    doc = setting(doc, f"{NG}/nodes/5/decorator/constraintText", "an AWS Region, e.g. us-east-1")
    assert validate_graph(doc)[0].hint == "an AWS Region, e.g. us-east-1"


def test_a_constraint_regex_that_backtracks_for_ever_is_stopped_and_reported():
    # Exponential backtracking: seconds at 25 characters, doubling with each one more.
    doc = setting(load(DG_GRAPH), f"{NG}/nodes/5/decorator/constraintRegex", "(a|a)+$")
    doc = setting(doc, f"{NG}/nodes/5/value", "a" * 29 + "!")
    started = time.monotonic()
    errors = validate_graph(doc)
    assert time.monotonic() - started < 10 * REGEX_TIME_LIMIT_S
    assert pairs(errors) == [
        (
            f"{NG}/nodes/5/value",
            'value "aaaaaaaaaaaaaaaaaaaaaaaaaaaaa!" could not be checked against constraintRegex '
            f'"(a|a)+$" of its decorator within {REGEX_TIME_LIMIT_S:g} s',
        )
    ]
    assert "without nested repetition" in errors[0].hint


def test_many_slow_constraint_regexes_share_one_time_budget():
    doc = load(DG_GRAPH)
    nodes = doc["nodeGraph"]["nodes"]
    for n in range(12):
        nodes.append({
            "name": f"slow_{n}", "interface": "string", "value": "a" * 29 + "!",
            "overridable": True, "decorator": {"constraintRegex": "(a|a)+$"},
        })  # fmt: skip
    started = time.monotonic()
    errors = validate_graph(doc)
    assert time.monotonic() - started < REGEX_BUDGET_S + 1.0  # not 12 x the limit of one
    assert len([e for e in errors if "could not be checked" in e.message]) == 12


def test_a_value_of_the_wrong_type_is_not_also_matched_against_the_regex():
    doc = setting(load(DG_GRAPH), f"{NG}/nodes/4/decorator/constraintRegex", "[0-9.]+")
    doc = setting(doc, f"{NG}/nodes/4/value", "high")
    assert dg_errors(doc) == [(f"{NG}/nodes/4/value", "expected a number, got string")]


def test_parameter_value_against_input_port_constraint_regex():
    packages = app_packages(DG_GRAPH)
    inputs = packages["123456789012::SAMPLE_CODE"]["nodePackage"]["interfaces"][0]["inputs"]
    inputs[1]["constraintRegex"] = "[0-9]{1,2}\\.[0-9]+"  # threshold: 20.0 matches
    assert pairs(validate_graph(load(DG_GRAPH), packages=packages)) == []
    doc = setting(load(DG_GRAPH), f"{NG}/nodes/4/value", 120.5)
    assert pairs(validate_graph(doc, packages=packages)) == [
        (
            f"{NG}/nodes/4/value",
            'value 120.5 does not match constraintRegex "[0-9]{1,2}\\\\.[0-9]+" of input port '
            '"code_node.threshold"',
        )
    ]


def test_model_node_must_not_be_wired():
    doc = edge(load(DG_GRAPH), "-", "code_node.video_out", "model_node.video_in")
    errors = validate_graph(doc, packages=app_packages(DG_GRAPH))
    assert pairs(errors) == [
        (f"{NG}/edges/6/consumer", 'model node "model_node" must not be connected by edges')
    ]
    assert errors[0].hint == (
        'code calls model nodes with node.call(input, "model_node"); remove this edge'
    )


def test_model_node_must_not_be_a_producer_either():
    doc = edge(load(DG_GRAPH), "-", "model_node.video_out", "output_node.video_in")
    assert dg_errors(doc) == [
        (f"{NG}/edges/6/producer", 'model node "model_node" must not be connected by edges')
    ]


def test_max_connections():
    packages = app_packages(DG_GRAPH)
    inputs = packages["123456789012::SAMPLE_CODE"]["nodePackage"]["interfaces"][0]["inputs"]
    inputs[0]["maxConnections"] = 1
    doc = setting(load(DG_GRAPH), f"{NG}/nodes/-", CAMERA)
    assert pairs(validate_graph(doc, packages=packages)) == []
    doc = edge(doc, "-", "camera_2.video_out", "code_node.video_in")
    assert pairs(validate_graph(doc, packages=packages)) == [
        (
            f"{NG}/edges/6/consumer",
            'input port "code_node.video_in" accepts at most 1 connection',
        )
    ]
    inputs[0]["maxConnections"] = 0  # 0 means no limit
    assert pairs(validate_graph(doc, packages=packages)) == []


def test_duplicate_node_names():
    doc = setting(load(DG_GRAPH), f"{NG}/nodes/-", dict(CAMERA, name="region"))
    assert dg_errors(doc) == [(f"{NG}/nodes/8/name", 'duplicate node name "region"')]


def test_duplicate_packages():
    include = {"name": "panorama::hdmi_data_sink", "version": "1.0"}
    doc = setting(load(DG_GRAPH), f"{NG}/packages/-", include)
    assert dg_errors(doc) == [
        (f"{NG}/packages/4/name", 'package "panorama::hdmi_data_sink" is listed twice')
    ]


def test_package_json_name_must_match_the_include():
    packages = app_packages(DG_GRAPH)
    packages["123456789012::SAMPLE_CODE"]["nodePackage"]["name"] = "OTHER_CODE"
    assert pairs(validate_graph(load(DG_GRAPH), packages=packages)) == [
        (
            f"{NG}/packages/0/name",
            'package.json of "123456789012::SAMPLE_CODE" is named "OTHER_CODE"',
        )
    ]


def test_package_json_version_must_match_the_include():
    doc = setting(load(DG_GRAPH), f"{NG}/packages/1/version", "2.0")
    assert dg_errors(doc) == [
        (
            f"{NG}/packages/1/version",
            'package.json of "123456789012::SQUEEZENET_PYTORCH" has version "1.0" but version '
            '"2.0" is included',
        )
    ]


def test_override_mandatory_needs_overridable():
    doc = setting(load(DG_GRAPH), f"{NG}/nodes/2/overridable", False)
    assert dg_errors(doc) == [
        (f"{NG}/nodes/2/overrideMandatory", '"overrideMandatory" is true but "overridable" is not')
    ]


def inbound(rules):
    return setting(load(INBOUND_GRAPH), f"{NG}/networkRoutingRules", rules)


def inbound_errors(doc, with_packages=True):
    packages = app_packages(INBOUND_GRAPH) if with_packages else None
    return pairs(validate_graph(doc, packages=packages))


def test_routing_rule_container_port_must_be_declared():
    assert (
        inbound_errors(inbound([{"node": "code_node", "containerPort": 8080, "hostPort": 8081}]))
        == []
    )
    doc = inbound([{"node": "code_node", "containerPort": 80, "hostPort": 8081}])
    errors = validate_graph(doc, packages=app_packages(INBOUND_GRAPH))
    assert pairs(errors) == [
        (
            f"{NG}/networkRoutingRules/0/containerPort",
            "container port 80 is not declared in network.inboundPorts of "
            '"123456789012::inbound_network_code.code_interface"',
        )
    ]
    assert errors[0].hint == "declared inbound ports: 8080"
    assert inbound_errors(doc, with_packages=False) == []


def test_routing_rule_for_an_interface_without_inbound_ports():
    packages = app_packages(INBOUND_GRAPH)
    del packages["123456789012::inbound_network_code"]["nodePackage"]["interfaces"][0]["network"]
    doc = inbound([{"node": "code_node", "containerPort": 8080, "hostPort": 8081}])
    (error,) = validate_graph(doc, packages=packages)
    assert error.hint == 'the interface declares no inbound ports; add {"port": 8080} to them'


def test_routing_rule_unknown_node():
    doc = inbound([{"node": "web_node", "containerPort": 8080, "hostPort": 8081}])
    assert inbound_errors(doc) == [(f"{NG}/networkRoutingRules/0/node", 'unknown node "web_node"')]


def test_routing_rule_to_a_parameter_node():
    doc = setting(
        load(DG_GRAPH), f"{NG}/networkRoutingRules", [{"node": "region", "containerPort": 80}]
    )
    assert dg_errors(doc) == [
        (
            f"{NG}/networkRoutingRules/0/node",
            'node "region" is a parameter node and has no inbound ports',
        )
    ]


def test_routing_rule_host_ports_are_unique():
    rule = {"node": "code_node", "containerPort": 8080, "hostPort": 8081}
    doc = inbound([rule, rule])
    assert inbound_errors(doc) == [
        (f"{NG}/networkRoutingRules/1/hostPort", "host port 8081 is used by more than one rule")
    ]


def big_graph(values: int) -> dict[str, Any]:
    doc = load(DG_GRAPH)
    for n in range(values):
        node = {"name": f"p{n}", "interface": "string", "value": "v" * 1000}
        doc["nodeGraph"]["nodes"].append(node)
    return doc


def test_payload_limit_on_the_minified_document():
    fits = big_graph(47)
    assert len(json.dumps(fits, separators=(",", ":"))) <= MAX_PAYLOAD_CHARS
    assert dg_errors(fits) == []
    too_big = big_graph(50)
    size = len(json.dumps(too_big, separators=(",", ":")))
    assert dg_errors(too_big) == [("", f"payload is {size} characters, the limit is 51200")]


def test_payload_limit_on_the_raw_text():
    doc = big_graph(47)
    raw = json.dumps(doc, indent=4)
    errors = validate_graph(doc, raw=raw)
    assert pairs(errors) == [("", f"payload is {len(raw)} characters, the limit is 51200")]
    minified = len(json.dumps(doc, separators=(",", ":"), ensure_ascii=False))
    assert errors[0].hint == (
        f"minified it is {minified} characters, which fits; send it without whitespace"
    )
    # Text given as the document itself is measured the same way.
    assert pairs(validate_graph(raw)) == pairs(errors)
