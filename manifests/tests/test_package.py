"""package.json rules: each test breaks exactly one rule of a real reference package."""

from __future__ import annotations

import pytest

from manifests import validate_package
from tests.support.reference import (
    DATASINK_PACKAGE,
    DG_CODE_PACKAGE,
    DG_MODEL_PACKAGE,
    INBOUND_APP,
    ONNX_PACKAGE,
    PC_GPU_PACKAGE,
    load,
    pairs,
    removing,
    requires_reference,
    setting,
)

pytestmark = requires_reference

INBOUND_PACKAGE = f"{INBOUND_APP}/packages/123456789012-inbound_network_code-1.0/package.json"
REQ = "/nodePackage/assets/0/implementations/0/requirements/0"


def errors_of(doc):
    return pairs(validate_package(doc))


I0 = "/nodePackage/interfaces/0"


@pytest.mark.parametrize(
    ("pointer", "value", "message"),
    [
        ("/nodePackage/envelopeVersion", "2020-01-01", '"2020-01-01" is not an allowed value'),
        ("/nodePackage/name", "SAMPLE CODE", '"SAMPLE CODE" does not match the allowed pattern'),
        ("/nodePackage/name", "x" * 129, "too long: 129 characters, the maximum is 128"),
        ("/nodePackage/version", "1", '"1" does not match the allowed pattern'),
        ("/nodePackage/version", 1.0, "expected a string, got number"),
        ("/nodePackage/description", "d" * 256, "too long: 256 characters, the maximum is 255"),
        ("/nodePackage/interfaces", [], "must contain at least 1 item"),
        (f"{I0}/name", "my interface", '"my interface" does not match the allowed pattern'),
        (f"{I0}/category", "camera", '"camera" is not an allowed value'),
        (f"{I0}/inputs/0/name", "video-in", '"video-in" does not match the allowed pattern'),
        (f"{I0}/inputs/0/name", "", "must not be empty"),
        (f"{I0}/inputs/0/type", "string[][]", '"string[][]" is not an allowed value'),
        (f"{I0}/inputs/1/default", "0.5", "expected a number, got string"),
        (f"{I0}/inputs/2/default", 5, "expected a string, got integer"),
        (f"{I0}/inputs/0/maxConnections", -1, "-1 is out of range"),
        (f"{I0}/outputs/0/type", "video", '"video" is not an allowed value'),
    ],
)
def test_code_package_schema_rule(pointer, value, message):
    assert errors_of(setting(load(DG_CODE_PACKAGE), pointer, value)) == [(pointer, message)]


@pytest.mark.parametrize(
    ("pointer", "value"),
    [
        (f"{I0}/inputs/0/default", "x"),  # media ports have no default
        (f"{I0}/outputs/0/default", "x"),  # output ports have no default
        (f"{I0}/inputs/2/minimum", 0),  # only int32 and float32 ports have a minimum
        (f"{I0}/inputs/0/minimum", 0),
    ],
)
def test_unknown_fields_are_rejected(pointer, value):
    name = pointer.rsplit("/", 1)[1]
    doc = setting(load(DG_CODE_PACKAGE), pointer, value)
    assert errors_of(doc) == [(pointer, f'unknown field "{name}"')]


@pytest.mark.parametrize("field", ["envelopeVersion", "interfaces"])
def test_required_package_fields(field):
    doc = removing(load(DG_CODE_PACKAGE), f"/nodePackage/{field}")
    assert errors_of(doc) == [(f"/nodePackage/{field}", f'"{field}" is required')]


@pytest.mark.parametrize("field", ["name", "category"])
def test_required_interface_fields(field):
    doc = removing(load(DG_CODE_PACKAGE), f"/nodePackage/interfaces/0/{field}")
    assert errors_of(doc) == [(f"/nodePackage/interfaces/0/{field}", f'"{field}" is required')]


def test_name_and_version_are_optional():
    doc = removing(removing(load(DG_CODE_PACKAGE), "/nodePackage/name"), "/nodePackage/version")
    assert errors_of(doc) == []


def test_unknown_field_suggests_the_right_one():
    doc = load(DG_CODE_PACKAGE)
    doc["nodePackage"]["interface"] = doc["nodePackage"].pop("interfaces")
    errors = validate_package(doc)
    assert pairs(errors) == [
        ("/nodePackage/interfaces", '"interfaces" is required'),
        ("/nodePackage/interface", 'unknown field "interface"'),
    ]
    assert errors[1].hint == (
        "allowed fields in nodePackage: envelopeVersion, name, version, description, assets, "
        'interfaces; did you mean "interfaces"?'
    )


def test_boolean_input_port_has_no_constraint_regex():
    port = {"name": "enabled", "type": "boolean", "constraintRegex": "^true$"}
    doc = setting(load(DG_CODE_PACKAGE), "/nodePackage/interfaces/0/inputs/-", port)
    assert errors_of(doc) == [
        ("/nodePackage/interfaces/0/inputs/5/constraintRegex", 'unknown field "constraintRegex"')
    ]


def test_constraint_regex_must_compile():
    doc = setting(load(DG_CODE_PACKAGE), "/nodePackage/interfaces/0/inputs/2/constraintRegex", "(")
    assert errors_of(doc) == [
        (
            "/nodePackage/interfaces/0/inputs/2/constraintRegex",
            "not a valid regular expression: missing ), unterminated subpattern at position 0",
        )
    ]


def test_int32_port_default_must_fit_int32():
    doc = setting(load(ONNX_PACKAGE), "/nodePackage/interfaces/0/inputs/1/default", 2**31)
    assert errors_of(doc) == [
        ("/nodePackage/interfaces/0/inputs/1/default", "2147483648 is out of range")
    ]


@pytest.mark.parametrize("category", ["media_sink", "data_sink"])
def test_both_sink_categories_are_accepted(category):
    doc = setting(load(DATASINK_PACKAGE), "/nodePackage/interfaces/0/category", category)
    assert errors_of(doc) == []


def test_network_holds_inbound_ports_only():
    doc = setting(load(INBOUND_PACKAGE), f"{I0}/network/ports", [8080])
    assert errors_of(doc) == [(f"{I0}/network/ports", 'unknown field "ports"')]


def test_inbound_port_range():
    pointer = "/nodePackage/interfaces/0/network/inboundPorts/0/port"
    doc = setting(load(INBOUND_PACKAGE), pointer, 70000)
    assert errors_of(doc) == [(pointer, "70000 is out of range")]


def test_at_most_ten_inbound_ports():
    ports = [{"port": 8000 + n} for n in range(11)]
    doc = setting(load(INBOUND_PACKAGE), "/nodePackage/interfaces/0/network/inboundPorts", ports)
    assert errors_of(doc) == [
        ("/nodePackage/interfaces/0/network/inboundPorts", "too many items: 11, the maximum is 10")
    ]


@pytest.mark.parametrize(
    ("pointer", "value", "expected"),
    [
        (
            "/nodePackage/assets/0/implementations/0/type",
            "lambda",
            '"lambda" is not an allowed value',
        ),
        ("/nodePackage/assets/0/implementations/0/assetUri", "", "must not be empty"),
        (
            "/nodePackage/assets/0/implementations/0/requirements",
            {},
            "expected an array, got object",
        ),
    ],
)
def test_asset_rules(pointer, value, expected):
    assert errors_of(setting(load(DG_MODEL_PACKAGE), pointer, value)) == [(pointer, expected)]


def test_asset_name_pattern():
    doc = setting(load(DG_MODEL_PACKAGE), "/nodePackage/assets/-", {"name": "model asset"})
    assert errors_of(doc) == [
        ("/nodePackage/assets/1/name", '"model asset" does not match the allowed pattern')
    ]


def test_requirement_type_must_be_known():
    # requirementOS / requirementSDK schema files exist but the requirement oneOf excludes them.
    doc = setting(load(ONNX_PACKAGE), REQ, {"type": "os", "family": "unix"})
    assert errors_of(doc) == [(f"{REQ}/type", '"os" is not an allowed value')]


def test_hardware_access_needs_accelerators():
    doc = setting(load(ONNX_PACKAGE), REQ, {"type": "hardware_access"})
    assert errors_of(doc) == [
        (REQ, 'one of "inferenceAccelerators" or "nvAccelerators" is required')
    ]


def test_nv_accelerators_is_accepted_like_inference_accelerators():
    gpu = load(PC_GPU_PACKAGE)  # the real sample writes "nvAccelerators"
    assert errors_of(gpu) == []
    requirement = gpu["nodePackage"]["assets"][0]["implementations"][0]["requirements"][0]
    requirement["inferenceAccelerators"] = requirement.pop("nvAccelerators")
    assert errors_of(gpu) == []


def test_accelerator_device_type():
    pointer = f"{REQ}/inferenceAccelerators/0/deviceType"
    assert errors_of(setting(load(ONNX_PACKAGE), pointer, "cuda")) == [
        (pointer, '"cuda" is not an allowed value')
    ]


def test_ota_requirement_needs_a_version():
    doc = setting(load(ONNX_PACKAGE), REQ, {"type": "ota"})
    assert errors_of(doc) == [(REQ, 'one of "minVersion" or "maxVersion" is required')]
    assert errors_of(setting(doc, f"{REQ}/minVersion", "4.3.55")) == []


def test_device_requirement_name():
    doc = setting(load(ONNX_PACKAGE), REQ, {"type": "device", "name": "jetson"})
    assert errors_of(doc) == [(f"{REQ}/name", '"jetson" is not an allowed value')]


def test_duplicate_interface_names():
    doc = load(DG_CODE_PACKAGE)
    doc["nodePackage"]["interfaces"].append(dict(doc["nodePackage"]["interfaces"][0]))
    assert errors_of(doc) == [
        ("/nodePackage/interfaces/1/name", 'duplicate interface name "interface"')
    ]


def test_duplicate_port_names():
    port = {"name": "region", "type": "string"}
    doc = setting(load(DG_CODE_PACKAGE), "/nodePackage/interfaces/0/inputs/-", port)
    assert errors_of(doc) == [
        ("/nodePackage/interfaces/0/inputs/5/name", 'duplicate port name "region"')
    ]


def test_duplicate_asset_names():
    doc = load(DG_MODEL_PACKAGE)
    doc["nodePackage"]["assets"].append(dict(doc["nodePackage"]["assets"][0]))
    assert errors_of(doc) == [("/nodePackage/assets/1/name", 'duplicate asset name "model_asset"')]


def test_interface_asset_must_be_listed_once_assets_are():
    pointer = "/nodePackage/interfaces/0/asset"
    assert errors_of(setting(load(DG_MODEL_PACKAGE), pointer, "other_asset")) == [
        (pointer, 'asset "other_asset" is not defined in assets')
    ]
    # In source control "assets" is often [] (the CLI fills it): nothing to check against.
    assert errors_of(setting(load(DG_CODE_PACKAGE), pointer, "other_asset")) == []


def test_not_an_object():
    errors = validate_package([])
    assert pairs(errors) == [("", "expected a package.json document (an object), got array")]


def test_invalid_json_text():
    assert pairs(validate_package('{"nodePackage": ')) == [
        ("", "not valid JSON: Expecting value at line 1 column 17")
    ]
    assert pairs(validate_package(b'{"nodePackage": NaN}')) == [
        ("", "not valid JSON: NaN is not valid JSON")
    ]


# --- panorama-cli's file source: "string[]" ports, "minimum", a category its asset implies ----

FILE_SOURCE = "aws-panorama-cli/panoramacli/resources/video_from_file_package/package.json"
F0 = "/nodePackage/interfaces/0/inputs"


def test_the_cli_file_source_package_is_valid():
    assert errors_of(load(FILE_SOURCE)) == []


@pytest.mark.parametrize(
    ("pointer", "value", "expected"),
    [
        (f"{F0}/0/default", "lobby.mp4", [(f"{F0}/0/default", "expected an array, got string")]),
        (
            f"{F0}/0/default",
            ["a.mp4", 7],
            [(f"{F0}/0/default/1", "expected a string, got integer")],
        ),
        (f"{F0}/1/default", -1, [(f"{F0}/1/default", "-1 is below the port's minimum 0")]),
        (f"{F0}/1/default", 1.5, [(f"{F0}/1/default", "expected an integer, got number")]),
        (f"{F0}/1/minimum", "0", [(f"{F0}/1/minimum", "expected an integer, got string")]),
        (f"{F0}/2/default", -0.5, [(f"{F0}/2/default", "-0.5 is below the port's minimum 0")]),
        (f"{F0}/2/minimum", True, [(f"{F0}/2/minimum", "expected a number, got boolean")]),
    ],
)
def test_file_source_values(pointer, value, expected):
    assert errors_of(setting(load(FILE_SOURCE), pointer, value)) == expected


def test_file_source_loop_count_and_fps_are_never_negative_even_without_a_minimum():
    doc = removing(load(FILE_SOURCE), f"{F0}/1/minimum")
    doc = removing(setting(doc, f"{F0}/1/default", -2), f"{F0}/2/minimum")
    errors = validate_package(setting(doc, f"{F0}/2/default", -1))
    assert pairs(errors) == [
        (f"{F0}/1/default", "-2 is negative"),
        (f"{F0}/2/default", "-1 is negative"),
    ]
    assert (
        errors[0].hint
        == "a value of at least 0 (0 plays the videos in a loop forever, N plays them N times)"
    )


def test_only_a_system_asset_lets_an_interface_leave_out_its_category():
    doc = setting(load(FILE_SOURCE), "/nodePackage/assets/0/implementations/0/assetUri", "my/asset")
    errors = validate_package(doc)
    assert pairs(errors) == [("/nodePackage/interfaces/0/category", '"category" is required')]
    assert "source/video/file" in errors[0].hint
    doc = setting(load(FILE_SOURCE), "/nodePackage/assets", [])
    assert pairs(validate_package(doc)) == [
        ("/nodePackage/interfaces/0/category", '"category" is required')
    ]


def test_a_string_array_port_is_an_input_only():
    doc = setting(load(FILE_SOURCE), "/nodePackage/interfaces/0/outputs/0/type", "string[]")
    assert errors_of(doc) == [
        ("/nodePackage/interfaces/0/outputs/0/type", '"string[]" is not an allowed value')
    ]


def test_a_parameter_feeding_a_port_below_its_minimum_is_refused():
    from manifests import validate_graph

    package = load(FILE_SOURCE)
    graph = {
        "nodeGraph": {
            "envelopeVersion": "2021-01-01",
            "packages": [{"name": "123456789012::files", "version": "1.0"}],
            "nodes": [
                {"name": "clips", "interface": "123456789012::files.default"},
                {"name": "loops", "interface": "int32", "value": -3},
                {"name": "rate", "interface": "float32", "value": 12.5},
            ],
            "edges": [
                {"producer": "loops", "consumer": "clips.loopCount"},
                {"producer": "rate", "consumer": "clips.fps"},
            ],
        }
    }
    errors = validate_graph(graph, packages={"123456789012::files": package})
    assert pairs(errors) == [
        (
            "/nodeGraph/nodes/1/value",
            'value -3 is below the minimum 0 of input port "clips.loopCount"',
        )
    ]
