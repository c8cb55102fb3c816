"""What each runtime process is told: one JSON document per process (``--config FILE``).

File names inside a config (rings, sockets) are relative to the instance's runtime folder, given
to every process as ``runtime_dir`` (the code node's may differ from the agent's: the sandbox
sees the folder at ``/run/vantage``). Secrets never go into these files: a camera's credentials
reach its process on stdin (``CameraSecrets``), the runtime role in the code node's environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ParameterType = Literal["float32", "int32", "string", "boolean"]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- camera ---------------------------------------------------------------------------------
class CameraConfig(_Config):
    node: str
    runtime_dir: str
    ring: str  # cam-<node>.ring, created by the agent
    url: str  # rtsp://… (no credentials in it) or file:///…
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
class TensorSpec(_Config):
    """One input of the mlModelDescriptor: ``call()`` keys and what they must hold."""

    name: str
    shape: list[int]
    type: str = "float32"  # int8 uint8 int16 uint16 int32 uint32 float16 float32 float64


class ModelServerConfig(_Config):
    node: str
    runtime_dir: str
    socket: str  # model-<node>.sock
    model_archive: str  # absolute path of the staged model asset (.tar.gz holding the .onnx)
    inputs: list[TensorSpec]
    precision: Literal["FP32", "FP16"] = "FP32"
    # CPU: threads per inference; default half the machine's CPUs, leaving the rest for the
    # cameras and the code nodes.
    threads: int | None = None
    workers: int = 1  # inferences run at the same time
    hang_s: float = 30.0  # an inference running longer is abandoned: the server exits, reports
    metrics_interval_s: float = 1.0


# --- code node (panoramasdk) ----------------------------------------------------------------
class StreamInput(_Config):
    camera: str  # the camera node's name
    stream_id: str
    stream_uri: str  # without credentials
    ring: str
    reader: int  # this code node's reader index in that ring


class MediaInput(_Config):
    kind: Literal["media"] = "media"
    streams: list[StreamInput]


class ParameterInput(_Config):
    kind: Literal["parameter"] = "parameter"
    type: ParameterType
    value: Any


class MediaOutput(_Config):
    kind: Literal["media"] = "media"
    # display-<node>.sock of each display node the port feeds ([]: put() checks and drops).
    displays: list[str] = Field(default_factory=list)
    # The code node's own ring for images an application assigned (media.image = new array):
    # out-<code node>.ring, written by the code process, read by the display.
    ring: str = ""
    reader: int = 0  # the display's reader index in that ring


class ModelRef(_Config):
    socket: str
    inputs: list[TensorSpec]


Input = Annotated[MediaInput | ParameterInput, Field(discriminator="kind")]


class CodeNodeConfig(_Config):
    application_instance_id: str
    node: str
    runtime_dir: str
    inputs: dict[str, Input] = Field(default_factory=dict)
    outputs: dict[str, MediaOutput] = Field(default_factory=dict)
    models: dict[str, ModelRef] = Field(default_factory=dict)  # by model node name
    call_timeout_s: float = 30.0  # call()'s limit when the application gives none


# --- display --------------------------------------------------------------------------------
class DisplayConfig(_Config):
    node: str
    runtime_dir: str
    socket: str  # display-<node>.sock: put() records arrive here (a datagram socket it binds)
    ring: str  # display-<node>.ring: the composed output (the agent reads it as reader 0)
    # Every ring a put() may refer to (camera rings, code nodes' out rings) → the display's
    # reader index in it.
    readers: dict[str, int]
    width: int = 1280
    height: int = 720
    metrics_interval_s: float = 1.0


class PutMedia(_Config):
    ring: str
    slot: int
    seq: int
    stream_id: str = ""
    decoded_ns: int = 0
    labels: list[tuple[str, float, float]] = Field(default_factory=list)
    rects: list[tuple[float, float, float, float]] = Field(default_factory=list)


class PutRecord(_Config):
    """One ``put()``: a datagram from the code node to a display (a few hundred bytes)."""

    node: str
    port: str
    put_ns: int
    media: list[PutMedia]


def load(model: type[_Config], path: str | Path) -> Any:
    return model.model_validate_json(Path(path).read_text())
