"""The bare reference: what one Python process can do with `websockets` alone.

    python -m bench.reference --port 8765      # then GET /_rate?rate=50&count=1500 starts tweets

Same URL shape, frames and tweet text as the real server (so the same load generator and probes
work), but no Django, no Redis and no database: each numbered tweet is encoded once and handed to
`websockets.asyncio.server.broadcast`. Its numbers are the floor that tweetsite's fan-out is
compared against. GET /_state reports the rate's progress.
"""

import argparse
import asyncio
import json
import time
from datetime import UTC, datetime
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, broadcast, serve

HISTORY_SIZE = 50  # as feed.selectors.HISTORY_LIMIT: the same connect cost in bytes
LINK_ATTRS = 'target="_blank" rel="noopener noreferrer nofollow ugc"'


def wire_tweet(seq: int, text: str) -> dict:
    """A tweet shaped like feed.rendering.tweet_wire's, so frames are about the same size."""
    x_id = str(1_900_000_000_000_000_000 + seq)
    html = text.replace("#bench", f'<a href="https://x.com/hashtag/bench" {LINK_ATTRS}>#bench</a>')
    return {
        "seq": seq,
        "id": x_id,
        "source": "x",
        "text": text,
        "html": html,
        "created_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "url": f"https://x.com/xemulator/status/{x_id}",
        "author": {
            "id": "2244994945",
            "username": "xemulator",
            "name": "X Emulator",
            "avatar_url": "https://pbs.twimg.com/profile_images/xemulator_normal.png",
        },
        "lang": "en",
        "topics": ["bench"],
    }


def encode(message: dict) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


class Reference:
    def __init__(self) -> None:
        self.viewers: set[ServerConnection] = set()
        self.seq = 0
        self.history: list[str] = []
        self.rate_task: asyncio.Task | None = None
        self.state = {"running": False, "emitted": 0, "count": 0}
        for n in range(HISTORY_SIZE):
            self._tweet(f"bench prefill {n} t=0 #bench")

    def _tweet(self, text: str) -> str:
        self.seq += 1
        item = encode(wire_tweet(self.seq, text))
        self.history = [item, *self.history[: HISTORY_SIZE - 1]]
        return item

    async def handler(self, connection: ServerConnection) -> None:
        await connection.send('{"type":"history","tweets":[' + ",".join(self.history) + "]}")
        self.viewers.add(connection)
        try:
            await connection.wait_closed()
        finally:
            self.viewers.discard(connection)

    async def run_rate(self, rate: float, count: int) -> None:
        """Like xemulator's rate loop: tweet n is due at start + (n-1)/rate, stamped when made."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        self.state = {"running": True, "emitted": 0, "count": count, "rate": rate}
        for n in range(1, count + 1):
            # Always yield, even when behind: a saturated loop must still serve /_state and pings.
            await asyncio.sleep(max(0.0, start + (n - 1) / rate - loop.time()))
            text = f"bench {n} t={int(time.time() * 1000)} #bench"
            broadcast(self.viewers, '{"type":"tweets","tweets":[' + self._tweet(text) + "]}")
            self.state["emitted"] = n
        self.state["running"] = False

    def process_request(self, connection: ServerConnection, request):
        path = urlsplit(request.path)
        if path.path == "/_rate":
            query = {k: v[0] for k, v in parse_qs(path.query).items()}
            if self.rate_task is not None:
                self.rate_task.cancel()
            rate, count = float(query.get("rate", 50)), int(query.get("count", 0))
            self.rate_task = asyncio.create_task(self.run_rate(rate, count))
            return connection.respond(HTTPStatus.OK, json.dumps({"rate": rate, "count": count}) + "\n")
        if path.path == "/_state":
            return connection.respond(HTTPStatus.OK, json.dumps(self.state) + "\n")
        if not path.path.startswith("/ws/topics/"):
            return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
        return None


async def serve_forever(port: int) -> None:
    ref = Reference()
    # No compression, as uvicorn runs with --ws-per-message-deflate false; pings stay at their
    # default (20 s), as uvicorn's.
    async with serve(
        ref.handler, "127.0.0.1", port, process_request=ref.process_request, compression=None, backlog=4096
    ) as server:
        print(f"reference listening on ws://127.0.0.1:{port}", flush=True)
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reference", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = parser.parse_args()
    run = asyncio.run
    if args.loop == "uvloop":
        import uvloop

        run = uvloop.run
    try:
        run(serve_forever(args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
