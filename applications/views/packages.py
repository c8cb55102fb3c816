"""Node packages: the list, a package with its patch versions, deregistering a patch."""

from django.contrib import messages
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views import View
from django.views.generic import DetailView, TemplateView

from applications import compiles
from applications.forms import Int8Form
from applications.models import NodePackage, PatchVersion
from applications.registry import PatchInUse, deregister_patch, patch_users
from core.access import PolicyMixin
from core.models import Installation
from core.roles import READ_OPERATE
from core.status import ModelCompileStatus as CompileStatus


class PackageListView(PolicyMixin, TemplateView):
    policy = READ_OPERATE
    template_name = "applications/package_list.html"

    def get_context_data(self, **kwargs):
        latest = PatchVersion.objects.filter(is_latest=True).select_related("package_version")
        packages = NodePackage.objects.filter(
            account_id=Installation.get().account_id
        ).prefetch_related(Prefetch("versions__patches", queryset=latest, to_attr="latest_patches"))
        return super().get_context_data(packages=packages, **kwargs)


class PackageDetailView(PolicyMixin, DetailView):
    """A package: its versions, every patch with its nodes and assets, and what uses it."""

    policy = READ_OPERATE
    template_name = "applications/package_detail.html"
    context_object_name = "package"

    def get_queryset(self):
        return NodePackage.objects.filter(account_id=Installation.get().account_id)

    def get_context_data(self, **kwargs):
        patches = (
            PatchVersion.objects.filter(package_version__package=self.object)
            .select_related("package_version")
            .prefetch_related("interfaces", "patchasset_set__asset__compiles")
            .order_by("package_version__version", "-created")
        )
        rows = [(patch, patch_users(patch)) for patch in patches]
        model_assets = {
            source.pk for patch in patches for source, _ in compiles.model_assets(patch)
        }
        # While a model compiles, the page follows it (htmx polls the patches' section).
        compiling = any(
            compiled.status in (CompileStatus.PENDING, CompileStatus.IN_PROGRESS)
            for patch in patches
            for link in patch.patchasset_set.all()
            for compiled in link.asset.compiles.all()
        )
        return super().get_context_data(
            patches=rows, compiling=compiling, model_assets=model_assets, int8_form=Int8Form(),
            **kwargs,
        )  # fmt: skip


class PatchDeregisterView(PolicyMixin, View):
    policy = READ_OPERATE

    def post(self, request: HttpRequest, pk: int, patch_pk: int) -> HttpResponse:
        patch = get_object_or_404(
            PatchVersion,
            pk=patch_pk,
            package_version__package__pk=pk,
            package_version__package__account_id=Installation.get().account_id,
        )
        try:
            deregister_patch(patch)
        except PatchInUse as in_use:
            messages.error(request, str(in_use))
        else:
            messages.success(request, f"Patch {patch.patch[:12]}… deregistered.")
        return redirect("package-detail", pk=pk)
