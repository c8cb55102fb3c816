"""The statuses both sides of the link speak: Panorama's enums (spec section 7.3) on the wire.

Defined once, here: the link's messages use them as their field types, the agent reports with
them, and the console derives its Django choices from them (``console/status.py``). They are
``StrEnum``s, so a member equals, hashes, formats and encodes as JSON like its value.
"""

from __future__ import annotations

from enum import StrEnum


class DeviceReportedStatus(StrEnum):
    """An application instance's state on the appliance (``applications`` reports)."""

    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    STOP_ERROR = "STOP_ERROR"
    REMOVAL_FAILED = "REMOVAL_FAILED"
    REMOVAL_IN_PROGRESS = "REMOVAL_IN_PROGRESS"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    INSTALL_ERROR = "INSTALL_ERROR"
    LAUNCHED = "LAUNCHED"
    LAUNCH_ERROR = "LAUNCH_ERROR"
    INSTALL_IN_PROGRESS = "INSTALL_IN_PROGRESS"


class NodeInstanceStatus(StrEnum):
    """One node's state inside an instance."""

    RUNNING = "RUNNING"
    ERROR = "ERROR"
    NOT_AVAILABLE = "NOT_AVAILABLE"
    PAUSED = "PAUSED"


class NodeSignal(StrEnum):
    """The operator's last signal to a node (``SignalApplicationInstanceNodeInstances``)."""

    PAUSE = "PAUSE"
    RESUME = "RESUME"


class JobType(StrEnum):
    OTA = "OTA"
    REBOOT = "REBOOT"


class UpdateProgress(StrEnum):
    """A job's progress (``job`` reports)."""

    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    VERIFYING = "VERIFYING"
    REBOOTING = "REBOOTING"
    DOWNLOADING = "DOWNLOADING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class NetworkConnectionStatus(StrEnum):
    CONNECTED = "CONNECTED"
    NOT_CONNECTED = "NOT_CONNECTED"
    CONNECTING = "CONNECTING"


class ConnectionType(StrEnum):
    DHCP = "DHCP"
    STATIC_IP = "STATIC_IP"
