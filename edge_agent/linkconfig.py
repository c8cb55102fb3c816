"""What a ``LinkClient`` is built with: who the device is and how to reach its console
(``LinkConfig``), and what the rest of the agent gives it (``LinkHooks``)."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from devicelink import LINK_PATH
from devicelink.messages import Desired, Health

if TYPE_CHECKING:
    from edge_agent.link import LinkClient

DesiredHandler = Callable[[Desired], Awaitable[None]]
# A console message the link does not handle itself, by its type: handed to the agent's part.
MessageHandlers = Mapping[type, Callable[[Any], None]]


@dataclass(frozen=True)
class LinkConfig:
    console_url: str
    device_id: str
    private_key: Ed25519PrivateKey = field(repr=False)
    software_version: str
    # What the console seals this device's secrets to (devicelink.sealing); None: an agent
    # that cannot open sealed secrets (the console then withholds or sends them in clear).
    seal_key: X25519PrivateKey | None = field(default=None, repr=False)
    link_path: str = LINK_PATH
    ssl_context: ssl.SSLContext | None = None
    serial_number: str = ""
    boot_id: str | None = None  # None: a new one for this process
    accelerators: list[str] = field(default_factory=list)
    heartbeat_s: float | None = None  # None: the interval the console's welcome gives
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 60.0
    open_timeout_s: float = 10.0


@dataclass(frozen=True)
class LinkHooks:
    """Callbacks into the agent; every one is optional."""

    on_desired: DesiredHandler | None = None  # a newer desired state; ``applied`` follows
    health: Callable[[], Health] | None = None  # each heartbeat's health
    applied_version: Callable[[], int] | None = None  # read before each hello
    app_metrics: Callable[[], dict[str, Any]] | None = None  # each heartbeat's applications
    on_change: Callable[[LinkClient], None] | None = None  # connected, acked, failed, revoked
    # ``output_watch``: watch the HDMI output until this time (on the agent's clock).
    on_output_watch: Callable[[float], None] | None = None
    # Other console messages by type, such as ``CheckStream``.
    handlers: MessageHandlers = field(default_factory=dict)


@dataclass
class LinkStats:
    connects: int = 0
    failures: int = 0
    heartbeats_sent: int = 0
    heartbeat_acks: int = 0
    reports_sent: int = 0
    reports_acked: int = 0
    desired_received: int = 0
