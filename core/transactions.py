"""Transaction settings shared by the apps."""

from __future__ import annotations

from django.db import connection


def commit_asynchronously() -> None:
    """Let the current transaction commit without waiting for the WAL to reach the disk.

    For writes a PostgreSQL crash (not a restart) may lose within its last fraction of a second
    without harm: the device link's bookkeeping (a connection, a lease: the appliance reconnects
    and heartbeats again) and the nonces of signed device requests. Never for reports, which the
    agent deletes from its outbox once acknowledged.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
