"""Panorama's request rates, per account: ``PANORAMA_API_REQUESTS_PER_S`` requests a second in
all and ``PANORAMA_API_MUTATIONS_PER_S`` for the calls that change something (5 and 1 by
default, Panorama's). Counted in one-second windows in the shared cache (Redis when configured,
so every console process counts together). Beyond them: ``ThrottlingException`` (429), which
botocore's retry modes retry with backoff.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache

from panorama_api.errors import Throttled


def check(account: str, mutating: bool) -> None:
    second = int(time.time())
    limits = [("all", settings.PANORAMA_API_REQUESTS_PER_S)]
    if mutating:
        limits.append(("mutating", settings.PANORAMA_API_MUTATIONS_PER_S))
    for kind, limit in limits:
        if not limit:
            continue
        key = f"panorama-api:rate:{account}:{kind}:{second}"
        cache.add(key, 0, timeout=5)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=5)
            count = 1
        if count > limit:
            what = "requests" if kind == "all" else "requests that change something"
            raise Throttled(f"Rate exceeded: at most {limit} {what} a second.")
