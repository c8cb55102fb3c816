"""TagResource, UntagResource, ListTagsForResource on devices, node packages and application
instances, through boto3's real ``panorama`` client: the very tags the console's pages show."""

from __future__ import annotations

import pytest

from applications.models import ApplicationInstance, NodePackage
from core.models import Installation
from core.roles import Role
from devices.models import Device
from devices.provisioning import create_device
from panorama_api.arns import arn
from tests.support.devices import online_device
from tests.support.panorama import checked, error_of

pytestmark = pytest.mark.django_db(transaction=True)


def _round_trip(client, resource_arn: str, stored) -> None:
    """Tag, list, retag, untag ``resource_arn``; ``stored()`` reads the tags the console keeps."""
    assert client.list_tags_for_resource(ResourceArn=resource_arn)["Tags"] == {}
    client.tag_resource(ResourceArn=resource_arn, Tags={"site": "hq", "floor": "1"})
    assert stored() == {"site": "hq", "floor": "1"}
    assert client.list_tags_for_resource(ResourceArn=resource_arn)["Tags"] == {
        "site": "hq",
        "floor": "1",
    }
    # Tagging adds and replaces; it never drops the other keys.
    client.tag_resource(ResourceArn=resource_arn, Tags={"floor": "2", "owner": ""})
    assert stored() == {"site": "hq", "floor": "2", "owner": ""}
    client.untag_resource(ResourceArn=resource_arn, TagKeys=["site", "owner", "not-there"])
    assert stored() == {"floor": "2"}
    assert client.list_tags_for_resource(ResourceArn=resource_arn)["Tags"] == {"floor": "2"}


def test_device_tags_are_the_ones_the_device_page_shows(panorama, viewer_client):
    device = create_device(name="lobby-1")
    client = checked(panorama(Role.OPERATOR))
    resource_arn = client.describe_device(DeviceId=device.device_id)["Arn"]
    _round_trip(client, resource_arn, lambda: Device.objects.get(pk=device.pk).tags)

    client.tag_resource(ResourceArn=resource_arn, Tags={"camera-group": "north"})
    page = viewer_client.get(f"/devices/{device.device_id}/").content.decode()
    assert "camera-group" in page
    assert "north" in page
    assert client.describe_device(DeviceId=device.device_id)["Tags"] == {
        "floor": "2",
        "camera-group": "north",
    }
    assert client.checked_operations >= {"TagResource", "UntagResource", "ListTagsForResource"}


def test_application_instance_tags_are_the_ones_its_page_shows(panorama, viewer_client):
    device = online_device("lobby-1")
    instance = ApplicationInstance.objects.create(name="people-counter", device=device)
    client = checked(panorama(Role.OPERATOR))
    resource_arn = arn("applicationInstance", instance.application_instance_id)
    _round_trip(client, resource_arn, lambda: ApplicationInstance.objects.get(pk=instance.pk).tags)
    client.tag_resource(ResourceArn=resource_arn, Tags={"team": "retail"})
    page = viewer_client.get(f"/applications/{instance.application_instance_id}/")
    assert "retail" in page.content.decode()


def test_package_tags_are_the_ones_its_page_shows(panorama, viewer_client):
    client = checked(panorama(Role.OPERATOR))
    created = client.create_package(PackageName="lobby_camera")
    package = NodePackage.objects.get(name="lobby_camera")
    assert package.account_id == Installation.get().account_id
    _round_trip(client, created["Arn"], lambda: NodePackage.objects.get(pk=package.pk).tags)
    client.tag_resource(ResourceArn=created["Arn"], Tags={"team": "retail"})
    page = viewer_client.get(f"/packages/{package.pk}/").content.decode()
    assert "team: retail" in page


def test_unknown_resources_are_404(panorama):
    client = panorama(Role.OPERATOR)
    device = create_device(name="lobby-1")
    account = Installation.get().account_id
    other_account = "999999999999" if account != "999999999999" else "888888888888"
    unknown = [
        arn("device", "device-nosuchdevice"),
        arn("applicationInstance", "applicationInstance-nosuchinstance"),
        arn("package", "nosuchpackage"),
        f"arn:aws:panorama:us-west-2:{other_account}:device/{device.device_id}",
        "not-an-arn",
    ]
    for resource_arn in unknown:
        with pytest.raises(client.exceptions.ResourceNotFoundException) as caught:
            client.list_tags_for_resource(ResourceArn=resource_arn)
        error = error_of(caught)
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 404
        assert error["ResourceId"] == resource_arn
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            client.tag_resource(ResourceArn=resource_arn, Tags={"a": "b"})
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            client.untag_resource(ResourceArn=resource_arn, TagKeys=["a"])
    assert Device.objects.get(pk=device.pk).tags == {}


def test_tags_obey_the_consoles_rules(panorama):
    device = create_device(name="lobby-1", tags={f"k{i}": "v" for i in range(49)})
    client = panorama(Role.OPERATOR)
    resource_arn = arn("device", device.device_id)
    client.tag_resource(ResourceArn=resource_arn, Tags={"k49": "v"})
    # 51 in all would be one too many, though the request itself holds two.
    with pytest.raises(client.exceptions.ValidationException) as caught:
        client.tag_resource(ResourceArn=resource_arn, Tags={"k50": "v", "k51": "v"})
    error = error_of(caught)
    assert error["Fields"][0]["Name"] == "Tags"
    assert "up to 50 tags" in error["Error"]["Message"]
    with pytest.raises(client.exceptions.ValidationException):
        client.tag_resource(ResourceArn=resource_arn, Tags={"bad<key>": "v"})
    assert len(Device.objects.get(pk=device.pk).tags) == 50


def test_a_viewer_lists_tags_but_cannot_change_them(panorama):
    device = create_device(name="lobby-1", tags={"site": "hq"})
    client = panorama(Role.VIEWER)
    resource_arn = arn("device", device.device_id)
    assert client.list_tags_for_resource(ResourceArn=resource_arn)["Tags"] == {"site": "hq"}
    with pytest.raises(client.exceptions.AccessDeniedException):
        client.tag_resource(ResourceArn=resource_arn, Tags={"a": "b"})
    with pytest.raises(client.exceptions.AccessDeniedException):
        client.untag_resource(ResourceArn=resource_arn, TagKeys=["site"])
    assert Device.objects.get(pk=device.pk).tags == {"site": "hq"}
