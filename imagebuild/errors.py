"""The one exception image building raises: what went wrong, for the person building."""

from __future__ import annotations


class ImageBuildError(Exception):
    """A build that cannot go on; the message says why and, where it can, what to do."""
