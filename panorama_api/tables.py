"""The access keys list (``views_keys.py``). The secret is not a column, nor can it become one."""

from __future__ import annotations

import django_tables2 as tables

from panorama_api.models import AccessKey


class AccessKeyTable(tables.Table):
    access_key_id = tables.Column(verbose_name="Access key ID")
    enabled = tables.BooleanColumn(verbose_name="Enabled")
    actions = tables.TemplateColumn(
        template_name="panorama_api/partials/access_key_actions.html",
        verbose_name="",
        orderable=False,
    )

    class Meta:
        model = AccessKey
        fields = ["user", "access_key_id", "description", "enabled", "created", "last_used"]
        attrs = {"class": "table table-hover align-middle"}
        row_attrs = {"data-access-key-id": lambda record: record.access_key_id}
        empty_text = "No access keys yet."
