"""Forms of the device pages: the setup wizard's steps, jobs, software and log images (the
tags field is core/tags.py)."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from pydantic import ValidationError as PydanticError

from core.errors import QuotaExceeded
from core.status import JobType
from core.tags import TAGS_HELP, TagsField, validate_tags
from core.validators import resource_name_validator
from devicelink.network import (
    DEFAULT_NTP_SERVERS,
    NetworkPayload,
    StaticIpInfo,
    check_ipv4,
    check_mask,
    check_ntp_server,
)
from devices.models import Device, DeviceLog, SoftwareImage
from devices.provisioning import check_quota, name_taken_message

# --- the setup wizard ---------------------------------------------------------------------------


class DeviceNameForm(forms.Form):
    """Step 1, *Specify name*: what the device is called (for good), described and tagged as."""

    name = forms.CharField(
        max_length=255,
        validators=[resource_name_validator],
        help_text="Provide a unique name. You can't edit this name later. Valid characters are "
        "a-z, A-Z, 0-9, _ (underscore) and - (hyphen).",
    )
    description = forms.CharField(
        max_length=255,
        required=False,
        label="Description (optional)",
        help_text="Provide a short description of the device. The description can have up to "
        "255 characters.",
    )
    tags = TagsField(required=False, label="Tags (optional)", help_text=TAGS_HELP)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if Device.objects.filter(name=name).exists():
            raise ValidationError(name_taken_message(name), code="unique")
        return name

    def clean(self) -> dict:
        cleaned = super().clean()
        try:
            check_quota()
        except QuotaExceeded as exceeded:  # shown above the form
            raise ValidationError(exceeded.message, code="quota") from None
        return cleaned


CONNECTION_CHOICES = [("DHCP", "DHCP (automatic)"), ("STATIC_IP", "Static IP address")]
INTERFACES = (("eth0", "Ethernet0"), ("eth1", "Ethernet1"))
MAX_DNS = 3
MAX_NTP = 5


_WHAT = {"ip_address": "IP address", "mask": "subnet mask", "gateway": "default gateway"}


def _split(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,;]+", text or "") if part]


def _ethernet_fields(label: str) -> dict[str, forms.Field]:
    """The settings of one Ethernet port, by field suffix (``eth0_`` + suffix)."""
    return {
        "connection": forms.ChoiceField(
            choices=CONNECTION_CHOICES,
            initial="DHCP",
            widget=forms.RadioSelect(attrs={"class": "form-check-input"}),
            label=label,
        ),
        "ip_address": forms.CharField(required=False, label="IP address", max_length=64),
        "mask": forms.CharField(
            required=False,
            label="Subnet mask",
            max_length=64,
            help_text="For example 255.255.255.0 or 24.",
        ),
        "gateway": forms.CharField(required=False, label="Default gateway", max_length=64),
        "dns": forms.CharField(
            required=False,
            label="DNS servers",
            max_length=100,
            help_text="1 to 3 IPv4 addresses, separated by commas.",
        ),
    }


class DeviceNetworkForm(forms.Form):
    """Step 2, *Configure*: advanced network settings, each field checked with its own message.

    The checks are devicelink.network's, so the wizard says exactly what the archive's
    validation would say. Defaults (DHCP on both ports, pool.ntp.org) suit most networks.
    """

    ntp_servers = forms.CharField(
        label="NTP servers",
        initial="\n".join(DEFAULT_NTP_SERVERS),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line, in order of preference; up to 5. A host name or IPv4 address, "
        "optionally with :port. The appliance needs the right time to talk to the console.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Ethernet0 and Ethernet1 have the same settings, under the prefixes eth0_ and eth1_.
        for prefix, label in INTERFACES:
            for suffix, field in _ethernet_fields(label).items():
                self.fields[f"{prefix}_{suffix}"] = field

    def _ethernet(self, prefix: str) -> dict:
        data = self.cleaned_data
        if data.get(f"{prefix}_connection") != "STATIC_IP":
            return {"ConnectionType": "DHCP"}
        info: dict[str, Any] = {}
        checks = [
            ("ip_address", "IpAddress", lambda v: check_ipv4(v, "The IP address")),
            ("mask", "Mask", check_mask),
            ("gateway", "DefaultGateway", lambda v: check_ipv4(v, "The default gateway")),
        ]
        for field, key, check in checks:
            name = f"{prefix}_{field}"
            if name in self.errors:
                continue
            value = (data.get(name) or "").strip()
            if not value:
                self.add_error(name, f"Give the {_WHAT[field]} for a static IP address.")
                continue
            try:
                info[key] = check(value)
            except ValueError as exc:
                self.add_error(name, str(exc))
        dns = _split(data.get(f"{prefix}_dns", ""))
        if not dns:
            self.add_error(f"{prefix}_dns", "Give 1 to 3 DNS servers for a static IP address.")
        elif len(dns) > MAX_DNS:
            self.add_error(f"{prefix}_dns", f"Give at most {MAX_DNS} DNS servers.")
        else:
            try:
                info["Dns"] = [check_ipv4(value, "Each DNS server") for value in dns]
            except ValueError as exc:
                self.add_error(f"{prefix}_dns", str(exc))
        if len(info) < 4:
            return {"ConnectionType": "STATIC_IP"}  # errors are attached already
        try:
            StaticIpInfo.model_validate(info)
        except PydanticError as exc:
            # The checks across fields: gateway outside the subnet, network/broadcast address.
            error = exc.errors()[0]
            message = str(error.get("ctx", {}).get("error") or error["msg"])
            field = "gateway" if "gateway" in message else "ip_address"
            self.add_error(f"{prefix}_{field}", message)
        return {"ConnectionType": "STATIC_IP", "StaticIpConnectionInfo": info}

    def clean(self) -> dict:
        cleaned = super().clean()
        payload: dict[str, Any] = {}
        for prefix, interface in INTERFACES:
            payload[interface] = self._ethernet(prefix)
        servers = [line.strip() for line in (cleaned.get("ntp_servers") or "").splitlines()]
        servers = [server for server in servers if server]
        if not servers:
            self.add_error(
                "ntp_servers",
                "Give at least one NTP server: the appliance signs its requests with the time, "
                "and the console refuses clocks that are more than 5 minutes off.",
            )
        elif len(servers) > MAX_NTP:
            self.add_error("ntp_servers", f"Give at most {MAX_NTP} NTP servers.")
        else:
            try:
                servers = [check_ntp_server(server) for server in servers]
            except ValueError as exc:
                self.add_error("ntp_servers", str(exc))
        payload["Ntp"] = {"NtpServers": servers}
        if not self.errors:
            cleaned["network"] = NetworkPayload.model_validate(payload).model_dump()
        return cleaned

    @staticmethod
    def initial_from(network: dict[str, Any]) -> dict[str, Any]:
        """Form data for a stored NetworkPayload (to show or re-edit it)."""
        initial: dict[str, Any] = {}
        for prefix, interface in INTERFACES:
            ethernet = network.get(interface) or {}
            initial[f"{prefix}_connection"] = ethernet.get("ConnectionType", "DHCP")
            info = ethernet.get("StaticIpConnectionInfo") or {}
            initial[f"{prefix}_ip_address"] = info.get("IpAddress", "")
            initial[f"{prefix}_mask"] = info.get("Mask", "")
            initial[f"{prefix}_gateway"] = info.get("DefaultGateway", "")
            initial[f"{prefix}_dns"] = ", ".join(info.get("Dns", []))
        servers = (network.get("Ntp") or {}).get("NtpServers", DEFAULT_NTP_SERVERS)
        initial["ntp_servers"] = "\n".join(servers)
        return initial


# --- the device page ----------------------------------------------------------------------------


class DeviceEditForm(forms.ModelForm):
    """Description and tags; the name is fixed when the device is created."""

    tags = TagsField(required=False, help_text=TAGS_HELP)

    class Meta:
        model = Device
        fields = ["description", "tags", "allow_plain_link_secrets"]
        labels = {"allow_plain_link_secrets": "Allow secrets over an unencrypted link"}
        help_texts = {
            "description": "Up to 255 characters.",
            "allow_plain_link_secrets": (
                "This appliance connects over plain ws:// from another machine. Camera "
                "passwords and runtime roles are sealed to its own key all the same, but the "
                "key itself was learned over that link: allow it only on a network you trust, "
                "or serve the console over HTTPS instead (docs/security.md)."
            ),
        }


class DeleteDeviceForm(forms.Form):
    confirm_name = forms.CharField(label="Type the device's name to confirm", max_length=255)

    def __init__(self, *args, device: Device, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.device = device

    def clean_confirm_name(self) -> str:
        typed = self.cleaned_data["confirm_name"].strip()
        if typed != self.device.name:
            raise ValidationError(
                f"Type the name exactly as it is, {self.device.name}, to delete the device."
            )
        return typed


class LogImageForm(forms.Form):
    image = forms.FileField(
        label="Log image",
        help_text="The panorama_device_log_v1_dd_hh_mm.img file the appliance wrote to its USB "
        "drive.",
    )


LEVEL_CHOICES = [("", "All levels")] + [(level, f"{level} and above") for level in DeviceLog.LEVELS]


class LogFilterForm(forms.Form):
    level = forms.ChoiceField(choices=LEVEL_CHOICES, required=False, label="Minimum level")
    source = forms.CharField(required=False, max_length=100, label="Source")


# --- jobs and software ----------------------------------------------------------------------------

BULK_ACTIONS = [("reboot", "Reboot"), ("update", "Install update"), ("tag", "Add tag")]


class BulkActionForm(forms.Form):
    """What the list's bulk bar (or a device page's buttons) asks for, before confirmation."""

    action = forms.ChoiceField(choices=BULK_ACTIONS)
    device = forms.ModelMultipleChoiceField(
        queryset=Device.objects.all(),
        to_field_name="device_id",
        error_messages={"required": "Choose at least one device."},
    )
    image_version = forms.ChoiceField(required=False, label="Version")
    allow_major_version_update = forms.BooleanField(
        required=False, label="Allow a major-version update"
    )
    tag_key = forms.CharField(required=False, max_length=128, label="Tag key")
    tag_value = forms.CharField(required=False, max_length=256, label="Tag value")
    next = forms.CharField(required=False, max_length=300)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        versions = SoftwareImage.objects.order_by("-major", "-minor", "-patch")
        self.fields["image_version"].choices = [("", "Choose a version")] + [
            (image.version, image.version) for image in versions
        ]

    def clean(self) -> dict:
        cleaned = super().clean()
        action = cleaned.get("action")
        if action == "update" and not cleaned.get("image_version"):
            self.add_error("image_version", "Choose the software version to install.")
        if action == "tag":
            try:
                cleaned["tags"] = validate_tags(
                    [(cleaned.get("tag_key", ""), cleaned.get("tag_value", ""))]
                )
            except ValidationError as exc:
                self.add_error("tag_key", exc)
        return cleaned

    @property
    def job_type(self) -> str | None:
        return {"reboot": JobType.REBOOT, "update": JobType.OTA}.get(self.cleaned_data["action"])


class SoftwareImageForm(forms.Form):
    file = forms.FileField(
        label="Release bundle",
        help_text="An agent release bundle (.tar.gz) holding vantage-release.json.",
    )
    version = forms.CharField(
        required=False,
        max_length=20,
        help_text="MAJOR.MINOR.PATCH, for example 1.4.2. Leave empty to take the bundle's own "
        "version; a version you type must equal it.",
    )
    notes = forms.CharField(
        required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 3})
    )
    required = forms.BooleanField(
        required=False,
        label="Required update",
        help_text="Every device with an older version shows an update prompt.",
    )
