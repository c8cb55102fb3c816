"""The deploy wizard's steps.

The wizard's steps follow Panorama's console: *Manifest*, *Details*, *Runtime role*, *Device*,
*Data sources*, *Configure* and *Review*. The last three are built from the graph the first one
accepted (applications/wizard.py reads it); applications/views/deploy.py drives them.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Case, Count, IntegerField, Q, Value, When

from applications.models import (
    CPU_LIMIT,
    MEMORY_LIMIT_MIB,
    ApplicationInstance,
    PatchVersion,
    RuntimeRole,
    active_q,
)
from applications.wizard import (
    AppGraph,
    Parameter,
    error_lines,
    manifest_errors,
    suggest_port,
)
from core.models import Installation
from core.status import DeviceConnectionStatus, DeviceStatus, NodeCategory
from core.status import PackageVersionStatus as PatchStatus
from core.validators import resource_name_validator
from datasources.checks import with_latest_check
from datasources.models import DataSource
from devices.models import Device
from manifests import MAX_PAYLOAD_CHARS
from manifests.common import FLOAT32_MAX, HOST_PORT_MAX, HOST_PORT_MIN, INT32_MAX, INT32_MIN
from manifests.nodes import REGEX_TIME_LIMIT_S, RegexTooSlow, regex_budget, regex_mismatch

LAUNCH_CHOICES = [
    ("onAppStart", "Start with the application"),
    ("onSignal", "Start paused (resume with a signal)"),
]


# --- 1. Manifest --------------------------------------------------------------------------------


class ManifestForm(forms.Form):
    graph = forms.CharField(
        label="Application manifest (graph.json)",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 18, "spellcheck": "false"}),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Added here rather than declared: the wizard reads an upload into ``graph`` and stores
        # no file (formtools insists on a file storage for declared file fields).
        self.fields["graph_file"] = forms.FileField(required=False, label="Or upload graph.json")
        self.payload_errors: list[dict[str, Any]] = []
        self.listing: list[tuple[int, str, list[dict[str, Any]]]] = []

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        text = data.get("graph") or ""
        upload = data.get("graph_file")
        if upload is not None:
            raw = upload.read(MAX_PAYLOAD_CHARS * 4 + 1)
            if len(raw) > MAX_PAYLOAD_CHARS * 4:
                self.add_error("graph_file", "This file is far larger than a manifest may be.")
                return data
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                self.add_error("graph_file", "graph.json must be UTF-8 text.")
                return data
        text = text.replace("\r\n", "\n").strip()
        data["graph"] = text
        if not text:
            self.add_error("graph", "Paste the application manifest (graph.json), or upload it.")
            return data
        errors = manifest_errors(text)
        if errors:
            lines = error_lines(text, [error.path for error in errors])
            self.payload_errors = [
                {**error.to_dict(), "line": line} for error, line in zip(errors, lines, strict=True)
            ]
            by_line: dict[int, list[dict[str, Any]]] = {}
            for error in self.payload_errors:
                by_line.setdefault(error["line"] or 1, []).append(error)
            self.listing = [
                (number, line, by_line.get(number, []))
                for number, line in enumerate(text.split("\n"), start=1)
            ]
            count = len(errors)
            raise ValidationError(
                f"The manifest has {count} problem{'s' if count > 1 else ''}. Each is shown "
                "below next to its place; correct the manifest and choose Next again."
            )
        return data


# --- 2. Details, 3. Runtime role ------------------------------------------------------------------


class DetailsForm(forms.Form):
    name = forms.CharField(
        label="Application name",
        max_length=255,
        validators=[resource_name_validator],
        help_text="Letters a-z A-Z, digits 0-9, underscore (_) and hyphen (-).",
    )
    description = forms.CharField(
        label="Description (optional)",
        max_length=255,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Up to 255 characters.",
    )
    memory_limit_mib = forms.IntegerField(
        label="Memory limit, MiB (optional)", required=False, min_value=MEMORY_LIMIT_MIB[0],
        max_value=MEMORY_LIMIT_MIB[1],
        help_text="What the application's code may use on the appliance together. Empty: "
        "this installation's default. An application that needs more is stopped and shown as "
        "killed by its memory limit.",
    )  # fmt: skip
    cpu_limit = forms.FloatField(
        label="CPU limit (optional)", required=False, min_value=CPU_LIMIT[0],
        max_value=CPU_LIMIT[1],
        help_text="How many CPUs its code may keep busy, for example 1.5. Empty: this "
        "installation's default.",
    )  # fmt: skip


class RuntimeRoleChoiceForm(forms.Form):
    runtime_role = forms.ModelChoiceField(
        queryset=RuntimeRole.objects.all(),
        required=False,
        empty_label="No runtime role",
        label="Runtime role (optional)",
        help_text="The environment variables of the role are given to the application's code "
        "on the appliance.",
    )


# --- 4. Device ----------------------------------------------------------------------------------


def deployable_devices(replacing: ApplicationInstance | None = None):
    """Provisioned devices with the number of applications each runs, online ones first (the
    instance being replaced does not count: it goes when its replacement runs)."""
    counted = active_q("application_instances__")
    if replacing is not None:
        counted &= ~Q(application_instances__pk=replacing.pk)
    return (
        Device.objects.filter(provisioning_status=DeviceStatus.SUCCEEDED)
        .annotate(
            used=Count("application_instances", filter=counted),
            offline=Case(
                When(connection_status=DeviceConnectionStatus.ONLINE, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            ),
        )
        .order_by("offline", "name")
    )


class DeviceForm(forms.Form):
    device = forms.ModelChoiceField(
        queryset=Device.objects.none(),
        to_field_name="device_id",
        widget=forms.RadioSelect,
        empty_label=None,
        error_messages={"required": "Choose the device to deploy to."},
    )

    def __init__(self, *args, replacing: ApplicationInstance | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["device"].queryset = deployable_devices(replacing)
        self.allowed = settings.APPLICATIONS_PER_DEVICE

    def rows(self) -> list[Device]:
        return list(self.fields["device"].queryset)

    def clean_device(self) -> Device:
        device = self.cleaned_data["device"]
        if device.used >= self.allowed:
            raise ValidationError(
                f"Device {device.name} already runs {device.used} of the {self.allowed} "
                "applications a device may run (APPLICATIONS_PER_DEVICE). Remove an application "
                "from it first, or choose another device."
            )
        return device


# --- 5. Data sources ------------------------------------------------------------------------------


def camera_sources() -> list[DataSource]:
    """Data sources whose camera package is registered, with their last stream check."""
    names = PatchVersion.objects.filter(
        is_latest=True,
        status=PatchStatus.REGISTER_COMPLETED,
        package_version__package__account_id=Installation.get().account_id,
        interfaces__category=NodeCategory.MEDIA_SOURCE,
    ).values("package_version__package__name")
    return list(with_latest_check(DataSource.objects.filter(name__in=names)))


class DataSourcesForm(forms.Form):
    def __init__(self, *args, graph: AppGraph, **kwargs):
        super().__init__(*args, **kwargs)
        self.graph = graph
        self.sources = camera_sources()
        self.limit = settings.STREAMS_PER_APPLICATION
        choices = [(source.name, source.name) for source in self.sources]
        for index, slot in enumerate(graph.cameras):
            self.fields[f"camera{index}"] = forms.MultipleChoiceField(
                choices=choices,
                label=slot.title,
                widget=forms.CheckboxSelectMultiple,
                error_messages={"required": f"Choose at least one data source for {slot.title}."},
            )
            for source in self.sources:
                self.fields[f"camera{index}_launch_{source.pk}"] = forms.ChoiceField(
                    choices=LAUNCH_CHOICES,
                    initial="onAppStart",
                    required=False,
                    label=f"When {source.name} starts",
                )

    def sections(self) -> list[dict[str, Any]]:
        """Per camera node: its bound field, and a row per data source for the template."""
        result = []
        for index, slot in enumerate(self.graph.cameras):
            field = self[f"camera{index}"]
            chosen = set(field.value() or [])
            rows = [
                {
                    "source": source,
                    "id": f"{field.auto_id}_{position}",
                    "checked": source.name in chosen,
                    "launch": self[f"camera{index}_launch_{source.pk}"],
                    "check": source.last_check,
                }
                for position, source in enumerate(self.sources)
            ]
            result.append({"slot": slot, "field": field, "rows": rows})
        return result

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        by_name = {source.name: source for source in self.sources}
        chosen: dict[str, list[tuple[str, str]]] = {}
        first_use: dict[str, str] = {}
        for index, slot in enumerate(self.graph.cameras):
            picked = data.get(f"camera{index}") or []
            for name in picked:
                if name in first_use:
                    self.add_error(
                        f"camera{index}",
                        f"{name} is already chosen for {first_use[name]}; each data source can "
                        "feed one camera node.",
                    )
                first_use.setdefault(name, slot.title)
            chosen[slot.name] = [
                (name, data.get(f"camera{index}_launch_{by_name[name].pk}") or "onAppStart")
                for name in picked
            ]
        total = sum(len(sources) for sources in chosen.values()) + self.graph.fixed_cameras
        if total > self.limit:
            raise ValidationError(
                f"You chose {total} camera streams; an application can use at most {self.limit} "
                "(STREAMS_PER_APPLICATION)."
            )
        data["cameras"] = chosen
        return data


# --- 6. Configure -------------------------------------------------------------------------------


def _parameter_field(parameter: Parameter) -> forms.Field:
    help_text = " ".join(t for t in (parameter.description, parameter.constraint_text) if t)
    common = {"label": parameter.title, "help_text": help_text, "initial": parameter.value}
    if parameter.type == "boolean":
        return forms.BooleanField(required=False, **common)
    if parameter.type == "int32":
        return forms.IntegerField(min_value=INT32_MIN, max_value=INT32_MAX, **common)
    if parameter.type == "float32":
        return forms.FloatField(min_value=-FLOAT32_MAX, max_value=FLOAT32_MAX, **common)
    return forms.CharField(required=False, strip=False, empty_value="", **common)


class ConfigureForm(forms.Form):
    def __init__(self, *args, graph: AppGraph, device: Device | None, used: dict[int, str], **kw):
        super().__init__(*args, **kw)
        self.graph = graph
        self.device = device
        self.used = used
        for index, parameter in enumerate(graph.parameters):
            self.fields[f"param{index}"] = _parameter_field(parameter)
        for index, route in enumerate(graph.routes):
            if not route.in_graph:
                self.fields[f"route{index}_on"] = forms.BooleanField(
                    required=False,
                    initial=True,
                    label=f"Route traffic to port {route.container_port} of {route.node}",
                )
            self.fields[f"route{index}"] = forms.IntegerField(
                required=False,
                min_value=HOST_PORT_MIN,
                max_value=HOST_PORT_MAX,
                initial=suggest_port(route.host_port or route.container_port, set(used)),
                label=f"Host port for {route.node} port {route.container_port}",
            )

    def parameter_rows(self) -> list[tuple[Parameter, forms.BoundField]]:
        return [(p, self[f"param{i}"]) for i, p in enumerate(self.graph.parameters)]

    def route_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "route": route,
                "port": self[f"route{index}"],
                "on": None if route.in_graph else self[f"route{index}_on"],
            }
            for index, route in enumerate(self.graph.routes)
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        with regex_budget():  # the patterns of all the parameters together
            parameters = self._parameters(data)
        routes = []
        taken: dict[int, str] = {}
        where = f" on device {self.device.name}" if self.device is not None else ""
        for index, route in enumerate(self.graph.routes):
            key = f"route{index}"
            if key in self.errors or (not route.in_graph and not data.get(f"{key}_on")):
                continue
            port = data.get(key)
            if port is None:
                self.add_error(key, f"Choose a host port from {HOST_PORT_MIN} to {HOST_PORT_MAX}.")
            elif port in self.used:
                self.add_error(
                    key,
                    f"Host port {port} is already used by application {self.used[port]}{where}. "
                    "Choose another port.",
                )
            elif port in taken:
                self.add_error(key, f"Host port {port} is already used for {taken[port]}.")
            else:
                taken[port] = f"{route.node} port {route.container_port}"
                routes.append((route.node, route.container_port, port))
        data["parameters"] = parameters
        data["routes"] = routes
        return data

    def _parameters(self, data: dict[str, Any]) -> dict[str, Any]:
        """The parameters' values by name; a value its constraintRegex refuses is a form error."""
        parameters = {}
        for index, parameter in enumerate(self.graph.parameters):
            key = f"param{index}"
            if key not in data:
                continue
            value = data[key]
            try:
                mismatch = regex_mismatch(value, parameter.constraint_regex)
            except RegexTooSlow:
                self.add_error(
                    key,
                    f"This value could not be checked against the pattern "
                    f"{parameter.constraint_regex} within {REGEX_TIME_LIMIT_S:g} s: the "
                    "application's package needs a simpler pattern, or enter a shorter value.",
                )
                continue
            if mismatch:
                self.add_error(
                    key,
                    parameter.constraint_text
                    or f"Enter a value that matches the pattern {parameter.constraint_regex}.",
                )
                continue
            parameters[parameter.name] = value
        return parameters


class ReviewForm(forms.Form):
    """Nothing to fill in: the step shows what will be deployed; Deploy submits it."""
