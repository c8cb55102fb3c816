"""Camera streams, with credentials encrypted at rest."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from core import crypto
from core.status import NodeFromTemplateJobStatus
from core.validators import resource_name_validator
from datasources.streams import endpoint

# What describe calls return instead of credentials, as Panorama's API does.
SAVED_AS_SECRET = "SAVED_AS_SECRET"  # noqa: S105  (a marker, not a secret)
# Where a stream check runs (StreamCheck.ran_on).
ON_CONSOLE = "console"
ON_APPLIANCE = "appliance"


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

    def change_credentials(
        self, username: str, password: str, *, clear: bool = False, previous_url: str = ""
    ) -> None:
        """The rule shared by the form and the API: an empty value keeps the saved one.

        Saved credentials stay bound to the camera they were given for: when the URL now points
        at another scheme, host or port, values not given again are dropped, so nobody can send
        the saved password to a host of their choosing. Only the values given are encrypted, so
        this works even when the saved ones can no longer be decrypted (a lost CREDENTIALS_KEY).
        """
        moved = bool(previous_url) and endpoint(previous_url) != endpoint(self.url)
        if clear or moved:
            self.set_credentials("", "")
        if clear:
            return
        if username:
            self.username_encrypted = crypto.encrypt(username)
        if password:
            self.password_encrypted = crypto.encrypt(password)

    @property
    def last_check(self) -> StreamCheck | None:
        # Prefetched by the list view (latest_checks); one query otherwise.
        prefetched = getattr(self, "latest_checks", None)
        if prefetched is not None:
            return prefetched[0] if prefetched else None
        return self.checks.order_by("-requested").first()

    def credentials(self) -> tuple[str, str]:
        """The plaintext (username, password); only for building an appliance's desired state."""
        return (
            crypto.decrypt(self.username_encrypted) if self.username_encrypted else "",
            crypto.decrypt(self.password_encrypted) if self.password_encrypted else "",
        )


class StreamCheck(models.Model):
    """One run of "Test stream": where it ran, what it found, or why it failed."""

    data_source = models.ForeignKey(DataSource, on_delete=models.CASCADE, related_name="checks")
    status = models.CharField(
        max_length=16,
        choices=NodeFromTemplateJobStatus.choices,
        default=NodeFromTemplateJobStatus.PENDING,
    )
    ran_on = models.CharField(
        max_length=100,
        default=ON_CONSOLE,
        help_text="Where the check ran: 'console' (the console host) or 'appliance'.",
    )
    device = models.ForeignKey(
        "devices.Device",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="stream_checks",
        help_text="The appliance that ran the check (ran_on 'appliance'); empty once deleted.",
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(
        null=True, blank=True, help_text="When a worker took it, or it was sent to the appliance."
    )
    finished = models.DateTimeField(null=True, blank=True)
    codec = models.CharField(max_length=20, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    fps = models.FloatField(null=True, blank=True)
    first_frame_ms = models.PositiveIntegerField(null=True, blank=True)
    snapshot = models.BinaryField(blank=True, default=b"", editable=False)
    message = models.CharField(max_length=500, blank=True)
    hint = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-requested"]
        get_latest_by = "requested"

    def __str__(self) -> str:
        return f"{self.data_source.name} check {self.pk}: {self.status}"

    @property
    def on_appliance(self) -> bool:
        return self.ran_on == ON_APPLIANCE

    @property
    def place(self) -> str:
        """Where the check ran, for people: "the console" or the appliance's name."""
        if not self.on_appliance:
            return "the console"
        return self.device.name if self.device is not None else "a deleted appliance"

    @property
    def tested_from(self) -> str:
        return f"Tested from {self.place}"

    @property
    def summary(self) -> str:
        if self.status == NodeFromTemplateJobStatus.SUCCEEDED:
            fps = f" at {self.fps:g} fps" if self.fps else ""
            return (
                f"{self.codec.upper()} {self.width}x{self.height}{fps}; first frame after "
                f"{self.first_frame_ms} ms"
            )
        if self.status == NodeFromTemplateJobStatus.FAILED:
            return self.message
        return "Checking…"
