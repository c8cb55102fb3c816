import django_tables2 as tables

from devices.models import Device


class DeviceTable(tables.Table):
    name = tables.Column()
    aggregated_status = tables.TemplateColumn(
        '{% include "partials/status_badge.html" with value=record.aggregated_status %}',
        verbose_name="Status",
        orderable=False,
    )
    connection_status = tables.TemplateColumn(
        '{% include "partials/status_badge.html" with value=record.connection_status %}',
        verbose_name="Connection",
    )

    class Meta:
        model = Device
        fields = [
            "name",
            "device_id",
            "aggregated_status",
            "connection_status",
            "description",
            "created",
        ]
        attrs = {"class": "table table-hover align-middle"}
        empty_text = "No appliances yet."
