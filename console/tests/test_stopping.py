"""console/stopping.py on stand-in children: whatever ignores SIGTERM, or escapes into its own
session, is still gone by the stop timeout."""

from __future__ import annotations

import json
import subprocess
import sys

import psutil

from tests.support.paths import BASE_DIR

# A child that ignores SIGTERM and starts one grandchild in its own session that ignores it
# too (an application the agent started), and another that forks a daemon and exits at once
# (pasta does that), so that the daemon is re-parented: the launcher must find both.
STUBBORN = """
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
ignore = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
node = subprocess.Popen([sys.executable, "-c", ignore], start_new_session=True)
daemon = subprocess.Popen([sys.executable, "-c",
    "import os, subprocess, sys; p = subprocess.Popen([sys.executable, '-c', sys.argv[1]],"
    " start_new_session=True); print(p.pid, flush=True)", ignore], stdout=subprocess.PIPE)
print(node.pid, int(daemon.stdout.readline()), flush=True)
time.sleep(600)
"""

DRIVER = """
import json, sys, time
from console.launcher import Child
from console.stopping import become_subreaper, stop_children
become_subreaper()
kid = Child("stubborn", [sys.executable, "-c", sys.argv[1]])
import subprocess
kid.process = subprocess.Popen(kid.argv, stdout=subprocess.PIPE, start_new_session=True)
node, daemon = map(int, kid.process.stdout.readline().split())
started = time.monotonic()
stop_children([kid], timeout=1.5)
print(json.dumps({"pids": [kid.process.pid, node, daemon], "s": time.monotonic() - started}))
"""


def test_a_child_that_ignores_sigterm_and_what_it_started_are_killed_at_the_timeout():
    result = subprocess.run(
        [sys.executable, "-c", DRIVER, STUBBORN],
        cwd=BASE_DIR, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert "stubborn did not stop in time; killing it" in result.stdout
    assert result.stdout.count("killing leftover process") == 2, result.stdout
    assert 1.5 <= report["s"] < 1.5 + 1.0, report
    alive = [pid for pid in report["pids"] if psutil.pid_exists(pid)
             and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]  # fmt: skip
    assert not alive, alive
