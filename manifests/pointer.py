"""RFC 6901 JSON pointers: how errors say *where* they are.

A pointer is the only location format that works the same for the console (highlight a field),
the REST API (machine-readable) and the CLI (print it), independent of how the JSON was indented.
"""

from __future__ import annotations

from typing import Any

_MISSING = object()


def escape(token: str | int) -> str:
    """Escape one reference token (``~`` → ``~0``, ``/`` → ``~1``, in that order)."""
    return str(token).replace("~", "~0").replace("/", "~1")


def unescape(token: str) -> str:
    """Undo :func:`escape` (``~1`` → ``/`` first, then ``~0`` → ``~``)."""
    return token.replace("~1", "/").replace("~0", "~")


def join(base: str, *tokens: str | int) -> str:
    """Append tokens to a pointer: ``join("/nodeGraph", "edges", 2)`` → ``/nodeGraph/edges/2``."""
    return base + "".join("/" + escape(token) for token in tokens)


def split(pointer: str) -> list[str]:
    """Split a pointer into unescaped tokens; ``""`` (the whole document) gives ``[]``."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ValueError(f"JSON pointer must be empty or start with '/': {pointer!r}")
    return [unescape(token) for token in pointer[1:].split("/")]


def resolve(document: Any, pointer: str, default: Any = _MISSING) -> Any:
    """Return the value a pointer designates, so callers can show the offending value.

    Errors for missing required fields point where the field *would* be; pass ``default`` to
    get it back instead of a ``KeyError`` in that case.
    """
    value = document
    for token in split(pointer):
        try:
            if isinstance(value, list):
                if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
                    raise KeyError(token)
                value = value[int(token)]
            elif isinstance(value, dict):
                value = value[token]
            else:
                raise KeyError(token)
        except (KeyError, IndexError):
            if default is _MISSING:
                raise KeyError(pointer) from None
            return default
    return value
