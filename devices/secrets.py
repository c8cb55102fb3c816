"""How a device's secrets reach it: sealed to its key, in clear, or not at all.

Camera credentials, runtime roles and stream checks' credentials are sealed to the X25519 key
the device vouched for in its hello (devicelink.sealing), whatever the transport. Two more rules
guard the first contact, when a key could have been swapped on an unauthenticated path:

- a device whose link comes in plain ws:// from another machine gets no secret at all until an
  operator allows it on the device page (the secrets are sealed all the same);
- an agent without a seal key (older software) gets them in clear only over TLS or from this
  machine, or with that same leave.
"""

from __future__ import annotations

import ipaddress
import logging
from enum import StrEnum

from devicelink import sealing
from devicelink.apps import ApplicationSpec
from devicelink.auth import load_public_key
from devicelink.messages import CheckStream, Hello
from devices.models import Device, LinkTransport

logger = logging.getLogger(__name__)


class Delivery(StrEnum):
    SEALED = "sealed"
    CLEAR = "clear"
    WITHHELD = "withheld"


def transport_for(scheme: str, client_host: str | None) -> LinkTransport:
    """What kind of path a link connection came over (``scheme`` as the ASGI scope has it)."""
    if scheme == "wss":
        return LinkTransport.TLS
    try:
        if client_host and ipaddress.ip_address(client_host).is_loopback:
            return LinkTransport.LOOPBACK
    except ValueError:
        pass  # a Unix socket's peer, or a name: not known to be this machine
    return LinkTransport.PLAIN


def vouched_seal_key(device: Device, hello: Hello) -> str:
    """The seal key of ``hello`` if the device's identity key signed it, else ""."""
    if not hello.seal_key:
        return ""
    try:
        sealing.verify_seal_key(
            load_public_key(device.public_key), device.device_id, hello.seal_key, hello.seal_key_sig
        )
    except ValueError as exc:
        logger.warning("device %s: seal key refused (%s)", device.device_id, exc)
        return ""
    return hello.seal_key


def delivery(device: Device) -> Delivery:
    if device.link_transport == LinkTransport.PLAIN and not device.allow_plain_link_secrets:
        return Delivery.WITHHELD
    if device.seal_key:
        return Delivery.SEALED
    if device.link_transport in (LinkTransport.TLS, LinkTransport.LOOPBACK):
        return Delivery.CLEAR
    return Delivery.CLEAR if device.allow_plain_link_secrets else Delivery.WITHHELD


def withheld_reason(device: Device) -> str:
    """Why ``device`` gets no secrets (for the device page and refused stream checks)."""
    if delivery(device) != Delivery.WITHHELD:
        return ""
    where = f" from {device.link_address}" if device.link_address else ""
    return (
        f"Camera passwords and runtime roles are withheld: this appliance connects{where} over "
        "unencrypted ws://. Serve the console over HTTPS (docs/security.md), or allow secrets "
        "over this link on the device page."
    )


def prepare_spec(device: Device, spec: ApplicationSpec) -> Delivery:
    """Make ``spec`` fit to send to ``device``: its secrets sealed, kept, or taken out."""
    how = delivery(device)
    if how == Delivery.SEALED:
        sealing.seal_spec(device.seal_key, device.device_id, spec)
    elif how == Delivery.WITHHELD:
        spec.environment = {}
        for node in spec.nodes:
            if node.stream is not None:
                node.stream.username = node.stream.password = ""
    return how


def prepare_check(device: Device, message: CheckStream) -> Delivery:
    """Make a stream check fit to send to ``device``; WITHHELD: do not send it."""
    if not (message.username or message.password):
        return Delivery.CLEAR  # nothing secret in it
    how = delivery(device)
    if how == Delivery.SEALED:
        sealing.seal_check(device.seal_key, device.device_id, message)
    return how
