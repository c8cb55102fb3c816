"""Installation identity, health, audit log, status badges and pages."""

from __future__ import annotations

import re

import pytest
from auditlog.models import LogEntry
from django.template.loader import render_to_string

from core.models import Installation
from core.status import _STYLE_BY_VALUE, STATUS_ENUMS, badge_style
from tests.support.devices import make_device


@pytest.mark.django_db
def test_account_id_is_twelve_digits_and_stable(admin_client):
    account_id = Installation.get().account_id
    assert re.fullmatch(r"[1-9]\d{11}", account_id)
    assert Installation.get().account_id == account_id
    assert account_id in admin_client.get("/").content.decode()
    assert admin_client.get("/api/installation/").json()["account_id"] == account_id


# Enums whose values are names, not states: they get the neutral badge on purpose.
DESCRIPTIVE_ENUMS = {
    "ConnectionType", "DeviceType", "DeviceBrand", "TemplateType", "PackageImportJobType",
    "JobResourceType", "NodeCategory", "PortType", "JobType",
}  # fmt: skip


@pytest.mark.parametrize("enum", STATUS_ENUMS, ids=lambda e: e.__name__)
def test_every_status_value_has_a_deliberate_badge(enum):
    if enum.__name__ in DESCRIPTIVE_ENUMS:
        return
    missing = [value for value in enum.values if value not in _STYLE_BY_VALUE]
    assert not missing, f"{enum.__name__} values without a badge style: {missing}"


def test_badge_partial_is_consistent():
    html = render_to_string("partials/status_badge.html", {"value": "DEPLOYMENT_FAILED"})
    assert "text-bg-danger" in html
    assert "Deployment failed" in html
    assert badge_style("ERROR") == badge_style("FAILED")
    busy = render_to_string("partials/status_badge.html", {"value": "DEPLOYMENT_IN_PROGRESS"})
    assert "spin" in busy


@pytest.mark.django_db
def test_healthz_reports_each_part(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert checks["database"]["ok"] and checks["channel_layer"]["ok"] and checks["broker"]["ok"]
    assert "worker" in checks


@pytest.mark.django_db
def test_healthz_reports_a_broken_broker(client, monkeypatch):
    from console import health

    def broken():
        raise ConnectionRefusedError("broker down")

    monkeypatch.setitem(health.CHECKS, "broker", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["error"] == "ConnectionRefusedError"
    assert "broker down" not in response.content.decode()  # details only in the log


@pytest.mark.django_db
def test_audit_log_records_who_what_and_before_after(admin_client, administrator, operator):
    response = admin_client.post(
        f"/settings/users/{operator.pk}/",
        {"first_name": "Ana", "last_name": "", "email": "", "role": "viewer", "is_active": "on"},
    )
    assert response.status_code == 302
    entry = LogEntry.objects.get_for_object(operator).order_by("-timestamp").first()
    assert entry.actor == administrator
    assert entry.changes_dict["role"] == ["operator", "viewer"]
    page = admin_client.get("/settings/audit/").content.decode()
    assert administrator.username in page and "viewer" in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    "sort", ["timestamp", "-actor", "action", "-action", "content_type", "-content_type",
             "object_repr", "remote_addr"],
)  # fmt: skip
def test_the_audit_log_sorts_by_every_sortable_column(admin_client, operator, sort):
    operator.first_name = "Ana"
    operator.save()  # an entry to sort
    response = admin_client.get("/settings/audit/", {"sort": sort})
    assert response.status_code == 200
    assert "Ana" in response.content.decode()


@pytest.mark.django_db
def test_audit_log_keeps_no_password_material(admin_client, operator):
    operator.set_password("another-long-passphrase-99")
    operator.save()
    for entry in LogEntry.objects.all():
        assert "password" not in entry.changes_dict
        assert "pbkdf2" not in str(entry.changes) and "md5$" not in str(entry.changes)


@pytest.mark.django_db
def test_admin_cannot_lock_themselves_out(admin_client, administrator):
    response = admin_client.post(
        f"/settings/users/{administrator.pk}/",
        {"first_name": "", "last_name": "", "email": "", "role": "viewer", "is_active": "on"},
    )
    assert response.status_code == 200
    assert "cannot remove your own administrator role" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["/", "/devices/", "/datasources/", "/applications/", "/packages/", "/settings/",
            "/settings/users/", "/settings/tokens/", "/settings/tokens/add/", "/settings/audit/",
            "/settings/access-keys/", "/settings/access-keys/add/",
            "/account/password/", "/api/", "/api/docs/", "/api/schema/"],
)  # fmt: skip
def test_pages_render(admin_client, url):
    assert admin_client.get(url).status_code == 200


@pytest.mark.django_db
def test_devices_filter_by_status_and_name(admin_client):
    from core.status import DeviceConnectionStatus, DeviceStatus

    make_device(
        name="north-1",
        provisioning_status=DeviceStatus.SUCCEEDED,
        connection_status=DeviceConnectionStatus.ONLINE,
    )
    make_device(name="south-1")
    page = admin_client.get("/devices/?status=ONLINE").content.decode()
    assert "north-1" in page and "south-1" not in page
    page = admin_client.get("/devices/?name=sou").content.decode()
    assert "south-1" in page and "north-1" not in page
    api = admin_client.get("/api/devices/?status=AWAITING_PROVISIONING").json()
    assert [d["name"] for d in api["results"]] == ["south-1"]
    assert api["results"][0]["aggregated_status"] == "AWAITING_PROVISIONING"


@pytest.mark.django_db
def test_datasource_url_errors_are_specific(operator_client):
    response = operator_client.post("/api/datasources/", {"name": "cam", "url": "http://x/y"})
    assert response.status_code == 400
    assert "rtsp://" in response.json()["url"][0]
    response = operator_client.post("/api/datasources/", {"name": "bad name!", "url": "rtsp://x/y"})
    assert "name" in response.json()
