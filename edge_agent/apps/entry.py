"""A code node's runtimeDescriptor ``entry`` as the command line and environment it runs with."""

from __future__ import annotations

import os
import platform
import shutil
import sys
from pathlib import Path
from typing import Any, Literal

from edge_agent.apps import sandbox

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class LaunchError(Exception):
    pass


def entry_argv(node: str, entry: dict[str, Any], code: Path) -> list[str]:
    """The runtimeDescriptor entry as a command line, with Panorama's paths (``/panorama/...``).

    ``python3`` (any ``python*``, or ``$default``) is the agent's own interpreter, so the
    packages installed with the agent are importable; ``bash`` and ``sh`` are the system's.
    """
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise LaunchError(f"{node}: the asset's descriptor has no runtimeDescriptor entry")
    inside = name if name.startswith("/") else f"{sandbox.CODE_DIR}/{name}"
    relative = os.path.relpath(inside, sandbox.CODE_DIR)
    if relative.startswith("..") or not (code / relative).is_file():
        raise LaunchError(f"{node}: the entry {name} is not in the container asset")
    interpreter = str(entry.get("path") or "$default")
    if interpreter == "$default" or interpreter.startswith("python"):
        argv = [sys.executable]
    elif interpreter in ("bash", "sh"):
        argv = [shutil.which(interpreter) or f"/bin/{interpreter}"]
    else:
        argv = [interpreter]
    return [*argv, inside, *[str(a) for a in entry.get("arguments") or []]]


def entry_env(entry: dict[str, Any]) -> dict[str, str]:
    """The entry's ``environment`` (``[{name, value}]``, or an ``env`` mapping)."""
    described = entry.get("environment") or entry.get("env") or []
    if isinstance(described, dict):
        return {str(k): str(v) for k, v in described.items()}
    return {
        str(e["name"]): str(e["value"])
        for e in described
        if isinstance(e, dict) and "name" in e and "value" in e
    }


# --- in a container image -----------------------------------------------------------------------
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def resolve_in_image(rootfs: Path, path: str) -> Path | None:
    """Where ``path`` (as the application sees it) is in the unpacked tree, following symbolic
    links as they resolve inside the sandbox (an absolute target starts again at the image's
    root); None if it is not there or leads nowhere."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    current: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if current:
                current.pop()
            continue
        candidate = rootfs.joinpath(*current, part)
        if candidate.is_symlink():
            hops += 1
            if hops > 40:
                return None
            target = os.readlink(candidate)
            if target.startswith("/"):
                current = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        if not candidate.exists():
            return None
        current.append(part)
    return rootfs.joinpath(*current)


def _on_path(rootfs: Path, command: str) -> str | None:
    """The image's own ``which``: the absolute path of ``command`` in the image, or None."""
    if "/" in command:
        found = resolve_in_image(rootfs, command)
        return command if found is not None and found.is_file() else None
    for folder in IMAGE_PATH.split(":"):
        found = resolve_in_image(rootfs, f"{folder}/{command}")
        if found is not None and found.is_file() and os.access(found, os.X_OK):
            return f"{folder}/{command}"
    return None


def image_entry_argv(node: str, entry: dict[str, Any], rootfs: Path) -> tuple[list[str], str]:
    """The runtimeDescriptor entry as a command line inside the image, and a note for the
    operator ("" when none): ``<path> <name> [arguments…]``, as Panorama ran it.

    ``$default`` is the image's ``python3``. A ``python3.X`` the image does not have (an
    application written for Panorama's Python 3.8, on Vantage's base image) runs with the
    image's ``python3``, and the note says so.
    """
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise LaunchError(f"{node}: the asset's descriptor has no runtimeDescriptor entry")
    inside = name if name.startswith("/") else f"{sandbox.CODE_DIR}/{name}"
    found = resolve_in_image(rootfs, inside)
    if found is None or not found.is_file():
        raise LaunchError(f"{node}: the entry {name} is not in the image")
    interpreter = str(entry.get("path") or "$default")
    if interpreter == "$default":
        interpreter = "python3"
    note = ""
    resolved = _on_path(rootfs, interpreter)
    if resolved is None and interpreter.startswith("python3"):
        fallback = _on_path(rootfs, "python3")
        if fallback is not None:
            note = f"the image has no {interpreter}: the entry runs with its python3"
            resolved = fallback
    if resolved is None:
        raise LaunchError(f"{node}: the entry's interpreter {interpreter} is not in the image")
    binary = resolve_in_image(rootfs, resolved)
    built_for = elf_machine(binary) if binary is not None else None
    here = platform.machine()
    if built_for is not None and built_for != here:
        if not Path(f"/proc/sys/fs/binfmt_misc/qemu-{built_for}").exists():
            raise LaunchError(
                f"{node}: the image is built for {built_for} and this appliance is {here}: "
                f"build the image for {here} (vantage-cli build-container on {here}), or "
                f"install qemu-user-static to run {built_for} images under emulation"
            )
        note = f"the image is built for {built_for}: it runs under emulation (qemu), slowly"
    return [resolved, inside, *[str(a) for a in entry.get("arguments") or []]], note


ELF_MACHINES = {0x3E: "x86_64", 0xB7: "aarch64", 0x28: "arm", 0x03: "i386"}


def elf_machine(path: Path) -> str | None:
    """The architecture an ELF executable is built for, as ``uname -m`` names it (None: not
    ELF, e.g. a script)."""
    try:
        with path.open("rb") as handle:
            header = handle.read(20)
    except OSError:
        return None
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    order: Literal["little", "big"] = "little" if header[5] == 1 else "big"
    machine = int.from_bytes(header[18:20], order)
    return ELF_MACHINES.get(machine, f"machine {machine:#x}")
