"""A real code-only application (the shape of the inbound_network sample), registered on the
console the way vantage-cli would: its container asset, descriptor and package.json."""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path
from typing import Any

from applications.assets import store_asset
from applications.registry import register_patch
from manifests.tests.reference import REFERENCE
from vantage_cli.build import pack_container

ACCOUNT = "123456789012"
PACKAGE = "inbound_network_code"

# Serves its container port; every answer says which instance and what it found in storage,
# so a test can tell a redeploy kept the storage folder.
APP_PY = """
import http.server, os, pathlib, socketserver

storage = pathlib.Path(os.environ.get("PANORAMA_STORAGE_DIR", "/opt/aws/panorama/storage"))
visits = storage / "visits"
count = int(visits.read_text()) if visits.exists() else 0
visits.write_text(str(count + 1))
greeting = os.environ.get("GREETING", "hello")

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{greeting} from inbound_network_code, start {count + 1}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

print("serving on 8080", flush=True)
socketserver.TCPServer.allow_reuse_address = True
with socketserver.TCPServer(("0.0.0.0", 8080), Handler) as server:
    server.serve_forever()
"""

DESCRIPTOR = {
    "runtimeDescriptor": {
        "envelopeVersion": "2021-01-01",
        "entry": {"path": "python3", "name": "/panorama/app.py"},
    }
}


def register_inbound_network_package(
    app_py: str = APP_PY, image: Path | None = None, requirements: list[Any] | None = None
) -> str:
    """Register the package (its latest patch); returns the patch version. ``image``: a
    container image's export (with ``/panorama/app.py``) as its code asset, instead of the
    code-only archive; ``requirements``: its implementation's (GPU access, …)."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "src").mkdir()
        (root / "src" / "app.py").write_text(app_py)
        descriptor = root / "descriptor.json"
        descriptor.write_text(json.dumps(DESCRIPTOR))
        if image is not None:
            with image.open("rb") as stream:
                sha = store_asset(stream, filename=image.name).asset.sha256
        else:
            sha = pack_container(root / "src", descriptor, set(), root / "code.tar.gz")
            store_asset(io.BytesIO((root / "code.tar.gz").read_bytes()), filename=f"{sha}.tar.gz")
        descriptor_bytes = descriptor.read_bytes()
        descriptor_sha = store_asset(
            io.BytesIO(descriptor_bytes), filename="descriptor.json"
        ).asset.sha256
    package = {
        "nodePackage": {
            "envelopeVersion": "2021-01-01",
            "name": PACKAGE,
            "version": "1.0",
            "description": "A code node that answers HTTP on its container port 8080",
            "assets": [
                {
                    "name": "code",
                    "implementations": [
                        {
                            "type": "container",
                            "assetUri": f"{sha}.tar.gz",
                            "descriptorUri": f"{descriptor_sha}.json",
                            **({"requirements": requirements} if requirements else {}),
                        }
                    ],
                }
            ],
            "interfaces": [
                {
                    "name": "code_interface",
                    "category": "business_logic",
                    "asset": "code",
                    "inputs": [{"name": "video_in", "type": "media"}],
                    "outputs": [{"name": "video_out", "type": "media"}],
                    "network": {"inboundPorts": [{"port": 8080, "description": "http"}]},
                }
            ],
        }
    }
    registered = register_patch(
        account_id=ACCOUNT, name=PACKAGE, version="1.0", manifest_bytes=json.dumps(package).encode()
    )
    return registered.patch.patch


def inbound_network_app(host_port: int = 8081) -> tuple[str, str]:
    """The graph and the override that confirms container port 8080 on ``host_port``."""
    graph = {
        "nodeGraph": {
            "envelopeVersion": "2021-01-01",
            "packages": [{"name": f"{ACCOUNT}::{PACKAGE}", "version": "1.0"}],
            "nodes": [
                {
                    "name": "code_node",
                    "interface": f"{ACCOUNT}::{PACKAGE}.code_interface",
                    "overridable": False,
                    "launch": "onAppStart",
                }
            ],
            "edges": [],
        }
    }
    override = {
        "nodeGraphOverrides": {
            "envelopeVersion": "2021-01-01",
            "packages": [],
            "nodes": [],
            "networkRoutingRules": [
                {"node": "code_node", "containerPort": 8080, "hostPort": host_port}
            ],
        }
    }
    return json.dumps(graph, indent=2), json.dumps(override, indent=2)


def camera_graph() -> dict[str, Any]:
    """The code node behind an abstract camera node that the override must replace."""
    graph, _ = inbound_network_app()
    doc = json.loads(graph)
    doc["nodeGraph"]["packages"].append(
        {"name": "panorama::abstract_rtsp_media_source", "version": "1.0"}
    )
    doc["nodeGraph"]["nodes"].append(
        {
            "name": "camera_node",
            "interface": "panorama::abstract_rtsp_media_source.rtsp_v1_interface",
            "overridable": True,
            "overrideMandatory": True,
            "launch": "onAppStart",
        }
    )
    doc["nodeGraph"]["edges"] = [
        {"producer": "camera_node.video_out", "consumer": "code_node.video_in"}
    ]
    return doc


def camera_override(sources: list[str], host_port: int = 8081, paused=()) -> dict[str, Any]:
    """Replace camera_node with one node per data source (camera package ``<account>::<name>``)."""
    from console.models import Installation

    account = Installation.get().account_id  # camera packages belong to this installation
    return {
        "nodeGraphOverrides": {
            "envelopeVersion": "2021-01-01",
            "packages": [{"name": f"{account}::{name}", "version": "1.0"} for name in sources],
            "nodes": [
                {
                    "name": name,
                    "interface": f"{account}::{name}.{name}",
                    "launch": "onSignal" if name in paused else "onAppStart",
                }
                for name in sources
            ],
            "nodeOverrides": [
                {"replace": "camera_node", "with": [{"name": name} for name in sources]}
            ],
            "networkRoutingRules": [
                {"node": "code_node", "containerPort": 8080, "hostPort": host_port}
            ],
        }
    }


def camera_app(sources: list[str], host_port: int = 8081, paused=()) -> tuple[str, str]:
    """The graph and override texts of an application with its camera node fed by ``sources``."""
    return (
        json.dumps(camera_graph(), indent=2),
        json.dumps(camera_override(sources, host_port, paused), indent=2),
    )


def register_camera(name: str, url: str, username: str = "", password: str = ""):
    """A data source with its camera package, as registering one in the console does."""
    from datasources.models import DataSource
    from datasources.packages import register_camera_package

    source = DataSource(name=name, url=url)
    source.set_credentials(username, password)
    source.save()
    register_camera_package(source)
    return source


# --- an application's own camera package (applications/cameranodes.py) ------------------------

CLI_RESOURCES = REFERENCE / "aws-panorama-cli/panoramacli/resources"
PACKAGE_PASSWORD = "Pkg-pass-4471"
OWN_CAMERA = "lobby_cam"


def own_camera_package(url: str, username: str = "cam", password: str = PACKAGE_PASSWORD) -> bytes:
    """panorama-cli's camera_package.json with the camera's values as its defaults."""
    document = json.loads((CLI_RESOURCES / "camera_package.json").read_text())
    inputs = document["nodePackage"]["interfaces"][0]["inputs"]
    values = {"username": username, "password": password, "streamUrl": url}
    for port in inputs:
        port["default"] = values[port["name"]]
    return json.dumps(document, indent=4).encode()


def account() -> str:
    """This installation's account: the console's pages list its packages."""
    from console.models import Installation

    return Installation.get().account_id


def register_own_package(name: str, manifest: bytes):
    return register_patch(account_id=account(), name=name, version="1.0", manifest_bytes=manifest)


def own_camera_graph(package: str = OWN_CAMERA, interface: str = "rtsp_interface", **node) -> dict:
    """The code node fed by a camera node of the application's own camera package."""
    graph = json.loads(inbound_network_app()[0])
    graph["nodeGraph"]["packages"].append({"name": f"{account()}::{package}", "version": "1.0"})
    graph["nodeGraph"]["nodes"].append(
        {"name": "camera_node", "interface": f"{account()}::{package}.{interface}", **node}
    )
    graph["nodeGraph"]["edges"] = [
        {"producer": "camera_node.video_out", "consumer": "code_node.video_in"}
    ]
    return graph
