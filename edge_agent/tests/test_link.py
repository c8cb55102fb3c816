"""Pieces of the link client that need no console.

The client against the real console (hello, heartbeats, reports, desired state, revocation,
replacement, outages) is tested in tests/e2e/test_agent_link.py.
"""

from __future__ import annotations

import json
import random
from types import SimpleNamespace

import pytest

from devicelink import CLOSE_PROTOCOL_ERROR, CLOSE_REPLACED, CLOSE_REVOKED, auth
from edge_agent.backoff import Backoff
from edge_agent.link import LinkClient, LinkConfig, link_uri, refusal_message
from edge_agent.outbox import Outbox


def test_backoff_doubles_to_the_cap_with_full_jitter():
    backoff = Backoff(1.0, 60.0, rng=random.Random(7))
    ceilings = []
    for _ in range(10):
        ceilings.append(backoff.ceiling())
        delay = backoff.next_delay()
        assert 0 <= delay <= ceilings[-1]
    assert ceilings == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]
    backoff.reset()
    assert backoff.ceiling() == 1
    # Full jitter: delays spread over the whole window, not bunched at its end.
    many = Backoff(1.0, 60.0, rng=random.Random(1), attempt=20)
    delays = [many.next_delay() for _ in range(2000)]
    assert max(delays) <= 60 and min(delays) >= 0
    assert min(delays) < 6 and max(delays) > 54
    assert 25 < sum(delays) / len(delays) < 35
    assert Backoff(1, 60, attempt=10_000).ceiling() == 60  # no overflow


def test_link_uri_and_refusal_message():
    assert (
        link_uri("https://v.example.com", "/agent/v1/link") == "wss://v.example.com/agent/v1/link"
    )
    assert (
        link_uri("http://127.0.0.1:8000/", "/agent/v1/link") == "ws://127.0.0.1:8000/agent/v1/link"
    )
    response = SimpleNamespace(
        status_code=403, reason_phrase="Forbidden", body=json.dumps({"error": "deleted"}).encode()
    )
    assert refusal_message(SimpleNamespace(response=response)) == "HTTP 403: deleted"
    response.body = b"<html>"
    assert refusal_message(SimpleNamespace(response=response)) == "HTTP 403: Forbidden"


DEVICE_ID = "device-aaaaaaaaaaaaaaaaaaaaaaaaaa"


def _client(outbox: Outbox) -> LinkClient:
    """A client that is never started: nothing here connects anywhere."""
    config = LinkConfig(
        console_url="http://127.0.0.1:1",
        device_id=DEVICE_ID,
        private_key=auth.generate_private_key(),
        software_version="1.2.3",
    )
    return LinkClient(config, outbox)


def test_a_report_the_console_would_refuse_never_enters_the_outbox(tmp_path):
    with Outbox(tmp_path / "outbox.sqlite3", DEVICE_ID) as outbox:
        client = _client(outbox)
        with pytest.raises(ValueError, match="unknown report kind"):
            client.queue_report("gossip", {})
        with pytest.raises(ValueError, match="job report"):
            client.queue_report("job", {"job_id": "j", "status": "SLEEPING"})
        too_many = {"entries": [{"time": 0, "stream": "syslog", "message": "x"}] * 501}
        with pytest.raises(ValueError):
            client.queue_report("logs", too_many)
        assert outbox.count() == 0
        assert client.queue_report("job", {"job_id": "j", "status": "COMPLETED"}) == 1


@pytest.mark.parametrize(
    ("code", "reason", "revoked", "error"),
    [
        (CLOSE_REVOKED, "", True, "The console revoked this device."),
        (CLOSE_REVOKED, "deleted", True, "deleted"),
        (CLOSE_REPLACED, "newer", False, "Another connection of this device replaced this one"),
        (CLOSE_PROTOCOL_ERROR, "gap", False, "closed the link for a protocol error: gap"),
        (1011, "", False, "The link closed (code 1011)."),
    ],
)
def test_what_each_close_code_means(tmp_path, code, reason, revoked, error):
    """The console sends ``revoked`` before it closes with 4403; the close code alone (the
    message lost with a dying connection) must mean the same."""
    with Outbox(tmp_path / "outbox.sqlite3", DEVICE_ID) as outbox:
        client = _client(outbox)
        client._closed(SimpleNamespace(close_code=code, close_reason=reason))
        assert client.revoked is revoked
        assert error in client.last_error
