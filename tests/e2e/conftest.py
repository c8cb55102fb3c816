"""Fixtures of the end-to-end tests: real agents, LinkClients in threads of their own and a
cuttable network path to the console."""

from collections.abc import Iterator

import pytest

from tests.support.agent_pieces import Links
from tests.support.appliances import console_proxy, make_agent  # noqa: F401


@pytest.fixture
def links(live_stack) -> Iterator[Links]:
    started = Links()
    yield started
    started.stop_all()
