"""The two plain HTTP requests the agent makes: provisioning and signed downloads.

Blocking (urllib); the agent calls them in a worker thread. Refusals carry the console's
``{"error": ...}`` sentence so the logs say what the console said.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import edge_agent
from devicelink.auth import sign_request

USER_AGENT = f"vantage-edge-agent/{edge_agent.__version__}"


class ConsoleUnreachable(Exception):
    """No answer from the console (network, DNS, TLS, timeout): worth retrying."""


@dataclass
class ConsoleAnswer:
    status: int
    document: dict[str, Any]

    @property
    def error(self) -> str:
        return str(self.document.get("error") or f"HTTP {self.status}")


def _document(raw: bytes) -> dict[str, Any]:
    try:
        document = json.loads(raw or b"{}")
    except ValueError:
        return {"error": raw[:300].decode("utf-8", "replace").strip()}
    return document if isinstance(document, dict) else {}


def url_for(console_url: str, path: str) -> str:
    return console_url.rstrip("/") + path


def post_json(
    url: str, body: dict[str, Any], ssl_context: ssl.SSLContext | None, timeout: float = 30
) -> ConsoleAnswer:
    request = urllib.request.Request(  # noqa: S310 (the console's URL from the archive)
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
    )
    try:
        with urllib.request.urlopen(request, context=ssl_context, timeout=timeout) as response:  # noqa: S310
            return ConsoleAnswer(response.status, _document(response.read(1024 * 1024)))
    except urllib.error.HTTPError as exc:
        with exc:
            return ConsoleAnswer(exc.code, _document(exc.read(64 * 1024)))
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConsoleUnreachable(f"Cannot reach the console at {url}: {reason}") from None


def get_signed(
    console_url: str,
    path: str,
    *,
    key: Ed25519PrivateKey,
    device_id: str,
    ssl_context: ssl.SSLContext | None,
    max_bytes: int,
    timeout: float = 120,
) -> tuple[ConsoleAnswer, bytes]:
    """A signed GET; the answer's status and (on 200) up to ``max_bytes + 1`` bytes."""
    request = urllib.request.Request(  # noqa: S310
        url_for(console_url, path),
        headers={
            "Authorization": sign_request(key, device_id, "GET", path),
            "User-Agent": USER_AGENT,
        },
    )
    try:
        with urllib.request.urlopen(request, context=ssl_context, timeout=timeout) as response:  # noqa: S310
            return ConsoleAnswer(response.status, {}), response.read(max_bytes + 1)
    except urllib.error.HTTPError as exc:
        with exc:
            return ConsoleAnswer(exc.code, _document(exc.read(64 * 1024))), b""
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConsoleUnreachable(f"Cannot reach the console: {reason}") from None
