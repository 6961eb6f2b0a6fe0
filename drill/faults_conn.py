"""A flaky X: the stream stalls, is refused, rate limited or dropped; the worker reconnects.

Before each fault the drill waits until the good tweets already sent are stored: lines still in the
emulator's socket buffer when it kills a connection are lost in transit, which is X's loss, not the
product's. Good tweets sent while no stream is open are not delivered by X; they are noted.
"""

import asyncio
import re
import time
from datetime import datetime

from drill.runner import Drill, Result, Step
from drill.stack import STALL_TIMEOUT_S

# Tweepy backs off 5 s after an HTTP error; after a 429 at least 60 s, as X requires.
RATE_LIMIT_WAIT_S = 60.0
POLL_S = 0.1
# What the worker logs when Tweepy reports a broken or silent connection (streamer/sources/x.py).
_STALL_LOG = "connection error or stall"


async def _recover(step: Step, inject, within: float) -> tuple[float | None, float | None]:
    """Inject, then time the worker's recovery: seconds to its first connect attempt (refused or
    not) and to the next accepted stream; None for what did not happen `within` seconds."""
    before = await step.d.emulator.state()
    started = time.monotonic()
    await inject()
    await step.good(1)  # while the stream is down
    first_attempt = accepted = None
    while accepted is None and time.monotonic() - started < within:
        state = await step.d.emulator.state()
        now = time.monotonic() - started
        if first_attempt is None and state["connect_count"] > before["connect_count"]:
            first_attempt = now
        if state["accepted_count"] > before["accepted_count"] and state["connected"]:
            accepted = now
        await asyncio.sleep(POLL_S)
    if accepted is None:
        step.problems.append(f"no new stream within {within:.0f} s")
    return first_attempt, accepted


async def _fault(d: Drill, name: str, token: str, inject, *, within: float, log: str) -> Result:
    step = await d.step(name, token)
    reconnects = (await d.web.worker())["reconnect_count"]
    await step.good(2)
    await step.wait_stored()
    _, accepted = await _recover(step, inject, within)
    if accepted is not None:
        step.notes.append(f"new stream after {accepted:.1f}s")
    await step.good(2)
    step.expect_worker_log(log)
    await step.health(lambda w: w["reconnect_count"] > reconnects, "reconnect count did not move")
    await step.source_state("x", ("connected",), "X's source is not connected again")
    return await step.finish()


def _refuse(d: Drill, status: int):
    async def inject() -> None:
        await d.emulator.fail(status)
        await d.emulator.drop()

    return inject


async def stall(d: Drill) -> Result:
    try:
        return await _fault(
            d, "stall, no keep-alive", "stall", d.emulator.stall, within=STALL_TIMEOUT_S + 12, log=_STALL_LOG
        )
    finally:
        await d.emulator.stall(False)  # the new stream is not stalled; clear the flag anyway


async def http_401(d: Drill) -> Result:
    return await _fault(d, "401 on connect", "http401", _refuse(d, 401), within=20, log="HTTP 401")


async def http_503(d: Drill) -> Result:
    return await _fault(d, "503 on connect", "http503", _refuse(d, 503), within=20, log="HTTP 503")


async def dropped_connection(d: Drill) -> Result:
    return await _fault(d, "dropped connection", "drop", d.emulator.drop, within=15, log=_STALL_LOG)


async def http_429(d: Drill) -> Result:
    step = await d.step("429 on connect", "http429")
    reconnects = (await d.web.worker())["reconnect_count"]
    await step.good(2)
    await step.wait_stored()
    shown: list[str] = []
    watcher = asyncio.create_task(_watch_health_for_429(d, shown))
    log_from = d.stack.emulator.log_size()
    try:
        first, accepted = await _recover(step, _refuse(d, 429), RATE_LIMIT_WAIT_S + 30)
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    if first is not None and accepted is not None:
        # The emulator logs both ends to the millisecond; polling is only good to POLL_S.
        waited = _logged_wait(d.stack.emulator.log_since(log_from)) or accepted - first
        step.notes.insert(0, f"waited {waited:.1f}s after the 429")
        if waited < RATE_LIMIT_WAIT_S - 0.5:
            step.problems.append(f"reconnected {waited:.1f}s after a 429; X requires >= 60 s")
    if not shown:
        step.problems.append("/healthz did not show the 429 while waiting")
    await step.good(2)
    step.expect_worker_log("HTTP 429")
    await step.health(lambda w: w["reconnect_count"] > reconnects, "no recovery")
    await step.source_state("x", ("connected",), "X's source is not connected again")
    return await step.finish()


def _logged_wait(log: str) -> float | None:
    """Seconds from the emulator's 429 answer to the next stream it accepted, from its log."""
    refused = re.search(r"^(\S+ \S+) xemulator INFO connect #\d+ refused: injected 429$", log, re.M)
    if refused is None:
        return None
    accepted = re.search(r"^(\S+ \S+) xemulator INFO stream connected", log[refused.end() :], re.M)
    if accepted is None:
        return None
    stamp = "%Y-%m-%d %H:%M:%S,%f"
    return (datetime.strptime(accepted[1], stamp) - datetime.strptime(refused[1], stamp)).total_seconds()


async def _watch_health_for_429(d: Drill, shown: list[str]) -> None:
    """While Tweepy waits, operators must see why: state and reason on /healthz."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        worker = await d.web.worker_or_none()
        if worker and worker["state"] == "reconnecting" and "429" in worker["last_error"]:
            shown.append(worker["last_error"])
            return
        await asyncio.sleep(0.5)
