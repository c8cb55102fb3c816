"""Fixtures of the deployment tests: an online device and the registered code package (modules
may define their own under the same names)."""

import uuid

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


@pytest.fixture(autouse=True)
def _tasks_stay_with_the_test(request):
    """Deployments publish their task when they are saved (applications/tasks.py,
    queue_deployment). A whole stack's worker, started by another test of the session, must not
    take the tasks of tests that run the workflow themselves: those go to a queue of their own.
    Tests with the live stack keep its queue."""
    if "live_stack" in request.fixturenames:
        yield
        return
    from console.celery import app

    before = app.conf.task_default_queue
    app.conf.task_default_queue = f"application-tests-{uuid.uuid4().hex}"
    yield
    app.conf.task_default_queue = before
