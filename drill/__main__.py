"""`python -m drill` (`make drill`): the fault drill. See drill/__init__.py."""

import argparse
import asyncio
import inspect
import logging
import signal
import sys
import time
from pathlib import Path

import aiohttp

from drill import faults_conn, faults_input, faults_moderation, faults_proc
from drill.control import Db, Emulator, Http, Web
from drill.runner import Drill, Result, ranges
from drill.stack import ROOT, TOPIC_SLUG, Stack
from drill.viewer import Viewer

FAULTS = [
    faults_input.garbage_bytes,
    faults_input.truncated_json,
    faults_input.no_includes,
    faults_input.operational_disconnect,
    faults_input.text_100_kb,
    faults_input.line_1_mb,
    faults_input.id_400_digits,
    faults_input.poison_posts,
    faults_conn.stall,
    faults_conn.http_401,
    faults_conn.http_503,
    faults_conn.http_429,
    faults_conn.dropped_connection,
    faults_proc.redis_outage,
    faults_moderation.hide_during_redis_outage,
    faults_moderation.hide_during_reconnect,
    faults_proc.web_restart,
    faults_proc.worker_sigterm,
    faults_proc.worker_sigkill,
]
STARTUP_S = 40.0
STEP_TIMEOUT_S = 120.0  # the 429 step waits 60 s by design; anything past this is a hang
TOTAL_TIMEOUT_S = 420.0


async def _until(predicate, within: float, what: str) -> None:
    """Poll `predicate()` (plain or async) until it holds; TimeoutError naming `what` if it does not."""
    deadline = time.monotonic() + within
    while not await _value(predicate()):
        if time.monotonic() >= deadline:
            raise TimeoutError(f"startup: {what} after {within:.0f} s")
        await asyncio.sleep(0.2)


async def _started(stack: Stack, emulator: Emulator, web: Web) -> None:
    stack.worker.start()
    stack.web.start()
    await asyncio.to_thread(stack.web.wait_port)

    async def streaming() -> bool:
        state = await emulator.state()
        return state["connected"] and any(r.get("tag") == TOPIC_SLUG for r in state["rules"])

    await _until(streaming, STARTUP_S, "the worker has no rule or stream on the emulator")
    await _until(lambda: _worker_state(web, "connected"), 10, "/healthz does not show the worker connected")


async def _worker_state(web: Web, state: str) -> bool:
    worker = await web.worker_or_none()
    return worker is not None and worker["state"] == state


async def _run_faults(d: Drill, faults: list) -> list[Result]:
    results = []
    for fault in faults:
        try:
            async with asyncio.timeout(STEP_TIMEOUT_S):
                result = await fault(d)
        except Exception as error:  # a broken step (or a step timeout) is a failed fault, not a crash
            result = Result(fault.__name__, False, 0, f"drill step error: {error!r}"[:200])
        print(result.line(), flush=True)
        results.append(result)
    return results


async def _final_checks(d: Drill) -> list[str]:
    """Across the whole run: the API agrees with the database, and the viewer holds every tweet."""
    problems = []
    rows = await asyncio.to_thread(d.db.topic_rows)
    if (count := await d.web.topic_count()) != len(rows):
        problems.append(f"/api/topics/ counts {count}, the database holds {len(rows)}")
    if missing := [r.seq for r in rows if r.seq not in d.viewer.held]:
        problems.append(
            f"at the end the viewer still lacks {len(missing)} stored tweets: seq {ranges(missing)}"
        )
    if dups := await asyncio.to_thread(d.db.duplicate_x_ids):
        problems.append(f"{dups} duplicate X ids")
    return problems


async def run(workdir: Path, faults: list) -> int:
    stack = Stack(workdir)
    viewing: asyncio.Task | None = None
    try:
        stack.prepare()
        # unsafe: keep cookies for 127.0.0.1 (the staff session for /healthz's details)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            http = Http(session)
            emulator, web = Emulator(http, stack.x_url), Web(http, stack.web_url)
            await _started(stack, emulator, web)
            ws_url = stack.web_url.replace("http://", "ws://") + f"/ws/topics/{TOPIC_SLUG}/"
            api_url = f"{stack.web_url}/api/topics/{TOPIC_SLUG}/tweets/"
            viewer = Viewer(ws_url, api_url, stack.web_url, session)
            viewing = asyncio.create_task(viewer.run(), name="drill-viewer")
            await _until(lambda: viewer.state == "live", 10, "the viewer is not live")
            d = Drill(stack, emulator, web, Db(stack.db_url), viewer)
            results = await _run_faults(d, faults)
            problems = await _final_checks(d)
            dups = ", ".join(f"{k}={v}" for k, v in sorted(viewer.duplicates.items())) or "none"
            print(f"viewer: {viewer.connects} connects, {len(viewer.held)} tweets held, deduplicated: {dups}")
            for problem in problems:
                print(f"final check FAILED: {problem}")
            survived = sum(r.ok for r in results)
            lost = sum(r.lost for r in results)
            print(f"{len(results)} faults, {survived} survived, total lost={lost}", flush=True)
            return 0 if survived == len(results) and lost == 0 and not problems else 1
    finally:
        if viewing is not None:
            viewing.cancel()
            await asyncio.gather(viewing, return_exceptions=True)
        stack.close()


async def _value(result):
    return await result if inspect.isawaitable(result) else result


async def _main(workdir: Path, faults: list) -> int:
    # SIGTERM cancels the drill like Ctrl-C does, so the `finally` above stops every process.
    task = asyncio.current_task()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    async with asyncio.timeout(TOTAL_TIMEOUT_S):
        return await run(workdir, faults)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m drill", description=__doc__)
    names = [f.__name__ for f in FAULTS]
    parser.add_argument("--only", help=f"comma-separated faults to run (default all): {', '.join(names)}")
    args = parser.parse_args()
    faults = FAULTS
    if args.only:
        wanted = args.only.split(",")
        if unknown := set(wanted) - set(names):
            parser.error(f"unknown fault(s): {', '.join(sorted(unknown))}")
        faults = [f for f in FAULTS if f.__name__ in wanted]
    logging.basicConfig(level=logging.WARNING, format="drill: %(levelname)s %(name)s %(message)s")
    workdir = ROOT / "tmp" / "drill" / time.strftime("%Y%m%d-%H%M%S")
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"drill: logs in {workdir.relative_to(ROOT)}/", flush=True)
    try:
        return asyncio.run(_main(workdir, faults))
    except KeyboardInterrupt:
        print("drill: interrupted; processes stopped", file=sys.stderr)
        return 130
    except asyncio.CancelledError:
        print("drill: terminated; processes stopped", file=sys.stderr)
        return 143
    except Exception as error:
        print(f"drill: ERROR {error!r} (logs in {workdir})", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
