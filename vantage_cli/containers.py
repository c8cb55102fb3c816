"""Container assets from a Dockerfile (``build-container``) or an existing image
(``export-container``), as panorama-cli makes them: the image's filesystem, exported, gzip'd
and named by its sha256 in assets/ (``imagebuild`` does the building, with buildah)."""

from __future__ import annotations

import re
from pathlib import Path

from imagebuild.base import host_arch
from imagebuild.builder import Buildah, build_and_export
from imagebuild.errors import ImageBuildError
from vantage_cli.errors import CliError
from vantage_cli.project import App

QEMU = {"amd64": "x86_64", "arm64": "aarch64"}  # binfmt_misc's names


def _progress(line: str) -> None:
    print(line, flush=True)


def image_tag(asset_name: str) -> str:
    """``docker build -t A``: image names are lower case, of a few characters."""
    name = re.sub(r"[^a-z0-9._-]+", "-", asset_name.lower()).strip("-._") or "asset"
    return f"localhost/vantage-build/{name}:latest"


PLATFORMS = {"linux/amd64": "amd64", "linux/arm64": "arm64", "linux/arm64/v8": "arm64"}


def platform_arch(platform: str | None) -> str | None:
    """``--platform linux/arm64`` as the base image's architecture (None: this machine's)."""
    if platform is None:
        return None
    arch = PLATFORMS.get(platform.lower())
    if arch is None:
        raise CliError(f"--platform {platform}: use one of {', '.join(sorted(PLATFORMS))}")
    if arch != host_arch() and not Path(f"/proc/sys/fs/binfmt_misc/qemu-{QEMU[arch]}").exists():
        raise CliError(
            f"--platform {platform}: building for {arch} on this {host_arch()} machine needs "
            "qemu-user-static (Debian packages qemu-user-static and binfmt-support)"
        )
    return arch


def build_image(
    app: App, folder: Path, asset_name: str, *, pull: bool, arch: str | None = None
) -> Path:
    """Build ``folder/Dockerfile`` (context: the package folder) on the base image of ``arch``
    (None: this machine's); the exported asset in assets/."""
    dockerfile = folder / "Dockerfile"
    tag = image_tag(asset_name)
    print(f"Building {dockerfile.relative_to(app.root)} as {tag} with buildah …", flush=True)
    try:
        _, archive = build_and_export(
            folder, dockerfile, tag, app.assets, pull=pull, arch=arch, progress=_progress
        )
    except ImageBuildError as exc:
        raise CliError(str(exc)) from None
    return archive


def export_image(app: App, image: str) -> Path:
    """An image buildah can reach (its store, ``docker-archive:``/``oci-archive:`` files, a
    registry) exported into assets/."""
    try:
        _, archive = Buildah().export(image, app.assets, progress=_progress, pull=True)
    except ImageBuildError as exc:
        raise CliError(str(exc)) from None
    return archive
