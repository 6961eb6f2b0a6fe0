"""One viewer's socket as the hub sees it: a bounded queue of frames and a writer.

Frames go out through the server's own ASGI `send` (uvicorn's or Daphne's), not through the consumer:
the session middleware's wrapper around `send` cost about 15% of a web process's CPU at scale.

uvicorn's `send` does not wait for a slow client: it writes into the connection's transport buffer,
which then grows without bound. So after each frame the socket also checks that buffer (where the
server's protocol exposes its transport) and closes past MAX_BUFFERED_BYTES.
"""

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger(__name__)

# Frames a socket may have waiting before it counts as dead. At 50 tweets/s that is several seconds
# of falling behind; bursts merge into one frame when they queue, so a live client never gets near.
MAX_PENDING_FRAMES = 256
CLOSE_TOO_SLOW = 4408  # the page reconnects and catches up by seq
# Bytes a socket may have unsent in the server's buffer (kernel buffers come on top): several
# seconds of a busy topic. Past it the client is not reading, and is closed like a full queue.
MAX_BUFFERED_BYTES = 1 << 20

Send = Callable[[dict[str, Any]], Awaitable[None]]


def tweets_frame(inner: str) -> str:
    """The "tweets" frame around comma-joined, pre-encoded tweets."""
    return '{"type":"tweets","tweets":[' + inner + "]}"


class ViewerSocket:
    """Frames for one socket, written in order by one task; never blocks the hub.

    Until `start` is called (history sent), frames are held; frames whose newest seq is covered by
    the history are then dropped. Consecutive "tweets" frames that queue up while the socket is busy
    are merged into one. Past MAX_PENDING_FRAMES the socket is closed with code 4408.
    """

    def __init__(self, send: Send, *, label: str = "") -> None:
        self._send = send
        self.label = label
        # Pending frames: (newest seq, frame, comma-joined tweets for a "tweets" frame else None).
        self._pending: deque[tuple[int, str, str | None]] = deque()
        self._wakeup = asyncio.Event()
        self._writer: asyncio.Task | None = None
        # Connection state
        self._started = False
        self._closing: tuple[int, str] | None = None
        # The connection's transport, where the server's `send` is a method of its protocol.
        self._transport = getattr(getattr(send, "__self__", None), "transport", None)

    def push(self, seq: int, frame: str, inner: str | None) -> None:
        if self._closing is not None:
            return
        if len(self._pending) >= MAX_PENDING_FRAMES:
            logger.info("viewer %s: closing, %d frames pending", self.label, MAX_PENDING_FRAMES)
            self.close(CLOSE_TOO_SLOW, "too slow: fell behind the live stream")
            return
        self._pending.append((seq, frame, inner))
        if self._started:
            self._wakeup.set()

    def close(self, code: int, reason: str) -> None:
        """Close after the frame being written, dropping what is still queued."""
        self._closing = (code, reason)
        self._pending.clear()
        if self._started:
            self._wakeup.set()

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def start(self, history_frame: str, history_seq: int) -> None:
        """Send the history, then every held frame that is newer than it."""
        while self._pending and self._pending[0][0] <= history_seq:
            self._pending.popleft()
        self._pending.appendleft((history_seq, history_frame, None))
        self._started = True
        self._writer = asyncio.create_task(self._write_forever(), name=f"viewer-{self.label}")
        self._wakeup.set()

    def stop(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
        self._pending.clear()

    async def _write_forever(self) -> None:
        try:
            while True:
                if self._closing is not None:
                    code, reason = self._closing
                    await self._send({"type": "websocket.close", "code": code, "reason": reason})
                    return
                if not self._pending:
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                await self._send({"type": "websocket.send", "text": self._take()})
                self._check_backlog()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the connection went away under us; the consumer detaches it
            logger.debug("viewer %s: send failed: %r", self.label, exc)

    def _check_backlog(self) -> None:
        size = self._transport.get_write_buffer_size() if self._transport is not None else 0
        if size > MAX_BUFFERED_BYTES:
            logger.info("viewer %s: closing, %d bytes unsent", self.label, size)
            self.close(CLOSE_TOO_SLOW, "too slow: fell behind the live stream")

    def _take(self) -> str:
        _, frame, inner = self._pending.popleft()
        if inner is None or not self._pending or self._pending[0][2] is None:
            return frame
        parts = [inner]
        while self._pending and self._pending[0][2] is not None:
            parts.append(self._pending.popleft()[2])
        return tweets_frame(",".join(parts))
