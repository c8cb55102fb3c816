import django_tables2 as tables

from datasources.models import DataSource


class DataSourceTable(tables.Table):
    url = tables.TemplateColumn(
        '{{ record.url }}{% if record.is_test_source %} <span class="badge text-bg-light border">'
        "test source</span>{% endif %}",
        verbose_name="URL",
    )

    class Meta:
        model = DataSource
        fields = ["name", "description", "url", "created"]
        attrs = {"class": "table table-hover align-middle"}
        empty_text = "No camera streams yet."
