"""Tweepy clients and fixtures for the X emulator tests: a recording client and stream helpers."""

import asyncio
import contextlib
from pathlib import Path

from tweepy.asynchronous import AsyncStreamingClient

from streamer.x_session import make_x_session

TOKEN = "test-token"
ALICE = {"id": "42", "username": "alice", "name": "Alice", "profile_image_url": "https://pbs.twimg.com/a.jpg"}
REPO = Path(__file__).resolve().parent.parent


class Recorder(AsyncStreamingClient):
    """Records what Tweepy hands to its documented ``on_*`` hooks."""

    def __init__(self, token=TOKEN):
        super().__init__(token)
        self.responses, self.errors, self.request_errors = [], [], []
        self.raw_lines, self.bad_lines, self.exceptions = [], [], []
        self.connects = self.keepalives = self.connection_errors = self.closes = 0

    async def on_connect(self):
        self.connects += 1

    async def on_data(self, raw_data):
        self.raw_lines.append(raw_data)
        try:
            await super().on_data(raw_data)
        except ValueError:  # not JSON: keep streaming, as a real consumer must
            self.bad_lines.append(raw_data)

    async def on_response(self, response):
        self.responses.append(response)

    async def on_errors(self, errors):
        self.errors.extend(errors)

    async def on_keep_alive(self):
        self.keepalives += 1

    async def on_request_error(self, status_code):
        self.request_errors.append(status_code)

    async def on_connection_error(self):
        self.connection_errors += 1

    async def on_closed(self, resp):
        self.closes += 1

    async def on_exception(self, exception):
        self.exceptions.append(exception)


async def until(predicate, within=3.0):
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


@contextlib.asynccontextmanager
async def streaming(emu, client, *, wait=True, session_options=None, **params):
    client.session = make_x_session(emu.base_url, **(session_options or {}))
    task = client.filter(**params)
    try:
        if wait:
            assert await until(lambda: client.connects >= 1), "Tweepy never connected"
        yield task
    finally:
        client.disconnect()
        await asyncio.gather(task, return_exceptions=True)


async def rules_client(emu, token=TOKEN):
    client = AsyncStreamingClient(token)
    client.session = make_x_session(emu.base_url)
    return client


# -- rules -------------------------------------------------------------------
