"""Fault drill of issue #20: the appliance's data disk fills up. A real agent whose data
directory is a small tmpfs (the test mounts it, as root), the live stack as its console.

While the disk is full the appliance stays online (heartbeats on time), a deployment fails at
once with the reason and the figures (the report goes out from memory: the outbox cannot store
it), and the console shows how little space is left; once space is freed, everything catches
up without a restart. Each step prints how long it took, for the issue's note.
"""

from __future__ import annotations

import itertools
import re
import time

import pytest

from tests.support.appliances import refreshed, setup_device
from tests.support.deploy import instance_state
from tests.support.diskfull import fill, small_disk
from tests.support.ports import free_host_port
from tests.support.waiting import http_get, wait_for

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


# Prints a numbered line every 2 ms, as a busy application does, and answers HTTP with how
# far it got: if the agent stops draining its output, print() blocks once the pipe is full
# and the count stops.
CHATTY = """
import http.server, socketserver, threading, time

count = 0

def chatter():
    global count
    while True:
        count += 1
        print(f"frame {count} " + "x" * 100, flush=True)
        time.sleep(0.002)

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = str(count).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

threading.Thread(target=chatter, daemon=True).start()
socketserver.TCPServer.allow_reuse_address = True
with socketserver.TCPServer(("0.0.0.0", 8080), Handler) as server:
    server.serve_forever()
"""


@pytest.fixture
def code_package(live_stack):
    from tests.support.deploy import register_inbound_network_package

    return register_inbound_network_package(app_py=CHATTY)


def deploy(device, name: str, host_port: int | None = None):
    from applications import deployments
    from tests.support.deploy import inbound_network_app

    graph, override = inbound_network_app(host_port or free_host_port())
    return deployments.request_deployment(
        name=name, device=refreshed(device), manifest_text=graph, overrides_text=override
    )


def printed(port: int) -> int:
    """How many lines the chatty application has printed (0 while it does not answer)."""
    answer = http_get(port)
    return int(answer) if answer and answer.isdigit() else 0


def settled(instance, expected: tuple[str, str], timeout: float = 120) -> None:
    try:
        wait_for(lambda: instance_state(instance) == expected, timeout, str(expected))
    except AssertionError:
        raise AssertionError(
            f"{instance.name}: {instance_state(instance)}, {instance.status_description!r}; "
            f"expected {expected}"
        ) from None


def longest_heartbeat_gap(device, count: int) -> float:
    """Waits for ``count`` heartbeats; the longest time between two, as the console stored them."""
    stored = [refreshed(device).last_heartbeat_at]

    def newer():
        at = refreshed(device).last_heartbeat_at
        return at if at != stored[-1] else None

    for _ in range(count):
        stored.append(wait_for(newer, 10, "a heartbeat"))
    return max((b - a).total_seconds() for a, b in itertools.pairwise(stored))


def test_a_full_data_disk_fails_a_deployment_with_its_reason_and_the_appliance_recovers(
    make_agent, live_stack, code_package
):
    from devicelink.archive import archive_name

    device, archive, _ = setup_device("disk-full", live_stack.url)
    agent = make_agent("disk-full")
    # Its own log at debug level (outside the full disk): what was sent, when.
    agent.env["VANTAGE_AGENT_LOG_LEVEL"] = "DEBUG"
    with small_disk(agent.data_dir, "64m") as data:
        (agent.usb_dir / archive_name("disk-full")).write_bytes(archive)
        agent.start()
        try:
            wait_for(lambda: refreshed(device).aggregated == "ONLINE", 60, "ONLINE")
            filler = fill(data)
            wait_for(
                lambda: (refreshed(device).health.get("disk_free_bytes") or 1) < 1024**2,
                20, "the console to see the full disk",
            )  # fmt: skip
            instance = deploy(device, "full-disk")
            settled(instance, ("DEPLOYMENT_FAILED", "ERROR"))
            # From the desired state sent to the failure stored (the console may take a while
            # to send it: its redrive picks up a deployment whose first task found it claimed).
            times = dict(instance.events.values_list("status", "time"))
            failed_after = (
                times["DEPLOYMENT_FAILED"] - times["DEPLOYMENT_REQUESTED"]
            ).total_seconds()
            assert re.search(
                r"code_node: No space left on device while downloading code: needs \d+ KiB, "
                r"\d+ KiB free$",
                instance.status_description,
            ), instance.status_description
            # Heartbeats stay on time (every second, lease 4 s) on the full disk.
            longest = longest_heartbeat_gap(device, 5)
            assert longest < 3, longest
            assert refreshed(device).aggregated == "ONLINE"

            filler.unlink()
            freed = time.monotonic()
            wait_for(
                lambda: (refreshed(device).health.get("disk_free_bytes") or 0) > 32 * 1024**2,
                20, "the console to see the room",
            )  # fmt: skip
            seen_free = time.monotonic() - freed
            port = free_host_port()
            again = deploy(device, "room-again", port)
            settled(again, ("DEPLOYMENT_SUCCEEDED", "RUNNING"))
            recovered = time.monotonic() - freed
            assert "The outbox cannot store reports" in agent.log()

            # b. The disk fills while the application runs: it keeps running (its output is
            # drained and dropped), heartbeats stay on time; then everything resumes.
            wait_for(lambda: printed(port) > 100, 30, "the application's first lines")
            output = data / "apps" / again.application_instance_id / "logs"
            output = output / "console_output.log"
            filler = fill(data)
            before = printed(port)
            # Far more than a pipe holds (64 KiB, about 600 lines).
            wait_for(lambda: printed(port) > before + 3000, 60, "the application to go on")
            running_gap = longest_heartbeat_gap(device, 3)
            assert running_gap < 3, running_gap
            assert instance_state(again) == ("DEPLOYMENT_SUCCEEDED", "RUNNING")
            wait_for(lambda: "line(s) of application output" in agent.log(), 10, "the warning")
            size = output.stat().st_size
            filler.unlink()
            freed = time.monotonic()
            wait_for(lambda: output.stat().st_size > size + 10_000, 30, "output written again")
            output_back = time.monotonic() - freed
        finally:
            agent.stop()
    print(
        f"\n[fault drill] data disk full: deployment FAILED with its reason {failed_after:.1f} s "
        f"after it was sent to the appliance; longest heartbeat gap {longest:.1f} s (lease "
        f"4 s); free space seen by the console {seen_free:.1f} s after it was freed; a new "
        f"deployment RUNNING {recovered:.1f} s after. Disk full under a running application: "
        f"it printed 3,000+ lines meanwhile, longest heartbeat gap {running_gap:.1f} s; its "
        f"output written again {output_back:.1f} s after space was freed"
    )
