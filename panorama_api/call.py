"""What an operation knows about the request it serves."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from core.models import Installation


@dataclass
class Call:
    user: object  # the access key's user (console.User)
    access_key_id: str
    operation: str

    @property
    def account(self) -> str:
        return Installation.get().account_id

    @property
    def region(self) -> str:
        return settings.PANORAMA_API_REGION
