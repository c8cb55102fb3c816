"""Fixtures of the deployment tests: an online device and the registered code package (modules
may define their own under the same names)."""

import pytest

from devices.models import Device
from tests.support.deploy import register_inbound_network_package


def make_device(name: str) -> Device:
    return Device.objects.create(
        name=name, provisioning_status="SUCCEEDED", connection_status="ONLINE"
    )


@pytest.fixture
def device():
    return make_device("lobby-1")


@pytest.fixture
def app(asset_store):
    """The inbound_network-shaped code package, registered; returns its patch version."""
    return register_inbound_network_package()
