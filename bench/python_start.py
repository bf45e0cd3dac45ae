"""Benchmark: start-to-ready of vtf.Server against a bare subprocess.Popen + PING loop, in Python.

Same binary, same run, rounds alternating (ABAB) so machine drift hits both.
The baseline is what a Python framework does by hand: Popen valkey-server with
its port, dir and log, then connect + PING every 200 µs until +PONG (its port
and directory are chosen before the clock starts). Prints one Markdown row.
Run by scripts/bench.sh; alone: target/venv/bin/python bench/python_start.py [--rounds N].
"""

import argparse
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import List

import vtf

POLL = 0.0002


def free_port() -> int:
    # Below Linux's ephemeral range (32768+), as vtf's own ports are.
    while True:
        port = random.randint(20000, 30000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue


def ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def bare_start(binary: str, port: int, directory: str) -> "subprocess.Popen[bytes]":
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", directory, "--logfile", os.path.join(directory, "server.log")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while not ping(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"bare valkey-server on {port} did not start")
        time.sleep(POLL)
    return proc


def bare_stop(proc: "subprocess.Popen[bytes]", port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"SHUTDOWN NOSAVE\r\n")
        s.recv(16)
    proc.wait(timeout=20)


def cell(values: List[float]) -> str:
    return f"{statistics.median(values):.1f} ms ({min(values):.1f}–{max(values):.1f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--binary", default=shutil.which("valkey-server"))
    options = parser.parse_args()
    if not options.binary:
        print("python_start: no valkey-server on PATH (pass --binary)", file=sys.stderr)
        return 1
    config = vtf.Config(binary=options.binary)
    # Warm-up: engine detection, page cache, Python imports.
    vtf.Server(config).close()
    ours: List[float] = []
    base: List[float] = []
    for _ in range(options.rounds):
        t = time.perf_counter()
        server = vtf.Server(config)
        ours.append((time.perf_counter() - t) * 1000)
        server.close()

        port, directory = free_port(), tempfile.mkdtemp(prefix="bench-bare-")
        t = time.perf_counter()
        proc = bare_start(options.binary, port, directory)
        base.append((time.perf_counter() - t) * 1000)
        bare_stop(proc, port)
        shutil.rmtree(directory, ignore_errors=True)
    ratio = statistics.median(ours) / statistics.median(base)
    print(f"binary: {options.binary}; Python {sys.version.split()[0]}; vtf {vtf.__version__}")
    print("| benchmark | vtf: median (min–max) | baseline: median (min–max) | ratio vtf/baseline | target | n |")
    print("|---|---|---|---|---|---|")
    print(f"| start to ready (Python vtf.Server) | {cell(ours)} | subprocess.Popen + PING loop: {cell(base)} "
          f"| {ratio:.2f}x | ≤ 1.10x | {len(ours)}+{len(base)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
