#!/usr/bin/env python3
"""Measure stillup against curl on 127.0.0.1, all in one run, and print a table of ratios
(section 5, many targets at once, measures stillup wait against one stillup check instead;
section 7 measures database and broker checks against the servers' own client tools).

Called by bench/run.sh after the release build; see bench/README.md for what each number means.
Only the standard library is used. Every child process runs with a hard time limit (killed
with its whole process group past it) and every loop has a fixed number of rounds.
"""

import argparse
import collections
import datetime
import glob
import importlib.util
import json
import os
import pwd
import re
import resource
import select
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

MB = 1_000_000  # peak RSS is reported in MB of 10^6 bytes; ru_maxrss is in KiB on Linux

# Targets from the issue. They are shown next to the numbers; nothing else depends on them.
CHECK_TIME_RATIO_TARGET = 1.5  # stillup check within 1.5x curl's wall time
CHECK_RSS_TARGET = 10 * MB  # stillup check peak RSS under 10 MB
OVERSHOOT_TARGET = 0.100  # stillup exits within 100 ms of its --timeout
REFUSED_LATENCY_TARGET = 0.200  # a port that starts listening healthy is noticed within 200 ms
MANY_LAG_TARGET = 1.0  # with many targets, each one noticed within 1 s of turning healthy
MANY_RSS_TARGET = 200 * MB  # ... and stillup's peak RSS stays under 200 MB
SCALE_OVERRUN_TARGET = 0.100  # at any scale, the run ends within 100 ms of --timeout
SCALE_BYTES_PER_TARGET = 2048  # ... holding at most 2 KB per target (up to 3 attempts each)
SCALE_TIMEOUT = 3.0  # --timeout of section (6)
SCALE_ATTEMPTS = 3  # (6b): attempts each target makes ...
SCALE_ROUND = 10.0  # ... this many seconds apart (a round over N targets must fit in it)
SCALE_REFUSING = 3  # (6b): ports that refuse, shared by the targets

DEADLINE = 3.0  # --timeout 3s / --max-time 3
DEFAULT_INTERVAL = 1.0  # stillup wait's default --interval, used only to explain section 3


# ---------------------------------------------------------------------------------------------
# Running and timing one child


class Run:
    """One finished child: wall time from spawn to reap, peak RSS, and how it ended."""

    def __init__(self, start, end, maxrss_bytes, status, killed):
        self.start = start  # perf_counter just before the spawn
        self.end = end  # perf_counter when the exit was seen
        self.seconds = end - start
        self.maxrss = maxrss_bytes
        self.status = status  # exit code, or -signal
        self.killed = killed  # True if we killed it at its time limit


def run_timed(argv, limit):
    """Spawn argv (stdin/stdout/stderr on /dev/null, in its own session), wait for it, and return
    a Run. Wall time is perf_counter from just before posix_spawn to the moment the child is
    known to have exited; peak RSS comes from wait4's rusage of that child alone."""
    devnull = [
        (os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)
    ]
    lock = threading.Lock()
    state = {"exited": False, "killed": False}

    start = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=devnull, setsid=True)

    def on_limit():
        with lock:
            if not state["exited"]:
                state["killed"] = True
                os.killpg(pid, signal.SIGKILL)

    timer = threading.Timer(limit, on_limit)
    timer.start()
    # WNOWAIT: learn that it exited without reaping it, so the pid (and its process group) cannot
    # be reused before the timer has been disarmed.
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    end = time.perf_counter()
    with lock:
        state["exited"] = True
    timer.cancel()
    _, status, rusage = os.wait4(pid, 0)
    return Run(start, end, rusage.ru_maxrss * 1024, os.waitstatus_to_exitcode(status), state["killed"])


class Spawned:
    """One command run through examples/bench_spawn: its own wall time, peak RSS and status."""

    def __init__(self, seconds, maxrss_bytes, status):
        self.seconds = seconds
        self.maxrss = maxrss_bytes
        self.status = status
        self.killed = False


def run_spawned(spawner, argv, limit):
    """Run argv under bench_spawn (see examples/bench_spawn.rs for why: a clean peak RSS)."""
    proc = subprocess.Popen([spawner, *argv], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise RuntimeError(f"{' '.join(argv)} took longer than {limit} s")
    if proc.returncode != 0:
        raise RuntimeError(f"bench_spawn {' '.join(argv)} failed with status {proc.returncode}")
    fields = dict(kv.split("=") for kv in out.split())
    return Spawned(int(fields["wall_ns"]) / 1e9, int(fields["maxrss_kb"]) * 1024,
                   int(fields["status"]))


# ---------------------------------------------------------------------------------------------
# The example server


class BenchServer:
    """examples/bench_server in one mode; see the example's docs for its stdin/stdout protocol."""

    def __init__(self, binary, *mode):
        self.proc = subprocess.Popen(
            [binary, *mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        line = self._readline(10.0)
        # Taken right after the READY line arrives; the server's script clock started a little
        # earlier (before it bound the port), so times measured from here are a hair generous.
        self.ready_at = time.perf_counter()
        if not line.startswith("READY "):
            self.close()
            raise RuntimeError(f"bench_server {' '.join(mode)}: expected READY, got {line!r}")
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}/health"

    def _readline(self, limit):
        ready, _, _ = select.select([self.proc.stdout], [], [], limit)
        if not ready:
            self.close()
            raise RuntimeError("bench_server did not answer in time")
        return self.proc.stdout.readline().strip()

    def stats(self):
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        line = self._readline(5.0)
        if not line.startswith("STATS "):
            raise RuntimeError(f"bench_server: expected STATS, got {line!r}")
        return {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------------------------------------
# Statistics and formatting


def median(xs):
    return statistics.median(xs)


def p90(xs):
    """Nearest-rank 90th percentile."""
    s = sorted(xs)
    return s[max(0, -(-9 * len(s) // 10) - 1)]


def ms(seconds):
    return f"{seconds * 1000:.1f} ms"


def signed_ms(seconds):
    return f"{seconds * 1000:+.1f} ms"


def count(n):
    return f"{n:g}"


def mb(n):
    return f"{n / MB:.1f} MB"


def ratio(a, b):
    if b <= 0:
        return "n/a"
    return f"{a / b:.2f}x"


def verdict(ok):
    return "ok" if ok else "MISSED"


def exits(runs):
    """Exit statuses as 'code*count', e.g. '0*30' or '1*3'; killed runs show as 'killed'."""
    counts = {}
    for r in runs:
        key = "killed" if r.killed else str(r.status)
        counts[key] = counts.get(key, 0) + 1
    return " ".join(f"{k}*{v}" for k, v in sorted(counts.items()))


def table(rows, header):
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  " + "  ".join(str(c).ljust(w) for c, w in zip(header, widths)).rstrip()]
    lines.append("  " + "  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# The three measurements


def single_check(args):
    """(1) stillup check URL vs curl -sf URL against a healthy server, interleaved."""
    with BenchServer(args.server, "healthy") as server:
        commands = {
            "stillup": [args.stillup, "check", server.url],
            "curl": [args.curl, "-sf", "-o", os.devnull, server.url],
        }
        for _ in range(3):  # warm the page cache and the server; not recorded
            for argv in commands.values():
                run_spawned(args.spawn, argv, 10)
        runs = {name: [] for name in commands}
        for i in range(args.runs):
            # Alternate who goes first so neither always follows the other.
            order = list(commands) if i % 2 == 0 else list(reversed(commands))
            for name in order:
                runs[name].append(run_spawned(args.spawn, commands[name], 10))
        requests = server.stats()["requests"]
    floor = max(run_spawned(args.spawn, ["true"], 10).maxrss for _ in range(3))

    s, c = runs["stillup"], runs["curl"]
    st, ct = [r.seconds for r in s], [r.seconds for r in c]
    sr, cr = [r.maxrss for r in s], [r.maxrss for r in c]
    rows = [
        ["wall time, median", ms(median(st)), ms(median(ct)), ratio(median(st), median(ct)),
         f"<= {CHECK_TIME_RATIO_TARGET}x curl",
         verdict(median(st) <= CHECK_TIME_RATIO_TARGET * median(ct))],
        ["wall time, p90", ms(p90(st)), ms(p90(ct)), ratio(p90(st), p90(ct)), "", ""],
        ["peak RSS, median", mb(median(sr)), mb(median(cr)), ratio(median(sr), median(cr)),
         f"< {mb(CHECK_RSS_TARGET)}", verdict(median(sr) < CHECK_RSS_TARGET)],
        ["peak RSS, max", mb(max(sr)), mb(max(cr)), ratio(max(sr), max(cr)),
         f"< {mb(CHECK_RSS_TARGET)}", verdict(max(sr) < CHECK_RSS_TARGET)],
        ["exit statuses", exits(s), exits(c), "", "0 (healthy)",
         verdict(all(r.status == 0 for r in s))],
    ]
    print(f"(1) one check against a healthy local server: {args.runs} interleaved runs each "
          f"(+3 warm-up), {requests} requests served")
    print(table(rows, ["", "stillup check URL", "curl -sf URL", "ratio", "target", ""]))
    print(f"  peak RSS floor of the measurement (true run the same way): {mb(floor)}")


def deadline_precision(args):
    """(2) stillup wait --timeout 3s vs curl --max-time 3 against hang and trickle servers."""
    servers = [
        ("hang", ["hang"], "never answers"),
        ("trickle", ["trickle", "1000", "3600"], "body 1 byte/s"),
    ]
    rows = []
    for label, mode, what in servers:
        with BenchServer(args.server, *mode) as server:
            commands = {
                "stillup": [args.stillup, "wait", server.url, "--timeout", "3s"],
                "curl": [args.curl, "-sf", "-o", os.devnull, "--max-time", "3", server.url],
            }
            runs = {name: [] for name in commands}
            for i in range(args.deadline_runs):
                order = list(commands) if i % 2 == 0 else list(reversed(commands))
                for name in order:
                    runs[name].append(run_timed(commands[name], DEADLINE + 10))
        over = {name: [r.seconds - DEADLINE for r in rs] for name, rs in runs.items()}
        s, c = over["stillup"], over["curl"]
        rows.append([f"{label} ({what})", "median", signed_ms(median(s)), signed_ms(median(c)),
                     ratio(median(s), median(c)), "", ""])
        rows.append(["", "max", signed_ms(max(s)), signed_ms(max(c)), ratio(max(s), max(c)),
                     f"<= {OVERSHOOT_TARGET * 1000:.0f} ms",
                     verdict(max(s) <= OVERSHOOT_TARGET and min(s) >= -0.005)])
        rows.append(["", "exit statuses", exits(runs["stillup"]), exits(runs["curl"]), "",
                     "1 (gave up)", verdict(all(r.status == 1 for r in runs["stillup"]))])
    print(f"(2) deadline precision: exit time minus the 3 s deadline (from spawn), "
          f"{args.deadline_runs} interleaved runs per server")
    print(table(rows, ["server", "", "stillup wait --timeout 3s", "curl --max-time 3", "ratio",
                       "target", ""]))


def detection_latency(args):
    """(3) stillup wait (defaults) vs a curl+sleep loop against 503 for D seconds, then 200."""
    # Healthy instants spread evenly over one polling interval (3.125, 3.375, 3.625, 3.875 s for
    # four runs), so the result is the average over where the switch falls between two polls
    # rather than the luck of one alignment.
    n = args.latency_runs
    durations = [3.0 + (k + 0.5) / n * DEFAULT_INTERVAL for k in range(n)]
    loop = 'until "$1" -sf -o /dev/null "$2"; do sleep 1; done'
    results = {"stillup": [], "curl": []}
    for i, unhealthy_for in enumerate(durations):
        names = ["stillup", "curl"] if i % 2 == 0 else ["curl", "stillup"]
        for name in names:
            with BenchServer(args.server, "503-then-200", f"{unhealthy_for}") as server:
                argv = {
                    "stillup": [args.stillup, "wait", server.url],
                    "curl": ["bash", "-c", loop, "curl-loop", args.curl, server.url],
                }[name]
                run = run_timed(argv, unhealthy_for + 15)
                latency = run.end - (server.ready_at + unhealthy_for)
                stats = server.stats()
            results[name].append((unhealthy_for, latency, stats, run))

    def column(name, key):
        return [key(entry) for entry in results[name]]

    rows = []
    for label, key, fmt in [
        ("detection latency, median", lambda e: e[1], ms),
        ("detection latency, max", lambda e: e[1], ms),
        ("requests during the 503 phase, median", lambda e: e[2]["unhealthy_requests"], count),
        ("requests in total, median", lambda e: e[2]["requests"], count),
    ]:
        agg = max if label.endswith("max") else median
        s, c = agg(column("stillup", key)), agg(column("curl", key))
        rows.append([label, fmt(s), fmt(c), ratio(s, c)])
    rows.append(["exit statuses", exits(column("stillup", lambda e: e[3])),
                 exits(column("curl", lambda e: e[3])), ""])
    print(f"(3) detection latency: 503 for D seconds after READY, then 200; exit time minus "
          f"the switch; D = {', '.join(f'{d:g}' for d in durations)} s")
    print(table(rows, ["", "stillup wait URL (defaults)", "until curl -sf; sleep 1", "ratio"]))
    print("  per run:")
    for d, a, b in zip(durations, results["stillup"], results["curl"]):
        print(f"    D = {d:g} s: stillup {ms(a[1])} after {a[2]['unhealthy_requests']} x 503, "
              f"curl loop {ms(b[1])} after {b[2]['unhealthy_requests']} x 503")
    print(f"  a poller with a {DEFAULT_INTERVAL:g} s interval expects about "
          f"{DEFAULT_INTERVAL / 2 * 1000:.0f} ms on average (half an interval), never more than "
          f"{DEFAULT_INTERVAL * 1000:.0f} ms plus one request")


# ---------------------------------------------------------------------------------------------
# (4) A port that starts listening already healthy

REFUSED_THEN_503_FOR = 1.0  # in (4b): the port refuses this long before the 503 phase


def late_listener_runs(args, durations, mode, healthy_after):
    """Interleaved runs of stillup wait (defaults) and the curl loop against bench_server in
    `mode(D)`, for each D. Returns {tool: [(D, latency, stats, run)]}, where latency is the exit
    time minus the moment the server turned healthy (READY + healthy_after(D))."""
    loop = 'until "$1" -sf -o /dev/null "$2"; do sleep 1; done'
    results = {"stillup": [], "curl": []}
    for i, d in enumerate(durations):
        names = ["stillup", "curl"] if i % 2 == 0 else ["curl", "stillup"]
        for name in names:
            with BenchServer(args.server, *mode(d)) as server:
                argv = {
                    "stillup": [args.stillup, "wait", server.url],
                    "curl": ["bash", "-c", loop, "curl-loop", args.curl, server.url],
                }[name]
                run = run_timed(argv, healthy_after(d) + 15)
                latency = run.end - (server.ready_at + healthy_after(d))
                stats = server.stats()
            results[name].append((d, latency, stats, run))
    return results


def late_listener(args):
    """(4) Detection latency when the service starts listening: the port refuses for D seconds,
    then answers 200 at once (4a); or refuses 1 s, answers 503 for D seconds, then 200 (4b)."""
    n = args.latency_runs
    # As in (3): D spread evenly over one default interval, so the curl loop's luck averages out.
    durations = [2.0 + (k + 0.5) / n * DEFAULT_INTERVAL for k in range(n)]
    a = late_listener_runs(args, durations, lambda d: ["refused-then-200", f"{d}"],
                           lambda d: d)
    b = late_listener_runs(
        args, durations,
        lambda d: ["refused-then-503-then-200", f"{REFUSED_THEN_503_FOR}", f"{d}"],
        lambda d: REFUSED_THEN_503_FOR + d)

    def col(results, name, key, agg):
        return agg([key(e) for e in results[name]])

    latency = lambda e: e[1]  # noqa: E731
    unhealthy = lambda e: e[2]["unhealthy_requests"]  # noqa: E731
    total = lambda e: e[2]["requests"]  # noqa: E731
    # At most one request per interval while it answers 503: attempts at t0, t0 + 1 s, ... all
    # before the switch, so no more than floor(D / interval) + 1 of them.
    allowed = {d: int(d // DEFAULT_INTERVAL) + 1 for d in durations}
    rows = []
    for part, results in (("4a", a), ("4b", b)):
        first = True
        for label, key, fmt, agg in [
            ("detection latency, median", latency, ms, median),
            ("detection latency, max", latency, ms, max),
            ("requests before healthy, max" if part == "4a"
             else "requests during the 503 phase, max", unhealthy, count, max),
            ("requests in total, median", total, count, median),
        ]:
            s, c = col(results, "stillup", key, agg), col(results, "curl", key, agg)
            target, ok = "", ""
            if part == "4a" and label == "detection latency, max":
                target = f"< {REFUSED_LATENCY_TARGET * 1000:.0f} ms"
                ok = verdict(s < REFUSED_LATENCY_TARGET)
            if part == "4b" and key is unhealthy:
                target = "<= 1 per 1 s interval"
                ok = verdict(all(e[2]["unhealthy_requests"] <= allowed[e[0]]
                                 for e in results["stillup"]))
            rows.append([part if first else "", label, fmt(s), fmt(c), ratio(s, c), target, ok])
            first = False
        rows.append(["", "exit statuses", exits([e[3] for e in results["stillup"]]),
                     exits([e[3] for e in results["curl"]]), "", "0 (healthy)",
                     verdict(all(e[3].status == 0 for e in results["stillup"]))])
    print(f"(4) a service that starts listening: (4a) the port refuses for D s after READY, then "
          f"answers 200 at once; (4b) refuses {REFUSED_THEN_503_FOR:g} s, 503 for D s, then 200; "
          f"D = {', '.join(f'{d:g}' for d in durations)} s; exit time minus the switch to 200")
    print(table(rows, ["", "", "stillup wait URL (defaults)", "until curl -sf; sleep 1", "ratio",
                       "target", ""]))
    print("  per run:")
    for part, results in (("4a", a), ("4b", b)):
        for d, s, c in zip(durations, results["stillup"], results["curl"]):
            most = f" (at most {allowed[d]})" if part == "4b" else ""
            print(f"    {part} D = {d:g} s: stillup {ms(s[1])} after {s[2]['unhealthy_requests']} "
                  f"x 503{most}, curl loop {ms(c[1])} after {c[2]['unhealthy_requests']} x 503")
    print("  (4a): stillup re-probes a refusing port every 100 ms (--refused-interval), so it "
          "should notice within about 100 ms plus one request; the curl loop sleeps 1 s")
    print("  (4b): once the port answers (503), stillup should fall back to its 1 s interval; "
          "'at most' is floor(D / 1 s) + 1")


# ---------------------------------------------------------------------------------------------
# (5) Many targets at once


def nearest_rank(xs, q):
    """Nearest-rank q-quantile (q in (0, 1]) of a non-empty list."""
    s = sorted(xs)
    return s[max(0, -(-int(round(q * 1000)) * len(s) // 1000) - 1)]


class ManyServer:
    """examples/bench_many: TARGETS paths over PORTS ports, each 503 until a random moment in a
    window, then 200; see the example's docs for its stdin/stdout protocol."""

    def __init__(self, binary, targets, ports, window, seed):
        self.targets = targets
        # Binary and unbuffered: replies are read with select + os.read into our own buffer (a
        # buffered reader could hold lines that select cannot see).
        self.proc = subprocess.Popen(
            [binary, str(targets), str(ports), f"{window}", str(seed)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0, start_new_session=True)
        self._pending = bytearray()
        line = self._reply(10.0)[0]
        self.ready_at = time.perf_counter()
        if not line.startswith("READY "):
            self.close()
            raise RuntimeError(f"bench_many: expected READY, got {line!r}")
        self.ports = [int(p) for p in line.split()[1].split(",")]

    def url(self, i):
        return f"http://127.0.0.1:{self.ports[i % len(self.ports)]}/t/{i}"

    def write_targets(self, path):
        with open(path, "w") as f:
            f.write(f"# {self.targets} targets of bench_many\n")
            for i in range(self.targets):
                f.write(self.url(i) + "\n")

    def _reply(self, limit, last=None):
        """Lines of one reply: up to the first line (or, with `last`, up to the line `last`),
        within `limit` seconds."""
        deadline = time.monotonic() + limit
        marker = b"\n" if last is None else b"\n" + last.encode() + b"\n"
        fd = self.proc.stdout.fileno()
        while True:
            # Search from the start with the separator in front, so a reply that begins with the
            # marker line is found too.
            end = (b"\n" + self._pending).find(marker) if last is not None else \
                self._pending.find(b"\n")
            if end >= 0:
                end = end + len(marker) - 1 if last is not None else end + 1
                text, self._pending = bytes(self._pending[:end]), self._pending[end:]
                return text.decode().splitlines()
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                self.close()
                raise RuntimeError("bench_many did not answer in time")
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise RuntimeError("bench_many exited")
            self._pending += chunk

    def _ask(self, command):
        self.proc.stdin.write(command.encode() + b"\n")
        self.proc.stdin.flush()

    def cpu_seconds(self):
        """The server's user + system CPU time so far, from /proc."""
        fields = open(f"/proc/{self.proc.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stats(self):
        self._ask("stats")
        line = self._reply(5.0)[0]
        if not line.startswith("STATS "):
            raise RuntimeError(f"bench_many: expected STATS, got {line!r}")
        return {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}

    def dump(self):
        """Per target: (switch_s, first_healthy_s or None, requests, unhealthy_requests), with
        times in seconds since the server's first request."""
        self._ask("dump")
        records = []
        for line in self._reply(30.0, last="END")[:-1]:
            _, _, switch, first, requests, unhealthy = line.split()
            records.append((int(switch) / 1e6, None if int(first) < 0 else int(first) / 1e6,
                            int(requests), int(unhealthy)))
        if len(records) != self.targets:
            raise RuntimeError(f"bench_many: dump has {len(records)} of {self.targets} targets")
        return records

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ManyRun:
    """One stillup run against one bench_many: what bench_spawn measured, the server's record
    and stillup's JSON report, and the numbers derived from them."""

    def __init__(self, spawned, cpu, spawn_at, server, stats, records, report, interval):
        self.spawned = spawned
        self.cpu = cpu
        self.stats = stats
        self.records = records
        self.report = report
        self.interval = interval
        go = server.ready_at + stats["go_us"] / 1e6 if stats["go_us"] >= 0 else None
        self.startup = go - spawn_at if go is not None else None
        self.last_switch = max(r[0] for r in records)
        end = spawn_at + spawned.seconds
        self.tail = end - (go + self.last_switch) if go is not None else None
        self.server_cpu = server.cpu_seconds()
        # Detection lag on the server's clock: the switch to the first request answered 200.
        self.lags = [r[1] - r[0] for r in records if r[1] is not None]
        self.never = sum(1 for r in records if r[1] is None)
        self.attempts = []
        self.classes = collections.Counter()
        self.examples = {}
        self.noticed = None  # lag until stillup had the answer (needs the JSON report)
        self.offset_error = None
        self.first_round = None
        self.min_gap = None
        self.too_fast = 0  # targets with two attempts closer than the interval
        self.mismatched = 0  # targets whose request count disagrees with their JSON attempts
        if report is None:
            return
        targets = report["targets"]
        for r, t in zip(records, targets):
            starts = [a["started_ms"] / 1000 for a in t["attempts"]]
            gaps = [b - a for a, b in zip(starts, starts[1:])]
            if gaps:
                self.min_gap = min(gaps + ([self.min_gap] if self.min_gap is not None else []))
                if interval and min(gaps) < interval - 0.001:
                    self.too_fast += 1
            # Every answered attempt was a request; a failed one may or may not have reached it
            # (nor may the attempts a long run no longer lists).
            answered = sum(1 for a in t["attempts"] if a["status"] is not None)
            if not answered <= r[2] <= len(t["attempts"]) + t["attempts_omitted"]:
                self.mismatched += 1
            for a in t["attempts"]:
                self.attempts.append(a["duration_ms"] / 1000)
                if a["class"] and a["status"] != 503:
                    self.classes[a["class"]] += 1
                    self.examples.setdefault(a["class"], a["message"])
        firsts = [t["attempts"][0]["started_ms"] / 1000 for t in targets if t["attempts"]]
        self.first_round = max(firsts) if firsts else None
        # When stillup had each answer, on the server's clock. stillup's JSON times its healthy
        # attempt (start s, duration d) on its own clock; the server read that attempt's
        # request at h on its clock. With c = stillup clock - server clock, s <= h + c <= s + d,
        # so c >= max(s - h). Taking that smallest possible c makes s + d - c - switch an upper
        # bound of each lag; min(s + d - h) - max(s - h) is how far off the offset can be.
        # Only targets whose every attempt was answered pin c down: there the healthy attempt
        # is surely the request the server answered 200 first.
        healthy, clean = [], []
        for r, t in zip(records, targets):
            final = t["attempts"][-1] if t["attempts"] else None
            if r[1] is not None and final is not None and final["healthy"]:
                s, d = final["started_ms"] / 1000, final["duration_ms"] / 1000
                healthy.append((s, d, r[0]))
                if r[2] == len(t["attempts"]) and all(a["status"] for a in t["attempts"]):
                    clean.append((s, d, r[1]))
        if healthy and clean:
            c_low = max(s - h for s, d, h in clean)
            c_high = min(s + d - h for s, d, h in clean)
            self.noticed = [s + d - c_low - switch for s, d, switch in healthy]
            self.offset_error = c_high - c_low

    @property
    def outcome(self):
        return self.report["outcome"] if self.report else "no JSON"


def many_run(args, server, tmp, command, extra, nofile=None):
    """Run stillup COMMAND --targets-file F EXTRA --output json under bench_spawn, with stdout
    to a file (through `sh -c 'exec …'`, so bench_spawn still measures stillup's own rusage)."""
    targets_file = os.path.join(tmp, "targets.txt")
    out = os.path.join(tmp, "report.json")
    server.write_targets(targets_file)
    argv = [args.stillup, command, "--targets-file", targets_file, *extra, "--output", "json"]
    limit_nofile = f"ulimit -S -n {nofile} && " if nofile else ""
    script = f'{limit_nofile}exec "$@" > {shlex.quote(out)}'
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    spawn_at = time.perf_counter()
    spawned = run_spawned(args.spawn, ["sh", "-c", script, "sh", *argv], 90)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # bench_spawn reaped stillup, so stillup's CPU time is in bench_spawn's children, which
    # this process has reaped in turn (bench_spawn's own share is a millisecond or two).
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    stats = server.stats()
    records = server.dump()
    try:
        with open(out) as f:
            report = json.load(f)
    except (OSError, ValueError):
        report = None
    interval = None
    if command == "wait":
        interval = DEFAULT_INTERVAL
        if "--interval" in extra:
            interval = parse_interval(extra[extra.index("--interval") + 1])
    return ManyRun(spawned, cpu, spawn_at, server, stats, records, report, interval)


def parse_interval(text):
    """'200ms' or '1s' → seconds (only the forms this harness passes)."""
    if text.endswith("ms"):
        return float(text[:-2]) / 1000
    if text.endswith("s"):
        return float(text[:-1])
    raise ValueError(f"cannot read interval {text!r}")


def raise_nofile(needed):
    """Raise this process's soft RLIMIT_NOFILE (inherited by stillup and bench_many) to
    `needed` if the hard limit allows. Returns a sentence saying what was found and done."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    shown = lambda v: "unlimited" if v == resource.RLIM_INFINITY else str(v)  # noqa: E731
    found = f"ulimit -n: soft {shown(soft)}, hard {shown(hard)}"
    if soft != resource.RLIM_INFINITY and soft < needed:
        new = needed if hard == resource.RLIM_INFINITY else min(hard, needed)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        note = f"{found}; soft limit raised to {new} for this section"
        if new < needed:
            note += f" (the hard limit is below the {needed} needed: expect EMFILE)"
        return note
    return f"{found}; enough for {needed} descriptors, left as it is"


def many_targets(args):
    """(5) stillup wait on N targets at once, each turning healthy at a random moment in a
    3 s window; the baseline is one stillup check of the same N targets, all healthy."""
    counts = args.many_targets or [1000, 10000]
    window, ports, seed = args.many_window, args.many_ports, args.many_seed
    interval = args.many_interval
    # One socket per target at a time in stillup, one per connection in bench_many, plus slack.
    note_nofile = raise_nofile(max(counts) + 1024)
    floor = max(run_spawned(args.spawn, ["sh", "-c", "exec true"], 10).maxrss for _ in range(3))
    print(f"(5) many targets at once: N targets over {ports} ports of one local bench_many, each "
          f"503 until a random moment in a {window:g} s window (seed {seed}) after the server's "
          f"first request, then 200; stillup wait --targets-file F --output json --timeout 30s")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"  {note_nofile}; load average before: {load} ({os.cpu_count()} CPUs)")
    for n in counts:
        variants = [
            (f"wait --interval {interval}", "wait", ["--timeout", "30s", "--interval", interval],
             None),
            ("… --keep-alive", "wait",
             ["--timeout", "30s", "--interval", interval, "--keep-alive"], None),
            ("wait (default 1s)", "wait", ["--timeout", "30s"], None),
        ]
        if args.many_low_nofile and n == max(counts) and args.many_low_nofile < n:
            variants.append((f"wait --interval {interval}, ulimit -n {args.many_low_nofile}",
                             "wait", ["--timeout", "30s", "--interval", interval],
                             args.many_low_nofile))
        with tempfile.TemporaryDirectory(prefix="stillup-bench-") as tmp:
            with ManyServer(args.many_server, n, ports, 0, seed) as server:
                check = many_run(args, server, tmp, "check", [])
            runs = []
            for label, command, extra, nofile in variants:
                with ManyServer(args.many_server, n, ports, window, seed) as server:
                    runs.append((label, many_run(args, server, tmp, command, extra, nofile)))
        print_many(n, runs, check, floor)
    print(f"  peak RSS floor of the measurement (sh -c 'exec true' run the same way): {mb(floor)}")
    print(f"  detection lag: from the moment a path turned healthy to the server reading the "
          f"first request it answered 200 (the server's clock); 'until stillup had it' is an "
          f"upper bound of when that attempt ended, from stillup's JSON mapped onto the server's "
          f"clock (see bench/README.md)")


def print_many(n, runs, check, floor):
    def lag3(xs):
        if not xs:
            return "n/a"
        return (f"{median(xs) * 1000:.0f} / {nearest_rank(xs, 0.99) * 1000:.0f} / "
                f"{max(xs) * 1000:.0f} ms")

    def opt_ms(x):
        return "n/a" if x is None else ms(x)

    def classes(r):
        return " ".join(f"{k}*{v}" for k, v in r.classes.most_common()) or "none"

    rows = []

    def judged(ok):
        """One verdict per variant, in column order."""
        return " / ".join(verdict(ok(r)) for _, r in runs)

    def row(label, fn, check_value="", target="", ok=""):
        rows.append([label, *[fn(r) for _, r in runs], check_value, target, ok])

    row("exit status, outcome", lambda r: f"{r.spawned.status} {r.outcome}",
        f"{check.spawned.status} {check.outcome}", "0 healthy",
        judged(lambda r: r.spawned.status == 0 and r.outcome == "healthy"))
    row("wall time (spawn to exit)", lambda r: ms(r.spawned.seconds), ms(check.spawned.seconds))
    row("  start-up (spawn to first request)", lambda r: opt_ms(r.startup), opt_ms(check.startup))
    row("  first request to last switch", lambda r: ms(r.last_switch), "")
    row("  last switch to exit", lambda r: opt_ms(r.tail), "")
    row("wall time / (check + last switch)",
        lambda r: ratio(r.spawned.seconds, check.spawned.seconds + r.last_switch), "1.00x")
    row("peak RSS", lambda r: mb(r.spawned.maxrss), mb(check.spawned.maxrss),
        f"< {mb(MANY_RSS_TARGET)}", judged(lambda r: r.spawned.maxrss < MANY_RSS_TARGET))
    row("peak RSS / check's", lambda r: ratio(r.spawned.maxrss, check.spawned.maxrss), "1.00x")
    row("CPU time stillup (user+sys), % of wall",
        lambda r: f"{ms(r.cpu)}, {100 * r.cpu / r.spawned.seconds:.0f}%",
        f"{ms(check.cpu)}, {100 * check.cpu / check.spawned.seconds:.0f}%")
    row("CPU time bench_many", lambda r: ms(r.server_cpu), ms(check.server_cpu))
    row("detection lag, median / p99 / max", lambda r: lag3(r.lags), "")
    row("  until stillup had it, median / p99 / max",
        lambda r: lag3(r.noticed) if r.noticed else "n/a", "",
        f"max < {MANY_LAG_TARGET * 1000:.0f} ms",
        judged(lambda r: r.never == 0 and bool(r.noticed) and max(r.noticed) < MANY_LAG_TARGET))
    row("  (clock offset known within)", lambda r: opt_ms(r.offset_error), "")
    row("targets noticed >= 1 s after the switch",
        lambda r: count(sum(1 for x in r.noticed or [] if x >= MANY_LAG_TARGET) + r.never), "",
        "0", judged(lambda r: r.never == 0 and all(x < MANY_LAG_TARGET for x in r.noticed or [1e9])))
    row("targets never answered 200", lambda r: count(r.never), count(check.never))
    row("requests per target, mean", lambda r: f"{r.stats['requests'] / n:.1f}",
        f"{check.stats['requests'] / n:.1f}")
    row("requests per second, mean", lambda r: f"{r.stats['requests'] / r.spawned.seconds:,.0f}",
        f"{check.stats['requests'] / check.spawned.seconds:,.0f}")
    row("closest two attempts of one target", lambda r: opt_ms(r.min_gap), "")
    row("targets polled faster than the interval", lambda r: count(r.too_fast), "", "0",
        judged(lambda r: r.too_fast == 0))
    row("targets: server requests disagree with JSON", lambda r: count(r.mismatched),
        count(check.mismatched), "0", judged(lambda r: r.mismatched == 0))
    row("attempt duration, median / p99 / max", lambda r: lag3(r.attempts), lag3(check.attempts))
    row("first round of attempts started within", lambda r: opt_ms(r.first_round),
        opt_ms(check.first_round))
    row("failed attempts other than 503", classes, classes(check), "none",
        judged(lambda r: not r.classes))
    print(f"  N = {n}")
    print(table(rows, ["", *[label for label, _ in runs],
                       "check --targets-file F (all healthy)", "target", ""]))
    for label, r in [*runs, ("check", check)]:
        for cls, message in r.examples.items():
            print(f"    {label}: {cls}: e.g. {message}")


# ---------------------------------------------------------------------------------------------
# (6) Deadline and memory at scale


def deadline_at_scale(args):
    """(6) stillup wait on N targets (100,000 by default) that stay unhealthy past the deadline:
    how far past --timeout it exits, and how much memory it held per target."""
    counts = args.scale_targets or [100_000]
    ports = args.many_ports
    note_nofile = raise_nofile(max(counts) + 1024)
    floor = max(run_spawned(args.spawn, ["sh", "-c", "exec true"], 10).maxrss for _ in range(3))
    print(f"(6) deadline and memory at scale: N targets over {ports} ports of one local "
          f"bench_many, every one 503 for the whole run; stillup wait --targets-file F "
          f"--timeout {SCALE_TIMEOUT:g}s --attempt-timeout 1s (interval 1 s: up to 3 attempts "
          f"each), human output, stderr to a file")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"  {note_nofile}; load average before: {load} ({os.cpu_count()} CPUs)")
    rows = []
    for n in counts:
        with tempfile.TemporaryDirectory(prefix="stillup-bench-") as tmp:
            # A window of ~30 years: 503 from the first request to the last, for every target.
            with ManyServer(args.many_server, n, ports, 1e9, args.many_seed) as server:
                targets_file = os.path.join(tmp, "targets.txt")
                server.write_targets(targets_file)
                stderr_file = os.path.join(tmp, "stderr.txt")
                argv = [args.stillup, "wait", "--targets-file", targets_file,
                        "--timeout", f"{SCALE_TIMEOUT:g}s", "--attempt-timeout", "1s"]
                script = f'exec "$@" 2> {shlex.quote(stderr_file)}'
                spawn_at = time.perf_counter()
                spawned = run_spawned(args.spawn, ["sh", "-c", script, "sh", *argv], 60)
                stats = server.stats()
                go = (server.ready_at + stats["go_us"] / 1e6) if stats["go_us"] >= 0 else None
            with open(stderr_file, errors="replace") as f:
                verdict_line = next((line.strip() for line in f if "deadline" in line
                                     and "targets" in line), "no verdict line")
        exited = spawn_at + spawned.seconds
        startup = go - spawn_at if go is not None else None
        # The deadline starts after the targets are read, just before the first request.
        # Negative when the run gave up before it (no attempt could start in time).
        overrun = exited - go - SCALE_TIMEOUT if go is not None else None
        per_target = spawned.maxrss / n
        rows.append([
            f"{n:,}", str(spawned.status), ms(spawned.seconds),
            "n/a" if startup is None else ms(startup),
            "n/a" if overrun is None else signed_ms(overrun),
            mb(spawned.maxrss), f"{per_target / 1000:.2f} KB",
            f"{stats['requests'] / n:.2f}",
            verdict(spawned.status == 1 and overrun is not None
                    and overrun <= SCALE_OVERRUN_TARGET
                    and per_target <= SCALE_BYTES_PER_TARGET),
        ])
        print(f"  N = {n:,}: {verdict_line}")
    print(table(rows, ["targets", "exit", "wall time", "start-up", "deadline overrun",
                       "peak RSS", "peak RSS / target", "requests / target", "ok?"]))
    print(f"  targets: exit 1 (gave up), deadline overrun <= {SCALE_OVERRUN_TARGET * 1000:.0f} ms "
          f"(exit minus the first request minus {SCALE_TIMEOUT:g} s), peak RSS / target <= "
          f"{SCALE_BYTES_PER_TARGET / 1000:.2f} KB; peak RSS floor of the measurement: "
          f"{mb(floor)}")
    memory_at_three_attempts(args, counts)


def memory_at_three_attempts(args, counts):
    """(6b) What a target costs once it has made its 3 attempts: N targets on ports that refuse
    at once, attempts 10 s apart, --timeout 30s, --any (so no target's giving up ends the
    others'): every target makes its attempts at 0, 10 and 20 s as long as one round over N
    takes less than 10 s. Memory per target is marginal: (peak RSS(N) - peak RSS(1)) / N."""
    print(f"(6b) memory at {SCALE_ATTEMPTS} attempts per target: N targets on {SCALE_REFUSING} "
          f"ports that refuse (bound, not listening); stillup wait --targets-file F --timeout "
          f"{SCALE_ATTEMPTS * SCALE_ROUND:g}s --attempt-timeout 1s --interval {SCALE_ROUND:g}s "
          f"--refused-interval 0s --any, human output, stderr to a file")
    refusing = []
    for _ in range(SCALE_REFUSING):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))  # never listen(): every connect is refused at once
        refusing.append(sock)
    ports = [sock.getsockname()[1] for sock in refusing]
    rows = []
    try:
        base = None
        for n in [1, *counts]:
            with tempfile.TemporaryDirectory(prefix="stillup-bench-") as tmp:
                targets_file = os.path.join(tmp, "targets.txt")
                with open(targets_file, "w") as f:
                    for i in range(n):
                        f.write(f"http://127.0.0.1:{ports[i % len(ports)]}/t/{i}\n")
                stderr_file = os.path.join(tmp, "stderr.txt")
                argv = [args.stillup, "wait", "--targets-file", targets_file,
                        "--timeout", f"{SCALE_ATTEMPTS * SCALE_ROUND:g}s",
                        "--attempt-timeout", "1s", "--interval", f"{SCALE_ROUND:g}s",
                        "--refused-interval", "0s", "--any"]
                script = f'exec "$@" 2> {shlex.quote(stderr_file)}'
                spawned = run_spawned(args.spawn, ["sh", "-c", script, "sh", *argv],
                                      SCALE_ATTEMPTS * SCALE_ROUND + 60)
                # One progress line per attempt: the interval equals the time after which
                # an unchanged failure is printed again.
                # Progress lines dropped because stderr fell behind are counted in the summary.
                lines = 0
                with open(stderr_file, errors="replace") as f:
                    for line in f:
                        if ("connection refused by" in line and
                                line.rstrip().endswith(f"/ {SCALE_ATTEMPTS * SCALE_ROUND:g}s)")):
                            lines += 1
                        dropped = re.match(r"\s*\((\d+) progress lines? dropped", line)
                        if dropped:
                            lines += int(dropped.group(1))
            if base is None:
                base = spawned.maxrss
                rows.append(["1", str(spawned.status), ms(spawned.seconds), mb(spawned.maxrss),
                             "(the base)", f"{lines}", ""])
                continue
            marginal = (spawned.maxrss - base) / n
            rows.append([
                f"{n:,}", str(spawned.status), ms(spawned.seconds), mb(spawned.maxrss),
                f"{marginal / 1000:.2f} KB", f"{lines / n:.2f}",
                verdict(spawned.status == 1 and marginal <= SCALE_BYTES_PER_TARGET
                        and lines >= SCALE_ATTEMPTS * n),
            ])
    finally:
        for sock in refusing:
            sock.close()
    print(table(rows, ["targets", "exit", "wall time", "peak RSS", "(RSS(N) - RSS(1)) / N",
                       "attempts / target", "ok?"]))
    print(f"  targets: exit 1, <= {SCALE_BYTES_PER_TARGET / 1000:.2f} KB per target with "
          f"{SCALE_ATTEMPTS} attempts each (attempts / target, from the progress lines printed "
          f"and dropped, = {SCALE_ATTEMPTS}; fewer "
          f"means a round over N took longer than {SCALE_ROUND:g} s on this machine)")


# ---------------------------------------------------------------------------------------------
# (7) Databases and brokers

DB_CHECK_RATIO_TARGET = 1.5  # stillup check within 1.5x the server's own client tool
DB_INTERVAL = "100ms"  # --interval of the waiters in (7b), and the sleep of the client loop
DB_INTERVAL_SECONDS = 0.1
DB_LIFETIME = 300  # seconds any server started by (7b) may live, whatever the harness does

# The machine's shared servers: checked, never stopped or reconfigured.
SHARED = [
    # name, stillup target, port, native client argv (first found on PATH wins), driver
    ("postgres", "postgres://127.0.0.1:5432", 5432,
     [["pg_isready", "-h", "127.0.0.1", "-p", "5432"]],
     ("psycopg", "import psycopg; psycopg.connect(host='127.0.0.1', port=5432, "
                 "user='postgres', dbname='test', connect_timeout=5).close()")),
    ("mysql", "mysql://root@127.0.0.1:3306", 3306,
     [["mariadb-admin", "-h", "127.0.0.1", "-u", "root", "ping"],
      ["mysqladmin", "-h", "127.0.0.1", "-u", "root", "ping"]],
     ("pymysql", "import pymysql; pymysql.connect(host='127.0.0.1', port=3306, user='root', "
                 "password='', connect_timeout=5).close()")),
    ("redis", "redis://127.0.0.1:6379", 6379,
     [["redis-cli", "-h", "127.0.0.1", "-p", "6379", "ping"]],
     ("redis", "import redis; redis.Redis(host='127.0.0.1', port=6379, "
               "socket_timeout=5).ping()")),
    ("amqp", "amqp://127.0.0.1:5672", 5672, [], None),
    ("mqtt", "mqtt://127.0.0.1:1883", 1883, [], None),
    ("nats", "nats://127.0.0.1:4222", 4222, [], None),
]


def port_open(port):
    """Whether something accepts TCP connections on 127.0.0.1:port (one try, 1 s at most)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def python_has(module):
    return importlib.util.find_spec(module) is not None


def database_checks(args):
    """(7a) stillup check against each shared server vs its client tool, nc -z and a driver."""
    notes = []
    services = []  # (name, {tool label: argv}, native label or None)
    nc = shutil.which("nc")
    if not nc:
        notes.append("nc not found: no nc -z column (apt-get install netcat-openbsd)")
    for name, target, port, natives, driver in SHARED:
        if not port_open(port):
            notes.append(f"{name}: nothing listens on 127.0.0.1:{port}, skipped")
            continue
        tools = {"stillup check": [args.stillup, "check", target]}
        native = next((argv for argv in natives if shutil.which(argv[0])), None)
        if native:
            tools[native[0]] = native
        elif natives:
            notes.append(f"{name}: {' / '.join(a[0] for a in natives)} not installed, no "
                         "client-tool column")
        if nc:
            tools["nc -z"] = [nc, "-z", "-w", "5", "127.0.0.1", str(port)]
        if driver:
            module, code = driver
            if python_has(module):
                tools[f"python {module}"] = [sys.executable, "-c", code]
            else:
                notes.append(f"{name}: python module {module} not installed, no driver column "
                             f"(pip install {'psycopg[binary]' if module == 'psycopg' else module})")
        services.append((name, tools, native[0] if native else None))

    # One round = every tool of every service once, in an order that rotates per round, so a
    # slow moment of the machine falls on all of them alike.
    commands = [(name, label, argv) for name, tools, _ in services for label, argv in tools.items()]
    for _ in range(2):  # warm-up, not recorded
        for _, _, argv in commands:
            run_spawned(args.spawn, argv, 15)
    runs = {(name, label): [] for name, label, _ in commands}
    for i in range(args.db_runs):
        shift = i % max(1, len(commands))
        for name, label, argv in commands[shift:] + commands[:shift]:
            runs[(name, label)].append(run_spawned(args.spawn, argv, 15))
    floor = max(run_spawned(args.spawn, ["true"], 10).maxrss for _ in range(3))

    rows = []
    for name, tools, native in services:
        base = median([r.seconds for r in runs[(name, native)]]) if native else None
        for label in tools:
            rs = runs[(name, label)]
            wall = [r.seconds for r in rs]
            rss = [r.maxrss for r in rs]
            row = [name if label == "stillup check" else "", label, ms(median(wall)),
                   ms(p90(wall)), mb(median(rss)), exits(rs),
                   ratio(median(wall), base) if base else ""]
            if label == "stillup check":
                ok_exit = all(r.status == 0 for r in rs)
                if base:
                    row += [f"<= {DB_CHECK_RATIO_TARGET}x {native}, exit 0",
                            verdict(ok_exit and median(wall) <= DB_CHECK_RATIO_TARGET * base)]
                else:
                    row += ["exit 0", verdict(ok_exit)]
            else:
                row += ["", ""]
            rows.append(row)
    print(f"(7a) one check against each shared server: {args.db_runs} interleaved rounds "
          "(+2 warm-up); ratio = wall median / the client tool's")
    print(table(rows, ["server", "tool", "wall, median", "wall, p90", "peak RSS, median",
                       "exit statuses", "ratio", "target", ""]))
    print(f"  peak RSS floor of the measurement (true run the same way): {mb(floor)}")
    for note in notes:
        print(f"  note: {note}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnPostgres:
    """A PostgreSQL of our own: initdb'd into a temp dir (as the postgres user when root),
    listening on 127.0.0.1 at a free port; every start runs under `timeout`. Its log prefix is
    the epoch time in ms (%n), so the moment it is ready is read from its own clock."""

    READY = "database system is ready to accept connections"

    def __init__(self, tmp):
        self.bin = self._bin_dir()
        if not self.bin:
            raise RuntimeError("no initdb/postgres (looked in /usr/lib/postgresql/*/bin and PATH)")
        self.root = os.getuid() == 0
        self.dir = os.path.join(tmp, "pg")
        os.mkdir(self.dir, 0o700)
        if self.root:
            shutil.chown(self.dir, "postgres", "postgres")
        self.data = os.path.join(self.dir, "data")
        out = subprocess.run(self._as_server([os.path.join(self.bin, "initdb"), "-A", "trust",
                                              "-U", "postgres", "--no-sync", "-E", "UTF8",
                                              "-D", self.data]),
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise RuntimeError(f"initdb failed: {out.stderr.strip()[-300:]}")
        self.port = free_port()
        self.url = f"postgres://127.0.0.1:{self.port}"
        self.proc = None
        self.log = None

    @staticmethod
    def _bin_dir():
        dirs = sorted(d for d in glob.glob("/usr/lib/postgresql/*/bin")
                      if os.path.exists(os.path.join(d, "initdb")))
        if dirs:
            return dirs[-1]
        found = shutil.which("initdb")
        return os.path.dirname(os.path.realpath(found)) if found else None

    def _as_server(self, argv):
        return ["runuser", "-u", "postgres", "--", *argv] if self.root else argv

    def start(self, n):
        self.log = os.path.join(self.dir, f"log-{n}.txt")
        self.log_file = open(self.log, "w")
        if self.root:
            os.chown(self.log, *self._owner())
        self.proc = subprocess.Popen(
            self._as_server(["timeout", "-s", "QUIT", str(DB_LIFETIME),
                             os.path.join(self.bin, "postgres"), "-D", self.data,
                             "-p", str(self.port), "-k", self.data,
                             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                             "-c", "log_line_prefix=%n ", "-c", "logging_collector=off"]),
            stdin=subprocess.DEVNULL, stdout=self.log_file, stderr=subprocess.STDOUT,
            start_new_session=True)

    def _owner(self):
        pw = pwd.getpwnam("postgres")
        return pw.pw_uid, pw.pw_gid

    def ready_at(self, limit):
        """Epoch time of the server's own 'ready to accept connections' line."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            with open(self.log) as f:
                for line in f:
                    if self.READY in line:
                        return float(line.split()[0])
            time.sleep(0.005)
        raise RuntimeError(f"own postgres did not log '{self.READY}' within {limit} s")

    def stop(self):
        """Fast shutdown (SIGINT to the postmaster), waited for."""
        if not self.proc:
            return
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                os.kill(int(f.readline()), signal.SIGINT)
        except (OSError, ValueError):
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log_file.close()
        self.proc = None


class OwnRedis:
    """redis-server --port P of our own (no persistence, data dir in a temp dir), under
    `timeout`. Its log line 'Ready to accept connections' carries its clock in ms (local time)."""

    READY = "Ready to accept connections"

    def __init__(self, tmp):
        self.binary = shutil.which("redis-server")
        if not self.binary:
            raise RuntimeError("redis-server not found on PATH")
        self.dir = os.path.join(tmp, "redis")
        os.mkdir(self.dir)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}"
        self.proc = None

    def start(self, n):
        self.log = os.path.join(self.dir, f"log-{n}.txt")
        open(self.log, "w").close()
        self.proc = subprocess.Popen(
            ["timeout", str(DB_LIFETIME), self.binary, "--port", str(self.port),
             "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", self.dir,
             "--logfile", self.log, "--daemonize", "no"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)

    def ready_at(self, limit):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            with open(self.log) as f:
                for line in f:
                    if self.READY in line:
                        # "pid:M 02 Dec 2026 13:50:09.123 * Ready ...", local time
                        stamp = " ".join(line.split()[1:5])
                        when = datetime.datetime.strptime(stamp, "%d %b %Y %H:%M:%S.%f")
                        return time.mktime(when.timetuple()) + when.microsecond / 1e6
            time.sleep(0.005)
        raise RuntimeError(f"own redis-server did not log '{self.READY}' within {limit} s")

    def stop(self):
        if not self.proc:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None


def restart_lag(args, server, loop_label, loop_argv):
    """Per run: stop the server, start both waiters while it is down, start it again after a
    delay spread over one interval, and take each waiter's exit minus the server's own 'ready'
    moment. Both waiters watch the same restart (started in alternating order)."""
    n = args.db_lag_runs
    results = {"stillup": [], loop_label: []}
    waiters = {
        "stillup": [args.stillup, "wait", server.url, "--interval", DB_INTERVAL,
                    "--timeout", "30s"],
        loop_label: loop_argv,
    }
    for k in range(n):
        server.stop()
        done = {}
        order = list(waiters) if k % 2 == 0 else list(reversed(waiters))
        threads = []
        for name in order:
            def wait_one(name=name):
                done[name] = run_timed(waiters[name], 40)
            t = threading.Thread(target=wait_one)
            t.start()
            threads.append(t)
        time.sleep(0.5 + (k + 0.5) / n * DB_INTERVAL_SECONDS)
        server.start(k)
        ready = server.ready_at(30)
        for t in threads:
            t.join(45)
        # run_timed's times are perf_counter; the server's clock is the epoch
        offset = time.time() - time.perf_counter()
        for name in waiters:
            run = done[name]
            results[name].append((run.end + offset - ready, run))
    return results


def restart_detection(args):
    """(7b) stillup wait --interval 100ms vs a client-tool loop, across a restart of our own
    PostgreSQL and Redis."""
    rows = []
    notes = []
    detail = []
    with tempfile.TemporaryDirectory(prefix="stillup-bench-db-") as tmp:
        os.chmod(tmp, 0o755)  # the postgres user must reach its directory inside
        cases = []
        if shutil.which("pg_isready"):
            cases.append(("postgres", OwnPostgres, "pg_isready loop",
                          lambda s: ["bash", "-c", f'until pg_isready -q -h 127.0.0.1 -p {s.port}; '
                                     f'do sleep {DB_INTERVAL_SECONDS}; done']))
        else:
            notes.append("pg_isready not installed: PostgreSQL restart skipped")
        if shutil.which("redis-cli"):
            cases.append(("redis", OwnRedis, "redis-cli ping loop",
                          lambda s: ["bash", "-c", f'until [ "$(redis-cli -h 127.0.0.1 -p {s.port} '
                                     f'ping 2>/dev/null)" = PONG ]; do sleep {DB_INTERVAL_SECONDS};'
                                     ' done']))
        else:
            notes.append("redis-cli not installed: Redis restart skipped")
        for name, cls, loop_label, loop_argv in cases:
            try:
                server = cls(tmp)
            except (RuntimeError, OSError, subprocess.SubprocessError) as err:
                notes.append(f"{name}: {err}; skipped")
                continue
            try:
                server.start("first")
                server.ready_at(60)
                results = restart_lag(args, server, loop_label, loop_argv(server))
            except (RuntimeError, OSError, KeyError) as err:
                # A server that would not (re)start, or a waiter that never reported: say so and
                # go on with the next server rather than lose the rest of the run.
                notes.append(f"{name}: {err!r}; skipped")
                continue
            finally:
                server.stop()
            s = [lag for lag, _ in results["stillup"]]
            c = [lag for lag, _ in results[loop_label]]
            rows.append([f"own {name}", "lag, median", ms(median(s)), loop_label, ms(median(c)),
                         ratio(median(s), median(c))])
            rows.append(["", "lag, max", ms(max(s)), "", ms(max(c)), ratio(max(s), max(c))])
            rows.append(["", "exit statuses", exits([r for _, r in results["stillup"]]), "",
                         exits([r for _, r in results[loop_label]]), ""])
            detail.append(f"  {name} per run (stillup / loop): " + ", ".join(
                f"{a * 1000:.0f}/{b * 1000:.0f} ms" for a, b in zip(s, c)))
    print(f"(7b) detection after a restart: {args.db_lag_runs} restarts per server; both "
          f"waiters (interval {DB_INTERVAL}) watch the same restart; lag = waiter's exit minus "
          "the server's own 'ready to accept connections' log time")
    if rows:
        print(table(rows, ["server", "", "stillup wait --interval 100ms", "baseline",
                           "baseline lag", "ratio"]))
    print("\n".join(detail))
    for note in notes:
        print(f"  note: {note}")


def databases(args):
    """(7) databases and brokers: (7a) one check, (7b) detection after a restart."""
    database_checks(args)
    print()
    restart_detection(args)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stillup", required=True, help="path to the release stillup binary")
    parser.add_argument("--server", required=True, help="path to the release bench_server example")
    parser.add_argument("--spawn", required=True, help="path to the release bench_spawn example")
    parser.add_argument("--curl", default="curl", help="curl to compare with (default: curl on PATH)")
    parser.add_argument("--runs", type=int, default=30, help="runs per tool in (1) (default 30)")
    parser.add_argument("--deadline-runs", type=int, default=3,
                        help="runs per tool and server in (2) (default 3)")
    parser.add_argument("--latency-runs", type=int, default=4,
                        help="runs per tool in (3) and per part of (4) (default 4)")
    parser.add_argument("--many-server", help="path to the release bench_many example (for 5)")
    parser.add_argument("--many-targets", type=int, action="append",
                        help="target counts in (5), repeatable (default 1000 and 10000)")
    parser.add_argument("--many-ports", type=int, default=10,
                        help="ports of bench_many the targets are spread over in (5) (default 10)")
    parser.add_argument("--many-window", type=float, default=3.0,
                        help="seconds within which every target turns healthy in (5) (default 3)")
    parser.add_argument("--many-seed", type=int, default=1,
                        help="seed of the switch moments in (5) (default 1)")
    parser.add_argument("--many-interval", default="200ms",
                        help="stillup --interval in the main run of (5) (default 200ms)")
    parser.add_argument("--many-low-nofile", type=int, default=1024,
                        help="also run the largest count of (5) with this soft ulimit -n, as "
                             "most machines have by default (default 1024; 0 to skip)")
    parser.add_argument("--scale-targets", type=int, action="append",
                        help="target counts in (6), repeatable (default 100000)")
    parser.add_argument("--db-runs", type=int, default=20,
                        help="interleaved rounds in (7a) (default 20)")
    parser.add_argument("--db-lag-runs", type=int, default=4,
                        help="restarts per server in (7b) (default 4)")
    parser.add_argument("--only", choices=["1", "2", "3", "4", "5", "6", "7"], action="append",
                        help="run only these sections (repeatable)")
    args = parser.parse_args()
    for name in ("runs", "deadline_runs", "latency_runs", "db_runs", "db_lag_runs"):
        if not 1 <= getattr(args, name) <= 1000:
            parser.error(f"--{name.replace('_', '-')} must be between 1 and 1000")
    for n in args.many_targets or []:
        if not 1 <= n <= 50_000:
            parser.error("--many-targets must be between 1 and 50000")
    if not 1 <= args.many_ports <= min(args.many_targets or [1000]):
        parser.error("--many-ports must be between 1 and the smallest --many-targets")
    if not 0 < args.many_window <= 60:
        parser.error("--many-window must be more than 0 and at most 60 seconds")
    try:
        if not 0 < parse_interval(args.many_interval) <= 10:
            raise ValueError
    except ValueError:
        parser.error("--many-interval must look like 200ms or 1s (at most 10s)")
    for n in args.scale_targets or []:
        if not 1 <= n <= 500_000:
            parser.error("--scale-targets must be between 1 and 500000")
    if not args.only or {"5", "6"} & set(args.only):
        if not args.many_server:
            parser.error("sections 5 and 6 need --many-server (bench/run.sh passes it)")

    curl_version = subprocess.run([args.curl, "--version"], capture_output=True, text=True,
                                  timeout=10).stdout.split("\n")[0].split(" ")[:2]
    stillup_version = subprocess.run([args.stillup, "--version"], capture_output=True, text=True,
                                     timeout=10).stdout.strip()
    print(f"stillup bench: {stillup_version} vs {' '.join(curl_version)}; "
          f"{os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M:%S')}")
    print("ratio = stillup / curl, both measured in this run (in (5): stillup wait against "
          "stillup check of the same targets; in (7): against the server's own client tool)\n")
    sections = [("1", single_check), ("2", deadline_precision), ("3", detection_latency),
                ("4", late_listener), ("5", many_targets), ("6", deadline_at_scale),
                ("7", databases)]
    started = time.perf_counter()
    for key, section in sections:
        if args.only and key not in args.only:
            continue
        section(args)
        print()
    print(f"done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
