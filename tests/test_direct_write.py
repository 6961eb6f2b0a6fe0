"""The direct path: one frame's bytes written to every uvicorn socket, exactly as uvicorn would."""

import asyncio
import importlib.metadata
import json
import sys
from pathlib import Path

import pytest
import websockets
from websockets.protocol import State
from websockets.server import ServerProtocol

from feed.direct_write import text_frame, uvicorn_is_mirrored
from feed.models import Topic

from conftest import ROOT, Process, free_port, wait_until
from live_viewer import AUTHOR

TEXTS = ["hello", "é ✓ 🐍 " * 10, "x" * 200, "🐍" * 20_000]  # 7-bit, 16-bit and 64-bit lengths


@pytest.mark.parametrize("text", TEXTS, ids=["short", "unicode", "medium", "long"])
def test_a_ready_frame_is_byte_for_byte_what_websockets_would_send(text):
    protocol = ServerProtocol(state=State.OPEN)
    protocol.send_text(text.encode())
    assert text_frame(text) == b"".join(protocol.data_to_send())


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("server_kind", ["uvicorn", "uvicorn-deflate", "daphne"])
def test_live_frames_arrive_intact_whatever_the_server_and_compression(
    server_kind, x_emulator, start_server, start_worker
):
    Topic.objects.create(name="Python", slug="python", query="python")
    server = start_server(server_kind)
    start_worker("--source", "x", X_BEARER_TOKEN=x_emulator.token, X_API_BASE_URL=x_emulator.base_url)
    assert x_emulator.wait_until(lambda: x_emulator.connected and x_emulator.rules, 10)
    texts = [f"python {n} " + "🐍 ✓ <b>" * n * 500 for n in range(4)]

    async def watch() -> list[str]:
        url = f"{server.ws_url}/ws/topics/python/"
        async with websockets.connect(url, origin=server.url, max_size=2**22) as socket:
            await asyncio.wait_for(socket.recv(), 5)  # history
            for text in texts:
                await asyncio.to_thread(x_emulator.emit, text=text, author=AUTHOR)
            seen: list[str] = []
            while len(seen) < len(texts):
                frame = json.loads(await asyncio.wait_for(socket.recv(), 10))
                seen += [t["text"] for t in frame.get("tweets", [])]
            return seen

    assert asyncio.run(watch()) == texts


@pytest.mark.parametrize("version", ["0.53.0", "0.55.0", "1.54.0", "0.5", "unknown"])
def test_a_uvicorn_whose_send_was_not_read_falls_back_to_the_asgi_send(version):
    assert not uvicorn_is_mirrored(version)


def test_the_installed_uvicorn_is_the_one_the_direct_path_mirrors():
    assert uvicorn_is_mirrored(importlib.metadata.version("uvicorn"))


def procfile_web_command() -> str:
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    return line.removeprefix("web:").strip()


@pytest.mark.django_db(transaction=True)
def test_the_procfile_web_server_writes_frames_on_the_direct_path(process_env, tmp_path):
    Topic.objects.create(name="Python", slug="python", query="python")
    port = free_port()
    env = dict(process_env, PORT=str(port), PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin")
    server = Process(["sh", "-c", "exec " + procfile_web_command()], env, tmp_path / "web.log", port=port)
    server.start()
    try:

        async def connect() -> None:
            async with websockets.connect(f"{server.ws_url}/ws/topics/python/", origin=server.url) as ws:
                await asyncio.wait_for(ws.recv(), 5)  # history: the socket is attached to the hub

        asyncio.run(connect())
        assert wait_until(lambda: "WebSocket frames in this process:" in server.output())
    finally:
        server.stop()
    assert "WebSocket frames in this process: the direct path" in server.output()
    assert "ASGI send" not in server.output()
