"""The agent end of the device link: one WebSocket to the console, kept up forever.

``LinkClient`` is plain asyncio: no threads, no blocking I/O except the small SQLite writes of
its ``Outbox``, so many clients can share one event loop (the 1,000-appliance benchmark runs
them that way). It says ``hello``, replays the outbox after ``welcome``, heartbeats, sends
reports in order, deletes them when acknowledged, hands ``desired`` to its handler and reports
``applied`` when the handler returns. 403 at the upgrade, a ``revoked`` message or close code
4403 mean the device was deleted: the client stops for good.

It is built with a ``LinkConfig`` (who the device is, how to reach its console), the reports to
send (a ``ReportQueue``, or the ``Outbox`` to make one for) and ``LinkHooks`` (the agent's
callbacks, and handlers for the console messages it does not handle itself, by type).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from devicelink import (
    CLOSE_PROTOCOL_ERROR,
    CLOSE_REPLACED,
    CLOSE_REVOKED,
    CLOSE_UNAUTHORIZED,
    PROTOCOL_VERSION,
    sealing,
)
from devicelink.auth import sign_request
from devicelink.messages import (
    Ack,
    CheckStream,
    ConsoleMessageType,
    Desired,
    Health,
    Heartbeat,
    HeartbeatAck,
    Hello,
    OutputWatch,
    ProtocolError,
    Report,
    Revoked,
    Welcome,
    decode_console_message,
    encode,
)
from edge_agent.backoff import Backoff
from edge_agent.linkconfig import DesiredHandler, LinkConfig, LinkHooks, LinkStats
from edge_agent.live import LiveSender
from edge_agent.outbox import Outbox
from edge_agent.reports import ReportQueue

__all__ = ["DesiredHandler", "LinkClient", "LinkConfig", "LinkHooks", "LinkStats"]
logger = logging.getLogger(__name__)


def link_uri(console_url: str, link_path: str) -> str:
    """``ws(s)://host[:port][/prefix]<link_path>`` for the console's ``http(s)`` URL."""
    parts = urlsplit(console_url)
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}{link_path}"


def refusal_message(exc: InvalidStatus) -> str:
    """The console's ``{"error": ...}`` sentence from a refused upgrade, else the status."""
    response = exc.response
    try:
        error = json.loads(response.body or b"{}").get("error")
    except (ValueError, AttributeError):
        error = None
    return f"HTTP {response.status_code}: {error or response.reason_phrase or 'refused'}"


class LinkClient:
    def __init__(
        self,
        config: LinkConfig,
        reports: ReportQueue | Outbox,
        hooks: LinkHooks | None = None,
        *,
        live: LiveSender | None = None,
    ) -> None:
        hooks = hooks or LinkHooks()
        self.config = config
        self.console_url = config.console_url
        self.device_id = config.device_id
        self.reports = reports if isinstance(reports, ReportQueue) else ReportQueue(reports)
        self.outbox = self.reports.outbox
        self.live = live or LiveSender()
        self.software_version = config.software_version
        self.link_path = config.link_path
        self.heartbeat_s = config.heartbeat_s
        self.boot_id = config.boot_id or uuid.uuid4().hex
        self.backoff = Backoff(config.backoff_base_s, config.backoff_cap_s)
        self.stats = LinkStats()
        # Observable state (the agent mirrors it into status.json through on_change).
        self.connected = False
        self.connected_since: float | None = None
        self.revoked = False
        self.revoked_reason = ""
        self.last_error = ""
        self.last_heartbeat_ack: float | None = None
        self.last_rtt_s: float | None = None
        self.lease_expires: float | None = None
        self.welcome: Welcome | None = None
        self.hooks = hooks
        self.applied_version = hooks.applied_version() if hooks.applied_version else 0
        # What each console message does, by its type; a type not here is ignored.
        self._dispatch: dict[type, Callable[[Any], None]] = {
            HeartbeatAck: self._heartbeat_acked,
            Ack: self._acked,
            Desired: self._desired_received,
            Revoked: lambda message: self._set_revoked(message.reason),
        }
        if hooks.on_output_watch is not None:
            self._dispatch[OutputWatch] = self._output_watch
        self._dispatch.update(hooks.handlers)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ws: ClientConnection | None = None
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._connected_event = asyncio.Event()
        self._sent_through = 0
        self._heartbeat_id = 0
        self._heartbeats_in_flight: dict[int, float] = {}
        self._desired_task: asyncio.Task[None] | None = None
        self._handling: Desired | None = None
        self._next_desired: Desired | None = None
        self._closing: asyncio.Task[None] | None = None
        self._last_received = 0.0
        self._gave_up = False

    # --- public API -------------------------------------------------------------------------
    async def run(self) -> None:
        """Connect, and reconnect after every failure, until ``stop()`` or revocation."""
        self._loop = asyncio.get_running_loop()
        try:
            while not self._stopping and not self.revoked:
                established = await self._attempt()
                if self._stopping or self.revoked:
                    break
                if established:
                    self.backoff.reset()
                delay = self.backoff.next_delay()
                logger.debug("reconnecting in %.1f s", delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_event.wait(), delay)
        finally:
            self._set_disconnected()
            if self._stopping and self._desired_task is not None:
                self._desired_task.cancel()

    def stop(self) -> None:
        """Stop reconnecting and close the connection (safe to call from a signal handler)."""
        self._stopping = True
        self._stop_event.set()
        if self._ws is not None:
            with contextlib.suppress(RuntimeError):  # no running loop: nothing is connected
                # Keep a reference: the loop holds tasks only weakly.
                self._closing = asyncio.get_running_loop().create_task(
                    self._ws.close(1001, "agent stopping")
                )

    def queue_report(self, kind: str, body: dict[str, Any]) -> int:
        """Queue a report (``ReportQueue.queue_report``); it is sent as soon as connected."""
        return self.reports.queue_report(kind, body)

    def send_live(self, message: dict[str, Any]) -> bool:
        """Send a message now, bypassing the outbox (``LiveSender.send``)."""
        return self.live.send(message)

    async def flush(self, timeout: float) -> bool:
        """Wait until the console acknowledged everything in the outbox; False on timeout."""
        return await self.reports.flush(timeout)

    async def wait_connected(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected_event.wait(), timeout)
        return self.connected

    # --- one connection ---------------------------------------------------------------------
    async def _attempt(self) -> bool:
        """One connection, start to end. True if the console welcomed us (a good session)."""
        uri = link_uri(self.console_url, self.link_path)
        key = self.config.private_key
        headers = {"Authorization": sign_request(key, self.device_id, "GET", self.link_path)}
        try:
            async with connect(
                uri,
                additional_headers=headers,
                ssl=self.config.ssl_context,
                open_timeout=self.config.open_timeout_s,
                compression=None,  # reports are small; deflate state costs memory per client
                # A dead link is left at once; waiting for a closing handshake the console
                # cannot send would only delay the reconnect.
                close_timeout=2,
                user_agent_header=f"vantage-edge-agent/{self.software_version}",
            ) as ws:
                self._ws = ws
                if self._stopping:
                    return False
                welcomed = await self._session(ws)
            return welcomed and self._closed(ws)
        except InvalidStatus as exc:
            message = refusal_message(exc)
            if exc.response.status_code == 403:
                self._set_revoked(f"The console refused the link ({message}).")
            else:
                self._failure(f"The console refused the link ({message}).")
        except (OSError, TimeoutError) as exc:
            self._failure(f"Cannot reach the console at {uri}: {exc or type(exc).__name__}")
        except (ConnectionClosed, ProtocolError) as exc:
            self._failure(f"The link to {uri} broke before it was up: {exc}")
        except Exception as exc:  # any handshake or TLS oddity: keep trying, never crash
            self._failure(f"The link to {uri} failed: {type(exc).__name__}: {exc}")
        finally:
            self._ws = None
            self._set_disconnected()
        return False

    async def _session(self, ws: ClientConnection) -> bool:
        getter = self.hooks.applied_version
        applied = getter() if getter else self.applied_version
        self.applied_version = max(self.applied_version, applied)
        hello = Hello(
            protocol=PROTOCOL_VERSION,
            software_version=self.software_version,
            applied_version=self.applied_version,
            serial_number=self.config.serial_number,
            boot_id=self.boot_id,
            accelerators=self.config.accelerators,
            **self._seal_key_fields(),
        )
        await ws.send(encode(hello))
        opened = await asyncio.wait_for(ws.recv(), self.config.open_timeout_s)
        first = decode_console_message(opened)
        if not isinstance(first, Welcome):
            raise ProtocolError(f"the console answered hello with {first.type}, not welcome")
        self.welcome = first
        # The console stored everything up to last_seq; the rest goes out again, in order.
        self.reports.resync(first.last_seq)
        self._sent_through = first.last_seq
        self._last_received = time.monotonic()
        self._gave_up = False
        self._set_connected()
        interval = self.heartbeat_s or first.heartbeat_s or 10
        tasks = [
            asyncio.create_task(self._send_reports(ws)),
            asyncio.create_task(
                self._send_heartbeats(ws, interval, max(first.lease_s, 3 * interval))
            ),
        ]
        try:
            async for raw in ws:
                self._handle(raw)
        except ConnectionClosed:
            pass
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return True

    def _closed(self, ws: ClientConnection) -> bool:
        """Act on the close code; True if the session counts as a good one for the backoff."""
        code, reason = ws.close_code, ws.close_reason or ""
        if self._stopping or self._gave_up:
            return False  # stopping, or a dead connection that was already logged
        if code == CLOSE_REVOKED:
            self._set_revoked(reason or "The console revoked this device.")
            return True
        if code == CLOSE_REPLACED:
            self._failure(f"Another connection of this device replaced this one ({reason}).")
            return False
        if code == CLOSE_PROTOCOL_ERROR:
            self._failure(f"The console closed the link for a protocol error: {reason}")
            return False
        if code == CLOSE_UNAUTHORIZED:
            self._failure(f"The console refused the device's credentials: {reason}")
            return True
        self._failure(f"The link closed (code {code}{', ' + reason if reason else ''}).")
        return True

    async def _send_reports(self, ws: ClientConnection) -> None:
        # The only writer of reports, so they leave in seq order whether they were queued
        # while offline (replayed after welcome) or a moment ago.
        while True:
            # The outbox's, then those held in memory while the disk is full (ReportQueue).
            entries = self.reports.pending(after=self._sent_through, limit=100)
            if not entries:
                self.reports.queued.clear()
                await self.reports.queued.wait()
                continue
            for entry in entries:
                report = Report(seq=entry.seq, time=entry.time, kind=entry.kind, body=entry.body)
                await ws.send(encode(report))
                self._sent_through = self.reports.sent_through = entry.seq
                self.stats.reports_sent += 1
                logger.debug("sent report %d (%s)", entry.seq, entry.kind)

    async def _send_heartbeats(self, ws: ClientConnection, interval: float, lease: float) -> None:
        # The first heartbeat at a random point of the first interval (the hello renewed the
        # lease): appliances that connect together, as a whole fleet does after a console
        # restart, would otherwise heartbeat in step for ever, and the console would get their
        # heartbeats in bursts (300 in one second, nothing in the next) instead of evenly.
        await asyncio.sleep(random.uniform(0, interval))  # noqa: S311 - not for security
        while True:
            silent = time.monotonic() - self._last_received
            if silent > lease:
                # The console renews our lease on every heartbeat; when it stops answering for
                # a whole lease the connection is dead even if TCP has not noticed yet.
                self._failure(f"No answer from the console for {silent:.0f} s; reconnecting.")
                self._gave_up = True
                await ws.close(1011, "no answer from the console")
                return
            self._heartbeat_id += 1
            health = self.hooks.health() if self.hooks.health else Health()
            self._heartbeats_in_flight[self._heartbeat_id] = time.monotonic()
            # An unanswered heartbeat must not pile up forever on a half-dead connection.
            for stale in [i for i in self._heartbeats_in_flight if i < self._heartbeat_id - 10]:
                del self._heartbeats_in_flight[stale]
            heartbeat = Heartbeat(
                id=self._heartbeat_id,
                time=time.time(),
                health=health,
                applications=self._applications(),
            )
            await ws.send(encode(heartbeat))
            self.stats.heartbeats_sent += 1
            await asyncio.sleep(interval)

    def _applications(self) -> dict[str, Any]:
        # Metrics are best effort: a failing provider must not stop the heartbeats.
        if self.hooks.app_metrics is None:
            return {}
        try:
            return self.hooks.app_metrics()
        except Exception:
            logger.debug("application metrics failed", exc_info=True)
            return {}

    def _seal_key_fields(self) -> dict[str, str]:
        key = self.config.seal_key
        if key is None:
            return {}
        public = sealing.public_b64(key)
        signature = sealing.sign_seal_key(self.config.private_key, self.config.device_id, public)
        return {"seal_key": public, "seal_key_sig": signature}

    def _open_secrets(self, message: ConsoleMessageType) -> None:
        """Open what the console sealed to this device, before any part of the agent sees it."""
        key = self.config.seal_key
        if key is None:
            return
        if isinstance(message, Desired):
            sealing.open_desired(key, self.config.device_id, message)
        elif isinstance(message, CheckStream):
            try:
                sealing.open_check(key, self.config.device_id, message)
            except sealing.SealError as exc:
                # ``sealed`` stays set: the check fails with this reason (edge_agent/streams.py).
                logger.error("Stream check %d: %s", message.check_id, exc)

    def _handle(self, raw: str | bytes) -> None:
        self._last_received = time.monotonic()
        try:
            message = decode_console_message(raw)
        except ProtocolError as exc:
            # A newer console may send what this agent does not know yet: skip it.
            logger.debug("ignored a console message: %s", exc)
            return
        self._open_secrets(message)
        handler = self._dispatch.get(type(message))
        if handler is not None:
            handler(message)

    def _heartbeat_acked(self, message: HeartbeatAck) -> None:
        sent = self._heartbeats_in_flight.pop(message.id, None)
        if sent is not None:
            self.last_rtt_s = time.monotonic() - sent
        self.last_heartbeat_ack = time.time()
        self.lease_expires = message.lease_expires
        self.stats.heartbeat_acks += 1
        self._changed()

    def _acked(self, message: Ack) -> None:
        self.reports.acknowledged(message.seq)
        self.stats.reports_acked += 1

    def _desired_received(self, message: Desired) -> None:
        self.stats.desired_received += 1
        self._desired(message)

    def _output_watch(self, message: OutputWatch) -> None:
        # ``until`` is on the console's clock; the welcome's server_time, taken as we
        # connected, tells how far ours is off.
        offset = 0.0
        if self.welcome is not None and self.connected_since is not None:
            offset = self.welcome.server_time - self.connected_since
        assert self.hooks.on_output_watch is not None
        self.hooks.on_output_watch(message.until - offset)

    # --- desired state ----------------------------------------------------------------------
    def _desired(self, desired: Desired) -> None:
        if desired.version <= self.applied_version:
            return
        if self._desired_task is not None and not self._desired_task.done():
            # One document at a time; while one is applied only the newest waiting one counts.
            if self._handling is None or desired.version > self._handling.version:
                self._next_desired = desired
            return
        self._desired_task = asyncio.create_task(self._apply(desired))

    async def _apply(self, desired: Desired | None) -> None:
        while desired is not None:
            self._handling = desired
            try:
                if self.hooks.on_desired is not None:
                    await self.hooks.on_desired(desired)
            except Exception:
                logger.exception("applying desired state %d failed", desired.version)
            else:
                if desired.version > self.applied_version:
                    self.applied_version = desired.version
                    self.queue_report("applied", {"version": desired.version})
            self._handling = None
            desired, self._next_desired = self._next_desired, None
            if desired is not None and desired.version <= self.applied_version:
                desired = None

    # --- state ------------------------------------------------------------------------------
    def _set_connected(self) -> None:
        if self._ws is not None and self._loop is not None:
            self.live.attach(self._ws, self._loop)
        self.connected = True
        self.connected_since = time.time()
        self.last_error = ""
        self.stats.connects += 1
        self._connected_event.set()
        logger.info("Connected to the console at %s.", self.console_url)
        self._changed()

    def _set_disconnected(self) -> None:
        self.live.detach()
        if self.connected:
            self.connected = False
            self.connected_since = None
            self._connected_event.clear()
            logger.info("Disconnected from the console.")
            self._changed()

    def _failure(self, message: str) -> None:
        self.stats.failures += 1
        # The same error every minute while offline would flood the log (and the outbox
        # that ships it): say it once, then only at debug level until it changes.
        level = logging.DEBUG if message == self.last_error else logging.WARNING
        logger.log(level, "%s", message)
        self.last_error = message
        self._changed()

    def _set_revoked(self, reason: str) -> None:
        if self.revoked:
            return  # the revoked message came first; its reason says more than the close
        logger.error(
            "This appliance was deleted from the console or its credentials were revoked: "
            "%s Run 'python -m edge_agent reset --full' and set it up again.",
            reason,
        )
        self.revoked = True
        self.revoked_reason = reason
        self.last_error = reason
        self._stop_event.set()
        self._changed()

    def _changed(self) -> None:
        if self.hooks.on_change is not None:
            try:
                self.hooks.on_change(self)
            except Exception:
                logger.debug("link state callback failed", exc_info=True)
