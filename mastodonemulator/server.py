"""aiohttp applications: the Mastodon REST and streaming endpoints of one instance, plus
``/_emulator/*`` control endpoints for tests, benchmarks and drills.

Mastodon endpoints (documents in mastodon/documentation, ``content/en/``):

* ``GET /api/v2/instance``, ``GET /api/v1/instance`` (methods/instance.md)
* ``GET /api/v1/timelines/tag/:hashtag`` (methods/timelines.md), ``GET /api/v1/statuses/:id``
* ``GET /api/v1/streaming`` WebSocket, ``GET /api/v1/streaming/health`` (methods/streaming.md)

REST answers are rate limited per token, else per IP (api/rate-limits.md); streaming is not.

Control endpoints (JSON bodies; refused unless the peer is loopback):

* ``GET  /_emulator/state``
* ``POST /_emulator/accounts`` ``{"username", "domain"?, "display_name"?, "bot"?, "avatar"?, ...}``
* ``POST /_emulator/emojis`` ``{"shortcode", "url"?}``
* ``POST /_emulator/tokens`` ``{"token", "scopes"?: "read", "user"?: true}``
* ``POST /_emulator/statuses`` ``{"text" | "content", "account"?, "tags"?, "spoiler_text"?,
  "sensitive"?, "visibility"?, "language"?, "media"?, "emojis"?, "mentions"?, "in_reply_to"?,
  "reblog_of"?, "uri"?, "url"?, "created_at"?}`` → the Status entity
* ``POST /_emulator/statuses/<id>/edit`` ``{"text" | "content", "spoiler_text"?, "sensitive"?,
  "media"?, "language"?}`` and ``POST /_emulator/statuses/<id>/delete``
* ``POST /_emulator/federate`` ``{"status": <a Status entity from another instance>}``
* ``POST /_emulator/streaming/drop`` ``{"code"?: 1001}`` (no code: the TCP connection is cut)
* ``POST /_emulator/streaming/refuse`` ``{"status": 503}``; ``{"status": null}`` accepts again
* ``POST /_emulator/streaming/raw`` ``{"text"}`` (one text frame, as given, to every socket)
* ``POST /_emulator/tokens/revoke`` ``{"token"}`` (REST 401 from now on; its sockets are closed)
* ``POST /_emulator/ratelimit/exhaust`` ``{"seconds"}`` (every REST request 429 until then)
* ``POST /_emulator/rate`` ``{"rate": 50, "count": 1500, "text"?, "account"?}``; ``{"stop": true}``
* ``POST /_emulator/reset``
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from urllib.parse import urlencode

from aiohttp import WSMsgType, web

from .core import MastodonCore
from .instance import instance_v1, instance_v2
from .store import dumps
from .streaming import StreamError, parse_subscription

log = logging.getLogger("mastodonemulator")

CORE_KEY = web.AppKey("core", MastodonCore)
ROLE_KEY = web.AppKey("role", str)
STREAMING_PATH = "/api/v1/streaming"
HEALTH_PATH = "/api/v1/streaming/health"
PING_INTERVAL_S = 30.0  # the docs name no WebSocket keep-alive; the emulator pings so dead peers go
PAGING_PARAMS = ("limit", "local", "remote", "only_media", "any[]", "all[]", "none[]")  # kept in Link URLs


def json_response(body: object, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(text=dumps(body), status=status, headers=headers, content_type="application/json")


def error(status: int, message: str, headers: dict | None = None) -> web.Response:
    """Mastodon's error entity (entities/Error.md): ``{"error": "..."}``."""
    return json_response({"error": message}, status, headers)


def _is_loopback(remote: str | None) -> bool:
    try:
        return bool(remote) and ipaddress.ip_address(remote.split("%")[0]).is_loopback
    except ValueError:
        return False


@web.middleware
async def _gate(request: web.Request, handler):
    core = request.app[CORE_KEY]
    if request.path.startswith("/_emulator/"):
        if not _is_loopback(request.remote):
            return error(403, "Control endpoints are loopback-only.")
        return await handler(request)
    if not request.path.startswith("/api/") or request.path.startswith(STREAMING_PATH):
        return await handler(request)
    core.record_request(request)
    allowed, headers = core.limiter.hit(core.rate_key(request))
    if not allowed:
        return error(429, "Too many requests", headers)  # methods/accounts.md shows this body
    token = core.token_of(request)
    if token is not None and token not in core.tokens:
        response = error(401, "The access token is invalid")  # timelines.md 401
    else:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            response = error(exc.status, exc.reason)
    response.headers.update(headers)
    return response


# -- REST ----------------------------------------------------------------------


async def get_instance_v2(request: web.Request) -> web.Response:
    return json_response(instance_v2(request.app[CORE_KEY], request))


async def get_instance_v1(request: web.Request) -> web.Response:
    return json_response(instance_v1(request.app[CORE_KEY], request))


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes", "on")


async def tag_timeline(request: web.Request) -> web.Response:
    core, q = request.app[CORE_KEY], request.query
    if not core.public_timelines and core.token_of(request) is None:
        return error(401, "The access token is invalid")
    limit = _int(q.get("limit")) or 20
    page = core.store.tag_timeline(
        request.match_info["hashtag"],
        any_tags=q.getall("any[]", []),
        all_tags=q.getall("all[]", []),
        none_tags=q.getall("none[]", []),
        local=_flag(q.get("local")),
        remote=_flag(q.get("remote")),
        only_media=_flag(q.get("only_media")),
        max_id=_int(q.get("max_id")),
        since_id=_int(q.get("since_id")),
        min_id=_int(q.get("min_id")),
        limit=limit,
    )
    if page is None:
        return error(404, "Record not found")  # timelines.md: "Hashtag does not exist"
    links = []
    kept = [(k, v) for k, v in q.items() if k in PAGING_PARAMS]
    base = f"{request.scheme}://{request.host}{request.path}"
    if page and len(page) >= min(limit, 40):  # a full page: there may be older statuses
        links.append(f'<{base}?{urlencode([*kept, ("max_id", page[-1]["id"])])}>; rel="next"')
    if page:
        links.append(f'<{base}?{urlencode([*kept, ("min_id", page[0]["id"])])}>; rel="prev"')
    return json_response(page, headers={"Link": ", ".join(links)} if links else None)


async def get_status(request: web.Request) -> web.Response:
    entity = request.app[CORE_KEY].store.get(request.match_info["id"])
    return error(404, "Record not found") if entity is None else json_response(entity)


# -- streaming -------------------------------------------------------------------


async def health(request: web.Request) -> web.Response:
    refusal = request.app[CORE_KEY].streaming_refusal
    if refusal:
        return web.Response(text="Service Unavailable", status=refusal)
    return web.Response(text="OK")


async def streaming(request: web.Request) -> web.StreamResponse:
    core = request.app[CORE_KEY]
    role = request.app[ROLE_KEY]
    if role == "rest":  # streaming.md "Hostname discovery": the REST host redirects to the streaming host
        raise web.HTTPMovedPermanently(core.streaming_url + request.path_qs)
    ws = web.WebSocketResponse(heartbeat=PING_INTERVAL_S, protocols=_offered_protocols(request))
    if not ws.can_prepare(request).ok:
        if role == "streaming":
            return error(400, "Unknown channel requested")  # streaming.md "Error responses"
        return error(404, "Not Found")  # "Hostname discovery": Not Found when the same host serves it
    core.connect_count += 1
    if core.streaming_refusal:
        return error(core.streaming_refusal, "Streaming is unavailable")
    refused = core.check_stream_token(request)
    if refused is not None:
        log.info("stream handshake refused: %d %s", *refused)
        return error(*refused)
    await ws.prepare(request)
    conn = core.open_connection(ws, request)
    pump = asyncio.get_running_loop().create_task(conn.pump())
    reason = "client closed"
    try:
        if "stream" in request.query:
            _handle(core, conn, {"type": "subscribe", **request.query})
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                _handle(core, conn, msg.data)
    except (ConnectionError, RuntimeError) as exc:
        reason = f"client gone: {exc.__class__.__name__}"
    finally:
        pump.cancel()
        core.close_connection(conn, reason)
    return ws


def _offered_protocols(request: web.Request) -> tuple[str, ...]:
    """Echo a token sent as Sec-WebSocket-Protocol, or browsers would fail the handshake."""
    offered = request.headers.get("Sec-WebSocket-Protocol", "")
    return tuple(p.strip() for p in offered.split(",") if p.strip())[:1]


def _handle(core: MastodonCore, conn, data: str | dict) -> None:
    """A client message: subscribe or unsubscribe; anything unparseable is ignored."""
    try:
        message = json.loads(data) if isinstance(data, str) else data
    except ValueError:
        return
    if not isinstance(message, dict) or message.get("type") not in ("subscribe", "unsubscribe"):
        return
    try:
        sub = parse_subscription(message)
        if not core.tokens[conn.token].can_read_statuses:
            raise StreamError("Access token does not have the required scopes", 401)
    except StreamError as exc:
        conn.push({"error": str(exc), "status": exc.status})
        return
    if message["type"] == "subscribe":
        conn.subscribe(sub)
    else:
        conn.unsubscribe(sub)


# -- control ---------------------------------------------------------------------


async def _body(request: web.Request) -> dict:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError as exc:
        raise web.HTTPBadRequest(text=f"invalid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="expected a JSON object")
    return body


def _control(fn):
    """Run a control action; KeyError → 404, ValueError/TypeError → 400, as JSON."""

    async def handler(request: web.Request) -> web.Response:
        body = await _body(request)
        try:
            return json_response(fn(request.app[CORE_KEY], body, request.match_info))
        except KeyError as exc:
            return error(404, str(exc.args[0]) if exc.args else "Record not found")
        except (ValueError, TypeError) as exc:
            return error(400, str(exc))

    return handler


EMIT_FIELDS = (
    "text content account tags spoiler_text sensitive visibility language media emojis mentions "
    "in_reply_to reblog_of uri url created_at"
).split()
EDIT_FIELDS = ("text", "content", "spoiler_text", "sensitive", "media", "language", "edited_at")


def _pick(body: dict, names: tuple[str, ...] | list[str]) -> dict:
    return {k: body[k] for k in names if k in body}


CONTROLS = {
    "accounts": lambda core, b, _: core.store.account(b).entity(),
    "emojis": lambda core, b, _: core.store.add_emoji(b["shortcode"], b.get("url"), b.get("category")),
    "tokens": lambda core, b, _: core.add_token(b["token"], b),
    "statuses": lambda core, b, _: core.store.emit(**_pick(b, EMIT_FIELDS)),
    "statuses/{id}/edit": lambda core, b, m: core.store.edit(m["id"], **_pick(b, EDIT_FIELDS)),
    "statuses/{id}/delete": lambda core, b, m: {"deleted": core.store.delete(m["id"])},
    "federate": lambda core, b, _: core.store.federate(b["status"]),
    "streaming/drop": lambda core, b, _: {"dropped": core.drop_connections(b.get("code"))},
    "streaming/refuse": lambda core, b, _: {"refusal": core.refuse_streaming(b.get("status", 503))},
    "streaming/raw": lambda core, b, _: {"sent": core.send_raw(str(b["text"]))},
    "tokens/revoke": lambda core, b, _: {"closed": core.revoke_token(str(b["token"]))},
    "ratelimit/exhaust": lambda core, b, _: {"until": core.limiter.exhaust(float(b["seconds"]))},
    "rate": lambda core, b, _: (
        core.stop_rate()
        if b.get("stop")
        else core.start_rate(
            float(b.get("rate", 50)), int(b.get("count", 0)), **_pick(b, ("text", "account"))
        )
    ),
    "reset": lambda core, b, _: core.reset() or core.state(),
}


async def control_state(request: web.Request) -> web.Response:
    return json_response(request.app[CORE_KEY].state())


def build_app(core: MastodonCore, role: str = "both") -> web.Application:
    """``role``: "both" (REST + streaming on one host), "rest", or "streaming" (a separate
    streaming host, as ``configuration.urls.streaming`` may point to)."""
    app = web.Application(middlewares=[_gate], client_max_size=16 * 2**20)
    app[CORE_KEY] = core
    app[ROLE_KEY] = role
    app.router.add_get(HEALTH_PATH, health)
    app.router.add_get(STREAMING_PATH, streaming)
    if role == "streaming":
        return app
    app.router.add_get("/api/v2/instance", get_instance_v2)
    app.router.add_get("/api/v1/instance", get_instance_v1)
    app.router.add_get("/api/v1/timelines/tag/{hashtag}", tag_timeline)
    app.router.add_get("/api/v1/statuses/{id}", get_status)
    app.router.add_get("/_emulator/state", control_state)
    for name, fn in CONTROLS.items():
        app.router.add_post(f"/_emulator/{name}", _control(fn))
    return app
