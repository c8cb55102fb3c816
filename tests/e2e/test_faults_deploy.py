"""Fault drills of issue #20: no deployment or removal hangs when a worker or the task queue
(Redis) fails. A console of the test's own (tests/support/fault_stack.py: its own Redis,
server, one worker, beat with a sweeper every second) and a real agent; the drills kill -9 the
worker holding a deploy task, stop Redis at request time, kill Redis with a task queued, and
remove a deployment the device never got. Each prints its recovery time for the issue's note.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, transaction

from tests.support.appliances import Agent, setup_device, wait_online
from tests.support.fault_stack import REDRIVE_AFTER_S, FaultStack
from tests.support.ports import free_host_port
from tests.support.stack import database_url_for_subprocesses
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

API = "/api/application-instances/"
SUCCEEDED = ("DEPLOYMENT_SUCCEEDED", "RUNNING")


@pytest.fixture(scope="module")
def stack(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[FaultStack]:
    with django_db_blocker.unblock():
        database_url = database_url_for_subprocesses()
    started = FaultStack(
        tmp_path_factory.mktemp("faults"), database_url, settings.SECRET_KEY,
        str(settings.VAR_DIR),
    )  # fmt: skip
    try:
        yield started.start()
    except BaseException:
        print(started.logs())
        raise
    finally:
        started.stop()


@pytest.fixture
def token(make_user) -> str:
    from core.models import APIToken
    from core.roles import Role

    _, text = APIToken.issue(user=make_user(Role.OPERATOR), name="faults", read_only=False)
    return text


@pytest.fixture
def package(stack) -> str:
    from tests.support.deploy import register_inbound_network_package

    return register_inbound_network_package()


@pytest.fixture
def appliance(stack, tmp_path, package) -> Iterator:
    """A device with a real agent, online to the drills' console."""
    import os

    device, archive, _ = setup_device("drill", stack.url)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "DATABASE"))}
    env.pop("VANTAGE_AGENT_BOOTSTRAP", None)
    env.update(VANTAGE_AGENT_BACKOFF_BASE_S="0.2", VANTAGE_AGENT_BACKOFF_CAP_S="1",
               PYTHONUNBUFFERED="1")  # fmt: skip
    (tmp_path / "usb").mkdir()
    agent = Agent(tmp_path / "usb", tmp_path / "data", tmp_path / "agent.log", env)
    from devicelink.archive import archive_name

    (agent.usb_dir / archive_name("drill")).write_bytes(archive)
    agent.start()
    try:
        wait_online(device)
        yield device
    finally:
        agent.stop()


@pytest.fixture(autouse=True)
def _worker_running(stack) -> Iterator[None]:
    """Every drill starts and ends with Redis and a worker up, whatever it broke, and ends once
    the worker has taken every deploy task (the next drill's database has none of their rows)."""
    if not stack.redis.answers():
        stack.redis.start()
    stack.start_worker()
    yield
    if not stack.redis.answers():
        stack.redis.start()
    stack.start_worker()
    stack.resume_worker()
    wait_for(lambda: stack.queued() == 0, 30, "the worker to take every deploy task")


def deploy(stack: FaultStack, token: str, device) -> tuple[int, Any, dict]:
    from tests.support.deploy import body

    return stack.call("POST", API, token, body(device, free_host_port()))


def state(instance_id: str) -> tuple[str, str, str]:
    from applications.models import ApplicationInstance

    instance = ApplicationInstance.objects.get(application_instance_id=instance_id)
    return instance.status, instance.health_status, instance.status_description


def timeline(instance_id: str) -> list[tuple[str, str]]:
    from applications.models import InstanceEvent

    events = InstanceEvent.objects.filter(instance__application_instance_id=instance_id)
    return list(events.order_by("id").values_list("status", "description"))


def report(drill: str, seconds: float) -> None:
    print(f"\n[fault drill] {drill}: recovered in {seconds:.1f} s")


def terminal(instance_id: str, timeout: float = 45) -> tuple[str, str, str]:
    """Waits for the deployment to succeed, or to fail (its reason then in the assertion)."""
    wait_for(
        lambda: state(instance_id)[0] in ("DEPLOYMENT_SUCCEEDED", "DEPLOYMENT_FAILED"),
        timeout, f"{instance_id} to reach a terminal state",
    )  # fmt: skip
    return state(instance_id)


def worker_waits_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        # Inside a transaction PostgreSQL answers from the snapshot of the first look.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE 'UPDATE \"applications_applicationinstance\"%'"
        )
        return cursor.fetchone()[0] > 0


# --- a: the worker is killed -9 while it holds the deploy task ----------------------------------


def test_a_deployment_whose_worker_was_killed_mid_task_completes_after_a_restart(
    stack, token, appliance
):
    from applications.models import ApplicationInstance

    stack.pause_worker()  # the task waits in the queue until the worker takes tasks again
    status, _, created = deploy(stack, token, appliance)
    assert status == 201, created
    instance_id = created["application_instance_id"]
    with transaction.atomic():
        # Held here, the claim (its first step) waits: the worker holds the task, mid-run.
        ApplicationInstance.objects.select_for_update().get(application_instance_id=instance_id)
        stack.resume_worker()
        wait_for(worker_waits_on_a_lock, 20, "the worker to be in the deploy task")
        stack.worker.kill9()  # the supervisor starts it again, as the launcher does
    killed = time.monotonic()
    assert state(instance_id)[0] == "DEPLOYMENT_PENDING"
    assert terminal(instance_id) == (*SUCCEEDED, "Application deployed successfully.")
    took = time.monotonic() - killed
    events = timeline(instance_id)
    by = "the sweeper" if any(t.startswith("Re-sent") for _, t in events) else "redelivery"
    report(f"a. worker killed -9 mid-task, then restarted (by {by})", took)
    statuses = [s for s, _ in events]
    assert statuses.count("DEPLOYMENT_REQUESTED") == 1  # deployed once
    assert statuses[-1] == "DEPLOYMENT_SUCCEEDED"


def test_a_pool_process_killed_mid_task_puts_the_task_back_at_once(stack, token, appliance):
    from applications.models import ApplicationInstance

    stack.pause_worker()
    status, _, created = deploy(stack, token, appliance)
    assert status == 201, created
    instance_id = created["application_instance_id"]
    with transaction.atomic():
        ApplicationInstance.objects.select_for_update().get(application_instance_id=instance_id)
        stack.resume_worker()
        wait_for(worker_waits_on_a_lock, 20, "the worker to be in the deploy task")
        (pool,) = stack.worker.children()
        pool.kill()  # the worker's main process lives on and sees its pool process lost
    killed = time.monotonic()
    assert terminal(instance_id) == (*SUCCEEDED, "Application deployed successfully.")
    report("a2. worker pool process killed -9 mid-task", time.monotonic() - killed)
    assert "WorkerLostError" in stack.worker.log()
    assert [s for s, _ in timeline(instance_id)].count("DEPLOYMENT_REQUESTED") == 1


# --- b: Redis is down when the deployment is asked for ------------------------------------------


def test_a_deployment_asked_for_while_redis_is_down_is_refused_then_succeeds(
    stack, token, appliance
):
    from applications.models import ApplicationInstance

    status, _, running = deploy(stack, token, appliance)
    assert status == 201, running
    running_id = running["application_instance_id"]
    assert terminal(running_id)[:2] == SUCCEEDED
    before = ApplicationInstance.objects.count()
    stack.redis.stop()
    asked = time.monotonic()
    status, headers, answer = deploy(stack, token, appliance)
    refused_in = time.monotonic() - asked
    assert status == 503, answer
    assert headers["Retry-After"] == "30"
    assert "cannot reach its task queue (Redis)" in answer["detail"]
    assert ApplicationInstance.objects.count() == before  # nothing saved
    print(f"\n[fault drill] b. Redis down: refused with 503 in {refused_in:.1f} s")
    # A removal needs no task queue: accepted now, carried out by the device.
    status, _, removing = stack.call("DELETE", f"{API}{running_id}/", token)
    assert (status, removing["status"]) == (202, "REMOVAL_REQUESTED"), removing
    stack.redis.start()
    back = time.monotonic()
    # The first deployment after Redis returns goes through (the console reconnects). Celery's
    # worker may have exited when its broker connection dropped (kombu's close of the lost
    # channel raises; its log says "Unrecoverable error"): started again, as the launcher
    # does, it waits for Redis and then takes the task.
    status, _, created = deploy(stack, token, appliance)
    assert status == 201, created
    assert terminal(created["application_instance_id"])[:2] == SUCCEEDED
    report("b. Redis restarted, a deployment asked for then", time.monotonic() - back)
    wait_for(lambda: state(running_id)[0] == "REMOVAL_SUCCEEDED", 45, "the removal to end")
    report("b. Redis restarted, the removal asked for while it was down", time.monotonic() - back)
    print(f"[fault drill] b. workers restarted so far: {stack.restarts}")


# --- c: Redis is killed with a deploy task queued, and comes back empty ---------------------------


def test_a_deployment_whose_queued_task_redis_lost_is_re_sent_by_the_sweeper(
    stack, token, appliance
):
    stack.hold_worker()
    status, _, created = deploy(stack, token, appliance)
    assert status == 201, created
    instance_id = created["application_instance_id"]
    assert stack.queued() == 1
    stack.redis.kill9()
    stack.redis.start()  # no persistence: the task is gone
    back = time.monotonic()
    assert stack.queued() == 0
    stack.start_worker()
    assert terminal(instance_id, timeout=REDRIVE_AFTER_S + 45)[:2] == SUCCEEDED
    report("c. Redis killed -9 with the task queued, restarted empty", time.monotonic() - back)
    events = timeline(instance_id)
    resent = [text for _, text in events if text.startswith("Re-sent to a worker (attempt 1)")]
    assert resent, events
    assert [s for s, _ in events].count("DEPLOYMENT_REQUESTED") == 1


# --- d: removal of a deployment the device never got ------------------------------------------


def test_removing_a_deployment_the_device_never_got_completes_at_once(stack, token, appliance):
    stack.pause_worker()
    status, _, created = deploy(stack, token, appliance)
    assert status == 201, created
    instance_id = created["application_instance_id"]
    asked = time.monotonic()
    status, _, removed = stack.call("DELETE", f"{API}{instance_id}/", token)
    took = time.monotonic() - asked
    assert status == 202, removed
    assert removed["status"] == "REMOVAL_SUCCEEDED"
    report("d. removal of a deployment that never reached the device", took)
    assert timeline(instance_id)[-1] == (
        "REMOVAL_SUCCEEDED",
        "Removed at once: the application never reached device drill (its deployment was still "
        "pending), so there was nothing to stop there.",
    )
    # Its task, still queued, changes nothing once a worker takes it.
    stack.resume_worker()
    wait_for(lambda: stack.queued() == 0, 20, "the worker to take the queued deploy task")
    assert state(instance_id)[0] == "REMOVAL_SUCCEEDED"
    assert "DEPLOYMENT_REQUESTED" not in [s for s, _ in timeline(instance_id)]
