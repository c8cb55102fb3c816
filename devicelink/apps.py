"""Applications in the device link: what the console wants running, and what the agent reports.

The console resolves an application instance (its graph, the deploy-time override, the
registered packages and the data sources) into an ``ApplicationSpec``: every node instance with
its package, patch, assets and settings, the edges after replacement, and the confirmed
network routing rules. ``Desired.applications`` carries one spec per instance that should exist
on the device; an instance missing from it is to be removed. The agent answers with
``applications`` reports (``ApplicationReport``) whenever an instance's state changes.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_serializer

from devicelink.status import DeviceReportedStatus, NodeInstanceStatus, NodeSignal

NodeKind = Literal["code", "model", "camera", "display", "parameter"]
Launch = Literal["onAppStart", "onSignal", "onDemand"]


class AssetRef(BaseModel):
    """One asset of a node's package: download it from ``path`` (a signed request) and check
    its sha256 before use."""

    name: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    path: str
    implementation_type: str = ""
    descriptor: dict[str, Any] = Field(default_factory=dict)
    # The implementation's package.json requirements, as written (GPU access: needs_gpu()).
    requirements: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def needs_gpu(self) -> bool:
        return needs_gpu(self.requirements)


def needs_gpu(requirements: Any) -> bool:
    """Whether an implementation's ``requirements`` ask for GPU access: a ``hardware_access``
    item with ``inferenceAccelerators`` (or ``nvAccelerators``, as three published Panorama
    samples wrote it)."""
    if not isinstance(requirements, list):
        return False
    return any(
        isinstance(item, dict)
        and item.get("type") == "hardware_access"
        and bool(item.get("inferenceAccelerators") or item.get("nvAccelerators"))
        for item in requirements
    )


class StreamSource(BaseModel):
    """A camera node's stream; credentials only for this device, only over its link.

    A file source (``source/video/file``) plays ``files`` (``file://`` URLs, ``url`` is the
    first) one after another, ``loop_count`` times (0: forever), at ``fps`` frames a second
    (0: each file's own rate). A plain ``file://`` url loops forever at its own rate.
    """

    url: str
    username: str = ""
    password: str = ""
    # The credentials sealed to the device's key (devicelink.sealing); username and password
    # are then empty on the wire and filled in by the agent when it opens them.
    sealed: str = Field(default="", max_length=65536)
    files: list[str] = Field(default_factory=list)
    loop_count: int = Field(default=0, ge=0)
    fps: float = Field(default=0.0, ge=0, le=1000)


class NodeSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str  # the NodeInstanceId
    kind: NodeKind
    node_id: str = ""  # <Package>-<version>-<patch8>-<interface>, "" for parameters
    package: str = ""  # without the account prefix
    package_version: str = ""
    patch_version: str = ""
    interface: str = ""
    launch: Launch = "onAppStart"
    signal: NodeSignal | None = None  # the operator's last PAUSE/RESUME for this node
    assets: list[AssetRef] = Field(default_factory=list)
    inputs: list[dict[str, Any]] = Field(default_factory=list)
    outputs: list[dict[str, Any]] = Field(default_factory=list)
    # parameter nodes: their type and (overridden) value
    parameter_type: str = ""
    value: Any = None
    stream: StreamSource | None = None


class Edge(BaseModel):
    producer: str
    consumer: str


class RoutingRule(BaseModel):
    node: str
    container_port: int = Field(ge=1, le=65535)
    host_port: int = Field(ge=1, le=65535)


class ResourceLimits(BaseModel):
    """What an instance's code nodes may use together on the appliance; None: no limit."""

    memory_mib: int | None = Field(default=None, ge=16)
    cpus: float | None = Field(default=None, gt=0)


class ApplicationSpec(BaseModel):
    model_config = ConfigDict(extra="ignore")

    application_instance_id: str
    name: str
    # Bumped by every change the device must act on (a redeploy, a PAUSE or RESUME).
    generation: int = Field(ge=1)
    nodes: list[NodeSpec]
    edges: list[Edge] = Field(default_factory=list)
    network_routing_rules: list[RoutingRule] = Field(default_factory=list)
    # The runtime role: environment variables the application's code nodes receive.
    environment: dict[str, str] = Field(default_factory=dict)
    # The environment sealed to the device's key (devicelink.sealing), as the console sends it.
    sealed_environment: str = Field(default="", max_length=65536)
    limits: ResourceLimits = Field(default_factory=ResourceLimits)


class InvalidApplication(BaseModel):
    """An entry of ``Desired.applications`` that is not a valid ``ApplicationSpec``.

    Kept instead of refusing the whole desired state, so one bad instance holds back neither
    the jobs nor the other instances: the agent reports it (INSTALL_ERROR when it names its
    instance) and keeps what runs. It encodes as the document it was made from.
    """

    document: Any
    where: str  # the invalid field's dotted path, "" for the document itself
    error: str  # pydantic's message

    @model_serializer
    def _as_sent(self) -> Any:
        return self.document

    @property
    def application_instance_id(self) -> str:
        iid = self.document.get("application_instance_id") if self.is_object else ""
        return iid if isinstance(iid, str) else ""

    @property
    def generation(self) -> int:
        generation = self.document.get("generation") if self.is_object else 0
        return generation if isinstance(generation, int) else 0

    @property
    def is_object(self) -> bool:
        return isinstance(self.document, dict)


def spec_or_invalid(document: Any) -> ApplicationSpec | InvalidApplication:
    """One entry of ``Desired.applications``: its spec, or why it is not one."""
    if isinstance(document, ApplicationSpec | InvalidApplication):
        return document
    try:
        return ApplicationSpec.model_validate(document)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        return InvalidApplication(document=document, where=where, error=error["msg"])


class NodeReport(BaseModel):
    name: str
    status: NodeInstanceStatus
    message: str = Field(default="", max_length=2000)


class ApplicationReport(BaseModel):
    """Report kind ``applications``: one instance's state on the device."""

    application_instance_id: str
    generation: int = Field(ge=0)
    status: DeviceReportedStatus
    message: str = Field(default="", max_length=2000)
    nodes: list[NodeReport] = Field(default_factory=list)
