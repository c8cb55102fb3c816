"""Fixtures shared by the agent's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.agents import AssetServer, asset_server


@pytest.fixture
def server() -> Iterator[AssetServer]:
    """The signed-asset file server the application supervisor downloads from."""
    yield from asset_server()
