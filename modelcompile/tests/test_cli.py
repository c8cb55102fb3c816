"""``python -m modelcompile``: which envs it installs, and one line for one that fails."""

from __future__ import annotations

import pytest

from modelcompile import __main__ as cli
from modelcompile import envs
from modelcompile.errors import CompileError


@pytest.fixture
def installs(monkeypatch):
    calls: list[str] = []

    def install(env, progress):
        calls.append(env)
        if env == "mxnet":
            raise CompileError("installing the mxnet environment failed (log: /x.log):\nline 1")
        progress(f"{env}: ready")

    monkeypatch.setattr(envs, "install", install)
    return calls


def test_install_all_goes_on_past_a_failure(installs, capsys):
    assert cli.main(["install", "all"]) == 1
    assert installs == ["pytorch", "tensorflow", "mxnet"]
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == (
        "[modelcompile] mxnet: cannot be built (installing the mxnet environment failed "
        "(log: /x.log):); compiling mxnet models fails until it is"
    )


def test_install_some(installs, capsys):
    assert cli.main(["install", "pytorch", "pytorch"]) == 0
    assert installs == ["pytorch"]
    assert capsys.readouterr().out == "[modelcompile] pytorch: ready\n"


def test_status(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VANTAGE_COMPILER_HOME", str(tmp_path))
    assert cli.main(["status"]) == 0
    assert f"pytorch: no pytorch environment in {tmp_path}/pytorch-" in capsys.readouterr().out
