"""Removing an instance that is no longer, or never was, on its device: it does not wait
forever at REMOVAL_REQUESTED for a report that will never come (the race of issue #14)."""

from __future__ import annotations

import pytest

from applications import tasks
from applications.models import ApplicationInstance
from devices.desired import build_desired
from devices.models import Device
from tests.support.deploy import body, deploy, report, run_workflow, url

pytestmark = pytest.mark.django_db


def test_a_failed_deployment_the_device_already_stopped_is_removed_at_once(
    operator_client, app, device
):
    instance_id = deploy(operator_client, body(device)).json()["application_instance_id"]
    instance = run_workflow(instance_id)
    report(device, instance, "LAUNCH_ERROR", [("code_node", "ERROR", "exit 1")], message="boom")
    instance.refresh_from_db()
    assert instance.status == "DEPLOYMENT_FAILED"
    # No longer asked for, the device takes it down and says so before anyone removes it.
    assert build_desired(Device.objects.get(pk=device.pk)).applications == []
    report(device, instance, "REMOVAL_IN_PROGRESS")
    report(device, instance, "STOPPED")
    # The operator removes it: the device will say nothing more, so it is gone now, not left
    # waiting at REMOVAL_REQUESTED.
    response = operator_client.delete(url(instance_id))
    assert response.status_code == 202
    assert response.json()["status"] == "REMOVAL_SUCCEEDED"
    shown = operator_client.get(url(instance_id)).json()
    assert [e["status"] for e in shown["events"]][-3:] == [
        "DEPLOYMENT_FAILED", "REMOVAL_REQUESTED", "REMOVAL_SUCCEEDED",
    ]  # fmt: skip


def test_a_failed_deployment_removed_before_the_device_stops_it_waits_for_the_device(
    operator_client, app, device
):
    instance_id = deploy(operator_client, body(device)).json()["application_instance_id"]
    instance = run_workflow(instance_id)
    report(device, instance, "LAUNCH_ERROR", [("code_node", "ERROR", "exit 1")], message="boom")
    response = operator_client.delete(url(instance_id))
    assert response.json()["status"] == "REMOVAL_REQUESTED"
    report(device, instance, "STOPPED")
    assert operator_client.get(url(instance_id)).json()["status"] == "REMOVAL_SUCCEEDED"


def test_an_instance_removed_before_its_deployment_ran_never_reaches_the_device(
    operator_client, app, device
):
    instance_id = deploy(operator_client, body(device)).json()["application_instance_id"]
    assert operator_client.delete(url(instance_id)).json()["status"] == "REMOVAL_SUCCEEDED"
    instance = ApplicationInstance.objects.get(application_instance_id=instance_id)
    assert tasks.deploy_instance(instance.pk) == "already claimed"
    assert build_desired(Device.objects.get(pk=device.pk)).applications == []


def test_a_removal_the_device_never_answers_because_it_never_had_the_instance_ends(
    operator_client, app, device, settings
):
    from datetime import timedelta

    from django.utils import timezone

    settings.DEPLOYMENT_REDRIVE_AFTER_S = 60
    instance_id = deploy(operator_client, body(device)).json()["application_instance_id"]
    instance = run_workflow(instance_id)  # sent to the device, which never says a word of it
    assert operator_client.delete(url(instance_id)).json()["status"] == "REMOVAL_REQUESTED"

    def an_hour_on() -> None:
        ApplicationInstance.objects.filter(pk=instance.pk).update(
            step_started=timezone.now() - timedelta(hours=1)
        )

    an_hour_on()
    # The device has not applied the desired state without it yet: it may still answer.
    Device.objects.filter(pk=device.pk).update(applied_version=0)
    tasks.redrive_deployments()
    instance.refresh_from_db()
    assert instance.status == "REMOVAL_REQUESTED"
    # It has, and never reported having the instance: nothing will come, so it ends here.
    current = Device.objects.get(pk=device.pk)
    Device.objects.filter(pk=device.pk).update(applied_version=current.desired_version)
    tasks.redrive_deployments()
    instance.refresh_from_db()
    assert (instance.status, instance.status_description) == (
        "REMOVAL_SUCCEEDED",
        "Removed: device lobby-1 has applied the removal and never reported having the "
        "application, so there was nothing to stop there.",
    )


def test_a_removal_of_an_instance_the_device_reported_waits_for_its_word(
    operator_client, app, device, settings
):
    from datetime import timedelta

    from django.utils import timezone

    instance_id = deploy(operator_client, body(device)).json()["application_instance_id"]
    instance = run_workflow(instance_id)
    report(device, instance, "RUNNING", [("code_node", "RUNNING", "")])
    operator_client.delete(url(instance_id))
    ApplicationInstance.objects.filter(pk=instance.pk).update(
        step_started=timezone.now() - timedelta(hours=1)
    )
    current = Device.objects.get(pk=device.pk)
    Device.objects.filter(pk=device.pk).update(applied_version=current.desired_version)
    tasks.redrive_deployments()
    instance.refresh_from_db()
    assert instance.status == "REMOVAL_REQUESTED"  # the device has it: it says when it is gone
