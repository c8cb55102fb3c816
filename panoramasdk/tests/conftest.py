"""Fixtures for the SDK's tests: a runtime folder with rings the test writes frames into (the
test plays the camera) and a code node configuration pointing at them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from edge_agent.runtime.config import (
    CodeNodeConfig,
    MediaInput,
    MediaOutput,
    ModelRef,
    ParameterInput,
    StreamInput,
)
from edge_agent.tests.runtime_support import Runtime
from panoramasdk import _node

WIDTH, HEIGHT = 64, 48
CAPACITY = WIDTH * HEIGHT * 3
READER = 2  # not 0: an index other than the first proves the configured one is used


def frame(value: int, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """A frame whose every pixel row says which frame it is (and a gradient to tell rows)."""
    image = np.full((height, width, 3), value, np.uint8)
    image[:, :, 1] = np.arange(height, dtype=np.uint8)[:, np.newaxis]
    return image


@pytest.fixture
def runtime() -> Iterator[Runtime]:
    with Runtime() as runtime:
        yield runtime


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


@pytest.fixture
def node_env(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    """Make the rings and write the config, and point the SDK at them; ``node_env(config)``
    returns the config. Any node made is shut down afterwards (one node per process)."""

    def setup(config: CodeNodeConfig | None = None) -> CodeNodeConfig:
        config = config or sample_config(runtime)
        for spec in config.inputs.values():
            for item in getattr(spec, "streams", []):
                if not runtime.path(item.ring).exists():
                    runtime.create_ring(item.ring, capacity=CAPACITY)
        for output in config.outputs.values():
            if output.ring and not runtime.path(output.ring).exists():
                runtime.create_ring(output.ring, capacity=CAPACITY)
        path = runtime.write_config("code-node", config)
        monkeypatch.setenv("VANTAGE_NODE_CONFIG", str(path))
        monkeypatch.setenv("VANTAGE_RUNTIME_DIR", str(runtime.root))
        return config

    yield setup
    _node._shutdown()
