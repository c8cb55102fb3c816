"""The agent's side for tests (no Django): a real application supervisor fed by a small stdlib
asset server (code nodes, container assets packed as ``vantage-cli build-container`` does, the
reports it sends), and a job runner for REBOOT and OTA jobs with real release bundles of this
checkout."""

from __future__ import annotations

import asyncio
import hashlib
import http.server
import json
import tempfile
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import edge_agent
from devicelink import auth
from devicelink.apps import ApplicationSpec
from devicelink.messages import JobSpec
from devicelink.releases import build_bundle, sign_release
from edge_agent.apps import AppOptions, RestartPolicy, Supervisor
from edge_agent.config import AgentPaths
from edge_agent.identity import Identity
from edge_agent.jobs import JobRunner
from edge_agent.software import RestartError, Software
from tests.support.paths import MEDIA_DIR
from vantage_cli.build import pack_container

IID = "applicationInstance-0000000000000000000000test"
MEDIA = MEDIA_DIR / "pedestrians.mp4"
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


# --- jobs: REBOOT and OTA ---------------------------------------------------------------------
SOURCE_ROOT = Path(edge_agent.__file__).resolve().parent.parent
RELEASE_KEY = auth.generate_private_key()
_BUNDLES: dict[str, bytes] = {}


def bundle(version: str) -> bytes:
    if version not in _BUNDLES:
        _BUNDLES[version] = build_bundle(SOURCE_ROOT, version, notes="test")
    return _BUNDLES[version]


def ota_spec(version: str, data: bytes | None = None, **extra: Any) -> JobSpec:
    data = bundle(version) if data is None else data
    digest = hashlib.sha256(data).hexdigest()
    fields = {
        "job_id": f"job-ota-{version}",
        "job_type": "OTA",
        "image_version": version,
        "bundle_path": f"/agent/v1/software/{version}",
        "sha256": digest,
        "signature": sign_release(RELEASE_KEY, version, digest),
        "size": len(data),
        **extra,
    }
    return JobSpec(**fields)


class Recorder:
    """Stands in for the link: records reports; the console acknowledges at once."""

    def __init__(self) -> None:
        self.reports: list[tuple[str, dict[str, Any]]] = []

    def queue_report(self, kind: str, body: dict[str, Any]) -> int:
        self.reports.append((kind, body))
        return len(self.reports)

    async def flush(self, timeout: float) -> bool:
        return True

    def statuses(self, job_id: str) -> list[str]:
        return [b["status"] for k, b in self.reports if k == "job" and b["job_id"] == job_id]

    def reason(self, job_id: str) -> str:
        return [b["reason"] for k, b in self.reports if k == "job" and b["job_id"] == job_id][-1]


class FakeRestarter:
    def __init__(self, fail: bool = False) -> None:
        self.restarts = 0
        self.fail = fail

    async def restart(self) -> None:
        self.restarts += 1
        if self.fail:
            raise RestartError("The reboot command 'false' exited with 1.")


def make_runner(tmp_path: Path, served: bytes | None = None, restarter=None):
    paths = AgentPaths(tmp_path / "data")
    identity = Identity(
        device_id="device-aaaaaaaaaaaaaaaaaaaaaaaaaa", device_name="lobby-1",
        console_url="http://127.0.0.1:1", release_public_key=auth.public_key_b64(RELEASE_KEY),
        log_public_key="",
    )  # fmt: skip
    fetched: list[str] = []

    async def fetch(path: str) -> bytes:
        fetched.append(path)
        return served if served is not None else bundle(path.rsplit("/", 1)[1])

    runner = JobRunner(paths=paths, identity=identity, software=Software(paths),
                       restarter=restarter or FakeRestarter(), fetch=fetch)  # fmt: skip
    runner.reporter = recorder = Recorder()
    return runner, recorder, paths
