"""Staging a generation: its downloaded assets laid out in ``gen-<n>/<node>/`` for the runtime.

A model or display node gets its asset files (hard links into the asset cache); a code node its
code-only archive unpacked (``panorama/`` and ``descriptor.json``), or, for a container image,
the name of the image it runs in (``image``: its sha256 in the image cache). ``.staged.json``,
written last, holds each code node's descriptor and marks the generation complete; the folder
is built under a temporary name and renamed, so a half-staged generation never looks staged.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from devicelink.apps import ApplicationSpec, AssetRef, NodeSpec
from edge_agent.apps.assets import AssetCache, AssetError, short, unpack_container
from edge_agent.apps.images import ImageCache, ImageError, is_image

SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
STAGED_MARK = ".staged.json"
# In a staged code node's folder: the sha256 of the container image it runs in (images.py).
IMAGE_MARK = "image"
Files = dict[str, list[tuple[str, Path]]]  # node name → (asset name, file or unpacked image)


class InstallError(Exception):
    pass


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def stage(
    spec: ApplicationSpec, files: Files, target: Path, images: ImageCache, cache: AssetCache
) -> None:
    temp = target.with_name(f".{target.name}.staging")
    shutil.rmtree(temp, ignore_errors=True)
    shutil.rmtree(target, ignore_errors=True)
    descriptors: dict[str, dict[str, Any]] = {}
    for node in spec.nodes:
        folder = temp / node.name
        folder.mkdir(parents=True)
        if node.kind == "code":
            descriptors[node.name] = _stage_code(node, files[node.name], folder, images, cache)
        else:
            for name, path in files[node.name]:
                if SAFE_NAME.match(name):
                    _link_or_copy(path, folder / name)
    (temp / STAGED_MARK).write_text(json.dumps(descriptors))
    os.replace(temp, target)


def _stage_code(
    node: NodeSpec, files: list[tuple[str, Path]], folder: Path, images: ImageCache,
    cache: AssetCache,
) -> dict[str, Any]:  # fmt: skip
    containers = [
        (asset, path)
        for asset, (_, path) in zip(node.assets, files, strict=True)
        if asset.implementation_type in ("container", "")
    ]
    if len(containers) != 1:
        raise InstallError(f"{node.name}: a code node needs exactly one container asset")
    asset, path = containers[0]
    try:
        if _an_image(asset.sha256, path, images):
            return _stage_image(asset, path, folder, images, cache)
        inside = unpack_container(path, folder)
    except (AssetError, ImageError) as exc:
        raise InstallError(f"{node.name}: asset {short(asset.sha256)}: {exc}") from None
    return asset.descriptor or inside


def _an_image(sha256: str, path: Path, images: ImageCache) -> bool:
    """Whether the asset is a container image. Another instance may have unpacked the same
    image (and dropped its archive) since this one's download: then it is one."""
    if path.is_dir() or images.has(sha256):
        return True
    try:
        return is_image(path)
    except ImageError:
        if images.has(sha256):
            return True
        raise


def _stage_image(
    asset: AssetRef, path: Path, folder: Path, images: ImageCache, cache: AssetCache
) -> dict[str, Any]:
    """A container image (a docker export): unpacked once into the image cache; the staged
    node names it. Its descriptor is the package's (descriptorUri), as an export has none."""
    if not asset.descriptor:
        raise ImageError(
            "the container image has no descriptor: its package.json implementation needs "
            "a descriptorUri with the runtimeDescriptor"
        )
    if not images.has(asset.sha256):
        images.unpack(asset.sha256, path)
        # The unpacked tree is what runs; the archive would only take the space twice.
        cache.discard(asset.sha256)
    (folder / IMAGE_MARK).write_text(asset.sha256)
    return asset.descriptor
