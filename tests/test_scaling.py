"""Running more than one process: web processes share Redis; workers take turns on X's one stream."""

import asyncio
import json
import signal

import pytest
import websockets

from feed.models import Topic, Tweet

from conftest import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

AUTHOR = {"id": "42", "username": "alice", "name": "Alice"}


@pytest.fixture
def x_env(x_emulator):
    return {"X_BEARER_TOKEN": x_emulator.token, "X_API_BASE_URL": x_emulator.base_url}


def test_two_web_processes_both_deliver_every_tweet(x_emulator, x_env, start_worker, start_server):
    Topic.objects.create(name="Python", slug="python", query="python")
    servers = [start_server("uvicorn"), start_server("uvicorn")]
    start_worker("--source", "x", **x_env)
    assert x_emulator.wait_until(lambda: x_emulator.connected and x_emulator.rules, 10)

    async def watch_both() -> list[list[str]]:
        sockets = [await websockets.connect(f"{s.ws_url}/ws/topics/python/", origin=s.url) for s in servers]
        for socket in sockets:
            await asyncio.wait_for(socket.recv(), 5)  # history
        for n in range(3):
            await asyncio.to_thread(x_emulator.emit, text=f"python {n}", author=AUTHOR)
        received = []
        for socket in sockets:
            texts: list[str] = []
            while len(texts) < 3:
                message = json.loads(await asyncio.wait_for(socket.recv(), 5))
                texts += [t["text"] for t in message["tweets"]]
            received.append(sorted(texts))
            await socket.close()
        return received

    assert asyncio.run(watch_both()) == [["python 0", "python 1", "python 2"]] * 2


def test_a_second_worker_waits_instead_of_opening_a_second_stream(x_emulator, x_env, start_worker):
    Topic.objects.create(name="Python", slug="python", query="python")
    first = start_worker("--source", "x", **x_env)
    assert x_emulator.wait_until(lambda: x_emulator.connected, 10)
    second = start_worker("--source", "x", **x_env)
    assert wait_until(lambda: "another stream worker holds" in second.output(), 10)
    assert x_emulator.accepted_count == 1 and x_emulator.connect_count == 1

    first.popen.send_signal(signal.SIGTERM)
    first.popen.wait(timeout=10)
    # The first released the lock on its way out, so the second takes over at once.
    assert x_emulator.wait_until(lambda: x_emulator.accepted_count == 2 and x_emulator.connected, 10)
    x_emulator.emit(text="python after takeover", author=AUTHOR)
    assert wait_until(lambda: Tweet.objects.filter(text="python after takeover").exists(), 5)
