"""Redis Sentinel: the web process and the worker follow a failover by themselves."""

import asyncio
import subprocess
import sys

import pytest
import redis

from feed.models import Topic, TopicPost

from conftest import ROOT, RedisServer, free_port, wait_for_port, wait_until
from live_viewer import Viewer, emit, emit_steadily

pytestmark = pytest.mark.django_db(transaction=True)

MASTER_NAME = "tweetsite"


class RedisWithSentinel:
    """A master, its replica, and one Sentinel that promotes the replica when the master dies."""

    def __init__(self, tmp_path) -> None:
        self.master = RedisServer(tmp_path)
        self.replica = RedisServer(tmp_path, "--replicaof", "127.0.0.1", str(self.master.port))
        self.sentinel_port = free_port()
        config = tmp_path / "sentinel.conf"  # Sentinel rewrites its own config file as it learns
        config.write_text(
            f"port {self.sentinel_port}\nbind 127.0.0.1\ndir {tmp_path}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master.port} 1\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} 500\n"
            f"sentinel failover-timeout {MASTER_NAME} 5000\n"
        )
        self._sentinel_args = ["redis-server", str(config), "--sentinel"]
        self._sentinel: subprocess.Popen | None = None

    def start(self) -> None:
        self.master.start()
        self.replica.start()
        self._sentinel = subprocess.Popen(self._sentinel_args, stdout=subprocess.DEVNULL)
        wait_for_port(self.sentinel_port)

    def stop(self) -> None:
        if self._sentinel is not None:
            self._sentinel.terminate()
            self._sentinel.wait(timeout=10)
        self.replica.stop()
        self.master.stop()

    def master_port(self) -> int | None:
        with redis.Redis(port=self.sentinel_port) as client:
            address = client.sentinel_get_master_addr_by_name(MASTER_NAME)
        return int(address[1]) if address else None

    @property
    def env(self) -> dict[str, str]:
        sentinels = f"127.0.0.1:{self.sentinel_port}"
        return {"REDIS_URL": "", "REDIS_SENTINELS": sentinels, "REDIS_SENTINEL_MASTER": MASTER_NAME}


@pytest.fixture
def sentinel_redis(tmp_path):
    setup = RedisWithSentinel(tmp_path)
    setup.start()
    yield setup
    setup.stop()


def test_a_page_keeps_getting_tweets_across_a_sentinel_failover(
    sentinel_redis, x_emulator, start_server, start_worker
):
    Topic.objects.create(name="Python", slug="python", query="python")
    server = start_server("uvicorn", **sentinel_redis.env)
    x_env = {"X_BEARER_TOKEN": x_emulator.token, "X_API_BASE_URL": x_emulator.base_url}
    worker = start_worker("--source", "x", **x_env, **sentinel_redis.env)
    assert x_emulator.wait_until(lambda: x_emulator.connected and x_emulator.rules, 10)
    viewer, done = Viewer(), asyncio.Event()

    async def scenario() -> None:
        watching = asyncio.create_task(viewer.watch(f"{server.ws_url}/ws/topics/python/", server.url, done))
        await asyncio.wait_for(viewer.attached.wait(), 10)  # not a fixed sleep: attached, then tweets
        await asyncio.to_thread(emit, x_emulator, "python 1", "python 2")
        assert await asyncio.to_thread(wait_until, lambda: len(viewer.seqs) == 2, 10)
        await asyncio.to_thread(sentinel_redis.master.stop)
        promoted = lambda: sentinel_redis.master_port() == sentinel_redis.replica.port  # noqa: E731
        assert await asyncio.to_thread(wait_until, promoted, 20)
        await emit_steadily(x_emulator, range(3, 9))  # while everyone reconnects to the new master
        await asyncio.to_thread(wait_until, lambda: len(set(viewer.seqs)) == 8, 20)
        done.set()
        await watching

    asyncio.run(scenario())
    stored = sorted(TopicPost.objects.values_list("pk", flat=True))
    assert len(stored) == 8
    assert sorted(viewer.seqs) == stored  # every tweet, exactly once
    assert worker.popen.poll() is None  # the worker followed the failover, no restart


def test_a_malformed_sentinel_address_stops_start_up_with_its_reason():
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "tweetsite.settings",
        "DJANGO_DEBUG": "1",
        "REDIS_SENTINELS": "10.0.0.5:26379,sentinel-two",
    }
    argv = [sys.executable, "manage.py", "check"]
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "REDIS_SENTINELS: expected host:port, got 'sentinel-two'" in result.stderr
