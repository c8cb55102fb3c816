"""Application instances: deploy, follow, list, remove, pause and resume camera nodes.

The same code paths as the deploy wizard and the REST API (``applications/api/views.py``):
``deployments.request_deployment`` validates and records the instance and queues the Celery
workflow, ``deployments.remove`` and ``deployments.signal_nodes`` act on it, the console's
``ApplicationInstanceFilter`` filters the list (StatusFilter's PROCESSING_DEPLOYMENT and
PROCESSING_REMOVAL groups included) and its ``is_removable`` says what can still be removed.

How Panorama's members map onto Vantage:

- ``ManifestPayload.PayloadData`` / ``ManifestOverridesPayload.PayloadData``: the graph.json and
  override.json texts, stored byte for byte (DescribeApplicationInstanceDetails returns them).
  Every problem ``check_payloads`` finds comes back in one ValidationException
  (FIELD_VALIDATION_FAILED), one ``Fields`` entry per problem: ``Name`` is the member
  (``ManifestPayload.PayloadData``, ``ManifestOverridesPayload.PayloadData``,
  ``DefaultRuntimeContextDevice``, ``ApplicationInstanceIdToReplace``) and ``Message`` starts
  with the JSON pointer of the place in the document (``/nodeGraph/packages/1: …``).
- ``DefaultRuntimeContextDevice``: a device ID. CreateApplicationInstance models no
  ResourceNotFoundException, so an unknown device (like an unknown
  ``ApplicationInstanceIdToReplace`` or ``RuntimeRoleArn``) is a ValidationException naming the
  member; a device that is not provisioned yet is one too (the workflow's own check).
- ``RuntimeRoleArn``: Vantage's runtime roles (``RuntimeRole``, the environment an application
  receives) are named, not IAM roles. ``arn:aws:iam::<account>:role/<path/><name>`` names the
  runtime role ``<name>`` (the account is not checked, so scripts written for AWS work once the
  role exists under that name); Describe answers with ``arn:aws:iam::<this console's
  account>:role/<name>``.
- ``Name`` is optional in the model; without one the instance is named
  ``app-<UTC date>-<time>``.
- Quotas (applications per device, deployments per device per day, camera streams per
  application) → ServiceQuotaExceededException (402) whose ``QuotaCode`` is the setting's name.
- An unknown application instance ID is a ResourceNotFoundException (ResourceType
  ``applicationInstance``), except in SignalApplicationInstanceNodeInstances, whose model lists
  no ResourceNotFoundException: there it is a ValidationException on ``ApplicationInstanceId``.
  (ListApplicationInstanceDependencies and ListApplicationInstanceNodeInstances model no error
  that fits either; they answer ResourceNotFoundException, which boto3 parses all the same.)
- RemoveApplicationInstance of an instance already removed, being removed or whose deployment
  failed → ConflictException, as the console's page refuses it.
- Package dependencies and node instances are known once the workflow validated the payloads
  (DEPLOYMENT_REQUESTED onwards); before that both lists are empty.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db import transaction

from applications import deployments
from applications.filters import ApplicationInstanceFilter
from applications.models import ApplicationInstance, RuntimeRole
from applications.resolve import DeployRefused, PayloadError
from core import errors as domain
from devices.models import Device
from panorama_api.arns import arn
from panorama_api.call import Call
from panorama_api.errors import Conflict, NotFound, QuotaExceeded, ValidationError
from panorama_api.pagination import page
from panorama_api.registry import operation

RESOURCE_TYPE = "applicationInstance"
MANIFEST = "ManifestPayload.PayloadData"
OVERRIDES = "ManifestOverridesPayload.PayloadData"
# Which request member each document of a refused deployment is about.
MEMBER_OF_DOCUMENT = {
    "manifest": MANIFEST,
    "overrides": OVERRIDES,
    "device": "DefaultRuntimeContextDevice",
    "replaces": "ApplicationInstanceIdToReplace",
}


# --- helpers ------------------------------------------------------------------------------------


def _instances():
    return ApplicationInstance.objects.select_related("device", "runtime_role", "replaces")


def _get(instance_id: str) -> ApplicationInstance:
    instance = _instances().filter(application_instance_id=instance_id).first()
    if instance is None:
        raise NotFound(f"Application instance {instance_id} not found.", instance_id, RESOURCE_TYPE)
    return instance


def _compact(values: dict[str, Any]) -> dict[str, Any]:
    """Leave out what has no value (most of the model's strings have a minimum length of 1);
    empty lists, maps and payloads stay."""
    return {key: value for key, value in values.items() if value not in (None, "")}


def runtime_role_arn(role: RuntimeRole, account: str) -> str:
    return f"arn:aws:iam::{account}:role/{role.name}"


def _runtime_role(role_arn: str | None) -> RuntimeRole | None:
    """The runtime role an IAM role ARN names (by its name, the last part of the path)."""
    if not role_arn:
        return None
    name = role_arn.rsplit("/", 1)[-1]
    role = RuntimeRole.objects.filter(name=name).first()
    if role is None:
        known = ", ".join(RuntimeRole.objects.values_list("name", flat=True)[:10]) or "none yet"
        raise ValidationError(
            f"No runtime role {name} on this console.",
            fields=[
                (
                    "RuntimeRoleArn",
                    f"names runtime role {name!r}, which does not exist (runtime roles: {known}); "
                    "an administrator creates them under Settings.",
                )
            ],
        )
    return role


def _field(error: PayloadError) -> tuple[str, str]:
    message = f"{error.path}: {error.message}" if error.path else error.message
    if error.hint:
        message = f"{message} ({error.hint})"
    return MEMBER_OF_DOCUMENT.get(error.document, error.document), message


def _runtime_context_states(instance: ApplicationInstance) -> list[dict[str, Any]]:
    """What the device last reported (all four members are required: none before a report)."""
    if not instance.reported_status or instance.reported_at is None:
        return []
    return [
        {
            "DesiredState": instance.desired_state,
            "DeviceReportedStatus": instance.reported_status,
            "DeviceReportedTime": instance.reported_at,
            "RuntimeContextName": instance.device.name,
        }
    ]


def _summary(instance: ApplicationInstance) -> dict[str, Any]:
    """The members ListApplicationInstances and DescribeApplicationInstance share."""
    return _compact(
        {
            "Name": instance.name,
            "ApplicationInstanceId": instance.application_instance_id,
            "Arn": arn("applicationInstance", instance.application_instance_id),
            "DefaultRuntimeContextDevice": instance.device.device_id,
            "DefaultRuntimeContextDeviceName": instance.device.name,
            "Description": instance.description,
            "Status": instance.status,
            "HealthStatus": instance.health_status,
            "StatusDescription": instance.status_description,
            "CreatedTime": instance.created,
            "Tags": dict(instance.tags or {}),
            "RuntimeContextStates": _runtime_context_states(instance),
        }
    )


# --- operations ---------------------------------------------------------------------------------


@operation("CreateApplicationInstance")
def create_application_instance(
    call: Call,
    *,
    DefaultRuntimeContextDevice: str,
    ManifestPayload: dict[str, str],
    ManifestOverridesPayload: dict[str, str] | None = None,
    Name: str | None = None,
    Description: str = "",
    RuntimeRoleArn: str | None = None,
    ApplicationInstanceIdToReplace: str | None = None,
    Tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    manifest_text = (ManifestPayload or {}).get("PayloadData")
    if not manifest_text:
        raise ValidationError(
            "ManifestPayload needs PayloadData: the application's graph.json.",
            fields=[(MANIFEST, "is required")],
        )
    overrides_text = (ManifestOverridesPayload or {}).get("PayloadData") or ""
    device = Device.objects.filter(device_id=DefaultRuntimeContextDevice).first()
    if device is None:
        raise ValidationError(
            f"No device {DefaultRuntimeContextDevice}.",
            fields=[("DefaultRuntimeContextDevice", "is not the ID of a device of this console")],
        )
    replaces = None
    if ApplicationInstanceIdToReplace:
        replaces = ApplicationInstance.objects.filter(
            application_instance_id=ApplicationInstanceIdToReplace
        ).first()
        if replaces is None:
            raise ValidationError(
                f"No application instance {ApplicationInstanceIdToReplace} to replace.",
                fields=[("ApplicationInstanceIdToReplace", "is not an application instance ID")],
            )
    role = _runtime_role(RuntimeRoleArn)
    name = Name or f"app-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    try:
        instance = deployments.request_deployment(
            name=name,
            description=Description or "",
            device=device,
            manifest_text=manifest_text,
            overrides_text=overrides_text,
            runtime_role=role,
            replaces=replaces,
            tags=Tags or {},
            user=call.user,
        )
    except DeployRefused as refused:
        count = len(refused.errors)
        raise ValidationError(
            f"The deployment was refused ({count} problem{'s' if count != 1 else ''}): {refused}",
            fields=[_field(error) for error in refused.errors],
        ) from None
    except domain.QuotaExceeded as exceeded:
        raise QuotaExceeded(exceeded.message, exceeded.quota, device.device_id, "device") from None
    return {"ApplicationInstanceId": instance.application_instance_id}


@operation("DescribeApplicationInstance")
def describe_application_instance(call: Call, *, ApplicationInstanceId: str) -> dict[str, Any]:
    instance = _get(ApplicationInstanceId)
    return _summary(instance) | _compact(
        {
            "LastUpdatedTime": instance.updated,
            "ApplicationInstanceIdToReplace": instance.replaces.application_instance_id
            if instance.replaces
            else None,
            "RuntimeRoleArn": runtime_role_arn(instance.runtime_role, call.account)
            if instance.runtime_role
            else None,
        }
    )


@operation("DescribeApplicationInstanceDetails")
def describe_application_instance_details(
    call: Call, *, ApplicationInstanceId: str
) -> dict[str, Any]:
    instance = _get(ApplicationInstanceId)
    return _compact(
        {
            "Name": instance.name,
            "ApplicationInstanceId": instance.application_instance_id,
            "DefaultRuntimeContextDevice": instance.device.device_id,
            "CreatedTime": instance.created,
            "ApplicationInstanceIdToReplace": instance.replaces.application_instance_id
            if instance.replaces
            else None,
            "Description": instance.description,
            "ManifestPayload": {"PayloadData": instance.manifest_payload},
            "ManifestOverridesPayload": {"PayloadData": instance.overrides_payload},
        }
    )


@operation("ListApplicationInstances")
def list_application_instances(
    call: Call,
    *,
    DeviceId: str | None = None,
    StatusFilter: str | None = None,
    MaxResults: int | None = None,
    NextToken: str | None = None,
) -> dict[str, Any]:
    # The console's own filter: ``status`` takes StatusFilter values with their two groups.
    query = {"device": DeviceId or "", "status": StatusFilter or ""}
    filtered = ApplicationInstanceFilter(query, queryset=_instances().order_by("-created", "-pk"))
    if not filtered.is_valid():
        if "device" in filtered.errors:  # a device that is not there has no instances
            return {"ApplicationInstances": []}
        raise ValidationError(
            "The filter is not valid.",
            fields=[("StatusFilter", "; ".join(filtered.errors.get("status", [])))],
        )
    items, token = page(filtered.qs, MaxResults, NextToken, "ListApplicationInstances")
    return _compact(
        {"ApplicationInstances": [_summary(item) for item in items], "NextToken": token}
    )


@operation("ListApplicationInstanceDependencies")
def list_application_instance_dependencies(
    call: Call,
    *,
    ApplicationInstanceId: str,
    MaxResults: int | None = None,
    NextToken: str | None = None,
) -> dict[str, Any]:
    instance = _get(ApplicationInstanceId)
    packages = (
        instance.node_instances.exclude(package_name="")
        .exclude(package_version="")
        .exclude(patch_version="")
        .order_by("package_name", "package_version", "patch_version")
        .values_list("package_name", "package_version", "patch_version")
        .distinct()
    )
    items, token = page(
        list(packages), MaxResults, NextToken, "ListApplicationInstanceDependencies"
    )
    objects = [
        {"Name": name, "PackageVersion": version, "PatchVersion": patch}
        for name, version, patch in items
    ]
    return _compact({"NextToken": token}) | {"PackageObjects": objects}


@operation("ListApplicationInstanceNodeInstances")
def list_application_instance_node_instances(
    call: Call,
    *,
    ApplicationInstanceId: str,
    MaxResults: int | None = None,
    NextToken: str | None = None,
) -> dict[str, Any]:
    instance = _get(ApplicationInstanceId)
    items, token = page(
        instance.node_instances.order_by("id"),
        MaxResults,
        NextToken,
        "ListApplicationInstanceNodeInstances",
    )
    nodes = [
        _compact(
            {
                "NodeInstanceId": node.node_instance_id,
                "NodeId": node.node_id,
                "PackageName": node.package_name,
                "PackageVersion": node.package_version,
                "PackagePatchVersion": node.patch_version,
                "NodeName": node.node_name,
                "CurrentStatus": node.current_status,
            }
        )
        for node in items
    ]
    return _compact({"NextToken": token}) | {"NodeInstances": nodes}


@operation("RemoveApplicationInstance")
def remove_application_instance(call: Call, *, ApplicationInstanceId: str) -> dict[str, Any]:
    instance = _get(ApplicationInstanceId)
    if not instance.is_removable:
        raise Conflict(
            f"{instance.name} is {instance.status}: it is already removed or being removed, "
            "or its deployment failed.",
            instance.application_instance_id,
            RESOURCE_TYPE,
        )
    deployments.remove(instance)
    return {}


@operation("SignalApplicationInstanceNodeInstances")
def signal_application_instance_node_instances(
    call: Call, *, ApplicationInstanceId: str, NodeSignals: list[dict[str, str]]
) -> dict[str, Any]:
    instance = _instances().filter(application_instance_id=ApplicationInstanceId).first()
    if instance is None:  # the model lists no ResourceNotFoundException here
        raise ValidationError(
            f"Application instance {ApplicationInstanceId} not found.",
            fields=[("ApplicationInstanceId", "is not the ID of an application instance")],
        )
    signals = [(signal["NodeInstanceId"], signal["Signal"]) for signal in NodeSignals]
    try:
        with transaction.atomic():
            deployments.signal_nodes(instance, signals)
    except domain.SignalRefused as exc:
        raise ValidationError(str(exc), fields=[("NodeSignals", str(exc))]) from None
    return {"ApplicationInstanceId": instance.application_instance_id}
