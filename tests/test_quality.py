"""Project-wide checks CI relies on: lint, migrations, deploy checks, the agent's independence."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

from tests.support.paths import ASYNC_UNSAFE, BASE_DIR


def _run(*argv: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        argv, cwd=BASE_DIR, capture_output=True, text=True, timeout=300, env=env or os.environ
    )


def test_ruff_lint_and_format_are_clean():
    lint = _run(sys.executable, "-m", "ruff", "check", ".")
    assert lint.returncode == 0, lint.stdout[-3000:]
    fmt = _run(sys.executable, "-m", "ruff", "format", "--check", ".")
    assert fmt.returncode == 0, fmt.stdout[-3000:]


def test_no_missing_migrations():
    result = _run(sys.executable, "manage.py", "makemigrations", "--check", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr


def test_deploy_checks_pass_with_production_variables(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if k != ASYNC_UNSAFE},
        "VANTAGE_VAR_DIR": str(tmp_path),
        "SECRET_KEY": "x" * 20 + "production-secret-key-with-enough-entropy-0123456789",
        "CONSOLE_URL": "https://vantage.example.com",
        "ALLOWED_HOSTS": "vantage.example.com",
    }
    result = _run(
        sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING", env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_edge_agent_imports_neither_django_nor_the_console():
    forbidden = {"django", "rest_framework", "channels", "celery", "core", "console", "devices",
                 "datasources", "applications", "panorama_api"}  # fmt: skip
    offenders = []
    for path in (BASE_DIR / "edge_agent").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path}: {n}" for n in names if n.split(".")[0] in forbidden]
    assert not offenders, offenders
    result = _run(
        sys.executable, "-c",
        "import sys, edge_agent; assert 'django' not in sys.modules, 'django was imported'",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_import_contracts_are_kept():
    """lint-imports with pyproject.toml's contracts: the Django half in its layers (core at the
    bottom, the console project at the top) on the plain-Python libraries, which import no
    Django, and no console module running the appliance's code."""
    result = _run(os.path.join(os.path.dirname(sys.executable), "lint-imports"), "--no-cache")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]


def test_mypy_passes():
    """mypy as pyproject.toml configures it: strict on the plain-Python libraries both sides
    share (devicelink, manifests, streamcheck), Django's and DRF's stubs on the console, and
    the modules not type-clean yet listed there."""
    result = _run(sys.executable, "-m", "mypy")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]


def test_the_strictly_typed_packages_silence_no_error():
    found = [
        f"{path.relative_to(BASE_DIR)}:{number}"
        for package in ("devicelink", "manifests", "streamcheck")
        for path in (BASE_DIR / package).rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "type: ignore" in line
    ]
    assert not found, found
