"""Container images: a code asset that is a whole root filesystem, unpacked once and run as the
code node's ``/``.

Panorama ran each code node in the filesystem its Dockerfile built, exported with
``docker export`` into the code asset (a tar, gzip'd by panorama-cli). Such an asset is told
from Vantage's code-only archive (``descriptor.json`` and ``panorama/``) by what it holds: any
other top-level name makes it an image.

``<data>/apps/images/<sha256>/``
    ``rootfs/``     the unpacked tree, bound read-only as the sandbox's ``/``
    ``image.json``  what it holds (bytes, files) and when an instance last used it

The archive's sha256 was checked when it was downloaded, so the folder's name vouches for its
content. Unpacking is the hostile part: an image comes from a customer's file. Members are
checked before anything is written (absolute names, ``..``, hard links to what the image does
not hold, device files outside ``/dev``, more bytes or files than allowed; device nodes in
``/dev``, which some builders export, are left out, as the sandbox mounts its own ``/dev``),
extracted into a temporary folder with tarfile's ``tar`` filter (which also refuses any member
that would land outside the folder through a symbolic link the image made), and set-user-id
bits are dropped. Symbolic
links may point anywhere, ``/usr/bin/python3`` included: they are resolved inside the sandbox,
where ``/`` is the image. Images no staged generation uses are removed, oldest use first, to
stay under a disk budget, and free space is checked before unpacking.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

logger = logging.getLogger("edge_agent.apps.images")

CODE_ARCHIVE_NAMES = {"descriptor.json", "panorama"}
MAX_IMAGE_ENV = "VANTAGE_AGENT_MAX_IMAGE_GIB"
BUDGET_ENV = "VANTAGE_AGENT_IMAGE_CACHE_GIB"
MAX_FILES = 500_000
# Space left free for everything else on the appliance (logs, outbox, storage).
FREE_RESERVE_BYTES = 512 * 1024**2
# Folders and files the sandbox mounts over: they must exist in the tree, as real folders and
# files, because the tree is read-only once bound (sandbox.image_argv).
MOUNT_DIRS = (
    "proc", "dev", "sys", "tmp", "run", "panorama", "opt/vantage/python",
    "opt/aws/panorama/storage", "opt/aws/panorama/logs",
)  # fmt: skip
# The sandbox binds the appliance's resolv.conf over the image's (a placeholder in an export).
MOUNT_FILES = ("etc/resolv.conf",)
# What an image gets as /etc/hosts when its own is missing or empty (as a docker export's is):
# what Docker would have written, so that "localhost" resolves.
DEFAULT_HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"


class ImageError(Exception):
    """The image cannot be used; the message says why, for the operator."""


@dataclass(frozen=True)
class Scan:
    bytes: int
    files: int
    setuid: int  # members whose set-user-id or set-group-id bit was dropped


def _name(member: tarfile.TarInfo) -> str:
    name = member.name
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/")


def is_image(archive: Path) -> bool:
    """Whether a container asset is a root filesystem rather than a code-only archive."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                name = _name(member)
                if name and name != "." and name.split("/")[0] not in CODE_ARCHIVE_NAMES:
                    return True
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ImageError(f"the container asset cannot be read: {exc}") from None
    return False


def _check(member: tarfile.TarInfo, seen_files: set[str]) -> str:
    """The member's clean name; ImageError if it may not be unpacked."""
    raw = member.name
    if raw.startswith("/"):
        raise ImageError(f"the image holds {raw!r}, an absolute path")
    name = _name(member)
    parts = PurePosixPath(name).parts
    if ".." in parts:
        raise ImageError(f"the image holds {raw!r}, which leaves the image's root")
    if (member.ischr() or member.isblk()) and not _in_dev(name):
        kind = "character" if member.ischr() else "block"
        raise ImageError(f"the image holds {raw!r}, a {kind} device; images may not hold devices")
    if member.islnk():
        target = member.linkname
        while target.startswith("./"):
            target = target[2:]
        if target.startswith("/") or ".." in PurePosixPath(target).parts:
            raise ImageError(f"the image's hard link {raw!r} points outside the image")
        if target.rstrip("/") not in seen_files:
            raise ImageError(f"the image's hard link {raw!r} points to a file it does not hold")
    if member.isfile():
        seen_files.add(name)
    return name


def _in_dev(name: str) -> bool:
    return name.startswith("dev/")


def _skipped(member: tarfile.TarInfo) -> bool:
    """Device nodes under /dev (some builders export them) are never unpacked: the sandbox
    mounts a /dev of its own there. Anywhere else a device node refuses the image."""
    return (member.ischr() or member.isblk()) and _in_dev(_name(member))


def scan(archive: Path, max_bytes: int, room_bytes: int | None = None) -> Scan:
    """Check every member before anything is written; stops at the first byte over the limit,
    so a decompression bomb costs no more than ``max_bytes`` of reading, and at the first over
    ``room_bytes`` (the disk space there is for it)."""
    total = files = setuid = 0
    seen: set[str] = set()
    try:
        with tarfile.open(archive, "r|*") as tar:
            for member in tar:
                _check(member, seen)
                if _skipped(member):
                    continue
                files += 1
                total += member.size if member.isfile() else 0
                setuid += bool(member.mode & 0o6000) and member.isfile()
                if total > max_bytes:
                    raise ImageError(
                        f"the image unpacks to more than {_gib(max_bytes)}; the limit is "
                        f"{_gib(max_bytes)} ({MAX_IMAGE_ENV}, or {BUDGET_ENV} when smaller)"
                    )
                if room_bytes is not None and total > room_bytes:
                    raise ImageError(
                        f"not enough disk space to unpack the image: it needs more than "
                        f"{_gib(room_bytes)}, which is what is free once "
                        f"{_gib(FREE_RESERVE_BYTES)} stay free for the rest of the appliance"
                    )
                if files > MAX_FILES:
                    raise ImageError(f"the image holds more than {MAX_FILES:,} files")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ImageError(f"the image cannot be read: {exc}") from None
    return Scan(total, files, setuid)


def _gib(size: int) -> str:
    return f"{size / 1024**3:.1f} GiB"


def _extract(archive: Path, dest: Path, max_bytes: int) -> None:
    """Extract what ``scan`` checked. The bytes are counted again as they are written, and the
    disk's free space is watched: an archive that says one thing to ``scan`` and writes another
    (or a disk that fills meanwhile) stops at ``max_bytes`` or ``FREE_RESERVE_BYTES``."""
    seen: set[str] = set()
    written = 0

    def keep(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
        nonlocal written
        _check(member, seen)
        if _skipped(member):
            return None
        if member.isfile() and member.size:
            written += member.size
            if written > max_bytes:
                raise ImageError(
                    f"the image unpacks to more than its scan found; stopped at {_gib(max_bytes)}"
                )
            if shutil.disk_usage(dest).free - member.size < FREE_RESERVE_BYTES:
                raise ImageError(
                    f"the disk filled while the image was unpacked: "
                    f"{_gib(FREE_RESERVE_BYTES)} must stay free for the rest of the appliance"
                )
        if member.islnk():
            # The file it links to must be a file inside, not a symbolic link made to point out.
            target = os.path.realpath(os.path.join(path, member.linkname))
            if os.path.commonpath([target, os.path.realpath(path)]) != os.path.realpath(path):
                raise ImageError(f"the image's hard link {member.name!r} points outside the image")
        # Refuses names that resolve outside dest (through the image's own symbolic links) and
        # drops set-user-id, set-group-id, sticky and group/other write bits.
        member = tarfile.tar_filter(member, path)
        # Owned by the agent: the sandbox maps its user onto the agent's, and nothing is owned
        # by another user of the host.
        # None: not set (what tarfile's own filters do), which typeshed's int and str leave out.
        unset: Any = None
        return member.replace(uid=unset, gid=unset, uname=unset, gname=unset, deep=False)

    try:
        with tarfile.open(archive, "r|*") as tar:
            for member in tar:
                tar.extract(member, dest, filter=keep)
    except tarfile.FilterError as exc:
        raise ImageError(f"the image holds a member that leaves its root: {exc}") from None
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ImageError(f"the image cannot be unpacked: {exc}") from None


def _prepare_mount_points(rootfs: Path) -> None:
    """The folders and files the sandbox binds over, as real ones (not links) in the tree."""
    for relative in MOUNT_DIRS:
        path = rootfs
        for part in PurePosixPath(relative).parts:
            path = path / part
            if path.is_symlink() or (path.exists() and not path.is_dir()):
                path.unlink()
            path.mkdir(mode=0o755, exist_ok=True)
    for relative in (*MOUNT_FILES, "etc/hosts"):
        path = rootfs / relative
        if path.is_symlink():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o644)
    hosts = rootfs / "etc" / "hosts"
    if not hosts.read_text(errors="replace").strip():
        hosts.write_text(DEFAULT_HOSTS)


class ImageCache:
    def __init__(self, folder: Path, budget_bytes: int, max_image_bytes: int) -> None:
        self.folder = folder
        self.budget_bytes = budget_bytes
        self.max_image_bytes = max_image_bytes
        self._lock = threading.Lock()
        self._in_use: Callable[[], set[str]] = set

    def set_in_use(self, in_use: Callable[[], set[str]]) -> None:
        """Where the cache learns which images staged generations use (never collected)."""
        self._in_use = in_use

    def rootfs(self, sha256: str) -> Path:
        return self.folder / sha256 / "rootfs"

    def has(self, sha256: str) -> bool:
        return (self.folder / sha256 / "image.json").is_file()

    def touch(self, sha256: str) -> None:
        path = self.folder / sha256 / "image.json"
        try:
            document = json.loads(path.read_text())
            document["last_used"] = time.time()
            path.write_text(json.dumps(document))
        except (OSError, ValueError):
            pass

    def unpack(self, sha256: str, archive: Path) -> Path:
        """The image's root filesystem, unpacked from ``archive`` unless it already is."""
        with self._lock:
            if self.has(sha256):
                self.touch(sha256)
                return self.rootfs(sha256)
            self.folder.mkdir(parents=True, exist_ok=True)
            found = scan(archive, min(self.max_image_bytes, self.budget_bytes), self._room())
            self._make_room(found.bytes, keep=sha256)
            partial = self.folder / f".{sha256}.partial"
            shutil.rmtree(partial, ignore_errors=True)
            try:
                (partial / "rootfs").mkdir(parents=True)
                started = time.monotonic()
                _extract(archive, partial / "rootfs", found.bytes)
                _prepare_mount_points(partial / "rootfs")
                document = {
                    "sha256": sha256, "bytes": found.bytes, "files": found.files,
                    "setuid_dropped": found.setuid, "unpacked": time.time(),
                    "last_used": time.time(),
                }  # fmt: skip
                (partial / "image.json").write_text(json.dumps(document))
                os.replace(partial, self.folder / sha256)
            except BaseException:
                shutil.rmtree(partial, ignore_errors=True)
                raise
            logger.info(
                "Unpacked image %s… (%s in %d files) in %.1f s%s.", sha256[:8],
                _gib(found.bytes), found.files, time.monotonic() - started,
                f"; set-user-id bits dropped on {found.setuid} files" if found.setuid else "",
            )  # fmt: skip
            return self.rootfs(sha256)

    # --- disk -----------------------------------------------------------------------------------
    def images(self) -> Iterator[tuple[str, dict[str, float]]]:
        for path in self.folder.glob("*/image.json"):
            try:
                yield path.parent.name, json.loads(path.read_text())
            except (OSError, ValueError):
                continue

    def used_bytes(self) -> int:
        return sum(int(document.get("bytes", 0)) for _, document in self.images())

    def collect(self, extra_bytes: int = 0, keep: str = "") -> int:
        """Remove images no staged generation uses, least recently used first, until the cache
        plus ``extra_bytes`` fits the budget; how many bytes were freed."""
        in_use = self._in_use() | {keep}
        unused = sorted(
            ((d.get("last_used", 0.0), sha, int(d.get("bytes", 0))) for sha, d in self.images()
             if sha not in in_use),
        )  # fmt: skip
        used = self.used_bytes()
        freed = 0
        for _, sha, size in unused:
            if used - freed + extra_bytes <= self.budget_bytes:
                break
            shutil.rmtree(self.folder / sha, ignore_errors=True)
            freed += size
            logger.info("Removed image %s… (%s), which no application uses.", sha[:8], _gib(size))
        # Half-unpacked trees an interrupted agent left behind.
        for partial in self.folder.glob(".*.partial"):
            if partial.name != f".{keep}.partial":
                shutil.rmtree(partial, ignore_errors=True)
        return freed

    def _room(self) -> int:
        """The space an image may take: what is free, and what removing unused images frees."""
        in_use = self._in_use()
        reclaimable = sum(int(d.get("bytes", 0)) for sha, d in self.images() if sha not in in_use)
        free = shutil.disk_usage(self.folder).free
        return max(free + reclaimable - FREE_RESERVE_BYTES, 0)

    def _make_room(self, size: int, keep: str) -> None:
        self.collect(size, keep=keep)
        free = shutil.disk_usage(self.folder).free
        if free < size + FREE_RESERVE_BYTES:
            raise ImageError(
                f"not enough disk space to unpack the image: it needs {_gib(size)} and "
                f"{_gib(FREE_RESERVE_BYTES)} must stay free; {_gib(free)} is free"
            )
