"""A bounded schemathesis run against the live stack's REST API (issue #20).

Every operation of /api/schema/ gets a few generated requests that fit the schema and a few
that do not, signed with a read-write administrator's token, against the real server (uvicorn,
worker, database). Path parameters name objects that exist (a device, a camera, an application
instance, a user, a token), so the requests reach the code behind them, not just the 404. A
5xx answer, or an answer whose body the schema does not describe, fails the test with the
request that caused it (schemathesis prints a curl command to replay it). Generation is
derandomized, so a failure comes back on the next run, and small (MAX_EXAMPLES per operation
and mode), so the run stays under a minute.
"""

from __future__ import annotations

import os

import pytest

from applications.models import ApplicationInstance
from core.models import APIToken
from core.roles import Role
from datasources.models import DataSource
from tests.support.devices import connected_device

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

MAX_EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "4"))
# Changes that would end the run itself: revoking its own token, deleting its own user.
SKIPPED = {("DELETE", "/api/tokens/{id}/"), ("DELETE", "/api/users/{id}/")}


def _objects(make_user, admin) -> dict[str, dict[str, str]]:
    """Path parameters of existing objects, by the path's first segment after /api/."""
    device = connected_device("fuzz-1")
    camera = DataSource.objects.create(name="fuzz-cam", url="rtsp://10.1.1.1/s")
    instance = ApplicationInstance.objects.create(name="fuzz-app", device=device)
    other = make_user(Role.OPERATOR)
    token, _text = APIToken.issue(user=other, name="other")
    return {
        "devices": {"device_id": device.device_id},
        "datasources": {"id": str(camera.pk)},
        "application-instances": {"application_instance_id": instance.application_instance_id},
        "users": {"id": str(other.pk)},
        "tokens": {"id": str(token.pk)},
    }


def test_generated_requests_get_no_server_error_and_match_the_schema(live_stack, make_user):
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.generation import GenerationMode
    from schemathesis.specs.openapi.checks import response_schema_conformance

    admin = make_user(Role.ADMINISTRATOR)
    _token, text = APIToken.issue(user=admin, name="fuzz", read_only=False)
    auth = {"Authorization": f"Bearer {text}"}
    objects = _objects(make_user, admin)
    schema = schemathesis.openapi.from_url(
        f"{live_stack.url}/api/schema/?format=json", headers=auth
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    # Deletions last, so the objects are there for every other operation first.
    operations.sort(key=lambda operation: operation.method.upper() == "DELETE")
    failures: list[str] = []
    requests = 0

    def fuzz(operation, mode, path_parameters: dict | None) -> None:
        @given(case=operation.as_strategy(mode, path_parameters=path_parameters))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case) -> None:
            nonlocal requests
            requests += 1
            # Recorded, not raised: Hypothesis would replay and shrink a failing case, and the
            # server's state has changed by then (a replay can find a different answer).
            try:
                case.call_and_validate(
                    base_url=live_stack.url,
                    headers=auth,
                    checks=[not_a_server_error, response_schema_conformance],
                    timeout=30,
                )
            except (Exception, BaseExceptionGroup) as failure:  # schemathesis raises groups
                failures.append(f"{operation.label} ({mode.value}):\n{failure}")

        run()

    for operation in operations:
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue
        known = objects.get(operation.path.split("/")[2], {})
        names = {parameter.name for parameter in operation.path_parameters}
        path_parameters = {k: v for k, v in known.items() if k in names} or None
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(operation, mode, path_parameters)
    assert len(operations) > 30 and requests > 200, (len(operations), requests)
    assert not failures, "\n\n".join(failures)
