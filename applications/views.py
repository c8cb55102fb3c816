from django.db.models import Prefetch
from django.views.generic import TemplateView
from django_tables2 import SingleTableView

from applications.models import ApplicationInstance, NodePackage, PatchVersion
from applications.tables import ApplicationInstanceTable
from console.access import PolicyMixin
from console.models import Installation
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

    def get_context_data(self, **kwargs):
        latest = PatchVersion.objects.filter(is_latest=True).select_related("package_version")
        packages = NodePackage.objects.filter(
            account_id=Installation.get().account_id
        ).prefetch_related(Prefetch("versions__patches", queryset=latest, to_attr="latest_patches"))
        return super().get_context_data(packages=packages, **kwargs)
