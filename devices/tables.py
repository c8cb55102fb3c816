import django_tables2 as tables

from devices.models import Device, SoftwareImage

ROW_PARTIALS = "devices/partials/rows.html"


def _cell(partial: str) -> str:
    # The same partial renders the cell here and in the live update of the row (devices/live.py).
    return f'{{% include "{ROW_PARTIALS}#{partial}" with device=record latest=table.latest %}}'


class DeviceTable(tables.Table):
    selected = tables.TemplateColumn(
        '<input class="form-check-input" type="checkbox" name="device" '
        'value="{{ record.device_id }}" aria-label="Select {{ record.name }}" form="bulk-form">',
        verbose_name="",
        orderable=False,
        attrs={"th": {"class": "select-column"}},
    )
    name = tables.TemplateColumn(
        "<a href=\"{% url 'device-detail' record.device_id %}\">{{ record.name }}</a>"
        '{% if record.description %}<div class="small text-body-secondary">'
        "{{ record.description|truncatechars:60 }}</div>{% endif %}",
    )
    aggregated = tables.TemplateColumn(_cell("row-status"), verbose_name="Status")
    connection_status = tables.TemplateColumn(_cell("row-connection"), verbose_name="Connection")
    current_software = tables.TemplateColumn(
        _cell("row-software"), verbose_name="Software (current / latest)"
    )
    last_heartbeat_at = tables.TemplateColumn(_cell("row-heartbeat"), verbose_name="Last heartbeat")
    application_count = tables.Column(
        verbose_name="Applications", attrs={"td": {"class": "text-end"}}
    )
    tags = tables.TemplateColumn(
        "{% for key, value in record.tags.items %}"
        '<span class="badge text-bg-light border me-1">{{ key }}{% if value %}: {{ value }}'
        "{% endif %}</span>{% empty %}—{% endfor %}",
        orderable=False,
    )

    class Meta:
        model = Device
        fields = [
            "selected",
            "name",
            "aggregated",
            "connection_status",
            "current_software",
            "last_heartbeat_at",
            "application_count",
            "tags",
        ]
        attrs = {"class": "table table-hover align-middle", "id": "devices"}
        row_attrs = {"id": lambda record: f"device-row-{record.device_id}"}
        empty_text = "No appliances yet."

    def __init__(self, *args, latest: SoftwareImage | None = None, selectable: bool, **kwargs):
        if not selectable:
            kwargs["exclude"] = [*kwargs.get("exclude", ()), "selected"]
        super().__init__(*args, **kwargs)
        self.latest = latest


class SoftwareImageTable(tables.Table):
    # Sorted as numbers, so 1.10.0 comes after 1.9.0.
    version = tables.Column(order_by=("major", "minor", "patch"))
    required = tables.TemplateColumn(
        '{% if record.required %}<span class="badge text-bg-warning">required</span>'
        "{% else %}optional{% endif %}"
    )
    notes = tables.Column(orderable=False)
    size = tables.TemplateColumn("{{ record.size|filesizeformat }}")
    sha256 = tables.TemplateColumn(
        '<code class="small" title="{{ record.sha256 }}">'
        "{{ record.sha256|truncatechars:17 }}</code>",
        verbose_name="SHA-256",
        orderable=False,
    )
    uploaded = tables.TemplateColumn(
        "{{ record.uploaded_by.username|default:'—' }}, {{ record.created|date:\"Y-m-d H:i\" }}",
        verbose_name="Uploaded",
        order_by=("created",),
    )
    actions = tables.TemplateColumn(
        "{% if user_role == 'administrator' %}"
        '<a class="btn btn-sm btn-outline-danger" '
        "href=\"{% url 'software-delete' record.version %}\">Delete</a>{% endif %}",
        verbose_name="",
        orderable=False,
    )

    class Meta:
        model = SoftwareImage
        fields = ["version", "required", "notes", "size", "sha256", "uploaded", "actions"]
        attrs = {"class": "table table-hover align-middle", "id": "software-images"}
        empty_text = "No software images uploaded yet."
        order_by = ("-version",)
