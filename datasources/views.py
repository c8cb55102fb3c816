from django_tables2 import SingleTableView

from console.access import PolicyMixin
from console.roles import READ_OPERATE
from datasources.models import DataSource
from datasources.tables import DataSourceTable


class DataSourceListView(PolicyMixin, SingleTableView):
    policy = READ_OPERATE
    model = DataSource
    table_class = DataSourceTable
    template_name = "datasources/datasource_list.html"
