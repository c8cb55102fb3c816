"""The device page shows the free disk space the appliance's heartbeats report, and warns when
it is below DEVICE_DISK_WARN_MIB."""

from __future__ import annotations

import html

import pytest

from tests.support.devices import online_device

pytestmark = pytest.mark.django_db


def _health(client, device) -> str:
    response = client.get(f"/devices/{device.device_id}/")
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_free_disk_space_is_shown_and_warned_about_below_the_threshold(viewer_client, settings):
    settings.DEVICE_DISK_WARN_MIB = 1024
    roomy = online_device("roomy", health={"disk_percent": 40.0, "disk_free_bytes": 12 * 1024**3})
    page = _health(viewer_client, roomy)
    assert 'data-testid="health-disk_free_bytes">12.0 GiB<' in page
    assert "Low disk space" not in page
    full = online_device("full", health={"disk_percent": 99.9, "disk_free_bytes": 300 * 1024**2})
    page = _health(viewer_client, full)
    assert 'data-testid="health-disk_free_bytes">300 MiB<' in page
    assert (
        'data-testid="health-warning-disk_free_bytes">Low disk space: 300 MiB free, less than '
        "1024 MiB (DEVICE_DISK_WARN_MIB)."
    ) in page
    settings.DEVICE_DISK_WARN_MIB = 0  # warnings off
    assert "Low disk space" not in _health(viewer_client, full)


def test_an_older_agent_without_the_figure_shows_no_row(viewer_client):
    device = online_device("old", health={"disk_percent": 40.0})
    page = _health(viewer_client, device)
    assert "health-disk_free_bytes" not in page and "Disk free" not in page
