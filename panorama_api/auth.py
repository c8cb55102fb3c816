"""SigV4, verified by signing the request again with botocore's own signer.

The request is rebuilt from what the client signed (its method, path as sent, query string,
the headers its ``SignedHeaders`` lists, and the body), with the time it signed at, and given
to :class:`botocore.auth.SigV4Auth` with the access key's secret; the signatures must be equal.
Every failure is ``AccessDeniedException`` (403), as AWS answers: no or a malformed signature,
an unknown or disabled key, a time more than 15 minutes off, another region or service.
"""

from __future__ import annotations

import hmac
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from panorama_api.errors import AccessDenied
from panorama_api.models import AccessKey

SERVICE = "panorama"
SKEW = timedelta(minutes=15)
AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/,\s]+)/"
    r"(?P<service>[^/,\s]+)/aws4_request,\s*SignedHeaders=(?P<headers>[a-z0-9;\-]+),\s*"
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)


def authenticate(request: HttpRequest, path: str | None = None) -> AccessKey:
    """The access key that signed ``request``; ``path``: the path as the client sent it, when
    the server decoded it (see ``signed_path``)."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header:
        raise AccessDenied("Missing Authentication Token: sign the request with an access key.")
    parts = AUTHORIZATION.match(header.strip())
    if parts is None:
        raise AccessDenied("The Authorization header is not an AWS4-HMAC-SHA256 signature.")
    stamp = request.META.get("HTTP_X_AMZ_DATE", "")
    try:
        signed_at = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise AccessDenied("The request has no valid X-Amz-Date header.") from None
    now = timezone.now()
    if abs(now - signed_at) > SKEW:
        raise AccessDenied(
            f"Signature expired: {stamp} is now earlier than "
            f"{(now - SKEW):%Y%m%dT%H%M%SZ} ({now:%Y%m%dT%H%M%SZ} - 15 min.)"
            if signed_at < now
            else f"Signature not yet current: {stamp} is still later than "
            f"{(now + SKEW):%Y%m%dT%H%M%SZ} ({now:%Y%m%dT%H%M%SZ} + 15 min.)"
        )
    if parts["service"] != SERVICE or parts["region"] != settings.PANORAMA_API_REGION:
        raise AccessDenied(
            f"Credential should be scoped to a valid region ({settings.PANORAMA_API_REGION}) and "
            f"service ({SERVICE}), not {parts['region']}/{parts['service']}."
        )
    if parts["date"] != stamp[:8]:
        raise AccessDenied("The credential's date is not the date the request was signed.")
    key = AccessKey.objects.select_related("user").filter(access_key_id=parts["key"]).first()
    if key is None or not key.enabled or not key.user.is_active:
        raise AccessDenied("The security token included in the request is invalid.")
    expected = _signature(request, key, parts["headers"].split(";"), stamp, parts["region"], path)
    if not hmac.compare_digest(expected, parts["signature"]):
        raise AccessDenied(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method."
        )
    if key.last_used is None or now - key.last_used > timedelta(minutes=1):
        AccessKey.objects.filter(pk=key.pk).update(last_used=now)
    return key


def _signature(
    request: HttpRequest,
    key: AccessKey,
    signed: list[str],
    stamp: str,
    region: str,
    path: str | None,
) -> str:
    path = _raw_path(request) or path or quote(request.path, safe="/~:@!$&'()*+,;=")
    query = request.META.get("QUERY_STRING", "")
    host = request.META.get("HTTP_HOST", "")
    url = f"{request.scheme}://{host}{path}" + (f"?{query}" if query else "")
    headers = {}
    for name in signed:
        value = _header(request, name)
        if value is None:
            raise AccessDenied(f"The signed header {name} is not in the request.")
        headers[name] = value
    aws_request = AWSRequest(method=request.method, url=url, headers=headers, data=request.body)
    aws_request.context["timestamp"] = stamp
    signer = SigV4Auth(Credentials(key.access_key_id, key.secret), SERVICE, region)
    canonical = signer.canonical_request(aws_request)
    return signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)


def _header(request: HttpRequest, name: str) -> str | None:
    special = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}
    meta = special.get(name) or "HTTP_" + name.upper().replace("-", "_")
    return request.META.get(meta)


def _raw_path(request: HttpRequest) -> str | None:
    """The path as the client sent it (percent-encoded), which is what it signed, where the
    server keeps it (ASGI's raw_path, some WSGI servers' RAW_URI)."""
    scope = getattr(request, "scope", None)
    if isinstance(scope, dict) and scope.get("raw_path"):
        return scope["raw_path"].decode("latin-1").split("?", 1)[0]
    for name in ("RAW_URI", "REQUEST_URI"):
        if request.META.get(name):
            return request.META[name].split("?", 1)[0]
    return None


def signed_path(prefix: str, request_uri: str, labels: dict[str, str], names: dict[str, str]):
    """The path botocore sent for an operation: its requestUri with each label encoded as
    botocore encodes it (``/`` too), under the API's prefix. ``names``: label → member."""

    def label(match: re.Match[str]) -> str:
        value = labels.get(names.get(match[1], match[1]), "")
        return quote(value, safe="/~" if match[0].endswith("+}") else "-_.~")

    return prefix + re.sub(r"\{([A-Za-z0-9_]+)\+?\}", label, request_uri.split("?", 1)[0])
