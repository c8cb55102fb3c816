"""Code nodes under bubblewrap: what the application can write, read and listen on.

Skipped where bubblewrap does not work (``bwrap`` not on PATH, or user namespaces disabled);
the agent then runs nodes unsandboxed, which test_apps.py covers. Nothing is installed by the
tests: put a ``bwrap`` on PATH to run them (Debian: ``apt-get install bubblewrap``).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from edge_agent.apps.sandbox import probe_support
from tests.support.agents import (
    IID,
    Reports,
    app_pid,
    code_node,
    container,
    make_spec,
    make_supervisor,
    run,
)
from tests.support.ports import free_port
from tests.support.waiting import eventually, http_get

SUPPORT = probe_support()
pytestmark = pytest.mark.skipif(
    not SUPPORT.available, reason="bubblewrap (bwrap) is not available or does not work here"
)
OTHER = "applicationInstance-0000000000000000000000othr"


def test_the_sandbox_confines_the_application(tmp_path, server):
    asset = server.add(container())
    mine = make_spec(
        1, [code_node(asset)],
        environment={"APP_MODE": "probe", "SECRET": "s3",
                     "APP_OTHER": str(tmp_path / "apps" / OTHER / "storage")},
    )  # fmt: skip
    other = make_spec(1, [code_node(asset)], iid=OTHER, environment={"APP_LABEL": "other"})
    reports = Reports()
    storage = tmp_path / "apps" / IID / "storage"

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports, sandbox=None)
        try:
            await supervisor.apply([other])
            await supervisor.settle(30)
            await eventually(
                lambda: (tmp_path / "apps" / OTHER / "storage" / "starts.log").exists()
            )
            await supervisor.apply([other, mine])
            await supervisor.settle(30)
            await eventually(lambda: (storage / "probe.json").exists(), 20)
            # The app sees its own PID namespace: the host sees a different PID.
            assert psutil.Process(app_pid(supervisor)).name() == "bwrap"
        finally:
            await supervisor.close()

    run(main)
    assert reports.last()["status"] == "RUNNING", reports
    result = json.loads((storage / "probe.json").read_text())
    assert result["uid"] == 1000
    assert result["caps"] == "0000000000000000"
    for read_only in ("/panorama/x", "/usr/x", "/etc/x", "/x", "/opt/aws/x"):
        assert result[read_only] in ("Read-only file system", "Permission denied"), read_only
    assert result["/opt/aws/panorama/logs/x"] == "written"
    assert result["/opt/aws/panorama/storage/x"] == "written"
    assert (storage / "x").read_text() == "x"
    assert (tmp_path / "apps" / IID / "logs" / "code" / "x").read_text() == "x"
    assert result["other"] is False  # another instance's folder does not exist in here
    assert result["env"] == {"AWS_REGION": "us-east-1", "PYTHONUNBUFFERED": "1", "SECRET": "s3"}
    assert not (tmp_path / "apps" / IID / "gen-1" / "code_node" / "panorama" / "x").exists()


@pytest.mark.skipif(
    not SUPPORT.can_enter_netns, reason="forwarding into a sandbox needs the agent to be root"
)
def test_only_the_confirmed_port_reaches_a_sandboxed_node(tmp_path, server):
    host_port, unconfirmed = free_port(), free_port()
    spec = make_spec(
        1, [code_node(server.add(container()))],
        # Port 80, as Panorama's samples use: allowed inside the sandbox's own namespace.
        environment={"APP_PORTS": f"80,{unconfirmed}", "APP_LABEL": "boxed"},
        network_routing_rules=[{"node": "code_node", "container_port": 80,
                                "host_port": host_port}],
    )  # fmt: skip
    reports = Reports()
    storage = tmp_path / "apps" / IID / "storage"

    host_listens_on_80 = any(
        c.laddr.port == 80 and c.status == psutil.CONN_LISTEN for c in psutil.net_connections()
    )

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports, sandbox=None)
        try:
            await supervisor.apply([spec])
            await supervisor.settle(30)
            await eventually(lambda: (storage / "starts.log").exists(), 20)
            answer = await asyncio.to_thread(http_get, host_port)
            assert answer == "code_node boxed 80"
            # The node's own ports are in its namespace, not on the host.
            assert await asyncio.to_thread(http_get, unconfirmed) is None
            if not host_listens_on_80:
                assert await asyncio.to_thread(http_get, 80, 0.5) is None
        finally:
            await supervisor.close()

    run(main)
    assert (storage / "terminated.log").read_text() == "boxed\n"  # SIGTERM reached the app


def test_storage_survives_a_sandboxed_redeploy(tmp_path, server):
    asset = server.add(container())
    reports = Reports()
    storage = tmp_path / "apps" / IID / "storage"

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports, sandbox=None)
        try:
            for generation, label in ((1, "one"), (2, "two")):
                spec = make_spec(generation, [code_node(asset)], environment={"APP_LABEL": label})
                await supervisor.apply([spec])
                await supervisor.settle(30)
                await eventually(lambda label=label: label in _read(storage / "starts.log"), 20)
        finally:
            await supervisor.close()

    run(main)
    assert (storage / "starts.log").read_text() == "one\ntwo\n"
    assert (storage / "terminated.log").read_text() == "one\ntwo\n"


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


@pytest.mark.skipif(
    not SUPPORT.can_enter_netns, reason="forwarding into a sandbox needs the agent to be root"
)
def test_a_down_sandboxed_node_never_exposes_the_hosts_own_port(tmp_path, server):
    import http.server
    import threading

    class Private(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "7")
            self.end_headers()
            self.wfile.write(b"private")

    # A service of the host's own, on the node's container port of the host's loopback.
    private = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Private)
    threading.Thread(target=private.serve_forever, daemon=True).start()
    container_port, host_port = private.server_address[1], free_port()
    spec = make_spec(
        1, [code_node(server.add(container()))], environment={"APP_MODE": "crash"},
        network_routing_rules=[{"node": "code_node", "container_port": container_port,
                                "host_port": host_port}],
    )  # fmt: skip
    reports = Reports()

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports, sandbox=None)
        try:
            await supervisor.apply([spec])
            await supervisor.settle(30)
            await eventually(lambda: reports.node("code_node")["status"] == "ERROR", 20)
            assert await asyncio.to_thread(http_get, container_port) == "private"
            assert await asyncio.to_thread(http_get, host_port) is None
        finally:
            await supervisor.close()
            private.shutdown()
            private.server_close()

    run(main)


def test_an_agent_installed_under_tmp_runs_its_sandboxed_nodes(tmp_path):
    """A checkout under /tmp (``git clone … /tmp/x``) has its virtualenv there: the sandbox's
    own /tmp must not hide the interpreter the node runs with."""
    venv = tmp_path / "venv"  # pytest's tmp_path is under /tmp
    assert str(venv).startswith("/tmp/")  # noqa: S108
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    root = Path(__file__).resolve().parents[2]
    # The agent's code and packages, imported by the venv's interpreter from where they are.
    site = [p for p in sys.path if p.endswith("site-packages")]
    script = """
import os, subprocess, sys
from pathlib import Path
from edge_agent.apps import sandbox
code, data = Path(sys.argv[1]), Path(sys.argv[2])
argv = sandbox.bwrap_argv(
    sandbox.probe_support().bwrap, code=code, storage=data, logs=data, hostname="t",
    info_fd=None, block_fd=None, command=[sys.executable, "-c", "import sys; print(sys.prefix)"],
)
done = subprocess.run(argv, capture_output=True, text=True)
print(done.returncode, done.stdout.strip(), done.stderr.strip())
"""
    (tmp_path / "code").mkdir()
    (tmp_path / "data").mkdir()
    env = {"PYTHONPATH": os.pathsep.join([str(root), *site]), "PATH": "/usr/bin:/bin"}
    python = str(venv / "bin" / "python")
    done = subprocess.run(
        [python, "-c", script, str(tmp_path / "code"), str(tmp_path / "data")],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", str(venv)], done.stdout
