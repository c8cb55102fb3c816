"""Validation of AWS Panorama-compatible manifests, without Django.

Shared by the console, the REST API, the CLI and the edge agent, so it depends on the standard
library only. Every ``validate_*`` function returns the complete list of
:class:`ValidationError` (RFC 6901 ``path``, ``message``, ``hint``) and never raises on bad input.
"""

from .descriptor import validate_descriptor
from .detect import DocumentKind, detect_kind, validate_document
from .errors import ValidationError
from .graph import validate_graph
from .override import validate_override
from .package import validate_package
from .payload import MAX_PAYLOAD_CHARS

__all__ = [
    "MAX_PAYLOAD_CHARS",
    "DocumentKind",
    "ValidationError",
    "detect_kind",
    "validate_descriptor",
    "validate_document",
    "validate_graph",
    "validate_override",
    "validate_package",
]
