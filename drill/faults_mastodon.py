"""A Mastodon instance misbehaving under the worker: the stream dropped, the token refused (401:
the source falls back to polling the tag timeline), the timeline rate limited (429), malformed and
oversized payloads, an event type the source does not know; then the admin gives a new token and
the source streams again.

A status stays on its tag timeline, so the network delivers every status the emulator accepts,
stream or no stream: each must be stored once and shown once on the Mastodon topic's page. The
order matters: `token_refused` leaves the source polling, `rate_limited` needs it polling (it
refuses the token itself when run alone), `new_token` brings the stream back.
"""

import asyncio
import contextlib
import json
import time

from drill.runner import Drill, Result, Step, stored_length_check
from drill.stack import MASTODON_TAG, MASTODON_TOKEN

RECONNECT_WITHIN_S = 15.0
# The source polls each tag every 10 s (streamer/sources/mastodon.py POLL_INTERVAL_S).
POLL_WAIT_S = 25.0
RATE_LIMITED_S = 12.0  # longer than a poll interval, so a poll meets the 429
FLOW_EVERY_S = 0.5
NEW_TOKEN = "drill-mastodon-token-2"  # noqa: S105 (the emulator's)
NEW_TOKEN_WITHIN_S = 20.0  # the worker reads the instance rows every 5 s
MAX_PAYLOAD_BYTES = 1_000_000
STREAM = ["hashtag", MASTODON_TAG]


async def _same_stream(step: Step, accepted: int) -> None:
    if (now := (await step.d.mastodon.state())["accepted_count"]) != accepted:
        step.problems.append(f"the stream reconnected ({now - accepted}x); it should read on")


async def _streaming_again(step: Step, accepted: int, within: float = RECONNECT_WITHIN_S) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if (await step.d.mastodon.state())[
            "accepted_count"
        ] > accepted and await step.d.mastodon.subscribed():
            return True
        await asyncio.sleep(0.1)
    step.problems.append(f"no stream subscribed again within {within:.0f} s")
    return False


@contextlib.asynccontextmanager
async def _off_stream(step: Step):
    """Note how many of the statuses posted inside went to no stream (only the timeline has them)."""
    before_posted, before_sent = len(step.expected), (await step.d.mastodon.state())["events_published"]
    yield
    posted = len(step.expected) - before_posted
    sent = (await step.d.mastodon.state())["events_published"] - before_sent
    step.notes.append(f"{max(0, posted - sent)} of {posted} posted while no stream carried them")


async def _flow(step: Step) -> None:
    while True:
        await step.good(1)
        await asyncio.sleep(FLOW_EVERY_S)


def _frame(event: str, payload: object) -> str:
    """A streaming message as the server writes it: the payload is JSON encoded a second time."""
    return json.dumps({"stream": STREAM, "event": event, "payload": payload})


def _status(step: Step, prefix: str, **changes) -> dict:
    base = f"https://mastodon.drill.test/users/drill/statuses/{step.token}{len(step.forbidden)}"
    account = {"id": "1", "username": "drill", "acct": "drill", "url": "https://mastodon.drill.test/@drill"}
    status = {"id": "1", "uri": base, "content": f"<p>{prefix} #{MASTODON_TAG}</p>", "account": account}
    return {k: v for k, v in {**status, **changes}.items() if v is not None}


async def dropped_stream(d: Drill) -> Result:
    """The connection cut (no close frame): the source reconnects; statuses made meanwhile are only
    on the timeline, and must arrive all the same."""
    step = await d.step("Mastodon: dropped stream", "mdrop", "mastodon")
    accepted = (await d.mastodon.state())["accepted_count"]
    await step.good(2)
    await step.wait_stored()
    await d.mastodon.drop()
    async with _off_stream(step):
        await step.good(2)  # while the source reconnects: on the timeline, not on any stream
    await _streaming_again(step, accepted)
    await step.good(2)
    step.expect_worker_log("stream ended")
    await step.source_state("mastodon:", ("streaming",), "Mastodon's source is not streaming again")
    return await step.finish()


async def malformed_payloads(d: Drill) -> Result:
    """Messages that are not JSON, payloads that are not a status: logged, skipped, the stream
    reads on, and none of them stored."""
    step = await d.step("Mastodon: malformed payloads", "mbad", "mastodon")
    accepted = (await d.mastodon.state())["accepted_count"]
    await step.good(2)
    bad = [step.prefix() for _ in range(4)]
    step.forbidden += bad
    frames = [
        f"{bad[0]} is not JSON",
        _frame("update", '{"id": "1", "content": "cut off'),
        _frame("update", json.dumps(_status(step, bad[1], uri=None))),  # no uri
        _frame("update", json.dumps(_status(step, bad[2], account=None))),  # no account
        _frame("update", _status(step, bad[3])),  # the status as an object, not encoded again
        _frame("update", "[]"),
        _frame("delete", ["not", "an", "id"]),
        json.dumps([STREAM, "update"]),
        "",
    ]
    for frame in frames:
        await d.mastodon.raw(frame)
    await step.good(1)  # right behind them, on the same stream
    await step.good(2)
    step.expect_worker_log("is not JSON")
    step.expect_worker_log("status rejected")
    step.after_store(lambda s: _same_stream(s, accepted))
    return await step.finish()


async def payload_1_mb(d: Drill) -> Result:
    step = await d.step("Mastodon: 1 MB payload", "m1mb", "mastodon")
    accepted = (await d.mastodon.state())["accepted_count"]
    await step.good(2)
    [big] = await step.good(1, body="y" * MAX_PAYLOAD_BYTES)
    await step.good(2)
    step.after_store(stored_length_check(big))
    step.after_store(lambda s: _same_stream(s, accepted))
    return await step.finish()


async def unknown_event(d: Drill) -> Result:
    """Event types the source does not read (an announcement, a notification, one from a future
    version carrying a status): ignored, the stream reads on, nothing stored from them."""
    step = await d.step("Mastodon: unknown event", "mkind", "mastodon")
    accepted = (await d.mastodon.state())["accepted_count"]
    await step.good(2)
    bad = step.prefix()
    step.forbidden.append(bad)
    announcement = {"id": "1", "content": "<p>maintenance</p>", "published_at": "2026-01-01T00:00:00.000Z"}
    await d.mastodon.raw(_frame("announcement", json.dumps(announcement)))
    await d.mastodon.raw(json.dumps({"stream": ["user"], "event": "notification", "payload": "{}"}))
    await d.mastodon.raw(_frame("status.quote", json.dumps(_status(step, bad))))
    await step.good(1)
    await step.good(2)
    step.after_store(lambda s: _same_stream(s, accepted))
    return await step.finish()


async def _refuse_token(step: Step) -> None:
    """Revoke the instance's token: its stream is closed, a new one refused with 401; the source
    must poll the tag timeline instead."""
    await step.d.mastodon.revoke(MASTODON_TOKEN)
    await step.good(2)  # while the source finds out
    await step.source_state("mastodon:", ("polling",), "Mastodon's source is not polling", within=POLL_WAIT_S)


async def token_refused(d: Drill) -> Result:
    step = await d.step("Mastodon: 401, polls", "m401", "mastodon")
    step.store_wait_s = POLL_WAIT_S
    await step.good(2)
    await step.wait_stored()
    await _refuse_token(step)
    await step.good(2)  # polled
    step.expect_worker_log("stream refused (HTTP 401)")
    return await step.finish()


async def rate_limited(d: Drill) -> Result:
    """While the source polls, the instance answers 429 for RATE_LIMITED_S: the source waits for
    the reset it was given, and reads everything posted meanwhile."""
    step = await d.step("Mastodon: 429 on the timeline", "m429", "mastodon")
    step.store_wait_s = RATE_LIMITED_S + POLL_WAIT_S
    rows = await asyncio.to_thread(d.db.network_status, step.feed.slug)
    if not any(r.get("state") == "polling" for r in rows):
        await _refuse_token(step)
    await step.good(2)
    await step.wait_stored(within=POLL_WAIT_S)
    refused = (await d.mastodon.state())["rate_limit"]["refused"]
    await d.mastodon.exhaust_rate_limit(RATE_LIMITED_S)
    await step.good(2)
    await asyncio.sleep(RATE_LIMITED_S)
    if (now := (await d.mastodon.state())["rate_limit"]["refused"]) == refused:
        step.problems.append("no request met the 429")
    else:
        step.notes.append(f"{now - refused} requests answered 429")
    await step.good(2)
    step.expect_worker_log("rate limited; waiting for the reset")
    return await step.finish()


async def new_token(d: Drill) -> Result:
    """The admin gives the instance a new token: the worker replaces the source, which streams
    again. Statuses keep coming throughout the switch; none may be lost."""
    step = await d.step("Mastodon: new token", "mtoken", "mastodon")
    step.store_wait_s = POLL_WAIT_S
    accepted = (await d.mastodon.state())["accepted_count"]
    async with _off_stream(step):
        flow = asyncio.create_task(_flow(step))
        try:
            await asyncio.sleep(1)
            await d.mastodon.add_token(NEW_TOKEN)
            await asyncio.to_thread(d.db.mastodon_token_set, NEW_TOKEN)
            await _streaming_again(step, accepted, NEW_TOKEN_WITHIN_S)
            await asyncio.sleep(2)
        finally:
            flow.cancel()
            await asyncio.gather(flow, return_exceptions=True)
    await step.source_state(
        "mastodon:", ("streaming",), "Mastodon's source is not streaming with the new token"
    )
    return await step.finish()
