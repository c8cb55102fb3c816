"""Fixtures for the SDK's tests: a runtime folder with rings the test writes frames into (the
test plays the camera) and a code node configuration pointing at them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from edge_agent.runtime.config import (
    CodeNodeConfig,
)
from panoramasdk import _node
from tests.support.runtime import Runtime
from tests.support.sdk import CAPACITY, sample_config


@pytest.fixture
def runtime() -> Iterator[Runtime]:
    with Runtime() as runtime:
        yield runtime


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
