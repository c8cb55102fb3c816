"""Provisioning from the USB archive (docs/protocol.md, "The configuration archive").

The agent watches the USB directory for ``certificates-omni_<name>.zip``, checks it, applies
its network settings, generates the device key and registers it with the console, once. An
archive the console refused (401/403) is remembered by its sha256 and not tried again; only a
different archive file starts a new attempt. Network errors are retried with backoff for as
long as the archive's credential is valid.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devicelink import PROVISION_PATH, auth
from devicelink.archive import ARCHIVE_PATTERN, ArchiveError, DeviceArchive, read_archive
from devicelink.network import NetworkPayload, NetworkStatus
from edge_agent.backoff import Backoff
from edge_agent.config import AgentPaths, read_json, write_json
from edge_agent.console_http import ConsoleAnswer, ConsoleUnreachable, post_json, url_for
from edge_agent.identity import Identity, create_device_key, save_identity
from edge_agent.network import NetworkApplier, port_interfaces

logger = logging.getLogger("edge_agent.provision")
DEVICE_TYPE = "PANORAMA_APPLIANCE"
Post = Callable[[str, dict[str, Any], ssl.SSLContext | None], ConsoleAnswer]


def archive_files(usb_dir: Path) -> list[Path]:
    """Configuration archives at the root of the USB directory, newest first."""
    try:
        found = [p for p in usb_dir.iterdir() if ARCHIVE_PATTERN.match(p.name) and p.is_file()]
    except OSError:
        return []
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def expires_at(archive: DeviceArchive) -> datetime:
    value = archive.expires_at
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def expired_message(archive: DeviceArchive) -> str:
    return (
        f"The configuration archive expired at {expires_at(archive):%Y-%m-%d %H:%M:%S UTC}; "
        "download a new one from the console. (If it was downloaded minutes ago, check this "
        "appliance's clock.)"
    )


def provision_body(
    archive: DeviceArchive,
    key: Ed25519PrivateKey,
    *,
    serial_number: str,
    software_version: str,
    network_status: NetworkStatus,
) -> dict[str, Any]:
    """The JSON body of ``POST /agent/v1/provision``."""
    return {
        "device_id": archive.device_id,
        "credential_id": archive.credential_id,
        "provisioning_token": archive.provisioning_token,
        "public_key": auth.public_key_b64(key),
        "proof": auth.sign_provision_proof(key, archive.device_id, archive.credential_id),
        "serial_number": serial_number,
        "software_version": software_version,
        "device_type": DEVICE_TYPE,
        "network_status": network_status.model_dump(),
    }


def context_for(console_url: str, ca_pem: bytes | None) -> ssl.SSLContext | None:
    if not console_url.startswith("https:"):
        return None
    if ca_pem:
        return ssl.create_default_context(cadata=ca_pem.decode("ascii", "replace"))
    return ssl.create_default_context()


class Provisioner:
    def __init__(
        self,
        paths: AgentPaths,
        usb_dir: Path,
        *,
        software_version: str,
        serial_number: str,
        applier: NetworkApplier,
        network_status: Callable[[list[str]], NetworkStatus],
        interfaces: Callable[[], dict[str, str | None]] | None = None,
        poll_s: float = 1.0,
        retry_base_s: float = 1.0,
        retry_cap_s: float = 30.0,
        post: Post = post_json,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.paths = paths
        self.usb_dir = usb_dir
        self.software_version = software_version
        self.serial_number = serial_number
        self.applier = applier
        self.network_status = network_status
        self.interfaces = interfaces or _real_interfaces
        self.poll_s = poll_s
        self.retry = Backoff(retry_base_s, retry_cap_s)
        self.post = post
        self.now = now
        # Archives that cannot work (corrupt, expired): skipped quietly until the file changes.
        self._given_up: set[str] = set()

    # --- refused archives, remembered across restarts ------------------------------------------
    def refused(self) -> set[str]:
        return set(read_json(self.paths.refused, []) or [])

    def _refuse(self, digest: str) -> None:
        write_json(self.paths.refused, sorted(self.refused() | {digest}))

    # --- the watch loop -----------------------------------------------------------------------
    async def wait(self, stop: asyncio.Event) -> Identity | None:
        """Watch the USB directory until provisioned (the identity) or ``stop`` (None)."""
        logger.info(
            "Not provisioned yet: waiting for a configuration archive (certificates-omni_"
            "<name>.zip) in %s.",
            self.usb_dir,
        )
        while not stop.is_set():
            identity = await self.scan_once(stop)
            if identity is not None:
                return identity
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll_s)
        return None

    async def scan_once(self, stop: asyncio.Event) -> Identity | None:
        refused = self.refused()
        for path in archive_files(self.usb_dir):
            try:
                data = path.read_bytes()
            except OSError:
                continue
            digest = hashlib.sha256(data).hexdigest()
            if digest in refused or digest in self._given_up:
                continue
            identity = await self.try_archive(path.name, data, digest, stop)
            if identity is not None:
                return identity
        return None

    async def try_archive(
        self, name: str, data: bytes, digest: str, stop: asyncio.Event
    ) -> Identity | None:
        try:
            archive, ca_pem = read_archive(data)
        except ArchiveError as exc:
            logger.error("%s cannot be used: %s", name, exc)
            self._given_up.add(digest)
            return None
        if self._expired(archive):
            logger.error("%s: %s", name, expired_message(archive))
            self._given_up.add(digest)
            return None
        logger.info(
            "Found %s: device %s (%s) of the console at %s.",
            name,
            archive.device_name,
            archive.device_id,
            archive.console_url,
        )
        await self._apply_network(archive.network)
        return await self._register(name, archive, ca_pem, digest, stop)

    def _expired(self, archive: DeviceArchive) -> bool:
        return expires_at(archive).timestamp() <= self.now()

    async def _apply_network(self, payload: NetworkPayload) -> None:
        try:
            await asyncio.to_thread(self.applier.apply, payload, self.interfaces())
        except Exception as exc:
            logger.error("Applying the network settings failed: %s", exc)
        write_json(self.paths.network, payload.model_dump())

    async def _register(
        self,
        name: str,
        archive: DeviceArchive,
        ca_pem: bytes | None,
        digest: str,
        stop: asyncio.Event,
    ) -> Identity | None:
        key = create_device_key(self.paths)
        logger.info("Generated the device key (%s, mode 0600).", self.paths.key)
        url = url_for(archive.console_url, PROVISION_PATH)
        context = context_for(archive.console_url, ca_pem)
        self.retry.reset()
        last_problem = ""
        while not stop.is_set():
            servers = archive.network.Ntp.NtpServers
            status = await asyncio.to_thread(self.network_status, servers)
            body = provision_body(
                archive,
                key,
                serial_number=self.serial_number,
                software_version=self.software_version,
                network_status=status,
            )
            answer: ConsoleAnswer | None
            try:
                sent = await asyncio.to_thread(self.post, url, body, context)
            except ConsoleUnreachable as exc:
                answer, problem = None, str(exc)
            else:
                answer, problem = sent, f"The console answered HTTP {sent.status}: {sent.error}"
            if answer is not None and answer.status == 200:
                return self._provisioned(archive, ca_pem, answer.document)
            if answer is not None and answer.status in (400, 401, 403, 404):
                logger.error(
                    "The console refused %s (HTTP %d): %s", name, answer.status, answer.error
                )
                logger.error("Waiting for a different archive; this one will not be tried again.")
                self._refuse(digest)
                return None
            if self._expired(archive):
                logger.error("%s: %s", name, expired_message(archive))
                self._given_up.add(digest)
                return None
            delay = self.retry.next_delay()
            if problem != last_problem:
                logger.warning("%s; retrying while the archive is valid.", problem)
                last_problem = problem
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
        return None

    def _provisioned(
        self, archive: DeviceArchive, ca_pem: bytes | None, answer: dict[str, Any]
    ) -> Identity:
        identity = Identity(
            device_id=str(answer.get("device_id") or archive.device_id),
            device_name=str(answer.get("device_name") or archive.device_name),
            console_url=archive.console_url,
            link_path=str(answer.get("link_path") or "/agent/v1/link"),
            heartbeat_s=int(answer.get("heartbeat_s") or archive.heartbeat_s),
            lease_s=int(answer.get("lease_s") or 30),
            release_public_key=archive.release_public_key,
            log_public_key=archive.log_public_key,
            serial_number=self.serial_number,
        )
        # The console starts a provisioned device with no reports stored and nothing applied,
        # so whatever an earlier identity left behind must go.
        for leftover in ("outbox.sqlite3", "outbox.sqlite3-wal", "outbox.sqlite3-shm"):
            (self.paths.data_dir / leftover).unlink(missing_ok=True)
        self.paths.state.unlink(missing_ok=True)
        save_identity(self.paths, identity, ca_pem)
        logger.info(
            "Provisioned: this appliance is %s (%s) of the console at %s.",
            identity.device_name,
            identity.device_id,
            identity.console_url,
        )
        return identity


def _real_interfaces() -> dict[str, str | None]:
    return port_interfaces(psutil.net_if_stats())
