"""Request guards: the Content-Security-Policy header, and WebSocket connections per client address."""

import logging
from collections import Counter

from django.conf import settings

logger = logging.getLogger(__name__)

CLOSE_TOO_MANY_CONNECTIONS = 4429


class ContentSecurityPolicyMiddleware:
    """Adds CONTENT_SECURITY_POLICY to every response that has none (Django 5.2 has no CSP)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.policy = settings.CONTENT_SECURITY_POLICY

    def __call__(self, request):
        response = self.get_response(request)
        if self.policy:
            response.headers.setdefault("Content-Security-Policy", self.policy)
        return response


class ConnectionsPerAddressLimit:
    """ASGI middleware: at most `limit` open WebSockets per client address in this process.

    Past the limit the socket is accepted and closed at once with 4429 and a reason, so the page
    can say why instead of retrying blindly. Behind a proxy, run the server with --proxy-headers so
    the address is the client's, not the proxy's.
    """

    def __init__(self, app) -> None:
        self.app = app
        self.open: Counter[str] = Counter()

    async def __call__(self, scope, receive, send):
        limit = settings.WS_MAX_CONNECTIONS_PER_IP
        if scope["type"] != "websocket" or not limit:
            return await self.app(scope, receive, send)
        address = (scope.get("client") or ("unknown", 0))[0]
        if self.open[address] >= limit:
            logger.warning("refusing a WebSocket from %s: %d already open", address, self.open[address])
            return await _refuse(receive, send)
        self.open[address] += 1
        try:
            return await self.app(scope, receive, send)
        finally:
            self.open[address] -= 1
            if not self.open[address]:
                del self.open[address]


async def _refuse(receive, send) -> None:
    if (await receive())["type"] == "websocket.connect":
        await send({"type": "websocket.accept"})
        reason = "too many connections from your address"
        await send({"type": "websocket.close", "code": CLOSE_TOO_MANY_CONNECTIONS, "reason": reason})
