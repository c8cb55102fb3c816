"""The OpenAPI schema's enums list every value the API returns, "" included (issue #20)."""

from __future__ import annotations

import pytest


def _enum_values(schema: dict, components: dict) -> set:
    """Every value an (enum) property schema allows, through $ref, oneOf, anyOf and allOf."""
    if "$ref" in schema:
        return _enum_values(components[schema["$ref"].rsplit("/", 1)[1]], components)
    values = set(schema.get("enum", []))
    for key in ("oneOf", "anyOf", "allOf"):
        for part in schema.get(key, []):
            values |= _enum_values(part, components)
    return values


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("component", "field"),
    [("ApplicationInstance", "reported_status"), ("NodeInstance", "signal")],
)
def test_fields_that_may_be_empty_list_the_empty_string(admin_client, component, field):
    schema = admin_client.get("/api/schema/", {"format": "json"}).json()
    components = schema["components"]["schemas"]
    values = _enum_values(components[component]["properties"][field], components)
    assert "" in values, values
    assert len(values) > 1  # and still the real values


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["runtime_role", "replaces"])
def test_fields_that_may_be_null_say_so(admin_client, field):
    """An instance deployed without a role, or replacing none, answers null for these."""
    schema = admin_client.get("/api/schema/", {"format": "json"}).json()
    assert schema["components"]["schemas"]["ApplicationInstance"]["properties"][field]["nullable"]
