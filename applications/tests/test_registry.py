"""Registering package.json documents as patch versions."""

from __future__ import annotations

import hashlib
import json

import pytest

from applications.models import PatchVersion
from applications.registry import PackageRejected, register_patch
from tests.support.deploy import (
    CODE_PACKAGE,
)


def _register(manifest: bytes, name: str = "SAMPLE_CODE", version: str = "1.0"):
    document = json.loads(manifest)
    if (document["nodePackage"]["name"], document["nodePackage"]["version"]) != (name, version):
        document["nodePackage"].update(name=name, version=version)
        manifest = json.dumps(document).encode() + manifest[len(manifest.rstrip()) :]
    return register_patch(
        account_id="123456789012", name=name, version=version, manifest_bytes=manifest
    )


@pytest.mark.django_db
def test_register_is_idempotent_and_keys_patches_by_hash():
    manifest = CODE_PACKAGE.read_bytes()
    first = _register(manifest)
    again = _register(manifest)
    assert first.created and not again.created
    assert first.patch.pk == again.patch.pk
    assert first.patch.patch == hashlib.sha256(manifest).hexdigest()
    assert first.patch.is_latest
    assert first.patch.interfaces.get().category == "BUSINESS_LOGIC"


@pytest.mark.django_db
def test_a_new_patch_becomes_the_only_latest():
    manifest = CODE_PACKAGE.read_bytes()
    old = _register(manifest).patch
    new = _register(manifest + b"\n").patch
    old.refresh_from_db()
    assert new.is_latest and not old.is_latest
    assert PatchVersion.objects.filter(is_latest=True).count() == 1


@pytest.mark.django_db
def test_invalid_packages_are_refused_with_every_error():
    document = json.loads(CODE_PACKAGE.read_bytes())
    del document["nodePackage"]["envelopeVersion"]
    document["nodePackage"]["interfaces"][0]["category"] = "camera"
    with pytest.raises(PackageRejected) as rejected:
        _register(json.dumps(document).encode())
    paths = [error.path for error in rejected.value.errors]
    assert "/nodePackage/envelopeVersion" in paths
    assert "/nodePackage/interfaces/0/category" in paths
    assert not PatchVersion.objects.exists()


@pytest.mark.django_db
def test_package_json_must_agree_with_the_name_and_version_registered():
    with pytest.raises(PackageRejected) as rejected:
        register_patch(
            account_id="123456789012",
            name="SAMPLE_CODE",
            version="2.0",
            manifest_bytes=CODE_PACKAGE.read_bytes(),
        )
    assert rejected.value.errors[0].path == "/nodePackage/version"
    assert "says version '1.0', but it is being registered as '2.0'" in str(rejected.value)


@pytest.mark.django_db
def test_quotas(settings):
    settings.PACKAGE_QUOTA, settings.VERSION_QUOTA = 1, 2
    manifest = CODE_PACKAGE.read_bytes()
    _register(manifest, version="1.0")
    _register(manifest, version="1.1")
    with pytest.raises(PackageRejected) as versions:
        _register(manifest, version="1.2")
    assert versions.value.errors[0].message == (
        "You've reached the maximum number of versions for package SAMPLE_CODE."
    )
    _register(manifest + b" ", version="1.1")  # an existing version still takes patches
    with pytest.raises(PackageRejected) as packages:
        _register(manifest, name="OTHER")
    assert "50" not in str(packages.value) and "1 packages, the most allowed" in str(packages.value)


@pytest.mark.django_db
def test_assets_named_by_package_json_must_be_stored_and_get_linked(asset_store):
    import io

    from applications.assets import store_asset

    document = json.loads(CODE_PACKAGE.read_bytes())
    code, descriptor = b"code archive bytes", b'{"runtimeDescriptor": {}}'
    code_sha, descriptor_sha = (hashlib.sha256(b).hexdigest() for b in (code, descriptor))
    document["nodePackage"]["assets"] = [
        {
            "name": "code_asset",
            "implementations": [
                {
                    "type": "container",
                    "assetUri": f"{code_sha}.tar.gz",
                    "descriptorUri": f"{descriptor_sha}.json",
                }
            ],
        }
    ]
    manifest = json.dumps(document, indent=4).encode()
    with pytest.raises(PackageRejected) as missing:
        _register(manifest)
    assert [e.path for e in missing.value.errors] == [
        "/nodePackage/assets/0/implementations/0/assetUri",
        "/nodePackage/assets/0/implementations/0/descriptorUri",
    ]
    assert "is not in the asset store" in missing.value.errors[0].message
    for data in (code, descriptor):
        store_asset(io.BytesIO(data), filename="x")
    patch = _register(manifest).patch
    assert sorted(a.sha256 for a in patch.assets.all()) == sorted([code_sha, descriptor_sha])
    # A row whose file was lost does not count as stored.
    asset_store.delete(patch.assets.get(sha256=code_sha).storage_name)
    document["nodePackage"]["description"] = "changed"
    with pytest.raises(PackageRejected, match="is not in the asset store"):
        _register(json.dumps(document, indent=4).encode())
