"""What the agent runs applications with: restart policy, time limits, sandbox, limits, caches.

One ``AppOptions`` per agent, handed to every instance (edge_agent/apps/instance.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from edge_agent.apps import cgroups
from edge_agent.apps.process import RestartPolicy
from edge_agent.apps.stalls import stall_seconds


@dataclass
class AppOptions:
    aws_region: str = field(
        default_factory=lambda: os.environ.get("VANTAGE_AGENT_AWS_REGION", "us-east-1")
    )
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    camera_timeout_s: float = 10.0  # opening and reading a stream
    model_start_s: float = 120.0  # loading a model (a big one on a slow disk takes a while)
    model_threads: int | None = None  # CPU threads of a lone inference (None: every CPU)
    call_timeout_s: float = 30.0  # call()'s limit when the application gives none
    display_size: tuple[int, int] = (1280, 720)
    sandbox: bool | None = None  # None: use bubblewrap when it works; False: never
    # Unsandboxed nodes get a network namespace of their own when the agent is root (None) or
    # never (False): then they share the host's network.
    own_netns: bool | None = None
    log_max_bytes: int = 10 * 1024 * 1024
    forward_host: str = "0.0.0.0"  # noqa: S104 (confirmed host ports are meant to be reachable)
    # How long a host port still held (by an instance being replaced) is tried again.
    port_wait_s: float = 15.0
    # Unpacked container images: the disk they may take together (images no application uses
    # are removed to stay under it), and the most one image may unpack to.
    image_cache_gib: float = field(
        default_factory=lambda: float(os.environ.get("VANTAGE_AGENT_IMAGE_CACHE_GIB", "20"))
    )
    # No frame of a camera taken for this long while it receives frames: the camera node is
    # reported ERROR, "stalled" (stalls.py); 0: never.
    stall_s: float = field(default_factory=stall_seconds)
    max_image_gib: float = field(
        default_factory=lambda: float(os.environ.get("VANTAGE_AGENT_MAX_IMAGE_GIB", "8"))
    )
    gpu_root: Path = Path("/")  # where /dev and the driver libraries are (gpu.py)
    # Where the control groups for resource limits are: "detect" (from /proc/self/mounts),
    # or None for no limits at all.
    limits_hierarchy: cgroups.Hierarchy | str | None = "detect"

    def cgroup_hierarchy(self) -> cgroups.Hierarchy | None:
        if self.limits_hierarchy == "detect":
            self.limits_hierarchy = cgroups.detect()
        found = self.limits_hierarchy
        return found if isinstance(found, cgroups.Hierarchy) else None
