"""Accounts, API tokens and the installation's identity."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from django.contrib.auth.models import AbstractUser
from django.db import models, transaction
from django.utils import timezone

from core.roles import Role


class User(AbstractUser):
    role = models.CharField(
        max_length=20,
        choices=Role.choices,
        default=Role.VIEWER,
        help_text="Viewer reads, Operator runs cameras and applications, Administrator "
        "manages everything.",
    )

    @property
    def effective_role(self) -> Role:
        return Role.ADMINISTRATOR if self.is_superuser else Role(self.role)


class Installation(models.Model):
    """This console's identity: one row, created on first use."""

    account_id = models.CharField(max_length=12, unique=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.account_id

    @classmethod
    def get(cls) -> Installation:
        installation = cls.objects.order_by("pk").first()
        if installation is not None:
            return installation
        with transaction.atomic():
            # Two processes starting together: the unique constraint on pk=1 lets one win.
            installation, _ = cls.objects.get_or_create(
                pk=1, defaults={"account_id": _new_account_id()}
            )
        return installation


def _new_account_id() -> str:
    # Twelve digits like an AWS account ID, never starting with 0 so it survives spreadsheets.
    return str(secrets.randbelow(9 * 10**11) + 10**11)


TOKEN_PREFIX = "vtg_"  # noqa: S105  (a prefix that makes leaked tokens recognisable)


def _hash_token_secret(secret: str) -> str:
    # The secret is 256 random bits, so a plain SHA-256 is enough: there is nothing to guess.
    return hashlib.sha256(secret.encode()).hexdigest()


class APITokenQuerySet(models.QuerySet):
    def active(self) -> APITokenQuerySet:
        now = timezone.now()
        return self.filter(models.Q(expires__isnull=True) | models.Q(expires__gt=now))


class APIToken(models.Model):
    """A bearer token for the REST API: ``vtg_<key id>_<secret>``, stored as a hash."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for.")
    key_id = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    read_only = models.BooleanField(
        default=True, help_text="A read-only token cannot change anything, whatever its role."
    )
    expires = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    created = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_used = models.DateTimeField(null=True, blank=True, editable=False)

    objects = APITokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name} ({self.display_prefix})"

    @property
    def display_prefix(self) -> str:
        return f"{TOKEN_PREFIX}{self.key_id}_…"

    @property
    def is_expired(self) -> bool:
        return self.expires is not None and self.expires <= timezone.now()

    @classmethod
    def issue(
        cls,
        *,
        user: User,
        name: str,
        read_only: bool = True,
        expires: datetime | None = None,
        created_by: User | None = None,
    ) -> tuple[APIToken, str]:
        """Create a token; returns it with the full token text, which is never stored."""
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user,
            name=name,
            key_id=key_id,
            secret_hash=_hash_token_secret(secret),
            read_only=read_only,
            expires=expires,
            created_by=created_by,
        )
        return token, f"{TOKEN_PREFIX}{key_id}_{secret}"

    @classmethod
    def parse(cls, text: str) -> tuple[str, str] | None:
        """Split ``vtg_<key id>_<secret>`` into key id and secret, or None if malformed."""
        if not text.startswith(TOKEN_PREFIX):
            return None
        key_id, sep, secret = text[len(TOKEN_PREFIX) :].partition("_")
        if not sep or len(key_id) != 16 or not secret:
            return None
        return key_id, secret

    def matches(self, secret: str) -> bool:
        return hmac.compare_digest(self.secret_hash, _hash_token_secret(secret))


class ServiceHeartbeat(models.Model):
    """The last time a background service proved it was alive (shown by /healthz)."""

    name = models.CharField(max_length=50, unique=True)
    seen = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} @ {self.seen:%Y-%m-%d %H:%M:%S}"
