"""A moderator hides a tweet while the page or the channel layer is away: the page must drop it all
the same, within seconds, and keep every other tweet.

The hide goes through `manage.py hide_tweets`, the admin's action from a shell: stored first, then
announced (the announcement fails while Redis is down, as the admin's does).
"""

import asyncio
import subprocess
import sys
import time

from drill.runner import Drill, Result, Step
from drill.stack import ROOT

GONE_WITHIN_S = 10.0  # the hub polls for decisions every 2 s; the page reconnects within 2 s here


async def _hide(step: Step, prefix: str) -> str | None:
    """Hide the stored tweet whose text starts with `prefix`; its X id."""
    rows = await asyncio.to_thread(step.d.db.topic_rows)
    x_id = next((r.x_id for r in rows if r.head.startswith(prefix)), None)
    if x_id is None:
        step.problems.append(f"{prefix.strip()!r} was never stored, so it could not be hidden")
        return None
    command = [sys.executable, "manage.py", "hide_tweets", x_id]
    done = await asyncio.to_thread(
        subprocess.run, command, cwd=ROOT, env=step.d.stack.env(), capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        step.problems.append(f"hide_tweets exited {done.returncode}: {done.stderr.strip()[-200:]}")
    return x_id


async def _held(step: Step, prefix: str, within: float = GONE_WITHIN_S) -> bool:
    deadline = time.monotonic() + within
    while not any(t.get("text", "").startswith(prefix) for t in step.d.viewer.held.values()):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.1)
    return True


async def _gone(step: Step, x_id: str, started: float) -> None:
    deadline = started + GONE_WITHIN_S
    while any(t.get("id") == x_id for t in step.d.viewer.held.values()):
        if time.monotonic() >= deadline:
            step.problems.append(f"the hidden tweet is still on the viewer after {GONE_WITHIN_S:.0f} s")
            return
        await asyncio.sleep(0.1)
    step.notes.append(f"hidden tweet gone in {time.monotonic() - started:.1f}s")


async def _on_screen(step: Step) -> str:
    """Two good tweets, stored and on the viewer; the second one's prefix, the one to hide."""
    _, spam = await step.good(2)
    await step.wait_stored()
    if not await _held(step, spam):
        step.problems.append("the viewer never got the tweet to hide")
    return spam


async def hide_during_redis_outage(d: Drill) -> Result:
    step = await d.step("hide while Redis down", "hideredis")
    spam = await _on_screen(step)
    d.stack.redis.stop()
    try:
        started = time.monotonic()
        x_id = await _hide(step, spam)
        await asyncio.sleep(2)
    finally:
        d.stack.redis.start()
        await asyncio.to_thread(d.stack.redis.wait_port)
    if x_id is not None:
        await _gone(step, x_id, started)
    await step.good(2)
    return await step.finish()


async def hide_during_reconnect(d: Drill) -> Result:
    step = await d.step("hide while page away", "hideaway")
    spam = await _on_screen(step)
    await asyncio.to_thread(d.stack.web.stop)  # the page is away: nobody hears the announcement
    try:
        started = time.monotonic()
        x_id = await _hide(step, spam)
        await step.good(2)
    finally:
        d.stack.web.start()
        await asyncio.to_thread(d.stack.web.wait_port)
    if x_id is not None:
        await _gone(step, x_id, started)
    if d.viewer.connects == step.connects:
        step.problems.append("the viewer never reconnected")
    return await step.finish()
