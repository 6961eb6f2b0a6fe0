"""Measured runs: a fresh server process, clients added in steps, a tweet rate, every number reported.

A run is one server process and one or more steps: each step tops the clients up to its count (one
more load generator process) and measures. One step is a plain scenario; several make a curve
without reconnecting from zero at every point (connects are what cost the time here).
"""

import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from bench.pipeline import PublishListener
from bench.procs import External, Proc, machine_busy
from bench.stack import SLUG, Stack, server_available

PY = sys.executable
DRAIN_S = 5.0  # after the last tweet is emitted, how long probes may still wait for it
SETTLE_S = 1.0  # after connecting, before the RSS reading


@dataclass
class Run:
    scenario: str  # "0".."4", "ws" (uvicorn variants) or "curve"
    server: str
    steps: tuple[int, ...]  # total sockets after each step, probes included
    rate: float = 0.0  # tweets/s; 0 = idle (no tweets)
    duration: float = 0.0  # of each step's tweet run
    batch: int = 200  # connects in flight at once; >= the step's clients is the storm
    probes: int = 5
    # One connect before the RSS baseline (imports, database, hub, Redis subscription). The storm
    # runs cold instead, as after a deploy: every page reconnects to a process that has served none.
    warm: bool = True

    @property
    def count(self) -> int:
        return round(self.rate * self.duration)

    def label(self, clients: int) -> str:
        if self.rate:
            return f"{clients}x{self.rate:g}/s"
        return f"{clients} storm" if self.batch >= clients else f"{clients} idle"


def describe(run: Run, clients: int) -> dict:
    fields = {k: v for k, v in asdict(run).items() if k != "steps"}
    return {**fields, "clients": clients, "label": run.label(clients), "count": run.count}


def _loadgen(stack: Stack, name: str, url: str, clients: int, probes: int, batch: int, first: int) -> Proc:
    args = [PY, "-m", "bench.loadgen", "--url", url, "--clients", str(clients), "--probes", str(probes)]
    args += ["--batch", str(batch), "--first", str(first)]
    return Proc(name, args, stack.env, stack.log(name), lines=True, bench=True)


def _connect_timeout(clients: int) -> float:
    # Generous but bounded: Django servers connect a hundred or so sockets a second here.
    return 60.0 + clients * 0.05


def execute(stack: Stack, run: Run, profiler=None, on_result=None) -> list[dict]:
    """All steps of one run on a fresh server process; always stops what it started."""
    why_not = server_available(run.server)
    if why_not:
        return [{**describe(run, n), "skipped": why_not} for n in run.steps]
    results: list[dict] = []
    server, port = stack.start_server(run.server, warm=run.warm)
    loadgens: list[Proc] = []
    try:
        rss_base = server.rss()
        url = f"ws://127.0.0.1:{port}/ws/topics/{SLUG}/"
        have = 0
        for clients in run.steps:
            started = time.monotonic()
            new: list[Proc] = []
            meter = Meter(lambda: _watched(stack, server, loadgens + new))  # noqa: B023 (read below)
            if run.rate and not loadgens:  # probes get a process of their own, so cheap clients'
                new.append(_loadgen(stack, f"probes-{run.server}", url, 0, run.probes, run.batch, 0))
                have = run.probes  # work doesn't delay them
            if clients > have:
                name = f"loadgen-{run.server}-{clients}"
                new.append(_loadgen(stack, name, url, clients - have, 0, run.batch, have))
            readies = [lg.expect("ready", _connect_timeout(clients)) for lg in new]
            if any(r is None for r in readies):
                raise RuntimeError(f"a load generator did not get ready; see {stack.logs}")
            connecting = meter.read()
            loadgens += new
            have = clients
            time.sleep(SETTLE_S)
            rss = server.rss()
            measured = _measure(stack, run, server, port, loadgens, profiler) if run.rate else {}
            for lg in loadgens:
                lg.send("report")
            reports = [lg.expect("report", 30) or {} for lg in loadgens]
            result = {**describe(run, clients), **measured, **_merge(reports, readies)}
            result["connect_phase"] = connecting
            connected = result["connected"]
            result.update(
                rss_base_mb=rss_base / 2**20,
                rss_connected_mb=rss / 2**20,
                rss_per_conn_kb=(rss - rss_base) / connected / 1024 if connected else None,
                wall_s=time.monotonic() - started,
            )
            if run.rate and connected:
                result["deliveries"] = run.count * connected
                result["server_cpu_us_per_delivery"] = result["server_cpu_s"] * 1e6 / result["deliveries"]
                # What a viewer receives per tweet, frame headers and all: the wire shape's cost.
                if result.get("bytes"):
                    result["bytes_per_tweet"] = result["bytes"] / result["deliveries"]
                # Django merges tweets that queue up into one frame; the reference never does, so
                # CPU per frame written is the fairer per-write cost.
                if result["frames"]:
                    result["server_cpu_us_per_frame"] = result["server_cpu_s"] * 1e6 / result["frames"]
                    result["tweets_per_frame"] = result["deliveries"] / result["frames"]
            results.append(result)
            if on_result:
                on_result(result)
    finally:
        for proc in loadgens:
            if proc.popen.poll() is None:
                proc.send("stop")
        for proc in loadgens:
            proc.stop()
        server.stop()
    return results


class Meter:
    """CPU of our processes over a window, and of the whole machine: the difference is what other
    people's work (test suites, browsers) took from the same 2 cores, which says how far a row's
    latency is to be trusted. `watch()` names the processes at read time, so ones started during
    the window count from zero."""

    def __init__(self, watch: Callable[[], dict[str, list]]) -> None:
        self.watch = watch
        self.cpu0 = {p.ps.pid: p.cpu_s() for group in watch().values() for p in group}
        self.busy0, self.total0 = machine_busy()
        self.t0 = time.monotonic()

    def read(self) -> dict:
        elapsed = time.monotonic() - self.t0
        cpu = {
            name: sum(p.cpu_s() - self.cpu0.get(p.ps.pid, 0.0) for p in group)
            for name, group in self.watch().items()
        }
        busy, total = machine_busy()
        busy, total = busy - self.busy0, total - self.total0
        foreign = busy - sum(cpu.values())
        return {
            "window_s": elapsed,
            **{f"{name}_cpu_s": v for name, v in cpu.items()},
            **({"server_cpu_pct": 100 * cpu["server"] / elapsed} if "server" in cpu else {}),
            "machine_busy_pct": 100 * busy / total if total > 0 else None,
            "foreign_cpu_pct": max(0.0, 100 * foreign / elapsed),  # % of one core
            "load_avg_1m": os.getloadavg()[0],
        }


def _watched(stack: Stack, server: Proc, loadgens: list[Proc]) -> dict[str, list]:
    watched = {"server": [server], "loadgen": loadgens, "bench": [External.me()]}
    if server.name != "reference":  # the reference needs none of the Django stack
        postgres = External.postgres()
        watched.update(worker=[stack.worker], redis=[stack.redis], postgres=[postgres] if postgres else [])
        watched.update(emulator=[stack.emulator])
    return watched


def _measure(stack: Stack, run: Run, server: Proc, port: int, loadgens: list[Proc], profiler) -> dict:
    """The window: from just before the first tweet until every probe has the last (or drain)."""
    reference_url = f"http://127.0.0.1:{port}" if run.server == "reference" else None
    listener = None if reference_url else PublishListener(stack.env["REDIS_URL"], SLUG)
    try:
        meter = Meter(lambda: _watched(stack, server, loadgens))
        for lg in loadgens:
            lg.send(f"start {run.count}")
        spy = profiler(server, run.duration + 1) if profiler else None
        stack.emit(rate=run.rate, count=run.count, reference_url=reference_url)
        emitted = stack.wait_emitted(run.count, run.duration + 30, reference_url)
        complete = loadgens[0].expect("complete", DRAIN_S) is not None
        measured = meter.read()
        published = listener.finish(run.count) if listener else {}
    finally:
        if listener:
            listener.close()  # again, harmlessly, on the way out of an error or Ctrl-C
    return {
        "emitted_all": emitted,
        "probes_complete": complete,
        **measured,
        "published_ms": published,  # emit → worker's PUBLISH: the part that is not fan-out
        "profile": spy.finish() if spy else None,
    }


def _merge(reports: list[dict], readies: list[dict]) -> dict:
    """Latency and delivery from the probes; connection counts from everyone; connect and history
    times from the load generators that connected in this step."""
    probe = next((r for r in reports if r.get("probes")), {})
    total = lambda key: sum(r.get(key) or 0 for r in reports)  # noqa: E731
    closes: dict[str, int] = {}
    for r in reports:
        for code, n in (r.get("close_codes") or {}).items():
            closes[code] = closes.get(code, 0) + n
    cheap = [r for r in reports if (r.get("frames_per_client") or {}).get("min") is not None]
    return {
        "connected": total("connected"),
        "with_history": total("with_history"),
        "failed": total("failed"),
        "errors": {k: v for r in reports for k, v in (r.get("errors") or {}).items()},
        "connect_s": max((r["connect_s"] for r in readies if r.get("connect_s")), default=None),
        "history_s": max((r["history_s"] for r in readies if r.get("history_s")), default=None),
        "connect_p50_s": max((r["connect_p50_s"] for r in readies if r.get("connect_p50_s")), default=None),
        "delivered_pct": probe.get("delivered_pct"),
        "missing_per_probe": probe.get("missing_per_probe"),
        "duplicates": probe.get("duplicates"),
        "latency_ms": probe.get("latency_ms") or {},
        "slowest_tweets": probe.get("slowest_tweets") or [],
        "frames": total("frames"),
        "frames_per_s": total("frames_per_s") or None,
        "bytes_per_s": total("bytes_per_s") or None,
        "bytes": total("bytes") or None,
        "frames_per_client_min": min((r["frames_per_client"]["min"] for r in cheap), default=None),
        "frames_per_client_max": max((r["frames_per_client"]["max"] for r in cheap), default=None),
        "closed_by_server": total("closed_by_server"),
        "close_codes": closes,
        "loadgen_self_cpu_s": total("loadgen_cpu_s"),
    }
