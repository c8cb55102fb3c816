"""Reading a panorama-cli project folder: ``graphs/<app>/graph.json`` and ``packages/*/``."""

from __future__ import annotations

import json
from pathlib import Path


def find_project_root(path: Path) -> Path | None:
    """The nearest folder at or above ``path`` that holds both ``graphs/`` and ``packages/``."""
    for folder in [path if path.is_dir() else path.parent, *path.resolve().parents]:
        if (folder / "graphs").is_dir() and (folder / "packages").is_dir():
            return folder
    return None


def project_packages(root: Path) -> dict[str, object]:
    """package.json documents keyed ``<account>::<name>`` from ``packages/<account>-<name>-<ver>/``.

    The account comes from the folder name, as panorama-cli names the folders; a document that
    is not valid JSON is left out here and reported when that file itself is validated.
    """
    packages: dict[str, object] = {}
    for package_json in sorted(root.glob("packages/*/package.json")):
        account = package_json.parent.name.split("-", 1)[0]
        try:
            document = json.loads(package_json.read_text())
            name = document["nodePackage"]["name"]
        except (ValueError, KeyError, TypeError):
            continue
        packages[f"{account}::{name}"] = document
    return packages
