"""Bluesky's Jetstream misbehaving under the worker: the connection dropped or refused for a while
(the source resumes from a cursor and Jetstream replays), malformed lines, a 1 MB event and an
event of a kind nobody documented yet.

Every post the emulator accepts is kept in its buffer and replayed to a cursor, so every one is
delivered by the network: each must be stored once and shown once on the Bluesky topic's page. The
source rewinds its cursor a few seconds (CURSOR_REWIND_US), so posts it already had come again after
every reconnect: they must not show twice.
"""

import asyncio
import json
import time

from drill.runner import Drill, Result, Step, stored_length_check

# The source's rewind (streamer/sources/bluesky.py CURSOR_REWIND_US): posts this recent come again.
REWIND_US = 3_000_000
RECONNECT_WITHIN_S = 15.0
OUTAGE_S = 6.0  # Jetstream refuses connections this long; the source backs off 0.5, 1, 2, 4 s ...
FLOW_EVERY_S = 0.5
# The source asks Jetstream to skip events larger than this (maxMessageSizeBytes).
MAX_EVENT_BYTES = 1_000_000
_SKIPPED_LOG = "bluesky: event skipped"


async def _post(step: Step, body: str = ".") -> dict:
    """A good post whose event the step needs (its time_us); it is expected like any other."""
    prefix = step.prefix()
    event = await step.d.bluesky.post(prefix + body)
    step.expected.append(prefix)
    return event


def _started(state: dict) -> list[dict]:
    return [c for c in state["connections"] if c["started"]]


async def _reconnected(step: Step, connects: int, within: float = RECONNECT_WITHIN_S) -> dict | None:
    """The new connection once the worker is subscribed again, or None (a problem) after `within`."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        state = await step.d.bluesky.state()
        if state["connect_count"] > connects and (started := _started(state)):
            return started[-1]
        await asyncio.sleep(0.1)
    step.problems.append(f"the worker did not subscribe again within {within:.0f} s")
    return None


def _check_cursor(step: Step, connection: dict | None, seen: dict, missed: dict) -> None:
    """The new connection must ask for a replay from before the posts it missed, and, with the
    rewind, from before the last post it had (those come twice: they must show once)."""
    if connection is None:
        return
    cursor = connection["cursor"]
    if cursor is None or cursor > missed["time_us"]:
        step.problems.append(f"resumed at cursor {cursor}, after the post made while away")
    elif cursor <= seen["time_us"]:
        step.notes.append(f"cursor {(seen['time_us'] - cursor) / 1e6:.1f}s before the last post seen")
    else:
        step.notes.append("cursor after the last post seen: nothing replayed twice")


async def _same_connection(step: Step, connects: int) -> None:
    if (now := (await step.d.bluesky.state())["connect_count"]) != connects:
        step.problems.append(f"Jetstream reconnected ({now - connects}x); it should read on")


async def dropped_and_replayed(d: Drill) -> Result:
    step = await d.step("Bluesky: dropped, replayed", "bskydrop", "bluesky")
    connects = (await d.bluesky.state())["connect_count"]
    await step.good(1)
    seen = await _post(step)
    await step.wait_stored()  # had, and within the rewind: the replay brings it again
    await d.bluesky.drop()
    missed = await _post(step)  # nobody subscribed: only the cursor's replay brings it
    await step.good(1)
    _check_cursor(step, await _reconnected(step, connects), seen, missed)
    await step.good(2)
    step.expect_worker_log("reconnecting in")
    await step.source_state("bluesky", ("streaming",), "Bluesky's source is not streaming again")
    return await step.finish()


async def outage(d: Drill) -> Result:
    """Jetstream drops the connection and refuses new ones for OUTAGE_S; posts go on meanwhile."""
    step = await d.step(f"Bluesky: down {OUTAGE_S:.0f}s", "bskyoutage", "bluesky")
    connects = (await d.bluesky.state())["connect_count"]
    seen = await _post(step)
    await step.wait_stored()
    await d.bluesky.refuse(503)
    await d.bluesky.drop()
    missed = await _post(step)
    try:
        deadline = time.monotonic() + OUTAGE_S
        while time.monotonic() < deadline:
            await step.good(1)
            await asyncio.sleep(FLOW_EVERY_S)
    finally:
        await d.bluesky.refuse(None)
    refused = (await d.bluesky.state())["refused_count"]
    step.notes.append(f"{refused} connects refused in all")
    _check_cursor(step, await _reconnected(step, connects), seen, missed)
    await step.good(2)
    step.expect_worker_log("HTTP 503")
    await step.source_state("bluesky", ("streaming",), "Bluesky's source is not streaming again")
    return await step.finish()


async def malformed_events(d: Drill) -> Result:
    """Lines that are not JSON, events without the fields a post needs: skipped, logged, the
    connection reads on. None of them may be stored."""
    step = await d.step("Bluesky: malformed events", "bskybad", "bluesky")
    connects = (await d.bluesky.state())["connect_count"]
    await step.good(2)
    post = "app.bsky.feed.post"
    bad = [step.prefix() for _ in range(4)]
    step.forbidden += bad
    await d.bluesky.raw(f'{{"kind": "commit", "commit": {{"record": {{"text": "{bad[0]}')  # cut off
    await d.bluesky.raw("[1, 2, 3]")
    await d.bluesky.raw(json.dumps({"kind": "commit", "did": "did:plc:drill", "time_us": 1}))  # no commit
    no_did = {"collection": post, "operation": "create", "rkey": "3kdrill", "record": {"text": bad[1]}}
    await d.bluesky.raw(json.dumps({"kind": "commit", "time_us": 1, "commit": no_did}))
    # Through Jetstream itself (kept, so replayed after later reconnects too): records without text.
    await d.bluesky.commit({"createdAt": "2026-01-01T00:00:00Z", "tags": [bad[2]]})
    await d.bluesky.commit({"text": {"not": bad[3]}, "createdAt": "2026-01-01T00:00:00Z"})
    await step.good(1)  # right behind them, on the same connection
    await step.good(2)
    step.expect_worker_log(_SKIPPED_LOG)
    step.after_store(lambda s: _same_connection(s, connects))
    return await step.finish()


async def event_1_mb(d: Drill) -> Result:
    """A post whose event is just under 1 MB (the size the source lets Jetstream send) is stored, cut
    to the text kept; one over it is skipped by Jetstream, as asked; the connection reads on."""
    step = await d.step("Bluesky: 1 MB event", "bsky1mb", "bluesky")
    connects = (await d.bluesky.state())["connect_count"]
    await step.good(2)
    big = step.prefix()
    event = await d.bluesky.post(big + "y" * (MAX_EVENT_BYTES - 1_000))
    size = len(json.dumps({k: v for k, v in event.items() if k != "uri"}, separators=(",", ":")).encode())
    if size <= MAX_EVENT_BYTES:
        step.expected.append(big)
        step.notes.append(f"event of {size:,} bytes")
    else:
        step.problems.append(f"the drill's big event came out at {size:,} bytes, over the cap")
    await d.bluesky.post(step.prefix() + "z" * (MAX_EVENT_BYTES + 100_000))
    step.notes.append("one over 1 MB skipped by Jetstream (maxMessageSizeBytes)")
    await step.good(2)
    step.after_store(stored_length_check(big))
    step.after_store(lambda s: _same_connection(s, connects))
    return await step.finish()


async def unknown_kind(d: Drill) -> Result:
    """Events of kinds Jetstream v1 does not send (v2's "sync", one from the future): ignored,
    the connection reads on, nothing stored from them."""
    step = await d.step("Bluesky: unknown event kind", "bskykind", "bluesky")
    connects = (await d.bluesky.state())["connect_count"]
    await step.good(2)
    bad = step.prefix()
    step.forbidden.append(bad)
    await d.bluesky.event("sync", {"rev": "3kdrill", "blocks": ""})
    record = {"$type": "app.bsky.feed.post", "text": bad, "createdAt": "2026-01-01T00:00:00Z"}
    await d.bluesky.event("drill-future", {"collection": "app.bsky.feed.post", "record": record})
    await step.good(1)
    await step.good(2)
    step.after_store(lambda s: _same_connection(s, connects))
    return await step.finish()
