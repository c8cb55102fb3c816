"""The audit log: every change an operator makes, with who, when and before/after values.

django-auditlog records the changes of registered models; its middleware names the actor for
changes made through the console or the API. Secret fields are excluded, so neither values nor
hashes of secrets ever reach the log.
"""

from __future__ import annotations

from auditlog.registry import auditlog


def register_models() -> None:
    from applications.models import ApplicationInstance
    from console.models import APIToken, User
    from datasources.models import DataSource
    from devices.models import Device

    auditlog.register(User, exclude_fields=["password", "last_login", "api_tokens"])
    auditlog.register(APIToken, exclude_fields=["secret_hash", "last_used"])
    auditlog.register(Device)
    # Credential changes are logged as changes, with the (encrypted) values masked.
    auditlog.register(
        DataSource, mask_fields=list(DataSource.encrypted_fields), exclude_fields=["checks"]
    )
    auditlog.register(ApplicationInstance)
