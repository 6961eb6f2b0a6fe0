"""Load generator: N cheap WebSocket clients and a few probes on one topic; reports JSON.

    python -m bench.loadgen --url ws://127.0.0.1:8000/ws/topics/bench/ --clients 1000 --probes 5 \
        --duration 30 --expect 1500        # standalone: then start the tweet rate yourself

Without --duration it is driven by bench.run over stdin/stdout, one JSON object a line:
it prints {"event": "ready", ...} once every client holds its history frame, then obeys
"start <expected tweets>" (open a measuring window), "report" (print {"event": "report", ...}
for the window so far) and "stop" (exit). {"event": "complete"} is printed as soon as every probe
has every expected tweet, so the driver need not wait out its drain timeout. EOF on stdin stops it
too: the driver is gone.
"""

import argparse
import asyncio
import json
import resource
import socket
import sys
import time
from urllib.parse import urlsplit

from bench.wsclient import CheapClient, ProbeClient, upgrade_request

# The server admits at most WS_MAX_CONNECTIONS_PER_IP (200) sockets per client address, as a real
# audience comes from many addresses; so clients spread over 127.0.0.2 and up (all loopback),
# PER_ADDRESS each, numbered from --first so that several load generators never share an address.
PER_ADDRESS = 100
# While measuring, a cheap client's socket wakes us only once this many bytes are waiting (Linux
# honours SO_RCVLOWAT in epoll), so one read takes ~10 frames instead of one: the clients cost a
# fraction of the server they load. The server is unaffected (its writes never wait on this).
# Pings are answered a little later (< 1 s at 10 tweets/s), far inside the 20 s ping timeout.
RCVLOWAT_BYTES = 8192
HANDSHAKE_TIMEOUT_S = 60.0
HISTORY_TIMEOUT_S = 60.0
MAX_LIFETIME_S = 900.0  # a forgotten load generator never outlives a whole bench run


def emit(event: str, **fields) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def source_address(index: int) -> str:
    n = 2 + index // PER_ADDRESS
    return f"127.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class LoadGen:
    def __init__(self, url: str, clients: int, probes: int, batch: int, first: int = 0) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.path = parts.hostname, parts.port or 80, parts.path or "/"
        self.n_clients, self.n_probes, self.batch, self.first = clients, probes, batch, first
        self.clients: list[CheapClient] = []
        self.probes: list[ProbeClient] = []
        self.errors: dict[str, int] = {}
        self.connect_s = self.history_s = None
        self.expected = 0
        self.window: dict = {}

    # --- Connecting -----------------------------------------------------------------------
    async def _open(self, cls: type[CheapClient], index: int) -> CheapClient | None:
        loop = asyncio.get_running_loop()
        request = upgrade_request(self.host, self.port, self.path)
        source = (source_address(self.first + index), 0)
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT_S):
                _, client = await loop.create_connection(
                    lambda: cls(request, loop), self.host, self.port, local_addr=source
                )
                await client.handshake
        except (OSError, TimeoutError) as exc:
            key = f"{type(exc).__name__}: {exc}"[:120]
            self.errors[key] = self.errors.get(key, 0) + 1
            return None
        return client

    async def connect(self) -> None:
        """Probes first (so a failed ramp still measures), then clients in batches of `batch`.

        A batch of the whole count is the connect storm: every connect is in flight at once.
        """
        started = time.monotonic()
        self.started = started
        plan = [ProbeClient] * self.n_probes + [CheapClient] * self.n_clients
        for i in range(0, len(plan), self.batch):
            batch = plan[i : i + self.batch]
            opened = await asyncio.gather(*(self._open(cls, i + j) for j, cls in enumerate(batch)))
            for client in opened:
                if isinstance(client, ProbeClient):
                    self.probes.append(client)
                elif client is not None:
                    self.clients.append(client)
        self.connect_s = time.monotonic() - started
        # Polled rather than signalled: an Event per client would cost on every frame, for good.
        deadline = time.monotonic() + HISTORY_TIMEOUT_S
        while time.monotonic() < deadline and any(  # noqa: ASYNC110
            c.first_frame_at is None and c.closed_at is None for c in self.all()
        ):
            await asyncio.sleep(0.02)
        firsts = [c.first_frame_at for c in self.all() if c.first_frame_at is not None]
        self.history_s = (max(firsts) - started) if firsts else None
        self.connect_times = [c.connected_at - started for c in self.all() if c.connected_at]

    def all(self) -> list[CheapClient]:
        return self.probes + self.clients

    def ready_fields(self) -> dict:
        everyone = self.all()
        return {
            "wanted": self.n_clients + self.n_probes,
            "connected": len(everyone),
            "with_history": sum(c.first_frame_at is not None for c in everyone),
            "failed": sum(self.errors.values()),
            "errors": self.errors,
            "connect_s": self.connect_s,
            "history_s": self.history_s,
            "connect_p50_s": percentile(self.connect_times, 50),
            "connect_max_s": max(self.connect_times, default=None),
        }

    # --- Measuring ------------------------------------------------------------------------
    def start(self, expected: int) -> None:
        self.expected = expected
        for probe in self.probes:
            probe.latencies.clear()
            probe.latency_of.clear()
            probe.received.clear()
            probe.recording = True
        self.lowat(RCVLOWAT_BYTES)
        self.window = {
            "t0": time.monotonic(),
            "cpu0": cpu_seconds(),
            "frames0": [c.frames for c in self.clients],
            "bytes0": [c.nbytes for c in self.clients],
            "probe_frames0": sum(p.frames for p in self.probes),
        }

    def lowat(self, nbytes: int) -> None:
        for client in self.clients:
            sock = client.transport.get_extra_info("socket") if client.closed_at is None else None
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, nbytes)

    async def settle(self) -> None:
        """Back to waking on every byte, and read what was waiting below the mark."""
        self.lowat(1)
        await asyncio.sleep(0.3)

    def complete(self) -> bool:
        want = self.expected
        return bool(self.probes) and all(
            len(p.received) >= want and all(n in p.received for n in range(1, want + 1)) for p in self.probes
        )

    def report(self) -> dict:
        w = self.window
        elapsed = time.monotonic() - w["t0"]
        frames = [c.frames - f0 for c, f0 in zip(self.clients, w["frames0"], strict=True)]
        nbytes = [c.nbytes - b0 for c, b0 in zip(self.clients, w["bytes0"], strict=True)]
        want = range(1, self.expected + 1)
        got = sum(sum(1 for n in want if n in p.received) for p in self.probes)
        wanted = self.expected * len(self.probes)
        latencies = [ms for p in self.probes for ms in p.latencies]
        closed = [c for c in self.all() if c.closed_at is not None]
        codes: dict[str, int] = {}
        for c in closed:
            codes[str(c.close_code)] = codes.get(str(c.close_code), 0) + 1
        probe_frames = sum(p.frames for p in self.probes) - w["probe_frames0"]
        total_frames = sum(frames) + probe_frames
        return {
            **self.ready_fields(),
            "window_s": elapsed,
            "expected": self.expected,
            "probes": len(self.probes),
            "delivered_pct": 100.0 * got / wanted if wanted else None,
            "missing_per_probe": [sum(1 for n in want if n not in p.received) for p in self.probes],
            "duplicates": sum(c - 1 for p in self.probes for c in p.received.values() if c > 1),
            "latency_ms": {
                "count": len(latencies),
                "p50": percentile(latencies, 50),
                "p90": percentile(latencies, 90),
                "p99": percentile(latencies, 99),
                "max": max(latencies, default=None),
            },
            # Spikes or a slow stretch? The latest-arriving tweets by number (n / rate = emit time, s).
            "slowest_tweets": _slowest(self.probes),
            "frames": total_frames,
            "frames_per_s": total_frames / elapsed if elapsed > 0 else None,
            "bytes_per_s": sum(nbytes) / elapsed if elapsed > 0 else None,
            "bytes": sum(nbytes),
            "frames_per_client": {"min": min(frames, default=None), "max": max(frames, default=None)},
            "bytes_per_client": {"min": min(nbytes, default=None), "max": max(nbytes, default=None)},
            "closed_by_server": len(closed),
            "close_codes": codes,
            "loadgen_cpu_s": cpu_seconds() - w["cpu0"],
            "loadgen_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }

    def close(self) -> None:
        for client in self.all():
            client.close()


def _slowest(probes, count: int = 20) -> list[list[float]]:
    worst: dict[int, float] = {}
    for probe in probes:
        for n, ms in probe.latency_of.items():
            worst[n] = max(ms, worst.get(n, 0.0))
    return [[n, round(ms, 1)] for n, ms in sorted(worst.items(), key=lambda item: -item[1])[:count]]


async def drive(gen: LoadGen) -> None:
    """Driven mode: commands on stdin, events on stdout."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await gen.connect()
    emit("ready", **gen.ready_fields())
    watcher: asyncio.Task | None = None
    while True:
        line = (await reader.readline()).decode().split()
        if not line or line[0] == "stop":
            break
        if watcher is not None:
            watcher.cancel()
        if line[0] == "start":
            gen.start(int(line[1]))
            watcher = asyncio.create_task(watch_complete(gen))
        elif line[0] == "report":
            if gen.window:
                await gen.settle()
            emit("report", **(gen.report() if gen.window else gen.ready_fields()))


async def watch_complete(gen: LoadGen) -> None:
    while not gen.complete():  # noqa: ASYNC110 (polled, so the hot path stays signal-free)
        await asyncio.sleep(0.05)
    emit("complete")


async def standalone(gen: LoadGen, duration: float, expect: int) -> None:
    await gen.connect()
    print(json.dumps(gen.ready_fields()), file=sys.stderr, flush=True)
    gen.start(expect)
    await asyncio.sleep(duration)
    await gen.settle()
    print(json.dumps(gen.report(), indent=2), flush=True)


async def main_async(args: argparse.Namespace) -> None:
    gen = LoadGen(args.url, args.clients, args.probes, args.batch, args.first)
    try:
        async with asyncio.timeout(MAX_LIFETIME_S):
            if args.duration is None:
                await drive(gen)
            else:
                await standalone(gen, args.duration, args.expect)
    finally:
        gen.close()
        await asyncio.sleep(0.2)  # let the close frames go out before the loop ends


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True, help="ws://127.0.0.1:PORT/ws/topics/SLUG/ (loopback)")
    parser.add_argument("--clients", type=int, default=100, help="cheap (frame-counting) clients")
    parser.add_argument("--probes", type=int, default=5, help="clients that decode and time every tweet")
    parser.add_argument("--batch", type=int, default=200, help="connects in flight at once (ramp)")
    parser.add_argument("--first", type=int, default=0, help="index of the first client (addresses)")
    parser.add_argument("--duration", type=float, help="standalone: measure this long, then report")
    parser.add_argument("--expect", type=int, default=0, help="standalone: tweets numbered 1..N expected")
    args = parser.parse_args()
    if urlsplit(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        parser.error("loopback only: the load generator must not be aimed at another host")
    try:
        import uvloop

        run = uvloop.run
    except ImportError:  # uvloop makes the clients cheaper; plain asyncio still works
        run = asyncio.run
    try:
        run(main_async(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
