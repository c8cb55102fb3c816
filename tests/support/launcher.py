"""The console as `./vantage up` starts it, for tests and benchmarks (no Django here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.paths import BASE_DIR


def launch_console(
    port: int,
    env: dict[str, str],
    log_path: Path,
    *,
    new_session: bool = False,
    extra_args: tuple[str, ...] = (),
) -> subprocess.Popen:
    """The launcher on ``port`` without its local appliance and without setup (the database is
    migrated already), its output in ``log_path``."""
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "console.launcher", "up", "--skip-setup", "--no-appliance",
             "--port", str(port), *extra_args],
            cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=new_session,
        )  # fmt: skip


def stop_console(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM, as a terminal's Ctrl-C or a container stop would; SIGKILL if that hangs."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
