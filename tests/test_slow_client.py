"""A viewer that stops reading, against the real uvicorn server: the others are not held up.

(That the stalled socket is bounded and closed with 4408 is held by tests/test_viewer.py.)
"""

import asyncio
import base64
import json
import os
import socket

import pytest
import websockets

from feed.models import Topic

pytestmark = pytest.mark.django_db(transaction=True)

AUTHOR = {"id": "42", "username": "alice", "name": "Alice"}
BIG_TEXT = "python " + "z" * 24_000  # ~24 KB a frame
TWEETS = 300  # ~7 MB: more than loopback's kernel buffers hold for the stalled client


def open_stalled_socket(port: int) -> socket.socket:
    """A WebSocket client that completes the handshake, then never reads again."""
    raw = socket.create_connection(("127.0.0.1", port))
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    key = base64.b64encode(os.urandom(16)).decode()
    raw.sendall(
        (
            f"GET /ws/topics/python/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: http://127.0.0.1:{port}\r\n\r\n"
        ).encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += raw.recv(1)
    assert b" 101 " in response
    return raw


def test_a_client_that_stops_reading_does_not_hold_up_the_others(x_emulator, start_worker, start_server):
    Topic.objects.create(name="Python", slug="python", query="python")
    server = start_server("uvicorn")
    start_worker("--source", "x", X_BEARER_TOKEN=x_emulator.token, X_API_BASE_URL=x_emulator.base_url)
    assert x_emulator.wait_until(lambda: x_emulator.connected and x_emulator.rules, 10)
    stalled = open_stalled_socket(server.port)

    async def healthy_viewer_gets_everything() -> int:
        url = f"{server.ws_url}/ws/topics/python/"
        async with websockets.connect(url, origin=server.url, max_size=None, max_queue=None) as ws:
            await ws.recv()  # history

            async def read_all() -> int:  # a healthy viewer reads while the tweets come
                received = 0
                while received < TWEETS:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    received += len(message.get("tweets", []))
                return received

            reading = asyncio.create_task(read_all())
            for _ in range(TWEETS):
                await asyncio.to_thread(x_emulator.emit, text=BIG_TEXT, author=AUTHOR)
            return await reading

    assert asyncio.run(healthy_viewer_gets_everything()) == TWEETS
    stalled.close()
