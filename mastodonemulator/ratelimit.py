"""REST rate limiting, from ``content/en/api/rate-limits.md``.

"All endpoints and methods can be called 300 times within 5 minutes", per account and per
IP; each response carries ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and
``X-RateLimit-Reset`` (a timestamp), and a request over the limit gets 429.

One deliberate simplification: a window opens at a key's first request (Mastodon's
rack-attack windows are aligned to the clock), so a test that exhausts a small limit never
straddles a window boundary by chance.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from .entities import iso

DEFAULT_LIMIT = 300  # rate-limits.md: 300 requests ...
DEFAULT_PERIOD_S = 300.0  # ... within 5 minutes


@dataclass
class Window:
    started: float
    used: int = 0


class RateLimiter:
    def __init__(self, limit: int = DEFAULT_LIMIT, period: float = DEFAULT_PERIOD_S) -> None:
        self.limit = limit
        self.period = period
        self.windows: dict[str, Window] = {}
        self.refused = 0
        self.exhausted_until = 0.0  # a fault: every key is over its limit until then

    def exhaust(self, seconds: float, now: float | None = None) -> float:
        """Refuse every request, whatever its key, for ``seconds``: the budget spent elsewhere (other
        clients of the token or the IP), as a busy instance answers. Returns the reset time."""
        now = time.time() if now is None else now
        self.exhausted_until = now + max(0.0, seconds)
        return self.exhausted_until

    def hit(self, key: str, now: float | None = None) -> tuple[bool, dict[str, str]]:
        """Count one request for ``key``; returns (allowed, headers)."""
        now = time.time() if now is None else now
        if now < self.exhausted_until:
            self.refused += 1
            return False, self._headers(0, self.exhausted_until)
        window = self.windows.get(key)
        if window is None or now >= window.started + self.period:
            window = self.windows[key] = Window(started=now)
        allowed = window.used < self.limit
        if allowed:
            window.used += 1
        else:
            self.refused += 1
        return allowed, self._headers(max(0, self.limit - window.used), window.started + self.period)

    def _headers(self, remaining: int, reset: float) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": iso(datetime.fromtimestamp(reset, UTC)),
        }
