import pytest
from django.core.files.storage import storages


@pytest.fixture
def asset_store(settings, tmp_path):
    """The asset store in a folder of this test's own."""
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
