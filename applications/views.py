from django.views.generic import TemplateView
from django_tables2 import SingleTableView

from applications.models import ApplicationInstance
from applications.tables import ApplicationInstanceTable
from console.access import PolicyMixin
from console.roles import READ_OPERATE


class ApplicationInstanceListView(PolicyMixin, SingleTableView):
    policy = READ_OPERATE
    model = ApplicationInstance
    table_class = ApplicationInstanceTable
    template_name = "applications/applicationinstance_list.html"

    def get_queryset(self):
        return ApplicationInstance.objects.select_related("device")


class PackageListView(PolicyMixin, TemplateView):
    policy = READ_OPERATE
    template_name = "applications/package_list.html"
