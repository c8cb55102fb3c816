"""Fixtures every test shares; the testing library itself is tests/support/, loaded here as
pytest plugins (users of each role, the live stack, the RTSP server, a real browser, the asset
store)."""

from __future__ import annotations

import pytest
from django.conf import settings

pytest_plugins = [
    "tests.support.users",
    "tests.support.stack",
    "tests.support.cameras",
    "tests.support.browser",
    "tests.support.storage",
    "tests.support.cli",
]

# The test process itself uses no connection pool: pooled connections left open in worker
# threads would keep PostgreSQL from dropping the test database. The servers it starts do.
settings.DATABASES["default"].get("OPTIONS", {}).pop("pool", None)


@pytest.fixture(autouse=True)
def _live_updates_go_to_the_real_server(request, monkeypatch):
    """Importing console.asgi marks a process as the ASGI server, whose in-memory channel layer
    is the one browsers listen on. Only tests that drive the ASGI app in this very process
    (marker ``in_process_asgi``) may keep that; others must relay to the live stack's server."""
    from core import live

    in_process = request.node.get_closest_marker("in_process_asgi") is not None
    monkeypatch.setattr(live._ProcessRole, "serving_asgi", in_process)
    # Tests capture what broadcast() renders with a stand-in for deliver(), watched or not; on
    # Redis (CI) an empty group would otherwise be skipped (console/live.py, watched_groups).
    monkeypatch.setattr(live, "watched_groups", lambda groups: groups)


@pytest.fixture(autouse=True)
def _fast_password_hashing(request):
    # Hashing with the production hasher costs ~0.3 s per user. Tests that share users with the
    # live stack keep it, because the server verifies those passwords with its own settings.
    if "live_stack" in request.fixturenames:
        yield
        return
    django_settings = request.getfixturevalue("settings")
    django_settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    yield
