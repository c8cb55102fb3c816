"""ARNs as Panorama writes them: ``arn:aws:panorama:<region>:<account>:<kind>/<id>``, the region
being the console's ``PANORAMA_API_REGION`` and the account its installation's."""

from __future__ import annotations

import re

from django.conf import settings

from core.models import Installation

KINDS = ("device", "package", "applicationInstance")
ARN = re.compile(
    r"^arn:aws:panorama:(?P<region>[^:]*):(?P<account>[0-9a-z_]*):(?P<kind>[A-Za-z]+)/(?P<id>.+)$"
)


def arn(kind: str, resource_id: str) -> str:
    assert kind in KINDS, kind
    account = Installation.get().account_id
    return f"arn:aws:panorama:{settings.PANORAMA_API_REGION}:{account}:{kind}/{resource_id}"


def parse(value: str) -> tuple[str, str] | None:
    """(kind, id) of one of this console's ARNs; None for anything else."""
    match = ARN.match(value)
    if match is None or match["kind"] not in KINDS:
        return None
    if match["account"] != Installation.get().account_id:
        return None
    return match["kind"], match["id"]
