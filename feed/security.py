"""Request guards: the Content-Security-Policy header, WebSockets per client address (open at once,
and attempts per second), and the address staff login failures are counted by."""

import logging
import math
import re
import time
from collections import Counter
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

CLOSE_TOO_MANY_CONNECTIONS = 4429
# How often idle addresses' buckets are swept out: each sweep walks them all, so not per attempt.
SWEEP_INTERVAL_S = 1.0
# A hard cap on tracked addresses between sweeps (a flood from many addresses, e.g. across an IPv6
# prefix): about 100 bytes each, so 10 MB at most; past it the least recently seen are forgotten.
MAX_TRACKED_ADDRESSES = 100_000


def client_address(request: HttpRequest) -> str | None:
    """The address django-axes counts login failures by: REMOTE_ADDR, which the ASGI server sets from
    the connection, or from X-Forwarded-For only when the proxy is trusted (uvicorn --proxy-headers with
    FORWARDED_ALLOW_IPS). Read the header here and a guesser would pick a fresh address per attempt."""
    return request.META.get("REMOTE_ADDR")


def login_locked_out(request: HttpRequest, original_response, credentials) -> HttpResponse:
    """django-axes' answer to a locked-out login: 429 with a page that says how long to wait.

    A full cool-off: every attempt during a lockout starts it again (axes'
    AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT), so a guesser who keeps trying stays out.
    """
    seconds = settings.AXES_COOLOFF_TIME.total_seconds()
    context = {"failure_limit": settings.AXES_FAILURE_LIMIT, "minutes": math.ceil(seconds / 60)}
    response = render(request, "login_locked_out.html", context, status=429)
    response.headers["Retry-After"] = str(math.ceil(seconds))
    return response


class ContentSecurityPolicyMiddleware:
    """Adds CONTENT_SECURITY_POLICY to every response that has none (Django 5.2 has no CSP).

    `{image_hosts}` in it becomes settings.IMAGE_HOSTS and the hosts settings.IMAGE_HOSTS_FROM names
    (a dotted path to a function, so this module needs nothing from the worker's side), read again
    every IMAGE_HOSTS_TTL_S: an instance added in the admin has its images shown within a minute.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.template = settings.CONTENT_SECURITY_POLICY
        self._hosts_from: Callable[[], list[str]] | None = None
        if "{image_hosts}" in self.template and getattr(settings, "IMAGE_HOSTS_FROM", None):
            self._hosts_from = import_string(settings.IMAGE_HOSTS_FROM)
        self._policy, self._policy_until = "", 0.0

    def __call__(self, request):
        response = self.get_response(request)
        if self.template:
            response.headers.setdefault("Content-Security-Policy", self.policy())
        return response

    def policy(self) -> str:
        if "{image_hosts}" not in self.template:
            return self.template
        if time.monotonic() >= self._policy_until:
            hosts = list(settings.IMAGE_HOSTS)
            if self._hosts_from is not None:
                try:
                    hosts += self._hosts_from()
                except Exception:  # the database away: the fixed hosts still serve
                    logger.exception("CSP: reading the image hosts failed; using IMAGE_HOSTS alone")
            valid = [host for host in dict.fromkeys(hosts) if _IMAGE_HOST.fullmatch(host)]
            self._policy = self.template.replace("{image_hosts}", " ".join(valid)).replace("  ", " ")
            self._policy_until = time.monotonic() + IMAGE_HOSTS_TTL_S
        return self._policy


# An image host as the policy may name it: https and a host name, nothing that could end the
# directive or add a source expression.
_IMAGE_HOST = re.compile(r"https://[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?")
IMAGE_HOSTS_TTL_S = 60.0


class ConnectionsPerAddressLimit:
    """ASGI middleware: at most `limit` open WebSockets per client address in this process.

    Past the limit the socket is accepted and closed at once with 4429 and a reason, so the page
    can say why instead of retrying blindly. Behind a proxy, run the server with --proxy-headers so
    the address is the client's, not the proxy's.
    """

    def __init__(self, app) -> None:
        self.app = app
        self.open: Counter[str] = Counter()
        self._attempts: AttemptBuckets | None = None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            return await self.app(scope, receive, send)
        address = (scope.get("client") or ("unknown", 0))[0]
        attempts = self._attempt_buckets()
        if attempts is not None and not attempts.allow(address):
            logger.warning("refusing a WebSocket from %s: more than %s attempts/s", address, attempts.rate)
            return await _refuse(receive, send, "too many connection attempts from your address")
        limit = settings.WS_MAX_CONNECTIONS_PER_IP
        if not limit:
            return await self.app(scope, receive, send)
        if self.open[address] >= limit:
            logger.warning("refusing a WebSocket from %s: %d already open", address, self.open[address])
            return await _refuse(receive, send, "too many connections from your address")
        self.open[address] += 1
        try:
            return await self.app(scope, receive, send)
        finally:
            self.open[address] -= 1
            if not self.open[address]:
                del self.open[address]

    def _attempt_buckets(self) -> "AttemptBuckets | None":
        rate, burst = settings.WS_CONNECT_RATE_PER_IP, settings.WS_CONNECT_BURST_PER_IP
        if not rate:
            return None
        if self._attempts is None or (self._attempts.rate, self._attempts.burst) != (rate, burst):
            self._attempts = AttemptBuckets(rate=rate, burst=burst)
        return self._attempts


class AttemptBuckets:
    """Connection attempts per address, as token buckets: `burst` at once, then `rate` a second.

    A bucket that has refilled holds nothing a fresh one would not, so addresses that go quiet are
    forgotten (swept every SWEEP_INTERVAL_S), and at most MAX_TRACKED_ADDRESSES are kept at all.
    """

    def __init__(self, *, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        # address -> (tokens left, when counted); insertion order is least recently seen first.
        self._buckets: dict[str, tuple[float, float]] = {}
        self._next_sweep = 0.0

    def allow(self, address: str) -> bool:
        """Take a token for one attempt from `address`; False if its bucket is empty."""
        now = self._clock()
        self._sweep(now)
        tokens, counted = self._buckets.pop(address, (self.burst, now))
        tokens = min(self.burst, tokens + (now - counted) * self.rate)
        allowed = tokens >= 1
        self._buckets[address] = (tokens - 1 if allowed else tokens, now)
        if len(self._buckets) > MAX_TRACKED_ADDRESSES:
            del self._buckets[next(iter(self._buckets))]
        return allowed

    def __len__(self) -> int:
        """Addresses tracked now."""
        return len(self._buckets)

    def _sweep(self, now: float) -> None:
        if now < self._next_sweep:
            return
        self._next_sweep = now + SWEEP_INTERVAL_S
        self._buckets = {
            address: (tokens, counted)
            for address, (tokens, counted) in self._buckets.items()
            if tokens + (now - counted) * self.rate < self.burst
        }


async def _refuse(receive, send, reason: str) -> None:
    if (await receive())["type"] == "websocket.connect":
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": CLOSE_TOO_MANY_CONNECTIONS, "reason": reason})
