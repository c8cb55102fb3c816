"""Smaller pieces: restarting with a reboot command, log shipping, health, close codes."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sys

import pytest

from devicelink.messages import Health
from edge_agent.bootstrap import BOOTSTRAP_ENV
from edge_agent.health import HealthProvider
from edge_agent.logs import LogShipper, stream_of
from edge_agent.software import (
    Restarter,
    RestartError,
    restart_command,
    restart_environment,
)
from tests.support.waiting import eventually


def test_a_reboot_command_that_works_waits_for_the_system_to_stop_the_agent():
    async def main():
        stop = asyncio.Event()
        restarter = Restarter("true", [], stop, grace_s=10)
        task = asyncio.create_task(restarter.restart())
        await asyncio.sleep(0)
        assert not task.done()
        stop.set()  # the system's SIGTERM
        await asyncio.wait_for(task, 5)

    asyncio.run(main())


@pytest.mark.parametrize(
    ("command", "grace", "message"),
    [("false", 5, "exited with 1"), ("true", 0.05, "was not stopped within")],
)
def test_a_reboot_command_that_fails_is_an_error(command, grace, message):
    restarter = Restarter(command, [], asyncio.Event(), grace_s=grace)
    with pytest.raises(RestartError, match=message):
        asyncio.run(restarter.restart())


def test_development_restart_keeps_arguments_and_environment():
    argv = ["run", "--data-dir", "/srv/agent", "--usb-dir", "/media/usb"]
    assert restart_command(argv) == [sys.executable, "-P", "-m", "edge_agent", *argv]
    env = restart_environment({"HOME": "/root", "VANTAGE_AGENT_DATA_DIR": "/d"})
    assert env["HOME"] == "/root" and env["VANTAGE_AGENT_DATA_DIR"] == "/d"
    assert BOOTSTRAP_ENV not in env
    # -P leaves the working directory off sys.path, so the agent's folder goes on PYTHONPATH.
    import edge_agent

    root = os.path.dirname(os.path.dirname(os.path.abspath(edge_agent.__file__)))
    assert env["PYTHONPATH"].split(os.pathsep)[0] == root
    assert restart_environment(env)["PYTHONPATH"] == env["PYTHONPATH"]  # not added twice


def test_log_shipper_batches_and_filters():
    shipper = LogShipper(batch=5, interval_s=30)
    logger = logging.getLogger("edge_agent.provision.test")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(shipper)
    other = logging.getLogger("somelib")
    other.addHandler(shipper)
    sent: list[list[dict]] = []

    async def main():
        task = asyncio.create_task(shipper.run(sent.append))
        await asyncio.sleep(0)
        logger.debug("debug chatter is not shipped")
        other.info("nor other libraries' info")
        other.warning("but their warnings are")
        for n in range(4):
            logger.info("step %d", n)
        # Five entries wait: shipped at once, long before the 30 s interval.
        await eventually(lambda: sent)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    try:
        asyncio.run(main())
    finally:
        logger.removeHandler(shipper)
        other.removeHandler(shipper)
    entries = sent[0]
    assert [e["message"] for e in entries] == ["but their warnings are"] + [
        f"step {n}" for n in range(4)
    ]
    assert entries[0]["stream"] == "syslog" and entries[1]["stream"] == "occ_log"
    assert {e["level"] for e in entries} == {"WARNING", "INFO"}


def test_streams_follow_the_logger_or_the_record():
    record = logging.LogRecord("edge_agent.software", logging.INFO, "", 0, "x", (), None)
    assert stream_of(record) == "ota_log"
    record.stream = "occ_log"
    assert stream_of(record) == "occ_log"
    other = logging.LogRecord("edge_agent.network", logging.INFO, "", 0, "x", (), None)
    assert stream_of(other) == "syslog"


def test_health_figures(tmp_path):
    health = HealthProvider(tmp_path)()
    assert isinstance(health, Health)
    assert 0 <= health.cpu_percent <= 100 and 0 < health.memory_percent <= 100
    assert 0 < health.disk_percent <= 100 and health.uptime_s > 0
    free = shutil.disk_usage(tmp_path).free
    assert health.disk_free_bytes > 0 and abs(health.disk_free_bytes - free) < 64 * 1024**2
    assert health.load_1m is not None
    assert health.temperature_c is None or -50 < health.temperature_c < 150


def test_low_disk_space_is_logged_once_and_its_end_too(tmp_path, caplog):
    free = shutil.disk_usage(tmp_path).free
    health = HealthProvider(tmp_path, warn_bytes=free * 2)
    with caplog.at_level(logging.INFO, "edge_agent.health"):
        health()
        health()
        health.warn_bytes = 0
        health()
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2, messages
    assert (
        messages[0].startswith("Low disk space: ") and "VANTAGE_AGENT_DISK_WARN_MIB" in messages[0]
    )
    assert messages[1].startswith("The disk has room again: ")
