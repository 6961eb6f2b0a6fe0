"""The ways the project runs: `make run`'s embedded worker, the Procfile, docker-compose.yml."""

import asyncio
import json
import shutil
import subprocess
import sys

import pytest
import websockets

from feed.models import Topic

from conftest import ROOT, Process, free_port, server_args

pytestmark = pytest.mark.django_db(transaction=True)


async def first_live_tweet(ws_url: str, origin: str, timeout: float = 15) -> dict:
    async with websockets.connect(f"{ws_url}/ws/topics/python/", origin=origin) as socket:
        async with asyncio.timeout(timeout):
            while True:
                message = json.loads(await socket.recv())
                if message["type"] == "tweets" or (message["type"] == "history" and message["tweets"]):
                    return message["tweets"][0]


def test_make_run_streams_replayed_tweets_without_redis(process_env, tmp_path):
    """Daphne with the worker inside it, on the in-memory layer: what `make run` starts."""
    Topic.objects.create(name="Python", slug="python", query="python OR django")
    env = {k: v for k, v in process_env.items() if k != "REDIS_URL"}
    env.update(STREAM_EMBEDDED="1", STREAM_REPLAY_RATE="20", DJANGO_DEBUG="1")  # as `make run` sets
    port = free_port()
    server = Process(server_args("daphne", port), env, tmp_path / "daphne.log", port=port).start()
    try:
        tweet = asyncio.run(first_live_tweet(server.ws_url, server.url))
    finally:
        server.stop()
    assert "python" in tweet["topics"]


def test_procfile_runs_web_and_worker_without_docker(process_env, tmp_path, x_emulator):
    Topic.objects.create(name="Python", slug="python", query="python OR django")
    port = free_port()
    env = dict(
        process_env,
        PORT=str(port),
        X_BEARER_TOKEN=x_emulator.token,  # production has no replay unless asked for by name
        X_API_BASE_URL=x_emulator.base_url,
        PATH=f"{ROOT / '.venv' / 'bin'}:/usr/bin:/bin",
    )
    honcho = Process(
        [sys.executable, "-m", "honcho", "start"], env, tmp_path / "honcho.log", port=port
    ).start()
    try:
        assert x_emulator.wait_until(lambda: x_emulator.connected and x_emulator.rules, 20), honcho.output()
        x_emulator.emit(text="python through the Procfile")
        tweet = asyncio.run(first_live_tweet(honcho.ws_url, honcho.url))
    finally:
        honcho.stop()
    assert tweet["seq"] > 0


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="make test installs docker-compose")
def test_docker_compose_file_is_valid():
    env = {"DJANGO_SECRET_KEY": "validate-only", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        ["docker-compose", "config", "-q"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_docker_compose_runs_the_production_topology():
    env = {"DJANGO_SECRET_KEY": "validate-only", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        ["docker-compose", "config"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert {"redis", "postgres", "web", "worker"} <= set(_services(result.stdout))
    assert "uvicorn" in result.stdout and "stream" in result.stdout


def _services(config: str) -> list[str]:
    lines = config.split("services:", 1)[1].splitlines()
    return [
        line.strip().rstrip(":") for line in lines if line.startswith("  ") and not line.startswith("   ")
    ]


def procfile_commands() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line and not line.startswith("#"))


def unit_command(name: str) -> str:
    """The shell command a unit's ExecStart runs, with systemd's `$$` escape undone."""
    exec_start = next(
        line.removeprefix("ExecStart=")
        for line in (ROOT / "deploy" / "systemd" / name).read_text().splitlines()
        if line.startswith("ExecStart=")
    )
    prefix = "/bin/sh -c 'exec "
    assert exec_start.startswith(prefix) and exec_start.endswith("'"), exec_start
    return exec_start.removeprefix(prefix).removesuffix("'").replace("$$", "$")


@pytest.mark.parametrize(
    ("unit", "process"), [("tweetsite-web@.service", "web"), ("tweetsite-worker.service", "worker")]
)
def test_the_systemd_units_run_the_procfiles_commands_and_restart(unit, process):
    assert unit_command(unit) == procfile_commands()[process]
    text = (ROOT / "deploy" / "systemd" / unit).read_text()
    assert "Restart=always" in text.splitlines()
    assert "EnvironmentFile=/etc/tweetsite/env" in text.splitlines()
