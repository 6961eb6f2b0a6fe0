"""Child processes of a bench run: started, measured and always stopped.

Children get their own session, so a Ctrl-C reaches only bench.run, which then stops them in order
(servers before Redis) instead of every process racing its own shutdown; and each child is told by
the kernel to die with its parent (PR_SET_PDEATHSIG), so even a kill -9 of bench.run leaves nothing.
"""

import ctypes
import json
import os
import queue
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import psutil

PR_SET_PDEATHSIG = 1
STOP_TIMEOUT_S = 8.0
# Where the project's processes run from: this working tree, or an exported commit (bench.run
# --commit). The bench's own processes (load generators, reference) always run from BENCH_ROOT, so
# they speak the same protocol as the bench.run driving them.
BENCH_ROOT = Path(__file__).resolve().parent.parent
CODE_ROOT = BENCH_ROOT


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass  # not Linux/glibc: the explicit cleanup in stop_all() still runs


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0, proc: "Proc | None" = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}; see {proc.log}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout} s")


def http_json(url: str, body: dict | None = None, timeout: float = 10.0) -> dict:
    """GET, or POST `body` as JSON; loopback only."""
    assert url.startswith("http://127.0.0.1:"), url
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 (checked above)
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return json.loads(response.read() or b"{}")


class Proc:
    """One child process. `lines=True` keeps stdout as a queue of lines (the load generator's
    events) and stdin open for commands; otherwise both go to the log file."""

    registry: list["Proc"] = []

    def __init__(
        self, name: str, args: list[str], env: dict, log: Path, *, lines: bool = False, bench: bool = False
    ) -> None:
        self.name, self.args, self.log = name, args, log
        self._out = log.open("ab")
        self.lines: queue.Queue[str] = queue.Queue()
        self.popen = subprocess.Popen(
            args,
            cwd=BENCH_ROOT if bench else CODE_ROOT,
            env=env,
            stdin=subprocess.PIPE if lines else subprocess.DEVNULL,
            stdout=subprocess.PIPE if lines else self._out,
            stderr=self._out,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        Proc.registry.append(self)
        if lines:
            threading.Thread(target=self._pump, daemon=True).start()
        self.ps = psutil.Process(self.popen.pid)

    def _pump(self) -> None:
        for raw in self.popen.stdout:
            self.lines.put(raw.decode(errors="replace").rstrip("\n"))

    # --- Driving a load generator ---------------------------------------------------------
    def send(self, command: str) -> None:
        self.popen.stdin.write(command.encode() + b"\n")
        self.popen.stdin.flush()

    def expect(self, event: str, timeout: float) -> dict | None:
        """The next JSON line with this event (other lines are logged); None on timeout or exit."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=min(left, 0.5))
            except queue.Empty:
                if self.popen.poll() is not None and self.lines.empty():
                    return None
                continue
            try:
                message = json.loads(line)
            except ValueError:
                message = None
            if isinstance(message, dict) and message.get("event") == event:
                return message
            self._out.write(line.encode() + b"\n")
        return None

    # --- Measuring ------------------------------------------------------------------------
    def cpu_s(self) -> float:
        return tree_cpu_s(self.ps)

    def rss(self) -> int:
        try:
            return self.ps.memory_info().rss + sum(c.memory_info().rss for c in self.ps.children(True))
        except psutil.Error:
            return 0

    # --- Stopping -------------------------------------------------------------------------
    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=STOP_TIMEOUT_S)
        for stream in (self.popen.stdin, self.popen.stdout):
            if stream is not None:
                stream.close()
        self._out.close()
        if self in Proc.registry:
            Proc.registry.remove(self)


def tree_cpu_s(ps: psutil.Process) -> float:
    """CPU seconds of a process and its children, alive or reaped (a reaped child's time is in the
    parent's children_* times); 0 once the process is gone."""
    try:
        times = ps.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in ps.children(recursive=True):
            try:
                child_times = child.cpu_times()
            except psutil.Error:  # exited meanwhile: its time moves to the parent's children_*
                continue
            total += child_times.user + child_times.system
        return total
    except psutil.Error:
        return 0.0


class External:
    """A process we watch but did not start (the system's PostgreSQL): measured, never stopped."""

    def __init__(self, ps: psutil.Process, *, tree: bool = True) -> None:
        self.ps, self.tree = ps, tree

    def cpu_s(self) -> float:
        if self.tree:
            return tree_cpu_s(self.ps)
        times = self.ps.cpu_times()
        return times.user + times.system

    @classmethod
    def me(cls) -> "External":
        """bench.run itself, without its children (they are measured one by one)."""
        return cls(psutil.Process(), tree=False)

    @classmethod
    def postgres(cls) -> "External | None":
        """PostgreSQL's postmaster: its backends (one per Django connection) are its children."""
        for ps in psutil.process_iter(["name", "ppid"]):
            try:
                if ps.info["name"] in ("postgres", "postmaster") and ps.parent().name() not in (
                    "postgres",
                    "postmaster",
                ):
                    return cls(ps)
            except (psutil.Error, AttributeError):
                continue
        return None


def stop_all() -> None:
    """Stop every child, newest first (clients, then servers, then Redis and the database users)."""
    for proc in reversed(list(Proc.registry)):
        try:
            proc.stop()
        except Exception as exc:  # keep stopping the others
            print(f"bench: could not stop {proc.name}: {exc!r}", flush=True)


def install_signal_handlers() -> None:
    """SIGTERM (and SIGHUP) end the run like Ctrl-C does, so `finally: stop_all()` runs."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine, to report how saturated it was."""
    times = psutil.cpu_times()
    total = sum(times)
    return total - times.idle - getattr(times, "iowait", 0.0), total


def env_without(prefixes: tuple[str, ...]) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
