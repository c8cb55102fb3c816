"""``python -m edge_agent run``: the appliance's main process.

Boot: take the data directory's lock, write status "booting", drop an offline log image on the
USB drive if it asks for one, provision from the USB archive if needed, then keep the link to
the console until SIGTERM/SIGINT, running the jobs and stream checks it asks for. A revoked
device idles (and says so) until it is reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import edge_agent
from devicelink.logimage import encrypt_log_image, image_name
from devicelink.messages import CheckStream, Desired
from devicelink.network import NetworkPayload, NetworkStatus
from devicelink.releases import MAX_BUNDLE_BYTES
from edge_agent.apps import Supervisor, gpu
from edge_agent.apps.applogs import AppLogs
from edge_agent.apps.hdmi import Hdmi
from edge_agent.config import AgentLock, AgentPaths, read_json, write_atomic
from edge_agent.console_http import ConsoleUnreachable, get_signed
from edge_agent.health import HealthProvider
from edge_agent.identity import (
    Identity,
    load_device_key,
    load_identity,
    load_or_create_seal_key,
    serial_number,
)
from edge_agent.identity import ssl_context as console_ssl_context
from edge_agent.jobs import JobFailed, JobRunner
from edge_agent.link import LinkClient, LinkConfig, LinkHooks
from edge_agent.live import LiveSender
from edge_agent.logs import LogShipper, UsbLogHandler, read_log_entries, setup_logging
from edge_agent.network import current_network_status, make_applier
from edge_agent.outbox import Outbox
from edge_agent.provision import Provisioner
from edge_agent.reports import ReportQueue
from edge_agent.software import Restarter, Software
from edge_agent.status import StatusFile
from edge_agent.streams import StreamChecker

logger = logging.getLogger("edge_agent.agent")
# At a stop, how long the agent waits for the console to acknowledge what its outbox holds
# (the applications' last states, say). What is not acknowledged by then stays in the outbox
# and is sent after the next start. Small: `./vantage up` stops everything within 8 s.
STOP_FLUSH_S = 2.0


@dataclass
class RunOptions:
    usb_dir: Path
    data_dir: Path
    reboot_command: str = ""
    network_applier: str = "dry-run"
    log_level: str = "INFO"
    argv: list[str] = field(default_factory=list)  # the command line, for restarts
    poll_s: float = 1.0
    network_check_s: float = 30.0
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 60.0


def write_offline_log_image(
    paths: AgentPaths, usb_dir: Path, identity: Identity | None, now: datetime | None = None
) -> Path | None:
    """Write ``<usb>/panorama/managed_logs/panorama_device_log_v1_*.img`` if that folder exists."""
    folder = usb_dir / "panorama" / "managed_logs"
    if not folder.is_dir():
        return None
    if identity is None:
        logger.warning(
            "%s asks for a log image, but this appliance is not provisioned: the image is "
            "encrypted to its console's key, which only the configuration archive brings. "
            "No image written.",
            folder,
        )
        return None
    entries = read_log_entries(paths.logs)
    data = encrypt_log_image(identity.log_public_key, identity.device_id, entries)
    target = folder / image_name(now or datetime.now())
    write_atomic(target, data)
    logger.info("Wrote the offline log image %s (%d log entries).", target, len(entries))
    return target


def ntp_servers(paths: AgentPaths) -> list[str]:
    document = read_json(paths.network)
    if not document:
        return []
    try:
        return NetworkPayload.model_validate(document).Ntp.NtpServers
    except ValueError:
        return []


def console_fetcher(
    identity: Identity, key: Ed25519PrivateKey, context: ssl.SSLContext | None
) -> Callable[[str], Awaitable[bytes]]:
    """Downloads from the console (signed GETs), for jobs: a refusal is the job's failure."""

    async def fetch(path: str) -> bytes:
        try:
            answer, data = await asyncio.to_thread(
                get_signed, identity.console_url, path, key=key,
                device_id=identity.device_id, ssl_context=context, max_bytes=MAX_BUNDLE_BYTES,
            )  # fmt: skip
        except ConsoleUnreachable as exc:
            raise JobFailed(str(exc)) from None
        if answer.status != 200:
            raise JobFailed(
                f"The console refused the download of {path} (HTTP {answer.status}): {answer.error}"
            )
        return data

    return fetch


class Agent:
    def __init__(self, options: RunOptions) -> None:
        self.options = options
        self.paths = AgentPaths(options.data_dir)
        self.stop = asyncio.Event()
        self.status = StatusFile(self.paths)
        self.shipper = LogShipper()
        self.link: LinkClient | None = None
        self.jobs: JobRunner | None = None
        self.apps: Supervisor | None = None
        self._was_connected = False  # the link, as _link_changed last saw it
        self.hdmi: Hdmi | None = None
        self.app_logs: AppLogs | None = None

    async def run(self) -> int:
        lock = AgentLock(self.paths.lock)
        if not lock.acquire():
            print(f"Another agent is already running on {self.paths.data_dir}.")
            return 2
        root = logging.getLogger()
        handlers = [*setup_logging(self.paths.logs, self.options.log_level), self.shipper]
        root.addHandler(self.shipper)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.request_stop, signum)
        try:
            return await self._run()
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
            self.status.update(state="stopped", connected=False, since=None)
            logger.info("The agent stopped.")
            for handler in handlers:
                root.removeHandler(handler)
                handler.close()
            lock.release()

    def request_stop(self, signum: int | None = None) -> None:
        # The link stays up until the applications have stopped and the outbox is flushed
        # (``_run_link``); closing it here left their last reports for the next start. This
        # line is one of them: the console's device log says the appliance was stopped.
        if not self.stop.is_set():
            why = f" ({signal.Signals(signum).name})" if signum else ""
            logger.info("The agent is stopping%s.", why)
        self.stop.set()

    async def _run(self) -> int:
        self.status.update(state="booting")
        logger.info("Vantage edge agent %s starting (data in %s).", edge_agent.__version__,
                    self.paths.data_dir)  # fmt: skip
        identity = load_identity(self.paths)
        try:
            write_offline_log_image(self.paths, self.options.usb_dir, identity)
        except Exception as exc:
            logger.error("Writing the offline log image failed: %s", exc)
        if identity is None:
            identity = await self._provision()
            if identity is None:
                return 0
        return await self._run_link(identity)

    async def _provision(self) -> Identity | None:
        usb_logs = UsbLogHandler(self.options.usb_dir)
        logging.getLogger().addHandler(usb_logs)
        self.status.update(state="waiting_for_archive")
        provisioner = Provisioner(
            self.paths,
            self.options.usb_dir,
            software_version=edge_agent.__version__,
            serial_number=serial_number(self.paths.data_dir),
            applier=make_applier(self.options.network_applier),
            network_status=current_network_status,
            poll_s=self.options.poll_s,
            retry_base_s=self.options.backoff_base_s,
            retry_cap_s=min(30.0, self.options.backoff_cap_s),
        )
        try:
            return await provisioner.wait(self.stop)
        finally:
            logging.getLogger().removeHandler(usb_logs)

    async def _run_link(self, identity: Identity) -> int:
        key = self._device_key()
        if key is None:
            return 1
        link, checks = self._assemble(identity, key)
        assert self.jobs is not None and self.apps is not None and self.app_logs is not None
        servers = ntp_servers(self.paths)
        link.queue_report("software", {"version": edge_agent.__version__})
        network = await asyncio.to_thread(current_network_status, servers)
        link.queue_report("network", network.model_dump())
        self.jobs.resume()
        # Applications: restart those that ran before this start (from <data>/apps/state.json).
        await self.apps.restore()
        outbox = link.outbox
        self.status.update(state="connecting", queued_reports=outbox.count())
        ship = self.shipper.run(lambda entries: link.queue_report("logs", {"entries": entries}))
        ship_apps = self.app_logs.run(
            lambda entries: link.queue_report("logs", {"entries": entries}), link.reports.count
        )
        tasks = [
            asyncio.create_task(ship),
            asyncio.create_task(ship_apps),
            asyncio.create_task(self._watch_network(link, network, servers)),
        ]
        link_task = asyncio.create_task(link.run())
        try:
            stopped = asyncio.create_task(self.stop.wait())
            await asyncio.wait({link_task, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if link.revoked:
                # Deleted from the console: its applications stop, and stay stopped.
                await self.apps.revoked(link.revoked_reason)
            if link.revoked and not self.stop.is_set():
                self.status.update(state="revoked", last_error=link.revoked_reason)
                logger.error(
                    "The agent is idle: the console no longer knows this appliance. Run "
                    "'python -m edge_agent reset --full' and set it up again with a new archive."
                )
                await self.stop.wait()
            stopped.cancel()
        finally:
            await self.apps.close()  # stops every node process; state.json stays
            # The log shippers put the lines they still hold (this stop's among them) into the
            # outbox when they end: before the flush, so that those reach the console too.
            shippers = tasks[:2]
            for task in shippers:
                task.cancel()
            await asyncio.gather(*shippers, return_exceptions=True)
            await self._flush(link)
            link.stop()
            await asyncio.wait({link_task}, timeout=3)  # close_timeout is 2 s
            link_task.cancel()
            if self.hdmi is not None:
                await asyncio.to_thread(self.hdmi.close)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await checks.close()
            outbox.close()
        return 0

    def _device_key(self) -> Ed25519PrivateKey | None:
        try:
            return load_device_key(self.paths)
        except (OSError, ValueError) as exc:
            logger.error(
                "The device key %s cannot be read (%s). Without it the console cannot know "
                "this appliance: run 'python -m edge_agent reset --full' and set it up again.",
                self.paths.key,
                exc,
            )
            self.status.update(state="broken", last_error=f"device key unreadable: {exc}")
            return None

    def _assemble(
        self, identity: Identity, key: Ed25519PrivateKey
    ) -> tuple[LinkClient, StreamChecker]:
        """The agent's parts, each built with what it needs: every report goes through one
        queue (the outbox), which the link sends from; the HDMI output sends its frames
        through the link's live sender."""
        paths = self.paths
        context = console_ssl_context(identity.console_url, paths.ca)
        reports = ReportQueue(Outbox(paths.outbox, identity.device_id))
        live = LiveSender()
        self.jobs = jobs = JobRunner(
            paths=paths,
            identity=identity,
            software=Software(paths),
            restarter=Restarter(self.options.reboot_command, self.options.argv, self.stop),
            fetch=console_fetcher(identity, key, context),
            reporter=reports,
        )
        checks = StreamChecker(reports)
        # The HDMI output; its frames go out live while the console's "View output" is open.
        self.hdmi = hdmi = Hdmi(live.send)
        # The applications' logs and metrics (edge_agent/apps/applogs.py, metrics.py).
        self.app_logs = app_logs = AppLogs(state_file=paths.apps / "log_positions.json")
        self.apps = Supervisor(
            paths, key, identity.device_id, identity.console_url, context,
            lambda body: reports.queue_report("applications", body), app_logs=app_logs, hdmi=hdmi,
        )  # fmt: skip
        config = LinkConfig(
            console_url=identity.console_url,
            device_id=identity.device_id,
            private_key=key,
            software_version=edge_agent.__version__,
            seal_key=load_or_create_seal_key(paths),
            link_path=identity.link_path,
            ssl_context=context,
            serial_number=identity.serial_number,
            accelerators=gpu.accelerators(),
            backoff_base_s=self.options.backoff_base_s,
            backoff_cap_s=self.options.backoff_cap_s,
        )
        hooks = LinkHooks(
            on_desired=self._apply_desired,
            health=HealthProvider(paths.data_dir),
            applied_version=jobs.applied_version,
            app_metrics=self._app_metrics,
            on_change=self._link_changed,
            on_output_watch=hdmi.watch,
            handlers={CheckStream: checks.handle},
        )
        self.link = link = LinkClient(config, reports, hooks, live=live)
        return link, checks

    async def _flush(self, link: LinkClient) -> None:
        """Send what the outbox holds while the link is still up, for a short while."""
        if not link.connected or not link.reports.count():
            return
        if await link.flush(STOP_FLUSH_S):
            logger.info("Stopping: the console has every report.")
        else:
            logger.warning(
                "Stopping with %d reports not yet acknowledged; they are sent after the next "
                "start.",
                link.reports.count(),
            )

    async def _watch_network(
        self, link: LinkClient, last: NetworkStatus, servers: list[str]
    ) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), self.options.network_check_s)
            if self.stop.is_set():
                return
            current = await asyncio.to_thread(current_network_status, servers)
            if current != last:
                logger.info("The network changed; reporting it.")
                link.queue_report("network", current.model_dump())
                last = current
            self._link_changed(link)

    async def _apply_desired(self, desired: Desired) -> None:
        """Jobs first (a REBOOT or OTA may restart the agent right away), then applications."""
        assert self.jobs is not None and self.apps is not None
        await self.jobs.handle_desired(desired)
        if not self.jobs.restarted:
            await self.apps.apply_documents(desired.applications)

    def _app_metrics(self) -> dict[str, dict[str, dict[str, Any]]]:
        """The heartbeat's ``applications`` block: the metrics of every node."""
        return self.apps.metrics() if self.apps is not None else {}

    def _link_changed(self, link: LinkClient) -> None:
        if link.connected and not self._was_connected and self.apps is not None:
            self.apps.reannounce()
        self._was_connected = link.connected
        state = "revoked" if link.revoked else ("connected" if link.connected else "connecting")
        self.status.update(
            state=state,
            connected=link.connected,
            since=link.connected_since,
            last_heartbeat_ack=link.last_heartbeat_ack,
            last_error=link.last_error,
            queued_reports=link.reports.count(),
            pending_job=self.jobs.pending_job() if self.jobs else None,
        )


def run(options: RunOptions) -> int:
    return asyncio.run(Agent(options).run())
