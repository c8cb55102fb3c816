"""The Content-Security-Policy header (core/csp.py); tests/…/test_browser_csp.py checks that
every page keeps it in a real browser."""

from __future__ import annotations

import pytest


@pytest.mark.django_db
def test_every_response_carries_the_policy_with_this_hosts_socket(client, admin_client):
    for answer in (client.get("/login/"), admin_client.get("/"), admin_client.get("/api/")):
        policy = dict(
            part.strip().split(" ", 1) for part in answer["Content-Security-Policy"].split(";")
        )
        assert policy["default-src"] == "'self'"
        assert policy["script-src"] == "'self'"  # no inline scripts, no eval
        assert policy["style-src"] == "'self'"
        assert policy["style-src-attr"] == "'unsafe-inline'"
        assert policy["img-src"] == "'self' data: blob:"
        assert policy["connect-src"] == "'self' ws://testserver wss://testserver"
        assert policy["frame-ancestors"] == "'none'"
        assert policy["object-src"] == "'none'"


@pytest.mark.django_db
def test_pages_have_no_inline_scripts_or_handlers(admin_client):
    import re

    for path in ("/", "/devices/", "/settings/tokens/", "/api/docs/"):
        html = admin_client.get(path).content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert not re.search(r"\son[a-z]+=\"", html), path
        assert "<style" not in html, path
