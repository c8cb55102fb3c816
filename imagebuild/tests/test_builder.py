"""The parts of image building that need no builder: FROM lines, names, the recipe's version."""

from __future__ import annotations

import pytest

from imagebuild import base
from imagebuild.builder import PANORAMA_BASE, base_references, cannot_build
from imagebuild.errors import ImageBuildError
from vantage_cli import containers
from vantage_cli.containers import image_tag
from vantage_cli.errors import CliError


def test_the_base_image_is_found_in_from_lines_with_its_tag(tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        f"FROM {PANORAMA_BASE}\n"
        f"from --platform=linux/arm64 {PANORAMA_BASE}:1.2 AS app\n"
        "FROM python:3.8-slim AS other\n"
        "RUN echo FROM nothing\n"
    )
    assert base_references(dockerfile) == [f"{PANORAMA_BASE}:latest", f"{PANORAMA_BASE}:1.2"]


def test_a_base_image_pinned_by_digest_is_refused_with_what_to_do(tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"FROM {PANORAMA_BASE}@sha256:{'0' * 64}\n")
    with pytest.raises(ImageBuildError, match="pins Panorama's base image by digest"):
        base_references(dockerfile)


def test_image_names_are_what_a_registry_accepts():
    assert image_tag("code_asset") == "localhost/vantage-build/code_asset:latest"
    assert image_tag("My Asset!") == "localhost/vantage-build/my-asset:latest"
    assert image_tag("__") == "localhost/vantage-build/asset:latest"


def test_the_version_follows_the_recipe(monkeypatch):
    first = base.version("amd64", base.DEFAULT_MIRROR)
    assert first == base.version("amd64", base.DEFAULT_MIRROR)
    assert first.startswith(f"{base.SUITE}-r{base.RECIPE_REVISION}-")
    assert base.version("arm64", base.DEFAULT_MIRROR) != first
    assert base.version("amd64", "http://mirror.example/debian") != first
    monkeypatch.setattr(base, "WHEELS", ("opencv-python-headless==4.11.0.86",))
    assert base.version("amd64", base.DEFAULT_MIRROR) != first


def test_an_unknown_architecture_is_refused(tmp_path):
    with pytest.raises(ImageBuildError, match="unsupported architecture 'riscv64'"):
        base.ensure_base_image(arch="riscv64", cache=tmp_path)


def test_the_cache_is_where_the_environment_says(monkeypatch, tmp_path):
    monkeypatch.setenv("VANTAGE_IMAGE_CACHE", str(tmp_path / "c"))
    assert base.default_cache() == tmp_path / "c"
    monkeypatch.delenv("VANTAGE_IMAGE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert base.default_cache() == tmp_path / "x" / "vantage"


def test_without_buildah_building_says_why(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert "buildah is not installed" in cannot_build()


def test_platforms_are_checked_before_anything_is_built(monkeypatch):
    assert containers.platform_arch(None) is None
    assert containers.platform_arch(f"linux/{base.host_arch()}") == base.host_arch()
    with pytest.raises(CliError, match="--platform windows/amd64: use one of linux/amd64"):
        containers.platform_arch("windows/amd64")
    other = "arm64" if base.host_arch() == "amd64" else "amd64"
    monkeypatch.setattr(containers, "QEMU", {other: "no-such-emulator"})
    with pytest.raises(CliError, match=f"building for {other} on this .* needs qemu-user-static"):
        containers.platform_arch(f"linux/{other}")
