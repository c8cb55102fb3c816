"""The content-addressed asset store, on Django's storage API (a folder, or S3 via boto3).

An asset is stored under the sha256 of its bytes, once, whoever uploads it. Uploads are read
in chunks and hashed while they are spooled to a temporary file, so a file of several GB never
sits in memory, and nothing reaches the store unless its hash is the one announced.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from dataclasses import dataclass
from typing import Any, BinaryIO

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage
from django.db import IntegrityError, transaction
from django.db.models import Sum

from applications.models import Asset, PatchVersion
from core.storage import asset_storage

CHUNK_SIZE = 1024 * 1024


class AssetHashMismatch(Exception):
    """The bytes received are not the bytes announced: nothing was stored."""

    def __init__(self, filename: str, expected: str, actual: str) -> None:
        super().__init__(
            f"{filename}: the upload's sha256 is {actual}, but {expected} was announced; "
            "the file was changed or cut short on the way. Nothing was stored."
        )
        self.filename, self.expected, self.actual = filename, expected, actual


class AssetTooLarge(Exception):
    """The upload is over the size limit or the store's quota: nothing was stored."""

    def __init__(self, limit: tuple[int, str]) -> None:
        super().__init__(limit[1])
        self.limit_bytes = limit[0]


MIB = 1024 * 1024
GIB = 1024 * MIB
UPLOAD_PATH = re.compile(r"^/api/assets/(?P<sha256>[^/]+)/$")


def asset_quota_left() -> int | None:
    """Bytes the asset store has left of ASSET_QUOTA_GIB; None: no quota."""
    if not settings.ASSET_QUOTA_GIB:
        return None
    used = Asset.objects.aggregate(total=Sum("size"))["total"] or 0
    return max(0, settings.ASSET_QUOTA_GIB * GIB - used)


def upload_limit(sha256: str) -> tuple[int, str] | None:
    """The most bytes an upload of ``sha256`` may have, and the sentence that refuses more.

    Two limits: ``ASSET_MAX_MIB`` per asset, and ``ASSET_QUOTA_GIB`` for the whole store (the
    installation's one account), which an asset already stored does not count against again.
    0 turns either off. None: no limit applies.
    """
    limits: list[tuple[int, str]] = []
    if settings.ASSET_MAX_MIB:
        limits.append(
            (
                settings.ASSET_MAX_MIB * MIB,
                f"An asset may be at most {settings.ASSET_MAX_MIB} MiB (ASSET_MAX_MIB); "
                "nothing was stored.",
            )
        )
    left = asset_quota_left()
    if left is not None and not Asset.objects.filter(sha256=sha256).exists():
        limits.append(
            (
                left,
                f"The upload would exceed the asset store's quota of {settings.ASSET_QUOTA_GIB} "
                "GiB (ASSET_QUOTA_GIB); delete unused packages or raise the quota. "
                "Nothing was stored.",
            )
        )
    return min(limits) if limits else None


async def asset_upload_limit(scope: dict[str, Any]) -> tuple[int, str] | None:
    """For core.bodylimit in front of Django: the limit of an asset upload (``PUT
    /api/assets/<sha256>/``, what vantage-cli sends), None for every other request."""
    if scope.get("method") != "PUT":
        return None
    match = UPLOAD_PATH.match(scope.get("path", ""))
    if match is None:
        return None
    return await sync_to_async(upload_limit)(match["sha256"])


@dataclass(frozen=True)
class Stored:
    asset: Asset
    created: bool  # False: the store had these bytes already (deduplicated)


def storage_name(sha256: str) -> str:
    # Two levels of fan-out keep folders (and S3 listings) small.
    return f"assets/{sha256[:2]}/{sha256}"


def store_asset(
    stream: BinaryIO,
    *,
    filename: str,
    expected_sha256: str | None = None,
    storage: Storage | None = None,
    limit: tuple[int, str] | None = None,
) -> Stored:
    """Store the bytes of ``stream`` (verified against ``expected_sha256`` when given);
    AssetTooLarge as soon as more than ``limit``'s bytes have been read."""
    storage = storage or asset_storage()
    digest = hashlib.sha256()
    size = 0
    with tempfile.TemporaryFile() as spool:
        while chunk := stream.read(CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
            if limit is not None and size > limit[0]:
                raise AssetTooLarge(limit)
            spool.write(chunk)
        sha256 = digest.hexdigest()
        if expected_sha256 is not None and sha256 != expected_sha256.lower():
            raise AssetHashMismatch(filename, expected_sha256, sha256)
        existing = Asset.objects.filter(sha256=sha256).first()
        if existing is not None and storage.exists(existing.storage_name):
            return Stored(existing, created=False)
        name = storage_name(sha256)
        if not storage.exists(name):
            spool.seek(0)
            saved = storage.save(name, File(spool, name=sha256))
            if saved != name:  # another upload of the same bytes won the race
                storage.delete(saved)
        try:
            with transaction.atomic():
                asset, created = Asset.objects.update_or_create(
                    sha256=sha256, defaults={"size": size, "storage_name": name}
                )
        except IntegrityError:
            asset, created = Asset.objects.get(sha256=sha256), False
        return Stored(asset, created=created)


def open_asset(asset: Asset, storage: Storage | None = None) -> File:
    """The stored bytes, for streaming a download."""
    return (storage or asset_storage()).open(asset.storage_name, "rb")


# --- a patch's assets as its package.json names them ---------------------------------------------


@dataclass(frozen=True)
class Implementation:
    """One implementation of an asset of a package.json, with the stored assets it names."""

    asset_name: str  # the package's name for the asset (what an interface refers to)
    document: dict[str, Any]  # the implementation object itself (type, requirements, ...)
    asset: Asset | None  # the stored asset of its assetUri, None if not in the patch
    descriptor: Asset | None  # the stored asset of its descriptorUri, None if none

    @property
    def type(self) -> str:
        return str(self.document.get("type", ""))


def implementations(patch: PatchVersion) -> list[Implementation]:
    """Every asset implementation of the patch's package.json, in document order."""
    package = json.loads(patch.manifest_text).get("nodePackage", {})
    by_sha = {asset.sha256: asset for asset in patch.assets.all()}

    def stored(uri: Any) -> Asset | None:
        return by_sha.get(str(uri or "").split(".", 1)[0])

    return [
        Implementation(
            asset_name=str(item.get("name", "")),
            document=implementation,
            asset=stored(implementation.get("assetUri")),
            descriptor=stored(implementation.get("descriptorUri")),
        )
        for item in package.get("assets") or []
        for implementation in item.get("implementations") or []
    ]


def read_descriptor(asset: Asset) -> dict[str, Any]:
    """A stored descriptor document; ValueError if it is not JSON."""
    with open_asset(asset) as handle:
        return json.loads(handle.read() or b"{}")
