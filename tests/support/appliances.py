"""Real edge agents for end-to-end tests: processes with a USB folder and a data folder, set
up the way an operator does it (device, archive, USB), against the live stack."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from devicelink.archive import archive_name
from tests.support.devices import make_device
from tests.support.paths import BASE_DIR
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import wait_for


@dataclass
class Agent:
    usb_dir: Path
    data_dir: Path
    log_path: Path
    env: dict[str, str]
    process: subprocess.Popen | None = None
    extra: list[str] = field(default_factory=list)

    def start(self) -> Agent:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it open
        self.process = subprocess.Popen(
            [sys.executable, "-m", "edge_agent", "run", "--usb-dir", str(self.usb_dir),
             "--data-dir", str(self.data_dir), *self.extra],
            cwd=BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill9(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill9()

    def status(self) -> dict:
        result = subprocess.run(
            [sys.executable, "-m", "edge_agent", "status", "--json",
             "--data-dir", str(self.data_dir)],
            cwd=BASE_DIR, env=self.env, capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        return json.loads(result.stdout)


@pytest.fixture
def make_agent(tmp_path, live_stack) -> Iterator:
    """``make_agent(name)``: an agent process (not started) in a folder of its own; stopped
    after the test."""
    agents: list[Agent] = []

    def make(name: str = "agent") -> Agent:
        root = tmp_path / name
        (root / "usb").mkdir(parents=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "DATABASE"))}
        env.pop("VANTAGE_AGENT_BOOTSTRAP", None)  # the agent sets it for its own re-executions
        env.update(
            VANTAGE_AGENT_BACKOFF_BASE_S="0.2",
            VANTAGE_AGENT_BACKOFF_CAP_S="1",
            PYTHONUNBUFFERED="1",
        )
        agent = Agent(root / "usb", root / "data", root / "agent.log", env)
        agents.append(agent)
        return agent

    yield make
    for agent in agents:
        agent.stop()


@pytest.fixture
def console_proxy(live_stack) -> Iterator[TcpProxy]:
    target = urlsplit(live_stack.url)
    proxy = TcpProxy(target.hostname, target.port)
    yield proxy
    proxy.close()


def setup_device(name: str, console_url: str, *, network: dict | None = None):
    """What the wizard does: create the device, then hand out its archive."""
    from devices.provisioning import issue_archive

    device = make_device(name=name, network_config=network or {})
    original = settings.CONSOLE_URL
    settings.CONSOLE_URL = console_url
    try:
        archive, credential = issue_archive(device)
    finally:
        settings.CONSOLE_URL = original
    return device, archive, credential


def refreshed(device):
    from devices.models import Device

    return Device.objects.with_aggregated_status().get(pk=device.pk)


def wait_online(device, timeout: float = 60) -> None:
    wait_for(
        lambda: refreshed(device).aggregated == "ONLINE",
        timeout,
        f"{device.name} to be ONLINE",
    )


def provisioned_agent(make_agent, name: str, console_url: str):
    device, archive, _ = setup_device(name, console_url)
    agent = make_agent(name)
    (agent.usb_dir / archive_name(name)).write_bytes(archive)
    agent.start()
    wait_online(device)
    # Online on both sides: the console marks the device online before its welcome reaches the
    # agent, and a test that cuts the network right away must not cut that welcome.
    status = agent.data_dir / "status.json"
    wait_for(
        lambda: status.is_file() and json.loads(status.read_text()).get("state") == "connected",
        30,
        f"{name}'s agent to see its link up",
    )
    return device, agent
