"""Access to the reference Panorama files (the test oracles) and small document helpers."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from manifests.errors import ValidationError
from manifests.pointer import split
from tests.support.paths import REFERENCE

# The reference files sit in shared/ beside the repository (as in CI). Missing, the tests fail
# loudly rather than skip: a skipped oracle would pass anything.
requires_reference = pytest.mark.usefixtures("reference_present")

DG_APP = "aws-panorama-developer-guide/sample-apps/aws-panorama-sample"
DG_GRAPH = f"{DG_APP}/graphs/my-app/graph.json"
DG_OVERRIDE = f"{DG_APP}/graphs/my-app/override.json"
DG_CODE_PACKAGE = f"{DG_APP}/packages/123456789012-SAMPLE_CODE-1.0/package.json"
DG_MODEL_PACKAGE = f"{DG_APP}/packages/123456789012-SQUEEZENET_PYTORCH-1.0/package.json"
DG_RUNTIME = f"{DG_APP}/packages/123456789012-SAMPLE_CODE-1.0/descriptor.json"
DG_MODEL_DESCRIPTOR = f"{DG_APP}/packages/123456789012-SQUEEZENET_PYTORCH-1.0/descriptor.json"
INBOUND_APP = "aws-panorama-samples/samples/inbound_network/inbound_network_app"
INBOUND_GRAPH = f"{INBOUND_APP}/graphs/inbound_network_app/graph.json"
INBOUND_OVERRIDE = f"{INBOUND_APP}/graphs/inbound_network_app/override.json"
ONNX_APP = "aws-panorama-samples/samples/ONNX_opengpu/onnx_app"
ONNX_GRAPH = f"{ONNX_APP}/graphs/onnx_app/graph.json"
ONNX_PACKAGE = f"{ONNX_APP}/packages/028663699634-onnx_app-1.0/package.json"
PC_APP = "aws-panorama-samples/samples/people_counter/people_counter_app"
PC_GRAPH = f"{PC_APP}/graphs/people_counter_app/graph.json"
PC_OVERRIDE = f"{PC_APP}/deployment_overrides/override_camera.json"
PC_GPU_PACKAGE = (
    "aws-panorama-samples/samples/people_counter_opengpu/people_counter_app/packages/"
    "278046373397-PEOPLE_COUNTER_CODE-1.0/package.json"
)
CAMERA_PACKAGE = "aws-panorama-cli/panoramacli/resources/camera_package.json"
DATASINK_PACKAGE = "aws-panorama-cli/panoramacli/resources/datasink_package.json"


def load(relative: str) -> Any:
    """A fresh parsed copy of a reference file (tests mutate it freely)."""
    return json.loads((REFERENCE / relative).read_text())


def all_json_files() -> list[str]:
    """Every JSON file under the reference tree, relative, sorted (empty if it is missing)."""
    if not REFERENCE.is_dir():
        return []
    return sorted(str(path.relative_to(REFERENCE)) for path in REFERENCE.rglob("*.json"))


def app_root(relative: str) -> Path | None:
    """The application project a file belongs to: the nearest ancestor holding ``graphs/``."""
    for parent in (REFERENCE / relative).parents:
        if (parent / "graphs").is_dir() or (parent / "packages").is_dir():
            return parent
        if parent == REFERENCE:
            break
    return None


def app_packages(relative: str) -> dict[str, Any]:
    """The app's package.json documents keyed ``<account>::<Name>``, named as the CLI does.

    The CLI derives the name from ``packages/<account>-<Name>-<version>/``:
    ``'-'.join(dirname.split('-')[1:-1])``, skipping folders with fewer than three parts.
    """
    root = app_root(relative)
    packages: dict[str, Any] = {}
    if root is None or not (root / "packages").is_dir():
        return packages
    for folder in sorted((root / "packages").iterdir()):
        parts = folder.name.split("-")
        if len(parts) >= 3 and (folder / "package.json").is_file():
            key = f"{parts[0]}::{'-'.join(parts[1:-1])}"
            packages[key] = json.loads((folder / "package.json").read_text())
    return packages


def app_graph(relative: str) -> Any:
    """The app's graph.json as the CLI finds it (first subdirectory of ``graphs/``), or None."""
    root = app_root(relative)
    graphs = root / "graphs" if root else None
    if graphs is None or not graphs.is_dir():
        return None
    for folder in sorted(p for p in graphs.iterdir() if p.is_dir()):
        if (folder / "graph.json").is_file():
            return json.loads((folder / "graph.json").read_text())
    return None


def setting(doc: Any, pointer: str, value: Any) -> Any:
    """A deep copy of ``doc`` with the value at ``pointer`` replaced (or added, or appended
    when the last token is ``-``)."""
    doc = copy.deepcopy(doc)
    *parents, last = split(pointer)
    target = doc
    for token in parents:
        target = target[int(token)] if isinstance(target, list) else target[token]
    if isinstance(target, list):
        if last == "-":
            target.append(value)
        else:
            target[int(last)] = value
    else:
        target[last] = value
    return doc


def removing(doc: Any, pointer: str) -> Any:
    """A deep copy of ``doc`` without the value at ``pointer``."""
    doc = copy.deepcopy(doc)
    *parents, last = split(pointer)
    target = doc
    for token in parents:
        target = target[int(token)] if isinstance(target, list) else target[token]
    del target[int(last) if isinstance(target, list) else last]
    return doc


def pairs(errors: list[ValidationError]) -> list[tuple[str, str]]:
    """``(path, message)`` of each error, the part of the contract tests compare exactly."""
    return [(error.path, error.message) for error in errors]
