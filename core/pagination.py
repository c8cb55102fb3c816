"""The REST API's pages: limit and offset as DRF reads them, clamped to what a query can take.

An unbounded ``limit`` or ``offset`` reaches the database as a number beyond its 64-bit integer
(a 500 "bigint out of range"); here a page holds at most MAX_LIMIT items and an offset past the
largest one simply finds nothing.
"""

from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

MAX_LIMIT = 1000
MAX_OFFSET = 2**63 - 1 - MAX_LIMIT  # offset + limit stays a 64-bit integer


class ClampedLimitOffsetPagination(LimitOffsetPagination):
    max_limit = MAX_LIMIT

    def get_offset(self, request: Request) -> int:
        return min(super().get_offset(request), MAX_OFFSET)
