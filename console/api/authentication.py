"""Bearer tokens for the REST API: ``Authorization: Bearer vtg_<key id>_<secret>``."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from core.auditing import record_actor
from core.models import APIToken

# last_used is written at most this often per token, not on every request.
LAST_USED_RESOLUTION_S = 60


class APITokenAuthentication(authentication.BaseAuthentication):
    keywords = ("Bearer", "Token")

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(errors="replace")
        if not header:
            return None
        keyword, _, text = header.partition(" ")
        if keyword not in self.keywords:
            return None
        parsed = APIToken.parse(text.strip())
        if parsed is None:
            raise exceptions.AuthenticationFailed(
                "Malformed token: expected 'Bearer vtg_<key id>_<secret>'."
            )
        key_id, secret = parsed
        token = APIToken.objects.select_related("user").filter(key_id=key_id).first()
        if token is None or not token.matches(secret):
            raise exceptions.AuthenticationFailed("Invalid token.")
        if token.is_expired:
            raise exceptions.AuthenticationFailed(
                "Token expired; ask an administrator for a new one."
            )
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("The token's user is deactivated.")
        now = timezone.now()
        if (
            token.last_used is None
            or (now - token.last_used).total_seconds() > LAST_USED_RESOLUTION_S
        ):
            APIToken.objects.filter(pk=token.pk).update(last_used=now)
        # The audit middleware ran before DRF knew the token's user (core/auditing.py).
        record_actor(token.user)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="vantage"'


class APITokenScheme(OpenApiAuthenticationExtension):
    """Describes the bearer tokens in the OpenAPI schema."""

    target_class = APITokenAuthentication
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "vtg_<key id>_<secret>",
            "description": "An API token created by an administrator (Settings → API tokens).",
        }
