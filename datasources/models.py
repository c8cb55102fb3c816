"""Camera streams, with credentials encrypted at rest."""

from __future__ import annotations

from django.db import models

from console import crypto
from console.validators import resource_name_validator

# What describe calls return instead of credentials, as Panorama's API does.
SAVED_AS_SECRET = "SAVED_AS_SECRET"  # noqa: S105  (a marker, not a secret)


class DataSource(models.Model):
    # Columns holding ciphertext; `manage.py rotate_credentials_key` re-encrypts them.
    encrypted_fields = ("username_encrypted", "password_encrypted")

    name = models.CharField(
        max_length=255,
        unique=True,
        validators=[resource_name_validator],
        help_text="Letters, digits, _ and -. Also the name of the camera's node package; "
        "it cannot be changed later.",
    )
    description = models.CharField(max_length=255, blank=True)
    url = models.CharField(
        max_length=2048,
        verbose_name="URL",
        help_text="rtsp:// or rtsps:// camera stream, or file:// recorded test video. "
        "Credentials typed into the URL are moved to the credential fields.",
    )
    username_encrypted = models.TextField(blank=True, editable=False)
    password_encrypted = models.TextField(blank=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_test_source(self) -> bool:
        return self.url.startswith("file://")

    @property
    def has_credentials(self) -> bool:
        return bool(self.username_encrypted or self.password_encrypted)

    def set_credentials(self, username: str, password: str) -> None:
        self.username_encrypted = crypto.encrypt(username) if username else ""
        self.password_encrypted = crypto.encrypt(password) if password else ""

    def credentials(self) -> tuple[str, str]:
        """The plaintext (username, password); only for building an appliance's desired state."""
        return (
            crypto.decrypt(self.username_encrypted) if self.username_encrypted else "",
            crypto.decrypt(self.password_encrypted) if self.password_encrypted else "",
        )
