"""One viewer's socket as the hub sees it: frames written straight away, or queued behind a slow one.

A socket with nothing queued is written to inside the hub's dispatch, with no task switch:
- on uvicorn's sansio protocol, the frame's ready bytes go to its transport (feed/direct_write.py);
- otherwise through the server's own ASGI `send` (uvicorn's or Daphne's), not the consumer's, whose
  session middleware wrapper cost about 15% of a web process's CPU at scale. Both servers' `send`
  finish without suspending while the connection is writable, so the coroutine is stepped once by
  hand (what Python 3.12's eager tasks do).
Only a send that does suspend (the server waits for the client to drain) gets a task, and frames
queue behind it. At 1,000 sockets this saves the 1,000 task wake-ups per tweet that one writer task
per socket cost.

A server can accept frames faster than a client reads them, into the connection's transport
buffer; Daphne's `send` never waits at all. So a socket's unsent bytes are what it has queued here
plus what the server holds in that buffer (uvicorn's asyncio transport or Daphne's Twisted one,
feed/write_buffer.py), and past MAX_BUFFERED_BYTES together the socket is closed. Queued bytes are
counted as frames are appended (a length add); the transport is only asked after a write, and when
the queue would pass the bound with the size it gave then, so a socket that keeps up pays nothing.
"""

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from feed.direct_write import direct_writer
from feed.write_buffer import write_buffer_size

logger = logging.getLogger(__name__)

# How a send to a client that went away fails: uvicorn's ClientDisconnected is an OSError, autobahn
# (Daphne) raises its own Disconnected.
try:
    from autobahn.exception import Disconnected
except ImportError:  # no Daphne installed
    ROUTINE_SEND_FAILURES: tuple[type[BaseException], ...] = (OSError, asyncio.CancelledError)
else:
    ROUTINE_SEND_FAILURES = (OSError, asyncio.CancelledError, Disconnected)

# Frames a socket may have waiting before it counts as dead. At 50 tweets/s that is several seconds
# of falling behind; bursts merge into one frame when they queue, so a live client never gets near.
MAX_PENDING_FRAMES = 256
CLOSE_TOO_SLOW = 4408  # the page reconnects and catches up by seq
# Bytes a socket may have unsent, queued here and in the server's buffer together (kernel buffers come
# on top): several seconds of a busy topic. Past it the client is not reading, and is closed like a
# full queue.
MAX_BUFFERED_BYTES = 1 << 20

Send = Callable[[dict[str, Any]], Awaitable[None]]


def tweets_frame(inner: str) -> str:
    """The "tweets" frame around comma-joined, pre-encoded tweets."""
    return '{"type":"tweets","tweets":[' + inner + "]}"


class ViewerSocket:
    """Frames for one socket, in order; never blocks the hub.

    Until `start` is called (history sent), frames are held; then a tweets frame whose newest seq
    the history covers is dropped, and so is a moderation frame whose mark it covers (a hide names
    old seqs, so seqs cannot tell whether the history already reflects it). Consecutive "tweets"
    frames that queue up while a send is under way are merged into one. Past MAX_PENDING_FRAMES the
    socket is closed with code 4408.
    """

    def __init__(self, send: Send, *, label: str = "") -> None:
        self._send = send
        self.label = label
        # Pending frames: (newest seq, moderation mark, frame, comma-joined tweets for a "tweets"
        # frame else None, its size). A tweets frame has mark 0; a moderation frame has seq 0. The
        # size is its wire bytes where the hub built them, else its characters (ASCII JSON: the same).
        self._pending: deque[tuple[int, int, str, str | None, int]] = deque()
        self._queued_bytes = 0  # the sizes in _pending, summed
        # The task finishing a send that had to wait, then writing what queued behind it.
        self._writer: asyncio.Task | None = None
        self._started = False
        self._closing: tuple[int, str] | None = None
        self._gone = False  # a send failed: the connection is going away, and the consumer detaches
        # The server's unsent bytes for this socket (uvicorn's and Daphne's transports), and what it
        # said after the last write: the buffer only drains while frames queue here behind a send.
        self._buffered = write_buffer_size(send)
        self._unsent_after_write = 0
        self._direct = direct_writer(send)

    def push(self, seq: int, frame: str, inner: str | None, wire: bytes | None = None, mark: int = 0) -> None:
        """Send `frame` (its `text_frame` bytes in `wire`, for the direct path) after the rest.

        `seq` is a tweets frame's newest seq, `mark` a moderation frame's decision mark."""
        if self._closing is not None or self._gone:
            return
        if self._started and self._writer is None:
            if wire is not None and self._direct is not None and self._direct.write(wire):
                self._check_backlog(len(wire))
            else:
                self._write({"type": "websocket.send", "text": frame})
            return
        if len(self._pending) >= MAX_PENDING_FRAMES:
            logger.info("viewer %s: closing, %d frames pending", self.label, MAX_PENDING_FRAMES)
            self.close(CLOSE_TOO_SLOW, "too slow: fell behind the live stream")
            return
        size = len(wire) if wire is not None else len(frame)
        self._pending.append((seq, mark, frame, inner, size))
        self._queued_bytes += size
        if self._queued_bytes + self._unsent_after_write > MAX_BUFFERED_BYTES:
            self._check_backlog()  # asks the transport again: it may have drained since

    def close(self, code: int, reason: str) -> None:
        """Close after the frame being written, dropping what is still queued."""
        if self._closing is not None or self._gone:
            return
        self._closing = (code, reason)
        self._drop_pending()
        if self._started and self._writer is None:
            self._write_close()

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def start(self, history_frame: str, history_seq: int, history_mark: int = 0) -> None:
        """Send the history, then every held frame that is newer than it."""
        if self._pending:
            self._pending = deque(
                entry for entry in self._pending if entry[0] > history_seq or entry[1] > history_mark
            )
            self._queued_bytes = sum(entry[4] for entry in self._pending)
        self._started = True
        if self._gone:
            return
        if self._closing is not None:
            self._write_close()
            return
        self._write({"type": "websocket.send", "text": history_frame})
        while self._pending and self._writer is None and self._closing is None and not self._gone:
            self._write({"type": "websocket.send", "text": self._take()})

    def stop(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
        self._drop_pending()
        self._gone = True

    def _write_close(self) -> None:
        self._gone = True  # nothing goes out after the close frame
        code, reason = self._closing
        self._write({"type": "websocket.close", "code": code, "reason": reason})

    def _write(self, message: dict[str, Any]) -> None:
        """Send `message` now; if the server makes the send wait, finish it in a writer task."""
        step = _StartedSend(self._send(message))
        try:
            done = step.run_first_step()
        except (Exception, asyncio.CancelledError) as exc:  # never into the hub's own task
            self._lost(exc)
            return
        if done:
            self._check_backlog(len(message.get("text", "")))
        else:
            self._writer = asyncio.create_task(self._drain(step), name=f"viewer-{self.label}")

    async def _drain(self, started: "_StartedSend") -> None:
        """Finish the send under way, then write what queued meanwhile, merged, until none is left."""
        try:
            await started.finish()
            self._check_backlog()
            while self._closing is None and self._pending:
                text = self._take()
                await self._send({"type": "websocket.send", "text": text})
                self._check_backlog(len(text))
            if self._closing is not None and not self._gone:
                self._gone = True  # nothing goes out after the close frame
                code, reason = self._closing
                await self._send({"type": "websocket.close", "code": code, "reason": reason})
        except asyncio.CancelledError as exc:
            if asyncio.current_task().cancelling():  # stop(): the consumer is detaching
                raise
            self._lost(exc)  # the send itself was cancelled: the connection is going away
        except Exception as exc:
            self._lost(exc)
        finally:
            self._writer = None

    def _lost(self, exc: BaseException) -> None:
        # A client that went away is routine; anything else is a fault worth seeing: a too-small
        # Daphne message bound once dropped every frame, unseen at debug level.
        if isinstance(exc, ROUTINE_SEND_FAILURES):
            logger.debug("viewer %s: send failed: %r", self.label, exc)
        else:
            logger.warning("viewer %s: send failed, dropping the socket: %r", self.label, exc)
        self._gone = True
        self._drop_pending()

    def _drop_pending(self) -> None:
        self._pending.clear()
        self._queued_bytes = 0

    def _check_backlog(self, written: int = 0) -> None:
        """Close with 4408 if the queued frames and the server's unsent bytes pass the bound.

        `written`: the frame just handed to the server, which is not counted against the client.
        Twisted's `write` only buffers (the socket is written on the loop's next turn), so right
        after it Daphne's buffer always holds the whole frame, and a batch frame over the bound
        closed healthy viewers too; what earlier frames left unsent is what says a client is behind.
        """
        buffered = self._buffered() if self._buffered is not None else 0
        unsent = self._unsent_after_write = max(0, buffered - written)
        if unsent + self._queued_bytes > MAX_BUFFERED_BYTES and self._closing is None:
            logger.info(
                "viewer %s: closing, %d bytes unsent (%d queued, %d in the server's buffer)",
                self.label,
                unsent + self._queued_bytes,
                self._queued_bytes,
                unsent,
            )
            self.close(CLOSE_TOO_SLOW, "too slow: fell behind the live stream")

    def _take(self) -> str:
        _, _, frame, inner, size = self._pending.popleft()
        self._queued_bytes -= size
        if inner is None or not self._pending or self._pending[0][3] is None:
            return frame
        parts = [inner]
        while self._pending and self._pending[0][3] is not None:
            _, _, _, inner, size = self._pending.popleft()
            parts.append(inner)
            self._queued_bytes -= size
        return tweets_frame(",".join(parts))


class _StartedSend:
    """A send coroutine run by hand: its first step now, the rest (if it suspends) in a task."""

    def __init__(self, coro: Coroutine[Any, Any, None]) -> None:
        self._coro = coro
        self._waiting_on: Any = None

    def run_first_step(self) -> bool:
        """Run until the coroutine finishes (True) or first suspends (False)."""
        try:
            self._waiting_on = self._coro.send(None)
        except StopIteration:
            return True
        return False

    async def finish(self) -> None:
        """Go on from where the first step suspended, as the task running it would have."""
        try:
            while True:
                future = self._waiting_on
                if future is None:  # a bare yield: asyncio.sleep(0)
                    await asyncio.sleep(0)
                else:
                    future._asyncio_future_blocking = False  # the task's part of the protocol
                    await asyncio.wait((future,))
                try:
                    self._waiting_on = self._coro.send(None)
                except StopIteration:
                    return
        except asyncio.CancelledError as cancel:
            # As a task would: cancel what the send awaits and let it clean up, then stop it.
            if self._waiting_on is not None:
                self._waiting_on.cancel()
            try:
                self._coro.throw(cancel)
            except BaseException:  # noqa: S110 (it ended, one way or another)
                pass
            finally:
                self._coro.close()
            raise
