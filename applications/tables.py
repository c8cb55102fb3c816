import django_tables2 as tables

from applications.models import ApplicationInstance


class ApplicationInstanceTable(tables.Table):
    status = tables.TemplateColumn(
        '{% include "partials/status_badge.html" with value=record.status %}'
    )
    health_status = tables.TemplateColumn(
        '{% include "partials/status_badge.html" with value=record.health_status %}',
        verbose_name="Health",
    )

    class Meta:
        model = ApplicationInstance
        fields = ["name", "device", "status", "health_status", "status_description", "created"]
        attrs = {"class": "table table-hover align-middle"}
        empty_text = "No applications deployed yet."
