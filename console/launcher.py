"""Run the whole Vantage stack as supervised child processes: ``python -m console.launcher up``.

Children: the ASGI server (uvicorn), a Celery worker and Celery beat. Each runs in its own
process group so that a Ctrl-C in the terminal reaches only the launcher, which then stops
every child in order within ``--stop-timeout`` seconds (console/stopping.py) so that none is left
behind and no task or report is lost. A child that crashes is restarted, unless it crashes too
often, in which case everything stops.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from console.stopping import WEB_GRACE_S, become_subreaper, reap_orphans, stop_children
from console.tls import LocalTls, ensure_local_tls, primary_address, wants_tls

BASE_DIR = Path(__file__).resolve().parent.parent
# Container platforms kill a container 10 s after SIGTERM; everything is stopped before that.
STOP_TIMEOUT_S = 8.0
RESTART_WINDOW_S = 60.0
MAX_RESTARTS_IN_WINDOW = 5
READY_TIMEOUT_S = 60.0
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the launcher itself is killed (Linux)."""
    os.setsid()
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    restarts: list[float] = field(default_factory=list)

    def start(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            self.argv, cwd=BASE_DIR, env=env, preexec_fn=_die_with_parent
        )
        print(f"[vantage] started {self.name} (pid {self.process.pid})", flush=True)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: int) -> None:
        """Signal the child's main process only: it stops its own children (the worker's pool,
        the agent's nodes) in order; SIGTERM to the group would kill a running task."""
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)

    def signal_group(self, sig: int) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)


def children(host: str, port: int, concurrency: int, tls: LocalTls | None = None) -> list[Child]:
    python = sys.executable
    https = ["--ssl-certfile", str(tls.cert), "--ssl-keyfile", str(tls.key)] if tls else []
    return [
        Child(
            "web",
            [
                python, "-m", "uvicorn", "console.asgi:application",
                "--host", host, "--port", str(port),
                "--lifespan", "off", "--no-server-header", "--proxy-headers",
                # Open streams (View output, live pages) never end by themselves: on a stop,
                # give them a moment, then close them (the whole stop has a 10 s budget).
                "--timeout-graceful-shutdown", str(WEB_GRACE_S),
                *https,
            ],
        ),
        Child(
            "worker",
            [
                python, "-m", "celery", "-A", "console", "worker", "--loglevel", "INFO",
                "--concurrency", str(concurrency), "--without-mingle", "--without-gossip",
                "--hostname", f"vantage-worker-{os.getpid()}@%h",
            ],
        ),
        Child("beat", [python, "-m", "celery", "-A", "console", "beat", "--loglevel", "INFO"]),
    ]  # fmt: skip


def appliance_dirs(env: dict[str, str]) -> tuple[Path, Path]:
    """The local appliance's USB and data folders, under the var folder."""
    var_dir = Path(env.get("VANTAGE_VAR_DIR", str(BASE_DIR / "var"))).resolve()
    return var_dir / "appliance" / "usb", var_dir / "appliance" / "data"


def appliance_child(env: dict[str, str]) -> Child:
    usb_dir, data_dir = appliance_dirs(env)
    usb_dir.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    return Child(
        "appliance",
        [
            sys.executable, "-m", "edge_agent", "run",
            "--usb-dir", str(usb_dir), "--data-dir", str(data_dir),
        ],
    )  # fmt: skip


def manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=env, check=True)


def wait_ready(
    local_url: str,
    console_url: str,
    timeout: float,
    web: Child,
    stop: threading.Event,
    context: ssl.SSLContext | None = None,
) -> bool:
    deadline = time.monotonic() + timeout
    probe = urllib.request.Request(  # noqa: S310  (http to our own server)
        local_url + "/healthz", headers={"Host": urlsplit(console_url).netloc}
    )
    while time.monotonic() < deadline:
        if not web.running() or stop.is_set():
            return False
        try:
            with urllib.request.urlopen(probe, timeout=2, context=context) as response:  # noqa: S310
                if response.status == 200:
                    return True
        except OSError:
            pass
        stop.wait(0.2)  # polling readiness with a deadline; a stop request ends it at once
    return False


class Supervisor:
    def __init__(
        self, kids: list[Child], env: dict[str, str], stop_timeout: float = STOP_TIMEOUT_S
    ) -> None:
        self.kids = kids
        self.env = env
        self.stop_timeout = stop_timeout
        # Set by a signal; waiting on it (not sleeping) lets Ctrl-C act at once.
        self.stop_requested = threading.Event()

    @property
    def stopping(self) -> bool:
        return self.stop_requested.is_set()

    def request_stop(self, signum: int, _frame) -> None:
        if not self.stopping:
            print(f"\n[vantage] {signal.Signals(signum).name}: stopping…", flush=True)
        self.stop_requested.set()

    def start_all(self) -> None:
        for kid in self.kids:
            kid.start(self.env)

    def watch(self) -> int:
        """Restart crashed children until asked to stop; returns the exit status."""
        while not self.stopping:
            for kid in self.kids:
                if kid.running() or self.stopping:
                    continue
                code = kid.process.returncode if kid.process else None
                now = time.monotonic()
                kid.restarts = [t for t in kid.restarts if now - t < RESTART_WINDOW_S]
                if len(kid.restarts) >= MAX_RESTARTS_IN_WINDOW:
                    print(
                        f"[vantage] {kid.name} keeps crashing (exit {code}); stopping everything.",
                        flush=True,
                    )
                    self.stop_all()
                    return 1
                kid.restarts.append(now)
                print(f"[vantage] {kid.name} exited with {code}; restarting.", flush=True)
                kid.start(self.env)
            reap_orphans({kid.process.pid for kid in self.kids if kid.process})
            self.stop_requested.wait(0.5)  # a crashed child is noticed within half a second
        self.stop_all()
        return 0

    def stop_all(self) -> None:
        stop_children(self.kids, self.stop_timeout)


def serve_tls(args: argparse.Namespace, env: dict[str, str]) -> LocalTls | None:
    """HTTPS with the local CA (console/tls.py) when the console listens beyond this machine
    and nobody chose its URL; ``--no-tls`` (VANTAGE_TLS=off) keeps plain HTTP."""
    if not args.tls or "CONSOLE_URL" in env or not wants_tls(args.host):
        return None
    var_dir = Path(env.get("VANTAGE_VAR_DIR", str(BASE_DIR / "var"))).resolve()
    tls = ensure_local_tls(var_dir / "tls", args.host)
    address = primary_address() if args.host in {"0.0.0.0", "::", ""} else args.host  # noqa: S104
    host = f"[{address}]" if ":" in address else address
    env["CONSOLE_URL"] = f"https://{host}:{args.port}"
    env.setdefault("CONSOLE_CA_FILE", str(tls.ca_cert))  # into every setup archive
    env["SSL_CERT_FILE"] = str(tls.trust)  # the stack's own clients trust it too
    return tls


def up(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    tls = serve_tls(args, env)
    # Where this machine's own processes reach the server, whatever address it listens on.
    local_host = "127.0.0.1" if args.host in {"0.0.0.0", "::", ""} else args.host  # noqa: S104
    local_url = f"{'https' if tls else 'http'}://{local_host}:{args.port}"
    env.setdefault("CONSOLE_URL", local_url)
    env.setdefault("LIVE_RELAY_URL", local_url)
    env["PYTHONUNBUFFERED"] = "1"
    # The long-running processes pool their PostgreSQL connections (see console/settings.py).
    env.setdefault("DATABASE_POOL", "true")
    if not args.skip_setup:
        manage("migrate", "--noinput", "-v", "0", env=env)
        manage("collectstatic", "--noinput", "-v", "0", env=env)
        manage("ensure_admin", env=env)
        manage("load_sample", env=env)  # the people counter sample and its demo camera

    kids = children(args.host, args.port, args.concurrency, tls)
    if args.appliance:
        kids.append(appliance_child(env))
        env["VANTAGE_LOCAL_APPLIANCE_USB_DIR"] = str(appliance_dirs(env)[0])
    supervisor = Supervisor(kids, env, args.stop_timeout)
    # Processes the children leave behind (an application the agent started in its own session,
    # whose agent died) become the launcher's, so that a stop still finds and ends them.
    become_subreaper()
    signal.signal(signal.SIGINT, supervisor.request_stop)
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    signal.signal(signal.SIGHUP, supervisor.request_stop)
    supervisor.start_all()
    ready = wait_ready(
        local_url,
        env["CONSOLE_URL"],
        READY_TIMEOUT_S,
        supervisor.kids[0],
        supervisor.stop_requested,
        ssl.create_default_context(cafile=str(tls.ca_cert)) if tls else None,
    )
    if not ready:
        if not supervisor.stopping:
            print(
                f"[vantage] the console did not become ready at {local_url}; stopping.", flush=True
            )
        supervisor.stop_all()
        return 0 if supervisor.stopping else 1
    print(f"[vantage] Vantage is running at {env['CONSOLE_URL']}/  (Ctrl-C stops it)", flush=True)
    if tls:
        print(
            f"[vantage] HTTPS with this installation's own CA: browsers ask once; import "
            f"{tls.ca_cert} to trust it. Appliances get it in their setup archive.",
            flush=True,
        )
    if args.appliance:
        usb_dir, _ = appliance_dirs(env)
        print(
            "[vantage] A local appliance is running too. Set it up in the console (Devices → "
            f"Set up device) and save the downloaded archive into {usb_dir}",
            flush=True,
        )
    return supervisor.watch()


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings")
    parser = argparse.ArgumentParser(prog="vantage", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("up", help="set up and run the whole stack in the foreground")
    run.add_argument("--host", default=os.environ.get("VANTAGE_HOST", "127.0.0.1"))
    run.add_argument("--port", type=int, default=os.environ.get("VANTAGE_PORT", "8000"))
    run.add_argument("--concurrency", type=int, default=2, help="Celery worker processes")
    run.add_argument(
        "--stop-timeout",
        type=float,
        default=float(os.environ.get("VANTAGE_STOP_TIMEOUT_S", STOP_TIMEOUT_S)),
        help="seconds from SIGTERM/Ctrl-C until whatever still runs is killed (default 8; "
        "a running task gets all but the last 3.5 s to finish, then it is put back in the queue)",
    )
    run.add_argument(
        "--skip-setup", action="store_true", help="do not migrate, collect static or add an admin"
    )
    run.add_argument(
        "--no-appliance",
        dest="appliance",
        action="store_false",
        default=os.environ.get("VANTAGE_LOCAL_APPLIANCE", "1") != "0",
        help="do not start the local appliance (an edge agent with a USB folder under var/)",
    )
    run.add_argument(
        "--no-tls",
        dest="tls",
        action="store_false",
        default=os.environ.get("VANTAGE_TLS", "on").lower() not in {"0", "off", "false", "no"},
        help="on a network address, serve plain HTTP instead of HTTPS with the local CA "
        "(appliances on other machines then get no secrets unless allowed per device)",
    )
    args = parser.parse_args(argv)
    return up(args)


if __name__ == "__main__":
    sys.exit(main())
