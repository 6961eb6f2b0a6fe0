"""aiohttp sessions for Tweepy's async X API v2 clients, optionally pointed at
another base URL (the local emulator, ``xemulator``).

Tweepy 4.17 hard-codes ``https://api.twitter.com`` into its URLs but sends
every request through the client's ``session`` attribute. An aiohttp (>= 3.12)
client middleware rewrites each request's scheme/host/port (keeping path and
query) and its Host header before it is sent, so Tweepy needs no patching::

    client.session = make_x_session(settings.X_API_BASE_URL)
    client.filter(...)

Tweepy closes ``session`` when a stream ends (``AsyncBaseStream._connect``'s
``finally``), so create a fresh one before every ``filter()`` and before rules
calls made after a stream has ended. Reconnects inside one ``filter()`` reuse
the same (still open) session, so they keep being redirected.

Line length (``read_bufsize``), as measured on aiohttp 3.14:
``async for line in resp.content`` (what Tweepy uses) calls
``StreamReader.readline()``, which raises ``aiohttp.http_exceptions.LineTooLong``
once a line exceeds twice the reader's limit, and that limit *is* the
session's ``read_bufsize`` (aiohttp default 2**18 = 256 KiB, so lines over
512 KiB fail). ``LineTooLong`` is neither a ``ClientConnectionError`` nor a
``ClientPayloadError``, so Tweepy does not reconnect: it calls
``on_exception`` and the stream task ends for good. Passing ``read_bufsize``
to ``ClientSession`` does raise the ceiling: with the default 2**20 here,
lines up to 2 MiB (e.g. a 1 MB line) are delivered intact. The cost is that
the reader may buffer up to ~2x ``read_bufsize`` before applying
back-pressure. ``tests/test_xemulator.py`` checks both sides of this.
"""

from __future__ import annotations

import aiohttp
from yarl import URL

X_API_BASE_URL = "https://api.twitter.com"
# Hosts whose requests are redirected (Tweepy only uses api.twitter.com).
_X_HOSTS = frozenset({"api.twitter.com", "api.x.com"})


def make_x_session(
    base_url: str, *, read_timeout: float = 30, read_bufsize: int = 2**20
) -> aiohttp.ClientSession:
    """A ClientSession for Tweepy's ``session`` attribute.

    ``base_url == "https://api.twitter.com"`` gives a plain session; any other
    base URL (``http://127.0.0.1:8099``, optionally with a path prefix) gives
    one whose middleware sends X API requests there instead. ``read_timeout``
    is the socket read timeout (X sends a keep-alive every 20 s, so a stalled
    stream is detected after this long); ``read_bufsize`` bounds the longest
    stream line to 2 x ``read_bufsize`` (see the module docstring). Must be
    called with an event loop running.
    """
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=read_timeout)
    if base_url.rstrip("/") == X_API_BASE_URL:
        return aiohttp.ClientSession(timeout=timeout, read_bufsize=read_bufsize)
    return aiohttp.ClientSession(
        timeout=timeout,
        read_bufsize=read_bufsize,
        middlewares=(_redirect_middleware(base_url),),
    )


def _redirect_middleware(base_url: str):
    target = URL(base_url)
    if not target.is_absolute() or target.scheme not in ("http", "https"):
        raise ValueError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
    prefix = target.raw_path.rstrip("/")

    async def redirect_to_base_url(
        req: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        if req.url.host in _X_HOSTS:
            req.url = URL.build(
                scheme=target.scheme,
                host=target.raw_host,
                port=target.explicit_port,
                path=prefix + req.url.raw_path,
                query_string=req.url.raw_query_string,
                encoded=True,
            )
            req.headers["Host"] = req.url.host_port_subcomponent
        return await handler(req)

    return redirect_to_base_url
