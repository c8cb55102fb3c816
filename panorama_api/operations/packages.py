"""Node packages: CreatePackage, DescribePackage, ListPackages, DeletePackage and the patch
versions (RegisterPackageVersion, DeregisterPackageVersion, DescribePackageVersion).

One implementation, two front doors: registering, deregistering and deleting are
``applications.registry``'s, as for the REST API and vantage-cli. A package.json reaches the
console as an asset (``PUT /api/assets/<sha256>/``, or the S3 store itself): the asset store keeps
it, like every asset, under the sha256 of its bytes, which is the patch version itself, so
RegisterPackageVersion finds the manifest of patch ``<sha256>`` at ``assets/<sha[:2]>/<sha256>``.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction

from applications.assets import open_asset, storage_name, store_asset
from applications.models import Asset, NodePackage, PatchVersion
from applications.registry import (
    PackageRejected,
    PatchInUse,
    _quota_errors,
    delete_package,
    deregister_patch,
    make_latest,
    register_patch,
)
from core.models import Installation
from core.storage import asset_storage
from panorama_api.arns import arn
from panorama_api.call import Call
from panorama_api.errors import Conflict, NotFound, ValidationError
from panorama_api.operations.devices import check_tags
from panorama_api.pagination import page
from panorama_api.registry import operation

ALIAS = "packageName/"  # DescribePackage --package-id packageName/<name> (panorama-cli does)
SHA256 = re.compile(r"^[0-9a-f]{64}$")
PACKAGE = "package"
PACKAGE_VERSION = "packageVersion"


# --- shared with nodes.py, templates.py, imports.py and tags.py -----------------------------------


def present(members: dict[str, Any]) -> dict[str, Any]:
    """Leave out what we do not know (None or ""): the model's strings have min 1."""
    return {k: v for k, v in members.items() if v is not None and v != ""}


def account_id() -> str:
    return Installation.get().account_id


def package_arn(package: NodePackage) -> str:
    return arn("package", package.package_id)


def get_package(package_id: str) -> NodePackage:
    """A package of this installation by PackageId, or by the alias ``packageName/<name>``."""
    packages = NodePackage.objects.filter(account_id=account_id())
    if package_id.startswith(ALIAS):
        package = packages.filter(name=package_id[len(ALIAS) :]).first()
    else:
        package = packages.filter(package_id=package_id).first()
    if package is None:
        raise NotFound(f"Package {package_id} not found.", package_id, PACKAGE)
    return package


def check_owner(owner_account: str | None, member: str = "OwnerAccount") -> None:
    """Packages here all belong to this installation's account."""
    if owner_account is not None and owner_account != account_id():
        raise ValidationError(
            f"Account {owner_account} owns no packages on this console; its account is "
            f"{account_id()}.",
            fields=[(member, f"not this console's account ({account_id()})")],
        )


def check_patch_version(patch_version: str, member: str = "PatchVersion") -> str:
    if not SHA256.match(patch_version):
        raise ValidationError(
            f"Patch version {patch_version} is not a sha256 (64 lowercase hex digits).",
            fields=[(member, "a patch version is the sha256 of the package.json bytes")],
        )
    return patch_version


def rejected(exc: PackageRejected, what: str) -> ValidationError:
    """The registry's reasons, each with its place in package.json, as one ValidationException."""
    fields = [
        (f"package.json{error.path}", error.message + (f" ({error.hint})" if error.hint else ""))
        for error in exc.errors
    ]
    return ValidationError(f"{what} was refused: {exc}", fields=fields)


def add_job_tags(package: NodePackage, job_tags: list[dict[str, Any]] | None) -> None:
    """JobTags of ResourceType PACKAGE go onto the package the job made."""
    tags = dict(package.tags or {})
    for item in job_tags or []:
        tags.update(item.get("Tags") or {})
    if tags != (package.tags or {}):
        package.tags = tags
        package.save(update_fields=["tags", "updated"])


def check_job_tags(job_tags: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    checked = []
    for i, item in enumerate(job_tags or []):
        tags = check_tags(item.get("Tags") or {}, f"JobTags[{i}].Tags")
        checked.append({"ResourceType": item.get("ResourceType", "PACKAGE"), "Tags": tags})
    return checked


def storage_location() -> dict[str, str]:
    """Where the asset store keeps a package's files: every asset and package.json under
    ``<prefix>/<sha256[:2]>/<sha256>``, shared by all packages (content-addressed)."""
    storage = asset_storage()
    folder = storage_name("0" * 64).split("/")[0]
    bucket = getattr(storage, "bucket_name", None)
    if bucket:  # S3: s3://<bucket>/<location>/assets/…
        location = (getattr(storage, "location", "") or "").strip("/")
        prefix = f"{location}/{folder}" if location else folder
    else:  # a folder: <location>/assets/…
        bucket, prefix = str(storage.location), folder
    return {
        "Bucket": bucket,
        "RepoPrefixLocation": prefix,
        "GeneratedPrefixLocation": prefix,
        "BinaryPrefixLocation": prefix,
        "ManifestPrefixLocation": prefix,
    }


def find_patch(package: NodePackage, version: str, patch_version: str | None) -> PatchVersion:
    """A patch of ``package`` ``version``: the one named, or the latest."""
    patches = PatchVersion.objects.filter(
        package_version__package=package, package_version__version=version
    ).select_related("package_version__package")
    patch = (
        patches.filter(patch=patch_version).first()
        if patch_version
        else patches.filter(is_latest=True).first()
    )
    if patch is None:
        what = f"patch {patch_version}" if patch_version else "patch marked latest"
        resource = f"{package.name}/{version}" + (f"/{patch_version}" if patch_version else "")
        raise NotFound(
            f"Package {package.name} version {version} has no {what}.", resource, PACKAGE_VERSION
        )
    return patch


def stored_manifest(patch_version: str) -> bytes:
    """The package.json of ``patch_version`` from the asset store (stored under its sha256)."""
    storage = asset_storage()
    asset = Asset.objects.filter(sha256=patch_version).first()
    if asset is None or not storage.exists(asset.storage_name):
        name = storage_name(patch_version)
        if not storage.exists(name):
            where = storage_location()
            raise ValidationError(
                f"The package.json of patch version {patch_version} is not in the asset store. "
                f"Upload it first (PUT /api/assets/{patch_version}/, as vantage-cli "
                f"package-application does), or put it at {where['Bucket']}/"
                f"{where['ManifestPrefixLocation']}/{patch_version[:2]}/{patch_version}.",
                fields=[("PatchVersion", "no package.json with this sha256 in the asset store")],
            )
        with storage.open(name, "rb") as handle:  # put there directly (S3): record it
            asset = store_asset(handle, filename=patch_version, expected_sha256=patch_version).asset
    with open_asset(asset) as handle:
        return handle.read()


def _package(package: NodePackage) -> dict[str, Any]:
    return {
        "PackageId": package.package_id,
        "PackageName": package.name,
        "Arn": package_arn(package),
        "CreatedTime": package.created,
        "Tags": dict(package.tags or {}),
    }


# --- the operations -------------------------------------------------------------------------------


@operation("CreatePackage")
def create_package(
    call: Call, *, PackageName: str, Tags: dict[str, str] | None = None
) -> dict[str, Any]:
    """An empty package (patches come with RegisterPackageVersion); the same name again gives
    the same package, with the tags given added."""
    tags = check_tags(Tags or {})
    account = account_id()
    with transaction.atomic():
        package = (
            NodePackage.objects.select_for_update()
            .filter(account_id=account, name=PackageName)
            .first()
        )
        if package is None:
            errors = _quota_errors(account, PackageName, "")
            if errors:
                raise ValidationError(
                    f"{errors[0].message} ({errors[0].hint})",
                    fields=[("PackageName", errors[0].message)],
                )
            package = NodePackage.objects.create(account_id=account, name=PackageName, tags=tags)
        elif tags:
            add_job_tags(package, [{"Tags": tags}])
    return {
        "PackageId": package.package_id,
        "Arn": package_arn(package),
        "StorageLocation": storage_location(),
    }


@operation("DescribePackage")
def describe_package(call: Call, *, PackageId: str) -> dict[str, Any]:
    package = get_package(PackageId)
    return {**_package(package), "StorageLocation": storage_location()}


@operation("ListPackages")
def list_packages(
    call: Call, *, MaxResults: int | None = None, NextToken: str | None = None
) -> dict[str, Any]:
    packages = NodePackage.objects.filter(account_id=account_id()).order_by("name", "pk")
    chunk, token = page(packages, MaxResults, NextToken, "ListPackages")
    return present({"Packages": [_package(p) for p in chunk], "NextToken": token})


@operation("DeletePackage")
def delete_package_operation(
    call: Call, *, PackageId: str, ForceDelete: bool = False
) -> dict[str, Any]:
    """Without ForceDelete a package with registered patch versions stays; with it they go too.
    Either way it is refused while an application instance uses one (as the console refuses).
    Assets stay in the store: they are shared by content with other packages."""
    package = get_package(PackageId)
    patches = PatchVersion.objects.filter(package_version__package=package).count()
    if patches and not ForceDelete:
        raise Conflict(
            f"Package {package.name} has {patches} registered patch version(s); deregister "
            "them, or delete with ForceDelete.",
            package.package_id,
            PACKAGE,
        )
    try:
        delete_package(package)
    except PatchInUse as in_use:
        raise Conflict(str(in_use), package.package_id, PACKAGE) from None
    return {}


@operation("RegisterPackageVersion")
def register_package_version(
    call: Call,
    *,
    PackageId: str,
    PackageVersion: str,
    PatchVersion: str,
    MarkLatest: bool = False,
    OwnerAccount: str | None = None,
) -> dict[str, Any]:
    check_owner(OwnerAccount)
    package = get_package(PackageId)
    manifest = stored_manifest(check_patch_version(PatchVersion))
    try:
        register_patch(
            account_id=package.account_id,
            name=package.name,
            version=PackageVersion,
            manifest_bytes=manifest,
            mark_latest=MarkLatest,
        )
    except PackageRejected as exc:
        raise rejected(exc, f"Patch version {PatchVersion} of {package.name}") from None
    return {}


@operation("DeregisterPackageVersion")
def deregister_package_version(
    call: Call,
    *,
    PackageId: str,
    PackageVersion: str,
    PatchVersion: str,
    OwnerAccount: str | None = None,
    UpdatedLatestPatchVersion: str | None = None,
) -> dict[str, Any]:
    check_owner(OwnerAccount)
    package = get_package(PackageId)
    patch = find_patch(package, PackageVersion, check_patch_version(PatchVersion))
    with transaction.atomic():
        successor = None
        if UpdatedLatestPatchVersion:
            check_patch_version(UpdatedLatestPatchVersion, "UpdatedLatestPatchVersion")
            if UpdatedLatestPatchVersion == PatchVersion:
                raise ValidationError(
                    "The patch version being deregistered cannot become the latest.",
                    fields=[("UpdatedLatestPatchVersion", "names the patch being deregistered")],
                )
            successor = find_patch(package, PackageVersion, UpdatedLatestPatchVersion)
        try:
            deregister_patch(patch)
        except PatchInUse as in_use:
            raise Conflict(
                str(in_use), f"{package.name}/{PackageVersion}/{PatchVersion}", PACKAGE_VERSION
            ) from None
        if successor is not None:
            make_latest(successor)
    return {}


@operation("DescribePackageVersion")
def describe_package_version(
    call: Call,
    *,
    PackageId: str,
    PackageVersion: str,
    PatchVersion: str | None = None,
    OwnerAccount: str | None = None,
) -> dict[str, Any]:
    check_owner(OwnerAccount)
    package = get_package(PackageId)
    patch = find_patch(package, PackageVersion, PatchVersion)
    return present(
        {
            "OwnerAccount": package.account_id,
            "PackageId": package.package_id,
            "PackageArn": package_arn(package),
            "PackageName": package.name,
            "PackageVersion": patch.package_version.version,
            "PatchVersion": patch.patch,
            "IsLatestPatch": patch.is_latest,
            "Status": patch.status,
            "StatusDescription": patch.status_description,
            "RegisteredTime": patch.registered,
        }
    )
