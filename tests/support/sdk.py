"""The SDK's side (no Django): frames the test writes into a camera's ring, and a code node's
configuration with the aws-panorama-sample's interface."""

from __future__ import annotations

from typing import Any

import numpy as np

from edge_agent.runtime.config import (
    CodeNodeConfig,
    MediaInput,
    MediaOutput,
    ModelRef,
    ParameterInput,
    StreamInput,
)
from tests.support.runtime import Runtime

WIDTH, HEIGHT = 64, 48
CAPACITY = WIDTH * HEIGHT * 3
READER = 2  # not 0: an index other than the first proves the configured one is used


def frame(value: int, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """A frame whose every pixel row says which frame it is (and a gradient to tell rows)."""
    image = np.full((height, width, 3), value, np.uint8)
    image[:, :, 1] = np.arange(height, dtype=np.uint8)[:, np.newaxis]
    return image


def stream(name: str, reader: int = READER) -> StreamInput:
    return StreamInput(
        camera=name, stream_id=f"{name}_id", stream_uri=f"rtsp://{name}.example/stream",
        ring=f"cam-{name}.ring", reader=reader,
    )  # fmt: skip


def sample_config(runtime: Runtime, cameras: tuple[str, ...] = ("cam1",), **extra: Any):
    """The aws-panorama-sample's interface: a media input, four parameters, a media output."""
    return CodeNodeConfig(
        application_instance_id="applicationInstance-test",
        node="code_node",
        runtime_dir="/run/vantage",  # what the sandbox would see; VANTAGE_RUNTIME_DIR wins
        inputs={
            "video_in": MediaInput(streams=[stream(name) for name in cameras]),
            "threshold": ParameterInput(type="float32", value=20.0),
            "region": ParameterInput(type="string", value="us-east-1"),
            "device_id": ParameterInput(type="string", value="1234ABCD"),
            "log_level": ParameterInput(type="string", value="INFO"),
        },
        outputs={
            "video_out": MediaOutput(
                displays=["display-output_node.sock"], ring="out-code_node.ring", reader=0
            )
        },
        models={"model_node": ModelRef(socket="model-model_node.sock", inputs=[])},
        **extra,
    )
