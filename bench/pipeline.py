"""Where the latency is: emit → published on Redis, measured by listening to the topic's group.

The probes time emit → browser. This listener times emit → the worker's PUBLISH (X emulator →
Tweepy → normalize → PostgreSQL → Redis), so the rest is the web server's fan-out. It reads the raw
channels-redis payload (a random prefix plus msgpack, where strings are stored as-is), so the tweet
text can be matched without decoding the message.
"""

import re
import threading
import time

import redis

from bench.loadgen import percentile

GROUP_CHANNEL = "asgi__group__topic.{slug}"  # channels-redis pub/sub: <prefix>__group__<group>
TWEET = re.compile(rb"bench (\d+) t=(\d+)")


class PublishListener:
    def __init__(self, redis_url: str, slug: str) -> None:
        self._client = redis.Redis.from_url(redis_url)
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(GROUP_CHANNEL.format(slug=slug))
        self._stop = threading.Event()
        self.latencies: list[float] = []
        self.seen: set[int] = set()
        self.batches = 0
        self._thread = threading.Thread(target=self._listen, daemon=True, name="publish-listener")
        self._thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                message = self._pubsub.get_message(timeout=0.2)
            except redis.RedisError:  # Redis stopped under us (the run is ending): stop listening
                return
            if message is None or message.get("type") != "message":
                continue
            now_ms = time.time() * 1000.0
            self.batches += 1
            # Each tweet's text appears twice (text and html): count each n once.
            for n, emitted in {int(n): int(t) for n, t in TWEET.findall(message["data"])}.items():
                if n not in self.seen:
                    self.seen.add(n)
                    self.latencies.append(now_ms - emitted)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._pubsub.close()
        self._client.close()

    def finish(self, expected: int) -> dict:
        self.close()
        got = sum(1 for n in range(1, expected + 1) if n in self.seen)
        return {
            "published_pct": 100.0 * got / expected if expected else None,
            "tweets_per_publish": len(self.seen) / self.batches if self.batches else None,
            "p50": percentile(self.latencies, 50),
            "p99": percentile(self.latencies, 99),
            "max": max(self.latencies, default=None),
        }
