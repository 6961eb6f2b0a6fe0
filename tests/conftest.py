"""Shared fixtures: real Redis (pytest-redis), the X emulator, and real server/worker processes.

Process fixtures run the project as production does: uvicorn or Daphne for the web, `manage.py
stream` for the worker, all on the test database and a private redis-server. Browser fixtures give
Debian's Chromium through Playwright, and `orm` for database calls beside its sync API.
"""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from channels.layers import channel_layers
from django.conf import settings
from django.db import connections
from playwright.sync_api import Browser, sync_playwright

from xemulator import XEmulator

from browser_pages import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parent.parent
X_TOKEN = "test-bearer-token"
SERVERS = ["uvicorn", "daphne"]


def pytest_collection_modifyitems(config, items) -> None:
    """Browser tests get a longer timeout. `make test` runs the suite on SQLite, then on
    PostgreSQL: tests marked postgres_only test what only PostgreSQL does, so on SQLite they are
    deselected, not skipped."""
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(pytest.mark.timeout(240))
    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    deselected = [item for item in items if item.get_closest_marker("postgres_only")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item not in deselected]


# --- Redis and the channel layer ----------------------------------------------------------------
@pytest.fixture
def redis_url(redis_proc) -> str:
    return f"redis://{redis_proc.host}:{redis_proc.port}/0"


def _use_layer(settings, config: dict) -> None:
    settings.CHANNEL_LAYERS = {"default": config}
    channel_layers.backends.clear()


@pytest.fixture
def servers_layer(settings, redis_url) -> Iterator[None]:
    """Publish from the test on the Redis the started server processes read (process_env's
    REDIS_URL), so a batch the test publishes reaches their pages at once."""
    _use_layer(
        settings,
        {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": {"hosts": [redis_url]}},
    )
    yield
    channel_layers.backends.clear()


@pytest.fixture(params=["memory", "redis"])
def channel_layer(request, settings) -> Iterator[str]:
    """Run the test on the in-memory layer and on channels-redis's pub/sub layer."""
    if request.param == "memory":
        _use_layer(settings, {"BACKEND": "channels.layers.InMemoryChannelLayer"})
    else:
        url = request.getfixturevalue("redis_url")
        _use_layer(
            settings,
            {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": {"hosts": [url]}},
        )
    yield request.param
    channel_layers.backends.clear()


class RedisServer:
    """A private redis-server that a test can stop and start again on the same port."""

    def __init__(self, tmp_path: Path, *options: str) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        self._args += ["--appendonly", "no", "--dir", str(tmp_path), *options]
        self._popen: subprocess.Popen | None = None

    def start(self) -> None:
        self._popen = subprocess.Popen(self._args, stdout=subprocess.DEVNULL)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self._popen is not None:
            self._popen.terminate()
            self._popen.wait(timeout=10)
            self._popen = None


@pytest.fixture
def restartable_redis(tmp_path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


# --- The X emulator -----------------------------------------------------------------------------
@pytest.fixture
def x_emulator() -> Iterator[XEmulator]:
    with XEmulator(token=X_TOKEN, keepalive_interval=0.5) as emulator:
        yield emulator


@pytest.fixture
def emu() -> Iterator[XEmulator]:
    """A faster keep-alive, for the emulator's own tests."""
    with XEmulator(token="test-token", keepalive_interval=0.2) as emulator:
        yield emulator


# --- Real processes -----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll `predicate` until it holds or `timeout` passes; True if it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on port {port} after {timeout} s")


@dataclass
class Process:
    """A project process started by a test; stopped at teardown. Its output goes to `log`."""

    args: list[str]
    env: dict[str, str]
    log: Path
    port: int | None = None
    popen: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> "Process":
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdout=out, stderr=out)
        if self.port is not None:
            wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _database_url() -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    return f"postgres://{user}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


@pytest.fixture(scope="session")
def static_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("static")
    # The production settings, as the processes use: pytest's DJANGO_SETTINGS_MODULE (test_settings)
    # has its own STATIC_ROOT and no manifest, which left `root` empty and every page a 500.
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="tweetsite.settings",
        DJANGO_SECRET_KEY="collectstatic-only-secret-key-not-for-production",
        DJANGO_STATIC_ROOT=str(root),
    )
    env.pop("REDIS_URL", None)
    args = [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"]
    subprocess.run(args, cwd=ROOT, env=env, check=True)
    return root


@pytest.fixture
def process_env(transactional_db, static_root, redis_url) -> dict[str, str]:
    """The environment of a production-like process on the test database and private Redis."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "X_", "STREAM_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="tweetsite.settings",
        DJANGO_SECRET_KEY="test-only-secret-key-not-for-production",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_STATIC_ROOT=str(static_root),
        DJANGO_SECURE_COOKIES="0",
        DJANGO_SECURE_SSL_REDIRECT="0",  # the tests speak plain HTTP on loopback
        DATABASE_URL=_database_url(),
        REDIS_URL=redis_url,
        PYTHONUNBUFFERED="1",
    )
    return env


def server_args(kind: str, port: int) -> list[str]:
    app = "tweetsite.asgi:application"
    if kind.startswith("uvicorn"):  # "uvicorn" as the Procfile runs it; "uvicorn-deflate" compresses
        deflate = "true" if kind == "uvicorn-deflate" else "false"
        return [
            *(sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)),
            *("--ws", "websockets-sansio", "--ws-per-message-deflate", deflate, "--lifespan", "off"),
            *("--ws-max-size", "4096"),  # viewers send nothing; a big frame is refused unread
        ]
    return [
        *(sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)),
        *DAPHNE_FRAME_LIMITS,  # as `make run`: a big frame is refused from its header, unbuffered
        app,
    ]


# As `make run`. The frame bound (4 KB) is what refuses a client's frame from its header. The message
# bound cannot be as small: autobahn applies it to the messages Daphne sends as well (sendMessage
# raises PayloadExceededError), and at 4096 every history or tweets frame over 4 KB failed. 16 MiB is
# above any frame the hub builds (a history of 50 posts at X's 25,000 characters is about 4 MB); a
# client can make Daphne hold that much by fragmenting a message, which uvicorn's bound prevents.
DAPHNE_FRAME_LIMITS = ("--websocket-max-frame-size", "4096", "--websocket-max-message-size", "16777216")


@pytest.fixture
def start_server(process_env, tmp_path) -> Iterator[Callable[..., Process]]:
    """Start a web process: `start_server("uvicorn")` or `start_server("daphne")`."""
    started: list[Process] = []

    def start(kind: str = "uvicorn", **env: str) -> Process:
        port = free_port()
        log = tmp_path / f"{kind}-{port}.log"
        process = Process(server_args(kind, port), {**process_env, **env}, log, port=port)
        started.append(process.start())
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def start_worker(process_env, tmp_path) -> Iterator[Callable[..., Process]]:
    """Start `manage.py stream` with the given arguments and extra environment."""
    started: list[Process] = []

    def start(*args: str, **env: str) -> Process:
        log = tmp_path / f"worker-{len(started)}.log"
        argv = [sys.executable, "manage.py", "stream", *args]
        process = Process(argv, {**process_env, **env}, log)
        started.append(process.start())
        return process

    yield start
    for process in started:
        process.stop()


# --- Browsers -----------------------------------------------------------------------------------
@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def orm(transactional_db) -> Iterator[Callable[..., Any]]:
    """Run ORM calls (and async_to_sync) on a worker thread: Playwright's sync API keeps an event
    loop on the test's thread, where Django refuses synchronous database access."""
    with ThreadPoolExecutor(max_workers=1) as pool:

        def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            return pool.submit(fn, *args, **kwargs).result(timeout=30)

        yield run
        pool.submit(connections.close_all).result(timeout=30)
