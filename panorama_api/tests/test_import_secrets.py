"""CreatePackageImportJob with a camera package that carries its credentials: the copy kept in
the asset store has none of them, and the patch version is still the uploaded bytes' sha256."""

from __future__ import annotations

import hashlib

import pytest

from applications.models import PatchVersion
from tests.support.deploy import PACKAGE_PASSWORD, own_camera_package

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_imported_camera_packages_credentials_are_not_kept_in_clear(api, s3_store):
    s3, bucket = s3_store
    manifest = own_camera_package("rtsp://door:Url-pass-83@10.0.0.9/live")
    s3.put_object(Bucket=bucket, Key="uploads/door.json", Body=manifest)
    job_id = api.create_package_import_job(
        JobType="NODE_PACKAGE_VERSION", ClientToken="door-1",
        InputConfig={"PackageVersionInputConfig": {"S3Location": {
            "BucketName": bucket, "ObjectKey": "uploads/door.json"}}},
        OutputConfig={"PackageVersionOutputConfig": {
            "PackageName": "door_camera", "PackageVersion": "1.0", "MarkLatest": True}},
    )["JobId"]  # fmt: skip
    described = api.describe_package_import_job(JobId=job_id)
    assert described["Status"] == "SUCCEEDED", described["StatusMessage"]
    patch = hashlib.sha256(manifest).hexdigest()
    assert described["Output"]["PatchVersion"] == patch
    assert PatchVersion.objects.get(package_version__package__name="door_camera").patch == patch
    location = described["Output"]["OutputS3Location"]
    kept = s3.get_object(Bucket=bucket, Key=location["ObjectKey"])["Body"].read()
    assert PACKAGE_PASSWORD.encode() not in kept and b"Url-pass-83" not in kept
    assert b"SAVED_AS_SECRET" in kept and b"rtsp://10.0.0.9/live" in kept
    # Content-addressed as every asset: the redacted copy under its own sha256.
    assert location["ObjectKey"].endswith(hashlib.sha256(kept).hexdigest())
