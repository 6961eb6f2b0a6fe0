"""A WebSocket client over a plain blocking socket (websockets' sans-I/O protocol), for the tests
that must choose exactly which bytes reach the server and when: part of a frame, or nothing at all.
"""

import socket

from websockets.client import ClientProtocol
from websockets.frames import Close
from websockets.uri import parse_uri


class RawClient:
    """Handshake done on construction; `write` sends raw bytes, `read_until_closed` reads to the end."""

    def __init__(self, port: int, path: str, *, receive_buffer: int | None = None) -> None:
        self.sock = socket.socket()
        self.sock.settimeout(10)
        self.received = 0  # bytes read after the handshake's first read
        if receive_buffer is not None:  # set before connecting, when TCP sizes its window
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            # Segments smaller than that window: otherwise (loopback's are 64 KB) the window never
            # opens by a full segment, the server only sends on its 200 ms probe, and reading a
            # backlog of megabytes takes minutes.
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, max(receive_buffer // 8, 536))
        self.sock.connect(("127.0.0.1", port))
        self.protocol = ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}{path}"), max_size=None)
        request = self.protocol.connect()
        request.headers["Origin"] = f"http://127.0.0.1:{port}"
        self.protocol.send_request(request)
        self._flush()
        while self.protocol.handshake_exc is None and self.protocol.state.name == "CONNECTING":
            self._feed(self.sock.recv(65536))
        assert self.protocol.handshake_exc is None, self.protocol.handshake_exc

    def frame_bytes(self, text: str) -> bytes:
        """The masked frame a browser would send for `text`, not written."""
        self.protocol.send_text(text.encode())
        return b"".join(self.protocol.data_to_send())

    def write(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_until_closed(self, timeout: float = 10) -> Close | None:
        """Read (and drop) frames until the server's close frame, which is returned; None if the
        connection ended without one (a reset, or EOF)."""
        self.sock.settimeout(timeout)
        while self.protocol.close_rcvd is None:
            try:
                data = self.sock.recv(1 << 20)
            except ConnectionResetError:
                return None
            if not data:
                return None
            self.received += len(data)
            self._feed(data)
        return self.protocol.close_rcvd

    def close(self) -> None:
        self.sock.close()

    def _feed(self, data: bytes) -> None:
        self.protocol.receive_data(data)
        self.protocol.events_received()
        self._flush()

    def _flush(self) -> None:
        for chunk in self.protocol.data_to_send():
            if chunk:
                try:
                    self.sock.sendall(chunk)
                except OSError:  # the server already closed; what it sent is still readable
                    return
