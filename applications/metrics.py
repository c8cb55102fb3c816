"""Metrics of application instances: stored from heartbeats, charted on the instance and device
pages.

``store_samples()`` runs on the link's heartbeat threads (devices/ingest.py), for every heartbeat of
every device, so it stays cheap: nothing at all for a heartbeat without applications, else one
query for the instances, one bulk insert, at most one sample per instance every
``SAMPLE_EVERY_S`` (remembered in this process: a device's link lives in one process), and a
prune of samples older than ``KEEP`` at most once a minute per process. Pages are told new
samples exist with a tiny fragment, at most every ``REFRESH_EVERY_S`` per page group; each open
page then re-reads its own charts with the window it shows (static/js/monitoring.js).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from applications.charts import COLOURS, Series, line_chart
from applications.models import ApplicationInstance, InstanceMetricSample
from core import groups
from core.live import broadcast
from devicelink.messages import Heartbeat

SAMPLE_EVERY_S = 5.0
KEEP = timedelta(hours=24)
PRUNE_EVERY_S = 60.0
REFRESH_EVERY_S = 10.0
WINDOWS = {"15m": timedelta(minutes=15), "1h": timedelta(hours=1)}
DEFAULT_WINDOW = "15m"
REFRESH = "applications/partials/metrics.html#metrics-refresh"

_lock = threading.Lock()
_last_sample: dict[str, float] = {}  # application instance id → monotonic time
_last_refresh: dict[str, float] = {}  # live group → monotonic time
_last_prune = 0.0


def _due(memory: dict[str, float], key: str, every: float, now: float) -> bool:
    if now - memory.get(key, -every) < every:
        return False
    memory[key] = now
    return True


def record_heartbeat(device: Any, heartbeat: Heartbeat) -> None:
    """devices.hooks: store a heartbeat's per-application metrics, when it carries any."""
    if heartbeat.applications:
        store_samples(device, heartbeat.applications)


def store_samples(device: Any, applications: dict[str, dict[str, dict[str, Any]]]) -> int:
    """Store a heartbeat's ``applications`` block of ``device``; returns the samples stored.

    Instances the device reports but the console does not know (or that belong to another
    device) are ignored.
    """
    global _last_prune
    if not applications:
        return 0
    now = time.monotonic()
    with _lock:
        wanted = [iid for iid in applications if _due(_last_sample, iid, SAMPLE_EVERY_S, now)]
        prune = now - _last_prune >= PRUNE_EVERY_S
        if prune:
            _last_prune = now
            for memory in (_last_sample, _last_refresh):
                for key in [k for k, at in memory.items() if now - at > 3600]:
                    del memory[key]
    if not wanted:
        return 0
    instances = dict(
        ApplicationInstance.objects.filter(
            device=device, application_instance_id__in=wanted
        ).values_list("application_instance_id", "pk")
    )
    moment = timezone.now()
    InstanceMetricSample.objects.bulk_create(
        InstanceMetricSample(instance_id=pk, time=moment, nodes=applications[iid])
        for iid, pk in instances.items()
    )
    if prune:
        InstanceMetricSample.objects.filter(time__lt=moment - KEEP).delete()
    targets = [groups.app(iid) for iid in instances]
    if instances:
        targets.append(groups.device(device.device_id))
    refresh(targets)
    return len(instances)


def refresh(targets: Iterable[str]) -> None:
    """Tell the pages of ``targets`` that new samples exist (throttled per group)."""
    now = time.monotonic()
    with _lock:
        due = [group for group in targets if _due(_last_refresh, group, REFRESH_EVERY_S, now)]
    for group in due:
        broadcast(group, REFRESH, {"target": group.split("-", 1)[0], "stamp": f"{time.time():.3f}"})


def reset() -> None:
    """Forget the throttles (tests)."""
    global _last_prune
    with _lock:
        _last_sample.clear()
        _last_refresh.clear()
        _last_prune = 0.0


# --- charts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartSpec:
    key: str
    title: str
    unit: str
    metrics: tuple[str, ...]  # gauges drawn as they are, or one counter drawn as a rate
    rate: bool = False
    only_with: str = ""  # only nodes that report this metric (fps: cameras, not displays)


CHARTS = (
    ChartSpec("fps", "Camera streams: frames per second", "fps", ("fps",), only_with="reconnects"),
    ChartSpec("dropped", "Camera streams: frames dropped", "per minute", ("dropped",), True),
    ChartSpec("reconnects", "Camera streams: reconnects", "per minute", ("reconnects",), True),
    ChartSpec(
        "inference", "Models: inference time", "ms", ("inference_ms_p50", "inference_ms_p99")
    ),
    ChartSpec("latency", "Display: latency", "ms", ("latency_ms_p50", "latency_ms_p99")),
    ChartSpec("errors", "Errors", "per minute", ("errors",), True),
)


def window_of(value: str | None) -> str:
    return value if value in WINDOWS else DEFAULT_WINDOW


def _rate(points: list[tuple[datetime, float]]) -> list[tuple[datetime, float]]:
    """Per-minute increase between consecutive totals; a total that fell restarted from 0."""
    rates = []
    for (t0, v0), (t1, v1) in itertools.pairwise(points):
        seconds = (t1 - t0).total_seconds()
        if seconds > 0:
            rates.append((t1, max(v1 - v0 if v1 >= v0 else v1, 0) * 60 / seconds))
    return rates


def charts(
    instances: list[ApplicationInstance], window: str, *, with_instance: bool = False
) -> dict[str, Any]:
    """The charts of ``instances`` over ``window``: those with data, each with its series.

    A series is one node (``with_instance``: "instance / node", for the device page) and metric.
    """
    window = window_of(window)
    end = timezone.now()
    start = end - WINDOWS[window]
    names = {instance.pk: instance.name for instance in instances}
    rows = InstanceMetricSample.objects.filter(instance__in=list(names), time__gte=start)
    collected: dict[tuple[str, str, str], list[tuple[datetime, float]]] = {}
    kinds: dict[tuple[int, str], set[str]] = {}
    for instance_pk, when, nodes in rows.order_by("time", "id").values_list(
        "instance_id", "time", "nodes"
    ):
        for node, values in (nodes or {}).items():
            if not isinstance(values, dict):
                continue
            kinds.setdefault((instance_pk, node), set()).update(values)
            label = f"{names[instance_pk]} / {node}" if with_instance else node
            for metric, value in values.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    collected.setdefault((label, metric, f"{instance_pk}:{node}"), []).append(
                        (when, float(value))
                    )
    result = []
    local_start, local_end = timezone.localtime(start), timezone.localtime(end)
    for spec in CHARTS:
        series = []
        for (label, metric, owner), points in sorted(collected.items()):
            if metric not in spec.metrics:
                continue
            pk, _, node = owner.partition(":")
            if spec.only_with and spec.only_with not in kinds.get((int(pk), node), ()):
                continue
            suffix = f" {metric.rsplit('_', 1)[-1]}" if len(spec.metrics) > 1 else ""
            drawn = _rate(points) if spec.rate else points
            series.append(Series(label + suffix, drawn))
        if not series:
            continue
        for index, each in enumerate(series):
            each.colour = COLOURS[index % len(COLOURS)]
        latest = [each.points[-1][1] for each in series if each.points]
        result.append(
            {
                "key": spec.key,
                "title": spec.title,
                "unit": spec.unit,
                "series": series,
                "latest": latest,
                "svg": line_chart(spec.title, spec.unit, series, local_start, local_end),
            }
        )
    return {"charts": result, "window": window, "windows": list(WINDOWS)}
