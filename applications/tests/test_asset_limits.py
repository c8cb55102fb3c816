"""Asset uploads are limited in size (ASSET_MAX_MIB) and by the store's quota (ASSET_QUOTA_GIB),
refused with a 413 that names the limit, before the body is read where the length is announced
and as soon as it passes the limit where not (issue #20: 1 GiB uploads were accepted)."""

from __future__ import annotations

import hashlib

import pytest
from asgiref.sync import async_to_sync

from applications.assets import GIB, MIB, storage_name
from applications.models import Asset

SHA = "a" * 64


def _put(client, data: bytes, sha: str | None = None):
    sha = sha or hashlib.sha256(data).hexdigest()
    return client.put(f"/api/assets/{sha}/", data, content_type="application/octet-stream")


@pytest.mark.django_db
def test_an_asset_over_the_size_limit_is_a_413_and_nothing_is_stored(
    operator_client, asset_store, settings
):
    assert settings.ASSET_MAX_MIB == 2048
    settings.ASSET_MAX_MIB = 1
    data = b"x" * (MIB + 1)
    answer = _put(operator_client, data)
    assert answer.status_code == 413, answer.content
    assert answer.json() == {
        "detail": "An asset may be at most 1 MiB (ASSET_MAX_MIB); nothing was stored.",
        "limit_bytes": MIB,
    }
    assert not Asset.objects.exists()
    assert not asset_store.exists(storage_name(hashlib.sha256(data).hexdigest()))
    assert _put(operator_client, b"x" * MIB).status_code == 201  # at the limit is fine


@pytest.mark.django_db
def test_an_upload_past_the_stores_quota_is_a_413_but_a_stored_asset_is_not(
    operator_client, asset_store, settings
):
    settings.ASSET_QUOTA_GIB = 1
    Asset.objects.create(sha256="b" * 64, size=GIB - 100, storage_name="assets/bb/elsewhere")
    answer = _put(operator_client, b"y" * 101)
    assert answer.status_code == 413, answer.content
    assert "quota of 1 GiB (ASSET_QUOTA_GIB)" in answer.json()["detail"]
    assert answer.json()["limit_bytes"] == 100
    assert _put(operator_client, b"y" * 100).status_code == 201
    # The store is full now; uploading bytes it holds already adds nothing, so is not refused.
    assert _put(operator_client, b"y" * 100).status_code == 200


def _asgi_put(headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[dict, int]:
    """PUT an asset to the ASGI application itself; its answer and how many body chunks the
    server took."""
    from console.asgi import application

    taken = 0
    finished = False
    sent: list[dict] = []

    async def receive():
        nonlocal taken, finished
        if taken < len(chunks):
            taken += 1
            return {"type": "http.request", "body": chunks[taken - 1], "more_body": True}
        if not finished:
            finished = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.disconnect"}  # asked again once the response is sent

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "PUT",
        "scheme": "http",
        "path": f"/api/assets/{SHA}/",
        "raw_path": f"/api/assets/{SHA}/".encode(),
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    async_to_sync(application)(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return {"status": start["status"], "body": body}, taken


@pytest.mark.in_process_asgi
@pytest.mark.django_db(transaction=True)
def test_three_gib_announced_are_refused_before_a_byte_is_read(settings):
    answer, taken = _asgi_put([(b"content-length", str(3 * GIB).encode())], [b"z" * MIB] * 4)
    assert answer["status"] == 413
    assert b"at most 2048 MiB (ASSET_MAX_MIB)" in answer["body"]
    assert taken == 0


@pytest.mark.in_process_asgi
@pytest.mark.django_db(transaction=True)
def test_a_body_without_a_length_is_cut_off_once_past_the_limit(settings):
    settings.ASSET_MAX_MIB = 1
    chunk = b"z" * (256 * 1024)
    answer, taken = _asgi_put([], [chunk] * 40)  # 10 MiB offered
    assert answer["status"] == 413
    assert b"at most 1 MiB (ASSET_MAX_MIB)" in answer["body"]
    assert taken == 5  # 1.25 MiB: the chunk that passed the limit, and nothing after it


@pytest.mark.django_db
def test_the_installation_says_the_limit_so_the_cli_checks_before_uploading(
    viewer_client, settings
):
    installation = viewer_client.get("/api/installation/").json()
    assert installation["asset_max_bytes"] == 2048 * MIB
    assert installation["asset_quota_left_bytes"] == 100 * GIB
    Asset.objects.create(sha256="c" * 64, size=GIB, storage_name="assets/cc/elsewhere")
    assert viewer_client.get("/api/installation/").json()["asset_quota_left_bytes"] == 99 * GIB
    settings.ASSET_MAX_MIB = 0
    settings.ASSET_QUOTA_GIB = 0
    installation = viewer_client.get("/api/installation/").json()
    assert installation["asset_max_bytes"] is None
    assert installation["asset_quota_left_bytes"] is None
