"""The system under test, as production runs it: PostgreSQL, a private Redis, the X emulator, the
stream worker, and one web server process (uvicorn in its variants, Daphne, or the bare reference).
"""

import sys
import time
from pathlib import Path

import psycopg
from websockets.sync.client import connect as ws_connect

from bench.procs import Proc, free_port, http_json, wait_for_port

PY = sys.executable
DB_NAME = "tweetsite_bench"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
X_TOKEN = "bench-token"  # noqa: S105 (the emulator's own fake token)
SLUG = "bench"
# One bench at a time on this PostgreSQL (a session advisory lock, held for the whole run): a second
# run would drop the first one's database, and two runs on 2 cores would measure each other.
LOCK_KEY = 0x74776565_62656E63
LOCK_WAIT_S = 660.0
APP = "tweetsite.asgi:application"
UVICORN_BASE = [PY, "-m", "uvicorn", APP, "--ws-per-message-deflate", "false", "--lifespan", "off"]
UVICORN_QUIET = ["--no-access-log", "--log-level", "warning"]


# Web servers: name → (argv builder, needs the Django stack). "uvicorn" is the Procfile's command
# (the sans-I/O websockets implementation); its default loop ("auto") is uvloop when uvloop is
# installed, so "uvicorn-asyncio" shows what uvloop is worth, and "uvicorn-legacy" is the older
# `--ws websockets` implementation that uvicorn deprecates.
def _uvicorn(*options: str):
    return lambda port: [*UVICORN_BASE, *options, *UVICORN_QUIET, "--port", str(port)]


SERVERS = {
    "uvicorn": _uvicorn("--ws", "websockets-sansio"),
    "uvicorn-legacy": _uvicorn("--ws", "websockets"),
    "uvicorn-wsproto": _uvicorn("--ws", "wsproto"),
    "uvicorn-asyncio": _uvicorn("--ws", "websockets-sansio", "--loop", "asyncio"),
    "daphne": lambda port: [
        *(PY, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "--access-log", "/dev/null", APP)
    ],
    "reference": lambda port: [PY, "-m", "bench.reference", "--port", str(port)],
}


def server_available(name: str) -> str | None:
    """Why a server variant can't run here, or None (wsproto is optional in uvicorn)."""
    if name == "uvicorn-wsproto":
        try:
            import wsproto  # noqa: F401
        except ImportError:
            return "wsproto is not installed (pip install wsproto)"
    return None


# `--moderated`: the bench topic in approve mode with the emulator's author trusted (so every post
# still shows, through the trusted path), and this many word rules the posts never match, so each
# post is checked against all of them.
MODERATED_BLOCK_RULES = 200
MODERATED_SETUP = (
    "from feed.models import BlockRule, Topic\n"
    "Topic.objects.filter(slug='bench').update(moderation='approve')\n"
    "BlockRule.objects.create(kind='trusted', value='2244994945', author_username='xemulator')\n"
    "BlockRule.objects.bulk_create(BlockRule(kind='word', value=f'blockedword{n:03d} phrase{n}')"
    f" for n in range({MODERATED_BLOCK_RULES}))\n"
)


# With --media each tweet carries a photo, as an event's posts often do: what media add per tweet.
BENCH_PHOTO = {
    "type": "photo",
    "url": "https://pbs.twimg.com/media/GbenchPhotoAbCdEf.jpg",
    "width": 1600,
    "height": 900,
    "alt_text": "The main stage during the keynote, a full room",
}


class Stack:
    def __init__(self, logs: Path, *, moderated: bool = False, media: bool = False) -> None:
        self.logs = logs
        self.moderated = moderated
        self.media = media
        self.redis = self.emulator = self.worker = None
        self.env: dict[str, str] = {}

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    # --- Shared services ------------------------------------------------------------------
    def start(self, env_base: dict[str, str], *, x: bool = True) -> None:
        """PostgreSQL, Redis and the schema; then, with `x`, the bench topic, the X emulator and
        the X worker (the Bluesky scenario starts its own emulator and worker, bench/bluesky.py)."""
        self._lock()
        self._fresh_database()
        redis_port = free_port()
        self.redis = Proc(
            "redis",
            [
                *("redis-server", "--port", str(redis_port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--logfile", ""),
            ],
            env_base,
            self.log("redis"),
        )
        wait_for_port(redis_port, proc=self.redis)
        self.env = dict(
            env_base,
            DJANGO_SETTINGS_MODULE="tweetsite.settings",
            DJANGO_DEBUG="0",
            DJANGO_SECRET_KEY="bench-only-secret-key-not-for-production-0123456789",  # noqa: S106
            DJANGO_ALLOWED_HOSTS="127.0.0.1",
            DJANGO_STATIC_ROOT=str(self.logs / "static"),  # exists, so WhiteNoise doesn't warn
            REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
            DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
            LOG_LEVEL="WARNING",
            PYTHONUNBUFFERED="1",
        )
        (self.logs / "static").mkdir(exist_ok=True)
        self.manage("migrate", "--noinput", "--verbosity", "0")
        if x:
            self._start_x()

    def _start_x(self) -> None:
        self.manage(
            "shell",
            "-c",
            "from feed.models import Topic; Topic.objects.update_or_create(slug='bench', "
            "defaults={'name': 'Bench', 'query': 'bench', 'is_active': True})",
        )
        if self.moderated:
            self.manage("shell", "-c", MODERATED_SETUP)
        em_port = free_port()
        self.emulator = Proc(
            "xemulator",
            [PY, "-m", "xemulator", "--port", str(em_port), "--token", X_TOKEN, "--log-level", "WARNING"],
            self.env,
            self.log("xemulator"),
        )
        wait_for_port(em_port, proc=self.emulator)
        self.emulator_url = f"http://127.0.0.1:{em_port}"
        worker_env = dict(self.env, X_BEARER_TOKEN=X_TOKEN, X_API_BASE_URL=self.emulator_url)
        self.worker = Proc(
            "worker", [PY, "manage.py", "stream", "--source", "x"], worker_env, self.log("worker")
        )
        self._wait_stream()
        # Fill the topic's history (50 tweets), so every connect costs a realistic history frame.
        self.emit(rate=100, count=60, text="bench prefill {n} t={t} #bench")
        self.wait_emitted(60, timeout=10)
        time.sleep(1.0)

    def _lock(self) -> None:
        conn = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
        deadline = time.monotonic() + LOCK_WAIT_S
        while not conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]:
            if time.monotonic() > deadline:
                conn.close()
                raise SystemExit("bench: another bench still holds the lock; try again later")
            print("bench: another bench is running on this machine; waiting for it", flush=True)
            time.sleep(10)
        self._lock_conn = conn  # closing it (or exiting) releases the lock

    def release(self) -> None:
        if getattr(self, "_lock_conn", None) is not None:
            self._lock_conn.close()
            self._lock_conn = None

    def _fresh_database(self) -> None:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')

    def manage(self, *args: str) -> None:
        proc = Proc(f"manage-{args[0]}", [PY, "manage.py", *args], self.env, self.log("manage"))
        try:
            if proc.popen.wait(timeout=120) != 0:
                raise RuntimeError(f"manage.py {args[0]} failed; see {proc.log}")
        finally:
            proc.stop()

    def _wait_stream(self, timeout: float = 60.0) -> None:
        """Until the worker holds the emulator's stream and has set the topic's rule."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.worker.popen.poll() is not None:
                raise RuntimeError(f"the worker exited; see {self.worker.log}")
            state = http_json(f"{self.emulator_url}/_emulator/state")
            if state["connected"] and any(r.get("value") == SLUG for r in state["rules"]):
                return
            time.sleep(0.2)
        raise TimeoutError(f"the worker did not connect to the emulator in {timeout} s")

    # --- The tweet source: the emulator (Django servers) or the reference itself --------------
    def emit(self, *, rate: float, count: int, text: str | None = None, reference_url: str | None = None):
        if reference_url:
            return http_json(f"{reference_url}/_rate?rate={rate}&count={count}")
        body = {"rate": rate, "count": count}
        if text:
            body["text"] = text
        if self.media:
            body["media"] = [BENCH_PHOTO]
        return http_json(f"{self.emulator_url}/_emulator/rate", body)

    def wait_emitted(self, count: int, timeout: float, reference_url: str | None = None) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if reference_url:
                state = http_json(f"{reference_url}/_state")
            else:
                state = http_json(f"{self.emulator_url}/_emulator/state")["rate"]
            if not state.get("running") and state.get("emitted", 0) >= count:
                return True
            time.sleep(0.1)
        return False

    # --- Web servers ----------------------------------------------------------------------
    def start_server(self, name: str, *, warm: bool = True) -> tuple[Proc, int]:
        port = free_port()
        proc = Proc(name, SERVERS[name](port), self.env, self.log(name), bench=name == "reference")
        wait_for_port(port, timeout=60, proc=proc)
        if warm:
            self._warm_up(port)
        return proc, port

    def _warm_up(self, port: int, timeout: float = 30.0) -> None:
        """One full connect (history frame and all), so imports, the database connection, the hub
        and its Redis subscription are paid for before the RSS baseline is taken."""
        deadline = time.monotonic() + timeout
        url = f"ws://127.0.0.1:{port}/ws/topics/{SLUG}/"
        while True:
            try:
                with ws_connect(url, origin=f"http://127.0.0.1:{port}", open_timeout=10) as ws:
                    ws.recv(timeout=10)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        for proc in (self.worker, self.emulator, self.redis):
            if proc is not None:
                proc.stop()
