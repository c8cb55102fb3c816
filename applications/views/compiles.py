"""A model asset's INT8 option on its package page: ask for it, or go back to FP32."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views import View

from applications import compiles
from applications.forms import Int8Form
from applications.models import CompiledModel, PatchVersion
from applications.tasks import start_compile
from core.access import PolicyMixin
from core.models import Installation
from core.roles import READ_OPERATE


def _patch(pk: int, patch_pk: int) -> PatchVersion:
    return get_object_or_404(
        PatchVersion,
        pk=patch_pk,
        package_version__package__pk=pk,
        package_version__package__account_id=Installation.get().account_id,
    )


class ModelInt8View(PolicyMixin, View):
    policy = READ_OPERATE

    def post(self, request: HttpRequest, pk: int, patch_pk: int, asset_pk: int) -> HttpResponse:
        patch = _patch(pk, patch_pk)
        models = {source.pk: (source, doc) for source, doc in compiles.model_assets(patch)}
        if asset_pk not in models:
            messages.error(request, "That asset is not a model of this patch.")
            return redirect("package-detail", pk=pk)
        form = Int8Form(request.POST)
        if not form.is_valid():
            problems = [str(e) for errors in form.errors.values() for e in errors]
            messages.error(request, "INT8 not started: " + " ".join(problems))
            return redirect("package-detail", pk=pk)
        source, descriptor = models[asset_pk]
        try:
            compiled = compiles.request_int8(
                source, descriptor, form.calibration(), form.cleaned_data["threshold"]
            )
        except compiles.Int8Refused as refused:
            messages.error(request, f"INT8 not started: {refused}")
            return redirect("package-detail", pk=pk)
        start_compile(compiled)
        messages.success(
            request,
            "Compiling INT8: calibrating on "
            f"{compiles.calibration.describe(compiled.calibration)}. Deployments of this model "
            "use it once it passes its accuracy check.",
        )
        return redirect("package-detail", pk=pk)


class ModelPrecisionView(PolicyMixin, View):
    """Use a succeeded INT8 compile in deployments, or go back to FP32."""

    policy = READ_OPERATE

    def post(self, request: HttpRequest, pk: int, patch_pk: int, compile_pk: int) -> HttpResponse:
        patch = _patch(pk, patch_pk)
        sources = [source.pk for source, _ in compiles.model_assets(patch)]
        compiled = get_object_or_404(
            CompiledModel, pk=compile_pk, precision="INT8", source__pk__in=sources
        )
        if request.POST.get("precision") == "FP32":
            compiles.use_fp32(compiled)
            messages.success(request, "New deployments of this model run it in FP32.")
        elif compiled.status == "SUCCEEDED":
            CompiledModel.objects.filter(pk=compiled.pk).update(in_use=True)
            messages.success(request, "New deployments of this model run it in INT8.")
        else:
            messages.error(request, "Only an INT8 compile that succeeded can be used.")
        return redirect("package-detail", pk=pk)
