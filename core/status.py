"""The one status vocabulary of Vantage: the Panorama enums (spec section 7.3).

Models use these choices for their status fields, and the status badge partial
(``templates/partials/status_badge.html``) shows every value with the same tone and icon
everywhere, so an operator learns one colour language.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.db import models

from devicelink import status as link


def _choices(name: str, enum: type[StrEnum], **labels: str) -> Any:
    """Django choices made from one of the link's enums (``devicelink/status.py``), which
    defines the values: its members in its order, each labelled with its value in words unless
    ``labels`` names it. Typed ``Any``: a type checker cannot see members made at run time."""
    members = [(m.name, (m.value, labels.get(m.name, _words(m.value)))) for m in enum]
    make: Any = models.TextChoices  # the functional API, which django-stubs does not describe
    return make(name, members)


def _words(value: str) -> str:
    return value.replace("_", " ").capitalize()


class DeviceStatus(models.TextChoices):
    """Provisioning status of an appliance."""

    AWAITING_PROVISIONING = "AWAITING_PROVISIONING", "Awaiting provisioning"
    PENDING = "PENDING", "Pending"
    SUCCEEDED = "SUCCEEDED", "Succeeded"
    FAILED = "FAILED", "Failed"
    ERROR = "ERROR", "Error"
    DELETING = "DELETING", "Deleting"


class DeviceConnectionStatus(models.TextChoices):
    ONLINE = "ONLINE", "Online"
    OFFLINE = "OFFLINE", "Offline"
    AWAITING_CREDENTIALS = "AWAITING_CREDENTIALS", "Awaiting credentials"
    NOT_AVAILABLE = "NOT_AVAILABLE", "Not available"
    ERROR = "ERROR", "Error"


class DeviceAggregatedStatus(models.TextChoices):
    ERROR = "ERROR", "Error"
    AWAITING_PROVISIONING = "AWAITING_PROVISIONING", "Awaiting provisioning"
    PENDING = "PENDING", "Pending"
    FAILED = "FAILED", "Failed"
    DELETING = "DELETING", "Deleting"
    ONLINE = "ONLINE", "Online"
    OFFLINE = "OFFLINE", "Offline"
    LEASE_EXPIRED = "LEASE_EXPIRED", "Lease expired"
    UPDATE_NEEDED = "UPDATE_NEEDED", "Update needed"
    REBOOTING = "REBOOTING", "Rebooting"


class DeviceType(models.TextChoices):
    PANORAMA_APPLIANCE_DEVELOPER_KIT = "PANORAMA_APPLIANCE_DEVELOPER_KIT", "Developer kit"
    PANORAMA_APPLIANCE = "PANORAMA_APPLIANCE", "Appliance"


class DeviceBrand(models.TextChoices):
    AWS_PANORAMA = "AWS_PANORAMA", "AWS Panorama"
    LENOVO = "LENOVO", "Lenovo"


NetworkConnectionStatus = _choices("NetworkConnectionStatus", link.NetworkConnectionStatus)
ConnectionType = _choices("ConnectionType", link.ConnectionType, STATIC_IP="Static IP", DHCP="DHCP")


class ApplicationInstanceStatus(models.TextChoices):
    DEPLOYMENT_PENDING = "DEPLOYMENT_PENDING", "Deployment pending"
    DEPLOYMENT_REQUESTED = "DEPLOYMENT_REQUESTED", "Deployment requested"
    DEPLOYMENT_IN_PROGRESS = "DEPLOYMENT_IN_PROGRESS", "Deployment in progress"
    DEPLOYMENT_ERROR = "DEPLOYMENT_ERROR", "Deployment error"
    DEPLOYMENT_SUCCEEDED = "DEPLOYMENT_SUCCEEDED", "Deployment succeeded"
    REMOVAL_PENDING = "REMOVAL_PENDING", "Removal pending"
    REMOVAL_REQUESTED = "REMOVAL_REQUESTED", "Removal requested"
    REMOVAL_IN_PROGRESS = "REMOVAL_IN_PROGRESS", "Removal in progress"
    REMOVAL_FAILED = "REMOVAL_FAILED", "Removal failed"
    REMOVAL_SUCCEEDED = "REMOVAL_SUCCEEDED", "Removal succeeded"
    DEPLOYMENT_FAILED = "DEPLOYMENT_FAILED", "Deployment failed"


class ApplicationInstanceHealthStatus(models.TextChoices):
    RUNNING = "RUNNING", "Running"
    ERROR = "ERROR", "Error"
    NOT_AVAILABLE = "NOT_AVAILABLE", "Not available"


class StatusFilter(models.TextChoices):
    DEPLOYMENT_SUCCEEDED = "DEPLOYMENT_SUCCEEDED", "Deployment succeeded"
    DEPLOYMENT_ERROR = "DEPLOYMENT_ERROR", "Deployment error"
    REMOVAL_SUCCEEDED = "REMOVAL_SUCCEEDED", "Removal succeeded"
    REMOVAL_FAILED = "REMOVAL_FAILED", "Removal failed"
    PROCESSING_DEPLOYMENT = "PROCESSING_DEPLOYMENT", "Processing deployment"
    PROCESSING_REMOVAL = "PROCESSING_REMOVAL", "Processing removal"
    DEPLOYMENT_FAILED = "DEPLOYMENT_FAILED", "Deployment failed"


class DesiredState(models.TextChoices):
    RUNNING = "RUNNING", "Running"
    STOPPED = "STOPPED", "Stopped"
    REMOVED = "REMOVED", "Removed"


# The link's vocabulary: the values are devicelink's, the labels the console's.
DeviceReportedStatus = _choices("DeviceReportedStatus", link.DeviceReportedStatus)
NodeInstanceStatus = _choices("NodeInstanceStatus", link.NodeInstanceStatus)
NodeSignalValue = _choices("NodeSignalValue", link.NodeSignal)
JobType = _choices("JobType", link.JobType, OTA="Software update")
UpdateProgress = _choices("UpdateProgress", link.UpdateProgress)


class NodeCategory(models.TextChoices):
    BUSINESS_LOGIC = "BUSINESS_LOGIC", "Business logic"
    ML_MODEL = "ML_MODEL", "ML model"
    MEDIA_SOURCE = "MEDIA_SOURCE", "Media source"
    MEDIA_SINK = "MEDIA_SINK", "Media sink"


class PortType(models.TextChoices):
    BOOLEAN = "BOOLEAN", "Boolean"
    STRING = "STRING", "String"
    INT32 = "INT32", "Int32"
    FLOAT32 = "FLOAT32", "Float32"
    MEDIA = "MEDIA", "Media"


class PackageVersionStatus(models.TextChoices):
    REGISTER_PENDING = "REGISTER_PENDING", "Register pending"
    REGISTER_COMPLETED = "REGISTER_COMPLETED", "Registered"
    FAILED = "FAILED", "Failed"
    DELETING = "DELETING", "Deleting"


class PackageImportJobStatus(models.TextChoices):
    PENDING = "PENDING", "Pending"
    SUCCEEDED = "SUCCEEDED", "Succeeded"
    FAILED = "FAILED", "Failed"


class PackageImportJobType(models.TextChoices):
    NODE_PACKAGE_VERSION = "NODE_PACKAGE_VERSION", "Node package version"
    MARKETPLACE_NODE_PACKAGE_VERSION = (
        "MARKETPLACE_NODE_PACKAGE_VERSION",
        "Marketplace node package version",
    )


class NodeFromTemplateJobStatus(models.TextChoices):
    PENDING = "PENDING", "Pending"
    SUCCEEDED = "SUCCEEDED", "Succeeded"
    FAILED = "FAILED", "Failed"


class ModelCompileStatus(models.TextChoices):
    """Vantage's own: a model asset compiled to ONNX (Panorama compiled with SageMaker Neo)."""

    PENDING = "PENDING", "Pending"
    IN_PROGRESS = "IN_PROGRESS", "In progress"
    SUCCEEDED = "SUCCEEDED", "Succeeded"
    FAILED = "FAILED", "Failed"


class TemplateType(models.TextChoices):
    RTSP_CAMERA_STREAM = "RTSP_CAMERA_STREAM", "RTSP camera stream"


class JobResourceType(models.TextChoices):
    PACKAGE = "PACKAGE", "Package"


# Enums of the spec that are statuses an operator watches: every value of these has a badge.
STATUS_ENUMS: tuple[type[models.TextChoices], ...] = (
    DeviceStatus,
    DeviceConnectionStatus,
    DeviceAggregatedStatus,
    NetworkConnectionStatus,
    ApplicationInstanceStatus,
    ApplicationInstanceHealthStatus,
    StatusFilter,
    DesiredState,
    DeviceReportedStatus,
    NodeInstanceStatus,
    NodeSignalValue,
    JobType,
    UpdateProgress,
    NodeCategory,
    PortType,
    PackageVersionStatus,
    PackageImportJobStatus,
    NodeFromTemplateJobStatus,
    ModelCompileStatus,
    ConnectionType,
    DeviceType,
    DeviceBrand,
    TemplateType,
    PackageImportJobType,
    JobResourceType,
)


@dataclass(frozen=True)
class BadgeStyle:
    tone: str  # success, danger, warning, info, secondary, primary, dark
    icon: str  # a bootstrap-icons name
    busy: bool = False  # the value is a transition in progress: shown with a spinner


_OK = BadgeStyle("success", "check-circle-fill")
_BAD = BadgeStyle("danger", "x-octagon-fill")
_WARN = BadgeStyle("warning", "exclamation-triangle-fill")
_BUSY = BadgeStyle("info", "arrow-repeat", busy=True)
_WAIT = BadgeStyle("secondary", "hourglass-split")
_IDLE = BadgeStyle("secondary", "dash-circle")
_INFO = BadgeStyle("primary", "info-circle")

# The tone of each value, by meaning. A value used by several enums means the same everywhere
# (ERROR is always red, RUNNING always green).
_STYLE_BY_VALUE: dict[str, BadgeStyle] = {
    # healthy, finished well
    "SUCCEEDED": _OK,
    "ONLINE": _OK,
    "CONNECTED": _OK,
    "RUNNING": _OK,
    "DEPLOYMENT_SUCCEEDED": _OK,
    "REMOVAL_SUCCEEDED": BadgeStyle("secondary", "check-circle"),
    "COMPLETED": _OK,
    "REGISTER_COMPLETED": _OK,
    "LAUNCHED": _OK,
    # failed
    "FAILED": _BAD,
    "ERROR": _BAD,
    "DEPLOYMENT_ERROR": _BAD,
    "DEPLOYMENT_FAILED": _BAD,
    "REMOVAL_FAILED": _BAD,
    "STOP_ERROR": _BAD,
    "INSTALL_ERROR": _BAD,
    "LAUNCH_ERROR": _BAD,
    # needs attention
    "OFFLINE": BadgeStyle("danger", "wifi-off"),
    "LEASE_EXPIRED": _WARN,
    "UPDATE_NEEDED": BadgeStyle("warning", "cloud-arrow-down-fill"),
    "NOT_CONNECTED": BadgeStyle("warning", "plug"),
    "AWAITING_CREDENTIALS": _WARN,
    "PAUSED": BadgeStyle("warning", "pause-circle-fill"),
    "PAUSE": BadgeStyle("warning", "pause-circle"),
    # in progress
    "PENDING": _WAIT,
    "AWAITING_PROVISIONING": _WAIT,
    "DEPLOYMENT_PENDING": _WAIT,
    "REMOVAL_PENDING": _WAIT,
    "REGISTER_PENDING": _WAIT,
    "DEPLOYMENT_REQUESTED": _BUSY,
    "DEPLOYMENT_IN_PROGRESS": _BUSY,
    "PROCESSING_DEPLOYMENT": _BUSY,
    "REMOVAL_REQUESTED": _BUSY,
    "REMOVAL_IN_PROGRESS": _BUSY,
    "PROCESSING_REMOVAL": _BUSY,
    "IN_PROGRESS": _BUSY,
    "DOWNLOADING": BadgeStyle("info", "download", busy=True),
    "VERIFYING": BadgeStyle("info", "shield-check", busy=True),
    "REBOOTING": BadgeStyle("info", "bootstrap-reboot", busy=True),
    "CONNECTING": _BUSY,
    "DELETING": BadgeStyle("secondary", "trash", busy=True),
    "STARTING": _BUSY,
    "STOPPING": _BUSY,
    "INSTALL_IN_PROGRESS": _BUSY,
    # neutral
    "NOT_AVAILABLE": _IDLE,
    "STOPPED": _IDLE,
    "REMOVED": _IDLE,
    "RESUME": BadgeStyle("success", "play-circle"),
}

_DEFAULT_STYLE = _INFO


def badge_style(value: str) -> BadgeStyle:
    return _STYLE_BY_VALUE.get(value, _DEFAULT_STYLE)


def status_label(value: str) -> str:
    """The human label of an enum value, from whichever enum defines it."""
    for enum in STATUS_ENUMS:
        if value in enum.values:
            return str(enum(value).label)
    return value.replace("_", " ").capitalize()
