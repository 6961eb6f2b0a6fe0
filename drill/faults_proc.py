"""Processes failing under the stream: Redis away, the web process restarted, the worker stopped or
killed. Tweets keep flowing from X throughout; the database must get each once and the viewer must
end up holding all of them.
"""

import asyncio
import re
import signal
import time

from drill.runner import Drill, Result, Step

REDIS_DOWN_S = 5.0
FLOW_RATE = 5  # good tweets per second through the Redis outage
FLOW_AFTER_S = 4.0  # and for this long after Redis is back
WEB_DOWN_TWEETS = 60  # more than the history frame's 50, so the viewer must page the API
WORKER_BURST = 30
WORKER_EXIT_S = 20.0
# A SIGKILLed worker leaves its Redis lock to expire (streamer/lock.py, 15 s) before a new one streams.
WORKER_RESTART_S = 40.0
FLUSH_LINE = re.compile(r"received (\d+), stored (\d+) new, rejected (\d+), unpublished (\d+)")


async def redis_outage(d: Drill) -> Result:
    step = await d.step(f"Redis down {REDIS_DOWN_S:.0f}s", "redis")
    await step.good(2)
    await step.wait_stored()
    # Tweets flow steadily through the outage and after it, as at a live event: the worker stores
    # them and buffers the publishes; the web process must end up sending every one to the page.
    flow = asyncio.create_task(_flow(step))
    try:
        await asyncio.sleep(1)
        d.stack.redis.stop()
        await asyncio.sleep(REDIS_DOWN_S)
        if missing := await step.wait_stored(within=3):
            step.problems.append(f"{len(missing)} not stored while Redis was down")
        d.stack.redis.start()
        await asyncio.to_thread(d.stack.redis.wait_port)
        await asyncio.sleep(FLOW_AFTER_S)
    finally:
        flow.cancel()
        await asyncio.gather(flow, return_exceptions=True)
        if not d.stack.redis.running:
            d.stack.redis.start()
    step.expect_worker_log("buffering")
    step.expect_worker_log("channel layer back")
    result = await step.finish()
    # How the web process got the missed tweets: live from the worker's buffer, or from the database
    # through the heartbeat catch-up. Either is fine; it is worth knowing which.
    if "sent from the database" in d.stack.web.log_since(step.web_log):
        result.note = "hub caught up from the DB; " + result.note
    elif not result.ok:
        result.note += "; the hub's heartbeat catch-up never ran (see feed/hub.py _check_heartbeat)"
    return result


async def _flow(step: Step) -> None:
    while True:
        await step.good(1)
        await asyncio.sleep(1 / FLOW_RATE)


async def web_restart(d: Drill) -> Result:
    step = await d.step("web server restart", "webrestart")
    await step.good(2)
    await step.wait_stored()
    stopped = time.monotonic()
    code = await asyncio.to_thread(d.stack.web.stop)
    if code not in (0, -signal.SIGTERM):
        step.problems.append(f"web exited with {code} on SIGTERM")
    await step.good(WEB_DOWN_TWEETS)  # the worker stores them; nobody is subscribed to hear them
    await step.wait_stored()
    d.stack.web.start()
    await asyncio.to_thread(d.stack.web.wait_port)
    step.notes.append(f"down {time.monotonic() - stopped:.1f}s")
    await step.good(2)
    result = await step.finish()
    if d.viewer.connects == step.connects:
        result.ok = False
        result.note = "viewer never reconnected; " + result.note
    return result


async def _restart_worker(d: Drill, step: Step, accepted_before: int, started_at: str) -> float | None:
    started = time.monotonic()
    d.stack.worker.start()
    ok = await d.emulator.wait(
        lambda s: s["accepted_count"] > accepted_before and s["connected"], WORKER_RESTART_S
    )
    # Operators must see the new worker: a new start time, alive, X's source connected.
    await step.health(
        lambda w: w["started_at"] != started_at and w["alive"], "does not show the restarted worker alive"
    )
    await step.source_state("x", ("connected",), "the restarted worker's X source is not connected")
    if ok is None:
        step.problems.append(f"restarted worker not streaming within {WORKER_RESTART_S:.0f}s")
        return None
    return time.monotonic() - started


async def worker_sigterm(d: Drill) -> Result:
    step = await d.step("worker SIGTERM+restart", "sigterm")
    await step.good(2)
    await step.wait_stored()
    offset = d.stack.worker.log_size()
    accepted = (await d.emulator.state())["accepted_count"]
    started_at = (await d.web.worker())["started_at"]
    # A burst, then SIGTERM as it is being stored: what was received must be stored and published.
    # The short pause lets the lines cross loopback; a line still in a socket when the worker stops
    # reading would be X's loss, not the worker's.
    await step.good(WORKER_BURST)
    await asyncio.sleep(0.1)
    d.stack.worker.signal(signal.SIGTERM)
    code = await asyncio.to_thread(d.stack.worker.wait, WORKER_EXIT_S)
    if code != 0:
        step.problems.append(f"worker exit {code} on SIGTERM (expected 0 within {WORKER_EXIT_S:.0f}s)")
    if match := FLUSH_LINE.search(d.stack.worker.log_since(offset)):
        # Counts over the worker's life: `rejected` holds the earlier bad-input steps' lines.
        received, stored, _, unpublished = map(int, match.groups())
        step.notes.append(f"flushed: received {received}, stored {stored}, unpublished {unpublished}")
        if (stored, unpublished) != (received, 0):
            step.problems.append("flush incomplete")
    else:
        step.problems.append("no flush line in the worker log")
    await step.good(1)  # while no worker runs: X has no stream to deliver it to
    took = await _restart_worker(d, step, accepted, started_at)
    if took is not None:
        step.notes.append(f"restart streaming in {took:.1f}s")
    await step.good(2)
    step.after_store(_no_duplicate_ids)
    return await step.finish()


async def worker_sigkill(d: Drill) -> Result:
    step = await d.step("worker SIGKILL+restart", "sigkill")
    await step.good(2)
    await step.wait_stored()  # idle: nothing in flight, so nothing may be lost
    accepted = (await d.emulator.state())["accepted_count"]
    started_at = (await d.web.worker())["started_at"]
    d.stack.worker.signal(signal.SIGKILL)
    await asyncio.to_thread(d.stack.worker.wait, WORKER_EXIT_S)
    # Until the emulator notices the dead socket (its next keep-alive write), it would still "deliver".
    await d.emulator.wait(lambda s: not s["connected"], 5)
    await step.good(1)
    took = await _restart_worker(d, step, accepted, started_at)
    if took is not None:
        step.notes.append(f"restart streaming in {took:.1f}s (dead worker's lock expires)")
    await step.good(2)
    step.after_store(_no_duplicate_ids)
    return await step.finish()


async def _no_duplicate_ids(step: Step) -> None:
    if dups := await asyncio.to_thread(step.d.db.duplicate_x_ids):
        step.problems.append(f"{dups} duplicate X ids in the database")
