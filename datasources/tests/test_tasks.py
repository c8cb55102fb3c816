"""The stream-check task: claiming, and never leaving a check pending."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.utils import timezone

from core import crypto
from core.status import NodeFromTemplateJobStatus
from datasources.models import DataSource, StreamCheck
from datasources.tasks import run_stream_check


@pytest.fixture
def source(db) -> DataSource:
    source = DataSource(name="cam", url="rtsp://127.0.0.1:9/x")
    source.set_credentials("u", "p")
    source.save()
    return source


def test_undecryptable_credentials_fail_the_check_instead_of_hanging(source, monkeypatch):
    check = StreamCheck.objects.create(data_source=source)
    monkeypatch.setenv("CREDENTIALS_KEY", Fernet.generate_key().decode())
    crypto.reset_key_cache()
    try:
        run_stream_check(check.pk)
    finally:
        monkeypatch.delenv("CREDENTIALS_KEY")
        crypto.reset_key_cache()
    check.refresh_from_db()
    assert check.status == NodeFromTemplateJobStatus.FAILED
    assert check.message == "The check could not run (SecretUnreadable)."
    assert check.started and check.finished and check.finished >= check.started


def test_a_claimed_check_is_not_run_twice(source):
    check = StreamCheck.objects.create(data_source=source, started=timezone.now())
    run_stream_check(check.pk)
    check.refresh_from_db()
    assert check.status == NodeFromTemplateJobStatus.PENDING


def test_a_stale_claim_is_taken_over(source):
    check = StreamCheck.objects.create(
        data_source=source, started=timezone.now() - timedelta(hours=1)
    )
    run_stream_check(check.pk)
    check.refresh_from_db()
    assert check.status == NodeFromTemplateJobStatus.FAILED
    assert "Connection refused" in check.message


def test_repeated_clicks_do_not_queue_more_probes(
    source, operator, django_capture_on_commit_callbacks
):
    from datasources.checks import start_check

    with django_capture_on_commit_callbacks(execute=False):
        first = start_check(source, operator)
        second = start_check(source, operator)
    assert first.pk == second.pk
    assert source.checks.count() == 1


def test_a_check_deleted_during_the_probe_is_not_recreated(source):
    from datasources.checks import finish_check

    check = StreamCheck.objects.create(data_source=source, started=timezone.now())
    StreamCheck.objects.filter(pk=check.pk).delete()
    assert finish_check(check, status=NodeFromTemplateJobStatus.FAILED) is False
    assert not StreamCheck.objects.filter(pk=check.pk).exists()


def test_an_unreachable_broker_fails_the_check(
    source, operator, monkeypatch, django_capture_on_commit_callbacks
):
    from datasources import tasks
    from datasources.checks import start_check

    def broker_down(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(tasks.run_stream_check, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        check = start_check(source, operator)
    check.refresh_from_db()
    assert check.status == NodeFromTemplateJobStatus.FAILED
    assert "could not be queued" in check.message
