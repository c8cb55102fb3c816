"""The deploy wizard (``/applications/deploy/``), with Panorama's console steps.

*Manifest* → *Details* → *Runtime role* → *Device* → *Data sources* (only when the graph has
camera placeholders) → *Configure* → *Review*, whose **Deploy** calls the workflow
(``deployments.request_deployment``) and leads to the new instance's page. The override document
is generated from the *Data sources* and *Configure* steps (applications/wizard.py); the review
shows it and offers it as override.json (``?download=override.json``).

``?replace=<ApplicationInstanceId>`` and ``?clone=<ApplicationInstanceId>`` start the wizard
prefilled with that instance's manifest, name, device, data sources, parameter values and host
ports; *Replace* deploys with ``replaces=`` so the old instance goes once the new one runs.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from formtools.wizard.views import SessionWizardView

from applications import deployments, forms, wizard
from applications.models import ApplicationInstance
from applications.resolve import DeployRefused, check_payloads, used_host_ports
from core.access import PolicyMixin
from core.errors import QuotaExceeded, ServiceUnavailable
from core.models import Installation
from core.roles import OPERATE_ONLY
from datasources.models import DataSource
from devices.models import Device

STEPS = [
    ("manifest", "Manifest", forms.ManifestForm),
    ("details", "Details", forms.DetailsForm),
    ("role", "Runtime role", forms.RuntimeRoleChoiceForm),
    ("device", "Device", forms.DeviceForm),
    ("datasources", "Data sources", forms.DataSourcesForm),
    ("configure", "Configure", forms.ConfigureForm),
    ("review", "Review", forms.ReviewForm),
]
TITLES = {key: title for key, title, _ in STEPS}


def _has_cameras(view: DeployWizard) -> bool:
    graph = view.app_graph()
    return graph is None or bool(graph.cameras)


class DeployWizard(PolicyMixin, SessionWizardView):
    policy = OPERATE_ONLY
    form_list = [(key, form) for key, _, form in STEPS]
    condition_dict = {"datasources": _has_cameras}
    template_name = "applications/deploy_wizard.html"

    # --- what the steps share ------------------------------------------------------------------

    def graph_text(self) -> str:
        data = self.storage.get_step_data("manifest")
        return (data.get("manifest-graph") or "") if data else ""

    def app_graph(self) -> wizard.AppGraph | None:
        if not hasattr(self, "_app_graph"):
            text = self.graph_text()
            self._app_graph = wizard.analyse(text) if text else None
        return self._app_graph

    def chosen_device(self) -> Device | None:
        data = self.storage.get_step_data("device")
        device_id = data.get("device-device") if data else None
        return Device.objects.filter(device_id=device_id).first() if device_id else None

    def source_instance(self) -> ApplicationInstance | None:
        source = self.storage.extra_data.get("source")
        if not source:
            return None
        return ApplicationInstance.objects.filter(application_instance_id=source).first()

    def replaced(self) -> ApplicationInstance | None:
        return self.source_instance() if self.storage.extra_data.get("mode") == "replace" else None

    def used_ports(self) -> dict[int, str]:
        device = self.chosen_device()
        return used_host_ports(device, exclude=self.replaced()) if device else {}

    # --- forms ---------------------------------------------------------------------------------

    def get_form_kwargs(self, step=None) -> dict[str, Any]:
        graph = self.app_graph() or wizard.AppGraph()
        if step == "datasources":
            return {"graph": graph}
        if step == "device":
            return {"replacing": self.replaced()}
        if step == "configure":
            return {"graph": graph, "device": self.chosen_device(), "used": self.used_ports()}
        return {}

    def get_form_initial(self, step: str) -> dict[str, Any]:
        source = self.source_instance()
        if source is None:
            return {}
        if step == "manifest":
            return {"graph": source.manifest_payload}
        if step == "details":
            clone = self.storage.extra_data.get("mode") == "clone"
            name = f"{source.name}-copy"[:255] if clone else source.name
            return {
                "name": name, "description": source.description,
                "memory_limit_mib": source.memory_limit_mib, "cpu_limit": source.cpu_limit,
            }  # fmt: skip
        if step == "role":
            return {"runtime_role": source.runtime_role_id}
        if step == "device":
            return {"device": source.device.device_id}
        prefill = self.storage.extra_data.get("prefill") or {}
        graph = self.app_graph() or wizard.AppGraph()
        if step == "datasources":
            return self._datasources_initial(graph, prefill.get("cameras") or {})
        if step == "configure":
            return self._configure_initial(graph, prefill)
        return {}

    def _datasources_initial(self, graph: wizard.AppGraph, cameras: dict[str, list]) -> dict:
        pks = dict(DataSource.objects.values_list("name", "pk"))
        initial: dict[str, Any] = {}
        for index, slot in enumerate(graph.cameras):
            chosen = [(name, launch) for name, launch in cameras.get(slot.name, []) if name in pks]
            initial[f"camera{index}"] = [name for name, _ in chosen]
            for name, launch in chosen:
                initial[f"camera{index}_launch_{pks[name]}"] = launch or "onAppStart"
        return initial

    def _configure_initial(self, graph: wizard.AppGraph, prefill: dict[str, Any]) -> dict:
        initial: dict[str, Any] = {}
        parameters = prefill.get("parameters") or {}
        for index, parameter in enumerate(graph.parameters):
            if parameter.name in parameters:
                initial[f"param{index}"] = parameters[parameter.name]
        routes = prefill.get("routes") or {}
        used = set(self.used_ports())
        for index, route in enumerate(graph.routes):
            if route.key in routes:
                initial[f"route{index}"] = wizard.suggest_port(routes[route.key], used)
            elif not route.in_graph:
                initial[f"route{index}_on"] = False
        return initial

    def process_step(self, form) -> Any:
        data = super().process_step(form)
        if self.steps.current == "manifest":
            # Keep the text (pasted or uploaded) rather than the upload.
            data = data.copy()
            data[form.add_prefix("graph")] = form.cleaned_data["graph"]
            self.__dict__.pop("_app_graph", None)
        return data

    def process_step_files(self, form) -> dict:
        return {}

    # --- the generated override ----------------------------------------------------------------

    def generated_override(self) -> str | None:
        graph = self.app_graph()
        if graph is None:
            return None
        cameras: dict[str, Any] | None = {"cameras": {}}
        if "datasources" in self.get_form_list():
            cameras = self.get_cleaned_data_for_step("datasources")
        configure = self.get_cleaned_data_for_step("configure")
        if cameras is None or configure is None:
            return None
        document = wizard.build_override(
            graph,
            account=Installation.get().account_id,
            cameras=cameras["cameras"],
            parameters=configure["parameters"],
            routes=configure["routes"],
        )
        return wizard.override_text(document)

    # --- requests ------------------------------------------------------------------------------

    def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.GET.get("download") == "override.json":
            text = self.generated_override()
            if text is None:
                raise Http404("Complete the Data sources and Configure steps first.")
            response = HttpResponse(text, content_type="application/json")
            response["Content-Disposition"] = 'attachment; filename="override.json"'
            return response
        self.storage.reset()
        self.storage.current_step = self.steps.first
        for mode in ("replace", "clone"):
            if request.GET.get(mode):
                source = get_object_or_404(
                    ApplicationInstance, application_instance_id=request.GET[mode]
                )
                self.storage.extra_data = {
                    "mode": mode,
                    "source": source.application_instance_id,
                    "source_name": source.name,
                    "prefill": wizard.prefill(source),
                }
                break
        return self.render(self.get_form())

    def render_done(self, form, **kwargs) -> HttpResponse:
        # formtools' own, except that the wizard keeps its data when the deployment is refused.
        final = {}
        for key in self.get_form_list():
            step_form = self.get_form(
                step=key,
                data=self.storage.get_step_data(key),
                files=self.storage.get_step_files(key),
            )
            if not step_form.is_valid():
                return self.render_revalidation_failure(key, step_form, **kwargs)
            final[key] = step_form
        response = self.done(list(final.values()), form_dict=final, **kwargs)
        if response.status_code == 302:
            self.storage.reset()
        return response

    def done(self, form_list, form_dict=None, **kwargs) -> HttpResponse:
        override = self.generated_override() or ""
        details = form_dict["details"].cleaned_data
        try:
            instance = deployments.request_deployment(
                name=details["name"],
                description=details["description"],
                device=form_dict["device"].cleaned_data["device"],
                manifest_text=form_dict["manifest"].cleaned_data["graph"],
                overrides_text=override,
                runtime_role=form_dict["role"].cleaned_data["runtime_role"],
                replaces=self.replaced(),
                user=self.request.user,
                memory_limit_mib=details.get("memory_limit_mib"),
                cpu_limit=details.get("cpu_limit"),
            )
        except DeployRefused as refused:
            return self._refused(
                form_dict["review"],
                "The deployment was refused; correct what is listed below.",
                [error.to_dict() for error in refused.errors],
            )
        except QuotaExceeded as exceeded:
            return self._refused(form_dict["review"], exceeded.message, [], exceeded.quota)
        except ServiceUnavailable as unavailable:
            # Nothing was saved; the wizard keeps every answer, so Deploy can simply be pressed
            # again once the task queue is back.
            response = self._refused(form_dict["review"], unavailable.message, [])
            response.status_code = 503
            response["Retry-After"] = str(unavailable.retry_after_s)
            return response
        messages.success(
            self.request,
            f"Deploying {instance.name} to {instance.device.name}. Its status follows here.",
        )
        return redirect(
            "application-detail", application_instance_id=instance.application_instance_id
        )

    def _refused(self, form, message: str, errors: list[dict], quota: str = "") -> HttpResponse:
        self.storage.current_step = "review"
        form.add_error(None, message)
        return self.render(form, deploy_errors=errors, quota=quota)

    # --- the page ------------------------------------------------------------------------------

    def get_context_data(self, form, **kwargs) -> dict[str, Any]:
        context = super().get_context_data(form=form, **kwargs)
        current = self.steps.current
        keys = list(self.get_form_list())
        position = keys.index(current) if current in keys else 0
        context["step_list"] = [
            {"key": key, "title": TITLES[key], "number": n + 1, "state": _state(n, position)}
            for n, key in enumerate(keys)
        ]
        context["step_title"] = TITLES.get(current, "")
        context["device"] = self.chosen_device()
        if current == "configure":
            context["used_ports"] = sorted(self.used_ports().items())
        if current == "review":
            context.update(self._review())
        return context

    def _review(self) -> dict[str, Any]:
        override = self.generated_override()
        graph_text = self.graph_text()
        summary: dict[str, Any] = {
            "details": self.get_cleaned_data_for_step("details") or {},
            "role": (self.get_cleaned_data_for_step("role") or {}).get("runtime_role"),
            "cameras": {},
        }
        if "datasources" in self.get_form_list():
            summary["cameras"] = (self.get_cleaned_data_for_step("datasources") or {}).get(
                "cameras", {}
            )
        configure = self.get_cleaned_data_for_step("configure") or {}
        graph = self.app_graph() or wizard.AppGraph()
        titles = {p.name: p.title for p in graph.parameters}
        summary["parameters"] = [
            (titles.get(name, name), value)
            for name, value in (configure.get("parameters") or {}).items()
        ]
        summary["routes"] = configure.get("routes") or []
        return {
            "summary": summary,
            "override": override,
            "override_errors": check_payloads(graph_text, override) if override else [],
        }


def _state(index: int, current: int) -> str:
    if index < current:
        return "done"
    return "current" if index == current else "upcoming"
