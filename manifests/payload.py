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
    if not isinstance(doc, str):
        return doc, None
    try:
        return json.loads(doc, parse_constant=_reject_constant), doc
    except json.JSONDecodeError as exc:
        message = f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        errors.append(ValidationError("", message, "fix the JSON syntax"))
    except ValueError as exc:
        errors.append(ValidationError("", f"not valid JSON: {exc}", "fix the JSON syntax"))
    return None, None


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
