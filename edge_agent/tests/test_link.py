"""The link client against a real WebSocket server speaking the protocol (fake_console)."""

from __future__ import annotations

import asyncio
import json
import random
from types import SimpleNamespace

import pytest

from devicelink.messages import Desired, Health, JobSpec
from edge_agent.backoff import Backoff
from edge_agent.link import LinkClient, link_uri, refusal_message
from edge_agent.outbox import Outbox, open_database
from edge_agent.tests.fake_console import FakeConsole
from edge_agent.tests.support import eventually


def test_backoff_doubles_to_the_cap_with_full_jitter():
    backoff = Backoff(1.0, 60.0, rng=random.Random(7))
    ceilings = []
    for _ in range(10):
        ceilings.append(backoff.ceiling())
        delay = backoff.next_delay()
        assert 0 <= delay <= ceilings[-1]
    assert ceilings == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]
    backoff.reset()
    assert backoff.ceiling() == 1
    # Full jitter: delays spread over the whole window, not bunched at its end.
    many = Backoff(1.0, 60.0, rng=random.Random(1), attempt=20)
    delays = [many.next_delay() for _ in range(2000)]
    assert max(delays) <= 60 and min(delays) >= 0
    assert min(delays) < 6 and max(delays) > 54
    assert 25 < sum(delays) / len(delays) < 35
    assert Backoff(1, 60, attempt=10_000).ceiling() == 60  # no overflow


def test_link_uri_and_refusal_message():
    assert (
        link_uri("https://v.example.com", "/agent/v1/link") == "wss://v.example.com/agent/v1/link"
    )
    assert (
        link_uri("http://127.0.0.1:8000/", "/agent/v1/link") == "ws://127.0.0.1:8000/agent/v1/link"
    )
    response = SimpleNamespace(
        status_code=403, reason_phrase="Forbidden", body=json.dumps({"error": "deleted"}).encode()
    )
    assert refusal_message(SimpleNamespace(response=response)) == "HTTP 403: deleted"
    response.body = b"<html>"
    assert refusal_message(SimpleNamespace(response=response)) == "HTTP 403: Forbidden"


def _client(console: FakeConsole, device, key, outbox: Outbox, **extra) -> LinkClient:
    options = {
        "console_url": console.url,
        "device_id": device.device_id,
        "private_key": key,
        "outbox": outbox,
        "software_version": "1.2.3",
        "health": lambda: Health(cpu_percent=5.0),
        "heartbeat_s": 0.1,
        "backoff_base_s": 0.01,
        "backoff_cap_s": 0.05,
        "serial_number": "123456789012",
        **extra,
    }
    return LinkClient(**options)


async def _with_console(test):
    console = FakeConsole()
    await console.start()
    try:
        await test(console)
    finally:
        await console.shutdown()


def run(test):
    asyncio.run(_with_console(test))


def test_hello_heartbeats_and_reports_in_order(tmp_path):
    async def test(console):
        device, key = console.provisioned()
        with Outbox(tmp_path / "outbox.sqlite3", device.device_id) as outbox:
            client = _client(console, device, key, outbox)
            client.queue_report("software", {"version": "1.2.3"})  # queued while offline
            task = asyncio.create_task(client.run())
            assert await client.wait_connected(10)
            for n in range(20):
                client.queue_report("applied", {"version": n})
            await eventually(lambda: device.last_seq == 21 and outbox.count() == 0)
            await eventually(lambda: client.last_rtt_s is not None and device.heartbeats >= 2)
            hello = device.hellos[0]
            assert (hello.protocol, hello.software_version, hello.serial_number) == (
                1, "1.2.3", "123456789012"
            )  # fmt: skip
            assert [r.seq for r in device.reports] == list(range(1, 22))
            assert device.bodies("applied") == [{"version": n} for n in range(20)]
            assert client.stats.reports_acked == 21
            assert await client.flush(1)
            client.stop()
            await asyncio.wait_for(task, 5)
            assert not client.connected

    run(test)


def test_reports_made_offline_are_delivered_in_order_after_reconnecting(tmp_path):
    async def test(console):
        device, key = console.provisioned()
        with Outbox(tmp_path / "outbox.sqlite3", device.device_id) as outbox:
            client = _client(console, device, key, outbox)
            task = asyncio.create_task(client.run())
            assert await client.wait_connected(10)
            client.queue_report("applied", {"version": 1})
            await eventually(lambda: device.last_seq == 1)
            device.refuse_link = (503, "down for maintenance")
            await console.kick(device)
            await eventually(lambda: not client.connected)
            for n in range(2, 7):
                client.queue_report("applied", {"version": n})
            await eventually(lambda: "down for maintenance" in client.last_error)
            assert device.last_seq == 1 and outbox.count() == 5
            device.refuse_link = None
            await eventually(lambda: device.last_seq == 6 and outbox.count() == 0)
            assert [b["version"] for b in device.bodies("applied")] == [1, 2, 3, 4, 5, 6]
            assert device.gaps == 0 and len(device.hellos) >= 2
            client.stop()
            await task

    run(test)


def test_a_new_outbox_follows_the_consoles_last_seq(tmp_path):
    """An outbox that was lost restarts at 1; the agent renumbers instead of being ignored."""

    async def test(console):
        device, key = console.provisioned()
        device.last_seq = 41
        with Outbox(tmp_path / "outbox.sqlite3", device.device_id) as outbox:
            outbox.append("applied", {"version": 1})
            client = _client(console, device, key, outbox)
            task = asyncio.create_task(client.run())
            await eventually(lambda: device.last_seq == 42)
            assert device.reports[0].body == {"version": 1} and device.gaps == 0
            assert client.queue_report("applied", {"version": 2}) == 43
            await eventually(lambda: device.last_seq == 43)
            client.stop()
            await task

    run(test)


def test_desired_is_applied_once_and_reported(tmp_path):
    async def test(console):
        device, key = console.provisioned()
        handled: list[int] = []
        release = asyncio.Event()

        async def on_desired(desired: Desired) -> None:
            handled.append(desired.version)
            await release.wait()

        with Outbox(tmp_path / "outbox.sqlite3", device.device_id) as outbox:
            client = _client(console, device, key, outbox, on_desired=on_desired)
            task = asyncio.create_task(client.run())
            assert await client.wait_connected(10)
            job = JobSpec(job_id="job-1", job_type="REBOOT")
            await console.publish(device, Desired(version=1, jobs=[job]))
            await eventually(lambda: handled == [1])
            # Re-sent while being applied, and a newer one: only the newest runs after.
            await console.publish(device, Desired(version=1, jobs=[job]))
            await console.publish(device, Desired(version=2))
            await console.publish(device, Desired(version=3))
            await eventually(lambda: client.stats.desired_received == 4)
            release.set()
            await eventually(lambda: device.bodies("applied") == [{"version": 1}, {"version": 3}])
            assert handled == [1, 3] and client.applied_version == 3
            client.stop()
            await task

    run(test)


def test_revoked_message_stops_the_client(tmp_path):
    async def test(console):
        device, key = console.provisioned()
        with Outbox(tmp_path / "outbox.sqlite3", device.device_id) as outbox:
            client = _client(console, device, key, outbox)
            task = asyncio.create_task(client.run())
            assert await client.wait_connected(10)
            await console.revoke(device)
            await asyncio.wait_for(task, 5)  # run() returns by itself
            assert client.revoked and client.revoked_reason == "The device was deleted."
            assert not client.connected

    run(test)


def test_a_refused_upgrade_403_means_revoked_and_401_keeps_trying(tmp_path):
    async def test(console):
        device, key = console.provisioned()
        device.refuse_link = (401, "The request's timestamp is 900 s away; check NTP.")
        with Outbox(tmp_path / "outbox.sqlite3", device.device_id) as outbox:
            client = _client(console, device, key, outbox)
            task = asyncio.create_task(client.run())
            await eventually(lambda: client.stats.failures >= 3)
            assert "check NTP" in client.last_error and not task.done()
            device.deleted = True
            await asyncio.wait_for(task, 5)
            assert client.revoked and "deleted from the console" in client.revoked_reason

    run(test)


def test_a_replaced_connection_reconnects(tmp_path):
    async def test(console):
        device, key = console.provisioned()
        with Outbox(tmp_path / "outbox.sqlite3", device.device_id) as outbox:
            client = _client(console, device, key, outbox)
            task = asyncio.create_task(client.run())
            assert await client.wait_connected(10)
            await console.kick(device, 4409)
            await eventually(lambda: client.stats.connects == 2 and client.connected)
            assert "replaced" in client.last_error or client.last_error == ""
            client.stop()
            await task

    run(test)


@pytest.mark.parametrize("clients", [50])
def test_many_clients_share_one_event_loop(tmp_path, clients):
    async def test(console):
        # One SQLite connection for all of them, as a benchmark of many appliances would.
        database = open_database(tmp_path / "shared.sqlite3", durable=False)
        links = []
        for n in range(clients):
            device, key = console.provisioned(f"sim-{n}")
            outbox = Outbox(database, device.device_id)
            links.append((device, _client(console, device, key, outbox)))
        tasks = [asyncio.create_task(link.run()) for _, link in links]
        await eventually(lambda: all(link.connected for _, link in links), timeout=30)
        for _, link in links:
            link.queue_report("applied", {"version": 1})
        await eventually(lambda: all(device.last_seq == 1 for device, _ in links), timeout=30)
        for _, link in links:
            link.stop()
        await asyncio.gather(*tasks)
        for _, link in links:
            link.outbox.close()  # leaves the shared connection open
        assert database.execute("SELECT COUNT(*) FROM counters").fetchone()[0] == clients
        database.close()

    run(test)


def test_close_code_4403_alone_also_means_revoked(tmp_path):
    async def test(console):
        device, key = console.provisioned()
        with Outbox(tmp_path / "outbox.sqlite3", device.device_id) as outbox:
            client = _client(console, device, key, outbox)
            task = asyncio.create_task(client.run())
            assert await client.wait_connected(10)
            await console.kick(device, 4403)
            await asyncio.wait_for(task, 5)
            assert client.revoked and client.stats.connects == 1

    run(test)


def test_a_report_the_console_would_refuse_never_enters_the_outbox(tmp_path):
    console = FakeConsole()
    device, key = console.provisioned()
    with Outbox(tmp_path / "outbox.sqlite3", device.device_id) as outbox:
        client = _client(console, device, key, outbox)
        with pytest.raises(ValueError, match="unknown report kind"):
            client.queue_report("gossip", {})
        with pytest.raises(ValueError, match="job report"):
            client.queue_report("job", {"job_id": "j", "status": "SLEEPING"})
        too_many = {"entries": [{"time": 0, "stream": "syslog", "message": "x"}] * 501}
        with pytest.raises(ValueError):
            client.queue_report("logs", too_many)
        assert outbox.count() == 0
        assert client.queue_report("job", {"job_id": "j", "status": "COMPLETED"}) == 1


def test_a_console_that_stops_answering_is_left_after_a_lease(tmp_path):
    async def test(console):
        device, key = console.provisioned()
        with Outbox(tmp_path / "outbox.sqlite3", device.device_id) as outbox:
            errors: list[str] = []
            client = _client(console, device, key, outbox,
                             on_change=lambda link: errors.append(link.last_error))  # fmt: skip
            task = asyncio.create_task(client.run())
            assert await client.wait_connected(10)
            device.mute = True  # the fake console's lease_s is 3
            await eventually(lambda: client.stats.connects == 2)
            device.mute = False
            assert "No answer from the console for 3 s; reconnecting." in errors
            acks = client.stats.heartbeat_acks
            await eventually(lambda: client.stats.heartbeat_acks > acks)
            assert client.connected and client.stats.connects == 2
            client.stop()
            await task

    run(test)
