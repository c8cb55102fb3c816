"""A constraintRegex that backtracks for ever cannot take the console down (#20): the deploy
is refused with a clear error within the regex time budget, and the console answers other
requests meanwhile."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests

from core.models import APIToken
from core.roles import Role
from manifests.nodes import REGEX_BUDGET_S
from tests.support.devices import connected_device
from tests.support.samples import inbound_network_app

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

# Exponential backtracking: about a second at 25 characters, doubling with each one more; the
# value below would take minutes unchecked.
SLOW_REGEX = "(a|a)+$"
SLOW_VALUE = "a" * 29 + "!"


def _request(url: str, token: str = "", data: dict | None = None) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if data is None:
        answer = requests.get(url, headers=headers, timeout=60)
    else:
        answer = requests.post(url, json=data, headers=headers, timeout=60)
    return answer.status_code, answer.json() if answer.content else {}


def test_a_backtracking_constraint_regex_is_refused_in_time_and_nobody_waits(live_stack, make_user):
    operator = make_user(Role.OPERATOR)
    _, token = APIToken.issue(user=operator, name="redos", read_only=False)
    device = connected_device("redos-1")
    graph, _ = inbound_network_app()
    document = json.loads(graph)
    document["nodeGraph"]["nodes"].append({
        "name": "label", "interface": "string", "value": SLOW_VALUE, "overridable": True,
        "decorator": {"constraintRegex": SLOW_REGEX},
    })  # fmt: skip
    body = {"name": "redos", "device": device.device_id,
            "manifest_payload": json.dumps(document)}  # fmt: skip

    result: dict = {}

    def deploy() -> None:
        started = time.monotonic()
        result["answer"] = _request(f"{live_stack.url}/api/application-instances/", token, body)
        result["seconds"] = time.monotonic() - started

    worker = threading.Thread(target=deploy)
    worker.start()
    slowest = 0.0
    while worker.is_alive():
        started = time.monotonic()
        status, _ = _request(f"{live_stack.url}/healthz")
        slowest = max(slowest, time.monotonic() - started)
        assert status == 200
    worker.join()
    status, answer = result["answer"]
    assert status == 400, answer
    assert "could not be checked against constraintRegex" in json.dumps(answer), answer
    # Refused within the budget (with the request's own work around it), and the health check
    # never waited longer than one budget while it ran.
    assert result["seconds"] < REGEX_BUDGET_S + 5, result
    assert slowest < REGEX_BUDGET_S + 2, slowest
