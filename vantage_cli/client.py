"""The console's REST API over ``urllib`` (no third-party HTTP library).

Uploads stream the file in chunks with an explicit ``Content-Length``, so a model of several GB
never sits in memory; the console hashes the bytes as they arrive and refuses a mismatch.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from vantage_cli import __version__
from vantage_cli.errors import CliError

CHUNK_SIZE = 1024 * 1024
TIMEOUT_S = 60
UPLOAD_TIMEOUT_S = 600


class ConsoleError(CliError):
    """The console answered with an error the command cannot handle."""

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status, self.body = status, body


@dataclass(frozen=True)
class Response:
    status: int
    body: Any  # parsed JSON, the text when it is not JSON, or None when empty


def detail_of(body: Any) -> str:
    """The console's explanation: DRF's ``detail``, a list of ``errors``, or the raw text."""
    if isinstance(body, dict):
        if "detail" in body:
            return str(body["detail"])
        if isinstance(body.get("errors"), list):
            return "; ".join(format_error(e) for e in body["errors"])
        return "; ".join(f"{key}: {value}" for key, value in body.items())
    if isinstance(body, str) and body.strip():
        return body.strip()[:300]
    return "no details given"


def format_error(error: Any) -> str:
    """``path: message (hint)``, the form of ``manifests.ValidationError``."""
    if not isinstance(error, dict):
        return str(error)
    where = error.get("path") or "(document)"
    hint = f" ({error['hint']})" if error.get("hint") else ""
    return f"{where}: {error.get('message', '')}{hint}"


def human_size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


class Progress:
    """``label [#####.....] 12.0 MiB/27.0 MiB (… bytes) 44%`` on stderr.

    On a terminal the line is redrawn in place; otherwise (CI logs) a line is written every
    few seconds and at the end.
    """

    WIDTH = 30
    LOG_EVERY_S = 5.0

    def __init__(self, label: str, total: int, stream: TextIO | None = None) -> None:
        self.label, self.total, self.done = label, total, 0
        self.stream = stream or sys.stderr
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._drawn = time.monotonic()

    def line(self) -> str:
        fraction = self.done / self.total if self.total else 1.0
        bar = "#" * int(fraction * self.WIDTH)
        return (
            f"{self.label} [{bar:.<{self.WIDTH}}] {human_size(self.done)}/"
            f"{human_size(self.total)} ({self.done}/{self.total} bytes) {fraction:.0%}"
        )

    def update(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if self.live and (now - self._drawn > 0.1 or self.done >= self.total):
            self._drawn = now
            self.stream.write("\r" + self.line())
            self.stream.flush()
        elif not self.live and now - self._drawn > self.LOG_EVERY_S and self.done < self.total:
            self._drawn = now
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    def finish(self) -> None:
        self.stream.write(("\r" if self.live else "") + self.line() + "\n")
        self.stream.flush()


def _chunks(path: Path, progress: Progress | None) -> Iterator[bytes]:
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK_SIZE):
            if progress:
                progress.update(len(chunk))
            yield chunk


class Console:
    """One console, one token. Methods return parsed JSON or raise :class:`ConsoleError`."""

    def __init__(self, url: str, token: str, *, token_source: str) -> None:
        if not url.startswith(("http://", "https://")):
            raise CliError(f"{url!r} is not a console URL (http:// or https://)")
        self.url, self.token, self.token_source = url.rstrip("/"), token, token_source

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
        expect: tuple[int, ...] = (),
        timeout: float = TIMEOUT_S,
    ) -> Response:
        """Send a request; statuses in ``expect`` (and 2xx) return, anything else raises."""
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/json",
            "User-Agent": f"vantage-cli/{__version__}",
            **(headers or {}),
        }
        if json_body is not None:
            data = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        url = self.url + path
        # http(s) only: __init__ refuses other schemes.
        request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
                return Response(answer.status, _parse(answer.read()))
        except urllib.error.HTTPError as error:
            body = _parse(error.read())
            if error.code in expect:
                return Response(error.code, body)
            raise self._error(method, path, error.code, body) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise ConsoleError(f"cannot reach the console at {self.url}: {reason}") from None

    def _error(self, method: str, path: str, status: int, body: Any) -> ConsoleError:
        message = f"{method} {path}: HTTP {status}: {detail_of(body)}"
        if status == 401:
            message += f" (check the API token from {self.token_source})"
        elif status == 403:
            message += (
                f" (the token from {self.token_source} may not change this: it needs an "
                "operator's or administrator's token that is not read-only)"
            )
        return ConsoleError(message, status, body)

    # --- the endpoints the CLI uses -----------------------------------------------------------

    def account_id(self) -> str:
        body = self.request("GET", "/api/installation/").body
        account = body.get("account_id") if isinstance(body, dict) else None
        if not isinstance(account, str) or not account:
            raise ConsoleError(f"{self.url}/api/installation/ gave no account_id: {body!r}")
        return account

    def model_compilers(self) -> dict[str, dict[str, Any]]:
        """By framework: ``{"available": bool, "reason": str}``; {} from an older console."""
        body = self.request("GET", "/api/installation/").body
        compilers = body.get("model_compilers") if isinstance(body, dict) else None
        return compilers if isinstance(compilers, dict) else {}

    def asset_limits(self) -> tuple[int | None, int | None]:
        """The largest asset the console takes (its ASSET_MAX_MIB) and the bytes its asset store
        has left (ASSET_QUOTA_GIB); None: no limit, or an older console that does not say."""
        body = self.request("GET", "/api/installation/").body
        body = body if isinstance(body, dict) else {}
        largest, left = body.get("asset_max_bytes"), body.get("asset_quota_left_bytes")
        return (
            largest if isinstance(largest, int) else None,
            left if isinstance(left, int) else None,
        )

    def asset_exists(self, sha256: str) -> bool:
        return self.request("HEAD", f"/api/assets/{sha256}/", expect=(404,)).status != 404

    def upload_asset(self, path: Path, sha256: str, filename: str, progress: bool = True) -> int:
        """PUT the file's bytes, streamed; returns 201 (stored) or 200 (the store had them)."""
        size = path.stat().st_size
        bar = Progress(f"  uploading {filename}", size) if progress else None
        query = urllib.parse.urlencode({"filename": filename})
        try:
            answer = self.request(
                "PUT",
                f"/api/assets/{sha256}/?{query}",
                data=_chunks(path, bar),
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
                timeout=UPLOAD_TIMEOUT_S,
            )
        finally:
            if bar:
                bar.finish()
        return answer.status

    def register(self, name: str, version: str, manifest: str) -> Response:
        body = {"name": name, "version": version, "manifest": manifest, "mark_latest": True}
        return self.request("POST", "/api/packages/register/", json_body=body, expect=(400,))

    def packages(self, name: str) -> list[dict[str, Any]]:
        """The packages called ``name`` (at most one), following the pages."""
        found: list[dict[str, Any]] = []
        path: str | None = "/api/packages/?" + urllib.parse.urlencode({"name": name})
        while path:
            body = self.request("GET", path).body
            found += [p for p in body.get("results", []) if p.get("name") == name]
            following = body.get("next")
            path = _relative(following, self.url) if following else None
        return found

    def deregister(self, package_id: int, version: str, patch: str) -> Response:
        return self.request(
            "POST",
            f"/api/packages/{package_id}/deregister/",
            json_body={"version": version, "patch": patch},
            expect=(404, 409),
        )


def _relative(url: str, base: str) -> str:
    """A ``next`` link as a path on this console (it may carry the console's own host name)."""
    parts = urllib.parse.urlsplit(url)
    base_path = urllib.parse.urlsplit(base).path.rstrip("/")
    path = parts.path[len(base_path) :] if parts.path.startswith(base_path) else parts.path
    return path + (f"?{parts.query}" if parts.query else "")


def _parse(raw: bytes) -> Any:
    if not raw:
        return None
    text = raw.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text
