"""Sample applications as documents (no Django): the inbound_network-shaped code-only app (its
code, descriptor, graph and override) and the same behind an abstract camera node."""

from __future__ import annotations

import json
from typing import Any

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
