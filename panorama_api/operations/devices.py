"""Appliances: ProvisionDevice, DescribeDevice, ListDevices, UpdateDeviceMetadata, DeleteDevice.

One implementation, two front doors: provisioning is the setup wizard's (``create_device`` and
the archive its *Download file* step hands out), deleting the device page's, listing the device
list's filter; the statuses are already Panorama's enums.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from pydantic import ValidationError as PydanticError

from core import errors as domain
from core.roles import Role
from core.tags import validate_tags
from devicelink.network import NetworkPayload
from devices import live
from devices.deletion import delete_device
from devices.filters import DeviceFilter
from devices.models import Device, DeviceJob, SoftwareImage
from devices.provisioning import create_device, issue_archive
from panorama_api.arns import arn
from panorama_api.call import Call
from panorama_api.errors import Conflict, NotFound, QuotaExceeded, ValidationError
from panorama_api.pagination import page
from panorama_api.registry import operation

DEVICE_QUOTA_CODE = "devices"
SORT_FIELDS = {
    "DEVICE_ID": "device_id",
    "CREATED_TIME": "created",
    "NAME": "name",
    "DEVICE_AGGREGATED_STATUS": "aggregated",
}
# The members of the model's EthernetStatus / NtpStatus (the agent reports a few more).
ETHERNET_STATUS_MEMBERS = ("IpAddress", "ConnectionStatus", "HwAddress")
NTP_STATUS_MEMBERS = ("ConnectionStatus", "IpAddress", "NtpServerName")


# --- shared with jobs.py and tags.py --------------------------------------------------------------


def get_device(device_id: str) -> Device:
    device = Device.objects.with_aggregated_status().filter(device_id=device_id).first()
    if device is None:
        raise NotFound(f"Device {device_id} not found.", device_id, "device")
    return device


def check_tags(tags: dict[str, str], member: str = "Tags") -> dict[str, str]:
    """The console's own tag rules (the same the device pages apply), as a ValidationException."""
    try:
        return validate_tags(tags)
    except DjangoValidationError as exc:
        raise ValidationError(
            " ".join(exc.messages), fields=[(member, message) for message in exc.messages]
        ) from None


def latest_job(job: DeviceJob | None) -> dict[str, Any] | None:
    if job is None:
        return None
    return _present(
        {"ImageVersion": job.image_version, "JobType": job.job_type, "Status": job.status}
    )


def _present(members: dict[str, Any]) -> dict[str, Any]:
    """Leave out what we do not know (None or ""): the model's strings have min 1."""
    return {k: v for k, v in members.items() if v is not None and v != ""}


# --- the shapes ----------------------------------------------------------------------------------


def _network_config(device: Device) -> dict[str, Any]:
    """NetworkPayload as the device was set up with it (defaults filled in, nulls left out)."""
    payload = NetworkPayload.model_validate(device.network_config or {})
    return payload.model_dump(exclude_none=True)


def _network_status(device: Device) -> dict[str, Any] | None:
    reported = device.network_status or {}
    if not reported and device.network_updated is None:
        return None
    status: dict[str, Any] = {}
    for name in ("Ethernet0Status", "Ethernet1Status"):
        if isinstance(reported.get(name), dict):
            status[name] = _present({k: reported[name].get(k) for k in ETHERNET_STATUS_MEMBERS})
    if isinstance(reported.get("NtpStatus"), dict):
        status["NtpStatus"] = _present(
            {k: reported["NtpStatus"].get(k) for k in NTP_STATUS_MEMBERS}
        )
    if device.network_updated is not None:
        status["LastUpdatedTime"] = device.network_updated
    return status


def _aggregated(device: Device) -> str:
    return getattr(device, "aggregated", None) or device.aggregated_status


def describe(device: Device) -> dict[str, Any]:
    latest = SoftwareImage.objects.newest()
    return _present(
        {
            "DeviceId": device.device_id,
            "Name": device.name,
            "Arn": arn("device", device.device_id),
            "Description": device.description,
            "Type": device.device_type,
            "Brand": device.brand,
            "SerialNumber": device.serial_number,
            "Tags": dict(device.tags or {}),
            "CreatedTime": device.created,
            "DeviceConnectionStatus": device.connection_status,
            "ProvisioningStatus": device.provisioning_status,
            "DeviceAggregatedStatus": _aggregated(device),
            "LeaseExpirationTime": device.lease_expires_at,
            "CurrentSoftware": device.current_software,
            "LatestSoftware": latest.version if latest else None,
            "LatestDeviceJob": latest_job(device.jobs.order_by("-created", "-id").first()),
            "NetworkingConfiguration": _network_config(device),
            "CurrentNetworkingStatus": _network_status(device),
        }
    )


def _list_item(device: Device, job: DeviceJob | None) -> dict[str, Any]:
    return _present(
        {
            "DeviceId": device.device_id,
            "Name": device.name,
            "Brand": device.brand,
            "Type": device.device_type,
            "Description": device.description,
            "CreatedTime": device.created,
            "LastUpdatedTime": device.updated,
            "LeaseExpirationTime": device.lease_expires_at,
            "ProvisioningStatus": device.provisioning_status,
            "DeviceAggregatedStatus": _aggregated(device),
            "CurrentSoftware": device.current_software,
            "LatestDeviceJob": latest_job(job),
            "Tags": dict(device.tags or {}),
        }
    )


def _network_payload(value: dict[str, Any] | None) -> dict[str, Any]:
    """NetworkingConfiguration checked as the setup wizard checks it, each problem a field."""
    try:
        return NetworkPayload.model_validate(value or {}).model_dump()
    except PydanticError as exc:
        fields = []
        for error in exc.errors():
            where = ".".join(str(part) for part in ("NetworkingConfiguration", *error["loc"]))
            fields.append((where, str(error.get("ctx", {}).get("error") or error["msg"])))
        raise ValidationError(
            "The networking configuration is not valid: "
            + "; ".join(f"{name}: {message}" for name, message in fields),
            fields=fields,
        ) from None


# --- the operations ------------------------------------------------------------------------------


@operation("ProvisionDevice", role=Role.ADMINISTRATOR)
def provision_device(
    call: Call,
    *,
    Name: str,
    Description: str = "",
    Tags: dict[str, str] | None = None,
    NetworkingConfiguration: dict[str, Any] | None = None,
) -> dict[str, Any]:
    tags = check_tags(Tags or {})
    network = _network_payload(NetworkingConfiguration)
    try:
        with transaction.atomic():
            device = create_device(
                name=Name, description=Description or "", tags=tags, network=network
            )
            # The archive the wizard's "Download file" step hands out, the only copy.
            certificates, _credential = issue_archive(device)
    except domain.QuotaExceeded as exc:
        raise QuotaExceeded(exc.message, DEVICE_QUOTA_CODE) from None
    except DjangoValidationError as exc:
        if getattr(exc, "error_dict", None) and "name" in exc.error_dict:
            raise Conflict(" ".join(exc.messages), Name, "device") from None
        raise ValidationError(" ".join(exc.messages)) from None
    live.device_updated(device, ["status"])
    return {
        "Arn": arn("device", device.device_id),
        "Status": device.provisioning_status,
        "DeviceId": device.device_id,
        "IotThingName": device.device_id,
        "Certificates": certificates,
    }


@operation("DescribeDevice")
def describe_device(call: Call, *, DeviceId: str) -> dict[str, Any]:
    return describe(get_device(DeviceId))


@operation("ListDevices")
def list_devices(
    call: Call,
    *,
    DeviceAggregatedStatusFilter: str | None = None,
    NameFilter: str | None = None,
    SortBy: str = "CREATED_TIME",
    SortOrder: str = "DESCENDING",
    MaxResults: int | None = None,
    NextToken: str | None = None,
) -> dict[str, Any]:
    # The device list's own filter: name prefix and aggregated status.
    devices = DeviceFilter(
        data={"name": NameFilter or "", "status": DeviceAggregatedStatusFilter or ""},
        queryset=Device.objects.with_aggregated_status(),
    ).qs
    field = SORT_FIELDS[SortBy]
    sign = "-" if SortOrder == "DESCENDING" else ""
    devices = devices.order_by(f"{sign}{field}", f"{sign}device_id")
    chunk, token = page(devices, MaxResults, NextToken, "ListDevices")
    jobs: dict[int, DeviceJob] = {}
    for job in DeviceJob.objects.filter(device__in=chunk).order_by("-created", "-id"):
        jobs.setdefault(job.device_id, job)
    result: dict[str, Any] = {"Devices": [_list_item(d, jobs.get(d.pk)) for d in chunk]}
    if token:
        result["NextToken"] = token
    return result


@operation("UpdateDeviceMetadata", role=Role.ADMINISTRATOR)
def update_device_metadata(
    call: Call, *, DeviceId: str, Description: str | None = None
) -> dict[str, Any]:
    device = get_device(DeviceId)
    if Description is not None and Description != device.description:
        device.description = Description
        device.save(update_fields=["description", "updated"])
        live.device_updated(device, ["details"])
    return {"DeviceId": device.device_id}


@operation("DeleteDevice", role=Role.ADMINISTRATOR)
def delete_device_operation(call: Call, *, DeviceId: str) -> dict[str, Any]:
    device = get_device(DeviceId)
    delete_device(device, call.user)
    return {"DeviceId": DeviceId}
