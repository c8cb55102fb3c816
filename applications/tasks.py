"""Celery tasks of the deployment workflow (applications/workflow.py tells the story)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from applications import workflow
from applications.cameranodes import store_package_streams
from applications.compiles import apply_compiles, run_compile
from applications.models import ApplicationInstance, CompiledModel
from applications.resolve import DeployRefused, resolve
from core.errors import ServiceUnavailable
from core.status import ApplicationInstanceHealthStatus as Health
from core.status import ApplicationInstanceStatus as Status
from core.status import ModelCompileStatus as CompileStatus
from devices import desired

logger = logging.getLogger(__name__)

# What a caller is told to wait when the broker is down: a restarted Redis is back in seconds,
# and a worker reconnects within a few more.
BROKER_RETRY_AFTER_S = 30
# deploy_instance may run before the transaction that created its instance has committed (see
# queue_deployment): it looks again this often, this many times, before it gives up on the row.
MISSING_ROW_RETRY_S = 0.25
MISSING_ROW_RETRIES = 20


def queue_deployment(pk: int) -> None:
    """Hand instance ``pk`` to a worker (deploy_instance); ServiceUnavailable if the broker
    cannot take it.

    Called inside the transaction that saved the instance, before it commits, not on commit:
    if the broker is down the exception rolls the transaction back, so nothing is saved and the
    caller answers 503. (On commit, as before, the row was saved and then the publish failed,
    leaving a deployment no task would ever move.) A transactional outbox would need a relay
    process of its own for the same guarantee. The price is that a worker may receive the task
    before the row is visible; deploy_instance then looks again (``MISSING_ROW_RETRIES``) instead
    of taking the missing row for a claimed one, and the sweeper (redrive_deployments below)
    catches whatever is still left.
    """
    try:
        deploy_instance.delay(pk)
    except (OperationalError, OSError) as exc:
        logger.warning("the task broker refused deploy_instance(%s): %s", pk, exc)
        raise ServiceUnavailable(
            "The console cannot reach its task queue (Redis) right now, so the deployment was "
            f"not saved. Try again in {BROKER_RETRY_AFTER_S} seconds; if this persists, check "
            "that Redis is running.",
            BROKER_RETRY_AFTER_S,
        ) from exc


@shared_task(bind=True, max_retries=MISSING_ROW_RETRIES)
def deploy_instance(self, pk: int) -> str:
    """DEPLOYMENT_PENDING → DEPLOYMENT_REQUESTED: resolve, store, publish to the device.

    Idempotent: the claim lets one run through, so a task delivered twice (a worker killed
    after it took the task, the broker's redelivery, the sweeper's re-send) deploys once."""
    with transaction.atomic():
        instance = workflow.claim(pk, Status.DEPLOYMENT_PENDING, Status.DEPLOYMENT_REQUESTED)
        if instance is None:
            status = ApplicationInstance.objects.filter(pk=pk).values_list("status", flat=True)
            if status.first() not in (None, Status.DEPLOYMENT_PENDING):
                return "already claimed"
            # Queued before its transaction committed (queue_deployment): not there yet, or
            # committed between the claim and this look (still pending): look again.
            try:
                raise self.retry(countdown=MISSING_ROW_RETRY_S)
            except self.MaxRetriesExceededError:
                logger.warning("deploy_instance: no application instance %s", pk)
                return "no such instance"
        try:
            resolved = resolve(
                instance.manifest_payload,
                instance.overrides_payload,
                instance.name,
                instance.application_instance_id,
            )
        except DeployRefused as refused:
            workflow.record(
                instance,
                Status.DEPLOYMENT_FAILED,
                f"Validation failed: {refused}",
                Health.NOT_AVAILABLE,
            )
            return "refused"
        # A model in a framework's own format runs once it is compiled, as on Panorama.
        compiles = apply_compiles(resolved.spec)
        for compiled in compiles.to_start:
            start_compile(compiled)
        if compiles.failed:
            workflow.record(
                instance, Status.DEPLOYMENT_FAILED, compiles.failed_text(), Health.NOT_AVAILABLE
            )
            return "compile failed"
        if compiles.pending:
            # Back to pending: compile_model runs this task again when a compile finishes.
            workflow.record(instance, Status.DEPLOYMENT_PENDING, compiles.waiting_text())
            return "compiling"
        spec = resolved.spec.model_dump()
        workflow.store_nodes(instance, spec, resolved.data_sources)
        store_package_streams(instance, resolved.package_streams)
        device = instance.device
        # Panorama's ApplicationInstanceIdToReplace: the old instance leaves the device in the
        # same desired state the new one arrives in, handing over its host ports.
        workflow.retire_replaced(instance)
        workflow.record(
            instance,
            Status.DEPLOYMENT_REQUESTED,
            workflow.VALIDATED
            if workflow.device_is_online(device)
            else workflow.waiting_for(device),
            fields={"spec": spec, "generation": instance.generation + 1},
        )
        desired.publish(device)
    return "requested"


def start_compile(compiled: CompiledModel) -> None:
    transaction.on_commit(lambda: compile_model.delay(compiled.pk))


@shared_task
def compile_model(pk: int) -> str:
    """A model compile: PENDING → IN_PROGRESS → SUCCEEDED or FAILED (applications/compiles.py);
    then the deployments waiting for it go on, to the device or to DEPLOYMENT_FAILED."""
    claimed = CompiledModel.objects.filter(pk=pk, status=CompileStatus.PENDING).update(
        status=CompileStatus.IN_PROGRESS, started=timezone.now(), progress="Starting"
    )
    if not claimed:
        return "already claimed"
    compiled = CompiledModel.objects.select_related("source").get(pk=pk)
    run_compile(compiled)
    waiting = ApplicationInstance.objects.filter(status=Status.DEPLOYMENT_PENDING)
    for instance_pk in waiting.values_list("pk", flat=True):
        # Claims each once: a second run changes nothing; one lost is the sweeper's.
        deploy_instance.delay(instance_pk)
    compiled.refresh_from_db()
    return compiled.status


@shared_task
def expire_deployments() -> int:
    """Scheduled by beat: a device that is online but silent about a deployment for longer than
    DEPLOYMENT_TIMEOUT_S fails it; one that is offline keeps it waiting, and says so."""
    deadline = timezone.now() - timedelta(seconds=settings.DEPLOYMENT_TIMEOUT_S)
    failed = 0
    waiting = ApplicationInstance.objects.filter(
        status__in=[Status.DEPLOYMENT_REQUESTED, Status.DEPLOYMENT_IN_PROGRESS]
    ).select_related("device")
    for instance in waiting:
        with transaction.atomic():
            locked = ApplicationInstance.objects.select_for_update().get(pk=instance.pk)
            if locked.status not in (Status.DEPLOYMENT_REQUESTED, Status.DEPLOYMENT_IN_PROGRESS):
                continue
            if not workflow.device_is_online(instance.device):
                text = workflow.waiting_for(instance.device)
                if locked.status_description != text:
                    workflow.record(locked, locked.status, text)
                else:
                    # Time offline does not count against the device.
                    ApplicationInstance.objects.filter(pk=locked.pk).update(
                        step_started=timezone.now()
                    )
                continue
            if locked.step_started < deadline:
                workflow.record(
                    locked,
                    Status.DEPLOYMENT_FAILED,
                    f"The device {instance.device.name} did not finish the deployment within "
                    f"{settings.DEPLOYMENT_TIMEOUT_S} s.",
                    Health.ERROR,
                )
                workflow.purge_streams(locked)
                failed += 1
            elif locked.status_description == workflow.waiting_for(instance.device):
                workflow.record(locked, locked.status, workflow.VALIDATED)
    return failed


# --- the sweeper ---------------------------------------------------------------------------------

REDRIVEN = "Re-sent to a worker"
# However long a task queue stays down, the timeline gets an entry an hour at most.
REDRIVE_BACKOFF_CAP_S = 3600


def redrive_text(attempt: int, waited_s: int) -> str:
    return (
        f"{REDRIVEN} (attempt {attempt}): no worker had taken the deployment {waited_s} s after "
        "it was queued; a worker may have stopped mid-task, or the task queue (Redis) lost it."
    )


@shared_task
def redrive_deployments() -> int:
    """Scheduled by beat: deployments still DEPLOYMENT_PENDING DEPLOYMENT_REDRIVE_AFTER_S after
    they were queued are queued again, each time on the timeline.

    Nothing else moves them: acks late and the broker's visibility timeout bring back a task
    whose worker died (after TASK_VISIBILITY_TIMEOUT_S), but not one the broker itself lost (Redis
    restarted without its data), nor one published while the row was not yet committed and
    given up. A second copy of a task that still exists does nothing: deploy_instance claims
    the instance once. Re-sends back off (the grace period, doubled each time, an hour at most),
    so an outage of hours leaves a few timeline entries, not hundreds. One waiting for a model
    compile is left alone while any compile is still pending or running. Removals waiting on a
    device that never had the instance end too (finish_removals_never_delivered).
    """
    grace = settings.DEPLOYMENT_REDRIVE_AFTER_S
    now = timezone.now()
    compiling = CompiledModel.objects.filter(
        status__in=[CompileStatus.PENDING, CompileStatus.IN_PROGRESS]
    ).exists()
    stale = ApplicationInstance.objects.filter(
        status=Status.DEPLOYMENT_PENDING, step_started__lt=now - timedelta(seconds=grace)
    )
    sent = 0
    for pk in stale.values_list("pk", flat=True):
        with transaction.atomic():
            # skip_locked: a worker claiming it right now has it; the next sweep looks again.
            instance = (
                ApplicationInstance.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(pk=pk, status=Status.DEPLOYMENT_PENDING)
                .select_related("device")
                .first()
            )
            if instance is None:
                continue
            text = instance.status_description
            if compiling and text != workflow.SCHEDULED and not text.startswith(REDRIVEN):
                continue  # waits for a compile, which runs it again when it ends
            attempts = instance.events.filter(description__startswith=REDRIVEN).count()
            wait_s = min(grace * 2**attempts, REDRIVE_BACKOFF_CAP_S)
            if instance.step_started > now - timedelta(seconds=wait_s):
                continue
            waited_s = int((now - instance.step_started).total_seconds())
            workflow.record(
                instance, Status.DEPLOYMENT_PENDING, redrive_text(attempts + 1, waited_s)
            )
            # Inside the transaction: a broker still down leaves the instance as it was, and
            # this task fails (it ran, so the broker is back by the next sweep anyway).
            queue_deployment(instance.pk)
            sent += 1
    finish_removals_never_delivered(now - timedelta(seconds=grace))
    return sent


NEVER_HAD = (
    "Removed: device {device} has applied the removal and never reported having the "
    "application, so there was nothing to stop there."
)


def finish_removals_never_delivered(before: datetime) -> int:
    """Removals (asked for before ``before``) that wait for a device that never had the
    instance: it was sent to the device but the device never said a word about it, and the
    device has since applied the desired state without it. No report will ever end them (the
    agent reports on instances it has), so they end here, on the timeline."""
    waiting = ApplicationInstance.objects.filter(
        status=Status.REMOVAL_REQUESTED, reported_status="", step_started__lt=before
    ).select_related("device")
    done = 0
    for candidate in waiting:
        device = candidate.device
        if not workflow.device_is_online(device) or device.applied_version < device.desired_version:
            continue  # it has not caught up with the removal yet
        with transaction.atomic():
            instance = (
                ApplicationInstance.objects.select_for_update(of=("self",))
                .filter(pk=candidate.pk, status=Status.REMOVAL_REQUESTED, reported_status="")
                .select_related("device")
                .first()
            )
            if instance is None:
                continue
            text = NEVER_HAD.format(device=device.name)
            workflow.record(instance, Status.REMOVAL_SUCCEEDED, text, Health.NOT_AVAILABLE)
            workflow.purge_streams(instance)
            done += 1
    return done
