"""The cast of users, one of each role, and clients signed in as them (a pytest plugin)."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

from core.roles import Role

PASSWORD = "correct-horse-battery-staple-42"


@pytest.fixture
def make_user(db):
    from core.models import User

    def make(role: Role, username: str | None = None, **extra) -> User:
        return User.objects.create_user(
            username=username or f"{role.value}-{uuid.uuid4().hex[:6]}",
            password=PASSWORD,
            role=role,
            **extra,
        )

    return make


@pytest.fixture
def viewer(make_user):
    return make_user(Role.VIEWER)


@pytest.fixture
def operator(make_user):
    return make_user(Role.OPERATOR)


@pytest.fixture
def administrator(make_user):
    return make_user(Role.ADMINISTRATOR)


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def viewer_client(viewer) -> Client:
    return client_for(viewer)


@pytest.fixture
def operator_client(operator) -> Client:
    return client_for(operator)


@pytest.fixture
def admin_client(administrator) -> Client:
    return client_for(administrator)
