"""Access keys: the console's pages (administrators only), the command, and boto3 using the keys.

The pair comes from where an integrator gets it — the page that shows it once, or the command's
output — and is used with boto3's real ``panorama`` client against the live server.
"""

from __future__ import annotations

import html
import io
import logging
import re

import boto3
import pytest
from auditlog.models import LogEntry
from botocore.config import Config
from django.core.management import CommandError, call_command
from django.db import connection

from core.roles import Role
from panorama_api.models import AccessKey
from tests.support.panorama import REGION

pytestmark = pytest.mark.django_db(transaction=True)

LIST = "/settings/access-keys/"
ADD = "/settings/access-keys/add/"


@pytest.fixture
def api(live_server, settings):
    settings.PANORAMA_API_REGION = REGION
    settings.PANORAMA_API_REQUESTS_PER_S = 0
    settings.PANORAMA_API_MUTATIONS_PER_S = 0

    def client(key_id: str, secret: str):
        return boto3.client(
            "panorama",
            endpoint_url=f"{live_server.url}/panorama",
            region_name=REGION,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        )

    return client


def shown(body: str, testid: str) -> str:
    match = re.search(rf'data-testid="{testid}" value="([^"]*)"', body)
    assert match, f"no {testid} on the page"
    return html.unescape(match.group(1))


def create_in_console(admin_client, user, description="provisioning script"):
    response = admin_client.post(ADD, {"user": user.pk, "description": description})
    assert response.status_code == 200
    return response, response.content.decode()


def test_admin_creates_a_key_and_sees_the_secret_once(admin_client, operator, api, caplog):
    caplog.set_level(logging.DEBUG)
    assert admin_client.get(ADD).status_code == 200
    response, body = create_in_console(admin_client, operator)
    assert response["Cache-Control"] == "no-store"
    key_id, secret = shown(body, "access-key-id"), shown(body, "secret-access-key")
    key = AccessKey.objects.get(access_key_id=key_id)
    assert key.user == operator and key.enabled and key.description == "provisioning script"
    assert key.secret == secret
    assert "will not be shown again" in body
    assert f"aws configure set aws_secret_access_key {secret}" in body
    assert f"AWS_ACCESS_KEY_ID={key_id}" in body
    assert f"AWS_SECRET_ACCESS_KEY={secret}" in body

    # The pair works with boto3, and the key records its use.
    assert api(key_id, secret).list_devices()["Devices"] == []
    key.refresh_from_db()
    assert key.last_used is not None

    # Never again: not in the list, nor in the settings page, the audit log or the logs.
    listing = admin_client.get(LIST)
    assert listing.status_code == 200
    page = listing.content.decode()
    assert key_id in page and operator.username in page and "provisioning script" in page
    assert secret not in page and key.secret_encrypted not in page
    assert 'href="/settings/access-keys/"' in admin_client.get("/settings/").content.decode()
    entries = LogEntry.objects.filter(content_type__model="accesskey")
    assert entries.count() == 1
    audited = admin_client.get("/settings/audit/").content.decode()
    for text in (str(entries[0].changes), audited, caplog.text):
        assert secret not in text and key.secret_encrypted not in text
    assert "secret_encrypted" not in str(entries[0].changes)


def test_disabling_enabling_and_deleting_a_key(admin_client, operator, api):
    _response, body = create_in_console(admin_client, operator)
    key_id, secret = shown(body, "access-key-id"), shown(body, "secret-access-key")
    client = api(key_id, secret)
    client.list_devices()
    key = AccessKey.objects.get(access_key_id=key_id)

    assert admin_client.post(f"{LIST}{key.pk}/enable/", {"enabled": "0"}).status_code == 302
    key.refresh_from_db()
    assert not key.enabled
    with pytest.raises(client.exceptions.AccessDeniedException):
        client.list_devices()
    assert "Enable</button>" in admin_client.get(LIST).content.decode()

    assert admin_client.post(f"{LIST}{key.pk}/enable/", {"enabled": "1"}).status_code == 302
    assert client.list_devices()["Devices"] == []

    assert admin_client.post(f"{LIST}{key.pk}/delete/").status_code == 302
    assert not AccessKey.objects.filter(pk=key.pk).exists()
    with pytest.raises(client.exceptions.AccessDeniedException):
        client.list_devices()
    assert f'data-access-key-id="{key_id}"' not in admin_client.get(LIST).content.decode()


def test_a_viewers_key_reads_but_cannot_change(admin_client, viewer, api):
    _response, body = create_in_console(admin_client, viewer)
    client = api(shown(body, "access-key-id"), shown(body, "secret-access-key"))
    assert client.list_devices()["Devices"] == []
    with pytest.raises(client.exceptions.AccessDeniedException):
        client.provision_device(Name="not-allowed")


def test_the_form_needs_a_user(admin_client):
    response = admin_client.post(ADD, {"description": "nobody"})
    assert response.status_code == 400
    assert not AccessKey.objects.exists()


@pytest.mark.parametrize("who", [Role.OPERATOR, Role.VIEWER])
def test_non_administrators_cannot_see_or_create_keys(who, make_user, client, operator):
    from django.test import Client

    key, _secret = AccessKey.make(operator, "existing")
    user_client = Client()
    user_client.force_login(make_user(who))
    assert user_client.get(LIST).status_code == 403
    assert user_client.get(ADD).status_code == 403
    assert user_client.post(ADD, {"user": operator.pk, "description": "x"}).status_code == 403
    assert user_client.post(f"{LIST}{key.pk}/enable/", {"enabled": "0"}).status_code == 403
    assert user_client.post(f"{LIST}{key.pk}/delete/").status_code == 403
    assert list(AccessKey.objects.values_list("enabled", flat=True)) == [True]
    settings_page = user_client.get("/settings/").content.decode()
    assert "/settings/access-keys/" not in settings_page
    # Not signed in: to the login page.
    anonymous = client.get(LIST)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    assert client.post(ADD, {"user": operator.pk}).status_code == 302
    assert AccessKey.objects.count() == 1


def test_the_command_prints_a_working_pair(operator, api):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "create_access_key", operator.username, "--description", "ci", stdout=out, stderr=err
    )
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert re.fullmatch(r"AWS_ACCESS_KEY_ID=VKIA[A-Z2-7]{16}", lines[0])
    assert re.fullmatch(r"AWS_SECRET_ACCESS_KEY=[A-Za-z0-9_\-]{40}", lines[1])
    key_id, secret = lines[0].split("=", 1)[1], lines[1].split("=", 1)[1]
    key = AccessKey.objects.get(access_key_id=key_id)
    assert key.user == operator and key.description == "ci"
    assert secret not in err.getvalue()
    assert api(key_id, secret).list_devices()["Devices"] == []


def test_the_command_fails_clearly_for_an_unknown_user(db):
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        call_command("create_access_key", "nobody", stdout=io.StringIO())
    assert not AccessKey.objects.exists()


def test_the_secret_is_stored_encrypted(operator):
    key, secret = AccessKey.make(operator, "at rest")
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM panorama_api_accesskey WHERE id = %s", [key.pk])
        row = cursor.fetchone()
    assert all(secret not in str(value) for value in row)
    assert key.secret_encrypted in row
    assert AccessKey.objects.get(pk=key.pk).secret == secret
