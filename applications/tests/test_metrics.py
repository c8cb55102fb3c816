"""applications/metrics.py and charts.py: heartbeat metrics stored (throttled, pruned), the live
refresh (throttled), and the charts drawn from them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from applications import metrics
from applications.charts import Series, line_chart, nice_max
from applications.models import ApplicationInstance, InstanceMetricSample
from core import live as console_live
from tests.support.devices import connected_device

pytestmark = pytest.mark.django_db


@pytest.fixture
def instance():
    metrics.reset()
    return ApplicationInstance.objects.create(name="counter", device=connected_device("lobby-1"))


@pytest.fixture
def sent(monkeypatch, django_capture_on_commit_callbacks):
    messages: list[tuple[list[str], str]] = []
    monkeypatch.setattr(
        console_live, "deliver", lambda groups, html: messages.append((groups, html))
    )
    return messages


def sample(instance, seconds_ago: float, nodes: dict) -> None:
    InstanceMetricSample.objects.create(
        instance=instance, time=timezone.now() - timedelta(seconds=seconds_ago), nodes=nodes
    )


def test_at_most_one_sample_per_instance_every_few_seconds(instance, sent, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(metrics.time, "monotonic", lambda: clock[0])
    block = {instance.application_instance_id: {"cam": {"fps": 10.0}}}
    assert metrics.store_samples(instance.device, block) == 1
    clock[0] += 2
    assert metrics.store_samples(instance.device, block) == 0
    clock[0] += metrics.SAMPLE_EVERY_S
    assert metrics.store_samples(instance.device, block) == 1
    assert InstanceMetricSample.objects.filter(instance=instance).count() == 2
    other_device = connected_device("elsewhere")
    # Only the instance's own device reports it.
    assert metrics.store_samples(other_device, block) == 0


def test_samples_older_than_a_day_are_pruned_at_most_once_a_minute(instance, monkeypatch):
    clock = [5000.0]
    monkeypatch.setattr(metrics.time, "monotonic", lambda: clock[0])
    sample(instance, 25 * 3600, {"cam": {"fps": 1.0}})
    sample(instance, 23 * 3600, {"cam": {"fps": 2.0}})
    block = {instance.application_instance_id: {"cam": {"fps": 3.0}}}
    metrics.store_samples(instance.device, block)
    assert InstanceMetricSample.objects.count() == 2, "the day-old one is gone"
    sample(instance, 25 * 3600, {"cam": {"fps": 1.0}})
    clock[0] += 10
    metrics.store_samples(instance.device, block)
    assert InstanceMetricSample.objects.count() == 4, "no second prune within a minute"
    clock[0] += metrics.PRUNE_EVERY_S
    metrics.store_samples(instance.device, block)
    assert InstanceMetricSample.objects.count() == 4  # one pruned, one added


def test_pages_are_told_of_new_samples_at_most_every_few_seconds(
    instance, sent, monkeypatch, django_capture_on_commit_callbacks
):
    clock = [100.0]
    monkeypatch.setattr(metrics.time, "monotonic", lambda: clock[0])
    block = {instance.application_instance_id: {"cam": {"fps": 10.0}}}
    with django_capture_on_commit_callbacks(execute=True):
        metrics.store_samples(instance.device, block)
        clock[0] += metrics.SAMPLE_EVERY_S
        metrics.store_samples(instance.device, block)
    groups = [group for groups, _ in sent for group in groups]
    assert groups == [
        f"app-{instance.application_instance_id}",
        f"device-{instance.device.device_id}",
    ]
    assert 'id="app-metrics-refresh"' in sent[0][1] and 'id="device-metrics-refresh"' in sent[1][1]


def test_charts_draw_rates_and_percentiles_with_points(instance, admin_client):
    for n in range(10):
        sample(instance, 600 - n * 10, {
            "cam": {"frames": n * 100, "dropped": n * 2, "reconnects": 0, "fps": 10.0 + n},
            "model": {"calls": n * 90, "inference_ms_p50": 5.0, "inference_ms_p99": 20.0 + n},
            "display": {"frames": n * 90, "fps": 9.0, "latency_ms_p50": 40.0,
                        "latency_ms_p99": 80.0},
            "code": {"errors": n // 3},
        })  # fmt: skip
    sample(instance, 3000, {"cam": {"fps": 99.0}})  # outside 15 minutes, inside one hour
    result = metrics.charts([instance], "15m")
    by_key = {chart["key"]: chart for chart in result["charts"]}
    assert set(by_key) == {"fps", "dropped", "reconnects", "inference", "latency", "errors"}
    assert [s.label for s in by_key["fps"]["series"]] == ["cam"], "display fps is not a stream"
    assert by_key["dropped"]["latest"] == [pytest.approx(12.0, rel=1e-3)]  # 2 per 10 s
    assert [s.label for s in by_key["inference"]["series"]] == ["model p50", "model p99"]
    polyline = re.search(r'<polyline points="([^"]+)"', str(by_key["fps"]["svg"]))
    assert polyline and len(polyline[1].split()) == 10
    assert max(v for s in by_key["fps"]["series"] for _, v in s.points) == 19.0
    hour = {chart["key"]: chart for chart in metrics.charts([instance], "1h")["charts"]}
    assert max(v for _, v in hour["fps"]["series"][0].points) == 99.0

    page = reverse("application-detail", args=[instance.application_instance_id])
    html = admin_client.get(page, {"window": "1h"}).content.decode()
    assert html.count("<polyline") >= 6 and 'aria-current="true">1 hour' in html
    assert 'data-testid="chart-latency"' in html


def test_a_page_without_samples_says_so(instance, admin_client):
    page = reverse("application-detail", args=[instance.application_instance_id])
    html = admin_client.get(page).content.decode()
    region = html.split('id="metrics-heading"')[1].split("</section>")[0]
    assert 'data-testid="metrics-empty"' in region and "<svg" not in region


def test_chart_scale_and_gaps():
    assert [nice_max(v) for v in (0, 0.3, 7, 12, 240, 999)] == [1, 0.5, 10, 20, 250, 1000]
    now = timezone.now()
    points = [(now - timedelta(seconds=s), 1.0) for s in (300, 290, 280, 100, 90)]
    svg = str(line_chart("t", "u", [Series("a", points, "#000")], now - timedelta(minutes=15), now))
    assert svg.count("<polyline") == 2, "a gap in the samples is a gap in the line"
