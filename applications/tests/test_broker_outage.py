"""When the task broker (Redis) is down, a deployment is refused with 503 and Retry-After and
nothing is saved (the REST API, the wizard); the deploy task is idempotent and waits for a row
not yet committed; the sweeper sends deployments whose task vanished again, on the timeline;
and a removal of an instance the device never had ends at once, saying why.

The broker here is really down (nothing listens where the Celery app publishes); the Panorama
API's answer is in panorama_api/tests/test_instance_refusals.py, the whole story with a real
worker, Redis and agent in tests/e2e/test_faults_deploy.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from applications import tasks, workflow
from applications.models import ApplicationInstance, Asset, CompiledModel
from core.status import ModelCompileStatus
from tests.support.broker import celery_broker, nothing_listens
from tests.support.deploy import body, deploy, post, run_workflow, url, walk_to, wizard_app

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_down() -> Iterator[None]:
    """The Celery app publishes where nothing listens: the broker is down."""
    with celery_broker(nothing_listens()):
        yield


def test_the_api_answers_503_with_retry_after_and_saves_nothing(
    operator_client, app, device, broker_down
):
    response = deploy(operator_client, body(device))
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == str(tasks.BROKER_RETRY_AFTER_S)
    detail = response.json()["detail"]
    assert "cannot reach its task queue (Redis)" in detail
    assert "the deployment was not saved" in detail
    assert not ApplicationInstance.objects.exists()


def test_the_api_deploys_again_once_the_broker_is_back(operator_client, app, device):
    with celery_broker(nothing_listens()):
        assert deploy(operator_client, body(device)).status_code == 503
    response = deploy(operator_client, body(device))
    assert response.status_code == 201, response.content
    assert ApplicationInstance.objects.get().status == "DEPLOYMENT_PENDING"


def test_the_wizard_keeps_its_answers_and_says_why(operator_client, device, asset_store):
    _, graph, _ = wizard_app()
    walk_to(operator_client, "review", graph, device, configure={"route0": "8081"})
    with celery_broker(nothing_listens()):
        response = post(operator_client, "review")
    assert response.status_code == 503
    assert response["Retry-After"] == str(tasks.BROKER_RETRY_AFTER_S)
    assert "cannot reach its task queue (Redis)" in response.content.decode()
    assert not ApplicationInstance.objects.exists()
    # Deploy again, once the broker is back: the wizard still has every answer.
    assert post(operator_client, "review").status_code == 302
    assert ApplicationInstance.objects.get().name == "inbound"


def test_the_deploy_task_runs_once_however_often_it_is_delivered(operator_client, app, device):
    instance = run_workflow(deploy(operator_client, body(device)).json()["application_instance_id"])
    assert instance.status == "DEPLOYMENT_REQUESTED"
    # Delivered again (a worker killed after it took it, the sweeper's copy): nothing happens.
    assert tasks.deploy_instance(instance.pk) == "already claimed"
    assert list(instance.events.values_list("status", flat=True)) == [
        "DEPLOYMENT_PENDING", "DEPLOYMENT_REQUESTED",
    ]  # fmt: skip


def test_the_deploy_task_looks_again_for_a_row_not_yet_committed():
    # Run as a worker would run it, retries included (eagerly, one after the other).
    result = tasks.deploy_instance.apply(args=(987654321,))
    assert result.get() == "no such instance"
    assert result.task_id  # it ran: the retries ended, not a crash


def test_a_row_committed_between_the_claim_and_the_look_is_deployed_not_taken_for_claimed(
    operator_client, app, device, monkeypatch
):
    instance = pending(operator_client, device)
    real_claim = workflow.claim
    missed: list[int] = []

    def claim_before_the_commit(pk, expected, new_status):
        # The worker's first claim ran while the request's transaction had not committed: it
        # saw no row; the commit lands before the task looks again.
        if not missed:
            missed.append(pk)
            return None
        return real_claim(pk, expected, new_status)

    monkeypatch.setattr(workflow, "claim", claim_before_the_commit)
    assert tasks.deploy_instance.apply(args=(instance.pk,)).get() == "requested"
    assert missed == [instance.pk]
    instance.refresh_from_db()
    assert instance.status == "DEPLOYMENT_REQUESTED"


# --- the sweeper --------------------------------------------------------------------------------


def stale(instance: ApplicationInstance, seconds: float) -> None:
    ApplicationInstance.objects.filter(pk=instance.pk).update(
        step_started=timezone.now() - timedelta(seconds=seconds)
    )


def pending(operator_client, device) -> ApplicationInstance:
    instance_id = deploy(operator_client, body(device)).json()["application_instance_id"]
    return ApplicationInstance.objects.get(application_instance_id=instance_id)


def test_a_deployment_whose_task_vanished_is_sent_again_and_says_so(
    operator_client, app, device, settings
):
    settings.DEPLOYMENT_REDRIVE_AFTER_S = 60
    instance = pending(operator_client, device)
    assert tasks.redrive_deployments() == 0  # queued just now: its task is on its way
    stale(instance, 61)
    assert tasks.redrive_deployments() == 1
    instance.refresh_from_db()
    assert instance.status == "DEPLOYMENT_PENDING"
    assert instance.status_description.startswith(
        "Re-sent to a worker (attempt 1): no worker had taken the deployment 61 s after it was "
        "queued; a worker may have stopped mid-task, or the task queue (Redis) lost it."
    )
    # The next re-send waits twice as long.
    stale(instance, 61)
    assert tasks.redrive_deployments() == 0
    stale(instance, 121)
    assert tasks.redrive_deployments() == 1
    instance.refresh_from_db()
    assert "(attempt 2)" in instance.status_description
    # The copy that finally runs deploys it once; the others find it claimed.
    assert tasks.deploy_instance(instance.pk) == "requested"
    assert tasks.deploy_instance(instance.pk) == "already claimed"
    stale(instance, 10_000)
    assert tasks.redrive_deployments() == 0  # not pending any more
    events = list(instance.events.values_list("status", "description"))
    assert [status for status, _ in events] == [
        "DEPLOYMENT_PENDING", "DEPLOYMENT_PENDING", "DEPLOYMENT_PENDING", "DEPLOYMENT_REQUESTED",
    ]  # fmt: skip
    assert [text[:32] for _, text in events[1:3]] == [
        "Re-sent to a worker (attempt 1):", "Re-sent to a worker (attempt 2):",
    ]  # fmt: skip


def test_the_sweeper_leaves_a_deployment_as_it_was_while_the_broker_is_down(
    operator_client, app, device, settings
):
    settings.DEPLOYMENT_REDRIVE_AFTER_S = 60
    instance = pending(operator_client, device)
    stale(instance, 61)
    with celery_broker(nothing_listens()), pytest.raises(tasks.ServiceUnavailable):
        tasks.redrive_deployments()
    instance.refresh_from_db()
    assert instance.status_description == workflow.SCHEDULED
    assert instance.events.count() == 1


def test_a_deployment_waiting_for_a_compile_is_left_alone_while_one_runs(
    operator_client, app, device, settings
):
    settings.DEPLOYMENT_REDRIVE_AFTER_S = 60
    instance = pending(operator_client, device)
    waiting = "Waiting for the model compile of node model_node (pytorch → ONNX)."
    ApplicationInstance.objects.filter(pk=instance.pk).update(status_description=waiting)
    stale(instance, 600)
    compiled = CompiledModel.objects.create(
        source=Asset.objects.first(), framework="PYTORCH", inputs_key="k", compiler_version="1",
        status=ModelCompileStatus.IN_PROGRESS,
    )  # fmt: skip
    # compile_model runs it again when the compile ends.
    assert tasks.redrive_deployments() == 0
    # A compile that ended without a word about it (its fan-out lost): sent again.
    CompiledModel.objects.filter(pk=compiled.pk).update(status=ModelCompileStatus.SUCCEEDED)
    assert tasks.redrive_deployments() == 1
    instance.refresh_from_db()
    assert "(attempt 1)" in instance.status_description


# --- removal of what the device never had --------------------------------------------------------


def test_removing_a_deployment_that_never_reached_the_device_ends_at_once_saying_why(
    operator_client, app, device
):
    instance = pending(operator_client, device)
    response = operator_client.delete(url(instance.application_instance_id))
    assert response.status_code == 202
    assert response.json()["status"] == "REMOVAL_SUCCEEDED"
    events = list(instance.events.values_list("status", "description"))
    assert events[-1] == (
        "REMOVAL_SUCCEEDED",
        "Removed at once: the application never reached device lobby-1 (its deployment was still "
        "pending), so there was nothing to stop there.",
    )
    # Its task, still queued, and the sweeper leave it removed.
    assert tasks.deploy_instance(instance.pk) == "already claimed"
    stale(instance, 10_000)
    assert tasks.redrive_deployments() == 0
