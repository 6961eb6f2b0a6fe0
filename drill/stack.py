"""The real processes a drill runs against, started as production runs them and always stopped.

Redis (private, no persistence), a fresh PostgreSQL database, the three networks' emulators (X,
Bluesky's Jetstream and AppView, a Mastodon instance), the stream worker following all three and
one uvicorn web process. Children get their own session, so a Ctrl-C reaches only the drill, which
then stops them in order; each child is also told by the kernel to die with the drill
(PR_SET_PDEATHSIG), so even a kill -9 of the drill leaves nothing running.
"""

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DB_NAME = "tweetsite_drill"
TOPIC_SLUG = "drill"  # follows X
BLUESKY_SLUG = "drill-bluesky"
MASTODON_SLUG = "drill-mastodon"
MASTODON_TAG = "drill"  # Mastodon streams hashtags: the topic's rule is this tag
X_TOKEN = "drill-bearer-token"  # noqa: S105 (the emulator's, never X's)
MASTODON_TOKEN = "drill-mastodon-token"  # noqa: S105 (the emulator's user token, read scope)
# A staff login on the throwaway database: /healthz shows the worker's fields to staff only.
STAFF_USER = "drill"
STAFF_PASSWORD = "drill-staff-password"  # noqa: S105
# Short enough that the stall fault costs seconds, longer than the emulator's 1 s keep-alive.
STALL_TIMEOUT_S = 3
STOP_TIMEOUT_S = 10.0
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


class Proc:
    """One child process; its stdout and stderr go to `log`, which the drill reads for reasons."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path, port: int | None = None):
        self.name, self.args, self.env, self.log, self.port = name, args, env, log, port
        self.popen: subprocess.Popen | None = None

    def start(self) -> "Proc":
        # Popen from the main thread only: PDEATHSIG fires when the *thread* that forked exits.
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.args,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        return self

    def wait_port(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}; see {self.log}")
            if port_open(self.port):
                return
            time.sleep(0.05)
        raise TimeoutError(f"{self.name}: nothing listening on 127.0.0.1:{self.port} after {timeout} s")

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, signum: int) -> None:
        if self.running:
            self.popen.send_signal(signum)

    def wait(self, timeout: float) -> int | None:
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT_S; returns the exit code."""
        if self.popen is None:
            return None
        if self.running:
            self.popen.terminate()
            if self.wait(STOP_TIMEOUT_S) is None:
                self.popen.kill()
                self.popen.wait(timeout=STOP_TIMEOUT_S)
        return self.popen.returncode

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def log_since(self, offset: int) -> str:
        with self.log.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode("utf-8", "replace")


class Stack:
    """Every process of the drill; `close()` stops what is running, web first, Redis last."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.redis_port, self.x_port, self.web_port = free_port(), free_port(), free_port()
        self.bluesky_port, self.mastodon_port = free_port(), free_port()
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.x_url = f"http://127.0.0.1:{self.x_port}"
        self.bluesky_url = f"http://127.0.0.1:{self.bluesky_port}"
        self.mastodon_url = f"http://127.0.0.1:{self.mastodon_port}"
        self.web_url = f"http://127.0.0.1:{self.web_port}"
        self.db_url = f"postgresql://postgres@127.0.0.1:5432/{DB_NAME}"
        self.static_root = workdir / "static"
        redis = ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", ""]
        self.redis = self._proc(
            "redis", [*redis, "--appendonly", "no", "--dir", str(workdir)], self.redis_port
        )
        emulator = [sys.executable, "-m", "xemulator", "--port", str(self.x_port), "--token", X_TOKEN]
        self.emulator = self._proc("xemulator", [*emulator, "--keepalive", "1"], self.x_port)
        bluesky = [sys.executable, "-m", "blueskyemulator", "--port", str(self.bluesky_port)]
        self.bluesky = self._proc("blueskyemulator", bluesky, self.bluesky_port)
        mastodon = [sys.executable, "-m", "mastodonemulator", "--port", str(self.mastodon_port)]
        mastodon += ["--domain", "mastodon.drill.test", "--token", f"{MASTODON_TOKEN}:read"]
        self.mastodon = self._proc("mastodonemulator", mastodon, self.mastodon_port)
        # X and Bluesky by name; Mastodon from its instance row, read again every 5 s as in production.
        worker = [sys.executable, "manage.py", "stream", "--source", "x", "--source", "bluesky"]
        self.worker = self._proc("worker", [*worker, "--source", "mastodon"])
        # The Procfile's web command, on a port of our own.
        web = [sys.executable, "-m", "uvicorn", "tweetsite.asgi:application", "--host", "127.0.0.1"]
        web += [
            "--port",
            str(self.web_port),
            "--ws",
            "websockets-sansio",
            "--ws-per-message-deflate",
            "false",
        ]
        self.web = self._proc("web", [*web, "--lifespan", "off", "--no-access-log"], self.web_port)

    def _proc(self, name: str, args: list[str], port: int | None = None) -> Proc:
        return Proc(name, args, self.env(), self.dir / f"{name}.log", port)

    def env(self) -> dict[str, str]:
        """A production-like environment, as tests/conftest.py gives its processes."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DJANGO_", "X_", "STREAM_", "BLUESKY_", "DRILL_"))
        }
        env.update(
            DJANGO_SETTINGS_MODULE="tweetsite.settings",
            DJANGO_SECRET_KEY="drill-only-secret-key-not-for-production",  # noqa: S106 (a throwaway database)
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
            DJANGO_STATIC_ROOT=str(self.static_root),
            DJANGO_SECURE_COOKIES="0",
            DJANGO_SECURE_SSL_REDIRECT="0",  # plain HTTP on loopback
            DATABASE_URL=self.db_url,
            REDIS_URL=self.redis_url,
            X_BEARER_TOKEN=X_TOKEN,
            X_API_BASE_URL=self.x_url,
            X_STREAM_STALL_TIMEOUT_S=str(STALL_TIMEOUT_S),
            BLUESKY_ENABLED="1",
            BLUESKY_JETSTREAM_URL=self.bluesky_url.replace("http://", "ws://") + "/subscribe",
            BLUESKY_APPVIEW_URL=self.bluesky_url,
            PYTHONUNBUFFERED="1",
        )
        return env

    # --- Setup ---------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Redis, a fresh database (migrated, with the drill topic), static files, the emulator."""
        self.redis.start()
        _recreate_database()
        manage = [sys.executable, "manage.py"]
        # migrate and collectstatic are independent: run them side by side to save a few seconds.
        steps = [
            Proc(
                "migrate",
                [*manage, "migrate", "--noinput", "--verbosity", "0"],
                self.env(),
                self.dir / "setup.log",
            ),
            Proc(
                "collectstatic",
                [*manage, "collectstatic", "--noinput", "--verbosity", "0"],
                self.env(),
                self.dir / "setup.log",
            ),
        ]
        for step in steps:
            step.start()
        for step in steps:
            if step.wait(120) != 0:
                raise RuntimeError(f"{step.name} failed (exit {step.popen.returncode}); see {step.log}")
        # The staff user, the topics (one per network) and the Mastodon instance, through the ORM.
        seed = [*manage, "shell", "--command", "from drill.seed import seed; seed()"]
        env = {**self.env(), "DRILL_MASTODON_URL": self.mastodon_url}
        seeding = Proc("seed", seed, env, self.dir / "setup.log").start()
        if seeding.wait(120) != 0:
            raise RuntimeError(f"seeding failed (exit {seeding.popen.returncode}); see {seeding.log}")
        self.redis.wait_port()
        for emulator in (self.emulator, self.bluesky, self.mastodon):
            emulator.start()
        for emulator in (self.emulator, self.bluesky, self.mastodon):
            emulator.wait_port()

    def close(self) -> None:
        for proc in (self.web, self.worker, self.emulator, self.bluesky, self.mastodon, self.redis):
            with contextlib.suppress(Exception):
                proc.stop()


def _recreate_database() -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        # FORCE: a previous drill killed mid-run may have left connections open.
        admin.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{DB_NAME}"')
