"""The console end of the device link driven in-process, through the ASGI application
(Django): connect as a device, say hello, receive, and the reports a device sends."""

from __future__ import annotations

import time

from channels.testing import ApplicationCommunicator, WebsocketCommunicator

from console.asgi import application
from devicelink import LINK_PATH, auth
from devicelink.messages import Hello, Report, decode_console_message, encode
from devices.models import Device


async def connect(device: Device, key, *, client: str = "127.0.0.1", scheme: str = "ws"):
    """Connect as ``device`` from the address ``client`` over ``scheme`` (ws or wss)."""
    header = auth.sign_request(key, device.device_id, "GET", LINK_PATH)
    communicator = WebsocketCommunicator(
        application,
        LINK_PATH,
        headers=[(b"host", b"127.0.0.1"), (b"authorization", header.encode())],
    )
    # Read by the application when it starts, at connect().
    communicator.scope.update(client=[client, 50000], scheme=scheme)
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


async def receive(communicator):
    return decode_console_message(await communicator.receive_from(timeout=5))


async def hello(
    communicator,
    applied: int = 0,
    accelerators: tuple[str, ...] = (),
    seal: dict[str, str] | None = None,
):
    """Say hello; ``seal``: the hello's ``seal_key`` and ``seal_key_sig``."""
    await communicator.send_to(
        encode(
            Hello(
                protocol=1,
                software_version="1.0.0",
                applied_version=applied,
                serial_number="42",
                accelerators=list(accelerators),
                **(seal or {}),
            )
        )
    )
    return await receive(communicator)


def report(seq: int, kind: str, body: dict) -> str:
    return encode(Report(seq=seq, time=time.time(), kind=kind, body=body))


async def upgrade_answer(authorization: str) -> tuple[dict, dict]:
    """The HTTP answer (start, body) to a link upgrade the console refuses, as an ASGI server
    that supports denial responses gets it."""
    scope = {
        "type": "websocket",
        "path": LINK_PATH,
        "headers": [(b"host", b"127.0.0.1"), (b"authorization", authorization.encode())],
        "query_string": b"",
        "subprotocols": [],
        "extensions": {"websocket.http.response": {}},
    }
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "websocket.connect"})
    start = await communicator.receive_output(timeout=5)
    body = await communicator.receive_output(timeout=5)
    return start, body
