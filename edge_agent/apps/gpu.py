"""GPU access for the code nodes whose package asks for it.

A Panorama package asks in its implementation's ``requirements``:
``{"type": "hardware_access", "inferenceAccelerators": [{"deviceType": "nvhost_gpu", …}]}``
(three published samples write ``nvAccelerators``; both count, ``devicelink.apps``). Such a node
gets the host's GPU in its sandbox, and no other node does:

- the device nodes: NVIDIA desktop and server GPUs (``/dev/nvidia0`` …, ``nvidiactl``,
  ``nvidia-uvm``, ``nvidia-modeset``, ``/dev/nvidia-caps/*``) and Jetson modules
  (``/dev/nvhost-*``, ``/dev/nvmap``, ``/dev/nvgpu/*``), bound with ``--dev-bind``;
- the driver's user-space libraries: the ones the nvidia-container-toolkit's CDI spec names
  (``/etc/cdi/*.yaml``, ``/var/run/cdi/*``: its device nodes and mounts) where there is one,
  otherwise the ``libcuda``/``libnvidia-*``/Tegra libraries found in the host's library folders.
  In a container image they are bound into a folder of their own
  (``/opt/vantage/gpu/lib``, first on ``LD_LIBRARY_PATH``), since the image's tree is read-only
  and has none of them.

``detect()`` reads a device tree (``/`` on the appliance; a tree a test builds otherwise), so
what is bound can be checked without a GPU. The agent reports the accelerators it found in its
hello, and the console refuses a deployment that needs a GPU on an appliance without one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger("edge_agent.apps.gpu")

GPU_LIB_DIR = "/opt/vantage/gpu/lib"
NVIDIA_DEVICES = ("dev/nvidia[0-9]*", "dev/nvidiactl", "dev/nvidia-uvm", "dev/nvidia-uvm-tools",
                  "dev/nvidia-modeset", "dev/nvidia-caps/*")  # fmt: skip
JETSON_DEVICES = ("dev/nvhost-*", "dev/nvmap", "dev/nvgpu/*/*", "dev/nvidia0")
LIBRARY_DIRS = ("usr/lib/x86_64-linux-gnu", "usr/lib/aarch64-linux-gnu",
                "usr/lib/aarch64-linux-gnu/tegra", "usr/lib64", "usr/local/cuda/lib64")  # fmt: skip
LIBRARY_PATTERNS = ("libcuda.so*", "libnvidia-*.so*", "libnvcuvid.so*", "libnvrm*.so*",
                    "libnvos.so", "libcudnn*.so*")  # fmt: skip
CDI_DIRS = ("etc/cdi", "var/run/cdi")


@dataclass(frozen=True)
class GpuAccess:
    kind: str  # "nvidia" or "jetson"
    devices: tuple[str, ...]  # device nodes, bound at the same path
    libraries: tuple[str, ...] = ()  # host paths of driver libraries
    source: str = ""  # the CDI spec used, or "library folders"


@dataclass
class _Found:
    devices: list[str] = field(default_factory=list)
    libraries: list[str] = field(default_factory=list)


def detect(root: Path = Path("/")) -> GpuAccess | None:
    """The GPU of the machine whose tree is at ``root``; None when it has none."""
    jetson = _glob(root, JETSON_DEVICES[:2])
    kind = "jetson" if jetson else "nvidia" if _glob(root, NVIDIA_DEVICES[:1]) else ""
    if not kind:
        return None
    found = _from_cdi(root)
    source = found[1] if found else "library folders"
    if found is None:
        patterns = JETSON_DEVICES if kind == "jetson" else NVIDIA_DEVICES
        found = (_Found(_glob(root, patterns), _libraries(root)), source)
    devices = sorted(set(found[0].devices))
    return GpuAccess(kind, tuple(devices), tuple(sorted(set(found[0].libraries))), source)


def accelerators(root: Path = Path("/")) -> list[str]:
    """What the agent tells the console it has (in its hello): ``["nvidia"]``, ``[]``, …"""
    access = detect(root)
    return [access.kind] if access else []


def _glob(root: Path, patterns: tuple[str, ...]) -> list[str]:
    paths: list[str] = []
    for pattern in patterns:
        paths += ["/" + str(p.relative_to(root)) for p in sorted(root.glob(pattern))]
    return paths


def _libraries(root: Path) -> list[str]:
    found = []
    for folder in LIBRARY_DIRS:
        for pattern in LIBRARY_PATTERNS:
            found += ["/" + str(p.relative_to(root)) for p in sorted((root / folder).glob(pattern))]
    return found


def _from_cdi(root: Path) -> tuple[_Found, str] | None:
    """The device nodes and libraries of the first NVIDIA CDI spec under ``root``."""
    for folder in CDI_DIRS:
        for path in sorted((root / folder).glob("*")):
            if path.suffix not in (".yaml", ".yml", ".json"):
                continue
            try:
                spec = yaml.safe_load(path.read_text())
            except (OSError, yaml.YAMLError) as exc:
                logger.warning("The CDI spec %s cannot be read: %s", path, exc)
                continue
            if not isinstance(spec, dict) or not str(spec.get("kind", "")).startswith("nvidia"):
                continue
            found = _Found()
            edits = [spec.get("containerEdits") or {}]
            edits += [d.get("containerEdits") or {} for d in spec.get("devices") or []]
            for edit in edits:
                _add_edits(found, edit)
            return found, "/" + str(path.relative_to(root))
    return None


def _add_edits(found: _Found, edit: dict[str, Any]) -> None:
    for node in edit.get("deviceNodes") or []:
        if isinstance(node, dict) and isinstance(node.get("path"), str):
            found.devices.append(node.get("hostPath") or node["path"])
    for mount in edit.get("mounts") or []:
        if not isinstance(mount, dict):
            continue
        host = str(mount.get("hostPath", ""))
        if ".so" in Path(host).name:
            found.libraries.append(host)


def bwrap_args(access: GpuAccess, *, image: bool) -> list[str]:
    """bubblewrap's arguments for GPU access. In an image the libraries go into their own
    folder (``GPU_LIB_DIR``); on the host's root they are there already."""
    argv: list[str] = []
    for device in access.devices:
        argv += ["--dev-bind-try", device, device]
    if image and access.libraries:
        argv += ["--tmpfs", "/opt/vantage/gpu"]
        for library in access.libraries:
            argv += ["--ro-bind-try", library, f"{GPU_LIB_DIR}/{Path(library).name}"]
    return argv
