"""What applications (the layer above) plug into camera streams: registries, filled in its
``AppConfig.ready()`` (applications/apps.py).

Every stream is also a node package (applications/camera_packages.py), and the pages show which
application instances use a stream (applications/camera_usage.py). datasources cannot import
applications, so its pages and API call these instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # type hints only
    from django.db.models import QuerySet

    from datasources.models import DataSource


class Usage(Protocol):
    def users(self, source: DataSource) -> list[Any]: ...

    def with_users(self, sources: QuerySet[DataSource]) -> QuerySet[DataSource]: ...

    def used_by(self, source: DataSource) -> list[Any]: ...


# A stream was created or changed; its user (or None) made the change.
saved_hooks: list[Callable[[DataSource, Any], Any]] = []
# A stream is being deleted.
deleted_hooks: list[Callable[[DataSource], Any]] = []
_usage: list[Usage] = []


def on_saved(hook: Callable[[DataSource, Any], Any]) -> None:
    if hook not in saved_hooks:
        saved_hooks.append(hook)


def on_deleted(hook: Callable[[DataSource], Any]) -> None:
    if hook not in deleted_hooks:
        deleted_hooks.append(hook)


def set_usage(usage: Usage) -> None:
    _usage[:] = [usage]


def saved(source: DataSource, user: Any = None) -> None:
    for hook in saved_hooks:
        hook(source, user)


def deleted(source: DataSource) -> None:
    for hook in deleted_hooks:
        hook(source)


def users(source: DataSource) -> list[Any]:
    """The active application instances fed by ``source`` (none if nothing is registered)."""
    return _usage[0].users(source) if _usage else []


def with_users(sources: QuerySet[DataSource]) -> QuerySet[DataSource]:
    """``sources`` with what ``used_by`` reads prefetched."""
    return _usage[0].with_users(sources) if _usage else sources


def used_by(source: DataSource) -> list[Any]:
    return _usage[0].used_by(source) if _usage else []
