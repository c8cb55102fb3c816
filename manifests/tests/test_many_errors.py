"""One document with several problems reports all of them, in document order per pass."""

from __future__ import annotations

from manifests import validate_descriptor, validate_graph, validate_override, validate_package
from tests.support.reference import (
    DG_CODE_PACKAGE,
    DG_GRAPH,
    DG_MODEL_DESCRIPTOR,
    DG_OVERRIDE,
    app_packages,
    load,
    pairs,
    requires_reference,
)

pytestmark = requires_reference


def test_graph_reports_schema_and_semantic_errors_together():
    doc = load(DG_GRAPH)
    graph = doc["nodeGraph"]
    graph["envelopeVersion"] = "2022-01-01"
    graph["nodes"][4]["value"] = "high"  # float32 parameter
    graph["nodes"][0]["interface"] = "123456789012::SAMPLE_CODE.code_interface"
    graph["nodes"][7]["launch"] = "onAppStart"  # parameter nodes have no launch
    graph["edges"][1]["consumer"] = "output_node.video"
    graph["edges"].append({"producer": "region", "consumer": "output_node.video_in"})
    graph["edges"].append({"producer": "code_node.video_out"})
    graph["networkRoutingRules"] = [{"node": "code_node", "containerPort": 80, "hostPort": 80}]
    errors = validate_graph(doc, packages=app_packages(DG_GRAPH))
    assert pairs(errors) == [
        ("/nodeGraph/envelopeVersion", '"2022-01-01" is not an allowed value'),
        ("/nodeGraph/nodes/4/value", "expected a number, got string"),
        ("/nodeGraph/nodes/7/launch", 'unknown field "launch"'),
        ("/nodeGraph/edges/7/consumer", '"consumer" is required'),
        ("/nodeGraph/networkRoutingRules/0/hostPort", "80 is out of range"),
        (
            "/nodeGraph/nodes/0/interface",
            'package "123456789012::SAMPLE_CODE" has no interface "code_interface"',
        ),
        ("/nodeGraph/edges/1/consumer", 'node "output_node" has no input port "video"'),
        (
            "/nodeGraph/edges/6",
            'type mismatch: "region" produces string but "output_node.video_in" accepts media',
        ),
    ]
    # code_node's interface is unknown, so its ports and inbound ports are not judged.


def test_package_reports_every_problem():
    doc = load(DG_CODE_PACKAGE)
    body = doc["nodePackage"]
    del body["envelopeVersion"]
    body["version"] = "v1"
    interface = body["interfaces"][0]
    interface["category"] = "code"
    interface["inputs"][0]["name"] = "video-in"
    interface["inputs"].append({"name": "threshold", "type": "float32"})
    interface["outputs"][0]["type"] = "image"
    assert pairs(validate_package(doc)) == [
        ("/nodePackage/envelopeVersion", '"envelopeVersion" is required'),
        ("/nodePackage/version", '"v1" does not match the allowed pattern'),
        ("/nodePackage/interfaces/0/category", '"code" is not an allowed value'),
        (
            "/nodePackage/interfaces/0/inputs/0/name",
            '"video-in" does not match the allowed pattern',
        ),
        ("/nodePackage/interfaces/0/outputs/0/type", '"image" is not an allowed value'),
        ("/nodePackage/interfaces/0/inputs/5/name", 'duplicate port name "threshold"'),
    ]


def test_descriptor_reports_every_problem():
    doc = load(DG_MODEL_DESCRIPTOR)
    body = doc["mlModelDescriptor"]
    body["framework"] = "KERAS"
    body["precisionMode"] = "fp16"
    body["inputs"][0]["shape"] = [1, "3", 224, None]
    body["batch"] = 1
    assert pairs(validate_descriptor(doc)) == [
        ("/mlModelDescriptor/framework", '"KERAS" is not an allowed value'),
        ("/mlModelDescriptor/precisionMode", '"fp16" is not an allowed value'),
        ("/mlModelDescriptor/inputs/0/shape/1", "expected an integer, got string"),
        ("/mlModelDescriptor/inputs/0/shape/3", "expected an integer, got null"),
        ("/mlModelDescriptor/batch", 'unknown field "batch"'),
    ]


def test_override_reports_every_problem():
    doc = load(DG_OVERRIDE)
    body = doc["nodeGraphOverrides"]
    body["packages"] = []
    body["nodeOverrides"][0]["replace"] = "code_node"
    body["nodeOverrides"][1]["with"][0]["name"] = "device_override"
    del body["nodeOverrides"][3]
    assert pairs(validate_override(doc, graph=load(DG_GRAPH))) == [
        (
            "/nodeGraphOverrides/nodes/0/interface",
            'package "123456789012::MY_CAMERA" is not listed in packages',
        ),
        (
            "/nodeGraphOverrides/nodeOverrides/0/replace",
            'graph node "code_node" is not overridable',
        ),
        ("/nodeGraphOverrides/nodeOverrides/1/with/0/name", 'unknown node "device_override"'),
        (
            "/nodeGraphOverrides/nodeOverrides",
            'graph node "camera_node" has "overrideMandatory": true but is not replaced',
        ),
    ]
