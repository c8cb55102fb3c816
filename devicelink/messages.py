"""Messages on the link WebSocket (``/agent/v1/link``): JSON objects told apart by ``type``.

Agent → console: ``hello`` once after connecting, then ``heartbeat`` every ``heartbeat_s`` and
``report`` for everything that must not be lost (each with a per-device sequence number; the
agent keeps it on disk until the console acknowledges it).
Console → agent: ``welcome`` (answer to hello), ``heartbeat_ack``, ``ack`` (per report),
``desired`` (the desired state, whenever it is newer than what the agent applied), ``revoked``
(the device was deleted; the console closes the link with code 4403 right after),
``check_stream`` (test a camera stream from the appliance; answered by a ``stream_check``
report), ``output_watch`` (someone looks at the HDMI output: the agent sends ``output_frame``
messages, live, until the given time).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from devicelink.appmetrics import clean_app_metrics
from devicelink.apps import ApplicationReport, ApplicationSpec, InvalidApplication, spec_or_invalid
from devicelink.network import NetworkStatus
from devicelink.status import JobType, UpdateProgress


class ProtocolError(Exception):
    """A message that cannot be decoded."""


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore")


# --- agent → console --------------------------------------------------------------------------
class Hello(_Message):
    type: Literal["hello"] = "hello"
    protocol: int
    software_version: str
    applied_version: int = 0
    serial_number: str = ""
    boot_id: str = ""
    # The inference accelerators applications may be given (edge_agent/apps/gpu.py):
    # "nvidia", "jetson"; empty when the appliance has none.
    accelerators: list[str] = Field(default_factory=list, max_length=8)
    # The X25519 key the console seals this device's secrets to (devicelink.sealing), and the
    # device's Ed25519 signature over it; empty from agents that cannot open sealed secrets.
    seal_key: str = Field(default="", max_length=64)
    seal_key_sig: str = Field(default="", max_length=128)


class Health(BaseModel):
    cpu_percent: float | None = None
    memory_percent: float | None = None
    disk_percent: float | None = None
    # Free bytes on the data directory's disk (what the agent may still write); optional, so
    # that heartbeats of agents that do not send it still validate.
    disk_free_bytes: int | None = Field(default=None, ge=0)
    temperature_c: float | None = None
    uptime_s: float | None = None
    load_1m: float | None = None


class Heartbeat(_Message):
    type: Literal["heartbeat"] = "heartbeat"
    id: int
    time: float
    health: Health = Field(default_factory=Health)
    # Per application instance id, per node name, its metrics (see devicelink/appmetrics.py):
    # best effort, so what exceeds the bounds is dropped there instead of refusing the heartbeat.
    applications: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)

    @field_validator("applications", mode="before")
    @classmethod
    def _bounded(cls, value: Any) -> dict[str, dict[str, dict[str, Any]]]:
        return clean_app_metrics(value)


ReportKind = Literal[
    "network", "software", "job", "logs", "applied", "stream_check", "applications"
]


class Report(_Message):
    """Something the console must store. ``body`` follows the kind (see the body models)."""

    type: Literal["report"] = "report"
    seq: int = Field(ge=1)
    time: float
    kind: ReportKind
    body: dict[str, Any]


class SoftwareBody(BaseModel):
    version: str


class JobBody(BaseModel):
    job_id: str
    status: UpdateProgress
    reason: str = ""


# The longest log line the link carries; the agent cuts or splits longer ones to fit.
MAX_LOG_MESSAGE = 8192


class LogEntry(BaseModel):
    time: float
    stream: str = Field(pattern=r"^[a-z_]{1,32}$")
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    message: str = Field(max_length=MAX_LOG_MESSAGE)
    # Set for an application's lines (streams code, console_output, stream, model, display).
    application_instance_id: str = Field("", max_length=128)
    node: str = Field("", max_length=128)


# The most entries one logs report carries.
MAX_LOG_ENTRIES = 500


class LogsBody(BaseModel):
    entries: list[LogEntry] = Field(max_length=MAX_LOG_ENTRIES)


class AppliedBody(BaseModel):
    version: int


# A stream check's snapshot: a small JPEG of the first frame (320 pixels wide), capped here.
MAX_SNAPSHOT_BYTES = 512 * 1024
_MAX_SNAPSHOT_B64 = 4 * -(-MAX_SNAPSHOT_BYTES // 3)


class StreamCheckBody(BaseModel):
    """The result of a ``check_stream`` request: what the stream is, or why it cannot be used."""

    check_id: int = Field(ge=1)
    ok: bool
    codec: str = Field("", max_length=20)
    width: int | None = Field(None, ge=1, le=100_000)
    height: int | None = Field(None, ge=1, le=100_000)
    fps: float | None = Field(None, ge=0, le=10_000)
    first_frame_ms: int | None = Field(None, ge=0, le=2**31 - 1)
    snapshot_jpeg_b64: str = Field("", max_length=_MAX_SNAPSHOT_B64)
    error: str = Field("", max_length=500)
    hint: str = Field("", max_length=500)


# "View output": live frames of the appliance's HDMI output, only while someone watches.
MAX_OUTPUT_JPEG_BYTES = 2 * 1024 * 1024
_MAX_OUTPUT_JPEG_B64 = 4 * -(-MAX_OUTPUT_JPEG_BYTES // 3)


class OutputFrame(_Message):
    """One JPEG of the HDMI output, sent live (never through the outbox: a frame the link
    cannot carry now is dropped). An empty ``jpeg`` and ``application_instance_id`` mean no
    application shows output."""

    type: Literal["output_frame"] = "output_frame"
    application_instance_id: str = Field("", max_length=128)
    width: int = Field(0, ge=0, le=100_000)
    height: int = Field(0, ge=0, le=100_000)
    time: float
    jpeg: str = Field("", max_length=_MAX_OUTPUT_JPEG_B64)  # base64


REPORT_BODIES: dict[str, type[BaseModel]] = {
    "network": NetworkStatus,
    "software": SoftwareBody,
    "job": JobBody,
    "logs": LogsBody,
    "applied": AppliedBody,
    "stream_check": StreamCheckBody,
    "applications": ApplicationReport,
}


def report_body(report: Report) -> BaseModel:
    """The report's body as its model; ProtocolError if it does not fit its kind."""
    try:
        return REPORT_BODIES[report.kind].model_validate(report.body)
    except ValidationError as exc:
        raise ProtocolError(
            f"report {report.seq} ({report.kind}): {exc.errors()[0]['msg']}"
        ) from None


# --- console → agent --------------------------------------------------------------------------
class Welcome(_Message):
    type: Literal["welcome"] = "welcome"
    device_id: str
    device_name: str
    last_seq: int
    heartbeat_s: int
    lease_s: int
    server_time: float


class HeartbeatAck(_Message):
    type: Literal["heartbeat_ack"] = "heartbeat_ack"
    id: int
    lease_expires: float


class Ack(_Message):
    type: Literal["ack"] = "ack"
    seq: int


class JobSpec(BaseModel):
    job_id: str
    job_type: JobType
    image_version: str = ""
    allow_major_version_update: bool = False
    # OTA only: where to download the release bundle, and what it must hash and be signed to.
    bundle_path: str = ""
    sha256: str = ""
    signature: str = ""
    size: int = 0


class Desired(_Message):
    type: Literal["desired"] = "desired"
    version: int
    jobs: list[JobSpec] = Field(default_factory=list)
    # Every instance that should exist on the device. An entry that is not a valid spec is
    # kept as an InvalidApplication, for the agent to report, instead of refusing the message.
    applications: list[ApplicationSpec | InvalidApplication] = Field(default_factory=list)

    @field_validator("applications", mode="before")
    @classmethod
    def _each_application(cls, value: Any) -> Any:
        return [spec_or_invalid(item) for item in value] if isinstance(value, list) else value


class Revoked(_Message):
    type: Literal["revoked"] = "revoked"
    reason: str


MAX_TIMEOUT_S = 300


class CheckStream(_Message):
    """Test a camera stream from the appliance; the answer is a ``stream_check`` report.

    The camera's credentials travel sealed to the device's key (``sealed``, see
    devicelink.sealing); in clear only to an agent that has no seal key, over a link the
    console allows it on. They are left out of the message's repr.
    """

    type: Literal["check_stream"] = "check_stream"
    check_id: int = Field(ge=1)
    url: str = Field(max_length=2048)
    username: str = Field("", max_length=2048, repr=False)
    password: str = Field("", max_length=2048, repr=False)
    sealed: str = Field("", max_length=65536, repr=False)
    timeout_s: float = Field(gt=0, le=MAX_TIMEOUT_S)


class OutputWatch(_Message):
    """Someone watches the HDMI output: send ``output_frame`` messages until ``until`` (epoch
    seconds, the console's clock), renewed every few seconds while the page stays open."""

    type: Literal["output_watch"] = "output_watch"
    until: float


AgentMessageType = Hello | Heartbeat | Report | OutputFrame
ConsoleMessageType = Welcome | HeartbeatAck | Ack | Desired | Revoked | CheckStream | OutputWatch
AgentMessage = Annotated[AgentMessageType, Field(discriminator="type")]
ConsoleMessage = Annotated[ConsoleMessageType, Field(discriminator="type")]
_agent_adapter: TypeAdapter[AgentMessageType] = TypeAdapter(AgentMessage)
_console_adapter: TypeAdapter[ConsoleMessageType] = TypeAdapter(ConsoleMessage)
T = TypeVar("T")


def encode(message: BaseModel) -> str:
    return message.model_dump_json()


def _decode(adapter: TypeAdapter[T], text: str | bytes) -> T:
    try:
        return adapter.validate_json(text)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "message"
        raise ProtocolError(f"{where}: {error['msg']}") from None


def decode_agent_message(text: str | bytes) -> AgentMessageType:
    return _decode(_agent_adapter, text)


def decode_console_message(text: str | bytes) -> ConsoleMessageType:
    return _decode(_console_adapter, text)
