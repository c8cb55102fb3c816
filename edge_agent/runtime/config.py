"""What each runtime process is told: one JSON document per process (``--config FILE``).

File names inside a config (rings, sockets) are relative to the instance's runtime folder, given
to every process as ``runtime_dir`` (the code node's may differ from the agent's: the sandbox
sees the folder at ``/run/vantage``). Secrets never go into these files: a camera's credentials
reach its process on stdin (``CameraSecrets``), the runtime role in the code node's environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

# The code node reads its configuration with its own interpreter, inside its image: those
# records are plain dataclasses (records.py), re-exported here for the agent.
from edge_agent.runtime.records import (
    CodeNodeConfig,
    MediaInput,
    MediaOutput,
    ModelRef,
    ParameterInput,
    PutMedia,
    PutRecord,
    Record,
    StreamInput,
    TensorSpec,
)

__all__ = [
    "CameraConfig",
    "CameraSecrets",
    "CodeNodeConfig",
    "DisplayConfig",
    "MediaInput",
    "MediaOutput",
    "ModelRef",
    "ModelServerConfig",
    "ParameterInput",
    "PutMedia",
    "PutRecord",
    "StreamInput",
    "TensorSpec",
    "load",
]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- camera ---------------------------------------------------------------------------------
class CameraConfig(_Config):
    node: str
    runtime_dir: str
    ring: str  # cam-<node>.ring, created by the agent
    url: str  # rtsp://… (no credentials in it) or file:///…
    # A file source (source/video/file): file:/// URLs played one after another (url is the
    # first), loop_count times (0: forever), at fps (0: each file's own rate).
    files: list[str] = []
    loop_count: int = 0
    fps: float = 0.0
    open_timeout_s: float = 10.0
    read_timeout_s: float = 10.0
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 15.0
    metrics_interval_s: float = 1.0


class CameraSecrets(_Config):
    """Read as one JSON line from stdin at start."""

    username: str = ""
    password: str = ""


# --- model server ---------------------------------------------------------------------------
class ModelServerConfig(_Config):
    node: str
    runtime_dir: str
    socket: str  # model-<node>.sock
    model_archive: str  # absolute path of the staged model asset (.tar.gz holding the .onnx)
    inputs: list[TensorSpec]
    # INT8: the console quantized the model (QDQ); it runs as it is, on TensorRT in INT8.
    precision: Literal["FP32", "FP16", "INT8"] = "FP32"
    # CPU: the threads a lone inference runs on; default every CPU the process may use.
    threads: int | None = None
    # Inferences run at the same time; default (CPU) as many as the threads, each of them then
    # on one thread (modelsched.py), or one on a GPU, which parallelizes inside.
    workers: int | None = None
    hang_s: float = 30.0  # an inference running longer is abandoned: the server exits, reports
    metrics_interval_s: float = 1.0


# --- display --------------------------------------------------------------------------------
class DisplayConfig(_Config):
    node: str
    runtime_dir: str
    socket: str  # display-<node>.sock: put() records arrive here (a datagram socket it binds)
    ring: str  # display-<node>.ring: the composed output (the agent reads it as reader 0)
    # Every ring a put() may refer to (camera rings, code nodes' out rings) → the display's
    # reader index in it.
    readers: dict[str, int]
    # Each camera's stream id → its ring: a paused camera's tile leaves the canvas.
    streams: dict[str, str] = {}
    width: int = 1280
    height: int = 720
    metrics_interval_s: float = 1.0


def load(model: type[_Config] | type[Record], path: str | Path) -> Any:
    return model.model_validate_json(Path(path).read_text())
