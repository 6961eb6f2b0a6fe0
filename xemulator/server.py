"""aiohttp application: the X API v2 filtered stream endpoints, plus
``/_emulator/*`` control endpoints for tests, benchmarks and fault drills.

X endpoints (Bearer token required, 401 with X's body otherwise):

* ``GET  /2/tweets/search/stream/rules[?ids=1,2]``
* ``POST /2/tweets/search/stream/rules[?dry_run=true]`` ``{"add": [...]}`` or
  ``{"delete": {"ids": [...]}}``
* ``GET  /2/tweets/search/stream`` (chunked, ``\\r\\n``-terminated JSON lines)

Control endpoints (no auth; refused unless the peer is loopback):

* ``GET  /_emulator/state[?full=1]``
* ``POST /_emulator/emit`` ``{"text", "author"?, "tweet_id"?, "created_at"?, "lang"?,
  "reply_to"?, "quote_of"?, "retweet_of"?, "media_keys"?, "media"?, "possibly_sensitive"?}`` (ids
  of emitted Posts; ``author`` may carry ``created_at`` and ``public_metrics``; ``media``: X media
  objects without keys, see ``EmulatorCore.emit``)
* ``POST /_emulator/emit_raw[?newline=0]`` body = the raw bytes
* ``POST /_emulator/fail`` ``{"status": 503, "count": 1, "body"?: {...}}``
* ``POST /_emulator/drop`` | ``/_emulator/stall`` (``{"stalled": false}`` resumes)
  | ``/_emulator/operational_disconnect``
* ``POST /_emulator/rate`` ``{"rate": 50, "count": 1500, "text": "bench {n}",
  "author"?: {...}}``; ``{"stop": true}`` stops it
* ``POST /_emulator/rules`` ``{"value", "tag"?}`` (adds a rule, no token)
* ``POST /_emulator/reset``
"""

from __future__ import annotations

import ipaddress
import json
import logging

from aiohttp import web

from . import payloads as p
from .core import EmulatorCore

log = logging.getLogger("xemulator")

STREAM_PATH = "/2/tweets/search/stream"
RULES_PATH = "/2/tweets/search/stream/rules"
CORE_KEY = web.AppKey("core", EmulatorCore)


def json_response(body: dict, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(
        body=p.dumps(body),
        status=status,
        headers=headers,
        content_type="application/json",
        charset="utf-8",
    )


def _is_loopback(remote: str | None) -> bool:
    if not remote:
        return False
    try:
        return ipaddress.ip_address(remote.split("%")[0]).is_loopback
    except ValueError:
        return False


@web.middleware
async def _gate(request: web.Request, handler):
    core = request.app[CORE_KEY]
    if request.path.startswith("/2/"):
        if request.path != STREAM_PATH:  # the stream handler records and counts itself
            core.record_request(request)
            if not core.authorized(request):
                return json_response(p.UNAUTHORIZED, 401)
    elif request.path.startswith("/_emulator/") and not _is_loopback(request.remote):
        return json_response(p.http_problem(403, "Control endpoints are loopback-only."), 403)
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status >= 400 and request.path.startswith("/2/"):
            return json_response(p.http_problem(exc.status), exc.status)
        raise


# -- X API -------------------------------------------------------------------


async def get_rules(request: web.Request) -> web.Response:
    core = request.app[CORE_KEY]
    return json_response(core.rulebook.get(p.split_param(request.query.get("ids"))))


async def post_rules(request: web.Request) -> web.Response:
    core = request.app[CORE_KEY]
    try:
        payload = await request.json(loads=json.loads)
    except ValueError:
        return json_response(p.invalid_request("Request body is not valid JSON."), 400)
    dry_run = request.query.get("dry_run", "false").lower() == "true"
    status, body = core.rulebook.modify(payload, dry_run=dry_run)
    return json_response(body, status)


async def stream(request: web.Request) -> web.StreamResponse:
    core = request.app[CORE_KEY]
    refusal = core.admit(request)
    if refusal is not None:
        status, body, headers = refusal
        return json_response(body, status, headers)
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    conn = core.open_connection(request)
    reason = "closed by server"
    try:
        await conn.pump(resp, core.keepalive_interval)
    except (ConnectionError, RuntimeError) as exc:  # client went away mid-write
        reason = f"client gone: {exc.__class__.__name__}"
    except BaseException:
        reason = "client disconnected"
        raise
    finally:
        core.close_connection(conn, reason)
    return resp


# -- control -----------------------------------------------------------------


async def _json_body(request: web.Request) -> dict:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError as exc:
        raise web.HTTPBadRequest(text=f"invalid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="expected a JSON object")
    return body


async def control_state(request: web.Request) -> web.Response:
    full = request.query.get("full", "0").lower() in ("1", "true", "yes")
    return json_response(request.app[CORE_KEY].state(full=full))


async def control_emit(request: web.Request) -> web.Response:
    body = await _json_body(request)
    if not isinstance(body.get("text"), str):
        raise web.HTTPBadRequest(text="'text' (string) is required")
    message = request.app[CORE_KEY].emit(
        body["text"],
        author=body.get("author"),
        tweet_id=body.get("tweet_id"),
        created_at=body.get("created_at"),
        lang=body.get("lang", "en"),
        reply_to=body.get("reply_to"),
        media_keys=body.get("media_keys") or [],
        media=body.get("media") or [],
        possibly_sensitive=bool(body.get("possibly_sensitive")),
        quote_of=body.get("quote_of"),
        retweet_of=body.get("retweet_of"),
    )
    return json_response({"delivered": message is not None, "message": message})


async def control_emit_raw(request: web.Request) -> web.Response:
    data = await request.read()
    newline = request.query.get("newline", "1").lower() not in ("0", "false", "no")
    return json_response({"sent": request.app[CORE_KEY].emit_raw(data, newline=newline)})


async def control_fail(request: web.Request) -> web.Response:
    body = await _json_body(request)
    try:
        status, count = int(body.get("status", 503)), int(body.get("count", 1))
    except (TypeError, ValueError) as exc:
        raise web.HTTPBadRequest(text="'status' and 'count' must be integers") from exc
    core = request.app[CORE_KEY]
    core.fail_next_connects(status, count, body.get("body"))
    return json_response({"pending_failures": [s for s, _ in core.pending_failures]})


async def control_drop(request: web.Request) -> web.Response:
    return json_response({"dropped": request.app[CORE_KEY].drop_connections()})


async def control_stall(request: web.Request) -> web.Response:
    body = await _json_body(request)
    stalled = bool(body.get("stalled", True))
    return json_response({"stalled": request.app[CORE_KEY].stall(stalled)})


async def control_operational_disconnect(request: web.Request) -> web.Response:
    return json_response({"disconnected": request.app[CORE_KEY].operational_disconnect()})


async def control_rate(request: web.Request) -> web.Response:
    body = await _json_body(request)
    core = request.app[CORE_KEY]
    if body.get("stop"):
        return json_response(core.stop_rate())
    try:
        status = core.start_rate(
            float(body.get("rate", 50)),
            int(body.get("count", 0)),
            str(body.get("text", "bench {n} t={t} #bench")),
            body.get("author"),
            body.get("media") or [],
        )
    except (TypeError, ValueError) as exc:
        raise web.HTTPBadRequest(text=str(exc)) from exc
    return json_response(status)


async def control_rules(request: web.Request) -> web.Response:
    body = await _json_body(request)
    status, result = request.app[CORE_KEY].rulebook.modify(
        {"add": [{k: v for k, v in body.items() if k in ("value", "tag")}]}
    )
    return json_response(result, status)


async def control_reset(request: web.Request) -> web.Response:
    core = request.app[CORE_KEY]
    core.reset()
    return json_response(core.state())


def build_app(core: EmulatorCore) -> web.Application:
    app = web.Application(middlewares=[_gate], client_max_size=16 * 2**20)
    app[CORE_KEY] = core
    app.router.add_get(RULES_PATH, get_rules)
    app.router.add_post(RULES_PATH, post_rules)
    app.router.add_get(STREAM_PATH, stream)
    app.router.add_get("/_emulator/state", control_state)
    for name, handler in (
        ("emit", control_emit),
        ("emit_raw", control_emit_raw),
        ("fail", control_fail),
        ("drop", control_drop),
        ("stall", control_stall),
        ("operational_disconnect", control_operational_disconnect),
        ("rate", control_rate),
        ("rules", control_rules),
        ("reset", control_reset),
    ):
        app.router.add_post(f"/_emulator/{name}", handler)
    return app
