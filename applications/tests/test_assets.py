"""The content-addressed asset store, on a folder and on S3 (moto's server on loopback)."""

from __future__ import annotations

import hashlib
import io
import os
import tracemalloc

import boto3
import pytest
from django.core.files.storage import FileSystemStorage
from storages.backends.s3 import S3Storage

from applications.assets import AssetHashMismatch, open_asset, storage_name, store_asset
from applications.models import Asset


@pytest.fixture(params=["folder", "s3"])
def storage(request, tmp_path):
    if request.param == "folder":
        return FileSystemStorage(location=tmp_path / "assets")
    endpoint = request.getfixturevalue("s3_endpoint")
    credentials = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
    bucket = f"assets-{os.urandom(4).hex()}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **credentials).create_bucket(
        Bucket=bucket
    )
    return S3Storage(
        bucket_name=bucket,
        location="prefix",
        endpoint_url=endpoint,
        region_name="us-east-1",
        access_key="test",
        secret_key="test",
        file_overwrite=False,
    )


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.django_db
def test_stored_under_its_hash_and_read_back(storage):
    data = os.urandom(300_000)
    stored = store_asset(io.BytesIO(data), filename="model.tar.gz", storage=storage)
    assert stored.created
    assert stored.asset.sha256 == _sha(data)
    assert stored.asset.size == len(data)
    assert stored.asset.storage_name == storage_name(_sha(data))
    with open_asset(stored.asset, storage) as handle:
        assert handle.read() == data


@pytest.mark.django_db
def test_same_bytes_are_stored_once(storage):
    data = b"identical bytes" * 1000
    first = store_asset(io.BytesIO(data), filename="a.tar.gz", storage=storage)
    second = store_asset(
        io.BytesIO(data), filename="b.tar.gz", expected_sha256=_sha(data), storage=storage
    )
    assert not second.created
    assert first.asset.pk == second.asset.pk
    assert Asset.objects.count() == 1


@pytest.mark.django_db
def test_tampered_upload_stores_nothing(storage):
    announced = _sha(b"the real file")
    with pytest.raises(AssetHashMismatch) as refused:
        store_asset(
            io.BytesIO(b"a tampered file"),
            filename="code.tar.gz",
            expected_sha256=announced,
            storage=storage,
        )
    message = str(refused.value)
    assert "code.tar.gz" in message and announced in message
    assert _sha(b"a tampered file") in message
    assert not Asset.objects.exists()
    assert not storage.exists(storage_name(_sha(b"a tampered file")))
    assert not storage.exists(storage_name(announced))


@pytest.mark.django_db
def test_large_uploads_are_streamed_not_held_in_memory(tmp_path):
    storage = FileSystemStorage(location=tmp_path / "assets")
    size = 64 * 1024 * 1024
    source = tmp_path / "big.bin"
    with open(source, "wb") as handle:
        for _ in range(size // (1024 * 1024)):
            handle.write(os.urandom(1024 * 1024))
    tracemalloc.start()
    with open(source, "rb") as handle:
        stored = store_asset(handle, filename="big.bin", storage=storage)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert stored.asset.size == size
    assert peak < 8 * 1024 * 1024, f"peak Python memory {peak} bytes for a {size}-byte upload"


REFERENCE_ASSETS = "aws-panorama-developer-guide/sample-apps/aws-panorama-sample/assets"


def test_reference_assets_hash_to_their_names():
    from tests.support.reference import REFERENCE

    folder = REFERENCE / REFERENCE_ASSETS
    files = sorted(p for p in folder.iterdir() if p.is_file())
    assert files, folder
    for path in files:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
        assert path.name.split(".")[0] == digest.hexdigest(), path.name
