"""Celery tasks of the deployment workflow (applications/workflow.py tells the story)."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from applications import workflow
from applications.cameranodes import store_package_streams
from applications.compiles import apply_compiles, run_compile
from applications.models import ApplicationInstance, CompiledModel
from applications.resolve import DeployRefused, resolve
from core.status import ApplicationInstanceHealthStatus as Health
from core.status import ApplicationInstanceStatus as Status
from core.status import ModelCompileStatus as CompileStatus
from devices import desired

logger = logging.getLogger(__name__)


@shared_task
def deploy_instance(pk: int) -> str:
    """DEPLOYMENT_PENDING → DEPLOYMENT_REQUESTED: resolve, store, publish to the device."""
    with transaction.atomic():
        instance = workflow.claim(pk, Status.DEPLOYMENT_PENDING, Status.DEPLOYMENT_REQUESTED)
        if instance is None:
            return "already claimed"
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
        deploy_instance.delay(instance_pk)  # claims each once: a second run changes nothing
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
