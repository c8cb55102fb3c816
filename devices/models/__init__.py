from devices.models.devices import (
    LINK_FIELDS,
    DeletedDevice,
    Device,
    DeviceQuerySet,
    LinkTransport,
    ProvisioningCredential,
    UsedNonce,
    aggregated_status_expression,
    hash_token,
)
from devices.models.jobs import TERMINAL_JOB_STATUSES, DeviceJob, DeviceJobEvent
from devices.models.logs import DeviceLog
from devices.models.software import SoftwareImage

__all__ = [
    "LINK_FIELDS",
    "TERMINAL_JOB_STATUSES",
    "DeletedDevice",
    "Device",
    "DeviceJob",
    "DeviceJobEvent",
    "DeviceLog",
    "DeviceQuerySet",
    "LinkTransport",
    "ProvisioningCredential",
    "SoftwareImage",
    "UsedNonce",
    "aggregated_status_expression",
    "hash_token",
]
