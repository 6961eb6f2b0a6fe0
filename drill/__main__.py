"""`python -m drill` (`make drill`): the fault drill. See drill/__init__.py."""

import argparse
import asyncio
import functools
import inspect
import logging
import signal
import sys
import time
from pathlib import Path

import aiohttp

from drill import faults_bluesky, faults_conn, faults_input, faults_mastodon, faults_moderation, faults_proc
from drill.control import Bluesky, Db, Emulator, Http, Mastodon, Web
from drill.runner import Drill, Feed, Result, ranges, shown_twice
from drill.stack import BLUESKY_SLUG, MASTODON_SLUG, ROOT, TOPIC_SLUG, Stack
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
    # After the restarts, so they also show the new worker following Bluesky and Mastodon again.
    faults_bluesky.dropped_and_replayed,
    faults_bluesky.outage,
    faults_bluesky.malformed_events,
    faults_bluesky.event_1_mb,
    faults_bluesky.unknown_kind,
    faults_mastodon.dropped_stream,
    faults_mastodon.malformed_payloads,
    faults_mastodon.payload_1_mb,
    faults_mastodon.unknown_event,
    faults_mastodon.token_refused,
    faults_mastodon.rate_limited,
    faults_mastodon.new_token,
]
# (network, source name or its start, state): each source's own state, as the admin's networks
# column shows it; the worker's state on /healthz is whichever source spoke last.
SOURCES_UP = [
    ("x", "x", "connected"),
    ("bluesky", "bluesky", "streaming"),
    ("mastodon", "mastodon:", "streaming"),
]
STARTUP_S = 40.0
STEP_TIMEOUT_S = 120.0  # the 429 step waits 60 s by design; anything past this is a hang
TOTAL_TIMEOUT_S = 900.0


async def _until(predicate, within: float, what: str) -> None:
    """Poll `predicate()` (plain or async) until it holds; TimeoutError naming `what` if it does not."""
    deadline = time.monotonic() + within
    while not await _value(predicate()):
        if time.monotonic() >= deadline:
            raise TimeoutError(f"startup: {what} after {within:.0f} s")
        await asyncio.sleep(0.2)


async def _started(stack: Stack, d: Drill) -> None:
    await d.bluesky.add_author()  # the AppView knows who posts
    stack.worker.start()
    stack.web.start()
    await asyncio.to_thread(stack.web.wait_port)

    async def streaming() -> bool:
        state = await d.emulator.state()
        return state["connected"] and any(r.get("tag") == TOPIC_SLUG for r in state["rules"])

    async def jetstream() -> bool:
        return any(c["started"] for c in (await d.bluesky.state())["connections"])

    await _until(streaming, STARTUP_S, "the worker has no rule or stream on the X emulator")
    await _until(jetstream, 10, "the worker does not follow the Bluesky emulator")
    await _until(d.mastodon.subscribed, 15, "the worker does not stream the Mastodon emulator's hashtag")
    await _until(lambda: _alive(d.web), 10, "/healthz does not show the worker alive")
    for network, source, state in SOURCES_UP:
        up = functools.partial(_source_is, d, network, source, state)
        await _until(up, 15, f"the {source} source is not {state}")


async def _alive(web: Web) -> bool:
    worker = await web.worker_or_none()
    return worker is not None and worker["alive"]


async def _source_is(d: Drill, network: str, source: str, state: str) -> bool:
    rows = await asyncio.to_thread(d.db.network_status, d.feeds[network].slug)
    return any(str(r.get("source")).startswith(source) and r.get("state") == state for r in rows)


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
    """Across the whole run, per topic: the API agrees with the database, and the viewer holds every
    post, each once."""
    problems = []
    for feed in d.feeds.values():
        rows = await asyncio.to_thread(d.db.topic_rows, feed.slug)
        if (count := await d.web.topic_count(feed.slug)) != len(rows):
            problems.append(f"{feed.slug}: /api/topics/ counts {count}, the database holds {len(rows)}")
        if missing := [r.seq for r in rows if r.seq not in feed.viewer.held]:
            problems.append(
                f"{feed.slug}: at the end the viewer still lacks {len(missing)} stored posts:"
                f" seq {ranges(missing)}"
            )
        if twice := shown_twice(feed.viewer):
            problems.append(f"{feed.slug}: {len(twice)} posts held under two seqs")
    if dups := await asyncio.to_thread(d.db.duplicate_x_ids):
        problems.append(f"{dups} duplicate post ids")
    return problems


def _viewer(stack: Stack, session: aiohttp.ClientSession, slug: str) -> Viewer:
    ws_url = stack.web_url.replace("http://", "ws://") + f"/ws/topics/{slug}/"
    return Viewer(ws_url, f"{stack.web_url}/api/topics/{slug}/tweets/", stack.web_url, session)


async def run(workdir: Path, faults: list) -> int:
    stack = Stack(workdir)
    viewing: list[asyncio.Task] = []
    try:
        stack.prepare()
        # unsafe: keep cookies for 127.0.0.1 (the staff session for /healthz's details)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            http = Http(session)
            emulator, web = Emulator(http, stack.x_url), Web(http, stack.web_url)
            bluesky, mastodon = Bluesky(http, stack.bluesky_url), Mastodon(http, stack.mastodon_url)
            feeds = {
                "x": Feed("x", TOPIC_SLUG, _viewer(stack, session, TOPIC_SLUG), emulator.emit),
                "bluesky": Feed("bluesky", BLUESKY_SLUG, _viewer(stack, session, BLUESKY_SLUG), bluesky.emit),
                "mastodon": Feed(
                    "mastodon", MASTODON_SLUG, _viewer(stack, session, MASTODON_SLUG), mastodon.emit
                ),
            }
            d = Drill(stack, web, Db(stack.db_url), feeds, x=emulator, bluesky=bluesky, mastodon=mastodon)
            await _started(stack, d)
            for feed in feeds.values():
                viewing.append(asyncio.create_task(feed.viewer.run(), name=f"drill-viewer-{feed.network}"))
                await _until(
                    lambda feed=feed: feed.viewer.state == "live", 10, f"the {feed.slug} viewer is not live"
                )
            results = await _run_faults(d, faults)
            problems = await _final_checks(d)
            for feed in feeds.values():
                viewer = feed.viewer
                dups = ", ".join(f"{k}={v}" for k, v in sorted(viewer.duplicates.items())) or "none"
                print(
                    f"viewer of {feed.slug}: {viewer.connects} connects, {len(viewer.held)} posts held,"
                    f" deduplicated: {dups}"
                )
            for problem in problems:
                print(f"final check FAILED: {problem}")
            survived = sum(r.ok for r in results)
            lost = sum(r.lost for r in results)
            print(f"{len(results)} faults, {survived} survived, total lost={lost}", flush=True)
            return 0 if survived == len(results) and lost == 0 and not problems else 1
    finally:
        for task in viewing:
            task.cancel()
        await asyncio.gather(*viewing, return_exceptions=True)
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
