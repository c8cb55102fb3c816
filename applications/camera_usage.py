"""Which application instances use a camera stream ("used by" on the list and delete pages;
datasources reaches it through datasources/hooks.py)."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from applications.models import ApplicationInstance, NodeInstance
from datasources.models import DataSource


def active_instances() -> QuerySet[ApplicationInstance]:
    return ApplicationInstance.objects.active()


def users(source: DataSource) -> list[ApplicationInstance]:
    """The active instances with a camera node fed by ``source``."""
    return list(
        active_instances().filter(node_instances__data_source=source).distinct().order_by("name")
    )


def with_users(sources: QuerySet[DataSource]) -> QuerySet[DataSource]:
    """Prefetch ``used_by`` (a list) for every source of the queryset."""
    return sources.prefetch_related(
        Prefetch(
            "node_instances",
            queryset=NodeInstance.objects.filter(instance__in=active_instances()).select_related(
                "instance"
            ),
            to_attr="active_nodes",
        )
    )


def used_by(source: DataSource) -> list[ApplicationInstance]:
    """From ``with_users``'s prefetch, else a query."""
    nodes = getattr(source, "active_nodes", None)
    if nodes is None:
        return users(source)
    seen = {node.instance.pk: node.instance for node in nodes}
    return sorted(seen.values(), key=lambda instance: instance.name)
