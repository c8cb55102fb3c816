"""A small stand-in for the console's agent endpoints (docs/protocol.md), for agent tests.

A real HTTP + WebSocket server (an ASGI app under uvicorn), so the agent's real urllib and
websockets code runs against it: provisioning with token and proof checks, signed downloads,
and the link with hello/welcome, in-order reports with acks, heartbeat acks, desired state,
revocation and replacement. It keeps everything in memory and imports nothing of the console.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import json
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.x509.oid import NameOID

from devicelink import auth, logimage
from devicelink.archive import DeviceArchive, build_archive
from devicelink.messages import (
    Ack,
    Desired,
    Heartbeat,
    HeartbeatAck,
    Hello,
    Report,
    Revoked,
    Welcome,
    decode_agent_message,
    encode,
)


@dataclass
class FakeDevice:
    device_id: str
    name: str
    token: str = ""
    credential_id: str = ""
    credential_used: bool = False
    public_key: str = ""
    last_seq: int = 0
    reports: list[Report] = field(default_factory=list)
    hellos: list[Hello] = field(default_factory=list)
    heartbeats: int = 0
    desired: Desired | None = None
    refuse_link: tuple[int, str] | None = None
    deleted: bool = False
    gaps: int = 0
    mute: bool = False  # answer only hello (a half-dead connection after the welcome)
    provision_bodies: list[dict[str, Any]] = field(default_factory=list)

    def bodies(self, kind: str) -> list[dict[str, Any]]:
        return [report.body for report in self.reports if report.kind == kind]


class FakeConsole:
    def __init__(self, tls_dir: Path | None = None) -> None:
        # With tls_dir: HTTPS/WSS with a certificate from a private CA, which the archive
        # carries as console-ca.pem (as the console does when CONSOLE_CA_FILE is set).
        self.tls_dir = tls_dir
        self.ca_pem = make_tls_files(tls_dir) if tls_dir else None
        self.release_key = Ed25519PrivateKey.generate()
        self.log_key = X25519PrivateKey.generate()
        self.devices: dict[str, FakeDevice] = {}
        self.bundles: dict[str, bytes] = {}
        self.sockets: dict[str, Any] = {}  # device_id → the connection's send queue
        self.url = ""
        self._server: uvicorn.Server | None = None

    # --- setting up ----------------------------------------------------------------------------
    def add_device(self, name: str = "lobby-1") -> FakeDevice:
        suffix = "".join("abcdefghijklmnopqrstuvwxyz234567"[b % 32] for b in _random(26))
        device = FakeDevice(device_id=f"device-{suffix}", name=name)
        self.devices[device.device_id] = device
        return device

    def archive(self, device: FakeDevice, *, ttl_s: float = 300, **extra: Any) -> bytes:
        device.token = base64.urlsafe_b64encode(_random(32)).decode().rstrip("=")
        device.credential_id = _random(16).hex()
        device.credential_used = False
        config = DeviceArchive(
            console_url=self.url,
            device_id=device.device_id,
            device_name=device.name,
            provisioning_token=device.token,
            credential_id=device.credential_id,
            expires_at=time.time() + ttl_s,
            release_public_key=auth.public_key_b64(self.release_key),
            log_public_key=logimage.public_key_b64(self.log_key),
            **extra,
        )
        return build_archive(config, self.ca_pem)

    def provisioned(self, name: str = "lobby-1") -> tuple[FakeDevice, Ed25519PrivateKey]:
        device = self.add_device(name)
        key = Ed25519PrivateKey.generate()
        device.public_key = auth.public_key_b64(key)
        return device, key

    # --- pushing to connected agents -----------------------------------------------------------
    async def publish(self, device: FakeDevice, desired: Desired) -> None:
        device.desired = desired
        queue = self.sockets.get(device.device_id)
        if queue is not None:
            await queue.put(("send", encode(desired)))

    async def revoke(self, device: FakeDevice) -> None:
        device.deleted = True
        queue = self.sockets.get(device.device_id)
        if queue is not None:
            await queue.put(("send", encode(Revoked(reason="The device was deleted."))))
            await queue.put(("close", 4403))

    async def kick(self, device: FakeDevice, code: int = 1011) -> None:
        queue = self.sockets.get(device.device_id)
        if queue is not None:
            await queue.put(("close", code))

    # --- ASGI ----------------------------------------------------------------------------------
    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._link(scope, receive, send)

    async def _http(self, scope: dict, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        if scope["method"] == "POST" and path == "/agent/v1/provision":
            status, answer = self._provision(json.loads(body))
            await _respond(send, status, json.dumps(answer).encode(), "application/json")
        elif scope["method"] == "GET" and path in self.bundles:
            _device, refusal = self._authenticate(scope, "GET")
            if refusal:
                await _respond(send, refusal[0], json.dumps({"error": refusal[1]}).encode())
            else:
                await _respond(send, 200, self.bundles[path], "application/gzip")
        else:
            await _respond(send, 404, json.dumps({"error": "No such thing."}).encode())

    def _provision(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        device = self.devices.get(body.get("device_id", ""))
        if device is None or device.deleted:
            return 403, {"error": "This device was deleted from the console."}
        device.provision_bodies.append(body)
        if (
            body.get("credential_id") != device.credential_id
            or body.get("provisioning_token") != device.token
        ):
            return 401, {"error": "The archive's provisioning token is wrong."}
        if device.credential_used:
            return 403, {"error": "This archive was already used; download a new archive."}
        try:
            auth.verify_provision_proof(
                body["public_key"], body["proof"], device.device_id, device.credential_id
            )
        except auth.AuthError as exc:
            return 401, {"error": exc.message}
        device.credential_used = True
        device.public_key = body["public_key"]
        device.last_seq = 0
        return 200, {
            "device_id": device.device_id,
            "device_name": device.name,
            "link_path": "/agent/v1/link",
            "heartbeat_s": 1,
            "lease_s": 3,
        }

    def _authenticate(
        self, scope: dict, method: str
    ) -> tuple[FakeDevice | None, tuple[int, str] | None]:
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        try:
            claim = auth.parse_authorization(headers.get("authorization"))
            device = self.devices.get(claim.device_id)
            if device is None or not device.public_key:
                raise auth.AuthError(401, "Unknown device.")
            if device.deleted:
                raise auth.AuthError(403, "This device was deleted from the console.")
            auth.verify_claim(claim, device.public_key, method, scope["path"])
        except auth.AuthError as exc:
            return None, (exc.status, exc.message)
        return device, device.refuse_link

    async def _link(self, scope: dict, receive: Any, send: Any) -> None:
        await receive()  # websocket.connect
        device, refusal = self._authenticate(scope, "GET")
        if refusal or device is None:
            status, message = refusal or (401, "refused")
            await send({"type": "websocket.http.response.start", "status": status,
                        "headers": [(b"content-type", b"application/json")]})  # fmt: skip
            await send({"type": "websocket.http.response.body",
                        "body": json.dumps({"error": message}).encode()})  # fmt: skip
            return
        old = self.sockets.get(device.device_id)
        if old is not None:
            await old.put(("close", 4409))
        queue: asyncio.Queue = asyncio.Queue()
        self.sockets[device.device_id] = queue
        await send({"type": "websocket.accept"})
        reader = asyncio.create_task(_pump(receive, queue))
        greeted = False
        try:
            while True:
                action, value = await queue.get()
                if action == "close":
                    await send({"type": "websocket.close", "code": value})
                    return
                if action == "send":
                    await send({"type": "websocket.send", "text": value})
                    continue
                if action == "gone":
                    return
                message = decode_agent_message(value)
                replies = self._on_message(device, message, greeted)
                greeted = greeted or isinstance(message, Hello)
                for reply in replies:
                    if isinstance(reply, int):
                        await send({"type": "websocket.close", "code": reply})
                        return
                    await send({"type": "websocket.send", "text": reply})
        finally:
            reader.cancel()
            if self.sockets.get(device.device_id) is queue:
                del self.sockets[device.device_id]

    def _on_message(self, device: FakeDevice, message: Any, greeted: bool) -> list[str | int]:
        if device.mute and not isinstance(message, Hello):
            return []
        if isinstance(message, Hello):
            device.hellos.append(message)
            welcome = Welcome(device_id=device.device_id, device_name=device.name,
                              last_seq=device.last_seq, heartbeat_s=1, lease_s=3,
                              server_time=time.time())  # fmt: skip
            replies: list[str | int] = [encode(welcome)]
            if device.desired and device.desired.version > message.applied_version:
                replies.append(encode(device.desired))
            return replies
        if isinstance(message, Heartbeat):
            device.heartbeats += 1
            return [encode(HeartbeatAck(id=message.id, lease_expires=time.time() + 3))]
        if isinstance(message, Report):
            if message.seq == device.last_seq + 1:
                device.reports.append(message)
                device.last_seq = message.seq
            elif message.seq > device.last_seq + 1:
                device.gaps += 1  # the console refuses a gap with 4400
                return [4400]
            return [encode(Ack(seq=message.seq))]
        return []

    # --- running -------------------------------------------------------------------------------
    async def serve(self) -> None:
        """Serve in the running loop until ``shutdown()``; sets ``url`` first."""
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        scheme = "https" if self.tls_dir else "http"
        self.url = f"{scheme}://127.0.0.1:{sock.getsockname()[1]}"
        tls = {}
        if self.tls_dir:
            tls = {"ssl_certfile": str(self.tls_dir / "server.pem"),
                   "ssl_keyfile": str(self.tls_dir / "server.key")}  # fmt: skip
        config = uvicorn.Config(
            self, log_level="warning", lifespan="off", ws_ping_interval=None, **tls
        )
        self._server = uvicorn.Server(config)
        await self._server.serve(sockets=[sock])

    async def start(self) -> None:
        self._task = asyncio.create_task(self.serve())
        while self._server is None or not self._server.started:
            await asyncio.sleep(0.01)

    async def shutdown(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 5)

    def start_in_thread(self) -> None:
        """For agents in another process: serve from a thread with its own loop."""
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.start(), self.loop).result(10)

    def call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    def stop_thread(self) -> None:
        self.call(self.shutdown())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


async def _pump(receive: Any, queue: asyncio.Queue) -> None:
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            await queue.put(("gone", None))
            return
        await queue.put(("recv", message.get("text") or message.get("bytes")))


async def _respond(send: Any, status: int, body: bytes, content_type: str = "application/json"):
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type.encode())]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


def make_tls_files(folder: Path) -> bytes:
    """A private CA and a server certificate for 127.0.0.1 in ``folder``; the CA's PEM."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Vantage test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(
            "127.0.0.1"))]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    (folder / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    (folder / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca.public_bytes(serialization.Encoding.PEM)


def _random(n: int) -> bytes:
    return os.urandom(n)
