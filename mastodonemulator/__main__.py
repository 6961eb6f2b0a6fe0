"""``python -m mastodonemulator --port 8098 --domain mastodon.example --token T:read``

Runs in the foreground until SIGINT/SIGTERM. The first stdout line is
``mastodonemulator listening on <url> (streaming <ws url>)`` (useful with ``--port 0``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal

from .core import DEFAULT_TOKEN
from .emulator import MastodonEmulator
from .ratelimit import DEFAULT_LIMIT, DEFAULT_PERIOD_S


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m mastodonemulator", description="Local Mastodon emulator."
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8098, help="port (0 = any free port)")
    parser.add_argument("--domain", default="mastodon.example", help="the instance's domain in URIs")
    parser.add_argument(
        "--token",
        action="append",
        help="TOKEN[:scopes], repeatable (default $MASTODONEMULATOR_TOKEN or test-token; scope read)",
    )
    parser.add_argument("--rate-limit", type=int, default=DEFAULT_LIMIT, help="REST requests per window")
    parser.add_argument("--rate-period", type=float, default=DEFAULT_PERIOD_S, help="rate window, s")
    parser.add_argument(
        "--separate-streaming", action="store_true", help="serve the WebSocket on another port"
    )
    parser.add_argument("--streaming-port", type=int, default=0)
    parser.add_argument("--streaming-url", help="advertise this in configuration.urls.streaming")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def tokens_from(specs: list[str] | None) -> dict[str, str]:
    specs = specs or [os.environ.get("MASTODONEMULATOR_TOKEN", DEFAULT_TOKEN)]
    tokens = {}
    for spec in specs:
        token, _, scopes = spec.partition(":")
        tokens[token] = scopes.replace(",", " ") or "read"
    return tokens


async def serve(args: argparse.Namespace) -> None:
    emulator = MastodonEmulator(
        domain=args.domain,
        tokens=tokens_from(args.token),
        rate_limit=args.rate_limit,
        rate_period=args.rate_period,
        host=args.host,
        port=args.port,
        separate_streaming=args.separate_streaming,
        streaming_port=args.streaming_port,
        streaming_url=args.streaming_url,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with emulator:
        print(
            f"mastodonemulator listening on {emulator.base_url} (streaming {emulator.streaming_url})",
            flush=True,
        )
        await stop.wait()
    logging.getLogger("mastodonemulator").info("stopped")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
