"""A page-like viewer for tests with real processes, and tweets emitted through the X emulator."""

import asyncio
import json

import websockets

AUTHOR = {"id": "42", "username": "alice", "name": "Alice"}


class Viewer:
    """A WebSocket viewer that records every tweet it is sent, by seq, counting duplicates."""

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.hidden: list[str] = []  # X ids, from hide frames
        self.attached = asyncio.Event()  # set once the history arrived: the hub now sends it everything

    async def watch(self, url: str, origin: str, until: asyncio.Event) -> None:
        async with websockets.connect(url, origin=origin) as socket:
            while not until.is_set():
                try:
                    message = json.loads(await asyncio.wait_for(socket.recv(), 0.2))
                except TimeoutError:
                    continue
                if message["type"] in ("history", "tweets"):
                    self.seqs += [t["seq"] for t in message["tweets"]]
                elif message["type"] == "hide":
                    self.hidden += message["ids"]
                if message["type"] == "history":
                    self.attached.set()


def emit(emulator, *texts: str) -> None:
    for text in texts:
        emulator.emit(text=text, author=AUTHOR)


async def emit_steadily(emulator, numbers: range, every_s: float = 0.3) -> None:
    """Tweet "python N" for each N, one at a time, as at an event while processes reconnect."""
    for n in numbers:
        await asyncio.to_thread(emit, emulator, f"python {n}")
        await asyncio.sleep(every_s)
