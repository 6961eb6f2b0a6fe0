"""A TCP proxy to a local port that a test can stall or cut: a network path that fails for real.

`stall()` holds every byte in flight (a path that hangs); `cut()` resets every open connection and
refuses new ones (the server gone, as its clients see it). `flow()` and `restore()` undo them.
"""

import socket
import struct
import threading

# SO_LINGER on, zero seconds: close() sends a RST, as a crashed server or a dropped route does.
RESET_ON_CLOSE = struct.pack("ii", 1, 0)


class TcpProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._flowing = threading.Event()
        self._flowing.set()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._listen(self._listener)

    def stall(self) -> None:
        self._flowing.clear()

    def flow(self) -> None:
        self._flowing.set()

    def cut(self) -> None:
        """Refuse new connections (nothing listens) and reset the open ones."""
        with self._lock:
            _unlisten(self._listener)
            for sock in self._open:
                _reset(sock)
            self._open.clear()

    def restore(self) -> None:
        """Listen again on the same port, so clients configured with it reconnect."""
        with self._lock:
            self._listener = socket.create_server(("127.0.0.1", self.port))  # SO_REUSEADDR: no TIME_WAIT
        self._listen(self._listener)

    def close(self) -> None:
        self.cut()
        self._flowing.set()

    def _listen(self, listener: socket.socket) -> None:
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._open |= {client, upstream}
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self._flowing.wait()
                target.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open -= {source, target}
            source.close()
            target.close()


def _reset(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET_ON_CLOSE)
        sock.shutdown(socket.SHUT_RD)  # wakes the pump blocked reading it; sends nothing
    except OSError:
        pass
    sock.close()


def _unlisten(listener: socket.socket) -> None:
    # shutdown first: close() alone leaves a socket that a thread blocks in accept() on listening.
    try:
        listener.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already cut
    listener.close()
