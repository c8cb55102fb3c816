"""Container assets from a Dockerfile (``build-container``) or an existing image
(``export-container``), as panorama-cli makes them: the image's filesystem, exported, gzip'd
and named by its sha256 in assets/ (``imagebuild`` does the building, with buildah)."""

from __future__ import annotations

import re
from pathlib import Path

from imagebuild.base import ensure_base_image
from imagebuild.builder import Buildah, base_references
from imagebuild.errors import ImageBuildError
from vantage_cli.errors import CliError
from vantage_cli.project import App


def _progress(line: str) -> None:
    print(line, flush=True)


def image_tag(asset_name: str) -> str:
    """``docker build -t A``: image names are lower case, of a few characters."""
    name = re.sub(r"[^a-z0-9._-]+", "-", asset_name.lower()).strip("-._") or "asset"
    return f"localhost/vantage-build/{name}:latest"


def build_image(app: App, folder: Path, asset_name: str, *, pull: bool) -> Path:
    """Build ``folder/Dockerfile`` (context: the package folder) on the base image; the
    exported asset in assets/."""
    dockerfile = folder / "Dockerfile"
    try:
        buildah = Buildah()
        references = base_references(dockerfile)
        if references:
            base = ensure_base_image(progress=_progress)
            buildah.ensure_base(base, progress=_progress)
            buildah.tag_base(base, references)
        tag = image_tag(asset_name)
        print(f"Building {dockerfile.relative_to(app.root)} as {tag} with buildah …", flush=True)
        buildah.build(folder, dockerfile, tag, pull=pull, progress=_progress)
        _, archive = buildah.export(tag, app.assets, progress=_progress)
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
