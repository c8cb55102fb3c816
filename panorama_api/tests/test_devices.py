"""Devices and device jobs through boto3's real ``panorama`` client against the live console:
ProvisionDevice (whose archive provisions the real agent's way), DescribeDevice, ListDevices,
UpdateDeviceMetadata, DeleteDevice, CreateJobForDevices, DescribeDeviceJob, ListDevicesJobs."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import Installation
from core.roles import Role
from core.status import UpdateProgress
from devicelink import PROVISION_PATH, auth
from devicelink.archive import CONFIG_MEMBER, read_archive
from devicelink.network import NetworkStatus
from devices.models import DeletedDevice, Device, DeviceJob
from devices.provisioning import create_device
from edge_agent.console_http import post_json, url_for
from edge_agent.provision import provision_body
from tests.support.devices import NETWORK_STATUS, image, online_device
from tests.support.panorama import checked, error_of

pytestmark = pytest.mark.django_db(transaction=True)

STATIC = {
    "Ethernet0": {
        "ConnectionType": "STATIC_IP",
        "StaticIpConnectionInfo": {
            "IpAddress": "192.168.0.10",
            "Mask": "255.255.255.0",
            "DefaultGateway": "192.168.0.1",
            "Dns": ["192.168.0.2"],
        },
    },
    "Ethernet1": {"ConnectionType": "DHCP"},
    "Ntp": {"NtpServers": ["time.example.com"]},
}


# --- ProvisionDevice ------------------------------------------------------------------------------


def test_provision_device_returns_the_archive_that_provisions_the_agent(
    panorama, live_server, settings
):
    settings.CONSOLE_URL = live_server.url
    client = checked(panorama(Role.ADMINISTRATOR))
    answer = client.provision_device(
        Name="lobby-1",
        Description="Front desk",
        Tags={"site": "hq", "floor": "1"},
        NetworkingConfiguration=STATIC,
    )
    device = Device.objects.get(name="lobby-1")
    account = Installation.get().account_id
    assert answer["Status"] == "AWAITING_PROVISIONING"
    assert answer["DeviceId"] == device.device_id
    assert answer["IotThingName"] == device.device_id
    assert answer["Arn"] == f"arn:aws:panorama:us-west-2:{account}:device/{device.device_id}"
    assert device.description == "Front desk"
    assert device.tags == {"site": "hq", "floor": "1"}
    assert device.network_config["Ethernet0"]["StaticIpConnectionInfo"]["IpAddress"] == (
        "192.168.0.10"
    )

    # The setup wizard's archive: a zip with vantage-device.json, its credential stored hashed.
    data = answer["Certificates"]
    assert CONFIG_MEMBER in zipfile.ZipFile(io.BytesIO(data)).namelist()
    archive, _ca = read_archive(data)
    assert archive.device_id == device.device_id
    assert archive.device_name == "lobby-1"
    assert archive.console_url == live_server.url
    assert archive.network.Ethernet0.ConnectionType == "STATIC_IP"
    assert archive.network.Ntp.NtpServers == ["time.example.com"]
    credential = device.credentials.get()
    assert credential.credential_id == archive.credential_id
    assert credential.matches(archive.provisioning_token)

    # The agent registers with it exactly as it does from the USB drive.
    key = auth.generate_private_key()
    body = provision_body(
        archive,
        key,
        serial_number="123456789012",
        software_version="1.0.0",
        network_status=NetworkStatus.model_validate(NETWORK_STATUS),
    )
    registered = post_json(url_for(archive.console_url, PROVISION_PATH), body, None)
    assert registered.status == 200, registered.error

    described = client.describe_device(DeviceId=device.device_id)
    assert described["ProvisioningStatus"] == "PENDING"
    assert described["DeviceAggregatedStatus"] == "PENDING"
    assert described["SerialNumber"] == "123456789012"
    assert described["CurrentSoftware"] == "1.0.0"
    assert described["CurrentNetworkingStatus"]["Ethernet0Status"] == {
        "IpAddress": "192.168.0.10/24",
        "ConnectionStatus": "CONNECTED",
        "HwAddress": "8e:0f:aa:bb:cc:dd",
    }
    assert described["NetworkingConfiguration"] == STATIC
    # The archive is good once.
    again = post_json(url_for(archive.console_url, PROVISION_PATH), body, None)
    assert again.status == 403
    assert client.checked_operations == {"ProvisionDevice", "DescribeDevice"}


def test_provision_device_defaults_to_dhcp_and_pool_ntp(panorama):
    client = checked(panorama())
    answer = client.provision_device(Name="dock-2")
    described = client.describe_device(DeviceId=answer["DeviceId"])
    assert described["NetworkingConfiguration"] == {
        "Ethernet0": {"ConnectionType": "DHCP"},
        "Ethernet1": {"ConnectionType": "DHCP"},
        "Ntp": {"NtpServers": ["pool.ntp.org"]},
    }
    assert described["Tags"] == {}
    assert "Description" not in described or described["Description"] == ""
    assert "CurrentNetworkingStatus" not in described
    assert "LatestDeviceJob" not in described


def test_provision_device_checks_the_network_as_the_wizard_does(panorama):
    client = panorama()
    outside = json.loads(json.dumps(STATIC))
    outside["Ethernet0"]["StaticIpConnectionInfo"]["DefaultGateway"] = "10.0.0.1"
    with pytest.raises(client.exceptions.ValidationException) as caught:
        client.provision_device(Name="lobby-1", NetworkingConfiguration=outside)
    error = error_of(caught)
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Reason"] == "FIELD_VALIDATION_FAILED"
    [field] = error["Fields"]
    assert field["Name"].startswith("NetworkingConfiguration.Ethernet0.StaticIpConnectionInfo")
    assert "10.0.0.1 is outside the subnet 192.168.0.0/24" in field["Message"]

    no_info = {"Ethernet0": {"ConnectionType": "STATIC_IP"}}
    with pytest.raises(client.exceptions.ValidationException) as caught:
        client.provision_device(Name="lobby-1", NetworkingConfiguration=no_info)
    assert error_of(caught)["Fields"][0]["Name"] == "NetworkingConfiguration.Ethernet0"
    assert not Device.objects.exists()


def test_provision_device_checks_tags_as_the_console_does(panorama):
    client = panorama()
    with pytest.raises(client.exceptions.ValidationException) as caught:
        client.provision_device(Name="lobby-1", Tags={"bad<key>": "x"})
    assert error_of(caught)["Fields"][0]["Name"] == "Tags"
    assert not Device.objects.exists()


def test_a_taken_name_is_a_conflict(panorama):
    client = panorama()
    client.provision_device(Name="lobby-1")
    with pytest.raises(client.exceptions.ConflictException) as caught:
        client.provision_device(Name="lobby-1")
    error = error_of(caught)
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert error["ResourceId"] == "lobby-1"
    assert error["ResourceType"] == "device"
    assert "lobby-1 exists already" in error["Error"]["Message"]
    assert Device.objects.count() == 1


def test_the_device_quota_is_a_402(panorama, settings):
    settings.DEVICE_QUOTA = 1
    client = panorama()
    client.provision_device(Name="lobby-1")
    with pytest.raises(client.exceptions.ServiceQuotaExceededException) as caught:
        client.provision_device(Name="lobby-2")
    error = error_of(caught)
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 402
    assert error["QuotaCode"] == "devices"
    assert error["ServiceCode"] == "panorama"
    assert "DEVICE_QUOTA" in error["Error"]["Message"]
    assert list(Device.objects.values_list("name", flat=True)) == ["lobby-1"]


# --- DescribeDevice, ListDevices ------------------------------------------------------------------


def test_describe_device_tells_everything_the_console_knows(panorama):
    device = online_device(
        "lobby-1",
        description="Front desk",
        tags={"site": "hq"},
        network_status=NETWORK_STATUS,
        network_updated=timezone.now(),
        network_config={"Ethernet0": {"ConnectionType": "DHCP"}},
    )
    image("1.2.0")
    job = DeviceJob.objects.create(
        job_id=f"{device.device_id}-1",
        device=device,
        job_type="OTA",
        image_version="1.2.0",
        status=UpdateProgress.DOWNLOADING,
    )
    client = checked(panorama(Role.VIEWER))
    described = client.describe_device(DeviceId=device.device_id)
    account = Installation.get().account_id
    assert described["DeviceId"] == device.device_id
    assert described["Name"] == "lobby-1"
    assert described["Arn"] == f"arn:aws:panorama:us-west-2:{account}:device/{device.device_id}"
    assert described["Description"] == "Front desk"
    assert described["Type"] == "PANORAMA_APPLIANCE"
    assert described["Brand"] == "AWS_PANORAMA"
    assert described["SerialNumber"] == "123456789012"
    assert described["Tags"] == {"site": "hq"}
    assert described["ProvisioningStatus"] == "SUCCEEDED"
    assert described["DeviceConnectionStatus"] == "ONLINE"
    assert described["DeviceAggregatedStatus"] == device.aggregated_status == "ONLINE"
    assert described["CurrentSoftware"] == "1.0.0"
    assert described["LatestSoftware"] == "1.2.0"
    assert described["LatestDeviceJob"] == {
        "ImageVersion": "1.2.0",
        "JobType": "OTA",
        "Status": "DOWNLOADING",
    }
    assert abs(described["CreatedTime"] - device.created) < timedelta(seconds=1)
    assert abs(described["LeaseExpirationTime"] - device.lease_expires_at) < timedelta(seconds=1)
    status = described["CurrentNetworkingStatus"]
    assert status["Ethernet0Status"] == {
        "IpAddress": "192.168.0.10/24",
        "ConnectionStatus": "CONNECTED",
        "HwAddress": "8e:0f:aa:bb:cc:dd",
    }
    assert status["NtpStatus"]["NtpServerName"] == "pool.ntp.org"
    assert "LastUpdatedTime" in status
    assert described["NetworkingConfiguration"]["Ethernet0"] == {"ConnectionType": "DHCP"}
    assert client.describe_device_job(JobId=job.job_id)["Status"] == "DOWNLOADING"


def test_describing_an_unknown_device_is_a_404(panorama):
    client = panorama(Role.VIEWER)
    with pytest.raises(client.exceptions.ResourceNotFoundException) as caught:
        client.describe_device(DeviceId="device-nosuchdevice")
    error = error_of(caught)
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert error["ResourceId"] == "device-nosuchdevice"
    assert error["ResourceType"] == "device"


def _devices_in_creation_order(*names: str) -> list[Device]:
    devices = []
    start = timezone.now() - timedelta(hours=1)
    for minute, name in enumerate(names):
        device = create_device(name=name)
        Device.objects.filter(pk=device.pk).update(created=start + timedelta(minutes=minute))
        devices.append(device)
    return devices


def test_list_devices_sorts_filters_and_pages(panorama):
    a, b, c = _devices_in_creation_order("north-b", "north-a", "south-c")
    Device.objects.filter(pk=c.pk).update(
        provisioning_status="SUCCEEDED", connection_status="ONLINE", tags={"site": "hq"}
    )
    client = checked(panorama(Role.VIEWER))

    listed = client.list_devices()
    # Newest first by default.
    assert [d["Name"] for d in listed["Devices"]] == ["south-c", "north-a", "north-b"]
    assert "NextToken" not in listed
    south = listed["Devices"][0]
    assert south["DeviceId"] == c.device_id
    assert south["DeviceAggregatedStatus"] == "ONLINE"
    assert south["ProvisioningStatus"] == "SUCCEEDED"
    assert south["Tags"] == {"site": "hq"}
    assert {"CreatedTime", "LastUpdatedTime", "Brand", "Type"} <= set(south)

    by_name = client.list_devices(SortBy="NAME", SortOrder="ASCENDING")
    assert [d["Name"] for d in by_name["Devices"]] == ["north-a", "north-b", "south-c"]
    oldest = client.list_devices(SortOrder="ASCENDING")
    assert [d["Name"] for d in oldest["Devices"]] == ["north-b", "north-a", "south-c"]
    by_status = client.list_devices(SortBy="DEVICE_AGGREGATED_STATUS", SortOrder="ASCENDING")
    assert by_status["Devices"][-1]["Name"] == "south-c"  # ONLINE after AWAITING_PROVISIONING
    by_id = client.list_devices(SortBy="DEVICE_ID", SortOrder="DESCENDING")
    assert [d["DeviceId"] for d in by_id["Devices"]] == sorted(
        [a.device_id, b.device_id, c.device_id], reverse=True
    )

    prefixed = client.list_devices(NameFilter="north", SortBy="NAME", SortOrder="ASCENDING")
    assert [d["Name"] for d in prefixed["Devices"]] == ["north-a", "north-b"]
    assert client.list_devices(NameFilter="orth")["Devices"] == []
    online = client.list_devices(DeviceAggregatedStatusFilter="ONLINE")
    assert [d["Name"] for d in online["Devices"]] == ["south-c"]
    waiting = client.list_devices(DeviceAggregatedStatusFilter="AWAITING_PROVISIONING")
    assert {d["Name"] for d in waiting["Devices"]} == {"north-a", "north-b"}

    # One at a time, across pages.
    names, token, pages = [], None, 0
    while True:
        kwargs = {"MaxResults": 1, "SortBy": "NAME", "SortOrder": "ASCENDING"}
        answer = client.list_devices(**kwargs, **({"NextToken": token} if token else {}))
        pages += 1
        assert len(answer["Devices"]) == 1
        names.append(answer["Devices"][0]["Name"])
        token = answer.get("NextToken")
        if not token:
            break
    assert names == ["north-a", "north-b", "south-c"]
    assert pages == 3


def test_a_forged_next_token_is_a_validation_error(panorama):
    _devices_in_creation_order("north-a", "north-b")
    client = panorama(Role.VIEWER)
    first = client.list_devices(MaxResults=1)
    token = first["NextToken"]
    with pytest.raises(client.exceptions.ValidationException) as caught:
        client.list_devices(MaxResults=1, NextToken=token[:-2] + "xx")
    assert error_of(caught)["Fields"][0]["Name"] == "NextToken"
    # A token of another list is no good either.
    with pytest.raises(client.exceptions.ValidationException):
        client.list_devices_jobs(NextToken=token)


# --- UpdateDeviceMetadata, DeleteDevice -----------------------------------------------------------


def test_update_device_metadata_changes_the_description(panorama, admin_client):
    device = create_device(name="lobby-1", description="old")
    client = checked(panorama())
    assert (
        client.update_device_metadata(DeviceId=device.device_id, Description="Front door")[
            "DeviceId"
        ]
        == device.device_id
    )
    device.refresh_from_db()
    assert device.description == "Front door"
    assert client.describe_device(DeviceId=device.device_id)["Description"] == "Front door"
    # The device page shows it.
    page = admin_client.get(f"/devices/{device.device_id}/").content.decode()
    assert "Front door" in page
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.update_device_metadata(DeviceId="device-nosuchdevice", Description="x")


def test_delete_device_deletes_it_as_the_console_does(panorama):
    device = create_device(name="lobby-1")
    client = checked(panorama())
    assert client.delete_device(DeviceId=device.device_id)["DeviceId"] == device.device_id
    assert not Device.objects.filter(device_id=device.device_id).exists()
    assert DeletedDevice.objects.filter(device_id=device.device_id, name="lobby-1").exists()
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.describe_device(DeviceId=device.device_id)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.delete_device(DeviceId=device.device_id)


# --- roles ----------------------------------------------------------------------------------------


def _mutations(device_id: str) -> dict:
    return {
        "provision_device": {"Name": "lobby-9"},
        "update_device_metadata": {"DeviceId": device_id, "Description": "x"},
        "delete_device": {"DeviceId": device_id},
        "create_job_for_devices": {"DeviceIds": [device_id], "JobType": "REBOOT"},
    }


def test_a_viewer_reads_but_cannot_change_anything(panorama):
    device = online_device("lobby-1", description="before")
    client = panorama(Role.VIEWER)
    for method, kwargs in _mutations(device.device_id).items():
        with pytest.raises(client.exceptions.AccessDeniedException) as caught:
            getattr(client, method)(**kwargs)
        assert error_of(caught)["ResponseMetadata"]["HTTPStatusCode"] == 403, method
    assert client.describe_device(DeviceId=device.device_id)["Description"] == "before"
    assert len(client.list_devices()["Devices"]) == 1
    assert client.list_devices_jobs()["DeviceJobs"] == []
    assert not DeviceJob.objects.exists()
    assert list(Device.objects.values_list("name", flat=True)) == ["lobby-1"]


def test_provisioning_editing_and_deleting_devices_is_the_administrators(panorama):
    device = online_device("lobby-1", description="before")
    client = panorama(Role.OPERATOR)
    for method, kwargs in _mutations(device.device_id).items():
        if method == "create_job_for_devices":
            continue  # operators run jobs (test_a_reboot_job_...)
        with pytest.raises(client.exceptions.AccessDeniedException):
            getattr(client, method)(**kwargs)
    device.refresh_from_db()
    assert device.description == "before"
    assert Device.objects.count() == 1


def test_arns_use_the_region_setting(panorama):
    device = create_device(name="lobby-1")
    answer = panorama().describe_device(DeviceId=device.device_id)
    assert re.fullmatch(
        rf"arn:aws:panorama:us-west-2:\d{{12}}:device/{device.device_id}", answer["Arn"]
    )
