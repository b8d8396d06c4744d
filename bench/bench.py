#!/usr/bin/env python3
"""Measure stillup against curl on 127.0.0.1, all in one run, and print a table of ratios.

Called by bench/run.sh after the release build; see bench/README.md for what each number means.
Only the standard library is used. Every child process runs with a hard time limit (killed
with its whole process group past it) and every loop has a fixed number of rounds.
"""

import argparse
import os
import select
import signal
import statistics
import subprocess
import sys
import threading
import time

MB = 1_000_000  # peak RSS is reported in MB of 10^6 bytes; ru_maxrss is in KiB on Linux

# Targets from the issue. They are shown next to the numbers; nothing else depends on them.
CHECK_TIME_RATIO_TARGET = 1.5  # stillup check within 1.5x curl's wall time
CHECK_RSS_TARGET = 10 * MB  # stillup check peak RSS under 10 MB
OVERSHOOT_TARGET = 0.100  # stillup exits within 100 ms of its --timeout

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
                        help="runs per tool in (3) (default 4)")
    parser.add_argument("--only", choices=["1", "2", "3"], action="append",
                        help="run only these sections (repeatable)")
    args = parser.parse_args()
    for name in ("runs", "deadline_runs", "latency_runs"):
        if not 1 <= getattr(args, name) <= 1000:
            parser.error(f"--{name.replace('_', '-')} must be between 1 and 1000")

    curl_version = subprocess.run([args.curl, "--version"], capture_output=True, text=True,
                                  timeout=10).stdout.split("\n")[0].split(" ")[:2]
    stillup_version = subprocess.run([args.stillup, "--version"], capture_output=True, text=True,
                                     timeout=10).stdout.strip()
    print(f"stillup bench: {stillup_version} vs {' '.join(curl_version)}; "
          f"{os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M:%S')}")
    print("ratio = stillup / curl, both measured in this run\n")
    sections = [("1", single_check), ("2", deadline_precision), ("3", detection_latency)]
    started = time.perf_counter()
    for key, section in sections:
        if args.only and key not in args.only:
            continue
        section(args)
        print()
    print(f"done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
