"""``python -m xemulator --host 127.0.0.1 --port 8099 --token T --keepalive 20``

Runs in the foreground, logging each connect, disconnect and fault, until
SIGINT/SIGTERM. The first stdout line is ``xemulator listening on <url>``
(useful with ``--port 0``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal

from .emulator import XEmulator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m xemulator", description="Local X API v2 filtered stream emulator."
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8099, help="port (0 = any free port)")
    parser.add_argument(
        "--token",
        default=os.environ.get("XEMULATOR_TOKEN", "test-token"),
        help="accepted Bearer token (default $XEMULATOR_TOKEN or test-token)",
    )
    parser.add_argument("--keepalive", type=float, default=20.0, help="keep-alive interval, s")
    parser.add_argument("--max-rules", type=int, default=1000)
    parser.add_argument("--max-rule-length", type=int, default=1024)
    parser.add_argument("--max-connections", type=int, default=1)
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    emulator = XEmulator(
        args.token,
        host=args.host,
        port=args.port,
        keepalive_interval=args.keepalive,
        max_rules=args.max_rules,
        max_rule_length=args.max_rule_length,
        max_connections=args.max_connections,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with emulator:
        print(f"xemulator listening on {emulator.base_url}", flush=True)
        logging.getLogger("xemulator").info(
            "keep-alive every %ss, max %d rule(s), %d connection(s)",
            args.keepalive,
            args.max_rules,
            args.max_connections,
        )
        await stop.wait()
    logging.getLogger("xemulator").info("stopped")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
