"""vantage-cli's side (no Django): the reference sample as a project folder, and a fake console
in-process for the CLI's tests."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.paths import REFERENCE

SAMPLE = REFERENCE / "aws-panorama-developer-guide" / "sample-apps" / "aws-panorama-sample"
CLI_RESOURCES = REFERENCE / "aws-panorama-cli" / "panoramacli" / "resources"
SAMPLE_ACCOUNT = "123456789012"
ACCOUNT = "210987654321"
TOKEN = "vtg_0123456789abcdef_secret"


def copy_sample(tmp_path: Path) -> Path:
    project = tmp_path / "aws-panorama-sample"
    shutil.copytree(SAMPLE, project)
    return project


def load(path: Path) -> Any:
    return json.loads(path.read_text())


@dataclass
class FakeConsole:
    """The parts of the console's API the CLI uses, with every request recorded."""

    url: str = ""
    account_id: str = ACCOUNT
    assets: dict[str, bytes] = field(default_factory=dict)
    packages: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    register_errors: list[dict[str, str]] | None = None
    in_use: set[str] = field(default_factory=set)
    asset_max_bytes: int | None = None  # the console's ASSET_MAX_MIB, in bytes
    asset_quota_left_bytes: int | None = None  # what its ASSET_QUOTA_GIB leaves

    def calls(self, method: str) -> list[str]:
        return [path for m, path, _headers in self.requests if m == method]


def _handler(console: FakeConsole) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: Any = None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _dispatch(self) -> None:
            console.requests.append((self.command, self.path, dict(self.headers)))
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._body()
                return self._answer(401, {"detail": "Invalid token."})
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            route = (self.command, url.path)
            if route == ("GET", "/api/installation/"):
                return self._answer(
                    200,
                    {
                        "account_id": console.account_id,
                        "version": "t",
                        "asset_max_bytes": console.asset_max_bytes,
                        "asset_quota_left_bytes": console.asset_quota_left_bytes,
                    },
                )
            if match := re.fullmatch(r"/api/assets/([0-9a-f]{64})/", url.path):
                return self._asset(match[1], query)
            if route == ("POST", "/api/packages/register/"):
                return self._register(json.loads(self._body()))
            if route == ("GET", "/api/packages/"):
                found = [p for p in console.packages.values() if p["name"] == query.get("name")]
                return self._answer(200, {"count": len(found), "next": None, "results": found})
            if match := re.fullmatch(r"/api/packages/(\d+)/deregister/", url.path):
                return self._deregister(int(match[1]), json.loads(self._body()))
            return self._answer(404, {"detail": "Not found."})

        def _asset(self, sha: str, query: dict[str, str]) -> None:
            if self.command == "HEAD":
                return self._answer(200 if sha in console.assets else 404)
            data = self._body()
            if hashlib.sha256(data).hexdigest() != sha:
                name = query.get("filename", sha)
                return self._answer(400, {"detail": f"{name}: the upload's sha256 differs"})
            created = sha not in console.assets
            console.assets[sha] = data
            return self._answer(201 if created else 200, {"sha256": sha, "size": len(data)})

        def _register(self, body: dict[str, Any]) -> None:
            if console.register_errors:
                return self._answer(400, {"errors": console.register_errors})
            manifest = body["manifest"].encode()
            for uri in re.findall(
                r'"(?:assetUri|descriptorUri)": "([0-9a-f]{64})\.', body["manifest"]
            ):
                if uri not in console.assets:
                    error = {"path": "/nodePackage/assets", "message": f"{uri} missing", "hint": ""}
                    return self._answer(400, {"errors": [error]})
            patch = hashlib.sha256(manifest).hexdigest()
            package = console.packages.setdefault(
                body["name"], {"id": len(console.packages) + 1, "name": body["name"], "patches": []}
            )
            created = not any(p["patch"] == patch for p in package["patches"])
            for existing in package["patches"]:
                if existing["version"] == body["version"]:
                    existing["is_latest"] = False
            package["patches"] = [p for p in package["patches"] if p["patch"] != patch]
            entry = {"version": body["version"], "patch": patch, "is_latest": True,
                     "status": "REGISTER_COMPLETED"}  # fmt: skip
            package["patches"].append(entry)
            return self._answer(201 if created else 200, entry)

        def _deregister(self, package_id: int, body: dict[str, Any]) -> None:
            for package in console.packages.values():
                if package["id"] != package_id:
                    continue
                if body["patch"] in console.in_use:
                    return self._answer(409, {"detail": "used by app-1"})
                package["patches"] = [p for p in package["patches"] if p["patch"] != body["patch"]]
                return self._answer(204)
            return self._answer(404, {"detail": "Not found."})

        do_GET = do_POST = do_PUT = do_HEAD = _dispatch

    return Handler


@contextmanager
def fake_console() -> Iterator[FakeConsole]:
    console = FakeConsole()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(console))
    console.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield console
    finally:
        server.shutdown()
        server.server_close()
