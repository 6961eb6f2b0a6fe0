"""GETs to one Mastodon instance's REST API, within its rate limit (api/rate-limits.md).

Requests are spread to fit `X-RateLimit-Remaining` before `X-RateLimit-Reset`; a 429 waits for the
reset it names. A token the server refuses (401) is dropped and the request made without it, as
public endpoints (the tag timelines, the instance) answer anyone.
"""

import asyncio
import logging
import time
from datetime import datetime
from typing import Any

import aiohttp

logger = logging.getLogger(__name__)

# Requests are never closer than this, whatever the remaining budget says.
MIN_REQUEST_GAP_S = 0.05
RESET_MARGIN_S = 0.5
# A 429 without rate limit headers waits this long (a poll interval) before the next request.
REFUSED_WAIT_S = 10.0
REQUEST_TIMEOUT_S = 30.0


class InstanceRest:
    def __init__(self, *, base_url: str, access_token: str, name: str) -> None:
        self.base_url, self.name = base_url, name
        self.token = access_token  # cleared if the server refuses it
        self._next_request_at = 0.0

    async def get(self, session: aiohttp.ClientSession, path: str, params: dict | None = None) -> Any:
        """GET a path: JSON, or None for a 404 (an unused tag) or another refusal. Waits out a 429
        until X-RateLimit-Reset."""
        while True:
            await asyncio.sleep(max(0.0, self._next_request_at - time.monotonic()))
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
            async with session.get(
                self.base_url + path, params=params, headers=headers, timeout=timeout
            ) as response:
                self._pace(response.headers, refused=response.status == 429)
                if response.status == 429:
                    logger.warning("%s: rate limited; waiting for the reset", self.name)
                    continue
                if response.status == 401 and self.token:
                    logger.error("%s: the server refuses the access token; reading without it", self.name)
                    self.token = ""
                    continue
                if response.status >= 400:
                    if response.status != 404:
                        logger.warning("%s: GET %s answered %d", self.name, path, response.status)
                    return None
                return await response.json(content_type=None)

    def _pace(self, headers: Any, *, refused: bool) -> None:
        """Spread the requests left over the time left: the next one waits its share."""
        wait = MIN_REQUEST_GAP_S
        reset = _reset_in(headers.get("X-RateLimit-Reset"))
        remaining = headers.get("X-RateLimit-Remaining")
        if reset is not None and remaining is not None and remaining.isdigit():
            left = int(remaining)
            # Past the last request of a window, wait for its reset and a margin: the server's clock
            # and ours differ, and its timestamp is cut to the millisecond.
            wait = max(wait, reset + RESET_MARGIN_S if refused or left == 0 else reset / (left + 1))
        elif refused:
            wait = REFUSED_WAIT_S
        self._next_request_at = time.monotonic() + wait


def _reset_in(value: str | None) -> float | None:
    """Seconds until an X-RateLimit-Reset timestamp (ISO 8601); None if unreadable."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return max(0.0, moment.timestamp() - time.time())
