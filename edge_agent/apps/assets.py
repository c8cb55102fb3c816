"""Node package assets: resumable, hash-verified downloads into a content-addressed cache, and
the safe unpacking of container assets.

The cache is ``<data>/apps/assets/<sha256>``. A file gets its final name only after its sha256
matched, so whatever has that name was verified once and is never downloaded or hashed again
(a restarted agent starts its instances from it). An interrupted download stays in
``<sha256>.part`` and the next attempt asks only for the rest (``Range``).
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import json
import os
import shutil
import ssl
import tarfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from edge_agent.console_http import USER_AGENT, url_for

CHUNK = 1024 * 1024
# A container asset unpacks to at most this much: a bound on a hostile or broken archive.
MAX_UNPACKED_BYTES = 8 * 1024**3


class AssetError(Exception):
    """An asset cannot be used; the message says why, for the operator."""


class _Restart(Exception):
    """The server ignored or refused our range: start the file again from byte 0."""


def short(sha256: str) -> str:
    return f"{sha256[:4]}…"


def mib(size: float) -> str:
    """``2.2 MiB``; below 1 MiB in KiB, so that a small file does not read as 0.0 MiB."""
    return f"{size / 1024**2:.1f} MiB" if size >= 1024**2 else f"{size / 1024:.0f} KiB"


def free_bytes(folder: Path) -> int:
    """Free space on the disk that holds ``folder`` (for the agent: root's reserve included)."""
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 0


def no_space(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


class AssetCache:
    def __init__(
        self,
        folder: Path,
        console_url: str,
        authorization: Callable[[str], str],
        ssl_context: ssl.SSLContext | None,
        *,
        attempts: int = 5,
        retry_s: float = 1.0,
        timeout_s: float = 60.0,
    ) -> None:
        self.folder = folder
        self.console_url = console_url
        # A fresh ``Authorization`` value for a GET of the given path (one per request: the
        # signature carries a timestamp and a nonce).
        self.authorization = authorization
        self.ssl_context = ssl_context
        self.attempts = attempts
        self.retry_s = retry_s
        self.timeout_s = timeout_s
        # One download per file at a time: two instances may need the same asset at once, and
        # a cancelled install's thread may still be writing its part.
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self._abort = threading.Event()

    def abort(self) -> None:
        """Make downloads in progress stop at their next chunk (the agent is stopping)."""
        self._abort.set()

    def path_of(self, sha256: str) -> Path:
        return self.folder / sha256

    def discard(self, sha256: str) -> None:
        """Remove a verified file that is kept elsewhere now (an unpacked container image)."""
        with self._locks_lock:
            lock = self._locks.setdefault(sha256, threading.Lock())
        with lock:
            self.path_of(sha256).unlink(missing_ok=True)

    def fetch(self, sha256: str, size: int, path: str, name: str = "") -> Path:
        """The verified file for ``sha256``, downloaded from ``path`` if not cached (blocking).
        ``name`` (the asset's, in the package) is what error messages call it."""
        with self._locks_lock:
            lock = self._locks.setdefault(sha256, threading.Lock())
        with lock:
            return self._fetch(sha256, size, path, name or f"asset {short(sha256)}")

    def _fetch(self, sha256: str, size: int, path: str, name: str) -> Path:
        final = self.path_of(sha256)
        if final.is_file():
            return final
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if no_space(exc):
                raise AssetError(self._no_space(name, size)) from None
            raise
        part = final.with_name(f"{sha256}.part")
        reason = ""
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(min(self.retry_s * 2 ** (attempt - 1), 30.0))
            try:
                self._room_for(part, size, name)
                self._download(part, size, path)
                break
            except _Restart:
                part.unlink(missing_ok=True)
                reason = "the server did not honour the range request"
            except AssetError:
                raise
            except OSError as exc:
                if no_space(exc):
                    # Retrying cannot help, and the part would keep the disk full for the
                    # applications that run: it goes, and the install fails with the figures.
                    part.unlink(missing_ok=True)
                    raise AssetError(self._no_space(name, size)) from None
                reason = str(getattr(exc, "reason", exc)) or type(exc).__name__
            except (http.client.HTTPException, urllib.error.URLError) as exc:
                # The part stays: the next attempt resumes where this one stopped.
                reason = str(getattr(exc, "reason", exc)) or type(exc).__name__
        else:
            raise AssetError(
                f"asset {short(sha256)} could not be downloaded after {self.attempts} "
                f"attempts: {reason}"
            )
        digest = _sha256_of(part)
        if digest != sha256:
            part.unlink(missing_ok=True)
            raise AssetError(f"asset {short(sha256)} failed its sha256 check")
        os.replace(part, final)
        return final

    def _room_for(self, part: Path, size: int, name: str) -> None:
        """AssetError before a byte is downloaded when the disk cannot take the rest."""
        needed = size - (part.stat().st_size if part.exists() else 0)
        if needed > free_bytes(self.folder):
            raise AssetError(self._no_space(name, needed))

    def _no_space(self, name: str, needed: int) -> str:
        return (
            f"No space left on device while downloading {name}: needs {mib(needed)}, "
            f"{mib(free_bytes(self.folder))} free"
        )

    def _download(self, part: Path, size: int, path: str) -> None:
        offset = part.stat().st_size if part.exists() else 0
        if offset > size:
            raise _Restart
        if offset == size:
            return  # complete already; the caller verifies it
        headers = {"Authorization": self.authorization(path), "User-Agent": USER_AGENT}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        request = urllib.request.Request(url_for(self.console_url, path), headers=headers)  # noqa: S310 (the console's URL)
        try:
            response = urllib.request.urlopen(  # noqa: S310
                request, context=self.ssl_context, timeout=self.timeout_s
            )
        except urllib.error.HTTPError as exc:
            with exc:
                if exc.code == 416:
                    raise _Restart from None
                if exc.code in (401, 403, 404):
                    # Retrying cannot help: the console does not give us this asset.
                    raise AssetError(
                        f"the console refused the download of {path} (HTTP {exc.code})"
                    ) from None
                raise
        with response:
            if offset and response.status != 206:
                offset = 0  # a plain 200: the whole file again
            elif offset and not _starts_at(response.headers.get("Content-Range", ""), offset):
                raise _Restart
            mode = "ab" if offset else "wb"
            with part.open(mode) as out:
                received = offset
                while chunk := response.read(CHUNK):
                    if self._abort.is_set():
                        raise AssetError("the agent is stopping")  # the part stays for later
                    received += len(chunk)
                    if received > size:
                        raise _Restart
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        if received < size:
            raise OSError(f"the download stopped after {received} of {size} bytes")


def _starts_at(content_range: str, offset: int) -> bool:
    # "bytes 1000-1999/2000"
    try:
        unit, _, rest = content_range.partition(" ")
        return unit == "bytes" and int(rest.split("-", 1)[0]) == offset
    except ValueError:
        return False


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _allowed(name: str) -> bool:
    while name.startswith("./"):
        name = name[2:]
    if name in ("", "."):
        return True
    parts = PurePosixPath(name).parts
    if parts[0] == "/" or ".." in parts:
        return False
    return parts == ("descriptor.json",) or parts[0] == "panorama"


def unpack_container(archive: Path, dest: Path) -> dict[str, Any]:
    """Unpack a container asset into ``dest`` (``descriptor.json`` and ``panorama/``).

    Only those two names are accepted, and the tarfile ``data`` filter refuses absolute names,
    ``..``, links that leave the folder, devices, and set-user-id bits. Returns the archive's
    descriptor (``{}`` if it has none or it is not JSON).
    """
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
            strays = [m.name for m in members if not _allowed(m.name)]
            if strays:
                raise AssetError(f"the container asset holds {strays[0]!r} outside panorama/")
            declared = sum(m.size for m in members if m.isfile())
            if declared > MAX_UNPACKED_BYTES:
                raise AssetError("the container asset unpacks to more than 8 GiB")
            dest.mkdir(parents=True, exist_ok=True)
            if declared > free_bytes(dest):
                raise AssetError(
                    f"No space left on device to unpack the container asset: it needs "
                    f"{mib(declared)}, {mib(free_bytes(dest))} free"
                )
            tar.extractall(dest, members=members, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise AssetError(f"the container asset cannot be unpacked: {exc}") from None
    (dest / "panorama").mkdir(exist_ok=True)
    try:
        document = json.loads((dest / "descriptor.json").read_text())
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}
