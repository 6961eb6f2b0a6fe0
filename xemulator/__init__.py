"""Local emulator of the X API v2 filtered stream (rules + streaming).

Tests::

    from xemulator import XEmulator
    from streamer.x_session import make_x_session

    with XEmulator(token="test-token", keepalive_interval=0.5) as emu:
        client = MyStreamingClient("test-token")  # tweepy AsyncStreamingClient
        client.session = make_x_session(emu.base_url)  # fresh one per filter()/rules call
        emu.add_rule("#python", tag="py")
        client.filter(expansions="author_id")
        ...
        emu.emit(text="hello #python", author={"id": "42", "username": "alice"})

The threaded emulator runs its own loop, so it also works from async tests;
there, wait with ``await emu.wait_connected_async()`` (the blocking
``wait_connected`` would freeze the loop the client runs on).

Other processes: ``python -m xemulator --port 8099 --token secret`` and the
``/_emulator/*`` control endpoints documented in :mod:`xemulator.server`.
"""

from .core import EmulatorCore
from .emulator import XEmulator

__all__ = ["EmulatorCore", "XEmulator"]
