"""The application supervisor with real processes, real files and a real HTTP file server.

The assets come from a small stdlib HTTP server that knows nothing but paths and ``Range``
(not an imitation of the console). Container assets are packed by ``vantage_cli.build``, as a
developer's ``build-container`` would. These tests run the nodes unsandboxed (``sandbox=False``);
test_apps_sandbox.py runs them under bubblewrap.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.server
import json
import tempfile
import threading
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import edge_agent
from devicelink import auth
from devicelink.apps import ApplicationSpec
from edge_agent.apps import AppOptions, RestartPolicy, Supervisor
from edge_agent.config import AgentPaths
from tests.support.ports import free_port
from tests.support.waiting import eventually
from vantage_cli.build import pack_container

IID = "applicationInstance-0000000000000000000000test"
MEDIA = Path(edge_agent.__file__).resolve().parents[2] / "shared" / "media" / "pedestrians.mp4"
KEY = auth.generate_private_key()

# The code node of every test: serves HTTP on APP_PORTS, keeps a diary in its storage folder,
# and says so when it is asked to stop; APP_MODE makes it crash, ignore SIGTERM, or probe the
# limits of its sandbox.
APPLICATION = r"""
import http.server, json, os, signal, socket, sys, threading

storage = os.environ["PANORAMA_STORAGE_DIR"]
mode = os.environ.get("APP_MODE", "serve")
label = os.environ.get("APP_LABEL", "")
node = os.environ.get("VANTAGE_NODE_NAME", "?")

def note(name, text):
    with open(os.path.join(storage, name), "a") as handle:
        handle.write(text + "\n")

if mode == "crash":
    print("starting up")
    print("boom: the model is missing", file=sys.stderr)
    sys.exit(3)

def terminated(*_):
    note("terminated.log", label)
    sys.exit(0)

signal.signal(signal.SIGTERM, signal.SIG_IGN if mode == "stubborn" else terminated)

if mode == "probe":
    results = {"uid": os.getuid()}
    for target in ["/panorama/x", "/usr/x", "/etc/x", "/x", "/opt/aws/x",
                   "/opt/aws/panorama/logs/x", os.path.join(storage, "x")]:
        try:
            with open(target, "w") as handle:
                handle.write("x")
            results[target] = "written"
        except OSError as exc:
            results[target] = exc.strerror
    other = os.environ.get("APP_OTHER", "")
    results["other"] = os.path.exists(other) if other else None
    with open("/proc/self/status") as handle:
        results["caps"] = [l.split()[1] for l in handle if l.startswith("CapEff")][0]
    results["env"] = {k: os.environ.get(k) for k in ("AWS_REGION", "PYTHONUNBUFFERED", "SECRET")}
    with open(os.path.join(storage, "probe.json"), "w") as handle:
        json.dump(results, handle)

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{node} {label} {self.server.server_address[1]}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

for port in [int(p) for p in os.environ.get("APP_PORTS", "").split(",") if p]:
    server = http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

note("starts.log", label)
print(f"{node} {label} is up", flush=True)
threading.Event().wait()
"""


# --- the file server --------------------------------------------------------------------------
class AssetServer:
    """Serves bytes by path, with Range; ``cut[path] = n`` drops the first answer after n bytes."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.cut: dict[str, int] = {}
        self.requests: list[tuple[str, str | None]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                outer.requests.append((self.path, self.headers.get("Range")))
                data = outer.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].removeprefix("bytes=").split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if self.path in outer.cut:
                    body = body[: outer.cut.pop(self.path)]
                    self.close_connection = True
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add(self, data: bytes, served: bytes | None = None) -> dict[str, Any]:
        """Publish ``data`` (or other bytes in its place); the AssetRef fields for it."""
        digest = hashlib.sha256(data).hexdigest()
        path = f"/agent/v1/assets/{digest}"
        self.files[path] = data if served is None else served
        return {"sha256": digest, "size": len(data), "path": path}

    def gets(self, path: str) -> list[str | None]:
        return [rng for p, rng in self.requests if p == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def asset_server() -> Iterator[AssetServer]:
    """The ``server`` fixture (conftest.py)."""
    server = AssetServer()
    yield server
    server.close()


# --- building specs ---------------------------------------------------------------------------
_CONTAINERS: dict[tuple[str, str, str], bytes] = {}


def container(
    source: str = APPLICATION, entry: str = "/panorama/application.py", **runtime: Any
) -> bytes:
    """A container asset of ``source``, packed exactly as ``vantage-cli build-container`` does.

    ``runtime`` overrides fields of the descriptor's entry (``path``, ``arguments``, ...).
    """
    key = (source, entry, json.dumps(runtime, sort_keys=True))
    if key not in _CONTAINERS:
        with tempfile.TemporaryDirectory() as temp:
            folder = Path(temp)
            (folder / "src").mkdir()
            (folder / "src" / Path(entry).name).write_text(source)
            descriptor = folder / "descriptor.json"
            entry_fields = {"path": "python3", "name": entry, **runtime}
            document = {"envelopeVersion": "2021-01-01", "entry": entry_fields}
            descriptor.write_text(json.dumps({"runtimeDescriptor": document}))
            pack_container(folder / "src", descriptor, set(), folder / "asset.tar.gz")
            _CONTAINERS[key] = (folder / "asset.tar.gz").read_bytes()
    return _CONTAINERS[key]


def code_node(asset: dict[str, Any], name: str = "code_node") -> dict[str, Any]:
    return {
        "name": name,
        "kind": "code",
        "node_id": "SAMPLE_CODE-1.0-fd3dxmpl-interface",
        "package": "SAMPLE_CODE",
        "assets": [{"name": "code_asset", "implementation_type": "container", **asset}],
    }


def make_spec(generation: int, nodes: list[dict[str, Any]], iid: str = IID, **extra: Any):
    return ApplicationSpec.model_validate(
        {
            "application_instance_id": iid,
            "name": "people-counter",
            "generation": generation,
            "nodes": nodes,
            **extra,
        }
    )


def http_get(port: int, timeout: float = 2.0) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=timeout) as answer:
            return answer.read().decode()
    except OSError:
        return None


# --- running a supervisor ---------------------------------------------------------------------
class Reports(list):
    def statuses(self, iid: str = IID) -> list[str]:
        return [r["status"] for r in self if r["application_instance_id"] == iid]

    def last(self, iid: str = IID) -> dict[str, Any] | None:
        mine = [r for r in self if r["application_instance_id"] == iid]
        return mine[-1] if mine else None

    def node(self, name: str, iid: str = IID) -> dict[str, Any] | None:
        last = self.last(iid)
        return next((n for n in last["nodes"] if n["name"] == name), None) if last else None


def make_supervisor(
    data: Path, server: AssetServer, reports: Reports, **options: Any
) -> Supervisor:
    policy = options.pop("policy", RestartPolicy(backoff_base_s=0.01, stop_timeout_s=5))
    supervisor = Supervisor(
        AgentPaths(data), KEY, "device-test", server.url, None, reports.append,
        options=AppOptions(sandbox=options.pop("sandbox", False), policy=policy, **options),
    )  # fmt: skip
    supervisor.cache.retry_s = 0.01
    return supervisor


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 60))


def app_pid(supervisor: Supervisor, node: str = "code_node", iid: str = IID) -> int | None:
    instance = supervisor.instances.get(iid)
    runner = instance.code_node(node) if instance else None
    return runner.pid if runner else None


# --- the tests --------------------------------------------------------------------------------
def test_install_runs_the_code_node_and_reports_in_order(tmp_path, server):
    asset = server.add(container())
    host_port, container_port = free_port(), free_port()
    spec = make_spec(
        1, [code_node(asset), {"name": "threshold", "kind": "parameter", "value": 0.6}],
        network_routing_rules=[{"node": "code_node", "container_port": container_port,
                                "host_port": host_port}],
        environment={"APP_PORTS": str(container_port), "APP_LABEL": "one", "SECRET": "s3"},
    )  # fmt: skip
    reports = Reports()

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports)
        try:
            await supervisor.apply([spec])
            await supervisor.settle(30)
            assert reports.statuses() == ["INSTALL_IN_PROGRESS", "STARTING", "RUNNING"]
            assert reports.last()["generation"] == 1
            assert reports.last()["nodes"] == [
                {"name": "code_node", "status": "RUNNING", "message": ""}
            ]
            storage = tmp_path / "apps" / IID / "storage"
            await eventually(lambda: (storage / "starts.log").exists(), 10)
            # Through the forwarder, on the confirmed host port.
            answer = await asyncio.to_thread(http_get, host_port)
            assert answer == f"code_node one {container_port}"
            # Applying the same generation again changes nothing.
            pid = app_pid(supervisor)
            await supervisor.apply([spec])
            await supervisor.settle(10)
            assert app_pid(supervisor) == pid and len(reports) == 3
        finally:
            await supervisor.close()

    run(main)
    folder = tmp_path / "apps" / IID
    assert (folder / "gen-1" / "code_node" / "panorama" / "application.py").is_file()
    assert (tmp_path / "apps" / "assets" / asset["sha256"]).is_file()
    log = (folder / "logs" / "console_output.log").read_text()
    assert "code_node one is up" in log
    state = tmp_path / "apps" / "state.json"
    assert oct(state.stat().st_mode & 0o777) == "0o600"  # it holds the runtime role
    assert json.loads(state.read_text())["instances"][IID]["generation"] == 1
    assert (folder / "storage" / "terminated.log").read_text() == "one\n"  # SIGTERM reached it


def test_environment_and_panorama_paths_without_a_sandbox(tmp_path, server):
    spec = make_spec(1, [code_node(server.add(container()))],
                     environment={"APP_MODE": "probe", "SECRET": "s3"})  # fmt: skip
    reports = Reports()

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports, aws_region="eu-west-1")
        try:
            await supervisor.apply([spec])
            await supervisor.settle(30)
            probe = tmp_path / "apps" / IID / "storage" / "probe.json"
            await eventually(probe.exists, 10)
        finally:
            await supervisor.close()

    run(main)
    result = json.loads((tmp_path / "apps" / IID / "storage" / "probe.json").read_text())
    assert result["env"] == {"AWS_REGION": "eu-west-1", "PYTHONUNBUFFERED": "1", "SECRET": "s3"}


def test_an_invalid_spec_is_an_install_error(tmp_path, server):
    reports = Reports()
    document = {"application_instance_id": IID, "name": "x", "generation": 2,
                "nodes": [{"name": "n", "kind": "robot"}]}  # fmt: skip

    async def main() -> None:
        supervisor = make_supervisor(tmp_path, server, reports)
        await supervisor.apply_documents([document])
        await supervisor.settle(10)
        await supervisor.close()

    run(main)
    assert reports.statuses() == ["INSTALL_ERROR"]
    assert reports.last()["generation"] == 2
    assert reports.last()["message"].startswith("The application's specification is invalid: ")
    assert "nodes.0.kind" in reports.last()["message"]
