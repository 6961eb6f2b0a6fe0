"""How many bytes the ASGI server holds unsent for one WebSocket: the bound behind a slow reader.

Neither server makes `send` wait while the client does not read: uvicorn's sansio protocol only
waits while its transport is paused, and Daphne's `send` hands the frame to autobahn, which writes it
to Twisted's transport at once (its own send queue only holds chopped or synchronous writes, which
Daphne never asks for) and returns. So frames pile up in the server's own write buffer, and
feed/viewer.py reads its size after each frame. Twisted has no public size for it: its producer API
only says "past 64 KB", and Daphne leaves the HTTP channel registered as the transport's producer.
"""

import functools
import logging
from collections.abc import Callable
from typing import Any

try:
    from twisted.internet.abstract import FileDescriptor
except ImportError:  # no Twisted: a uvicorn-only deployment
    FileDescriptor = None

logger = logging.getLogger(__name__)

BufferSize = Callable[[], int]


def write_buffer_size(send: Callable[..., Any]) -> BufferSize | None:
    """A function giving the unsent bytes of the socket behind `send`; None if the server hides it."""
    # uvicorn: `send` is a method of the connection's protocol, which holds an asyncio transport.
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None and hasattr(transport, "get_write_buffer_size"):
        return transport.get_write_buffer_size
    # Daphne: `send` is functools.partial(server.handle_reply, protocol), and the protocol is
    # autobahn's, on a Twisted TCP transport (a FileDescriptor) whose buffer has no public size.
    # Daphne's `send` never waits, so without this size nothing bounds a reader that stops.
    if isinstance(send, functools.partial) and send.args and FileDescriptor is not None:
        transport = getattr(send.args[0], "transport", None)
        if isinstance(transport, FileDescriptor):
            if all(hasattr(transport, name) for name in TWISTED_BUFFER_ATTRIBUTES):
                return functools.partial(_twisted_unsent, transport)
            _warn_unbounded()
    return None


# What FileDescriptor.doWrite has yet to write: the rest of `dataBuffer` past `offset`, and the writes
# queued since (`_tempDataLen`); its own _isSendBufferFull sums the same two, without `offset`.
# Private, read against Twisted 26.10: a release that renames them gets a warning here, and
# tests/test_slow_client.py fails on Daphne (the stalled client is never closed).
TWISTED_BUFFER_ATTRIBUTES = ("dataBuffer", "offset", "_tempDataLen")


def _twisted_unsent(transport: Any) -> int:
    return len(transport.dataBuffer) - transport.offset + transport._tempDataLen


@functools.cache
def _warn_unbounded() -> None:
    logger.warning(
        "Twisted's transport lacks %s: a WebSocket client that stops reading is not bounded on Daphne",
        "/".join(TWISTED_BUFFER_ATTRIBUTES),
    )
