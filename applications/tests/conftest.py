"""Fixtures of the deployment tests: an online device and the registered code package (modules
may define their own under the same names)."""

import pytest

from tests.support.deploy import register_inbound_network_package
from tests.support.devices import connected_device


@pytest.fixture
def device():
    return connected_device("lobby-1")


@pytest.fixture
def app(asset_store):
    """The inbound_network-shaped code package, registered; returns its patch version."""
    return register_inbound_network_package()
