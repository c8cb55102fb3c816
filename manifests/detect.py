"""Recognising a document's kind from its content, and validating whatever was given.

Uploads, the CLI and the agent receive bare JSON files whose names say little (``graph.json``,
``override_camera.json``, ``<sha256>.json``), so the top-level key decides, as the service does.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from .descriptor import validate_descriptor
from .errors import ValidationError
from .graph import validate_graph
from .override import validate_override
from .package import validate_package
from .payload import load


class DocumentKind(StrEnum):
    """The four manifest kinds; the values are stable identifiers for APIs and the CLI."""

    GRAPH = "graph"
    OVERRIDE = "override"
    PACKAGE = "package"
    DESCRIPTOR = "descriptor"


#: Top-level key → kind, in precedence order when a document has several.
ROOT_KEYS: tuple[tuple[str, DocumentKind], ...] = (
    ("nodeGraph", DocumentKind.GRAPH),
    ("nodeGraphOverrides", DocumentKind.OVERRIDE),
    ("nodePackage", DocumentKind.PACKAGE),
    ("mlModelDescriptor", DocumentKind.DESCRIPTOR),
    ("runtimeDescriptor", DocumentKind.DESCRIPTOR),
)


def detect_kind(doc: Any) -> DocumentKind | None:
    """Return the document's kind from its top-level key, or ``None`` if it is none of them.

    ``doc`` may be parsed JSON or JSON text/bytes; unparsable input gives ``None``.
    """
    doc, _raw = load(doc, [])
    if not isinstance(doc, dict):
        return None
    for key, kind in ROOT_KEYS:
        if key in doc:
            return kind
    return None


def validate_document(
    doc: Any,
    *,
    packages: Mapping[str, Any] | None = None,
    graph: Any = None,
    raw: str | None = None,
) -> list[ValidationError]:
    """Detect the kind of ``doc`` and validate it; arguments a kind does not use are ignored."""
    errors: list[ValidationError] = []
    doc, parsed_raw = load(doc, errors)
    if errors:
        return errors
    raw = raw if raw is not None else parsed_raw
    kind = detect_kind(doc)
    if kind is DocumentKind.GRAPH:
        return validate_graph(doc, packages=packages, raw=raw)
    if kind is DocumentKind.OVERRIDE:
        return validate_override(doc, graph=graph, packages=packages, raw=raw)
    if kind is DocumentKind.PACKAGE:
        return validate_package(doc)
    if kind is DocumentKind.DESCRIPTOR:
        return validate_descriptor(doc)
    keys = ", ".join(key for key, _ in ROOT_KEYS)
    message = "not a Panorama manifest: no known top-level key"
    return [ValidationError("", message, f"a manifest has one of these top-level keys: {keys}")]
