"""Resource limits of a deployment: taken by the API, checked, and sent to the device."""

from __future__ import annotations

import pytest

from applications import deployments
from devices.desired import build_desired
from tests.support.deploy import body, deploy, run_workflow

pytestmark = pytest.mark.django_db


def test_resource_limits_are_taken_checked_and_sent_to_the_device(
    operator_client, app, device, settings
):
    settings.APP_MEMORY_LIMIT_MIB, settings.APP_CPU_LIMIT = 2048, 0
    response = deploy(operator_client, body(device, memory_limit_mib=32, cpu_limit=0))
    assert response.status_code == 400
    assert set(response.json()) == {"memory_limit_mib", "cpu_limit"}
    assert "64" in response.json()["memory_limit_mib"][0]
    response = deploy(operator_client, body(device, memory_limit_mib=512, cpu_limit=1.5))
    assert response.status_code == 201, response.json()
    created = response.json()
    assert (created["memory_limit_mib"], created["cpu_limit"]) == (512, 1.5)
    run_workflow(created["application_instance_id"])
    other = deploy(operator_client, body(device, host_port=8082, name="defaults"))
    run_workflow(other.json()["application_instance_id"])
    device.refresh_from_db()
    limits = {
        spec["name"]: spec["limits"]
        for spec in build_desired(device).model_dump(mode="json")["applications"]
    }
    assert limits == {
        "inbound": {"memory_mib": 512, "cpus": 1.5},
        # The installation's defaults: 2 GiB, and no CPU limit.
        "defaults": {"memory_mib": 2048, "cpus": None},
    }


def test_limits_outside_what_an_appliance_applies_are_refused_by_name():
    assert deployments.limit_errors(None, None) == []
    [memory, cpu] = deployments.limit_errors(10, 1000.0)
    assert (memory.document, cpu.document) == ("memory_limit_mib", "cpu_limit")
    assert memory.message == "The memory limit must be 64 to 1048576 MiB; 10 was given."
    assert cpu.message == "The CPU limit must be 0.1 to 256 CPUs; 1000 was given."
