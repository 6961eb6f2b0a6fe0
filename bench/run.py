"""`make bench`: the fan-out benchmark of issue 3, end to end on this machine.

    python -m bench.run                   # everything, < 10 minutes on 2 cores
    python -m bench.run --quick           # small and short, for working on the bench itself
    python -m bench.run --scenario 1 --profile   # one scenario, with py-spy on the server

Scenarios: 1 = 1,000 clients at 50 tweets/s; 2 = 5,000 at 10/s; 3 = 10,000 idle sockets (RSS per
connection); 4 = 1,000 connecting at once (time to history); 6 = Daphne on 1 and 2; ws = uvicorn's
WebSocket implementations and loops on the same load; curve = p99 and CPU against client count.
1 and 2 also run on the bare `websockets` reference (bench/reference.py) for the ratios.
bsky (not in the default set; `--scenario bsky`) = the Bluesky worker on 1,000 posts/s and up, 20
topics (bench/bluesky.py).
Everything listens on 127.0.0.1 only.
"""

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import psutil

from bench import bluesky, procs, report
from bench.procs import env_without, install_signal_handlers, stop_all
from bench.scenarios import Run, describe, execute
from bench.stack import Stack

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BUDGET_S = 570.0  # the issue asks for < 10 minutes; optional runs are dropped to stay inside
ALL = ["0", "1", "2", "3", "4", "6", "ws", "curve"]
OPTIONAL = ["bsky"]  # ~2 minutes more: the default set already takes most of the 10
WS_VARIANTS = ("uvicorn", "uvicorn-legacy", "uvicorn-wsproto", "uvicorn-asyncio")


def plan(quick: bool) -> dict[str, list[Run]]:
    """Runs per scenario; "ws" and "curve" are optional (dropped first when time runs short)."""
    if quick:
        s1, s2, idle, storm, short, steps = (300, 50, 8), (1000, 10, 8), 2000, 300, 5, (100, 300)
    else:
        s1, s2, idle, storm, short, steps = (1000, 50, 30), (5000, 10, 20), 10_000, 1000, 8, (250, 500, 2000)
    (n1, r1, d1), (n2, r2, d2) = s1, s2
    return {
        # The pipeline alone (emulator → worker → PostgreSQL → Redis → server → 5 probes): the floor
        # under every other latency here.
        "0": [Run("0", "uvicorn", (5,), 50, short)],
        "1": [Run("1", "uvicorn", (n1,), r1, d1), Run("1", "reference", (n1,), r1, d1)],
        "2": [Run("2", "uvicorn", (n2,), r2, d2), Run("2", "reference", (n2,), r2, d2)],
        "3": [Run("3", "uvicorn", (idle,))],
        "4": [Run("4", "uvicorn", (storm,), batch=storm, probes=0, warm=False)],
        "6": [Run("1", "daphne", (n1,), r1, d1), Run("2", "daphne", (n2,), r2, d2)],
        # uvicorn's WebSocket implementations and loops ("uvicorn" = the Procfile's) at a load the
        # server keeps up with, so no backlog merges tweets into fewer frames and CPU per frame
        # compares like with like; twice, the second time in reverse order, against drift and noise.
        "ws": [Run("ws", server, (n1 // 2,), 50, short) for server in (*WS_VARIANTS, *WS_VARIANTS[::-1])],
        "curve": [
            Run("curve", "uvicorn", (steps[0], steps[-1]), 50, short),  # "ws" and 1 give the middle
            *(Run("curve", server, steps, 50, short) for server in ("reference", "daphne")),
        ],
    }


class Budget:
    """Predicts a run's wall time from what runs on the same server took, to skip optional ones."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.connect_per_s: dict[str, float] = {}

    def estimate(self, run: Run) -> float:
        rate = self.connect_per_s.get(run.server, 2000.0 if run.server == "reference" else 100.0)
        return 6.0 + len(run.steps) * (run.duration + 4.0) + max(run.steps) / rate

    def learn(self, result: dict) -> None:
        if result.get("connect_s") and result.get("connected", 0) >= 100:
            self.connect_per_s[result["server"]] = result["connected"] / result["connect_s"]

    def left(self) -> float:
        return self.deadline - time.monotonic()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small and short runs (~2 minutes)")
    parser.add_argument(
        "--scenario", action="append", choices=ALL + OPTIONAL, help="run only these (repeatable)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the server during rated runs (the worker in bsky)"
    )
    parser.add_argument("--budget", type=float, default=BUDGET_S, help="seconds; optional runs fit in it")
    parser.add_argument(
        "--commit",
        metavar="REV",
        help="measure this commit (exported with git archive) instead of the working tree, which "
        "others may be editing while the bench runs",
    )
    parser.add_argument(
        "--media", action="store_true", help="every tweet carries a photo (X's media object, with alt text)"
    )
    parser.add_argument(
        "--moderated",
        action="store_true",
        help="the topic in approve mode (its author trusted) with 200 block rules checked per post",
    )
    args = parser.parse_args()
    chosen = args.scenario or ALL
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    logs = Path(tempfile.mkdtemp(prefix=f"tweetsite-bench-{stamp}-"))
    print(f"bench: logs in {logs}", flush=True)
    if args.commit:
        code = {"commit": _export(args.commit, logs / "code"), "dirty_files": 0}
        procs.CODE_ROOT = logs / "code"
        print(f"bench: measuring commit {code['commit']} (exported to {procs.CODE_ROOT})", flush=True)
    else:  # at the start: each server imports the working tree as it is when it starts
        code = {
            "commit": _git("rev-parse", "--short", "HEAD"),
            "dirty_files": len(_git("status", "--porcelain", "--untracked-files=no").splitlines()),
        }
    install_signal_handlers()
    budget = Budget(args.budget)
    stack = Stack(logs, moderated=args.moderated, media=args.media)
    results: list[dict] = []
    profiler = None
    if args.profile:
        from bench.profile import Profiler

        profiler = Profiler(logs, env_without(()))
    try:
        began = time.monotonic()
        fanout = [name for name in chosen if name in ALL]
        env = env_without(("DJANGO_", "X_", "STREAM_", "BLUESKY_", "REDIS_URL", "DATABASE_URL"))
        stack.start(env, x=bool(fanout))
        print(f"bench: stack up in {time.monotonic() - began:.1f} s (PostgreSQL, Redis, emulator, worker)")
        runs = [r for name in fanout for r in plan(args.quick)[name]]

        def on_result(result: dict) -> None:
            budget.learn(result)
            results.append(result)
            print(f"   {result['label']}: {_one_line(result)}", flush=True)

        for run in runs:
            what = f"scenario {run.scenario}: {run.server}, {' → '.join(run.label(n) for n in run.steps)}"
            if run.scenario in ("ws", "curve") and budget.estimate(run) > budget.left():
                print(f"bench: skipping {what}: it would not fit in the time budget", flush=True)
                results.extend({**describe(run, n), "skipped": "over the time budget"} for n in run.steps)
                continue
            print(f"bench: {what} ...", flush=True)
            done = len(results)
            try:
                execute(stack, run, profiler if run.scenario in ("1", "ws") else None, on_result)
            except Exception as exc:  # one broken run must not lose the others' numbers
                error = f"{type(exc).__name__}: {exc}"
                print(f"   error: {error}", flush=True)
                results.extend({**describe(run, n), "error": error} for n in run.steps[len(results) - done :])
        if "bsky" in chosen:
            _run_bluesky(stack, bluesky.plan(args.quick), on_result, results, profiler)
    except KeyboardInterrupt:
        print("\nbench: interrupted; stopping everything", flush=True)
        return 130
    finally:
        stop_all()
        stack.release()
    report.add_ratios(results)
    print()
    print(report.table(results))
    meta = {
        "stamp": stamp,
        "quick": args.quick,
        "profiled": args.profile,
        "moderated": args.moderated,
        "media": args.media,
        "wall_s": round(time.monotonic() - began, 1),
        "machine": {"cpus": psutil.cpu_count(), "ram_gb": round(psutil.virtual_memory().total / 2**30)},
        "python": sys.version.split()[0],
        **code,
        "platform": platform.platform(),
        "logs": str(logs),
    }
    path = report.write(results, meta, RESULTS, stamp)
    try:
        if any(r["scenario"] != "bsky" for r in results):  # nothing to plot for the worker alone
            report.plot(results, RESULTS / "latest.png")
    except Exception as exc:  # the numbers matter more than the picture
        print(f"bench: plot failed: {exc!r}")
    fastest = report.fastest_uvicorn(results)
    if fastest:
        print(f"\nfastest uvicorn ws/loop: {fastest['server']} ({fastest['by']})")
        for entry in fastest["ranking"]:
            each = ", ".join(f"{v:g}" for v in entry["cpu_us_per_frame_each"])
            cpu = f"{entry['cpu_us_per_frame']:6.1f} µs/frame ({each})"
            rest = f"p99 {entry['p99_ms']:.0f} ms, other {entry['other_cpu_pct']:.0f}%"
            print(f"   {entry['server']:16} {cpu}  {rest}")
    for r in results:
        if r.get("profile"):
            _print_profile(r)
    print(f"\nbench: {meta['wall_s']} s; results in {path}")
    return 0


def _run_bluesky(stack: Stack, runs: list, on_result, results: list[dict], profiler) -> None:
    done = len(results)
    try:
        bluesky.execute(stack, runs, on_result, profiler)
    except Exception as exc:  # keep the steps that finished
        error = f"{type(exc).__name__}: {exc}"
        print(f"   error: {error}", flush=True)
        for run in runs[len(results) - done :]:
            results.append({"scenario": "bsky", "server": "worker", "label": run.label(), "error": error})


def _git(*args: str) -> str:
    """The measured code's commit: other people commit while a bench runs, so say which it was."""
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.decode().strip()


def _export(rev: str, into: Path) -> str:
    """`git archive` of `rev` into `into`; its short hash."""
    commit = _git("rev-parse", "--short", "--verify", f"{rev}^{{commit}}")
    if not commit:
        raise SystemExit(f"bench: no such commit: {rev}")
    into.mkdir()
    tar = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, timeout=60, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=tar.stdout, timeout=60, check=True)
    return commit


def _one_line(r: dict) -> str:
    if r.get("error") or r.get("skipped"):
        return r.get("error") or r.get("skipped")
    if r["scenario"] == "bsky":
        return " ".join(f"{c}={v}" for c, v in zip(bluesky.COLUMNS, bluesky.row(r), strict=True))
    lat = r.get("latency_ms") or {}
    bits = [f"connected {r.get('connected')} (failed {r.get('failed')}) in {r.get('connect_s') or 0:.1f} s"]
    if r.get("rate"):
        bits.append(f"delivered {r.get('delivered_pct')}% p50 {lat.get('p50')} p99 {lat.get('p99')} ms")
        bits.append(f"server CPU {r.get('server_cpu_pct', 0):.0f}%")
    bits.append(f"RSS/conn {r.get('rss_per_conn_kb') or 0:.1f} KB, {r['wall_s']:.0f} s wall")
    return "; ".join(bits)


def _print_profile(r: dict) -> None:
    prof = r["profile"]
    where = f"{prof.get('samples')} busy samples, {prof.get('raw')}"
    print(f"\nprofile of {r['server']} at {r['label']} ({where}):")
    for key in ("self_by_package", "self", "total"):
        print(f"  top by {key}:")
        for entry in prof.get(key, [])[:12]:
            print(f"    {entry['pct']:5.1f}%  {entry['function']}")
    print(json.dumps({"profile_raw": prof.get("raw")}))


if __name__ == "__main__":
    sys.exit(main())
