"""The converter envs, installed once per session (cached under the compiler home across
runs; ``./vantage test`` builds them first). Small ONNX models: tests/support/onnx_models.py."""

from __future__ import annotations

import pytest

from modelcompile import envs


def _env(name: str) -> str:
    # Installs only when missing (minutes the first time); a failure fails the tests that need
    # it, loudly, instead of skipping them.
    envs.install(name, progress=lambda message: print(f"[modelcompile] {message}"))
    return name


@pytest.fixture(scope="session")
def pytorch_env() -> str:
    return _env("pytorch")


@pytest.fixture(scope="session")
def tensorflow_env() -> str:
    return _env("tensorflow")


@pytest.fixture(scope="session")
def mxnet_env() -> str:
    return _env("mxnet")
