"""The domain's refusals, in one place.

A ``DomainError`` means: the request was understood, and the rules say no (a quota is full, a
signal cannot be sent). Its text is written for the person who asked. Domain code raises these,
never a bare ``ValueError`` (which a caller could not tell from a bug), and each entry point
translates them: a form error in the pages, a 400/402 in the REST API, Panorama's exception
shapes in panorama_api (panorama_api/errors.py).

Refusals that carry more than a message live beside their data and derive from
``DomainError`` too: ``DeployRefused`` (applications/resolve.py, the manifest's errors),
``PackageRejected`` and ``PatchInUse`` (applications/registry.py), ``CheckRefused``
(datasources/checks.py), ``JobRefused`` (devices/jobs.py, a form ValidationError).

``ServiceUnavailable`` is the one that is not a rule: the request was fine, but the task broker
could not take the work, so nothing was saved and the caller may try again shortly.
"""

from __future__ import annotations


class DomainError(Exception):
    """A refusal of the domain rules, with a message for people."""

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class QuotaExceeded(DomainError):
    """A quota setting is reached; ``quota`` is its name (DEVICE_QUOTA, ...)."""

    def __init__(self, message: str, quota: str) -> None:
        super().__init__(message)
        self.quota = quota


class SignalRefused(DomainError):
    """Node signals that cannot be sent: the instance no longer runs, no such node, not a
    camera node."""


class ServiceUnavailable(DomainError):
    """The request was valid, but a service it needs (the task broker) cannot be reached right
    now, so nothing was done and nothing saved. Unlike the refusals above it is temporary:
    ``retry_after_s`` says when to try again. Entry points answer it as 503 with Retry-After
    (the pages keep the form), the Panorama API as InternalServerException with Retry-After."""

    def __init__(self, message: str, retry_after_s: int = 30) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
