"""Configuration from the environment: defaults, <NAME>_FILE, and errors that name the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from core import env

BASE_DIR = Path(__file__).resolve().parents[2]


def test_secret_read_from_file(tmp_path, monkeypatch):
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t-value\n")
    monkeypatch.delenv("SOME_TOKEN", raising=False)
    monkeypatch.setenv("SOME_TOKEN_FILE", str(secret))
    assert env.get_str("SOME_TOKEN") == "s3cr3t-value"


def test_value_and_file_together_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SOME_TOKEN", "a")
    monkeypatch.setenv("SOME_TOKEN_FILE", str(tmp_path / "x"))
    with pytest.raises(ImproperlyConfigured, match="SOME_TOKEN"):
        env.get_str("SOME_TOKEN")


def test_unreadable_file_names_the_variable(monkeypatch):
    monkeypatch.delenv("SOME_TOKEN", raising=False)
    monkeypatch.setenv("SOME_TOKEN_FILE", "/nonexistent/secret")
    with pytest.raises(ImproperlyConfigured, match="SOME_TOKEN_FILE"):
        env.get_str("SOME_TOKEN")


@pytest.mark.parametrize(("raw", "expected"), [("yes", True), ("0", False), ("On", True)])
def test_booleans(monkeypatch, raw, expected):
    monkeypatch.setenv("FLAG", raw)
    assert env.get_bool("FLAG") is expected


def test_bad_boolean_names_variable_and_allowed_values(monkeypatch):
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match=r"FLAG: 'maybe' is not a boolean; use one of"):
        env.get_bool("FLAG")


def test_secret_key_generated_once_and_kept(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("SECRET_KEY_FILE", raising=False)
    first = env.get_secret_key(tmp_path)
    assert len(first) >= 50
    assert env.get_secret_key(tmp_path) == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", env.AssetStore(kind="file", location="/var/x/assets")),
        (
            "s3://bucket/some/prefix",
            env.AssetStore(kind="s3", bucket="bucket", location="some/prefix"),
        ),
        ("/srv/assets", env.AssetStore(kind="file", location="/srv/assets")),
        ("file:///srv/assets", env.AssetStore(kind="file", location="/srv/assets")),
    ],
)
def test_asset_store(monkeypatch, value, expected):
    monkeypatch.setenv("ASSET_STORE", value)
    assert env.get_asset_store(Path("/var/x")) == expected


@pytest.mark.parametrize("value", ["s3://", "ftp://host/x", "relative/path"])
def test_bad_asset_store(monkeypatch, value):
    monkeypatch.setenv("ASSET_STORE", value)
    with pytest.raises(ImproperlyConfigured, match="ASSET_STORE"):
        env.get_asset_store(Path("/var/x"))


def _start_with(**variables: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env={**clean, **variables},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATABASE_URL", "mysql://root@localhost/vantage"),
        ("REDIS_URL", "http://localhost:6379"),
        ("CONSOLE_URL", "console.example.com"),
        ("DEBUG", "sometimes"),
        ("ASSET_STORE", "gs://bucket"),
        ("SECURE_HSTS_SECONDS", "-5"),
        ("LOG_LEVEL", "LOUD"),
        ("TIME_ZONE", "Mars/Olympus"),
        ("SECRET_KEY", "short"),
        ("CREDENTIALS_KEY", "not-a-fernet-key"),
    ],
)
def test_bad_values_stop_the_start_with_the_variable_named(tmp_path, variable, value):
    result = _start_with(VANTAGE_VAR_DIR=str(tmp_path), **{variable: value})
    assert result.returncode != 0
    assert f"{variable}:" in result.stderr, result.stderr[-2000:]


def test_embedded_defaults_start(tmp_path):
    result = _start_with(VANTAGE_VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "secret_key").exists()
