"""vantage-cli run as a developer runs it, the installed console script in a subprocess, against
the live stack (Django; a pytest plugin: the ``env`` fixture, an Operator's token and nothing else
of the machine's VANTAGE_* settings)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.models import APIToken, Installation
from core.roles import Role
from tests.support.cli_project import copy_sample
from tests.support.paths import MEDIA_DIR

CLI = str(Path(sys.executable).parent / "vantage-cli")
ONNX_MODEL = MEDIA_DIR / "ssdlite_mobilenet_v2_person.onnx"


@pytest.fixture
def env(live_stack, make_user, tmp_path) -> dict[str, str]:
    user = make_user(Role.OPERATOR)
    _token, text = APIToken.issue(user=user, name="cli", read_only=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VANTAGE_")}
    env.update(VANTAGE_URL=live_stack.url, VANTAGE_TOKEN=text)
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config-home")
    return env


def run_cli(env: dict[str, str], project: Path, *args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CLI, *map(str, args)], cwd=project, env=env, capture_output=True, text=True, timeout=300
    )


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def cli(environment: dict[str, str], cwd: Path, *args: str | Path) -> str:
    done = subprocess.run(
        [CLI, *map(str, args)], cwd=cwd, env=environment, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, f"{args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def imported_sample(env: dict[str, str], tmp_path: Path) -> tuple[Path, str]:
    project = copy_sample(tmp_path)
    ok(run_cli(env, project, "import-application"))
    return project, Installation.get().account_id
