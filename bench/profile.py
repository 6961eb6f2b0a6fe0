"""Optional py-spy sampling of the web server during a measured run (`bench.run --profile`).

py-spy runs out of process with --nonblocking (it never pauses the server), writes collapsed stacks
("frame;frame;frame count" lines) and we sum them into the functions that hold the CPU: `self`
(the function itself was running) and `total` (it was anywhere on the stack). py-spy leaves idle
samples out, so shares are of the time the server was busy. The raw file loads into speedscope or
flamegraph.pl for the full picture.
"""

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bench import procs
from bench.procs import Proc

TOP = 20
# Frames on (nearly) every stack, which say nothing in the "total" list: entry points, the loop
# runner, thread-pool plumbing.
_PLUMBING = re.compile(
    r"<frozen runpy>|click/|uvicorn/(main|__main__|server|_compat)\.py|daphne/(cli|server)\.py|"
    r"twisted/|asyncio/(runners|base_events|events)\.py|threading\.py|concurrent/futures/thread\.py"
)
_FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^:()]+)(?::\d+)?\)$")


def py_spy() -> str | None:
    local = Path(sys.executable).with_name("py-spy")
    return str(local) if local.exists() else shutil.which("py-spy")


class Profiler:
    """Callable as `profiler(server_proc, seconds)`; one recording per call."""

    def __init__(self, out_dir: Path, env: dict) -> None:
        self.out_dir, self.env, self.exe = out_dir, env, py_spy()

    def __call__(self, server: Proc, seconds: float) -> "Recording | None":
        if self.exe is None:
            print("bench: --profile needs py-spy (pip install py-spy); not profiling", flush=True)
            return None
        raw = self.out_dir / f"profile-{server.name}.txt"
        args = [self.exe, "record", "--pid", str(server.popen.pid), "--duration", str(round(seconds))]
        args += ["--rate", "200", "--nonblocking", "--format", "raw", "-o", str(raw)]
        return Recording(Proc("py-spy", args, self.env, self.out_dir / "py-spy.log"), raw)


class Recording:
    def __init__(self, proc: Proc, raw: Path) -> None:
        self.proc, self.raw = proc, raw

    def finish(self) -> dict:
        try:
            self.proc.popen.wait(timeout=30)  # it stops by itself after --duration
        except subprocess.TimeoutExpired:
            pass  # stopped just below; what it wrote so far is still summarized
        finally:
            self.proc.stop()
        if not self.raw.exists():
            return {"error": f"py-spy wrote nothing; see {self.proc.log}"}
        return summarize(self.raw)


def _name(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    else:
        path = path.removeprefix(f"{procs.CODE_ROOT}/")
    return f"{match['func']} ({path})"


def summarize(raw: Path) -> dict:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    files: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        samples += n
        frames = [_name(f) for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        own[frames[-1]] += n
        for name in set(frames):
            if not _PLUMBING.search(name):
                total[name] += n
        files[frames[-1].rsplit("(", 1)[-1].split("/")[0].rstrip(")")] += n

    def top(counter: Counter[str]) -> list[dict]:
        return [{"pct": round(100 * c / samples, 1), "function": f} for f, c in counter.most_common(TOP)]

    return {
        "samples": samples,
        "raw": str(raw),
        "self": top(own),
        "total": top(total),
        "self_by_package": top(files),
    }
