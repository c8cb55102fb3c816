"""The role matrix (docs/roles.md), checked against every URL the console serves."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from core.roles import ANY_USER, Role, ViewPolicy

# Views that are not behind the role matrix, and why.
PUBLIC = {
    "login": "signing in",
    "logout": "signing out",
    "healthz": "load balancer and run-command probe; reports no secrets",
    "live-relay": "internal; authenticated by an HMAC signature, see test_live.py",
    "agent-provision": "appliances; authenticated by the one-time provisioning credential",
    "agent-software": "appliances; authenticated by a request signed with the device key",
    "agent-asset": "appliances; authenticated by a request signed with the device key",
    "panorama-api": "integrators; SigV4 with an access key, each operation's role checked by "
    "panorama_api (see panorama_api/tests/test_protocol.py)",
}


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def _policy(callback) -> ViewPolicy | None:
    for holder in (getattr(callback, "view_class", None), getattr(callback, "cls", None), callback):
        policy = getattr(holder, "policy", None)
        if isinstance(policy, ViewPolicy):
            return policy
    return None


def _concrete(route: str) -> str:
    """A URL for a route pattern: every parameter filled with 1 (or a format suffix with json)."""
    import re

    route = route.replace("^", "").replace("$", "").replace("\\.", ".")
    route = re.sub(r"\(\?P<format>[^)]*\)", "json", route)
    route = re.sub(r"<(?:\w+:)?format>", "json", route)
    route = re.sub(r"\(\?P<\w+>[^)]*\)", "1", route)
    route = re.sub(r"<[^>]+>", "1", route)
    return "/" + route.replace("/?", "/")


ROUTES = [
    (route, pattern.name or route, _policy(pattern.callback))
    for route, pattern in _walk(get_resolver().url_patterns)
    if pattern.name not in PUBLIC
]


def test_every_view_declares_a_policy():
    missing = [name for _route, name, policy in ROUTES if policy is None]
    assert not missing, f"views without a ViewPolicy: {missing}"


MUTATING = [
    (route, name) for route, name, policy in ROUTES if policy and policy.write != Role.VIEWER
]
ADMIN_READ = [
    (route, name) for route, name, policy in ROUTES if policy and policy.read == Role.ADMINISTRATOR
]
OPERATOR_WRITE = [
    (route, name) for route, name, policy in ROUTES if policy and policy.write == Role.OPERATOR
]


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "name"), MUTATING, ids=[n for _r, n in MUTATING])
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_viewer_cannot_change_anything(viewer_client, route, name, method):
    response = getattr(viewer_client, method)(_concrete(route), content_type="application/json")
    assert response.status_code in (403, 405), (name, method, response.status_code)
    if method == "post":
        assert response.status_code == 403, (name, response.status_code)


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "name"), ADMIN_READ, ids=[n for _r, n in ADMIN_READ])
def test_operator_cannot_open_administrator_pages(operator_client, route, name):
    assert operator_client.get(_concrete(route)).status_code == 403
    assert operator_client.post(_concrete(route)).status_code == 403


OPERATOR_READ = [
    (route, name) for route, name, policy in ROUTES if policy and policy.read == Role.OPERATOR
]


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "name"), OPERATOR_READ, ids=[n for _r, n in OPERATOR_READ])
def test_viewer_cannot_open_forms_meant_for_changes(viewer_client, route, name):
    assert viewer_client.get(_concrete(route)).status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "name"), ADMIN_READ, ids=[n for _r, n in ADMIN_READ])
def test_administrator_opens_administrator_pages(admin_client, route, name):
    assert admin_client.get(_concrete(route)).status_code in (200, 404, 405)


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "name"), OPERATOR_WRITE, ids=[n for _r, n in OPERATOR_WRITE])
def test_operator_passes_the_role_check_on_operator_actions(operator_client, route, name):
    # 400/404/405 are the view's own answers to an empty request: the role check let it through.
    response = operator_client.post(_concrete(route), data={}, content_type="application/json")
    assert response.status_code != 403, (name, response.status_code)


@pytest.mark.django_db
def test_anonymous_users_are_sent_to_sign_in(client):
    response = client.get("/devices/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    assert client.get("/api/devices/").status_code in (401, 403)


@pytest.mark.django_db
def test_every_role_reads_the_dashboard(viewer_client, operator_client, admin_client):
    for client in (viewer_client, operator_client, admin_client):
        assert client.get("/").status_code == 200


@pytest.mark.django_db
def test_operator_cannot_manage_users_or_tokens(operator_client, viewer):
    assert operator_client.get("/settings/users/").status_code == 403
    assert operator_client.post("/settings/users/add/", {"username": "x"}).status_code == 403
    assert operator_client.get("/settings/tokens/").status_code == 403
    response = operator_client.post("/api/tokens/", {"name": "t", "user": viewer.username})
    assert response.status_code == 403
    response = operator_client.patch(
        f"/api/users/{viewer.pk}/", {"role": "administrator"}, content_type="application/json"
    )
    assert response.status_code == 403


@pytest.mark.django_db
def test_administrator_manages_users_and_tokens(admin_client, viewer):
    from core.models import APIToken, User

    response = admin_client.post(
        "/settings/users/add/",
        {
            "username": "newop",
            "role": "operator",
            "password1": "a-long-passphrase-1234",
            "password2": "a-long-passphrase-1234",
        },
    )
    assert response.status_code == 302, response.content
    assert User.objects.get(username="newop").role == Role.OPERATOR
    response = admin_client.post(
        "/settings/tokens/add/",
        {"user": viewer.pk, "name": "script", "read_only": "on", "expires_in_days": "30"},
    )
    assert response.status_code == 200
    assert APIToken.objects.filter(user=viewer, name="script").exists()
    response = admin_client.patch(
        f"/api/users/{viewer.pk}/", {"role": "operator"}, content_type="application/json"
    )
    assert response.status_code == 200
    viewer.refresh_from_db()
    assert viewer.role == Role.OPERATOR


@pytest.mark.django_db
def test_operator_registers_a_camera_viewer_cannot(operator_client, viewer_client):
    body = {"name": "lobby", "url": "rtsp://10.0.0.5/stream1"}
    assert viewer_client.post("/api/datasources/", body).status_code == 403
    assert operator_client.post("/api/datasources/", body).status_code == 201


def test_dashboard_policy_is_any_user():
    from console.views import DashboardView

    assert DashboardView.policy == ANY_USER


@pytest.mark.django_db
def test_api_schema_and_docs_need_a_sign_in(client, viewer_client):
    assert client.get("/api/schema/").status_code in (401, 403)
    assert client.get("/api/docs/").status_code in (401, 403)
    assert viewer_client.get("/api/schema/").status_code == 200


@pytest.mark.django_db
def test_navigation_links_go_to_pages_not_the_api(viewer_client):
    page = viewer_client.get("/").content.decode()
    for href in ('href="/devices/"', 'href="/datasources/"', 'href="/applications/"'):
        assert href in page


@pytest.mark.django_db
def test_last_administrator_cannot_be_removed_through_the_api(admin_client, administrator):
    response = admin_client.patch(
        f"/api/users/{administrator.pk}/", {"role": "viewer"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert "administrator" in str(response.json())
    response = admin_client.delete(f"/api/users/{administrator.pk}/")
    assert response.status_code == 400
    administrator.refresh_from_db()
    assert administrator.role == Role.ADMINISTRATOR and administrator.is_active
