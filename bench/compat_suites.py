"""A suite on its own Python framework against the same suite on vtf.compat.

Not run by scripts/bench.sh: it needs the suites' checkouts, which are not in
this repository (docs/BENCHMARKS.md, "Python compatibility", says how they
were set up). Each side is a directory to run pytest in and the Python of a
virtualenv that has that side's framework:

    python3 bench/compat_suites.py --rounds 6 --binary /scratch/valkey-server \\
        --own  /scratch/vtfup     /scratch/venv-up/bin/python  --env PYTHONPATH=/scratch/vtfup/src \\
        --vtf  /scratch/vtfup-mig /scratch/venv-vtf/bin/python \\
        -- --order-scope=class

The rest of the environment reaches both sides as it is (for example the
suites' SERVER_VERSION and MODULE_PATH); VTF_* variables and PYTHONPATH do
not. Runs alternate (own, vtf, own, vtf, ...), one at a time; wall time is the
whole pytest process. Servers are found by /proc/PID/exe (the `--binary`
copy both sides use), listed before and after each run; what a run leaves is
counted, then stopped by pid. Prints one JSON line per run (a failed run's
output is kept in the file its `log` names), then a summary whose ratio is
vtf's median over the median of own's passing runs.
"""

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional


@dataclass
class Run:
    side: str
    wall: float
    cpu: float
    rc: int
    summary: str
    left: int
    #: A failed run's whole output, kept for reading (None when it passed).
    log: Optional[str] = None


def servers(binary: str) -> List[int]:
    """Pids of the processes running `binary`."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/exe") == binary:
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


def stop_leftovers(pids: List[int], binary: str) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + 10
    while any(p in servers(binary) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    # A server whose shutdown save fails (its directory already removed)
    # refuses SIGTERM and would outlive the benchmark: SIGKILL, by pid.
    for pid in [p for p in pids if p in servers(binary)]:
        print(f"compat_suites: server {pid} ignored SIGTERM for 10 s: SIGKILL", file=sys.stderr)
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def run(side: str, cwd: str, python: str, env: Dict[str, str], args: List[str], binary: str) -> Run:
    before = servers(binary)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [python, "-m", "pytest", "--cache-clear", "-q", "-p", "no:randomly", "tests/"] + args,
        cwd=cwd, env=env, capture_output=True, text=True,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    left = [p for p in servers(binary) if p not in before]
    stop_leftovers(left, binary)
    lines = done.stdout.strip().splitlines()
    summary = lines[-1] if lines else done.stderr[-300:]
    log = None
    if done.returncode != 0:
        fd, log = tempfile.mkstemp(prefix=f"compat-{side}-", suffix=".log")
        with os.fdopen(fd, "w") as f:
            f.write(done.stdout + "\n--- stderr\n" + done.stderr)
    return Run(side, round(wall, 3), round(cpu, 2), done.returncode, summary, len(left), log)


def median(values: List[float]) -> Optional[float]:
    return statistics.median(values) if values else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--binary", required=True, help="the valkey-server both sides run")
    parser.add_argument("--own", nargs=2, metavar=("DIR", "PYTHON"), required=True)
    parser.add_argument("--vtf", nargs=2, metavar=("DIR", "PYTHON"), required=True)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="for the own side only (e.g. its PYTHONPATH)")
    parser.add_argument("pytest_args", nargs="*", help="after --: for both sides")
    opts = parser.parse_args()
    binary = os.path.realpath(opts.binary)
    base = {k: v for k, v in os.environ.items() if not k.startswith("VTF_") and k != "PYTHONPATH"}
    own_env = dict(base, **dict(e.split("=", 1) for e in opts.env))
    sides = [("own", opts.own, own_env), ("vtf", opts.vtf, base)]
    records: List[Run] = []
    for _ in range(opts.rounds):
        for side, (cwd, python), env in sides:
            record = run(side, cwd, python, env, opts.pytest_args, binary)
            print(json.dumps(asdict(record)), flush=True)
            records.append(record)
    walls = {s: [r.wall for r in records if r.side == s] for s, _, _ in sides}
    passing_own = [r.wall for r in records if r.side == "own" and r.rc == 0]
    for side in walls:
        runs = [r for r in records if r.side == side]
        failed = sum(1 for r in runs if r.rc != 0)
        left = sum(r.left for r in runs)
        print(f"{side}: wall median {median(walls[side]):.2f} s ({min(walls[side]):.2f}-{max(walls[side]):.2f}), "
              f"{failed} of {len(runs)} runs failed, {left} servers left in all")
    vtf_median, own_median = median(walls["vtf"]), median(passing_own)
    if vtf_median is not None and own_median is not None:
        print(f"ratio: {vtf_median / own_median:.2f}x (vtf median over own's {len(passing_own)} passing runs)")
    else:
        print("ratio: none (no passing run of its own framework to compare with)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
