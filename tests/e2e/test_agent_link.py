"""The agent's LinkClient against the real console's link (/agent/v1/link).

LinkClients run in event loops of their own threads (``LinkLoop``), so that the test's thread
stays synchronous: it uses the ORM like any other process of the console and waits on conditions
with ``wait_for``. The console is made to act as it does in production: jobs and
``desired.publish`` for desired state, ``delete_device`` for revocation, a second connection of
the same device for replacement, a wrong key for 401, and ``TcpProxy`` for cut and silent
networks.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from devicelink import LINK_PATH, auth
from devicelink.auth import sign_request
from devicelink.messages import Desired
from devices.deletion import delete_device
from devices.desired import publish
from devices.jobs import create_jobs
from devices.models import Device
from edge_agent.link import LinkClient, link_uri
from edge_agent.outbox import Outbox, open_database
from tests.support.agent_pieces import (
    console_logs,
    errors_of,
    link_client,
    log_entries,
    refreshed,
)
from tests.support.devices import provisioned_device
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


# --- the link: LinkClient against GET /agent/v1/link ------------------------------------------


def test_hello_heartbeats_and_reports_in_order(tmp_path, live_stack, links):
    device, key = provisioned_device("lobby-1")
    with Outbox(tmp_path / "outbox.sqlite3", device.device_id) as outbox:
        outbox.append("software", {"version": "1.2.3"})  # queued while offline
        run = links.start(live_stack.url, device, key, outbox)
        client = run.client
        assert run.call(client.wait_connected, 10)
        for n in range(20):
            run.call(client.queue_report, "logs", log_entries(f"report {n}"))
        wait_for(lambda: refreshed(device).last_report_seq == 21, 15, "21 reports stored")
        wait_for(lambda: run.call(outbox.count) == 0, 10, "the outbox to empty")
        wait_for(lambda: client.last_rtt_s is not None and client.stats.heartbeat_acks >= 2,
                 10, "heartbeats acknowledged")  # fmt: skip
        assert console_logs(device, message__startswith="report ") == [
            f"report {n}" for n in range(20)
        ]
        # The hello and the heartbeats, as the console stored them.
        device = refreshed(device)
        assert device.aggregated == "ONLINE" and device.provisioning_status == "SUCCEEDED"
        assert (device.current_software, device.serial_number) == ("1.2.3", "123456789012")
        wait_for(lambda: refreshed(device).health.get("cpu_percent") == 5.0, 10, "health")
        assert device.lease_expires_at is not None
        assert client.welcome.device_id == device.device_id
        assert (client.welcome.heartbeat_s, client.welcome.lease_s) == (1, 4)
        assert client.stats.reports_acked == 21
        assert run.call(client.flush, 1)
        run.stop()
        assert not client.connected


def test_reports_made_offline_are_delivered_in_order_after_reconnecting(
    tmp_path, live_stack, links, console_proxy
):
    device, key = provisioned_device("lobby-1")
    errors: list[str] = []
    with Outbox(tmp_path / "outbox.sqlite3", device.device_id) as outbox:
        run = links.start(console_proxy.url, device, key, outbox, on_change=errors_of(errors))
        client = run.client
        assert run.call(client.wait_connected, 10)
        run.call(client.queue_report, "logs", log_entries("offline 1"))
        wait_for(lambda: refreshed(device).last_report_seq == 1, 10, "the first report")
        wait_for(lambda: run.call(outbox.count) == 0, 10, "its ack")

        console_proxy.cut()
        wait_for(lambda: not client.connected, 10, "the agent to notice the cut")
        for n in range(2, 7):
            run.call(client.queue_report, "logs", log_entries(f"offline {n}"))
        failures = client.stats.failures
        wait_for(lambda: client.stats.failures > failures + 2, 10, "failed reconnects")
        assert refreshed(device).last_report_seq == 1 and run.call(outbox.count) == 5

        console_proxy.restore()
        wait_for(lambda: refreshed(device).last_report_seq == 6, 15, "the queued reports")
        wait_for(lambda: run.call(outbox.count) == 0, 10, "the outbox to empty")
        assert console_logs(device, message__startswith="offline ") == [
            f"offline {n}" for n in range(1, 7)
        ]
        assert client.stats.connects >= 2
        assert not [e for e in errors if "protocol error" in e]  # never a gap (4400)
        run.stop()


def test_a_new_outbox_follows_the_consoles_last_seq(tmp_path, live_stack, links):
    """An outbox that was lost restarts at 1; the agent renumbers instead of being ignored."""
    device, key = provisioned_device("lobby-1")
    Device.objects.filter(pk=device.pk).update(last_report_seq=41)
    with Outbox(tmp_path / "outbox.sqlite3", device.device_id) as outbox:
        assert outbox.append("logs", log_entries("renumbered")) == 1
        run = links.start(live_stack.url, device, key, outbox)
        wait_for(lambda: refreshed(device).last_report_seq == 42, 15, "report 42")
        assert console_logs(device) == ["renumbered"]
        assert run.call(run.client.queue_report, "logs", log_entries("next")) == 43
        wait_for(lambda: refreshed(device).last_report_seq == 43, 10, "report 43")
        assert console_logs(device) == ["renumbered", "next"]
        run.stop()


def test_desired_is_applied_once_and_reported(tmp_path, live_stack, links, console_proxy):
    device, key = provisioned_device("lobby-1")
    handled: list[Desired] = []
    release = threading.Event()

    async def on_desired(desired: Desired) -> None:
        handled.append(desired)
        await asyncio.to_thread(release.wait, 60)

    try:
        with Outbox(tmp_path / "outbox.sqlite3", device.device_id) as outbox:
            run = links.start(console_proxy.url, device, key, outbox, on_desired=on_desired)
            client = run.client
            assert run.call(client.wait_connected, 10)
            [job] = create_jobs([refreshed(device)], "REBOOT")  # desired state 1
            wait_for(lambda: len(handled) == 1, 10, "desired state 1")
            assert handled[0].version == 1
            assert [(j.job_id, j.job_type) for j in handled[0].jobs] == [(job.job_id, "REBOOT")]

            # Re-sent while being applied (the link came back, and the hello says nothing is
            # applied yet), then two newer ones: only the newest runs after the first.
            console_proxy.cut()
            wait_for(lambda: not client.connected, 10, "the link to drop")
            console_proxy.restore()
            wait_for(lambda: client.stats.desired_received == 2, 15, "desired 1 again")
            publish(refreshed(device))
            wait_for(lambda: client.stats.desired_received == 3, 10, "desired state 2")
            publish(refreshed(device))
            wait_for(lambda: client.stats.desired_received == 4, 10, "desired state 3")
            assert [d.version for d in handled] == [1]
            release.set()
            wait_for(lambda: refreshed(device).applied_version == 3, 10, "applied 3 reported")
            assert [d.version for d in handled] == [1, 3]
            assert client.applied_version == 3
            run.stop()
    finally:
        release.set()


def test_a_deleted_device_is_told_and_its_client_stops(tmp_path, live_stack, links, administrator):
    device, key = provisioned_device("lobby-1")
    with Outbox(tmp_path / "outbox.sqlite3", device.device_id) as outbox:
        run = links.start(live_stack.url, device, key, outbox)
        client = run.client
        assert run.call(client.wait_connected, 10)
        delete_device(refreshed(device), administrator)
        wait_for(run.finished, 10, "run() to return by itself")
        run.join()
        assert client.revoked
        assert client.revoked_reason == "This device was deleted from the console."
        assert not client.connected and client.stats.connects == 1


def test_a_refused_upgrade_403_means_revoked_and_401_keeps_trying(
    tmp_path, live_stack, links, administrator
):
    device, _key = provisioned_device("lobby-1")
    wrong_key = auth.generate_private_key()
    with Outbox(tmp_path / "outbox.sqlite3", device.device_id) as outbox:
        run = links.start(live_stack.url, device, wrong_key, outbox)
        client = run.client
        wait_for(lambda: client.stats.failures >= 3, 10, "refused attempts")
        assert client.last_error == (
            "The console refused the link (HTTP 401: The request's signature does not match "
            "the device's key.)."
        )
        assert not run.finished() and not client.revoked
        assert client.stats.connects == 0 and refreshed(device).aggregated != "ONLINE"

        delete_device(refreshed(device), administrator)  # leaves a DeletedDevice: 403
        wait_for(run.finished, 10, "run() to return by itself")
        run.join()
        assert client.revoked
        assert "HTTP 403: Device lobby-1" in client.revoked_reason
        assert "was deleted from the console" in client.revoked_reason
        assert "reset --full" in client.revoked_reason


def test_a_replaced_connection_reconnects(tmp_path, live_stack, links):
    device, key = provisioned_device("lobby-1")
    errors: list[str] = []
    with Outbox(tmp_path / "outbox.sqlite3", device.device_id) as outbox:
        run = links.start(live_stack.url, device, key, outbox, on_change=errors_of(errors))
        client = run.client
        assert run.call(client.wait_connected, 10)
        # The same device connects again (a clone, or a restarted agent whose old TCP
        # connection the console has not noticed closing): the newer connection wins.
        headers = {"Authorization": sign_request(key, device.device_id, "GET", LINK_PATH)}
        with ws_connect(link_uri(live_stack.url, LINK_PATH), additional_headers=headers,
                        open_timeout=10) as second:  # fmt: skip
            wait_for(lambda: any("replaced this one" in e for e in errors), 10, "4409")
            # The agent reconnects, and in its turn replaces the second connection.
            wait_for(lambda: client.connected and client.stats.connects == 2, 10, "reconnect")
            with pytest.raises(ConnectionClosed) as closed:
                second.recv(timeout=10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4409
        assert (
            "Another connection of this device replaced this one (A newer connection of this "
            "device replaced this one.)." in errors
        )
        wait_for(lambda: refreshed(device).aggregated == "ONLINE", 10, "ONLINE")
        run.stop()


def test_many_clients_share_one_event_loop(tmp_path, live_stack, links):
    clients = 50
    # One SQLite connection for all of them, as a benchmark of many appliances would.
    database = open_database(tmp_path / "shared.sqlite3", durable=False)
    devices = [provisioned_device(f"sim-{n}") for n in range(clients)]

    def make() -> list[LinkClient]:
        # At the console's heartbeat interval (1 s here), like appliances.
        options = {"heartbeat_s": None}
        return [
            link_client(live_stack.url, device, key, Outbox(database, device.device_id), **options)
            for device, key in devices
        ]

    run = links.start_many(make)
    wait_for(lambda: all(link.connected for link in run.clients), 30, "every client connected")
    for link in run.clients:
        run.call(link.queue_report, "logs", log_entries(f"hello from {link.device_id}"))
    wait_for(
        lambda: (
            Device.objects.filter(last_report_seq=1, connection_status="ONLINE").count() == clients
        ),
        30,
        "one report of each device stored",
    )
    run.stop()
    for link in run.clients:
        link.outbox.close()  # leaves the shared connection open
    assert database.execute("SELECT COUNT(*) FROM counters").fetchone()[0] == clients
    database.close()


def test_a_console_that_stops_answering_is_left_after_a_lease(
    tmp_path, live_stack, links, console_proxy
):
    device, key = provisioned_device("lobby-1")
    errors: list[str] = []
    with Outbox(tmp_path / "outbox.sqlite3", device.device_id) as outbox:
        run = links.start(
            console_proxy.url, device, key, outbox, open_timeout_s=2, on_change=errors_of(errors)
        )
        client = run.client
        assert run.call(client.wait_connected, 10)
        wait_for(lambda: client.stats.heartbeat_acks > 0, 10, "a heartbeat acknowledged")

        # The console goes silent; TCP stays up, so only the agent's lease can tell.
        console_proxy.freeze()
        frozen_at = time.monotonic()
        dead = re.compile(r"No answer from the console for (\d+) s; reconnecting\.")
        said = wait_for(lambda: next(filter(None, map(dead.fullmatch, errors)), None), 15,
                        "the agent to give up on the silent link")  # fmt: skip
        assert int(said.group(1)) >= 4  # the console's lease (DEVICE_LEASE_S), not sooner
        assert time.monotonic() - frozen_at >= 4
        # The console saw no heartbeat either: its lease ran out.
        wait_for(lambda: refreshed(device).aggregated == "OFFLINE", 15, "OFFLINE")
        wait_for(lambda: not client.connected, 20, "the agent to leave the dead connection")
        assert client.stats.connects == 1

        console_proxy.thaw()
        # (>= 2: a handshake that was held back while frozen may reach the console late and
        # replace the new link once more; the agent then simply reconnects again.)
        wait_for(lambda: client.connected and client.stats.connects >= 2, 20, "a new link")
        acks = client.stats.heartbeat_acks
        wait_for(lambda: client.stats.heartbeat_acks > acks, 10, "heartbeats answered again")
        wait_for(lambda: refreshed(device).aggregated == "ONLINE", 10, "ONLINE again")
        run.stop()
