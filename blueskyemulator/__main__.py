"""``python -m blueskyemulator --host 127.0.0.1 --port 8098``

Runs in the foreground, logging each connect, disconnect and generator run, until SIGINT or
SIGTERM. The first stdout line is ``blueskyemulator listening on <url>`` (useful with
``--port 0``). Drive it with the ``/_emulator/*`` endpoints (see :mod:`blueskyemulator.server`),
e.g. ``curl -d '{"rate": 1000, "count": 5000, "word": "#bench", "match_ratio": 0.1}'
http://127.0.0.1:8098/_emulator/rate``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from .core import BUFFER_SIZE, LOOKBACK_S
from .emulator import BlueskyEmulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m blueskyemulator", description="Local Bluesky Jetstream and AppView emulator."
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8098, help="port (0 = any free port)")
    parser.add_argument("--buffer-size", type=int, default=BUFFER_SIZE, help="events kept for cursor replay")
    parser.add_argument("--lookback", type=float, default=LOOKBACK_S, help="cursor lookback, s")
    parser.add_argument("--profile-latency", type=float, default=0.0, help="getProfiles delay, s")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    emulator = BlueskyEmulator(
        host=args.host,
        port=args.port,
        buffer_size=args.buffer_size,
        lookback_s=args.lookback,
        profile_latency=args.profile_latency,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with emulator:
        print(f"blueskyemulator listening on {emulator.base_url}", flush=True)
        logging.getLogger("blueskyemulator").info(
            "jetstream %s, %d events kept, getProfiles latency %ss",
            emulator.jetstream_url,
            args.buffer_size,
            args.profile_latency,
        )
        await stop.wait()
    logging.getLogger("blueskyemulator").info("stopped")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
