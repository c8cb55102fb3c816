"""Node priorities hold between nodes: each node runs in a session of its own, and with the
kernel's autogroups a session's processes are scheduled as one group whose weight is the
group's nice, not theirs (edge_agent/apps/spawn.py: pin)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from edge_agent.apps.spawn import pin

SHOW = """
import os
print(os.getpriority(os.PRIO_PROCESS, 0))
if os.path.exists("/proc/self/autogroup"):
    print(open("/proc/self/autogroup").read())
"""


def _child(nice: int) -> tuple[int, str]:
    result = subprocess.run(
        [sys.executable, "-c", SHOW], start_new_session=True, preexec_fn=pin(None, nice),
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    level, autogroup = [*result.stdout.splitlines(), ""][:2]
    return int(level), autogroup


def test_a_niced_node_session_gets_the_nice_as_its_autogroup_weight():
    own = os.getpriority(os.PRIO_PROCESS, 0)
    level, autogroup = _child(7)
    assert level == min(own + 7, 19)
    if Path("/proc/self/autogroup").exists():
        # "/autogroup-123 nice 7": the whole session is weighed as nice 7.
        assert autogroup.split()[-1] == str(level), autogroup


def test_a_node_at_the_agents_priority_has_its_autogroup_at_it_too():
    own = os.getpriority(os.PRIO_PROCESS, 0)
    level, autogroup = _child(0)
    assert level == own
    if Path("/proc/self/autogroup").exists() and own >= 0:
        assert autogroup.split()[-1] == str(own), autogroup
