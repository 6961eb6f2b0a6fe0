"""The topic WebSocket in this process, through the project's ASGI application (Channels' communicator)."""

import json

from channels.testing import WebsocketCommunicator

from tweetsite.asgi import application

ORIGIN = (b"origin", b"http://127.0.0.1")
TIMEOUT = 3


async def connect(slug: str, headers=(ORIGIN,)) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, f"/ws/topics/{slug}/", headers=list(headers))
    connected, _ = await communicator.connect(timeout=TIMEOUT)
    assert connected
    return communicator


async def receive(communicator: WebsocketCommunicator) -> dict:
    return json.loads(await communicator.receive_from(timeout=TIMEOUT))
