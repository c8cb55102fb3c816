"""Package import jobs: CreatePackageImportJob, DescribePackageImportJob, ListPackageImportJobs.

A NODE_PACKAGE_VERSION import reads a package.json from S3 — with the credentials and endpoint
of the console's S3 asset store, which must be configured (``ASSET_STORE=s3://…``) — keeps it in
the store under its sha256 like any asset, and registers it with ``applications.registry`` (the
assets it names must be in the store already, as for every registration). The job runs to its
end within the request: Describe finds it SUCCEEDED, or FAILED with the registry's reasons. An
object that cannot be read is a ValidationException, and no job.
``ClientToken`` makes the call idempotent: the same token and request give the same job.
"""

from __future__ import annotations

import io
import uuid
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.db import IntegrityError, transaction

from applications.assets import store_asset
from applications.cameranodes import kept_manifest
from applications.models import NodePackage, PackageImportJob
from applications.registry import PackageRejected, patch_of, register_patch
from core.status import PackageImportJobStatus, PackageImportJobType
from core.storage import asset_storage
from panorama_api.call import Call
from panorama_api.errors import Conflict, NotFound, ValidationError
from panorama_api.operations.packages import (
    ALIAS,
    account_id,
    add_job_tags,
    check_job_tags,
    present,
)
from panorama_api.pagination import page
from panorama_api.registry import operation

MAX_MANIFEST_BYTES = 1024 * 1024  # a package.json is a few KB
S3_LOCATION = "InputConfig.PackageVersionInputConfig.S3Location"


def s3_store() -> Any:
    """The asset store when it is on S3 (django-storages' S3Storage), else None."""
    storage = asset_storage()
    return storage if getattr(storage, "bucket_name", None) else None


def _check_request(
    job_type: str, input_config: dict[str, Any], output_config: dict[str, Any]
) -> tuple[dict[str, str], dict[str, Any]]:
    if job_type != PackageImportJobType.NODE_PACKAGE_VERSION:
        raise ValidationError(
            f"Only {PackageImportJobType.NODE_PACKAGE_VERSION} imports are supported; this "
            "console has no marketplace.",
            fields=[("JobType", f"use {PackageImportJobType.NODE_PACKAGE_VERSION}")],
        )
    location = (input_config.get("PackageVersionInputConfig") or {}).get("S3Location")
    wanted = output_config.get("PackageVersionOutputConfig")
    fields = []
    if not location:
        fields.append((S3_LOCATION, "where the package.json is, in S3: BucketName and ObjectKey"))
    if not wanted:
        fields.append(
            (
                "OutputConfig.PackageVersionOutputConfig",
                "PackageName and PackageVersion to register",
            )
        )
    if fields:
        raise ValidationError(
            "The import job needs " + " and ".join(name for name, _ in fields) + ".",
            fields=fields,
        )
    if s3_store() is None:
        raise ValidationError(
            "Package import jobs read from the S3 asset store, and this console keeps its assets "
            "in a folder. Configure ASSET_STORE=s3://<bucket>/<prefix> (docs/configuration.md), "
            "or register the package with RegisterPackageVersion after uploading its package.json "
            "(PUT /api/assets/<sha256>/, as vantage-cli package-application does).",
            fields=[(S3_LOCATION, "no S3 asset store is configured on this console")],
        )
    return location, wanted


def _read(storage: Any, location: dict[str, str]) -> bytes:
    """The object's bytes, read with the asset store's S3 client (its endpoint, credentials);
    an object that cannot be read makes the request invalid (no job is made)."""
    where = f"s3://{location['BucketName']}/{location['ObjectKey']}"
    try:
        body = storage.connection.Object(location["BucketName"], location["ObjectKey"]).get()
        with body["Body"] as stream:
            data = stream.read(MAX_MANIFEST_BYTES + 1)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        reason = error.get("Message") or error.get("Code") or "refused"
    except BotoCoreError as exc:
        reason = str(exc)
    else:
        if len(data) <= MAX_MANIFEST_BYTES:
            return data
        reason = f"it is over {MAX_MANIFEST_BYTES} bytes, too large for a package.json"
    raise ValidationError(
        f"{where} could not be read: {reason}", fields=[(S3_LOCATION, f"{where}: {reason}")]
    )


def _run(job: PackageImportJob, storage: Any, manifest: bytes, wanted: dict) -> None:
    """Keep the package.json in the store under its sha256 (a camera package's credentials
    taken out: the copy is then under its own sha256), then register it."""
    where = "s3://{BucketName}/{ObjectKey}".format(
        **job.input_config["PackageVersionInputConfig"]["S3Location"]
    )
    stored = store_asset(io.BytesIO(kept_manifest(manifest)), filename=where)
    prefix = (getattr(storage, "location", "") or "").strip("/")
    key = stored.asset.storage_name
    job.output_location = {
        "BucketName": storage.bucket_name,
        "ObjectKey": f"{prefix}/{key}" if prefix else key,
        "PatchVersion": patch_of(manifest),  # the patch it is (or would have been)
    }
    try:
        with transaction.atomic():
            registered = register_patch(
                account_id=account_id(),
                name=wanted["PackageName"],
                version=wanted["PackageVersion"],
                manifest_bytes=manifest,
                mark_latest=bool(wanted.get("MarkLatest", False)),
            )
            add_job_tags(registered.patch.package_version.package, job.job_tags)
    except PackageRejected as exc:
        _finish(job, PackageImportJobStatus.FAILED, f"{where} was refused: {exc}")
        return
    except UnicodeDecodeError:
        _finish(job, PackageImportJobStatus.FAILED, f"{where} is not UTF-8 text (package.json)")
        return
    job.patch = registered.patch
    state = "registered" if registered.created else "was registered already"
    _finish(
        job,
        PackageImportJobStatus.SUCCEEDED,
        f"Patch version {registered.patch.patch} of {wanted['PackageName']} "
        f"{wanted['PackageVersion']} {state}.",
    )


def _finish(job: PackageImportJob, status: str, message: str) -> None:
    job.status, job.status_message = status, message[:1000]
    job.save(update_fields=["status", "status_message", "patch", "output_location", "updated"])


@operation("CreatePackageImportJob")
def create_package_import_job(
    call: Call,
    *,
    JobType: str,
    ClientToken: str,
    InputConfig: dict[str, Any],
    OutputConfig: dict[str, Any],
    JobTags: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    request = {
        "job_type": JobType,
        "input_config": InputConfig,
        "output_config": OutputConfig,
        "job_tags": check_job_tags(JobTags),
    }
    earlier = PackageImportJob.objects.filter(client_token=ClientToken).first()
    if earlier is None:
        location, wanted = _check_request(JobType, InputConfig, OutputConfig)
        manifest = _read(s3_store(), location)
        try:
            with transaction.atomic():
                job = PackageImportJob.objects.create(
                    job_id=uuid.uuid4(), client_token=ClientToken, requested_by=call.user,
                    **request,
                )  # fmt: skip
        except IntegrityError:  # the same token, at the same moment
            earlier = PackageImportJob.objects.get(client_token=ClientToken)
        else:
            _run(job, s3_store(), manifest, wanted)
            return {"JobId": str(job.job_id)}
    if any(getattr(earlier, field) != value for field, value in request.items()):
        raise Conflict(
            f"Client token {ClientToken} was used for another import job request.",
            str(earlier.job_id),
            "packageImportJob",
        )
    return {"JobId": str(earlier.job_id)}


def _get_job(job_id: str) -> PackageImportJob:
    try:
        key = uuid.UUID(job_id)
    except ValueError:
        key = None
    job = (
        PackageImportJob.objects.select_related("patch__package_version__package")
        .filter(job_id=key)
        .first()
        if key
        else None
    )
    if job is None:
        raise NotFound(f"Package import job {job_id} not found.", job_id, "packageImportJob")
    return job


def _output(job: PackageImportJob) -> dict[str, Any]:
    """What the job made; a failed one names the package and patch it was to register."""
    wanted = job.output_config.get("PackageVersionOutputConfig") or {}
    location = job.output_location or {}
    patch = job.patch
    if patch is not None:
        package_id, version = (
            patch.package_version.package.package_id,
            patch.package_version.version,
        )
    else:
        package = NodePackage.objects.filter(
            account_id=account_id(), name=wanted.get("PackageName")
        ).first()
        package_id = package.package_id if package else f"{ALIAS}{wanted.get('PackageName')}"
        version = wanted.get("PackageVersion")
    return {
        "PackageId": package_id,
        "PackageVersion": version,
        "PatchVersion": patch.patch if patch is not None else location.get("PatchVersion"),
        "OutputS3Location": {
            "BucketName": location.get("BucketName"),
            "ObjectKey": location.get("ObjectKey"),
        },
    }


@operation("DescribePackageImportJob")
def describe_package_import_job(call: Call, *, JobId: str) -> dict[str, Any]:
    job = _get_job(JobId)
    return present(
        {
            "JobId": str(job.job_id),
            "ClientToken": job.client_token,
            "JobType": job.job_type,
            "InputConfig": job.input_config,
            "OutputConfig": job.output_config,
            "Output": _output(job),
            "Status": job.status,
            "CreatedTime": job.created,
            "LastUpdatedTime": job.updated,
            "JobTags": job.job_tags or None,
        }
    ) | {"StatusMessage": job.status_message}


@operation("ListPackageImportJobs")
def list_package_import_jobs(
    call: Call, *, MaxResults: int | None = None, NextToken: str | None = None
) -> dict[str, Any]:
    jobs = PackageImportJob.objects.order_by("-created", "-pk")
    chunk, token = page(jobs, MaxResults, NextToken, "ListPackageImportJobs")
    items = [
        {
            "JobId": str(job.job_id),
            "JobType": job.job_type,
            "Status": job.status,
            "StatusMessage": job.status_message,
            "CreatedTime": job.created,
            "LastUpdatedTime": job.updated,
        }
        for job in chunk
    ]
    result: dict[str, Any] = {"PackageImportJobs": items}
    if token:
        result["NextToken"] = token
    return result
