"""Keeps the ASGI server's own `send` in the scope, for the hub's writes to viewer sockets."""

from feed.consumers import RAW_SEND_SCOPE_KEY


class ServerSendMiddleware:
    """Outermost ASGI middleware: inner middlewares (sessions, auth) wrap `send` per call, and the
    hub writes every frame to every socket, so it skips those wrappers (about 15% of CPU at scale).
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            scope = dict(scope, **{RAW_SEND_SCOPE_KEY: send})
        return await self.app(scope, receive, send)
