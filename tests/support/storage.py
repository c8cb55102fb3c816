"""The asset store in a folder of the test's own, or on S3 (moto's server) (a pytest plugin)."""

from __future__ import annotations

import os

import pytest

from tests.support.ports import free_port


@pytest.fixture
def asset_store(settings, tmp_path):
    """The asset store in a folder of this test's own."""
    from django.core.files.storage import storages

    settings.STORAGES = {
        **settings.STORAGES,
        "assets": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "assets")},
        },
    }
    storages._storages.pop("assets", None)
    yield storages["assets"]
    storages._storages.pop("assets", None)


@pytest.fixture(scope="module")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_store(settings, s3_endpoint):
    """The asset store on S3 (moto's server), as ASSET_STORE=s3://<bucket>/vantage configures."""
    import boto3

    bucket = f"assets-{os.urandom(4).hex()}"
    s3 = boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )  # fmt: skip
    s3.create_bucket(Bucket=bucket)
    settings.STORAGES = {
        **settings.STORAGES,
        "assets": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket, "location": "vantage", "endpoint_url": s3_endpoint,
                "region_name": "us-east-1", "access_key": "test", "secret_key": "test",
                "file_overwrite": False, "default_acl": None,
            },
        },
    }  # fmt: skip
    from django.core.files.storage import storages

    storages._storages.pop("assets", None)
    yield s3, bucket
    storages._storages.pop("assets", None)
