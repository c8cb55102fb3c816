"""The one error type every validator returns.

Validators never raise on bad input: the console, the REST API, the CLI and the edge agent all
want the complete list of problems at once, each pointing at the offending spot of the document,
so a user can fix everything in one round trip.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class ValidationError:
    """One problem in one document.

    ``path`` is an RFC 6901 JSON pointer into the validated document (``""`` is the whole
    document), ``message`` says what is wrong and ``hint`` says what is allowed or how to fix it.
    """

    path: str
    message: str
    hint: str = ""

    def to_dict(self) -> dict[str, str]:
        """Plain-dict form for JSON responses (REST API responses, agent reports)."""
        return asdict(self)

    def __str__(self) -> str:
        where = self.path or "(document)"
        return f"{where}: {self.message}" + (f" ({self.hint})" if self.hint else "")


Errors = list[ValidationError]
