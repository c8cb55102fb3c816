"""Packages, nodes, camera template jobs and package import jobs through boto3's real
``panorama`` client against the live console: CreatePackage, DescribePackage, ListPackages,
DeletePackage, RegisterPackageVersion, DeregisterPackageVersion, DescribePackageVersion,
ListNodes, DescribeNode, CreateNodeFromTemplateJob, DescribeNodeFromTemplateJob,
ListNodeFromTemplateJobs, CreatePackageImportJob, DescribePackageImportJob, ListPackageImportJobs.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid

import pytest

from applications.models import (
    ApplicationInstance,
    NodeFromTemplateJob,
    NodeInstance,
    NodePackage,
    PatchVersion,
)
from core.models import Installation
from core.roles import Role
from datasources.models import SAVED_AS_SECRET, DataSource
from tests.support.devices import make_device
from tests.support.panorama import checked, error_of

pytestmark = pytest.mark.django_db(transaction=True)

PACKAGE_ID = re.compile(r"^package-[a-z2-7]{26}$")
PASSWORD = "s3cret-Pa55word"  # a test camera's


def package_json(name: str, version: str = "1.0", *, threshold: float = 0.5, **extra) -> bytes:
    document = {
        "nodePackage": {
            "envelopeVersion": "2021-01-01",
            "name": name,
            "version": version,
            "description": "Counts people.",
            "assets": [],
            "interfaces": [
                {
                    "name": "interface",
                    "category": "business_logic",
                    "asset": "code_asset",
                    "description": "The code node",
                    "inputs": [
                        {"name": "video_in", "type": "media", "maxConnections": 1},
                        {"name": "threshold", "type": "float32", "default": threshold},
                        {"name": "label", "type": "string", "default": "person"},
                    ],
                    "outputs": [{"name": "video_out", "type": "media", "description": "Annotated"}],
                }
            ],
            **extra,
        }
    }
    return json.dumps(document, indent=2).encode()


def upload(client, manifest: bytes) -> str:
    """Put a package.json into the asset store as vantage-cli does (the REST API); its patch."""
    sha = hashlib.sha256(manifest).hexdigest()
    answer = client.put(
        f"/api/assets/{sha}/?filename=package.json", manifest,
        content_type="application/octet-stream",
    )  # fmt: skip
    assert answer.status_code in (200, 201), answer.content
    return sha


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


# --- camera template jobs -------------------------------------------------------------------------


def _without_secrets(client) -> list[bytes]:
    """Collect every raw response body ``client`` receives."""
    bodies: list[bytes] = []
    client.meta.events.register(
        "after-call.panorama.*", lambda http_response, **_: bodies.append(http_response.content)
    )
    return bodies


def test_a_camera_template_job_adds_the_data_source_and_its_package(api, operator):
    bodies = _without_secrets(api)
    job_id = api.create_node_from_template_job(
        TemplateType="RTSP_CAMERA_STREAM",
        OutputPackageName="front_door",
        OutputPackageVersion="1.0",
        NodeName="front_door",
        NodeDescription="The front door",
        TemplateParameters={
            "Username": "admin",
            "Password": PASSWORD,
            "StreamUrl": "rtsp://10.0.0.5:554/live",
        },
        JobTags=[{"ResourceType": "PACKAGE", "Tags": {"site": "hq"}}],
    )["JobId"]
    assert uuid.UUID(job_id)
    source = DataSource.objects.get(name="front_door")
    assert source.url == "rtsp://10.0.0.5:554/live" and source.description == "The front door"
    assert source.credentials() == ("admin", PASSWORD)
    assert PASSWORD not in source.password_encrypted  # encrypted at rest, as the form saves it
    job = NodeFromTemplateJob.objects.get(job_id=job_id)
    assert job.data_source == source and job.requested_by == operator
    package = NodePackage.objects.get(name="front_door")
    assert package.tags == {"site": "hq"}

    described = api.describe_node_from_template_job(JobId=job_id)
    assert described["Status"] == "SUCCEEDED"
    assert described["TemplateParameters"] == {
        "Username": SAVED_AS_SECRET, "Password": SAVED_AS_SECRET,
        "StreamUrl": "rtsp://10.0.0.5:554/live",
    }  # fmt: skip
    assert described["OutputPackageName"] == "front_door" and described["NodeName"] == "front_door"
    assert described["JobTags"] == [{"ResourceType": "PACKAGE", "Tags": {"site": "hq"}}]
    listed = api.list_node_from_template_jobs()["NodeFromTemplateJobs"]
    assert [(j["JobId"], j["NodeName"], j["Status"]) for j in listed] == [
        (job_id, "front_door", "SUCCEEDED")
    ]
    # The camera is a node like any other, with its stream as a default and no credentials.
    camera = api.list_nodes(Category="MEDIA_SOURCE")["Nodes"]
    assert [(n["PackageName"], n["Name"]) for n in camera] == [("front_door", "front_door")]
    ports = api.describe_node(NodeId=camera[0]["NodeId"])["NodeInterface"]["Inputs"]
    assert {p["Name"]: p.get("DefaultValue") for p in ports} == {
        "username": SAVED_AS_SECRET, "password": SAVED_AS_SECRET,
        "streamUrl": "rtsp://10.0.0.5:554/live",
    }  # fmt: skip
    assert bodies and not any(PASSWORD.encode() in body or b"admin" in body for body in bodies)

    # Asked again for the same camera, it is the console's edit: a new URL, credentials kept.
    again = api.create_node_from_template_job(
        TemplateType="RTSP_CAMERA_STREAM", OutputPackageName="front_door",
        OutputPackageVersion="1.0", NodeName="front_door",
        TemplateParameters={"StreamUrl": "rtsp://10.0.0.5:554/live2"},
    )["JobId"]  # fmt: skip
    assert again != job_id
    source.refresh_from_db()
    assert source.url == "rtsp://10.0.0.5:554/live2" and source.credentials() == ("admin", PASSWORD)
    assert DataSource.objects.count() == 1
    assert PatchVersion.objects.filter(package_version__package__name="front_door").count() == 2
    pages = [api.list_node_from_template_jobs(MaxResults=1)]
    pages.append(api.list_node_from_template_jobs(MaxResults=1, NextToken=pages[0]["NextToken"]))
    assert [p["NodeFromTemplateJobs"][0]["JobId"] for p in pages] == [again, job_id]
    assert "NextToken" not in pages[1]


def test_camera_template_jobs_are_checked_as_the_form_checks(api):
    def refused(**changes) -> dict:
        arguments = {
            "TemplateType": "RTSP_CAMERA_STREAM", "OutputPackageName": "cam",
            "OutputPackageVersion": "1.0", "NodeName": "cam",
            "TemplateParameters": {"StreamUrl": "rtsp://10.0.0.5/live"},
        } | changes  # fmt: skip
        with pytest.raises(api.exceptions.ValidationException) as caught:
            api.create_node_from_template_job(**arguments)
        return error_of(caught)

    wrong = refused(TemplateParameters={"StreamUrl": "http://10.0.0.5/live", "Password": PASSWORD})
    assert [f["Name"] for f in wrong["Fields"]] == ["TemplateParameters.StreamUrl"]
    assert "rtsp://" in wrong["Fields"][0]["Message"] and PASSWORD not in json.dumps(wrong)
    assert [f["Name"] for f in refused(NodeName="other")["Fields"]] == ["NodeName"]
    assert [f["Name"] for f in refused(OutputPackageVersion="2.0")["Fields"]] == [
        "OutputPackageVersion"
    ]
    unknown = refused(TemplateParameters={"StreamUrl": "rtsp://h/x", "Codec": "h264"})
    assert "Codec" in unknown["Fields"][0]["Message"]
    assert refused(TemplateParameters={"Username": "u"})["Fields"][0]["Name"] == (
        "TemplateParameters.StreamUrl"
    )
    assert not DataSource.objects.exists() and not NodeFromTemplateJob.objects.exists()
    with pytest.raises(api.exceptions.ResourceNotFoundException):
        api.describe_node_from_template_job(JobId=str(uuid.uuid4()))
    with pytest.raises(api.exceptions.ResourceNotFoundException):
        api.describe_node_from_template_job(JobId="not-a-job")


# --- package import jobs --------------------------------------------------------------------------

INPUT = {"PackageVersionInputConfig": {"S3Location": {"BucketName": "b", "ObjectKey": "k"}}}
OUTPUT = {"PackageVersionOutputConfig": {"PackageName": "counter", "PackageVersion": "1.0"}}


def test_import_jobs_need_the_s3_asset_store(api, asset_store):
    with pytest.raises(api.exceptions.ValidationException) as refused:
        api.create_package_import_job(
            JobType="NODE_PACKAGE_VERSION", ClientToken="t1", InputConfig=INPUT,
            OutputConfig=OUTPUT,
        )  # fmt: skip
    error = error_of(refused)
    assert "S3 asset store" in error["Message"] and "ASSET_STORE=s3://" in error["Message"]
    assert error["Fields"][0]["Name"] == "InputConfig.PackageVersionInputConfig.S3Location"
    assert api.list_package_import_jobs()["PackageImportJobs"] == []


def test_an_import_job_registers_a_package_json_from_s3(api, s3_store, panorama):
    s3, bucket = s3_store
    manifest = package_json("counter")
    s3.put_object(Bucket=bucket, Key="uploads/counter/package.json", Body=manifest)
    request = {
        "JobType": "NODE_PACKAGE_VERSION",
        "ClientToken": "import-1",
        "InputConfig": {"PackageVersionInputConfig": {"S3Location": {
            "BucketName": bucket, "ObjectKey": "uploads/counter/package.json"}}},
        "OutputConfig": {"PackageVersionOutputConfig": {
            "PackageName": "counter", "PackageVersion": "1.0", "MarkLatest": True}},
        "JobTags": [{"ResourceType": "PACKAGE", "Tags": {"imported": "yes"}}],
    }  # fmt: skip
    job_id = api.create_package_import_job(**request)["JobId"]
    patch = hashlib.sha256(manifest).hexdigest()
    described = api.describe_package_import_job(JobId=job_id)
    assert described["Status"] == "SUCCEEDED", described["StatusMessage"]
    package = NodePackage.objects.get(name="counter")
    assert described["Output"]["PackageId"] == package.package_id
    assert described["Output"]["PatchVersion"] == patch
    assert described["Output"]["PackageVersion"] == "1.0"
    # The package.json is kept in the store under its sha256, where StorageLocation says.
    location = described["Output"]["OutputS3Location"]
    assert location == {"BucketName": bucket, "ObjectKey": f"vantage/assets/{patch[:2]}/{patch}"}
    assert s3.get_object(Bucket=bucket, Key=location["ObjectKey"])["Body"].read() == manifest
    assert described["ClientToken"] == "import-1"
    assert described["InputConfig"] == request["InputConfig"]
    assert described["OutputConfig"] == request["OutputConfig"]
    assert package.tags == {"imported": "yes"}
    version = api.describe_package_version(PackageId=package.package_id, PackageVersion="1.0")
    assert version["PatchVersion"] == patch and version["IsLatestPatch"] is True

    # Idempotent by ClientToken; the same token for another request is a conflict.
    assert api.create_package_import_job(**request)["JobId"] == job_id
    with pytest.raises(api.exceptions.ConflictException):
        api.create_package_import_job(**request | {"JobTags": []})

    # An object that cannot be read is refused, with no job made.
    with pytest.raises(api.exceptions.ValidationException) as unreadable:
        api.create_package_import_job(
            **request | {"ClientToken": "import-2", "InputConfig": {"PackageVersionInputConfig": {
                "S3Location": {"BucketName": bucket, "ObjectKey": "nothing/here.json"}}}}
        )  # fmt: skip
    assert f"s3://{bucket}/nothing/here.json could not be read" in error_of(unreadable)["Message"]
    assert error_of(unreadable)["Fields"][0]["Name"] == (
        "InputConfig.PackageVersionInputConfig.S3Location"
    )
    # A package.json the registry refuses fails its job, saying why; the store keeps the file.
    other = package_json("another_name")
    s3.put_object(Bucket=bucket, Key="uploads/other.json", Body=other)
    missing = api.create_package_import_job(
        **request | {"ClientToken": "import-2", "InputConfig": {"PackageVersionInputConfig": {
            "S3Location": {"BucketName": bucket, "ObjectKey": "uploads/other.json"}}},
            "OutputConfig": {"PackageVersionOutputConfig": {
                "PackageName": "renamed", "PackageVersion": "1.0"}}}
    )["JobId"]  # fmt: skip
    failed = checked(panorama(Role.VIEWER)).describe_package_import_job(JobId=missing)
    assert failed["Status"] == "FAILED"
    assert "another_name" in failed["StatusMessage"] and "renamed" in failed["StatusMessage"]
    assert failed["Output"]["PatchVersion"] == hashlib.sha256(other).hexdigest()
    assert failed["Output"]["PackageId"] == "packageName/renamed"
    assert not NodePackage.objects.filter(name="renamed").exists()

    jobs = api.list_package_import_jobs(MaxResults=1)
    assert [j["JobId"] for j in jobs["PackageImportJobs"]] == [missing]
    rest = api.list_package_import_jobs(MaxResults=1, NextToken=jobs["NextToken"])
    assert [(j["JobId"], j["Status"]) for j in rest["PackageImportJobs"]] == [(job_id, "SUCCEEDED")]
    assert "NextToken" not in rest
    with pytest.raises(api.exceptions.ValidationException):
        api.create_package_import_job(**request | {
            "ClientToken": "import-3", "JobType": "MARKETPLACE_NODE_PACKAGE_VERSION"})  # fmt: skip
    with pytest.raises(api.exceptions.ResourceNotFoundException):
        api.describe_package_import_job(JobId=str(uuid.uuid4()))


def test_a_package_json_put_into_the_s3_store_registers(api, s3_store):
    """As panorama-cli did: the manifest copied to the store's manifest prefix, then registered."""
    s3, bucket = s3_store
    created = api.create_package(PackageName="counter")
    where = created["StorageLocation"]
    assert where["Bucket"] == bucket and where["ManifestPrefixLocation"] == "vantage/assets"
    manifest = package_json("counter")
    patch = hashlib.sha256(manifest).hexdigest()
    key = f"{where['ManifestPrefixLocation']}/{patch[:2]}/{patch}"
    s3.put_object(Bucket=bucket, Key=key, Body=manifest)
    api.register_package_version(
        PackageId=created["PackageId"], PackageVersion="1.0", PatchVersion=patch, MarkLatest=True
    )
    assert PatchVersion.objects.get().patch == patch


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
