"""Software images: the list, the upload and deleting one."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.views import View
from django.views.generic import FormView
from django_tables2 import SingleTableView

from core.access import PolicyMixin
from core.roles import ADMIN_ONLY, READ_ADMINISTER
from devices.forms import SoftwareImageForm
from devices.models import SoftwareImage
from devices.software import add_image, delete_image, jobs_using
from devices.tables import SoftwareImageTable


class SoftwareListView(PolicyMixin, SingleTableView):
    policy = READ_ADMINISTER
    model = SoftwareImage
    table_class = SoftwareImageTable
    template_name = "devices/software_list.html"

    def get_queryset(self):
        return SoftwareImage.objects.select_related("uploaded_by")


class SoftwareAddView(PolicyMixin, FormView):
    policy = ADMIN_ONLY
    form_class = SoftwareImageForm
    template_name = "devices/form.html"
    extra_context = {
        "title": "Upload software image",
        "intro": "An agent release bundle (.tar.gz), as built by devicelink.releases.build_bundle. "
        "The console checks it, signs its version and SHA-256 with the release key, and stores "
        "it; appliances verify the signature before they install it.",
        "submit_label": "Upload",
        "cancel_url": reverse_lazy("software-list"),
    }

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            image = add_image(
                data["file"], data["version"], data["notes"], data["required"], self.request.user
            )
        except ValidationError as exc:
            form.add_error(None, exc)
            return self.form_invalid(form)
        messages.success(
            self.request,
            f"Software image {image.version} uploaded and signed"
            f"{' as a required update' if image.required else ''}.",
        )
        return redirect("software-list")


class SoftwareDeleteView(PolicyMixin, View):
    policy = ADMIN_ONLY

    def get(self, request, version: str):
        image = get_object_or_404(SoftwareImage, version=version)
        busy = list(jobs_using(image).select_related("device")[:5])
        return render(request, "devices/software_delete.html", {"image": image, "busy": busy})

    def post(self, request, version: str):
        image = get_object_or_404(SoftwareImage, version=version)
        try:
            delete_image(image)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("software-list")
        messages.success(request, f"Software image {version} deleted.")
        return redirect("software-list")
