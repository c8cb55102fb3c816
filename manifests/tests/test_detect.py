"""detect_kind / validate_document beyond the reference walk (see test_reference.py)."""

from __future__ import annotations

import json

import pytest

from manifests import DocumentKind, detect_kind, validate_document
from tests.support.reference import (
    DG_GRAPH,
    DG_OVERRIDE,
    app_packages,
    load,
    pairs,
    requires_reference,
)


@pytest.mark.parametrize(
    ("doc", "kind"),
    [
        ({"nodeGraph": {}}, DocumentKind.GRAPH),
        ({"nodeGraphOverrides": {}}, DocumentKind.OVERRIDE),
        ({"nodePackage": {}}, DocumentKind.PACKAGE),
        ({"mlModelDescriptor": {}}, DocumentKind.DESCRIPTOR),
        ({"runtimeDescriptor": {}}, DocumentKind.DESCRIPTOR),
        ('{"nodeGraph": {}}', DocumentKind.GRAPH),
        (b'{"nodePackage": {}}', DocumentKind.PACKAGE),
        ({"nodePackageOverrides": {}}, None),  # a schema exists, but it is not one of the four
        ({"properties": {"nodeGraph": {}}}, None),  # a JSON schema file
        ({}, None),
        ([{"nodeGraph": {}}], None),
        ("not json", None),
        (None, None),
    ],
)
def test_detect_kind(doc, kind):
    assert detect_kind(doc) == kind


def test_kind_values_are_stable_identifiers():
    assert [kind.value for kind in DocumentKind] == ["graph", "override", "package", "descriptor"]


def test_validate_document_rejects_unknown_documents():
    errors = validate_document({"ValidationResult": []})
    assert pairs(errors) == [("", "not a Panorama manifest: no known top-level key")]
    assert errors[0].hint == (
        "a manifest has one of these top-level keys: nodeGraph, nodeGraphOverrides, nodePackage, "
        "mlModelDescriptor, runtimeDescriptor"
    )


def test_validate_document_reports_bad_json():
    assert pairs(validate_document("{")) == [
        ("", "not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2")
    ]
    assert pairs(validate_document(b"\xff")) == [
        (
            "",
            "not UTF-8 text: 'utf-8' codec can't decode byte 0xff in position 0: "
            "invalid start byte",
        )
    ]


@requires_reference
def test_validate_document_passes_the_graph_and_packages_along():
    override = load(DG_OVERRIDE)
    del override["nodeGraphOverrides"]["nodeOverrides"][3]
    graph = json.dumps(load(DG_GRAPH))  # companions may be text too
    errors = validate_document(override, graph=graph, packages=app_packages(DG_GRAPH))
    assert pairs(errors) == [
        (
            "/nodeGraphOverrides/nodeOverrides",
            'graph node "camera_node" has "overrideMandatory": true but is not replaced',
        )
    ]
    bad_graph = load(DG_GRAPH)
    bad_graph["nodeGraph"]["edges"][2]["consumer"] = "code_node.thresh"
    assert pairs(validate_document(bad_graph, packages=app_packages(DG_GRAPH))) == [
        ("/nodeGraph/edges/2/consumer", 'node "code_node" has no input port "thresh"')
    ]
