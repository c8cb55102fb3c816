"""What the test database holds (Django)."""

from __future__ import annotations

from django.db import connection


def all_rows_as_text() -> str:
    """Every value of every table, as a dump would show it."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            chunks.extend(str(value) for row in cursor.fetchall() for value in row)
    return "\n".join(chunks)
