"""Local emulator of Bluesky's Jetstream (``/subscribe``) and the AppView's ``getProfiles``.

Written from the public documents, cited in each module: the Jetstream v1 README and server code
(``bluesky-social/jetstream`` before its v2 rewrite, and the rewrite's ``docs/README.md`` §5.1 and
``internal/subscribe/doc.go``, which keep ``/subscribe`` wire-compatible), and atproto's lexicons.

Tests::

    from blueskyemulator import BlueskyEmulator
    from websockets.asyncio.client import connect

    with BlueskyEmulator() as emu:
        emu.add_account("alice.test", display_name="Alice", avatar="https://cdn.example/a.jpg")
        async with connect(emu.jetstream_url + "?wantedCollections=app.bsky.feed.post") as ws:
            await emu.wait_connected_async()
            emu.post("hello #python", author="alice.test")
            event = json.loads(await ws.recv())

Other processes: ``python -m blueskyemulator --port 8098`` and the ``/_emulator/*`` control
endpoints documented in :mod:`blueskyemulator.server`.

Not emulated: zstd compression (``compress=true`` is refused with a 400 saying so), the v2
endpoint ``/xrpc/network.bsky.jetstream.subscribeEvents`` and the v2 ``cursor`` (seq) field on
events, ``#sync`` events (v1 never sends them), per-IP rate limits, the record's DAG-CBOR CIDs
(CIDs here are well-formed but hash JSON), authentication and any AppView method but getProfiles.
"""

from .core import BlueskyCore
from .emulator import BlueskyEmulator

__all__ = ["BlueskyCore", "BlueskyEmulator"]
