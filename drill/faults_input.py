"""Bad and odd input on an open stream: each is logged with its reason (or stored, if it is a good
tweet in an unusual shape) and the same connection carries on.

Each step sends good tweets before, right after (on the same connection) and after the fault.
"""

import json

from drill.runner import Drill, Result, Step, stored_length_check


async def _same_connection(step: Step, accepted_before: int) -> None:
    accepted = (await step.d.emulator.state())["accepted_count"]
    if accepted != accepted_before:
        step.problems.append(f"stream reconnected ({accepted - accepted_before}x); it should read on")


async def _rejected(step: Step, before: int) -> None:
    await step.health(lambda w: w["rejected"] > before, "rejected count did not move")


async def _bad_line(d: Drill, name: str, token: str, line_for, reason: str) -> Result:
    step = await d.step(name, token)
    accepted = (await d.emulator.state())["accepted_count"]
    rejected = (await d.web.worker())["rejected"]
    await step.good(2)
    bad = step.prefix()
    await step.raw(line_for(step, bad), bad_prefix=bad)
    await step.good(1)  # right behind the bad line, on the same connection
    await step.good(2)
    step.expect_worker_log(reason)
    await _rejected(step, rejected)
    step.after_store(lambda s: _same_connection(s, accepted))
    return await step.finish()


async def garbage_bytes(d: Drill) -> Result:
    return await _bad_line(
        d,
        "garbage bytes",
        "garbage",
        lambda s, p: b"\x00\xff\xfe garbage \x80 " + p.encode(),
        "line is not JSON",
    )


async def truncated_json(d: Drill) -> Result:
    def line(step: Step, prefix: str) -> bytes:
        return json.dumps(step.payload(prefix, "cut off here")).encode()[:-40]

    return await _bad_line(d, "truncated JSON", "truncated", line, "line is not JSON")


async def id_400_digits(d: Drill) -> Result:
    def line(step: Step, prefix: str) -> bytes:
        return json.dumps(step.payload(prefix, x_id="9" * 400)).encode()

    return await _bad_line(d, "400-digit id", "id400", line, "not an X id")


async def no_includes(d: Drill) -> Result:
    step = await d.step("payload without includes", "noincludes")
    accepted = (await d.emulator.state())["accepted_count"]
    await step.good(2)
    prefix = step.prefix()
    message = step.payload(prefix)
    del message["includes"]
    await step.raw_json(message, good_prefix=prefix)
    await step.good(2)
    step.after_store(lambda s: _same_connection(s, accepted))
    return await step.finish()


async def operational_disconnect(d: Drill) -> Result:
    step = await d.step("operational disconnect", "opdisconnect")
    state = await d.emulator.state()
    reconnects = (await d.web.worker())["reconnect_count"]
    await step.good(2)
    await d.emulator.operational_disconnect()
    await step.good(1)
    reconnected = await d.emulator.wait(
        lambda s: s["accepted_count"] > state["accepted_count"] and s["connected"], 15
    )
    if reconnected is None:
        step.problems.append("no reconnect within 15 s")
    await step.good(2)
    step.expect_worker_log("errors-only message: operational-disconnect")
    await step.health(lambda w: w["reconnect_count"] > reconnects, "reconnect count did not move")
    await step.source_state("x", ("connected",), "X's source is not connected again")
    return await step.finish()


async def text_100_kb(d: Drill) -> Result:
    step = await d.step("100 KB text", "text100k")
    accepted = (await d.emulator.state())["accepted_count"]
    await step.good(2)
    [big] = await step.good(1, body="x" * 100_000)
    await step.good(2)
    step.after_store(lambda s: _same_connection(s, accepted))
    step.after_store(stored_length_check(big))
    return await step.finish()


async def line_1_mb(d: Drill) -> Result:
    step = await d.step("1 MB line", "line1mb")
    accepted = (await d.emulator.state())["accepted_count"]
    await step.good(2)
    big = step.prefix()
    await step.raw_json(step.payload(big, "y" * 1_000_000), good_prefix=big)
    await step.good(2)
    step.after_store(stored_length_check(big))
    step.after_store(lambda s: _same_connection(s, accepted))  # read in one piece, not by reconnecting
    return await step.finish()


def _poison_payloads(step: Step) -> list[tuple[str, dict]]:
    """(prefix, payload) for posts that once stalled the store step or the renderer."""
    posts = []
    for body, change in [
        ("lone \ud800 surrogate in the text", None),
        ("a NUL \x00 byte in the text", None),
        ("a lone surrogate in the name", lambda p: p["includes"]["users"][0].update(name="Bad \udfff")),
        (
            "negative entity offsets",
            lambda p: p["data"].update(entities={"hashtags": [{"start": -5, "end": -1, "tag": "x"}]}),
        ),
        (
            "offsets past the end",
            lambda p: p["data"].update(
                entities={"urls": [{"start": 10**6, "end": 10**6 + 9, "url": "https://t.co/x"}]}
            ),
        ),
    ]:
        prefix = step.prefix()
        payload = step.payload(prefix, body)
        if change is not None:
            change(payload)
        posts.append((prefix, payload))
    return posts


async def _no_odd_ids(step: Step) -> None:
    odd = step.d.db._query("SELECT count(*) FROM feed_tweet WHERE network_id !~ '^[0-9]+$'")[0][0]
    if odd:
        step.problems.append(f"{odd} stored X ids are not plain digits")


async def poison_posts(d: Drill) -> Result:
    """A lone surrogate, a NUL, bad entity offsets: stored cleaned up, and the stream goes on. An id
    with a trailing newline is refused or cleaned, never stored as it came."""
    step = await d.step("poison posts", "poison")
    accepted = (await d.emulator.state())["accepted_count"]
    await step.good(2)
    for prefix, payload in _poison_payloads(step):
        await step.raw_json(payload, good_prefix=prefix)  # json.dumps escapes the lone surrogates
    odd_id = step.payload(step.prefix(), x_id=d.new_x_id() + "\n")
    await step.raw_json(odd_id)
    await step.good(1)  # right behind them, on the same connection
    await step.good(2)
    step.after_store(lambda s: _same_connection(s, accepted))
    step.after_store(_no_odd_ids)
    return await step.finish()
