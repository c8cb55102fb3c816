"""Panorama's modeled errors, as rest-json sends them: the ``X-Amzn-ErrorType`` header and a
JSON body with ``Message`` and the members the model lists. boto3 raises each as its modeled
exception class (``client.exceptions.ResourceNotFoundException`` …).
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    code = "InternalServerException"
    status = 500

    def __init__(self, message: str, **members: Any) -> None:
        super().__init__(message)
        self.message = message
        self.members = {k: v for k, v in members.items() if v is not None}

    def body(self) -> dict[str, Any]:
        return {"Message": self.message, **self.members}

    def headers(self) -> dict[str, str]:
        return {}


class ValidationError(ApiError):
    """400. ``fields``: [(member path, what is wrong)]; reason: FIELD_VALIDATION_FAILED when
    fields are given, else OTHER (or CANNOT_PARSE / UNKNOWN_OPERATION)."""

    code, status = "ValidationException", 400

    def __init__(
        self, message: str, *, fields: list[tuple[str, str]] | None = None, reason: str = ""
    ) -> None:
        reason = reason or ("FIELD_VALIDATION_FAILED" if fields else "OTHER")
        super().__init__(
            message,
            Reason=reason,
            Fields=[{"Name": n, "Message": m} for n, m in fields] if fields else None,
        )


class AccessDenied(ApiError):
    code, status = "AccessDeniedException", 403


class NotFound(ApiError):
    """404, naming the resource: ``NotFound("Device abc not found.", "abc", "device")``."""

    code, status = "ResourceNotFoundException", 404

    def __init__(self, message: str, resource_id: str, resource_type: str) -> None:
        super().__init__(message, ResourceId=resource_id, ResourceType=resource_type)


class Conflict(ApiError):
    code, status = "ConflictException", 409

    def __init__(self, message: str, resource_id: str, resource_type: str) -> None:
        super().__init__(message, ResourceId=resource_id, ResourceType=resource_type)


class QuotaExceeded(ApiError):
    """402, as Panorama sends it."""

    code, status = "ServiceQuotaExceededException", 402

    def __init__(
        self, message: str, quota_code: str, resource_id: str = "", resource_type: str = ""
    ) -> None:
        super().__init__(
            message, QuotaCode=quota_code, ServiceCode="panorama",
            ResourceId=resource_id or None, ResourceType=resource_type or None,
        )  # fmt: skip


class InternalError(ApiError):
    code, status = "InternalServerException", 500

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


class Unavailable(InternalError):
    """A service the console needs (its task queue) is down and nothing was done: Panorama's
    InternalServerException, the only server fault in its model, with its RetryAfterSeconds
    (the Retry-After header), but 503 as the console's other interfaces answer it. boto3 reads
    the error from X-Amzn-ErrorType whatever the status, and its retry modes retry a 503."""

    status = 503


class Throttled(ApiError):
    """Not in Panorama's model, but a code botocore's retry modes treat as throttling."""

    code, status = "ThrottlingException", 429
