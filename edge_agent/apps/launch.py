"""A code node's launch plan: its command line, environment, folders, image, GPU and CPUs.

What the sandbox (or the host) shows the application is decided here, from the staged node and
its descriptor: Panorama's paths (``/panorama``, ``/opt/aws/panorama/{storage,logs}``) or, without
a sandbox, the real folders in ``PANORAMA_*_DIR``; the container image it runs in, if any; the
GPU, if its package asks; the runtime folder and the SDK's place on ``PYTHONPATH``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devicelink.apps import ApplicationSpec, NodeSpec
from edge_agent.apps import gpu, sandbox
from edge_agent.apps.assets import short
from edge_agent.apps.entry import PATH, LaunchError, entry_argv, entry_env, image_entry_argv
from edge_agent.apps.gpu import GPU_LIB_DIR, GpuAccess
from edge_agent.apps.images import ImageCache
from edge_agent.apps.sandbox import sdk_path
from edge_agent.apps.spawn import LaunchPlan
from edge_agent.apps.staging import IMAGE_MARK
from edge_agent.runtime import PYTHON_DIR_IN_SANDBOX, RUNTIME_DIR_IN_SANDBOX

logger = logging.getLogger("edge_agent.apps")


@dataclass(frozen=True)
class Place:
    """Where an instance keeps things, and what the appliance gives its code nodes."""

    folder: Path  # <data>/apps/<instance>
    options: Any  # options.AppOptions
    images: ImageCache
    runtime: Path | None  # the instance's runtime folder, while it runs
    cpus: frozenset[int] | None

    @property
    def storage(self) -> Path:
        return self.folder / "storage"

    @property
    def logs(self) -> Path:
        return self.folder / "logs" / "code"


def code_plan(
    place: Place, spec: ApplicationSpec, node: NodeSpec, staged: Path,
    descriptor: dict[str, Any], sandboxed: bool,
) -> LaunchPlan:  # fmt: skip
    code = staged / "panorama"
    entry = (descriptor.get("runtimeDescriptor") or {}).get("entry") or {}
    rootfs = image_of(place.images, node, staged, sandboxed)
    if rootfs is not None:
        code = rootfs / "panorama"
        argv, note = image_entry_argv(node.name, entry, rootfs)
        if note:
            logger.warning("Application %s, node %s: %s.", spec.name, node.name, note)
    else:
        argv = entry_argv(node.name, entry, code)
    paths = {"code": sandbox.CODE_DIR, "storage": sandbox.STORAGE_DIR, "logs": sandbox.LOGS_DIR}
    if not sandboxed:
        # The Panorama paths exist only in the sandbox: point the code at the real folders.
        paths = {"code": str(code), "storage": str(place.storage), "logs": str(place.logs)}
        prefix = sandbox.CODE_DIR + "/"
        argv = [str(code / a[len(prefix) :]) if a.startswith(prefix) else a for a in argv]
    env = {"PATH": PATH, "LANG": "C.UTF-8", "HOME": "/tmp"}  # noqa: S108 (the sandbox's own)
    if rootfs is not None:
        env["container"] = "podman"  # as Panorama's runtime sets it
    env.update(entry_env(entry))
    env.update(spec.environment)
    env.setdefault("AWS_REGION", place.options.aws_region)
    env["PYTHONUNBUFFERED"] = "1"
    env.update({f"PANORAMA_{k.upper()}_DIR": v for k, v in paths.items()})
    env["VANTAGE_APPLICATION_INSTANCE_ID"] = spec.application_instance_id
    env["VANTAGE_NODE_NAME"] = node.name
    access = gpu_for(place.options.gpu_root, node)
    if access is not None and rootfs is not None and access.libraries:
        env["LD_LIBRARY_PATH"] = GPU_LIB_DIR
    if place.runtime is not None:
        inside = RUNTIME_DIR_IN_SANDBOX if sandboxed else str(place.runtime)
        env["VANTAGE_RUNTIME_DIR"] = inside
        env["VANTAGE_NODE_CONFIG"] = f"{inside}/code-{node.name}.json"
        env["PYTHONPATH"] = PYTHON_DIR_IN_SANDBOX if sandboxed else sdk_path()
    return LaunchPlan(
        argv=argv, env=env, code=code, storage=place.storage, logs=place.logs,
        sandboxed=sandboxed, hostname=node.name[:63],
        pasta_pid_file=place.folder / "run" / f"pasta-{node.name}.pid",
        pid_file=place.folder / "run" / f"node-{node.name}.pid", runtime=place.runtime,
        cpus=place.cpus, rootfs=rootfs, gpu=access,
    )  # fmt: skip


def gpu_for(root: Path, node: NodeSpec) -> GpuAccess | None:
    """The GPU a node's package asks for (None: it asks for none); LaunchError when this
    appliance has none to give."""
    if not any(asset.needs_gpu for asset in node.assets):
        return None
    access = gpu.detect(root)
    if access is None:
        raise LaunchError(
            f"{node.name}: its package asks for GPU access (hardware_access), and this "
            "appliance has no GPU (no /dev/nvidia* or /dev/nvhost-* device)"
        )
    return access


def image_of(images: ImageCache, node: NodeSpec, staged: Path, sandboxed: bool) -> Path | None:
    """The unpacked image a staged code node runs in; None for a code-only node."""
    mark = staged / IMAGE_MARK
    if not mark.is_file():
        return None
    sha256 = mark.read_text().strip()
    if not images.has(sha256):
        raise LaunchError(f"{node.name}: its container image {short(sha256)} is not unpacked")
    if not sandboxed:
        raise LaunchError(
            f"{node.name}: a container image runs only in the sandbox, and bubblewrap is not "
            "available here (Debian package bubblewrap)"
        )
    images.touch(sha256)
    return images.rootfs(sha256)
