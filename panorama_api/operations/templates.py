"""Camera nodes: CreateNodeFromTemplateJob, DescribeNodeFromTemplateJob, ListNodeFromTemplateJobs.

One implementation, two front doors: a job is the console's *Add camera stream* — the same form
checks the stream URL and credentials, saves the data source with its credentials encrypted, and
``register_camera_package`` registers its node package through a NodeFromTemplateJob. Asked
again for a camera that exists, it is the form's *Edit* (a new patch when something changed).
Credentials never come back: describe shows them as ``SAVED_AS_SECRET``, as Panorama does.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction

from applications.camera_packages import CAMERA_VERSION, register_camera_package
from applications.models import NodeFromTemplateJob
from core.status import NodeFromTemplateJobStatus, TemplateType
from datasources.forms import DataSourceForm
from datasources.models import SAVED_AS_SECRET, DataSource
from panorama_api.call import Call
from panorama_api.errors import NotFound, ValidationError
from panorama_api.operations.packages import add_job_tags, check_job_tags, present
from panorama_api.pagination import page
from panorama_api.registry import operation

PARAMETERS = ("Username", "Password", "StreamUrl")
# The form's fields, as the request names them.
MEMBERS = {
    "name": "OutputPackageName",
    "description": "NodeDescription",
    "url": "TemplateParameters.StreamUrl",
    "username": "TemplateParameters.Username",
    "password": "TemplateParameters.Password",
    "__all__": "TemplateParameters",
}


def _check_request(
    template_type: str, package: str, version: str, node: str, parameters: dict[str, str]
) -> None:
    fields = []
    if template_type != TemplateType.RTSP_CAMERA_STREAM:
        fields.append(("TemplateType", f"only {TemplateType.RTSP_CAMERA_STREAM} is supported"))
    if node != package:
        fields.append(
            ("NodeName", f"a camera's node is named as its package ({package}), as in Panorama's "
             "samples: an override names it <account>::<name>.<name>")
        )  # fmt: skip
    if version != CAMERA_VERSION:
        fields.append(("OutputPackageVersion", f"camera packages are version {CAMERA_VERSION}"))
    unknown = sorted(set(parameters) - set(PARAMETERS))
    if unknown:
        fields.append(
            ("TemplateParameters", f"unknown parameter(s) {', '.join(unknown)}; "
             f"{TemplateType.RTSP_CAMERA_STREAM} takes {', '.join(PARAMETERS)}")
        )  # fmt: skip
    if not parameters.get("StreamUrl"):
        fields.append(("TemplateParameters.StreamUrl", "the camera's rtsp:// URL is required"))
    if fields:
        raise ValidationError(
            "The camera template job is not valid: "
            + "; ".join(f"{name}: {message}" for name, message in fields),
            fields=fields,
        )


def _form_errors(form: DataSourceForm) -> ValidationError:
    # Messages only: the form's errors never carry the values typed (no credentials echoed).
    fields = [
        (MEMBERS.get(field, field), message)
        for field, messages in form.errors.items()
        for message in messages
    ]
    return ValidationError(
        "The camera stream is not valid: " + "; ".join(f"{n}: {m}" for n, m in fields),
        fields=fields,
    )


@operation("CreateNodeFromTemplateJob")
def create_node_from_template_job(
    call: Call,
    *,
    TemplateType: str,
    OutputPackageName: str,
    OutputPackageVersion: str,
    NodeName: str,
    TemplateParameters: dict[str, str],
    NodeDescription: str = "",
    JobTags: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    _check_request(TemplateType, OutputPackageName, OutputPackageVersion, NodeName,
                   TemplateParameters)  # fmt: skip
    job_tags = check_job_tags(JobTags)
    with transaction.atomic():
        existing = DataSource.objects.select_for_update().filter(name=OutputPackageName).first()
        form = DataSourceForm(
            data={
                "name": OutputPackageName,
                "description": NodeDescription or "",
                "url": TemplateParameters["StreamUrl"],
                "username": TemplateParameters.get("Username", ""),
                "password": TemplateParameters.get("Password", ""),
            },
            instance=existing,
        )
        if not form.is_valid():
            raise _form_errors(form)
        source = form.save()
        job = register_camera_package(source, call.user)
        if job_tags:
            job.job_tags = job_tags
            job.save(update_fields=["job_tags"])
            if job.patch is not None:
                add_job_tags(job.patch.package_version.package, job_tags)
    return {"JobId": str(job.job_id)}


def _status_message(job: NodeFromTemplateJob) -> str:
    if job.status_message:
        return job.status_message
    if job.status == NodeFromTemplateJobStatus.SUCCEEDED:
        return f"Camera node {job.node_name} registered."
    return ""


def _parameters(job: NodeFromTemplateJob) -> dict[str, str]:
    """StreamUrl, and the credentials only as SAVED_AS_SECRET: never their values."""
    source = job.data_source
    if source is None:  # the camera stream was deleted since
        return {}
    parameters = {"StreamUrl": source.url}
    if source.has_credentials:
        parameters.update(Username=SAVED_AS_SECRET, Password=SAVED_AS_SECRET)
    return parameters


def _get_job(job_id: str) -> NodeFromTemplateJob:
    try:
        key = uuid.UUID(job_id)
    except ValueError:
        key = None
    job = (
        NodeFromTemplateJob.objects.select_related("data_source").filter(job_id=key).first()
        if key
        else None
    )
    if job is None:
        raise NotFound(f"Node from template job {job_id} not found.", job_id, "job")
    return job


@operation("DescribeNodeFromTemplateJob")
def describe_node_from_template_job(call: Call, *, JobId: str) -> dict[str, Any]:
    job = _get_job(JobId)
    return present(
        {
            "JobId": str(job.job_id),
            "Status": job.status,
            "StatusMessage": _status_message(job),
            "CreatedTime": job.created,
            "LastUpdatedTime": job.created,  # the job ran to its end when it was made
            "OutputPackageName": job.output_package_name,
            "OutputPackageVersion": job.output_package_version,
            "NodeName": job.node_name,
            "NodeDescription": job.node_description,
            "TemplateType": job.template_type,
            "JobTags": job.job_tags or None,
        }
    ) | {"TemplateParameters": _parameters(job), "StatusMessage": _status_message(job)}


@operation("ListNodeFromTemplateJobs")
def list_node_from_template_jobs(
    call: Call, *, MaxResults: int | None = None, NextToken: str | None = None
) -> dict[str, Any]:
    jobs = NodeFromTemplateJob.objects.order_by("-created", "-pk")
    chunk, token = page(jobs, MaxResults, NextToken, "ListNodeFromTemplateJobs")
    items = [
        {
            "JobId": str(job.job_id),
            "NodeName": job.node_name,
            "Status": job.status,
            "StatusMessage": _status_message(job),
            "TemplateType": job.template_type,
            "CreatedTime": job.created,
        }
        for job in chunk
    ]
    return present({"NodeFromTemplateJobs": items, "NextToken": token}) | {
        "NodeFromTemplateJobs": items
    }
