"""Local emulator of a Mastodon instance: the hashtag streams over the WebSocket
``/api/v1/streaming``, the tag timeline, the instance endpoint and rate limits, written from
the public documentation (github.com/mastodon/documentation, ``content/en/``).

Tests::

    from mastodonemulator import MastodonEmulator

    with MastodonEmulator(domain="a.example", tokens={"tok": "read"}) as emu:
        # REST base: emu.base_url; WebSocket: emu.streaming_url + "/api/v1/streaming"
        emu.add_account("alice", display_name="Alice")
        status = emu.emit("hello #cats", account="alice")

Two instances federating: ``b.federate(a.emit(...))`` gives the same ``uri`` and ``url``
with a different local ``id`` on b.

Other processes: ``python -m mastodonemulator --port 8098 --token secret:read`` and the
``/_emulator/*`` control endpoints documented in :mod:`mastodonemulator.server`.
"""

from .core import MastodonCore, Token
from .emulator import MastodonEmulator

__all__ = ["MastodonCore", "MastodonEmulator", "Token"]
