"""The fast path: a frame encoded once, written as the same bytes to every uvicorn socket.

Every viewer of a topic gets the same message, and a server's frames are not masked, so the
WebSocket frame (header and payload) is the same for all of them. The hub builds it once per batch
(`text_frame`). uvicorn's `send` would frame it again for each socket; writing the ready bytes to the
connection's transport instead took the web process from 14 to 10.5 µs of CPU per delivered frame at
1,000 sockets (`make bench`; the `write` system call is most of the rest), below the bare
`websockets.broadcast` reference.

Only for uvicorn's websockets-sansio protocol (the production server), and only while its `send`
would itself write at once: handshake done, no close sent, not disconnected, the transport not
paused, the connection open, and no extension negotiated (permessage-deflate compresses each
socket's stream on its own, a cost per write, which is why the Procfile runs uvicorn with
`--ws-per-message-deflate false`). At
any other moment, and on Daphne or uvicorn's other protocols, the socket uses the server's ASGI
`send`. What is checked here is exactly what uvicorn 0.54's `send` checks before
`conn.send_text(...)`: any other uvicorn version gets the ASGI `send`, with a warning at start-up,
until someone reads its `send` again. Each process logs once which path its sockets take.
tests/test_direct_write.py holds both ends, and that the Procfile's command takes the direct path.
"""

import importlib.metadata
import logging
from collections.abc import Callable
from typing import Any

from websockets.frames import Frame, Opcode
from websockets.protocol import State

logger = logging.getLogger(__name__)

# The uvicorn release whose WebSocketsSansIOProtocol.send the guard in DirectWriter.write mirrors:
# its attributes (close_sent, writable, conn, ...) are private and may change in any release.
MIRRORED_UVICORN = (0, 54)


def uvicorn_is_mirrored(version: str) -> bool:
    """Whether DirectWriter's guard was read against this uvicorn version's `send`."""
    try:
        return tuple(int(part) for part in version.split(".")[:2]) == MIRRORED_UVICORN
    except ValueError:  # not a release number: not the one read
        return False


def _sansio_protocol() -> type | None:
    try:
        version = importlib.metadata.version("uvicorn")
    except importlib.metadata.PackageNotFoundError:  # a Daphne-only deployment
        return None
    if not uvicorn_is_mirrored(version):
        logger.warning(
            "uvicorn %s is not %d.%d, whose send the direct path mirrors: WebSocket frames go "
            "through the server's ASGI send (about 30%% more CPU per frame)",
            version,
            *MIRRORED_UVICORN,
        )
        return None
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

    return WebSocketsSansIOProtocol


WebSocketsSansIOProtocol = _sansio_protocol()
_logged_paths: set[str] = set()  # which write paths this process has reported, each once


def text_frame(text: str) -> bytes:
    """`text` as one unmasked, unfragmented WebSocket text frame: what a server sends."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


def direct_writer(send: Callable[..., Any]) -> "DirectWriter | None":
    """A direct writer for the socket behind the ASGI `send`, if its server is uvicorn's sansio."""
    protocol = getattr(send, "__self__", None)
    if WebSocketsSansIOProtocol is None or not isinstance(protocol, WebSocketsSansIOProtocol):
        _log_path("the server's ASGI send (not the mirrored uvicorn's websockets-sansio)")
        return None
    if protocol.conn.extensions:
        _log_path("the server's ASGI send for sockets with permessage-deflate")
        return None
    _log_path("the direct path (uvicorn websockets-sansio, one frame's bytes for every socket)")
    return DirectWriter(protocol)


def _log_path(path: str) -> None:
    """Log the first socket to take each path: once per process, or once more if sockets differ."""
    if path not in _logged_paths:
        _logged_paths.add(path)
        logger.info("WebSocket frames in this process: %s", path)


class DirectWriter:
    __slots__ = ("_protocol",)

    def __init__(self, protocol: Any) -> None:
        self._protocol = protocol

    def write(self, frame: bytes) -> bool:
        """Write a `text_frame` now; False if only the ASGI `send` may write at this moment."""
        protocol = self._protocol
        if (
            protocol.close_sent
            or protocol.disconnected
            or not protocol.handshake_complete
            or not protocol.writable.is_set()
            or protocol.conn.state is not State.OPEN
        ):
            return False
        protocol.transport.write(frame)
        return True
