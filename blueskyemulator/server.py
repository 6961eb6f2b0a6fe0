"""aiohttp application: Jetstream's ``/subscribe``, the AppView's ``getProfiles``, and
``/_emulator/*`` control endpoints for tests and benchmarks.

Bluesky endpoints (no auth, as the public Jetstream instances and public AppView need none):

* ``GET /subscribe`` WebSocket, query ``wantedCollections``*, ``wantedDids``*, ``cursor``,
  ``maxMessageSizeBytes``, ``requireHello``; ``compress=true`` is refused (see ``core``).
* ``GET /xrpc/app.bsky.feed.getPosts?uris=…&uris=…`` (1 to 25): postViews of the posts it
  emitted (and still keeps), in the order asked; unknown ones left out, as the AppView does
* ``GET /xrpc/app.bsky.actor.getProfiles?actors=…&actors=…`` (1 to 25); any other ``/xrpc/``
  method answers 501 ``MethodNotImplemented``.

Control endpoints (JSON bodies; refused unless the peer is loopback):

* ``GET  /_emulator/state``
* ``POST /_emulator/accounts`` ``{"handle", "did"?, "displayName"?, "avatar"?, "description"?}``
* ``POST /_emulator/post`` ``{"text", "author"?, "rkey"?, "tags"?, "langs"?, "reply_to"?,
  "quote"?, "images"?: [{"alt", "aspectRatio"?}], "external"?: {"uri", "title", "description"},
  "created_at"?}`` (author: a handle or DID; ``reply_to`` and ``quote`` are AT URIs)
* ``POST /_emulator/update`` ``{"uri", "text", …as post}`` | ``/_emulator/delete`` ``{"uri"}``
* ``POST /_emulator/identity`` ``{"actor", "handle"}`` | ``/_emulator/account``
  ``{"actor", "active", "status"?}``
* ``POST /_emulator/like`` | ``/_emulator/repost`` ``{"subject": uri, "author"?}``;
  ``/_emulator/follow`` ``{"subject": actor, "author"?}``; ``/_emulator/commit``
  ``{"did", "collection", "operation", "rkey"?, "record"?}`` (any collection)
* ``POST /_emulator/resend`` ``{"count", "connects"?: 1}`` (duplicates on the next connects)
* ``POST /_emulator/drop`` (cut every subscriber's connection)
* ``POST /_emulator/refuse`` ``{"status": 503}`` (answer /subscribe so until ``{"status": null}``)
* ``POST /_emulator/event`` ``{"kind", "body", "did"?}`` (an event of any kind, kept for replay)
* ``POST /_emulator/raw`` ``{"text"}`` (one frame, as given, to every subscriber; not kept)
* ``POST /_emulator/rate`` ``{"rate", "count", "word", "match_ratio", "seed"?}``; ``{"stop": true}``
* ``POST /_emulator/profiles`` ``{"latency": seconds}`` (getProfiles' artificial latency)
* ``POST /_emulator/reset``
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging

from aiohttp import WSMsgType, web

from .appview import xrpc_error
from .core import BlueskyCore
from .jetstream import MAX_CLIENT_MESSAGE, OptionsError

log = logging.getLogger("blueskyemulator")

CORE_KEY = web.AppKey("core", BlueskyCore)
GET_PROFILES = "/xrpc/app.bsky.actor.getProfiles"
GET_POSTS = "/xrpc/app.bsky.feed.getPosts"


def json_response(body: dict, status: int = 200) -> web.Response:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return web.Response(text=text, status=status, content_type="application/json")


def _is_loopback(remote: str | None) -> bool:
    try:
        return bool(remote) and ipaddress.ip_address(remote.split("%")[0]).is_loopback
    except ValueError:
        return False


@web.middleware
async def _gate(request: web.Request, handler):
    if request.path.startswith("/_emulator/") and not _is_loopback(request.remote):
        return json_response({"error": "Forbidden", "message": "Control endpoints are loopback-only."}, 403)
    try:
        return await handler(request)
    except (KeyError, ValueError, TypeError) as exc:
        if not request.path.startswith("/_emulator/"):
            raise
        return json_response({"error": "BadRequest", "message": f"{exc.__class__.__name__}: {exc}"}, 400)


# -- Jetstream -----------------------------------------------------------------------------------


async def subscribe(request: web.Request) -> web.StreamResponse:
    core = request.app[CORE_KEY]
    if core.refusal:
        core.connect_count += 1
        core.refused_count += 1
        return web.Response(status=core.refusal, text="Jetstream is unavailable")
    try:
        flt, cursor, hello = core.subscribe_options(request)
    except OptionsError as exc:
        core.refused_count += 1
        log.info("subscribe refused: %s", exc)
        return web.Response(status=400, text=str(exc))
    ws = web.WebSocketResponse(max_msg_size=MAX_CLIENT_MESSAGE)
    await ws.prepare(request)
    sub = core.open_subscriber(request, ws, flt, cursor, hello)
    pump = asyncio.create_task(sub.pump())

    def pump_done(task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:  # a write failed: the peer is gone
            sub.abort(f"write failed: {task.exception().__class__.__name__}")

    pump.add_done_callback(pump_done)
    try:
        async for msg in ws:  # ends when the client closes, or after sub.close() / sub.abort()
            if msg.type == WSMsgType.TEXT:
                core.options_update(sub, msg.data)
            # binary messages are ignored, as server.go does
    finally:
        pump.cancel()
        core.close_subscriber(sub, "client closed")
    return ws


# -- AppView -------------------------------------------------------------------------------------


async def get_profiles(request: web.Request) -> web.Response:
    core = request.app[CORE_KEY]
    actors = request.query.getall("actors", [])
    core.profile_calls += 1
    core.profile_requests.append(actors)
    if core.profile_latency > 0:
        await asyncio.sleep(core.profile_latency)
    status, body = core.accounts.get_profiles(actors)
    return json_response(body, status)


async def get_posts(request: web.Request) -> web.Response:
    core = request.app[CORE_KEY]
    uris = request.query.getall("uris", [])
    core.post_requests.append(uris)
    if core.profile_latency > 0:  # the same AppView, as slow for posts as for profiles
        await asyncio.sleep(core.profile_latency)
    status, body = core.get_posts(uris)
    return json_response(body, status)


async def xrpc_unknown(request: web.Request) -> web.Response:
    return json_response(xrpc_error("MethodNotImplemented", "Method Not Implemented"), 501)


# -- control -------------------------------------------------------------------------------------


async def _body(request: web.Request) -> dict:
    if not request.can_read_body:
        return {}
    body = await request.json()
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    return body


_POST_FIELDS = ("tags", "langs", "reply_to", "quote", "images", "external", "created_at")


def _post_fields(body: dict) -> dict:
    return {k: body[k] for k in _POST_FIELDS if k in body}


async def control_state(request: web.Request) -> web.Response:
    return json_response(request.app[CORE_KEY].state())


async def control_accounts(request: web.Request) -> web.Response:
    b = await _body(request)
    account = request.app[CORE_KEY].add_account(
        b["handle"],
        did=b.get("did"),
        display_name=b.get("displayName"),
        avatar=b.get("avatar"),
        description=b.get("description"),
    )
    return json_response(account.profile_view())


async def control_post(request: web.Request) -> web.Response:
    b = await _body(request)
    core = request.app[CORE_KEY]
    return json_response(core.post(b["text"], b.get("author"), rkey=b.get("rkey"), **_post_fields(b)))


async def control_update(request: web.Request) -> web.Response:
    b = await _body(request)
    return json_response(request.app[CORE_KEY].update_post(b["uri"], b["text"], **_post_fields(b)))


async def control_delete(request: web.Request) -> web.Response:
    return json_response(request.app[CORE_KEY].delete((await _body(request))["uri"]))


async def control_identity(request: web.Request) -> web.Response:
    b = await _body(request)
    return json_response(request.app[CORE_KEY].identity(b["actor"], b["handle"]))


async def control_account(request: web.Request) -> web.Response:
    b = await _body(request)
    return json_response(request.app[CORE_KEY].account_status(b["actor"], bool(b["active"]), b.get("status")))


async def control_like(request: web.Request) -> web.Response:
    b = await _body(request)
    return json_response(request.app[CORE_KEY].like(b["subject"], b.get("author")))


async def control_repost(request: web.Request) -> web.Response:
    b = await _body(request)
    return json_response(request.app[CORE_KEY].repost(b["subject"], b.get("author")))


async def control_follow(request: web.Request) -> web.Response:
    b = await _body(request)
    return json_response(request.app[CORE_KEY].follow(b["subject"], b.get("author")))


async def control_commit(request: web.Request) -> web.Response:
    b = await _body(request)
    core = request.app[CORE_KEY]
    return json_response(
        core.commit(
            core.author_did(b["did"]), b["collection"], b["operation"], b.get("rkey"), b.get("record")
        )
    )


async def control_resend(request: web.Request) -> web.Response:
    b = await _body(request)
    core = request.app[CORE_KEY]
    core.resend_on_reconnect(int(b["count"]), int(b.get("connects", 1)))
    return json_response({"pending_resends": list(core.pending_resends)})


async def control_drop(request: web.Request) -> web.Response:
    return json_response({"dropped": request.app[CORE_KEY].drop_connections()})


async def control_refuse(request: web.Request) -> web.Response:
    b = await _body(request)
    status = b.get("status", 503)
    return json_response({"refusal": request.app[CORE_KEY].refuse(int(status) if status else None)})


async def control_event(request: web.Request) -> web.Response:
    b = await _body(request)
    body = b["body"]
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    return json_response(request.app[CORE_KEY].event(b.get("did"), str(b["kind"]), body))


async def control_raw(request: web.Request) -> web.Response:
    b = await _body(request)
    return json_response({"sent": request.app[CORE_KEY].send_raw(str(b["text"]))})


async def control_rate(request: web.Request) -> web.Response:
    b = await _body(request)
    rate = request.app[CORE_KEY].rate
    if b.get("stop"):
        return json_response(rate.stop())
    return json_response(
        rate.start(
            float(b["rate"]),
            int(b["count"]),
            str(b.get("word", "bench")),
            float(b.get("match_ratio", 0.1)),
            b.get("seed"),
        )
    )


async def control_profiles(request: web.Request) -> web.Response:
    b = await _body(request)
    core = request.app[CORE_KEY]
    core.profile_latency = float(b.get("latency", core.profile_latency))
    return json_response({"latency": core.profile_latency, "calls": core.profile_calls})


async def control_reset(request: web.Request) -> web.Response:
    core = request.app[CORE_KEY]
    core.reset()
    return json_response(core.state())


CONTROL = {
    "accounts": control_accounts,
    "post": control_post,
    "update": control_update,
    "delete": control_delete,
    "identity": control_identity,
    "account": control_account,
    "like": control_like,
    "repost": control_repost,
    "follow": control_follow,
    "commit": control_commit,
    "resend": control_resend,
    "drop": control_drop,
    "refuse": control_refuse,
    "event": control_event,
    "raw": control_raw,
    "rate": control_rate,
    "profiles": control_profiles,
    "reset": control_reset,
}


def build_app(core: BlueskyCore) -> web.Application:
    # Control bodies up to 16 MB, as the Mastodon emulator takes: a post of a few MB for size tests.
    app = web.Application(middlewares=[_gate], client_max_size=16 * 2**20)
    app[CORE_KEY] = core
    app.router.add_get("/subscribe", subscribe)
    app.router.add_get(GET_PROFILES, get_profiles)
    app.router.add_get(GET_POSTS, get_posts)
    app.router.add_route("*", "/xrpc/{method}", xrpc_unknown)
    app.router.add_get("/_emulator/state", control_state)
    for name, handler in CONTROL.items():
        app.router.add_post(f"/_emulator/{name}", handler)
    return app
