"""Any limit and offset an API client sends gives a page, never a 500 (#20)."""

from __future__ import annotations

import pytest

from core.pagination import MAX_LIMIT
from datasources.models import DataSource

pytestmark = pytest.mark.django_db

HUGE = str(10**30)


@pytest.mark.parametrize("path", ["/api/datasources/", "/api/packages/", "/api/devices/"])
def test_a_huge_limit_or_offset_gives_a_page(viewer_client, path):
    DataSource.objects.create(name="door", url="rtsp://10.0.0.5/door")
    answer = viewer_client.get(path, {"limit": HUGE})
    assert answer.status_code == 200, answer.content
    answer = viewer_client.get(path, {"limit": "5", "offset": HUGE})
    assert answer.status_code == 200, answer.content
    assert answer.json()["results"] == []


def test_a_page_holds_at_most_max_limit_items(viewer_client):
    DataSource.objects.bulk_create(
        DataSource(name=f"cam-{n}", url=f"rtsp://10.0.0.5/{n}") for n in range(MAX_LIMIT + 3)
    )
    answer = viewer_client.get("/api/datasources/", {"limit": str(MAX_LIMIT + 10)})
    assert answer.status_code == 200
    assert len(answer.json()["results"]) == MAX_LIMIT
    assert answer.json()["count"] == MAX_LIMIT + 3
