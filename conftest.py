"""Fixtures shared by every test: users of each role, the live stack, and a real browser."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from console.roles import Role

# The test process itself uses no connection pool: pooled connections left open in worker
# threads would keep PostgreSQL from dropping the test database. The servers it starts do.
settings.DATABASES["default"].get("OPTIONS", {}).pop("pool", None)


@pytest.fixture(autouse=True)
def _live_updates_go_to_the_real_server(request, monkeypatch):
    """Importing console.asgi marks a process as the ASGI server, whose in-memory channel layer
    is the one browsers listen on. Only tests that drive the ASGI app in this very process
    (marker ``in_process_asgi``) may keep that; others must relay to the live stack's server."""
    from console import live

    in_process = request.node.get_closest_marker("in_process_asgi") is not None
    monkeypatch.setattr(live._ProcessRole, "serving_asgi", in_process)
    # Tests capture what broadcast() renders with a stand-in for deliver(), watched or not; on
    # Redis (CI) an empty group would otherwise be skipped (console/live.py, watched_groups).
    monkeypatch.setattr(live, "watched_groups", lambda groups: groups)


BASE_DIR = Path(__file__).resolve().parent
ARTIFACTS_DIR = BASE_DIR / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct-horse-battery-staple-42"  # noqa: S105  (test users only)
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"


@pytest.fixture(autouse=True)
def _fast_password_hashing(request):
    # Hashing with the production hasher costs ~0.3 s per user. Tests that share users with the
    # live stack keep it, because the server verifies those passwords with its own settings.
    if "live_stack" in request.fixturenames:
        yield
        return
    django_settings = request.getfixturevalue("settings")
    django_settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    yield


def pytest_collection_modifyitems(items):
    """Transactional tests reset sequences when they flush the database.

    A flush empties django_content_type too, and post_migrate fills it again. With the sequences
    reset the rows come back with the same ids, which the live stack's server and worker have
    cached (the audit log writes them); otherwise their next audit entry fails its foreign key.
    """
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker and marker.kwargs.get("transaction") and "reset_sequences" not in marker.kwargs:
            kwargs = {**marker.kwargs, "reset_sequences": True}
            item.add_marker(pytest.mark.django_db(*marker.args, **kwargs), append=False)


# --- users and clients ------------------------------------------------------------------------


@pytest.fixture
def make_user(db):
    from console.models import User

    def make(role: Role, username: str | None = None, **extra) -> User:
        return User.objects.create_user(
            username=username or f"{role.value}-{uuid.uuid4().hex[:6]}",
            password=PASSWORD,
            role=role,
            **extra,
        )

    return make


@pytest.fixture
def viewer(make_user):
    return make_user(Role.VIEWER)


@pytest.fixture
def operator(make_user):
    return make_user(Role.OPERATOR)


@pytest.fixture
def administrator(make_user):
    return make_user(Role.ADMINISTRATOR)


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def viewer_client(viewer) -> Client:
    return _client_for(viewer)


@pytest.fixture
def operator_client(operator) -> Client:
    return _client_for(operator)


@pytest.fixture
def admin_client(administrator) -> Client:
    return _client_for(administrator)


# --- helpers ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition, timeout: float, message: str, interval: float = 0.1):
    """Poll ``condition`` until it returns something truthy, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
            return response.status == 200
    except OSError:
        return False


def database_url_for_subprocesses() -> str:
    """The URL of the database the tests use, for the server and worker processes."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


# --- the live stack: the real ASGI server, Celery worker and beat -------------------------------


@dataclass
class LiveStack:
    url: str
    env: dict[str, str]
    process: subprocess.Popen
    log_path: Path

    def manage(self, *args: str) -> subprocess.CompletedProcess:
        """Run a management command as another process of this installation would."""
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="session")
def live_stack(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[LiveStack]:
    """The whole stack, started by the run command's own launcher, on the test database."""
    from console.celery import app as celery_app

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    run_id = uuid.uuid4().hex[:8]
    env = {k: v for k, v in os.environ.items() if k != ASYNC_UNSAFE}
    env.update(
        DATABASE_URL=database_url_for_subprocesses(),
        CONSOLE_URL=url,
        LIVE_RELAY_URL=url,
        SECRET_KEY=settings.SECRET_KEY,
        VANTAGE_VAR_DIR=str(settings.VAR_DIR),
        CELERY_QUEUE=f"vantage-test-{run_id}",
        CHANNEL_LAYER_PREFIX=f"vantage-test-{run_id}",
        # Appliances in tests heartbeat every second and go OFFLINE after 4 s of silence.
        DEVICE_HEARTBEAT_S="1",
        DEVICE_LEASE_S="4",
    )
    # This test process sends tasks and live updates too: point it at the same places.
    celery_app.conf.task_default_queue = env["CELERY_QUEUE"]
    settings.LIVE_RELAY_URL = url
    if settings.REDIS_URL:
        settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = env["CHANNEL_LAYER_PREFIX"]
        from channels.layers import channel_layers

        channel_layers.backends.clear()

    log_path = tmp_path_factory.mktemp("stack") / "stack.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "console.launcher",
                "up",
                "--skip-setup",
                "--no-appliance",
                "--port",
                str(port),
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    stack = LiveStack(url=url, env=env, process=process, log_path=log_path)
    try:
        wait_for(
            lambda: "Vantage is running" in stack.log() or process.poll() is not None,
            timeout=90,
            message="the stack to start",
        )
        if process.poll() is not None:
            raise AssertionError(f"the stack exited early:\n{stack.log()[-4000:]}")
        yield stack
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        if process.returncode not in (0, None, -15):
            print(stack.log()[-4000:])


# --- a real RTSP server (GStreamer's rtsp-server), looping the shared test videos ---------------

MEDIA_DIR = BASE_DIR.parent / "shared" / "media"
RTSP_USER, RTSP_PASSWORD = "camuser", "Cam-pass-7781"


@dataclass
class RTSPServer:
    port: int
    process: subprocess.Popen
    user: str = RTSP_USER
    password: str = RTSP_PASSWORD

    def url(self, mount: str) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{mount}"


def start_rtsp_server(tmp_path: Path, port: int | None = None) -> RTSPServer:
    # ``port``: the port of a server the test killed, to bring "the camera" back where it was.
    port = port or free_port()
    out = tmp_path / f"rtsp-{port}.log"
    with open(out, "wb") as log:
        process = subprocess.Popen(
            ["/usr/bin/python3", str(BASE_DIR / "tests/support/rtsp_server.py"),
             "--port", str(port), "--h264", str(MEDIA_DIR / "pedestrians.mp4"),
             "--h265", str(MEDIA_DIR / "pedestrians_h265.mp4"),
             "--user", RTSP_USER, "--password", RTSP_PASSWORD],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the RTSP server exited:\n{out.read_text()}")
        return "READY" in out.read_text()

    wait_for(ready, timeout=30, message="the RTSP server to listen")
    return RTSPServer(port=port, process=process)


def stop_process(process: subprocess.Popen) -> None:
    process.kill()
    process.wait(timeout=10)


@pytest.fixture(scope="session")
def rtsp_server(tmp_path_factory) -> Iterator[RTSPServer]:
    server = start_rtsp_server(tmp_path_factory.mktemp("rtsp"))
    yield server
    stop_process(server.process)


# --- the browser --------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def browser():
    # Per module, not per session: while Playwright's sync API is running, its event loop
    # occupies the main thread, and later tests that call asyncio.run() (the agent's) would
    # fail; pytest-django runs those last, after every browser module has finished.
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: './vantage test' installs Debian's chromium package.")
    # Playwright's sync API runs an event loop in the test thread; the ORM calls tests make next
    # to it are still plain synchronous code, so Django's async guard must stand aside.
    os.environ[ASYNC_UNSAFE] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        os.environ.pop(ASYNC_UNSAFE, None)


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1366, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    failed = any(
        getattr(getattr(request.node, f"report_{when}", None), "failed", False)
        for when in ("setup", "call")
    )
    if failed:
        ARTIFACTS_DIR.mkdir(exist_ok=True)
        path = ARTIFACTS_DIR / f"{request.node.name}.png"
        page.screenshot(path=str(path), full_page=True)
        print(f"screenshot of the failed browser test: {path}")
    context.close()


def sign_in(page, base_url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(base_url + "/login/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(base_url + "/")


@pytest.fixture
def asset_store(settings, tmp_path):
    """The asset store in a folder of this test's own."""
    from django.core.files.storage import storages

    settings.STORAGES = {
        **settings.STORAGES,
        "assets": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "assets")},
        },
    }
    storages._storages.pop("assets", None)
    yield storages["assets"]
    storages._storages.pop("assets", None)
