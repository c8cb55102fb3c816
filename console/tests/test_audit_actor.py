"""The audit log names who made a change when it was made with an API token (issue #20)."""

from __future__ import annotations

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.test import Client

from core.models import APIToken
from devices.models import Device
from tests.support.devices import make_device


@pytest.mark.django_db
def test_a_device_deleted_with_a_token_is_logged_with_the_tokens_user(administrator):
    device = make_device("lobby-1")
    _token, text = APIToken.issue(user=administrator, name="ci", read_only=False)
    response = Client().delete(
        f"/api/devices/{device.device_id}/", HTTP_AUTHORIZATION=f"Bearer {text}"
    )
    assert response.status_code == 204, response.content
    entry = LogEntry.objects.get(
        content_type=ContentType.objects.get_for_model(Device),
        object_pk=str(device.pk),
        action=LogEntry.Action.DELETE,
    )
    assert entry.actor == administrator
    # The audit page shows who it was.
    page = Client()
    page.force_login(administrator)
    assert administrator.username in page.get("/settings/audit/").content.decode()


@pytest.mark.django_db
def test_a_token_change_keeps_the_request_address(operator):
    _token, text = APIToken.issue(user=operator, name="ci", read_only=False)
    body = {"name": "cam", "url": "rtsp://10.0.0.9/s"}
    response = Client().post(
        "/api/datasources/", body, HTTP_AUTHORIZATION=f"Bearer {text}", REMOTE_ADDR="10.1.2.3"
    )
    assert response.status_code == 201, response.content
    entry = LogEntry.objects.filter(action=LogEntry.Action.CREATE).latest("timestamp")
    assert entry.actor == operator
    assert entry.remote_addr == "10.1.2.3"
