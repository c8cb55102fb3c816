"""Live updates of the data source list: the check cell of a row."""

from __future__ import annotations

from core import groups
from core.live import broadcast
from datasources.models import DataSource, StreamCheck

CHECK_CELL = "datasources/partials/check_cell.html"


def broadcast_check(source: DataSource, check: StreamCheck | None) -> None:
    broadcast(groups.FLEET, CHECK_CELL, {"record": source, "check": check})
