"""The API's front door with boto3's real client: SigV4, roles, rest-json errors, throttling."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError

from core.roles import Role
from panorama_api import errors, protocol

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_operation_of_the_model_has_a_route_and_a_handler():
    from panorama_api.registry import OPERATIONS

    names = set(protocol.service_model().operation_names)
    assert len(names) == 34
    assert {route.operation.name for route in protocol.routes()} == names
    assert set(OPERATIONS) == names


def test_the_boto3_tests_call_every_operation():
    """Each operation is driven through boto3's client by some test of this folder."""
    from botocore import xform_name

    folder = Path(__file__).parent
    text = "".join(p.read_text() for p in folder.glob("test_*.py") if p.name != "test_protocol.py")
    untested = [
        name for name in protocol.service_model().operation_names
        if f".{xform_name(name)}(" not in text and f'"{xform_name(name)}"' not in text
    ]  # fmt: skip
    assert untested == []


def test_a_signed_request_is_served(panorama):
    assert panorama(Role.VIEWER).list_devices()["Devices"] == []


def test_unsigned_requests_are_refused(live_server):
    response = requests.get(f"{live_server.url}/panorama/devices", timeout=10)
    assert response.status_code == 403
    assert response.headers["X-Amzn-ErrorType"] == "AccessDeniedException"
    assert "Missing Authentication Token" in response.json()["Message"]


def test_a_wrong_secret_is_refused(panorama, live_server):
    import boto3
    from botocore.config import Config

    good = panorama(Role.ADMINISTRATOR)
    key_id = good._request_signer._credentials.access_key
    forged = boto3.client(
        "panorama", endpoint_url=f"{live_server.url}/panorama", region_name="us-west-2",
        aws_access_key_id=key_id, aws_secret_access_key="not-the-secret",
        config=Config(retries={"max_attempts": 1}),
    )  # fmt: skip
    with pytest.raises(forged.exceptions.AccessDeniedException, match="does not match"):
        forged.list_devices()


def test_an_unknown_or_disabled_key_is_refused(panorama, live_server):
    import boto3

    from panorama_api.models import AccessKey

    client = panorama(Role.ADMINISTRATOR)
    client.list_devices()
    AccessKey.objects.update(enabled=False)  # revoked in the console
    with pytest.raises(client.exceptions.AccessDeniedException, match=r"token .* is invalid"):
        client.list_devices()
    stranger = boto3.client(
        "panorama", endpoint_url=f"{live_server.url}/panorama", region_name="us-west-2",
        aws_access_key_id="VKIAUNKNOWNUNKNOWN00", aws_secret_access_key="whatever",
    )  # fmt: skip
    with pytest.raises(stranger.exceptions.AccessDeniedException):
        stranger.list_devices()


def signed_get(url: str, key_id: str, secret: str, region: str, when: dt.datetime):
    """A GET signed by botocore's signer as of ``when`` (add_auth always signs as of now)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    request = AWSRequest(method="GET", url=url, headers={"X-Amz-Date": stamp})
    request.context["timestamp"] = stamp
    signer = SigV4Auth(Credentials(key_id, secret), "panorama", region)
    canonical = signer.canonical_request(request)
    signature = signer.signature(signer.string_to_sign(request, canonical), request)
    signed = signer.signed_headers(signer.headers_to_sign(request))
    request.headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={key_id}/{signer.credential_scope(request)}, "
        f"SignedHeaders={signed}, Signature={signature}"
    )
    return requests.get(url, headers=dict(request.headers), timeout=10)


def test_a_signature_from_another_time_or_region_is_refused(panorama, live_server):
    from panorama_api.models import AccessKey

    panorama(Role.ADMINISTRATOR)
    key = AccessKey.objects.get()
    url = f"{live_server.url}/panorama/devices"
    now = dt.datetime.now(dt.UTC)
    assert signed_get(url, key.access_key_id, key.secret, "us-west-2", now).status_code == 200
    for when, text in ((now - dt.timedelta(minutes=20), "Signature expired"),
                       (now + dt.timedelta(minutes=20), "not yet current")):  # fmt: skip
        response = signed_get(url, key.access_key_id, key.secret, "us-west-2", when)
        assert response.status_code == 403
        assert response.headers["X-Amzn-ErrorType"] == "AccessDeniedException"
        assert text in response.json()["Message"]
    response = signed_get(url, key.access_key_id, key.secret, "eu-central-1", now)
    assert response.status_code == 403 and "region" in response.json()["Message"]


def test_a_viewer_cannot_change_anything(panorama):
    viewer = panorama(Role.VIEWER)
    with pytest.raises(viewer.exceptions.AccessDeniedException, match="needs the"):
        viewer.create_package(PackageName="nope")
    with pytest.raises(viewer.exceptions.AccessDeniedException):
        viewer.update_device_metadata(DeviceId="device-x", Description="x")


def test_the_console_checks_what_botocore_would_not(panorama, live_server):
    """A request with bad members made without botocore's own validation."""
    from botocore.config import Config

    client = panorama(Role.ADMINISTRATOR)
    raw = client.__class__(**{}) if False else None
    del raw
    import boto3

    from panorama_api.models import AccessKey

    key = AccessKey.objects.first()
    unchecked = boto3.client(
        "panorama", endpoint_url=f"{live_server.url}/panorama", region_name="us-west-2",
        aws_access_key_id=key.access_key_id, aws_secret_access_key=key.secret,
        config=Config(parameter_validation=False, retries={"max_attempts": 1}),
    )  # fmt: skip
    with pytest.raises(unchecked.exceptions.ValidationException) as caught:
        unchecked.provision_device(Name="bad name!", Description="x" * 300)
    fields = {f["Name"]: f["Message"] for f in caught.value.response["Fields"]}
    assert fields["Name"].startswith("must match")
    assert fields["Description"] == "must have at most 255 characters"
    assert caught.value.response["Reason"] == "FIELD_VALIDATION_FAILED"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_an_unknown_path_is_an_unknown_operation(panorama, live_server):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    client = panorama(Role.ADMINISTRATOR)
    request = AWSRequest(method="GET", url=f"{live_server.url}/panorama/nothing-here")
    SigV4Auth(client._request_signer._credentials, "panorama", "us-west-2").add_auth(request)
    response = requests.get(request.url, headers=dict(request.headers), timeout=10)
    assert response.status_code == 400
    assert response.headers["X-Amzn-ErrorType"] == "ValidationException"
    assert response.json()["Reason"] == "UNKNOWN_OPERATION"


def test_bursts_are_throttled_and_standard_retries_get_through(panorama, settings):
    settings.PANORAMA_API_REQUESTS_PER_S = 5
    settings.PANORAMA_API_MUTATIONS_PER_S = 1
    impatient = panorama(Role.ADMINISTRATOR)
    outcomes = []

    def call(_):
        try:
            impatient.list_devices()
            return "ok"
        except ClientError as error:
            return error.response["Error"]["Code"]

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(call, range(16)))
    assert "ThrottlingException" in outcomes
    patient = panorama(Role.ADMINISTRATOR, retries={"mode": "standard", "max_attempts": 10})
    with ThreadPoolExecutor(4) as pool:
        done = list(pool.map(lambda i: patient.create_package(PackageName=f"burst_{i}"), range(4)))
    assert all(d["ResponseMetadata"]["HTTPStatusCode"] == 200 for d in done)
    assert sum(d["ResponseMetadata"]["RetryAttempts"] for d in done) > 0


@pytest.mark.parametrize(
    "error",
    [
        errors.ValidationError("bad", fields=[("Name", "is required")]),
        errors.AccessDenied("no"),
        errors.NotFound("gone", "device-1", "device"),
        errors.Conflict("busy", "device-1", "device"),
        errors.QuotaExceeded("full", "devices", "device-1", "device"),
        errors.InternalError("oops", retry_after_s=3),
    ],
    ids=lambda e: e.code,
)
def test_each_error_is_what_botocore_parses_into_its_modeled_exception(error):
    """The bytes the console sends for each error, through botocore's own rest-json parser."""
    from botocore.parsers import RestJSONParser

    response = protocol.error_response(error)
    operation = protocol.service_model().operation_model("DescribeDevice")
    parsed = RestJSONParser().parse(
        {
            "status_code": response.status_code,
            "headers": {k.lower(): v for k, v in response.items()},
            "body": response.content,
        },
        operation.output_shape,
    )
    assert parsed["Error"]["Code"] == error.code
    assert parsed["Error"]["Message"] == error.message
    shape = protocol.service_model().shape_for(error.code)
    assert shape.metadata["error"]["httpStatusCode"] == response.status_code
    if isinstance(error, errors.InternalError):
        assert response["Retry-After"] == "3"
    for member in shape.required_members:
        assert member in error.body() or member == "Message", member


def dummy(shape):
    """A value of ``shape`` with its required members filled in (what botocore needs to send)."""
    kind = shape.type_name
    if kind == "structure":
        names = shape.required_members or (list(shape.members)[:1] if shape.is_tagged_union else [])
        return {name: dummy(shape.members[name]) for name in names}
    if kind == "list":
        return [dummy(shape.member)]
    if kind == "map":
        return {"k": dummy(shape.value)}
    if kind in ("integer", "long"):
        return 1
    if kind == "boolean":
        return False
    if kind == "blob":
        return b"x"
    return shape.enum[0] if shape.enum else "x"


def test_a_viewer_key_is_refused_every_mutating_operation(panorama):
    from botocore import xform_name

    from panorama_api.registry import OPERATIONS

    viewer = panorama(Role.VIEWER)
    mutating = sorted(name for name, op in OPERATIONS.items() if op.mutating)
    assert len(mutating) == 15  # every POST, PUT and DELETE of the model
    for name in mutating:
        model = protocol.service_model().operation_model(name)
        params = dummy(model.input_shape) if model.input_shape else {}
        with pytest.raises(viewer.exceptions.AccessDeniedException, match="needs the"):
            getattr(viewer, xform_name(name))(**params)
