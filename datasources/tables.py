import django_tables2 as tables

from datasources.models import DataSource


class DataSourceTable(tables.Table):
    url = tables.TemplateColumn(
        template_name="datasources/partials/url_cell.html", verbose_name="URL"
    )
    credentials = tables.TemplateColumn(
        '{% if record.has_credentials %}<span class="badge text-bg-light border">'
        '<i class="bi bi-lock-fill" aria-hidden="true"></i> saved as secret</span>'
        "{% else %}none{% endif %}",
        verbose_name="Credentials",
        orderable=False,
    )
    last_check = tables.TemplateColumn(
        '{% include "datasources/partials/check_cell.html" with check=record.last_check %}',
        verbose_name="Last check",
        orderable=False,
    )
    used_by = tables.TemplateColumn(
        template_name="datasources/partials/used_by_cell.html",
        verbose_name="Used by",
        orderable=False,
    )
    actions = tables.TemplateColumn(
        template_name="datasources/partials/row_actions.html", verbose_name="", orderable=False
    )

    class Meta:
        model = DataSource
        fields = ["name", "description", "url", "credentials", "last_check", "used_by"]
        attrs = {"class": "table table-hover align-middle"}
        empty_text = "No camera streams yet."
