"""The AWS CLI v1 (``aws panorama … --endpoint-url``) runs a script in the style of the Panorama
developer guide's util-scripts against the real console, the real agent and a real camera.

provision-device (its archive provisions the real agent) → create-node-from-template-job (a
camera on the real RTSP server) → create-application-instance with minified payloads → poll
list-application-instances until DEPLOYMENT_SUCCEEDED → pause and resume the camera node →
reboot the appliance with create-job-for-devices → remove-application-instance.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.roles import Role
from tests.support.appliances import archive_name
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

AWS = str(Path(sys.executable).with_name("aws"))
CAMERA = "lobby_cam"


class Cli:
    def __init__(self, endpoint: str, key_id: str, secret: str, home: Path) -> None:
        self.endpoint = endpoint
        home.mkdir(parents=True, exist_ok=True)
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),  # no ~/.aws of whoever runs the tests
            "AWS_ACCESS_KEY_ID": key_id,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_RETRY_MODE": "standard",
            "AWS_MAX_ATTEMPTS": "10",  # Panorama's 1 change a second: the CLI retries
            "AWS_PAGER": "",
        }

    def __call__(self, *args: str) -> dict:
        command = [AWS, "panorama", *args, "--endpoint-url", self.endpoint, "--output", "json"]
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{' '.join(args)}:\n{done.stderr}"
        return json.loads(done.stdout) if done.stdout.strip() else {}


def test_a_util_scripts_session_with_the_aws_cli(
    live_stack, make_agent, make_user, rtsp_server, tmp_path
):
    from applications.models import ApplicationInstance
    from devices.models import DeviceJob
    from panorama_api.models import AccessKey
    from tests.support.deploy import (
        camera_graph,
        camera_override,
        register_inbound_network_package,
    )
    from tests.support.ports import free_host_port
    from tests.support.waiting import http_get

    register_inbound_network_package()
    key, secret = AccessKey.make(make_user(Role.ADMINISTRATOR), "util-scripts")
    aws = Cli(f"{live_stack.url}/panorama", key.access_key_id, secret, tmp_path / "home")

    # provision-device: the archive in Certificates provisions the real agent.
    provisioned = aws("provision-device", "--name", "lobby-appliance",
                      "--description", "Lobby")  # fmt: skip
    assert provisioned["Status"] == "AWAITING_PROVISIONING"
    device_id = provisioned["DeviceId"]
    agent = make_agent("lobby-appliance")
    archive = base64.b64decode(provisioned["Certificates"])
    (agent.usb_dir / archive_name("lobby-appliance")).write_bytes(archive)
    agent.start()

    def online() -> bool:
        device = aws("describe-device", "--device-id", device_id)
        return device["DeviceConnectionStatus"] == "ONLINE" and device["ProvisioningStatus"] == (
            "SUCCEEDED"
        )

    wait_for(online, 60, "the appliance to come online")

    # create-node-from-template-job: the camera.
    job = aws(
        "create-node-from-template-job", "--template-type", "RTSP_CAMERA_STREAM",
        "--output-package-name", CAMERA, "--output-package-version", "1.0",
        "--node-name", CAMERA, "--node-description", "The lobby camera",
        "--template-parameters", json.dumps({
            "StreamUrl": rtsp_server.url("auth"), "Username": rtsp_server.user,
            "Password": rtsp_server.password,
        }),
    )  # fmt: skip
    described = aws("describe-node-from-template-job", "--job-id", job["JobId"])
    assert described["Status"] == "SUCCEEDED"
    assert described["TemplateParameters"]["Password"] == "SAVED_AS_SECRET"

    # create-application-instance with minified payloads, then poll until it runs.
    host_port = free_host_port()
    manifest = json.dumps(camera_graph(), separators=(",", ":"))
    override = json.dumps(camera_override([CAMERA], host_port), separators=(",", ":"))
    created = aws(
        "create-application-instance", "--name", "lobby-app",
        "--default-runtime-context-device", device_id,
        "--manifest-payload", json.dumps({"PayloadData": manifest}),
        "--manifest-overrides-payload", json.dumps({"PayloadData": override}),
    )  # fmt: skip
    instance_id = created["ApplicationInstanceId"]

    def deployed() -> dict | None:
        listed = aws("list-application-instances", "--device-id", device_id)
        [item] = [i for i in listed["ApplicationInstances"] if i["ApplicationInstanceId"] ==
                  instance_id]  # fmt: skip
        assert item["Status"] not in ("DEPLOYMENT_FAILED", "DEPLOYMENT_ERROR"), item
        return item if item["Status"] == "DEPLOYMENT_SUCCEEDED" else None

    item = wait_for(deployed, 120, "DEPLOYMENT_SUCCEEDED")
    assert item["HealthStatus"] == "RUNNING"
    assert wait_for(lambda: http_get(host_port), 30, "the app on its host port")

    def camera_status() -> str:
        nodes = aws("list-application-instance-node-instances",
                    "--application-instance-id", instance_id)["NodeInstances"]  # fmt: skip
        return next(n["CurrentStatus"] for n in nodes if n["NodeInstanceId"] == CAMERA)

    wait_for(lambda: camera_status() == "RUNNING", 60, "the camera node RUNNING")

    # Pause and resume the camera node (the developer guide's pause-camera script).
    for signal, status in (("PAUSE", "PAUSED"), ("RESUME", "RUNNING")):
        aws(
            "signal-application-instance-node-instances",
            "--application-instance-id", instance_id,
            "--node-signals", json.dumps([{"NodeInstanceId": CAMERA, "Signal": signal}]),
        )  # fmt: skip
        wait_for(lambda status=status: camera_status() == status, 60, f"the camera {status}")

    # Reboot the appliance; it comes back online.
    jobs = aws("create-job-for-devices", "--device-ids", device_id, "--job-type", "REBOOT")
    [reboot] = jobs["Jobs"]
    wait_for(
        lambda: aws("describe-device-job", "--job-id", reboot["JobId"])["Status"] == "COMPLETED",
        90, "the reboot to complete",
    )  # fmt: skip
    assert DeviceJob.objects.get(job_id=reboot["JobId"]).job_type == "REBOOT"
    wait_for(online, 60, "the appliance online again")

    # Remove the application.
    aws("remove-application-instance", "--application-instance-id", instance_id)
    wait_for(
        lambda: aws("describe-application-instance", "--application-instance-id",
                    instance_id)["Status"] == "REMOVAL_SUCCEEDED",
        90, "REMOVAL_SUCCEEDED",
    )  # fmt: skip
    assert ApplicationInstance.objects.get(application_instance_id=instance_id).device_id
