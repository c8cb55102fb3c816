"""Every real reference file validates cleanly and is recognised by its content.

The expected kind of each file is written out below rather than derived, so the table is an
independent oracle; files not listed must be recognised as "not a manifest" (JSON schemas,
botocore's service model, a class list, a tool's output).
"""

from __future__ import annotations

import json

import pytest

from manifests import DocumentKind, detect_kind, validate_document, validate_graph
from tests.support.reference import (
    ONNX_APP,
    REFERENCE,
    all_json_files,
    app_graph,
    app_packages,
    load,
    pairs,
    requires_reference,
)

pytestmark = requires_reference

G, OV, P, D = (
    DocumentKind.GRAPH,
    DocumentKind.OVERRIDE,
    DocumentKind.PACKAGE,
    DocumentKind.DESCRIPTOR,
)
CLI = "aws-panorama-cli/panoramacli/resources"
DG = "aws-panorama-developer-guide/sample-apps/aws-panorama-sample"
SAM = "aws-panorama-samples/samples"

EXPECTED_KINDS: dict[str, DocumentKind] = {
    f"{CLI}/camera_package.json": P,
    f"{CLI}/datasink_package.json": P,
    f"{CLI}/package_skeleton/descriptor.json": D,
    f"{CLI}/package_skeleton/package.json": P,
    f"{CLI}/project_skeleton/graphs/graph.json": G,
    f"{CLI}/video_from_file_package/package.json": P,
    f"{DG}/assets/1872d0b1129481ed053c52e66d6af8b030f9eb69b1168a29012f01c7034d7a8f.json": D,
    f"{DG}/assets/82b31405c50044128c67380afc768ec84c507394b9f9dfac031aad15ad9ad71d.json": D,
    f"{DG}/graphs/my-app/graph.json": G,
    f"{DG}/graphs/my-app/override-multicam.json": OV,
    f"{DG}/graphs/my-app/override.json": OV,
    f"{DG}/packages/123456789012-SAMPLE_CODE-1.0/descriptor.json": D,
    f"{DG}/packages/123456789012-SAMPLE_CODE-1.0/package.json": P,
    f"{DG}/packages/123456789012-SQUEEZENET_PYTORCH-1.0/descriptor.json": D,
    f"{DG}/packages/123456789012-SQUEEZENET_PYTORCH-1.0/package.json": P,
    f"{SAM}/ONNX_opengpu/onnx_app/graphs/onnx_app/graph.json": G,
    f"{SAM}/ONNX_opengpu/onnx_app/graphs/onnx_app/graph_with_hdmi.json": G,
    f"{SAM}/ONNX_opengpu/onnx_app/packages/028663699634-onnx_app-1.0/descriptor.json": D,
    f"{SAM}/ONNX_opengpu/onnx_app/packages/028663699634-onnx_app-1.0/package.json": P,
    f"{SAM}/PT_opengpu/yolov5s_pt_app/deployment_overrides/override_camera.json": OV,
    f"{SAM}/PT_opengpu/yolov5s_pt_app/graphs/yolov5s_pt_app/graph.json": G,
    f"{SAM}/PT_opengpu/yolov5s_pt_app/packages/028663699634-yolov5s_pt_app-1.0/descriptor.json": D,
    f"{SAM}/PT_opengpu/yolov5s_pt_app/packages/028663699634-yolov5s_pt_app-1.0/package.json": P,
    f"{SAM}/inbound_network/inbound_network_app/graphs/inbound_network_app/graph.json": G,
    f"{SAM}/inbound_network/inbound_network_app/graphs/inbound_network_app/override.json": OV,
    f"{SAM}/inbound_network/inbound_network_app/packages/"
    "123456789012-inbound_network_code-1.0/descriptor.json": D,
    f"{SAM}/inbound_network/inbound_network_app/packages/"
    "123456789012-inbound_network_code-1.0/package.json": P,
    f"{SAM}/people_counter/people_counter_app/deployment_overrides/override_camera.json": OV,
    f"{SAM}/people_counter/people_counter_app/graphs/people_counter_app/graph.json": G,
    f"{SAM}/people_counter/people_counter_app/packages/"
    "278046373397-PEOPLE_COUNTER_CODE-1.0/descriptor.json": D,
    f"{SAM}/people_counter/people_counter_app/packages/"
    "278046373397-PEOPLE_COUNTER_CODE-1.0/package.json": P,
    f"{SAM}/people_counter/people_counter_app/packages/"
    "278046373397-SSD_MODEL-1.0/descriptor.json": D,
    f"{SAM}/people_counter/people_counter_app/packages/278046373397-SSD_MODEL-1.0/package.json": P,
    f"{SAM}/people_counter_opengpu/people_counter_app/packages/"
    "278046373397-PEOPLE_COUNTER_CODE-1.0/package.json": P,
}

# Files of a manifest kind that are *not* valid, with the exact errors they must produce.
# They are checked, not skipped, so a change in how they are judged is noticed.
NOT_VALID: dict[str, list[tuple[str, str]]] = {
    # CLI templates: `create-package` fills "name" and the interfaces are added by
    # `build-container` / `add-raw-model`; the file is never deployed as is.
    f"{CLI}/package_skeleton/package.json": [
        ("/nodePackage/name", "must not be empty"),
        ("/nodePackage/interfaces", "must contain at least 1 item"),
    ],
    # CLI template: `init-project` writes it empty; packages and nodes are added later.
    f"{CLI}/project_skeleton/graphs/graph.json": [
        ("/nodeGraph/packages", "must contain at least 1 item"),
        ("/nodeGraph/nodes", "must contain at least 1 item"),
    ],
}

FILES = all_json_files()
MANIFESTS = [name for name in FILES if name in EXPECTED_KINDS]


def test_the_reference_tree_is_the_one_described_in_the_spec():
    assert len(FILES) == 89
    assert set(EXPECTED_KINDS) <= set(FILES)
    assert set(NOT_VALID) <= set(EXPECTED_KINDS)


@pytest.mark.parametrize("name", FILES)
def test_detect_kind(name):
    assert detect_kind(load(name)) == EXPECTED_KINDS.get(name)


@pytest.mark.parametrize("name", FILES)
def test_detect_kind_from_raw_text(name):
    assert detect_kind((REFERENCE / name).read_bytes()) == EXPECTED_KINDS.get(name)


@pytest.mark.parametrize("name", [name for name in MANIFESTS if name not in NOT_VALID])
def test_reference_manifest_is_valid(name):
    # The app's own package.json documents (and, for overrides, its graph) are supplied, so
    # the interface, port, type, model-node and inbound-port checks run against real data.
    raw = (REFERENCE / name).read_text()
    errors = validate_document(
        json.loads(raw), packages=app_packages(name), graph=app_graph(name), raw=raw
    )
    assert errors == []


@pytest.mark.parametrize("name", sorted(NOT_VALID))
def test_reference_template_errors(name):
    assert pairs(validate_document(load(name))) == NOT_VALID[name]


def test_graph_with_hdmi_is_valid_against_its_package_under_the_account_it_names():
    # graph_with_hdmi.json names account 937544830708 while its package folder says
    # 028663699634 (`import-application` rewrites accounts in graphs only); keyed by the
    # account the graph uses, the package's interfaces and ports are checked as well.
    name = f"{ONNX_APP}/graphs/onnx_app/graph_with_hdmi.json"
    package = app_packages(name)["028663699634::onnx_app"]
    assert validate_graph(load(name), packages={"937544830708::onnx_app": package}) == []


def test_reference_manifests_without_companions_are_valid_too():
    for name in MANIFESTS:
        if name not in NOT_VALID:
            assert validate_document(load(name)) == [], name
