"""Turning input into a JSON value, and the service's 51,200-character payload limit.

Callers hand us whatever they have: a parsed dict (console, REST API), the raw text (CLI, agent)
or bytes (uploads). Parsing here means a syntax error becomes one ValidationError like any other.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import Errors, ValidationError

#: ``ManifestPayload.PayloadData`` and ``ManifestOverridesPayload.PayloadData`` max length.
MAX_PAYLOAD_CHARS = 51200


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN/Infinity; the service's JSON parser does not.
    raise ValueError(f"{name} is not valid JSON")


def load(doc: Any, errors: Errors) -> tuple[Any, str | None]:
    """Return ``(value, raw_text)``; text and bytes are parsed, anything else is passed through.

    On a syntax error one error at the document root is appended and the value is ``None``.
    """
    if isinstance(doc, bytes | bytearray):
        try:
            doc = bytes(doc).decode("utf-8")
        except UnicodeDecodeError as exc:
            errors.append(ValidationError("", f"not UTF-8 text: {exc}", "save the file as UTF-8"))
            return None, None
    raw = doc if isinstance(doc, str) else None
    too_deep = False
    if raw is not None:
        try:
            doc = json.loads(raw, parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            message = f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            errors.append(ValidationError("", message, "fix the JSON syntax"))
            return None, None
        except ValueError as exc:
            errors.append(ValidationError("", f"not valid JSON: {exc}", "fix the JSON syntax"))
            return None, None
        except RecursionError:
            too_deep = True
    if too_deep or _depth(doc) > MAX_DEPTH:
        # The checks walk documents recursively; no real manifest comes near this depth.
        errors.append(
            ValidationError(
                "", f"nested more than {MAX_DEPTH} levels deep", "manifests nest a few levels"
            )
        )
        return None, None
    return doc, raw


MAX_DEPTH = 64


def _depth(value: Any) -> int:
    """How deeply lists and objects nest, measured without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level > MAX_DEPTH:
                break
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children)
    return deepest


def load_quietly(doc: Any) -> Any:
    """Parse a companion document (a graph or package given for cross-checks), or ``None``."""
    value, _ = load(doc, [])
    return value


def compact(doc: Any) -> str:
    """The shortest serialization of a document (what minifying deploy scripts send)."""
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def check_payload_size(doc: Any, raw: str | None, errors: Errors) -> None:
    """Enforce the payload limit on the text that will be sent.

    ``raw`` is that text when the caller has it; otherwise the document is measured minified,
    the most favourable serialization, so a document is only rejected if no encoding could fit.
    """
    text = raw if raw is not None else compact(doc)
    if len(text) <= MAX_PAYLOAD_CHARS:
        return
    hint = "shorten descriptions, values or node names"
    if raw is not None:
        minified = len(compact(doc))
        if minified <= MAX_PAYLOAD_CHARS:
            hint = f"minified it is {minified} characters, which fits; send it without whitespace"
    message = f"payload is {len(text)} characters, the limit is {MAX_PAYLOAD_CHARS}"
    errors.append(ValidationError("", message, hint))
