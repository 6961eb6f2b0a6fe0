"""A post generator for benchmarks: ``rate`` posts per second, ``count`` in all, a share of them
(``match_ratio``) containing ``word`` and the rest random text that never does.

It runs on the emulator's loop and emits every post that is due each time it wakes, so 1,000 and
more posts a second do not depend on ``asyncio.sleep``'s resolution.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .core import BlueskyCore

log = logging.getLogger("blueskyemulator")

TICK_S = 0.005  # longest sleep between batches: at 1,000 posts/s about 5 posts go out per wake
AUTHORS = 20  # bench accounts the posts come from, all known to the AppView
_VOCABULARY = (
    "the a wall live stream conference talk slides coffee morning keynote speaker room demo open "
    "source release python rust web socket latency queue budget today tomorrow great thanks team "
    "café naïve 東京 ありがとう привет مرحبا 🎉 🚀 ☕"
).split()


def _floor(x: float) -> int:
    return math.floor(x + 1e-9)  # 0.29 * 100 is 28.999…: count it as the 29 it means


class RateGenerator:
    def __init__(self, core: BlueskyCore) -> None:
        self.core = core
        self._task: asyncio.Task | None = None
        self._status: dict = {"running": False}

    def status(self) -> dict:
        return dict(self._status)

    def start(self, rate: float, count: int, word: str, match_ratio: float, seed: int | None = None) -> dict:
        """Start (replacing a running generator). Exactly ``floor(count * match_ratio)`` posts match."""
        if rate <= 0 or count <= 0:
            raise ValueError("rate and count must be > 0")
        if not word.strip() or not 0 <= match_ratio <= 1:
            raise ValueError("word must be non-empty and 0 <= match_ratio <= 1")
        self.stop()
        authors = [
            self.core.add_account(f"bench-{i}.test", display_name=f"Bench {i}").handle for i in range(AUTHORS)
        ]
        self._status = {
            "running": True,
            "rate": rate,
            "count": count,
            "word": word,
            "match_ratio": match_ratio,
            "emitted": 0,
            "matched": 0,
            "started_at": time.time(),
        }
        self._task = asyncio.get_running_loop().create_task(
            self._run(rate, count, word, match_ratio, authors, random.Random(seed))
        )
        log.info("rate: %s posts/s, %d posts, %.0f%% with %r", rate, count, match_ratio * 100, word)
        return self.status()

    def stop(self) -> dict:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._status["running"] = False
        return self.status()

    def _text(self, rnd: random.Random, word: str, matches: bool) -> str:
        lowered = word.lower().lstrip("#@")
        words = [w for w in rnd.choices(_VOCABULARY, k=rnd.randint(4, 12)) if lowered not in w.lower()]
        if matches:
            words.insert(rnd.randint(0, len(words)), word)
        return " ".join(words)

    async def _run(
        self, rate: float, count: int, word: str, ratio: float, authors: list[str], rnd: random.Random
    ) -> None:
        loop = asyncio.get_running_loop()
        start, n = loop.time(), 0
        while n < count:
            due = min(count, math.floor((loop.time() - start) * rate) + 1)
            while n < due:
                n += 1
                matches = _floor(n * ratio) > _floor((n - 1) * ratio)  # spreads matches evenly
                self.core.post(self._text(rnd, word, matches), rnd.choice(authors))
                self._status["matched"] += matches
            self._status["emitted"] = n
            if n < count:
                await asyncio.sleep(min(TICK_S, max(0.0, start + n / rate - loop.time())))
        self._status.update(running=False, finished_at=time.time())
        self._task = None
        log.info("rate: finished, %d posts (%d with %r)", n, self._status["matched"], word)
