"""The appliance-facing HTTP endpoints (docs/protocol.md): provisioning and software downloads.

They are not part of the operator's console: no session, no CSRF, no roles. An appliance proves
who it is with its one-time provisioning credential (``provision``) or with a request signed by
its device key (everything else).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.http import (
    FileResponse,
    HttpRequest,
    JsonResponse,
)
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.status import DeviceConnectionStatus, DeviceStatus, DeviceType
from core.storage import asset_storage
from devicelink.auth import AuthError, load_public_key, verify_provision_proof
from devicelink.network import NetworkStatus
from devices import live
from devices.agent_auth import authenticate_device, refuse_unknown
from devices.models import Device, DeviceLog, ProvisioningCredential, SoftwareImage
from devices.software import refresh_update_needed, software_storage_name

logger = logging.getLogger(__name__)


class ProvisionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    device_id: str = Field(pattern=r"^device-[a-z2-7]{26}$")
    credential_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    provisioning_token: str = Field(min_length=20, max_length=200)
    public_key: str = Field(max_length=64)
    proof: str = Field(max_length=200)
    serial_number: str = Field(default="", pattern=r"^[0-9]{0,20}$")
    software_version: str = Field(default="", max_length=20)
    device_type: DeviceType = DeviceType.PANORAMA_APPLIANCE
    network_status: NetworkStatus = Field(default_factory=NetworkStatus)


def error_response(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _log(device: Device, level: str, message: str) -> None:
    DeviceLog.objects.create(
        device=device, time=timezone.now(), stream="occ_log", level=level, message=message
    )
    live.device_updated(device, ["logs"])


def _check_credential(credential: ProvisioningCredential, token: str) -> None:
    now = timezone.now()
    if not credential.matches(token):
        raise AuthError(401, "The archive's provisioning token is wrong; download a new archive.")
    if credential.superseded_at is not None:
        raise AuthError(
            403,
            "This archive was replaced by a newer one at "
            f"{credential.superseded_at:%Y-%m-%d %H:%M:%S UTC}; use the newest archive.",
        )
    if credential.used_at is not None:
        raise AuthError(
            403,
            f"This archive was already used at {credential.used_at:%Y-%m-%d %H:%M:%S UTC}; a "
            "provisioning credential works once. Download a new archive from the console.",
        )
    if credential.expires_at <= now:
        raise AuthError(
            403,
            f"The archive's provisioning credential expired at "
            f"{credential.expires_at:%Y-%m-%d %H:%M:%S UTC} (it is valid for 5 minutes). "
            "Download a new archive from the console.",
        )


@csrf_exempt
@require_POST
def provision(request: HttpRequest) -> JsonResponse:
    try:
        claim = ProvisionRequest.model_validate_json(request.body)
        load_public_key(claim.public_key)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        return error_response(
            400, f"The provisioning request is malformed: {where}: {first['msg']}"
        )
    except ValueError as exc:
        return error_response(400, f"The provisioning request is malformed: public_key: {exc}")
    refusal: AuthError | None = None
    with transaction.atomic():
        device = Device.objects.select_for_update().filter(device_id=claim.device_id).first()
        if device is None:
            refusal = refuse_unknown(claim.device_id)
            logger.warning("provisioning refused for %s: %s", claim.device_id, refusal.message)
            return error_response(refusal.status, refusal.message)
        credential = device.credentials.filter(credential_id=claim.credential_id).first()
        try:
            if credential is None:
                raise AuthError(
                    401, "The archive's credential is unknown to this console; download a new one."
                )
            _check_credential(credential, claim.provisioning_token)
            verify_provision_proof(
                claim.public_key, claim.proof, claim.device_id, claim.credential_id
            )
            now = timezone.now()
            # The check and the use are one conditional update, so a credential works once
            # even when two appliances present it at the same moment.
            used = ProvisioningCredential.objects.filter(
                pk=credential.pk, used_at=None, superseded_at=None, expires_at__gt=now
            ).update(used_at=now)
            if not used:
                raise AuthError(403, "This archive was already used; download a new archive.")
        except AuthError as exc:
            refusal = exc
        if refusal is None:
            device.public_key = claim.public_key
            device.serial_number = claim.serial_number
            device.current_software = claim.software_version
            device.device_type = claim.device_type
            device.network_status = claim.network_status.model_dump()
            device.network_updated = now
            device.provisioning_status = DeviceStatus.PENDING
            device.connection_status = DeviceConnectionStatus.AWAITING_CREDENTIALS
            device.provisioned_at = now
            device.link_session = ""
            # A provisioned agent starts with an empty outbox and nothing applied.
            device.last_report_seq = 0
            device.applied_version = 0
            device.activity = ""
            device.save()
            refresh_update_needed(Device.objects.filter(pk=device.pk))
    if refusal is not None:
        logger.warning("provisioning refused for %s: %s", device.device_id, refusal.message)
        _log(device, "WARNING", f"Provisioning refused: {refusal.message}")
        return error_response(refusal.status, refusal.message)
    _log(
        device,
        "INFO",
        f"Provisioned with archive {claim.credential_id[:8]}: serial {claim.serial_number}, "
        f"software {claim.software_version}.",
    )
    live.device_updated(device, ["status", "network", "software", "details"])
    return JsonResponse(
        {
            "device_id": device.device_id,
            "device_name": device.name,
            "link_path": "/agent/v1/link",
            "heartbeat_s": settings.DEVICE_HEARTBEAT_S,
            "lease_s": settings.DEVICE_LEASE_S,
        }
    )


@require_GET
def software_bundle(request: HttpRequest, version: str) -> JsonResponse | FileResponse:
    try:
        authenticate_device(request.headers.get("Authorization"), "GET", request.path)
    except AuthError as exc:
        return error_response(exc.status, exc.message)
    image = SoftwareImage.objects.filter(version=version).first()
    if image is None:
        return error_response(404, f"No software image {version} exists on this console.")
    response = FileResponse(
        asset_storage().open(software_storage_name(image.version), "rb"),
        content_type="application/gzip",
    )
    response["Content-Length"] = str(image.size)
    response["X-Vantage-Sha256"] = image.sha256
    response["X-Vantage-Signature"] = image.signature
    return response
