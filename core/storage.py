"""The asset store: Django's ``storages["assets"]`` (a folder, or S3; ASSET_STORE in settings).

Application assets (applications/assets.py: content-addressed, deduplicated) and software
images (devices/software.py) live in it; both reach it through here.
"""

from __future__ import annotations

from django.core.files.storage import Storage, storages


def asset_storage() -> Storage:
    return storages["assets"]
