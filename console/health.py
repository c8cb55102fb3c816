"""What /healthz checks: the database, the channel layer and the Celery broker."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection
from django.utils import timezone

from console.celery import app as celery_app
from core.models import ServiceHeartbeat

WORKER_STALE_AFTER = timedelta(minutes=2)
logger = logging.getLogger(__name__)


def check_database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True, "engine": connection.vendor}


def check_channel_layer() -> dict[str, Any]:
    layer = get_channel_layer()

    async def round_trip() -> bool:
        channel = await layer.new_channel("healthz.")
        token = uuid.uuid4().hex
        await layer.send(channel, {"type": "healthz", "token": token})
        message = await layer.receive(channel)
        return message.get("token") == token

    async def bounded() -> bool:
        return await asyncio.wait_for(round_trip(), timeout=3)

    ok = async_to_sync(bounded)()
    return {"ok": ok, "backend": type(layer).__name__}


def check_broker() -> dict[str, Any]:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=3)
        transport = conn.transport_cls
    return {"ok": True, "transport": str(transport)}


def worker_status() -> dict[str, Any]:
    beat = ServiceHeartbeat.objects.filter(name="worker").first()
    if beat is None:
        return {"ok": False, "last_seen": None}
    return {
        "ok": timezone.now() - beat.seen < WORKER_STALE_AFTER,
        "last_seen": beat.seen.isoformat(),
    }


CHECKS = {"database": check_database, "channel_layer": check_channel_layer, "broker": check_broker}


def run_checks() -> tuple[bool, dict[str, Any]]:
    """All checks; the overall result ignores the worker, which may still be starting."""
    results: dict[str, Any] = {}
    for name, check in [*CHECKS.items(), ("worker", worker_status)]:
        try:
            results[name] = check()
        except Exception as exc:  # a health check reports every failure, whatever it is
            # The endpoint is public: the detail (hosts, users, paths) goes to the log only.
            logger.warning("health check %s failed: %s: %s", name, type(exc).__name__, exc)
            results[name] = {"ok": False, "error": type(exc).__name__}
    healthy = all(results[name]["ok"] for name in CHECKS)
    return healthy, results
