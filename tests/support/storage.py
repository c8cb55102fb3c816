"""The asset store in a folder of the test's own (a pytest plugin)."""

from __future__ import annotations

import pytest


@pytest.fixture
def asset_store(settings, tmp_path):
    """The asset store in a folder of this test's own."""
    from django.core.files.storage import storages

    settings.STORAGES = {
        **settings.STORAGES,
        "assets": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "assets")},
        },
    }
    storages._storages.pop("assets", None)
    yield storages["assets"]
    storages._storages.pop("assets", None)
