"""Camera template jobs and package import jobs through boto3's real ``panorama`` client against
the live console: CreateNodeFromTemplateJob, DescribeNodeFromTemplateJob, ListNodeFromTemplateJobs,
CreatePackageImportJob, DescribePackageImportJob, ListPackageImportJobs."""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest

from applications.models import (
    NodeFromTemplateJob,
    NodePackage,
    PatchVersion,
)
from core.roles import Role
from datasources.models import SAVED_AS_SECRET, DataSource
from tests.support.panorama import INPUT, OUTPUT, PASSWORD, checked, error_of, package_json

pytestmark = pytest.mark.django_db(transaction=True)


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
