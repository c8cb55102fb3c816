"""Packages, nodes, camera template jobs and package import jobs through boto3's real
``panorama`` client against the live console: CreatePackage, DescribePackage, ListPackages,
DeletePackage, RegisterPackageVersion, DeregisterPackageVersion, DescribePackageVersion,
ListNodes, DescribeNode, CreateNodeFromTemplateJob, DescribeNodeFromTemplateJob,
ListNodeFromTemplateJobs, CreatePackageImportJob, DescribePackageImportJob, ListPackageImportJobs.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from applications.models import (
    ApplicationInstance,
    NodeInstance,
    NodePackage,
    PatchVersion,
)
from core.models import Installation
from core.roles import Role
from datasources.models import DataSource
from tests.support.devices import make_device
from tests.support.panorama import INPUT, OUTPUT, PACKAGE_ID, error_of, package_json, upload

pytestmark = pytest.mark.django_db(transaction=True)

# --- packages -------------------------------------------------------------------------------------


def test_create_describe_list_and_delete_packages(api, asset_store, viewer_client):
    created = api.create_package(PackageName="people_counter", Tags={"team": "vision"})
    package = NodePackage.objects.get(name="people_counter")
    account = Installation.get().account_id
    assert PACKAGE_ID.match(created["PackageId"]) and created["PackageId"] == package.package_id
    assert created["Arn"] == f"arn:aws:panorama:us-west-2:{account}:package/{package.package_id}"
    # Where the store keeps every asset and package.json: <folder>/assets/<sha[:2]>/<sha>.
    assert created["StorageLocation"] == {
        "Bucket": str(asset_store.location),
        "RepoPrefixLocation": "assets",
        "GeneratedPrefixLocation": "assets",
        "BinaryPrefixLocation": "assets",
        "ManifestPrefixLocation": "assets",
    }
    assert package.tags == {"team": "vision"} and package.account_id == account
    # The same name again is the same package; tags given are added.
    again = api.create_package(PackageName="people_counter", Tags={"stage": "dev"})
    assert again["PackageId"] == created["PackageId"]

    described = api.describe_package(PackageId=created["PackageId"])
    assert described["PackageName"] == "people_counter"
    assert described["Tags"] == {"team": "vision", "stage": "dev"}
    assert described["Arn"] == created["Arn"]
    assert described["CreatedTime"].timestamp() == pytest.approx(package.created.timestamp())
    alias = api.describe_package(PackageId="packageName/people_counter")
    assert alias["PackageId"] == created["PackageId"]
    # The REST API shows the same package.
    assert [p["name"] for p in viewer_client.get("/api/packages/").json()["results"]] == [
        "people_counter"
    ]

    for name in ("camera_b", "model_a"):
        api.create_package(PackageName=name)
    names, token, pages = [], None, 0
    while True:
        answer = api.list_packages(MaxResults=1, **({"NextToken": token} if token else {}))
        pages += 1
        assert len(answer["Packages"]) == 1
        names += [p["PackageName"] for p in answer["Packages"]]
        token = answer.get("NextToken")
        if not token:
            break
    assert names == ["camera_b", "model_a", "people_counter"] and pages == 3
    assert api.list_packages()["Packages"][2]["Tags"] == {"team": "vision", "stage": "dev"}

    api.delete_package(PackageId=created["PackageId"])
    assert not NodePackage.objects.filter(name="people_counter").exists()
    with pytest.raises(api.exceptions.ResourceNotFoundException) as missing:
        api.describe_package(PackageId=created["PackageId"])
    assert error_of(missing)["ResourceId"] == created["PackageId"]
    assert error_of(missing)["ResourceType"] == "package"
    with pytest.raises(api.exceptions.ResourceNotFoundException):
        api.delete_package(PackageId="packageName/people_counter")


def test_create_package_checks_names_tags_and_the_quota(api, settings, asset_store):
    with pytest.raises(api.exceptions.ValidationException) as bad_name:
        api.create_package(PackageName="no spaces")
    assert error_of(bad_name)["Reason"] == "FIELD_VALIDATION_FAILED"
    with pytest.raises(api.exceptions.ValidationException) as bad_tag:
        api.create_package(PackageName="tagged", Tags={"bad!key": "x"})
    assert error_of(bad_tag)["Fields"][0]["Name"] == "Tags"
    settings.PACKAGE_QUOTA = 1
    api.create_package(PackageName="first")
    with pytest.raises(api.exceptions.ValidationException) as full:
        api.create_package(PackageName="second")
    assert "1 packages" in error_of(full)["Message"]
    assert error_of(full)["Fields"][0]["Name"] == "PackageName"
    assert api.create_package(PackageName="first")["PackageId"]  # the one there still answers
    assert list(NodePackage.objects.values_list("name", flat=True)) == ["first"]


def test_register_describe_and_deregister_patch_versions(api, operator_client, viewer_client):
    package_id = api.create_package(PackageName="counter")["PackageId"]
    first = package_json("counter")
    second = package_json("counter", threshold=0.8)
    first_patch, second_patch = upload(operator_client, first), upload(operator_client, second)

    api.register_package_version(
        PackageId=package_id, PackageVersion="1.0", PatchVersion=first_patch, MarkLatest=True
    )
    latest = api.describe_package_version(PackageId=package_id, PackageVersion="1.0")
    assert latest["PatchVersion"] == first_patch
    assert latest["IsLatestPatch"] is True and latest["Status"] == "REGISTER_COMPLETED"
    assert latest["PackageName"] == "counter" and latest["PackageId"] == package_id
    assert latest["OwnerAccount"] == Installation.get().account_id
    assert latest["PackageArn"].endswith(f":package/{package_id}")
    assert "RegisteredTime" in latest
    patch = PatchVersion.objects.get(patch=first_patch)
    assert patch.manifest_text.encode() == first  # byte for byte: its sha256 is the patch

    # A patch not marked latest leaves the latest where it was (registering again: no change).
    for _ in range(2):
        api.register_package_version(
            PackageId="packageName/counter", PackageVersion="1.0", PatchVersion=second_patch
        )
    named = api.describe_package_version(
        PackageId=package_id, PackageVersion="1.0", PatchVersion=second_patch
    )
    assert named["IsLatestPatch"] is False
    assert (
        api.describe_package_version(PackageId=package_id, PackageVersion="1.0")["PatchVersion"]
        == first_patch
    )
    rest = viewer_client.get("/api/packages/").json()["results"][0]["patches"]
    assert sorted(p["patch"] for p in rest) == sorted([first_patch, second_patch])

    api.deregister_package_version(
        PackageId=package_id, PackageVersion="1.0", PatchVersion=first_patch,
        UpdatedLatestPatchVersion=second_patch,
    )  # fmt: skip
    assert not PatchVersion.objects.filter(patch=first_patch).exists()
    latest = api.describe_package_version(PackageId=package_id, PackageVersion="1.0")
    assert latest["PatchVersion"] == second_patch and latest["IsLatestPatch"] is True
    with pytest.raises(api.exceptions.ResourceNotFoundException) as gone:
        api.describe_package_version(
            PackageId=package_id, PackageVersion="1.0", PatchVersion=first_patch
        )
    assert error_of(gone)["ResourceType"] == "packageVersion"
    with pytest.raises(api.exceptions.ResourceNotFoundException):
        api.describe_package_version(PackageId=package_id, PackageVersion="2.0")


def test_registering_needs_the_uploaded_and_valid_package_json(api, operator_client):
    package_id = api.create_package(PackageName="counter")["PackageId"]
    never_uploaded = hashlib.sha256(b"nothing").hexdigest()
    with pytest.raises(api.exceptions.ValidationException) as missing:
        api.register_package_version(
            PackageId=package_id, PackageVersion="1.0", PatchVersion=never_uploaded
        )
    assert error_of(missing)["Fields"] == [
        {"Name": "PatchVersion", "Message": "no package.json with this sha256 in the asset store"}
    ]
    assert f"/api/assets/{never_uploaded}/" in error_of(missing)["Message"]
    with pytest.raises(api.exceptions.ValidationException) as not_sha:
        api.register_package_version(PackageId=package_id, PackageVersion="1.0", PatchVersion="ab")
    assert error_of(not_sha)["Fields"][0]["Name"] == "PatchVersion"

    # Every reason of the registry, each at its place in package.json.
    broken = json.loads(package_json("counter"))
    broken["nodePackage"]["interfaces"][0]["category"] = "camera"
    broken["nodePackage"]["assets"] = [
        {"name": "code_asset", "implementations": [{"type": "container",
         "assetUri": "a" * 64 + ".tar.gz", "descriptorUri": "b" * 64 + ".json"}]}
    ]  # fmt: skip
    patch = upload(operator_client, json.dumps(broken).encode())
    with pytest.raises(api.exceptions.ValidationException) as invalid:
        api.register_package_version(PackageId=package_id, PackageVersion="1.0", PatchVersion=patch)
    fields = {f["Name"] for f in error_of(invalid)["Fields"]}
    assert "package.json/nodePackage/interfaces/0/category" in fields
    # A package.json stating another name than the package it is registered into.
    other = upload(operator_client, package_json("another_name"))
    with pytest.raises(api.exceptions.ValidationException) as renamed:
        api.register_package_version(PackageId=package_id, PackageVersion="1.0", PatchVersion=other)
    assert {f["Name"] for f in error_of(renamed)["Fields"]} == {"package.json/nodePackage/name"}
    assert not PatchVersion.objects.exists()
    with pytest.raises(api.exceptions.ResourceNotFoundException):
        api.register_package_version(
            PackageId="package-nosuchpackage0000000000", PackageVersion="1.0", PatchVersion=other
        )
    with pytest.raises(api.exceptions.ValidationException) as owner:
        api.register_package_version(
            PackageId=package_id, PackageVersion="1.0", PatchVersion=patch, OwnerAccount="999"
        )
    assert error_of(owner)["Fields"][0]["Name"] == "OwnerAccount"


def _used_by_an_instance(patch: PatchVersion) -> ApplicationInstance:
    device = make_device(
        name="lobby-1", provisioning_status="SUCCEEDED", connection_status="ONLINE"
    )
    instance = ApplicationInstance.objects.create(
        name="counting", device=device, status="DEPLOYMENT_SUCCEEDED"
    )
    NodeInstance.objects.create(
        instance=instance, node_instance_id="code_node", kind="code",
        package_name=patch.package_version.package.name,
        package_version=patch.package_version.version, patch_version=patch.patch,
        node_name="interface",
    )  # fmt: skip
    return instance


def test_what_an_instance_uses_cannot_go(api, operator_client):
    package_id = api.create_package(PackageName="counter")["PackageId"]
    patch = upload(operator_client, package_json("counter"))
    api.register_package_version(
        PackageId=package_id, PackageVersion="1.0", PatchVersion=patch, MarkLatest=True
    )
    instance = _used_by_an_instance(PatchVersion.objects.get(patch=patch))

    with pytest.raises(api.exceptions.ConflictException) as in_use:
        api.deregister_package_version(
            PackageId=package_id, PackageVersion="1.0", PatchVersion=patch
        )
    assert "counting" in error_of(in_use)["Message"]
    assert error_of(in_use)["ResourceType"] == "packageVersion"
    # Without ForceDelete a package with patches stays; with it, it is still refused while used.
    with pytest.raises(api.exceptions.ConflictException) as has_patches:
        api.delete_package(PackageId=package_id)
    assert "ForceDelete" in error_of(has_patches)["Message"]
    with pytest.raises(api.exceptions.ConflictException) as used:
        api.delete_package(PackageId=package_id, ForceDelete=True)
    assert error_of(used)["ResourceId"] == package_id and "counting" in error_of(used)["Message"]
    assert PatchVersion.objects.filter(patch=patch).exists()

    instance.status = "REMOVAL_SUCCEEDED"
    instance.save(update_fields=["status"])
    api.delete_package(PackageId=package_id, ForceDelete=True)
    assert not NodePackage.objects.exists() and not PatchVersion.objects.exists()


# --- nodes ----------------------------------------------------------------------------------------


def test_list_and_describe_nodes(api, operator_client):
    for name in ("counter", "tracker"):
        package_id = api.create_package(PackageName=name)["PackageId"]
        api.register_package_version(
            PackageId=package_id, PackageVersion="1.0", MarkLatest=True,
            PatchVersion=upload(operator_client, package_json(name)),
        )  # fmt: skip
    newer = upload(operator_client, package_json("counter", "2.0", threshold=0.9))
    api.register_package_version(
        PackageId="packageName/counter", PackageVersion="2.0", PatchVersion=newer, MarkLatest=True
    )

    every = api.list_nodes()["Nodes"]
    assert [(n["PackageName"], n["PackageVersion"]) for n in every] == [
        ("counter", "1.0"), ("counter", "2.0"), ("tracker", "1.0")
    ]  # fmt: skip
    node = every[1]
    assert node["NodeId"] == f"counter-2.0-{newer[:8]}-interface"
    assert node["Name"] == "interface" and node["Category"] == "BUSINESS_LOGIC"
    assert node["PatchVersion"] == newer and node["OwnerAccount"] == Installation.get().account_id
    assert node["PackageId"] == NodePackage.objects.get(name="counter").package_id

    seen, token = [], None
    while True:
        answer = api.list_nodes(MaxResults=1, **({"NextToken": token} if token else {}))
        seen += [n["NodeId"] for n in answer["Nodes"]]
        token = answer.get("NextToken")
        if not token:
            break
    assert seen == [n["NodeId"] for n in every]

    assert [n["PackageName"] for n in api.list_nodes(PackageName="tracker")["Nodes"]] == ["tracker"]
    assert [n["PatchVersion"] for n in api.list_nodes(PackageVersion="2.0")["Nodes"]] == [newer]
    assert [n["NodeId"] for n in api.list_nodes(PatchVersion=newer)["Nodes"]] == [node["NodeId"]]
    assert len(api.list_nodes(Category="BUSINESS_LOGIC")["Nodes"]) == 3
    assert api.list_nodes(Category="MEDIA_SOURCE").get("Nodes", []) == []
    assert api.list_nodes(OwnerAccount="panorama").get("Nodes", []) == []
    assert len(api.list_nodes(OwnerAccount=Installation.get().account_id)["Nodes"]) == 3

    described = api.describe_node(NodeId=node["NodeId"])
    assert described["NodeInterface"] == {
        "Inputs": [
            {"Name": "video_in", "Type": "MEDIA", "MaxConnections": 1},
            {"Name": "threshold", "Type": "FLOAT32", "DefaultValue": "0.9"},
            {"Name": "label", "Type": "STRING", "DefaultValue": "person"},
        ],
        "Outputs": [{"Name": "video_out", "Type": "MEDIA", "Description": "Annotated"}],
    }
    assert described["AssetName"] == "code_asset" and described["Description"] == "The code node"
    assert described["PatchVersion"] == newer and "LastUpdatedTime" in described
    with pytest.raises(api.exceptions.ResourceNotFoundException) as missing:
        api.describe_node(NodeId=f"counter-3.0-{newer[:8]}-interface")
    assert error_of(missing)["ResourceType"] == "node"


# --- roles ----------------------------------------------------------------------------------------


def test_a_viewer_reads_but_changes_nothing(panorama, operator_client, asset_store):
    operator = panorama(Role.OPERATOR)
    package_id = operator.create_package(PackageName="counter")["PackageId"]
    patch = upload(operator_client, package_json("counter"))
    operator.register_package_version(
        PackageId=package_id, PackageVersion="1.0", PatchVersion=patch, MarkLatest=True
    )
    viewer = panorama(Role.VIEWER)
    assert viewer.describe_package(PackageId=package_id)["PackageName"] == "counter"
    assert viewer.list_nodes()["Nodes"]
    assert viewer.list_packages()["Packages"]
    mutations = {
        "create_package": {"PackageName": "other"},
        "delete_package": {"PackageId": package_id, "ForceDelete": True},
        "register_package_version": {
            "PackageId": package_id, "PackageVersion": "1.0", "PatchVersion": patch,
            "MarkLatest": True,
        },
        "deregister_package_version": {
            "PackageId": package_id, "PackageVersion": "1.0", "PatchVersion": patch
        },
        "create_node_from_template_job": {
            "TemplateType": "RTSP_CAMERA_STREAM", "OutputPackageName": "cam",
            "OutputPackageVersion": "1.0", "NodeName": "cam",
            "TemplateParameters": {"StreamUrl": "rtsp://10.0.0.5/live"},
        },
        "create_package_import_job": {
            "JobType": "NODE_PACKAGE_VERSION", "ClientToken": "t", "InputConfig": INPUT,
            "OutputConfig": OUTPUT,
        },
    }  # fmt: skip
    for method, arguments in mutations.items():
        with pytest.raises(viewer.exceptions.AccessDeniedException):
            getattr(viewer, method)(**arguments)
    assert list(NodePackage.objects.values_list("name", flat=True)) == ["counter"]
    assert PatchVersion.objects.get().patch == patch
    assert not DataSource.objects.exists()
