"""Limits both sides of a contract read: defined once, and where a copy must stay, equal."""

from __future__ import annotations

from devicelink import messages
from edge_agent import logs
from edge_agent.apps import applogs, hdmi
from edge_agent.runtime import display, records
from panoramasdk import _ports


def test_the_agent_uses_the_links_limits():
    assert logs.MAX_MESSAGE == applogs.MAX_MESSAGE == messages.MAX_LOG_MESSAGE
    assert applogs.MAX_ENTRIES == messages.MAX_LOG_ENTRIES
    assert hdmi.MAX_JPEG_BYTES == messages.MAX_OUTPUT_JPEG_BYTES


def test_a_display_reads_the_largest_put_record_the_sdk_sends():
    assert _ports.MAX_RECORD == display.MAX_PUT_RECORD == records.MAX_PUT_RECORD
