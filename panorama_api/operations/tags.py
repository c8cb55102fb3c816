"""TagResource, UntagResource, ListTagsForResource: the tags of devices, node packages and
application instances, the very ``tags`` the console's pages show and its REST API edits."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from django.db import models, transaction

from applications.models import ApplicationInstance, NodePackage
from devices import live
from devices.models import Device
from panorama_api.arns import parse
from panorama_api.call import Call
from panorama_api.errors import NotFound
from panorama_api.operations.devices import check_tags
from panorama_api.operations.packages import get_package
from panorama_api.registry import operation

RESOURCE_TYPES = {"device": "device", "package": "package", "applicationInstance": "application"}


def _resource(call: Call, resource_arn: str) -> models.Model:
    """The resource ``resource_arn`` names, locked for the change; NotFound for anything else."""
    parsed = parse(resource_arn)
    kind, resource_id = parsed if parsed else ("", resource_arn)
    resource: models.Model | None = None
    if kind == "device":
        resource = Device.objects.select_for_update().filter(device_id=resource_id).first()
    elif kind == "applicationInstance":
        resource = (
            ApplicationInstance.objects.select_for_update()
            .filter(application_instance_id=resource_id)
            .first()
        )
    elif kind == "package":
        with suppress(NotFound):
            package = get_package(resource_id)
            resource = NodePackage.objects.select_for_update().get(pk=package.pk)
    if resource is None:
        raise NotFound(
            f"Resource {resource_arn} not found.",
            resource_arn,
            RESOURCE_TYPES.get(kind, "resource"),
        )
    return resource


def _save(resource: models.Model, tags: dict[str, str]) -> None:
    resource.tags = tags
    resource.save(update_fields=["tags", "updated"])
    if isinstance(resource, Device):
        live.device_updated(resource, ["details"])


@operation("TagResource")
def tag_resource(call: Call, *, ResourceArn: str, Tags: dict[str, str]) -> dict[str, Any]:
    with transaction.atomic():
        resource = _resource(call, ResourceArn)
        # Added keys replace the same keys' values; the whole set obeys the console's rules.
        _save(resource, check_tags({**(resource.tags or {}), **Tags}))
    return {}


@operation("UntagResource")
def untag_resource(call: Call, *, ResourceArn: str, TagKeys: list[str]) -> dict[str, Any]:
    with transaction.atomic():
        resource = _resource(call, ResourceArn)
        tags = dict(resource.tags or {})
        if any(key in tags for key in TagKeys):
            _save(resource, {k: v for k, v in tags.items() if k not in set(TagKeys)})
    return {}


@operation("ListTagsForResource")
def list_tags_for_resource(call: Call, *, ResourceArn: str) -> dict[str, Any]:
    with transaction.atomic():
        resource = _resource(call, ResourceArn)
    return {"Tags": dict(resource.tags or {})}
