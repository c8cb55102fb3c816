"""Secrets on the device link: a capture of the default (plain ws://) link holds none in clear.

The drill of issue #20: camera credentials, a runtime role and a stream check's credentials,
each a marker string, go to a real agent through a proxy that records every byte. The agent
opens them (its camera runs, its check passes); the capture shows the camera's URL (so it is
readable) but none of the markers.
"""

from __future__ import annotations

import pytest

from tests.support.appliances import provisioned_agent, refreshed
from tests.support.deploy import instance_state
from tests.support.ports import free_host_port
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

ROLE_SECRET = "Role-secret-marker-55128"


def test_no_secret_crosses_the_default_link_in_clear(
    make_agent, live_stack, console_proxy, rtsp_server
):
    from applications import deployments
    from applications.models import RuntimeRole
    from datasources.checks import start_check
    from datasources.models import DataSource
    from tests.support.deploy import camera_app, register_camera, register_inbound_network_package

    register_inbound_network_package()
    camera_url = rtsp_server.url("auth")
    register_camera("front_door", camera_url, rtsp_server.user, rtsp_server.password)
    role = RuntimeRole(name="uploader")
    role.set_environment({"AWS_SECRET_ACCESS_KEY": ROLE_SECRET})
    role.save()
    device, agent = provisioned_agent(make_agent, "sealed-1", console_proxy.url)
    assert refreshed(device).seal_key, "the agent vouched for no seal key in its hello"

    graph, override = camera_app(["front_door"], free_host_port())
    instance = deployments.request_deployment(
        name="sealed-app",
        device=refreshed(device),
        manifest_text=graph,
        overrides_text=override,
        runtime_role=role,
    )
    wait_for(lambda: instance_state(instance)[0] == "DEPLOYMENT_SUCCEEDED", 120, "deployed")

    def camera_status() -> str:
        return instance.node_instances.get(node_instance_id="front_door").current_status

    # The camera logs in with what the agent opened: the credentials arrived, sealed.
    wait_for(lambda: camera_status() == "RUNNING", 60, "the camera node to run")

    check = start_check(DataSource.objects.get(name="front_door"), None, refreshed(device))

    def check_finished() -> bool:
        check.refresh_from_db()
        return check.finished is not None

    wait_for(check_finished, 60, "the stream check from the appliance")
    assert check.status == "SUCCEEDED", check.message

    captured = console_proxy.capture()
    assert camera_url.encode() in captured, "the capture cannot be read: the test proves nothing"
    assert b"sealed:v1:" in captured
    for secret in (rtsp_server.password, ROLE_SECRET):
        assert secret.encode() not in captured, f"{secret} crossed the link in clear"
        assert secret not in agent.log()
