"""Registering node packages and their patch versions (the one code path for UI, API and CLI)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from applications.cameranodes import split_secrets
from applications.compiles import compile_patch
from applications.models import (
    ApplicationInstance,
    Asset,
    NodeInterface,
    NodePackage,
    PackageVersion,
    PatchAsset,
    PatchVersion,
)
from applications.tasks import start_compile
from core.status import PackageVersionStatus
from core.storage import asset_storage
from manifests import ValidationError, validate_package
from manifests.catalog import interface_category


class PackageRejected(Exception):
    """The package cannot be registered; ``errors`` says every reason, with its place."""

    def __init__(self, errors: list[ValidationError]) -> None:
        super().__init__("; ".join(f"{e.path or '/'}: {e.message}" for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class Registered:
    patch: PatchVersion
    created: bool  # False: these exact package.json bytes were registered before


def patch_of(manifest_bytes: bytes) -> str:
    """A patch version is the sha256 of the package.json bytes (spec §1)."""
    return hashlib.sha256(manifest_bytes).hexdigest()


ASSET_URI = re.compile(r"^(?P<sha>[0-9a-f]{64})\.[A-Za-z0-9.]+$")


def _stored_assets(document: dict) -> tuple[list[tuple[str, Asset]], list[ValidationError]]:
    """The store's assets that package.json names, and an error for each one not uploaded."""
    found: list[tuple[str, Asset]] = []
    missing: list[ValidationError] = []
    for a, asset in enumerate(document["nodePackage"].get("assets", [])):
        for i, implementation in enumerate(asset.get("implementations", [])):
            if implementation.get("type") == "system":
                continue
            for field in ("assetUri", "descriptorUri"):
                uri = implementation.get(field)
                if uri is None:
                    continue
                path = f"/nodePackage/assets/{a}/implementations/{i}/{field}"
                match = ASSET_URI.match(uri)
                stored = Asset.objects.filter(sha256=match["sha"]).first() if match else None
                if stored is not None and not asset_storage().exists(stored.storage_name):
                    stored = None  # the row outlived its file: upload again
                if stored is None:
                    missing.append(
                        ValidationError(
                            path,
                            f"asset {uri!r} is not in the asset store"
                            if match
                            else f"{uri!r} is not named <sha256>.<extension>",
                            "upload it first (vantage-cli package-application does), "
                            "PUT /api/assets/<sha256>/",
                        )
                    )
                else:
                    found.append((asset["name"], stored))
    return found, missing


def _quota_errors(account_id: str, name: str, version: str) -> list[ValidationError]:
    package = NodePackage.objects.filter(account_id=account_id, name=name).first()
    if package is None:
        if NodePackage.objects.filter(account_id=account_id).count() >= settings.PACKAGE_QUOTA:
            return [
                ValidationError(
                    "/nodePackage/name",
                    f"this installation has {settings.PACKAGE_QUOTA} packages, the most allowed",
                    "delete packages you no longer use, or raise PACKAGE_QUOTA",
                )
            ]
        return []
    versions = package.versions.exclude(version=version).count()
    if not package.versions.filter(version=version).exists() and versions >= settings.VERSION_QUOTA:
        return [
            ValidationError(
                "/nodePackage/version",
                f"You've reached the maximum number of versions for package {name}.",
                f"deregister unused package versions ({settings.VERSION_QUOTA} allowed, "
                "VERSION_QUOTA) and try again",
            )
        ]
    return []


@transaction.atomic
def register_patch(
    *, account_id: str, name: str, version: str, manifest_bytes: bytes, mark_latest: bool = True
) -> Registered:
    """Register a package.json as a patch version of ``<account_id>::<name>`` ``version``."""
    errors = validate_package(manifest_bytes)
    if errors:
        raise PackageRejected(errors)
    document = json.loads(manifest_bytes)
    errors = [
        ValidationError(
            f"/nodePackage/{field}",
            f"package.json says {field} {stated!r}, but it is being registered as {wanted!r}",
            f"make them agree, or leave {field} out of package.json",
        )
        for field, wanted in (("name", name), ("version", version))
        if (stated := document["nodePackage"].get(field)) is not None and stated != wanted
    ] or _quota_errors(account_id, name, version)
    stored, missing = _stored_assets(document)
    errors += missing
    if errors:
        raise PackageRejected(errors)
    package, _ = NodePackage.objects.get_or_create(
        account_id=account_id,
        name=name,
        defaults={"description": document["nodePackage"].get("description", "")[:255]},
    )
    package_version, _ = PackageVersion.objects.get_or_create(package=package, version=version)
    # A camera package's credentials are kept encrypted, never in the stored text or ports.
    kept, secrets = split_secrets(document)
    patch, created = PatchVersion.objects.get_or_create(
        package_version=package_version,
        patch=patch_of(manifest_bytes),
        defaults={
            "manifest_text": json.dumps(kept, indent=4)
            if secrets
            else manifest_bytes.decode("utf-8")
        },
    )
    if created:
        for asset_name, asset in stored:
            PatchAsset.objects.get_or_create(patch=patch, asset=asset, name=asset_name)
        body = kept["nodePackage"]
        for interface in body["interfaces"]:
            category = str(interface_category(body, interface))  # validated: never None
            username, password = (
                secrets[interface["name"]].encrypted() if interface["name"] in secrets else ("", "")
            )
            NodeInterface.objects.create(
                patch=patch,
                name=interface["name"],
                category=category.upper().replace("DATA_SINK", "MEDIA_SINK"),
                description=interface.get("description", "")[:255],
                asset_name=interface.get("asset", ""),
                inputs=interface.get("inputs", []),
                outputs=interface.get("outputs", []),
                inbound_ports=interface.get("network", {}).get("inboundPorts", []),
                stream_username_encrypted=username,
                stream_password_encrypted=password,
            )
        patch.status = PackageVersionStatus.REGISTER_COMPLETED
        patch.registered = timezone.now()
        patch.save(update_fields=["status", "registered"])
        # A model in a framework's own format: compiled now, ready for the first deployment.
        for compiled in compile_patch(patch):
            start_compile(compiled)
    if mark_latest and not patch.is_latest:
        make_latest(patch)
    return Registered(patch, created=created)


@transaction.atomic
def make_latest(patch: PatchVersion) -> None:
    """Mark a registered patch the latest of its version (the others no longer are)."""
    # Lock the version's patches so two callers cannot both end up latest.
    list(PatchVersion.objects.select_for_update().filter(package_version=patch.package_version))
    PatchVersion.objects.filter(package_version=patch.package_version, is_latest=True).exclude(
        pk=patch.pk
    ).update(is_latest=False)
    PatchVersion.objects.filter(pk=patch.pk).update(is_latest=True)
    patch.is_latest = True


class PatchInUse(Exception):
    """A patch that application instances use cannot be deregistered."""


@transaction.atomic
def deregister_patch(patch: PatchVersion) -> None:
    """Remove a registered patch version (DeregisterPackageVersion).

    Refused while application instances use it (they arrive with deployments); the assets stay
    in the store, since other patches may share them.
    """
    users = patch_users(patch)
    if users:
        raise PatchInUse(
            f"patch {patch.patch[:12]}… of {patch.package_version} is used by "
            f"{', '.join(users)}; remove those application instances first"
        )
    patch.delete()


@transaction.atomic
def delete_package(package: NodePackage) -> None:
    """Delete a package with all its versions and patches (DeletePackage); refused while used."""
    users = sorted(
        {user for patch in PatchVersion.objects.filter(package_version__package=package)
         for user in patch_users(patch)}
    )  # fmt: skip
    if users:
        raise PatchInUse(
            f"{package.full_name} is used by {', '.join(users)}; remove those application "
            "instances first"
        )
    package.delete()


def patch_users(patch: PatchVersion) -> list[str]:
    """Names of the active application instances (not removed, not failed) that use a patch."""
    package = patch.package_version.package
    return sorted(
        ApplicationInstance.objects.active()
        .filter(
            node_instances__package_name=package.name,
            node_instances__package_version=patch.package_version.version,
            node_instances__patch_version=patch.patch,
        )
        .distinct()
        .values_list("name", flat=True)
    )
