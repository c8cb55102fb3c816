"""Camera streams: credentials encrypted at rest and never shown, URL handling, key rotation."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.management import call_command

from core import crypto
from datasources.models import DataSource
from tests.support.database import all_rows_as_text

PASSWORD = "pa55-Wörd:with@odd/chars"
USERNAME = "camadmin"


@pytest.fixture
def camera(operator_client) -> DataSource:
    response = operator_client.post(
        "/datasources/add/",
        {
            "name": "lobby",
            "description": "Front lobby",
            "url": "rtsp://10.0.0.5:554/stream1",
            "username": USERNAME,
            "password": PASSWORD,
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    return DataSource.objects.get(name="lobby")


@pytest.mark.django_db
def test_credentials_are_encrypted_and_never_shown(camera, operator_client, admin_client):
    assert camera.credentials() == (USERNAME, PASSWORD)
    assert PASSWORD not in all_rows_as_text()
    assert USERNAME not in all_rows_as_text()
    for url in ("/datasources/", f"/datasources/{camera.pk}/edit/", "/", "/settings/audit/"):
        body = admin_client.get(url).content.decode()
        assert PASSWORD not in body and USERNAME not in body, url
    assert "saved as secret" in operator_client.get("/datasources/").content.decode()


@pytest.mark.django_db
def test_api_never_returns_credentials(camera, operator_client):
    responses = [
        operator_client.get("/api/datasources/"),
        operator_client.get(f"/api/datasources/{camera.pk}/"),
        operator_client.patch(
            f"/api/datasources/{camera.pk}/",
            {"description": "changed"},
            content_type="application/json",
        ),
        operator_client.post(
            "/api/datasources/",
            {"name": "gate", "url": "rtsp://10.0.0.6/s", "username": "u2", "password": PASSWORD},
            content_type="application/json",
        ),
        operator_client.put(
            f"/api/datasources/{camera.pk}/",
            {"name": "lobby", "url": "rtsp://10.0.0.5/s", "password": PASSWORD},
            content_type="application/json",
        ),
    ]
    for response in responses:
        assert response.status_code in (200, 201), response.content
        body = response.content.decode()
        assert PASSWORD not in body and USERNAME not in body
        assert "password" not in body and "username" not in body
    assert responses[1].json()["credentials"] == "SAVED_AS_SECRET"


@pytest.mark.django_db
def test_credentials_typed_into_the_url_are_split_off(operator_client):
    response = operator_client.post(
        "/api/datasources/",
        {"name": "yard", "url": "rtsp://admin:s%40cret@192.168.1.20:554/live"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["url"] == "rtsp://192.168.1.20:554/live"
    assert DataSource.objects.get(name="yard").credentials() == ("admin", "s@cret")
    response = operator_client.post(
        "/datasources/add/", {"name": "dock", "url": "rtsps://ops:pw@[fd00::5]:322/a"}
    )
    assert response.status_code == 302
    source = DataSource.objects.get(name="dock")
    assert source.url == "rtsps://[fd00::5]:322/a"
    assert source.credentials() == ("ops", "pw")


@pytest.mark.django_db
def test_edit_keeps_the_password_unless_changed_or_cleared(camera, operator_client):
    url = f"/datasources/{camera.pk}/edit/"
    page = operator_client.get(url).content.decode()
    assert 'name="password"' in page and PASSWORD not in page
    response = operator_client.post(url, {"url": camera.url, "description": "new"})
    assert response.status_code == 302
    camera.refresh_from_db()
    assert camera.credentials() == (USERNAME, PASSWORD)
    operator_client.post(url, {"url": camera.url, "password": "next-one"})
    camera.refresh_from_db()
    assert camera.credentials() == (USERNAME, "next-one")
    operator_client.post(url, {"url": camera.url, "clear_credentials": "on"})
    camera.refresh_from_db()
    assert not camera.has_credentials


@pytest.mark.django_db
def test_name_cannot_change(camera, operator_client):
    operator_client.post(f"/datasources/{camera.pk}/edit/", {"name": "other", "url": camera.url})
    camera.refresh_from_db()
    assert camera.name == "lobby"
    response = operator_client.patch(
        f"/api/datasources/{camera.pk}/", {"name": "other"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert "cannot change" in response.json()["name"][0]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://10.0.0.1/stream", "must start with rtsp://, rtsps:// or file://"),
        ("rtsp:///stream", "names no camera host"),
        ("rtsp://cam:99999/x", "not a number from 1 to 65535"),
        ("file://videos/a.mp4", "needs an absolute path"),
    ],
)
def test_bad_urls_get_specific_errors(operator_client, url, message):
    response = operator_client.post(
        "/api/datasources/", {"name": "x", "url": url}, content_type="application/json"
    )
    assert response.status_code == 400
    assert message in response.json()["url"][0]
    page = operator_client.post("/datasources/add/", {"name": "x", "url": url}).content.decode()
    assert message in page
    assert not DataSource.objects.exists()


@pytest.mark.django_db
def test_file_sources_are_labelled_as_test_sources(operator_client, settings, tmp_path):
    settings.TEST_MEDIA_DIRS = [str(tmp_path)]
    response = operator_client.post(
        "/datasources/add/", {"name": "demo", "url": f"file://{tmp_path}/demo.mp4"}
    )
    assert response.status_code == 302
    assert "test source" in operator_client.get("/datasources/").content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/etc/passwd", "{media}/../secret.mp4"])
def test_file_sources_outside_the_media_folders_are_refused(
    operator_client, settings, tmp_path, path
):
    settings.TEST_MEDIA_DIRS = [str(tmp_path / "media")]
    url = "file://" + path.format(media=tmp_path / "media")
    response = operator_client.post(
        "/api/datasources/", {"name": "x", "url": url}, content_type="application/json"
    )
    assert response.status_code == 400
    assert "must be in one of the media folders" in response.json()["url"][0]


@pytest.mark.django_db
def test_moving_a_camera_to_another_host_drops_its_saved_credentials(camera, operator_client):
    # Otherwise an operator could point the URL at a host of theirs and have the next stream
    # check send them the saved password.
    operator_client.patch(
        f"/api/datasources/{camera.pk}/",
        {"url": "rtsp://203.0.113.9:554/stream1"},
        content_type="application/json",
    )
    camera.refresh_from_db()
    assert not camera.has_credentials
    source = DataSource.objects.create(name="other", url="rtsp://10.0.0.7/a")
    source.set_credentials("u", "p")
    source.save()
    operator_client.post(f"/datasources/{source.pk}/edit/", {"url": "rtsp://10.0.0.7:8554/a"})
    source.refresh_from_db()
    assert not source.has_credentials
    operator_client.post(
        f"/datasources/{source.pk}/edit/",
        {"url": "rtsp://10.0.0.8/a", "username": "u2", "password": "p2"},
    )
    source.refresh_from_db()
    assert source.credentials() == ("u2", "p2")
    operator_client.post(f"/datasources/{source.pk}/edit/", {"url": "rtsp://10.0.0.8/other-path"})
    source.refresh_from_db()
    assert source.credentials() == ("u2", "p2")  # same camera, another path: kept


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("rtsp://cam/live?user=admin&pwd=secret", "carries credentials in its query (pwd, user)"),
        ("rtsp://cam/live\r\nX-Injected: 1", "spaces or control characters"),
        ("rtsp://cam/my stream", "spaces or control characters"),
    ],
)
def test_urls_hiding_secrets_or_headers_are_refused(operator_client, url, message):
    response = operator_client.post(
        "/api/datasources/", {"name": "x", "url": url}, content_type="application/json"
    )
    assert response.status_code == 400
    assert message in response.json()["url"][0]


@pytest.mark.django_db
def test_a_refused_form_never_shows_the_typed_password(operator_client):
    page = operator_client.post(
        "/datasources/add/", {"name": "bad name!", "url": "rtsp://admin:Typed-Secret-1@cam/live"}
    ).content.decode()
    assert "Use only letters" in page
    assert "Typed-Secret-1" not in page
    assert "rtsp://cam/live" in page


@pytest.mark.django_db
def test_delete_purges_the_credentials(camera, operator_client):
    response = operator_client.post(f"/datasources/{camera.pk}/delete/")
    assert response.status_code == 302
    assert not DataSource.objects.exists()
    assert camera.password_encrypted not in all_rows_as_text()


@pytest.mark.django_db
def test_key_rotation_reencrypts_every_secret(camera, monkeypatch):
    old_ciphertext = camera.password_encrypted
    old_key = (settings.VAR_DIR / "credentials_key").read_text()
    new_key = Fernet.generate_key().decode()
    monkeypatch.setenv("CREDENTIALS_KEY", f"{new_key},{old_key}")
    crypto.reset_key_cache()
    try:
        out = io.StringIO()
        call_command("rotate_credentials_key", stdout=out)
        assert "2 secret(s)" in out.getvalue()
        camera.refresh_from_db()
        assert camera.password_encrypted != old_ciphertext
        monkeypatch.setenv("CREDENTIALS_KEY", new_key)  # the old key is gone now
        crypto.reset_key_cache()
        assert camera.credentials() == (USERNAME, PASSWORD)
        monkeypatch.setenv("CREDENTIALS_KEY", Fernet.generate_key().decode())
        crypto.reset_key_cache()
        with pytest.raises(crypto.SecretUnreadable, match="CREDENTIALS_KEY"):
            camera.credentials()
    finally:
        monkeypatch.delenv("CREDENTIALS_KEY")
        crypto.reset_key_cache()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["rtsp://u:p@cam:99999/x", "rtsp://u:p@cam:abc/x", "rtsp://cam:0/x"]
)
def test_bad_ports_are_refused_even_with_credentials(operator_client, url):
    response = operator_client.post(
        "/api/datasources/", {"name": "x", "url": url}, content_type="application/json"
    )
    assert response.status_code == 400
    assert "not a number from 1 to 65535" in response.json()["url"][0]
    page = operator_client.post("/datasources/add/", {"name": "x", "url": url})
    assert "not a number from 1 to 65535" in page.content.decode()


@pytest.mark.django_db
def test_user_only_url_keeps_the_saved_password_in_form_and_api(camera, operator_client):
    operator_client.patch(
        f"/api/datasources/{camera.pk}/",
        {"url": "rtsp://newuser@10.0.0.5:554/stream1"},
        content_type="application/json",
    )
    camera.refresh_from_db()
    assert camera.credentials() == ("newuser", PASSWORD)
    operator_client.post(
        f"/datasources/{camera.pk}/edit/", {"url": "rtsp://third@10.0.0.5:554/stream1"}
    )
    camera.refresh_from_db()
    assert camera.credentials() == ("third", PASSWORD)
    response = operator_client.patch(
        f"/api/datasources/{camera.pk}/",
        {"clear_credentials": True},
        content_type="application/json",
    )
    assert response.json()["credentials"] is None


@pytest.mark.django_db
def test_credentials_can_be_replaced_after_the_key_was_lost(camera, operator_client, monkeypatch):
    monkeypatch.setenv("CREDENTIALS_KEY", Fernet.generate_key().decode())
    crypto.reset_key_cache()
    try:
        response = operator_client.patch(
            f"/api/datasources/{camera.pk}/",
            {"username": "u", "password": "new-pass"},
            content_type="application/json",
        )
        assert response.status_code == 200
        response = operator_client.post(
            f"/datasources/{camera.pk}/edit/", {"url": camera.url, "password": "newer-pass"}
        )
        assert response.status_code == 302
        camera.refresh_from_db()
        assert camera.credentials() == ("u", "newer-pass")
    finally:
        monkeypatch.delenv("CREDENTIALS_KEY")
        crypto.reset_key_cache()


@pytest.mark.django_db
def test_credential_changes_are_audited_without_values(camera, operator_client):
    from auditlog.models import LogEntry

    operator_client.post(f"/datasources/{camera.pk}/edit/", {"url": camera.url, "password": "p2"})
    entry = LogEntry.objects.get_for_object(camera).order_by("-timestamp").first()
    assert "password_encrypted" in entry.changes_dict
    assert "p2" not in str(entry.changes) and PASSWORD not in str(entry.changes)
    assert "checks" not in entry.changes_dict
