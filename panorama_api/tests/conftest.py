"""boto3's real ``panorama`` client against the console, signed with a real access key.

``panorama(role)`` gives a client for a new user with that role, talking to the live server
(``live_server``: real HTTP) at ``<url>/panorama``; retries are off unless asked for, so every
error reaches the test as boto3 raises it. Every body it receives is checked against the model
(tests/support/panorama.py). ``api`` and ``operator_api``: an Operator's clients;
``device`` and ``app``: a device set up and online, and the inbound_network-shaped package.
"""

from __future__ import annotations

import uuid

import boto3
import pytest
from botocore.config import Config

from core.roles import Role
from tests.support.deploy import register_inbound_network_package
from tests.support.devices import connected_device
from tests.support.panorama import REGION, checked


@pytest.fixture
def panorama(live_server, make_user, settings):
    from panorama_api.models import AccessKey

    settings.PANORAMA_API_REGION = REGION
    # Tests call faster than Panorama's 5 a second; the throttling tests set the rates back.
    settings.PANORAMA_API_REQUESTS_PER_S = 0
    settings.PANORAMA_API_MUTATIONS_PER_S = 0
    # An operation answering a member its output does not have, or leaving out a required one,
    # fails the test instead of being dropped quietly.
    settings.PANORAMA_API_STRICT = True

    def client(role: Role = Role.ADMINISTRATOR, *, retries: dict | None = None, user=None):
        user = user or make_user(role)
        key, secret = AccessKey.make(user, "tests")
        return checked(
            boto3.client(
                "panorama",
                endpoint_url=f"{live_server.url}/panorama",
                region_name=REGION,
                aws_access_key_id=key.access_key_id,
                aws_secret_access_key=secret,
                config=Config(retries=retries or {"max_attempts": 1, "mode": "standard"}),
            )
        )

    return client


@pytest.fixture(autouse=True)
def _tasks_wait_for_the_test():
    """These tests run the deployment workflow's tasks themselves (what the worker would do);
    a whole stack's worker, started by another test of the session and still serving its queue,
    must not take them first: their tasks go to a queue of their own."""
    from console.celery import app

    before = app.conf.task_default_queue
    app.conf.task_default_queue = f"panorama-api-tests-{uuid.uuid4().hex}"
    yield
    app.conf.task_default_queue = before


@pytest.fixture
def api(panorama, operator):
    """An Operator's client; every response it gets is checked against the model."""
    return checked(panorama(user=operator))


@pytest.fixture
def app(asset_store):
    """The inbound_network-shaped code package, registered; returns its patch version."""
    return register_inbound_network_package()


@pytest.fixture
def device():
    return connected_device("lobby-1")


@pytest.fixture
def operator_api(panorama):
    return panorama(Role.OPERATOR)
