"""``MaxResults`` / ``NextToken``: tokens are opaque (signed, so a client cannot forge an offset)
and belong to the operation that gave them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from django.core import signing

from panorama_api.errors import ValidationError

T = TypeVar("T")
SALT = "panorama-api.next-token"
DEFAULT_PAGE = 25


def page(
    items: Sequence[T] | Any,
    max_results: int | None,
    next_token: str | None,
    operation: str,
    *,
    token_member: str = "NextToken",  # noqa: S107 (a member's name, not a secret)
) -> tuple[list[T], str | None]:
    """One page of ``items`` (a list or an ordered queryset) and the token of the next one."""
    size = max_results or DEFAULT_PAGE
    offset = 0
    if next_token:
        try:
            document = signing.loads(next_token, salt=SALT)
            offset = int(document["o"])
            if document["op"] != operation or offset < 0:
                raise ValueError
        except (signing.BadSignature, KeyError, TypeError, ValueError):
            raise ValidationError(
                "The pagination token is not one this operation gave out.",
                fields=[(token_member, "not a token from an earlier page of this list")],
            ) from None
    chunk = list(items[offset : offset + size + 1])
    more = len(chunk) > size
    token = signing.dumps({"op": operation, "o": offset + size}, salt=SALT) if more else None
    return chunk[:size], token
