"""The audit log: every change an operator makes, with who, when and before/after values.

django-auditlog records the changes of registered models; its middleware names the actor for
changes made through the console, and the API's token and SigV4 authenticators name it for
theirs (core/auditing.py). Secret fields are excluded, so neither values nor
hashes of secrets ever reach the log.
"""

from __future__ import annotations

from auditlog.middleware import AuditlogMiddleware
from auditlog.registry import auditlog

from applications.models import (
    ApplicationInstance,
    NodeFromTemplateJob,
    NodePackage,
    PackageImportJob,
    PatchVersion,
    RuntimeRole,
)
from core.models import APIToken, User
from datasources.models import DataSource
from devices.models import LINK_FIELDS, Device
from panorama_api.models import AccessKey


class AuditMiddleware(AuditlogMiddleware):
    """django-auditlog's middleware, minus its trust in X-Forwarded-For.

    Any client can send that header. The ASGI server (uvicorn --proxy-headers) already puts the
    real client address into REMOTE_ADDR when the request comes through a trusted proxy.
    """

    @staticmethod
    def _get_remote_addr(request):
        return request.META.get("REMOTE_ADDR")

    @staticmethod
    def _get_remote_port(request) -> None:
        return None


def mask_secret(value: str) -> str:
    return "(changed)" if value else "(none)"


def register_models() -> None:
    auditlog.register(User, exclude_fields=["password", "last_login", "api_tokens"])
    auditlog.register(APIToken, exclude_fields=["secret_hash", "last_used"])
    auditlog.register(AccessKey, exclude_fields=["secret_encrypted", "last_used"])
    # Operators' changes only: what the device link writes (connections, leases, heartbeats,
    # reports) would add a row per connection and per report and bury the operators' actions.
    auditlog.register(Device, exclude_fields=list(LINK_FIELDS))
    # Credential changes are logged as changes; the (encrypted) values never are.
    auditlog.register(
        DataSource,
        mask_fields=list(DataSource.encrypted_fields),
        mask_callable="console.audit.mask_secret",
        exclude_fields=["checks"],
    )
    auditlog.register(ApplicationInstance)
    auditlog.register(
        RuntimeRole,
        mask_fields=list(RuntimeRole.encrypted_fields),
        mask_callable="console.audit.mask_secret",
    )
    auditlog.register(NodePackage)
    auditlog.register(PatchVersion, exclude_fields=["manifest_text"])
    auditlog.register(NodeFromTemplateJob)
    auditlog.register(PackageImportJob)
