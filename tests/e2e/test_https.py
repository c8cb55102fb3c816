"""`./vantage up` on a network address serves HTTPS with its own CA (console/tls.py): the CA
goes into the setup archive, and a real appliance set up with it links over TLS."""

from __future__ import annotations

import base64
import io
import json
import os
import ssl
import urllib.error
import urllib.request
import uuid
import zipfile

import pytest
from django.conf import settings

from devicelink.archive import CA_MEMBER
from tests.support.appliances import wait_online
from tests.support.launcher import launch_console, stop_console
from tests.support.paths import ASYNC_UNSAFE
from tests.support.ports import free_port
from tests.support.stack import database_url_for_subprocesses
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
ANY = "0.0.0.0"  # noqa: S104  (what an operator passes to listen on the network)


@pytest.fixture
def https_stack(tmp_path):
    run_id = uuid.uuid4().hex[:8]
    drop = {ASYNC_UNSAFE, "CONSOLE_URL", "LIVE_RELAY_URL", "CONSOLE_CA_FILE", "SSL_CERT_FILE"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(
        DATABASE_URL=database_url_for_subprocesses(),
        SECRET_KEY=settings.SECRET_KEY,
        VANTAGE_VAR_DIR=str(tmp_path / "var"),
        CELERY_QUEUE=f"vantage-https-{run_id}",
        CHANNEL_LAYER_PREFIX=f"vantage-https-{run_id}",
        DEVICE_HEARTBEAT_S="1",
        DEVICE_LEASE_S="4",
    )
    log_path = tmp_path / "stack.log"
    port = free_port()
    process = launch_console(port, env, log_path, extra_args=("--host", ANY))

    def log() -> str:
        return log_path.read_text(errors="replace")

    try:
        wait_for(
            lambda: "Vantage is running" in log() or process.poll() is not None,
            timeout=120,
            message="the HTTPS stack to start",
        )
        assert process.poll() is None, log()[-4000:]
        url = log().split("Vantage is running at ", 1)[1].split("/ ", 1)[0]
        yield url, tmp_path / "var" / "tls" / "ca.pem", port
    finally:
        stop_console(process)


def test_the_stack_on_a_network_address_serves_https_and_appliances_link_over_tls(
    https_stack, administrator, make_agent
):
    from core.models import APIToken
    from devices.models import Device

    url, ca_file, port = https_stack
    assert url.startswith("https://") and not url.startswith("https://127.")
    trusting = ssl.create_default_context(cafile=str(ca_file))
    healthz = f"{url}/healthz"
    with urllib.request.urlopen(healthz, context=trusting, timeout=10) as answer:  # noqa: S310
        assert answer.status == 200
    # Not in plain HTTP, and not to a client that does not know the CA.
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10)
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(healthz, timeout=10)  # noqa: S310

    _, token = APIToken.issue(user=administrator, name="setup", read_only=False)
    request = urllib.request.Request(  # noqa: S310
        f"{url}/api/devices/",
        data=json.dumps({"name": "tls-1"}).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, context=trusting, timeout=30) as answer:  # noqa: S310
        created = json.loads(answer.read())
    archive = base64.b64decode(created["certificates"])
    with zipfile.ZipFile(io.BytesIO(archive)) as members:
        assert members.read(CA_MEMBER) == ca_file.read_bytes()

    agent = make_agent("tls-1")
    (agent.usb_dir / created["archive_name"]).write_bytes(archive)
    agent.start()
    device = Device.objects.get(name="tls-1")
    wait_online(device)
    device.refresh_from_db()
    assert device.link_transport == "tls" and device.seal_key
    assert f"console at {url}" in agent.log()
