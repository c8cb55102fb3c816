"""Every camera stream is also a node package, ``<account>::<name>`` with interface ``<name>``.

That is what Panorama's CreateNodeFromTemplateJob makes, so an override document names a
Vantage camera exactly as it named a Panorama one. Unlike Panorama's, the package.json carries
no credentials: the appliance receives them only in its desired state.
"""

from __future__ import annotations

import json
import uuid

from django.db import transaction

from applications.models import NodeFromTemplateJob, NodePackage
from applications.registry import PackageRejected, register_patch
from core.models import Installation
from core.status import NodeFromTemplateJobStatus
from datasources.models import SAVED_AS_SECRET, DataSource

CAMERA_VERSION = "1.0"
RTSP_SOURCE_ASSET = "source/video/camera/rtsp/source_rtsp"


def camera_package_json(source: DataSource) -> bytes:
    """The package.json of a camera, byte for byte the same for the same settings."""
    secret = SAVED_AS_SECRET if source.has_credentials else ""
    document = {
        "nodePackage": {
            "envelopeVersion": "2021-01-01",
            "name": source.name,
            "version": CAMERA_VERSION,
            "description": source.description or f"Camera stream {source.name}",
            "assets": [
                {
                    "name": "rtsp_camera",
                    "implementations": [{"type": "system", "assetUri": RTSP_SOURCE_ASSET}],
                }
            ],
            "interfaces": [
                {
                    "name": source.name,
                    "category": "media_source",
                    "asset": "rtsp_camera",
                    "description": source.description or f"Camera stream {source.name}",
                    "inputs": [
                        {"name": "username", "type": "string", "default": secret},
                        {"name": "password", "type": "string", "default": secret},
                        {"name": "streamUrl", "type": "string", "default": source.url},
                    ],
                    "outputs": [{"name": "video_out", "type": "media"}],
                }
            ],
        }
    }
    return json.dumps(document, indent=4).encode()


@transaction.atomic
def register_camera_package(source: DataSource, user=None) -> NodeFromTemplateJob:
    """Record a node-from-template job and register the camera's package patch through it."""
    job = NodeFromTemplateJob.objects.create(
        job_id=uuid.uuid4(),
        output_package_name=source.name,
        output_package_version=CAMERA_VERSION,
        node_name=source.name,
        node_description=source.description,
        data_source=source,
        requested_by=user,
    )
    try:
        registered = register_patch(
            account_id=Installation.get().account_id,
            name=source.name,
            version=CAMERA_VERSION,
            manifest_bytes=camera_package_json(source),
        )
    except PackageRejected as rejected:
        job.status = NodeFromTemplateJobStatus.FAILED
        job.status_message = str(rejected)[:255]
    else:
        job.status = NodeFromTemplateJobStatus.SUCCEEDED
        job.patch = registered.patch
    job.save(update_fields=["status", "status_message", "patch"])
    return job


def delete_camera_package(source: DataSource) -> None:
    NodePackage.objects.filter(account_id=Installation.get().account_id, name=source.name).delete()
