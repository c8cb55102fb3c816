"""A small, real disk that fills up: a tmpfs the test mounts (the tests run as root), for the
agent's fault drills (docs/agent.md, "Disk space")."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_disk(folder: Path, size: str = "8m") -> Iterator[Path]:
    """``folder`` as a tmpfs of ``size``; unmounted (even when the test fails) at the end."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path, name: str = "filler") -> Path:
    """Fill the disk that holds ``folder`` to the last byte; returns the filler to delete."""
    filler = folder / name
    chunk = b"\0" * 65536
    with open(filler, "ab", buffering=0) as handle:
        while True:
            try:
                handle.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
    # What a page-sized chunk could not take, byte by byte.
    with open(filler, "ab", buffering=0) as handle:
        for size in (4096, 512, 64, 1):
            with contextlib.suppress(OSError):
                while True:
                    handle.write(b"\0" * size)
    return filler
