"""The one exception commands raise to stop with a message (and exit status 1)."""

from __future__ import annotations


class CliError(Exception):
    """A problem the user can fix; ``main`` prints the message, without a traceback."""
