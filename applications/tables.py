import django_tables2 as tables

from applications.models import ApplicationInstance

ROW_PARTIALS = "applications/partials/rows.html"


def _cell(partial: str) -> str:
    # The same partial renders the cell here and in the row's live update (applications/live.py).
    return f'{{% include "{ROW_PARTIALS}#{partial}" with instance=record %}}'


class ApplicationInstanceTable(tables.Table):
    name = tables.TemplateColumn(
        "<a href=\"{% url 'application-detail' record.application_instance_id %}\">"
        "{{ record.name }}</a>"
        '{% if record.description %}<div class="small text-body-secondary">'
        "{{ record.description|truncatechars:60 }}</div>{% endif %}",
    )
    device = tables.TemplateColumn(
        "<a href=\"{% url 'device-detail' record.device.device_id %}\">"
        "{{ record.device.name }}</a>",
        order_by="device__name",
    )
    status = tables.TemplateColumn(_cell("row-status"))
    health_status = tables.TemplateColumn(_cell("row-health"), verbose_name="Health")
    status_description = tables.TemplateColumn(
        _cell("row-description"), verbose_name="Status description", orderable=False
    )
    created = tables.DateTimeColumn(format="Y-m-d H:i")

    class Meta:
        model = ApplicationInstance
        fields = ["name", "device", "status", "health_status", "status_description", "created"]
        attrs = {"class": "table table-hover align-middle", "id": "applications"}
        row_attrs = {
            "id": lambda record: f"app-row-{record.application_instance_id}",
            "data-testid": lambda record: f"app-row-{record.name}",
        }
        empty_text = "No applications deployed yet."
