"""Fixtures for the CLI's tests: a clean environment and an in-process ``vantage-cli``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.cli_project import TOKEN, FakeConsole, fake_console
from vantage_cli.main import main


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path) -> None:
    """No settings leak in from the machine: no VANTAGE_* variables, an empty config home."""
    for name in ("VANTAGE_URL", "VANTAGE_TOKEN", "VANTAGE_TOKEN_FILE", "VANTAGE_ACCOUNT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config-home"))


@pytest.fixture
def cli(monkeypatch, capsys) -> Callable[..., Result]:
    """Run ``vantage-cli ARGS`` in-process in folder ``cwd``."""

    def run(*args: str | Path, cwd: Path) -> Result:
        monkeypatch.chdir(cwd)
        capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as exit_:  # argparse errors and --help
            code = exit_.code if isinstance(exit_.code, int) else 1
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def console(monkeypatch) -> Iterator[FakeConsole]:
    with fake_console() as fake:
        monkeypatch.setenv("VANTAGE_URL", fake.url)
        monkeypatch.setenv("VANTAGE_TOKEN", TOKEN)
        yield fake
