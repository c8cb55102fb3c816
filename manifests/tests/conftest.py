"""Keep these tests independent of Django, even though the repository's root conftest is not."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fast_password_hashing():
    # The root conftest's autouse fixture of this name needs pytest-django's ``settings``;
    # these tests run with ``-p no:django``, so it is replaced here by a no-op.
    yield


@pytest.fixture
def reference_present():
    from tests.support.reference import REFERENCE

    assert REFERENCE.is_dir(), (
        f"reference files not found at {REFERENCE}: shared/ must sit beside the repository"
    )
