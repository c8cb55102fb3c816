"""One Django cache client per process, for code that runs in many asyncio contexts at once.

``django.core.cache.cache`` is per asyncio context (Django's CacheHandler keeps its clients in a
context-local), and every WebSocket is a task of its own: each device link that touched it got
its own client, with its own Redis connection, kept while the link lived. At 5,000 appliances
that was more than Redis's 10,000 clients, and each hello paid for a new connection. The cache
backends are thread-safe (redis-py's pool, LocMemCache's lock), so one client serves them all.
"""

from __future__ import annotations

import threading

from django.core.cache import BaseCache, caches

_client: BaseCache | None = None
_lock = threading.Lock()


def shared_cache() -> BaseCache:
    """The default cache, one client for the whole process."""
    global _client
    with _lock:
        if _client is None:
            _client = caches.create_connection("default")
        return _client
