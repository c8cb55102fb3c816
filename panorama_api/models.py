"""Access keys for the Panorama API: an AWS-style key pair per user.

SigV4 is verified by computing the signature again, which needs the secret itself: it is kept
encrypted under the console's credentials key (``core/crypto.py``), never hashed, and shown
once, when the key is made.
"""

from __future__ import annotations

import secrets
import string

from django.conf import settings
from django.db import models

from core import crypto

ID_ALPHABET = string.ascii_uppercase + "234567"


class AccessKey(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_keys"
    )
    access_key_id = models.CharField(max_length=20, unique=True, editable=False)
    secret_encrypted = models.TextField(editable=False)
    description = models.CharField(max_length=100, blank=True)
    enabled = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.access_key_id

    @property
    def secret(self) -> str:
        return crypto.decrypt(self.secret_encrypted)

    @classmethod
    def make(cls, user, description: str = "") -> tuple[AccessKey, str]:  # type: ignore[no-untyped-def]
        """A new key for ``user``; (the key, its secret) — the secret is never shown again."""
        key_id = "VKIA" + "".join(secrets.choice(ID_ALPHABET) for _ in range(16))
        secret = secrets.token_urlsafe(30)[:40]
        key = cls.objects.create(
            user=user, access_key_id=key_id, secret_encrypted=crypto.encrypt(secret),
            description=description,
        )  # fmt: skip
        return key, secret
