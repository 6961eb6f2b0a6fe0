"""How many bytes the ASGI server holds unsent for one WebSocket: the bound behind a slow reader.

Neither server makes `send` wait while the client does not read: uvicorn's sansio protocol only
waits while its transport is paused, and Daphne's `send` hands the frame to Twisted and returns. So
frames pile up in the server's own write buffer, and feed/viewer.py reads its size after each frame.
"""

import functools
from collections.abc import Callable
from typing import Any

try:
    from twisted.internet.abstract import FileDescriptor
except ImportError:  # no Twisted: a uvicorn-only deployment
    FileDescriptor = None

BufferSize = Callable[[], int]


def write_buffer_size(send: Callable[..., Any]) -> BufferSize | None:
    """A function giving the unsent bytes of the socket behind `send`; None if the server hides it."""
    # uvicorn: `send` is a method of the connection's protocol, which holds an asyncio transport.
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is not None and hasattr(transport, "get_write_buffer_size"):
        return transport.get_write_buffer_size
    # Daphne: `send` is functools.partial(server.handle_reply, protocol), and the protocol is
    # autobahn's, on a Twisted TCP transport (a FileDescriptor) whose buffer has no public size.
    if isinstance(send, functools.partial) and send.args and FileDescriptor is not None:
        transport = getattr(send.args[0], "transport", None)
        if isinstance(transport, FileDescriptor):
            return functools.partial(_twisted_unsent, transport)
    return None


def _twisted_unsent(transport: Any) -> int:
    # What FileDescriptor.doWrite has yet to write: the rest of `dataBuffer` past `offset`, and the
    # writes queued since (`_tempDataLen`). The same sum as its own bufferSize check, with `offset`.
    return len(transport.dataBuffer) - transport.offset + transport._tempDataLen
