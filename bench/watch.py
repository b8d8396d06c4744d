#!/usr/bin/env python3
"""Measure `stillup watch` on 127.0.0.1 in one run: what sampling at a sustained rate costs (CPU,
memory over time, samples lost) and how exactly it measures an outage of known length.

Called by bench/run_watch.sh after the release build; see bench/WATCH.md for what each number
means. Only the standard library is used. Every child process runs with a hard time limit
(killed with its whole process group past it), every loop has a bounded number of rounds, and
every ratio is against a baseline measured in this same run.
"""

import argparse
import json
import math
import os
import resource
import select
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time

MB = 1_000_000  # memory is reported in MB of 10^6 bytes (and KB of 10^3)
KB = 1_000

# Targets from the issue. They are shown next to the numbers; nothing else depends on them.
RATE_TARGET = 1000  # samples per second, for ...
DURATION_TARGET = 60  # ... this many seconds,
CPU_TARGET = 0.5  # using under half of one core
GROWTH_SLACK = 1.5  # "flat": growth per sample at most 1.5x one SampleRecord (what is kept per
                    # sample by design); anything beyond that is memory the design does not explain

# Part (2): scripted outages. Each is a list of phases (KIND, ms) after a healthy lead; the
# outage's true length is the sum of the phases. KIND is "refuse" or an HTTP status code.
# The lengths are off the sample grid on purpose (not whole multiples of 100 ms or 10 ms): a
# length of exactly N periods puts both edges at the same point between two samples, so it is
# always measured exactly, whatever the alignment, and would show nothing.
SCENARIOS = [
    ("refused 753 ms, then 502 for 404 ms", [("refuse", 753), ("502", 404)]),
    ("one 2037 ms outage of 503", [("503", 2037)]),
]
ACCURACY_RATES = [10, 100]  # samples per second in (2)
LEAD = 1.0  # seconds healthy before the outage (plus a spread over one sample period, see below)
TAIL = 1.0  # seconds healthy after it, before the watch ends


# ---------------------------------------------------------------------------------------------
# Processes


class Server:
    """examples/bench_watch_server with a script; see the example's docs for its protocol."""

    def __init__(self, binary, *phases):
        self.proc = subprocess.Popen(
            [binary, "script", *phases], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, bufsize=1, start_new_session=True)
        line = self._readline(10.0)
        # Right after READY arrives; the script clock started a little earlier (when the port
        # was bound). Part (2) compares lengths only, so this offset cancels out.
        self.ready_at = time.perf_counter()
        if not line.startswith("READY "):
            self.close()
            raise RuntimeError(f"bench_watch_server {' '.join(phases)}: expected READY, "
                               f"got {line!r}")
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}/health"

    def _readline(self, limit):
        ready, _, _ = select.select([self.proc.stdout], [], [], limit)
        if not ready:
            self.close()
            raise RuntimeError("bench_watch_server did not answer in time")
        return self.proc.stdout.readline().strip()

    def stats(self):
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        line = self._readline(5.0)
        if not line.startswith("STATS "):
            raise RuntimeError(f"bench_watch_server: expected STATS, got {line!r}")
        return {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}

    def cpu_seconds(self):
        return proc_cpu(self.proc.pid)

    def close(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


TICK = os.sysconf("SC_CLK_TCK")


def proc_stat(pid):
    """(comm, state, user+system CPU seconds) of pid from /proc, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    comm = text[text.index("(") + 1:text.rindex(")")]
    fields = text.rsplit(")", 1)[1].split()
    return comm, fields[0], (int(fields[11]) + int(fields[12])) / TICK


def proc_cpu(pid):
    stat = proc_stat(pid)
    return stat[2] if stat else float("nan")


def proc_memory(pid):
    """(VmRSS, VmHWM) of pid in bytes, or None if it is gone or a zombie."""
    try:
        with open(f"/proc/{pid}/status") as f:
            text = f.read()
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024
    if len(values) != 2:
        return None
    return values["VmRSS"], values["VmHWM"]


def child_of(pid):
    """The first child of pid (bench_spawn has exactly one), or None."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = f.read().split()
    except OSError:
        return None
    return int(children[0]) if children else None


class Sample:
    """One look at the running stillup: seconds since spawn, CPU seconds so far, RSS, HWM."""

    def __init__(self, t, cpu, rss, hwm):
        self.t, self.cpu, self.rss, self.hwm = t, cpu, rss, hwm


class Watched:
    """One stillup run under bench_spawn, sampled every second from /proc."""

    def __init__(self, wall, maxrss, status, cpu, samples, pid):
        self.wall = wall  # spawn to reap, from bench_spawn
        self.maxrss = maxrss  # ru_maxrss of stillup alone, from bench_spawn's wait4
        self.status = status
        self.cpu = cpu  # user + system of stillup (and bench_spawn's ~ms), from RUSAGE_CHILDREN
        self.samples = samples  # [Sample], one per second while stillup ran
        self.pid = pid


def run_sampled(spawn, argv, out_path, err_path, limit):
    """Run argv under bench_spawn with stdout to out_path, stderr to err_path (through
    `sh -c 'exec …'`, so the pid bench_spawn measures is stillup's); every second, read that
    pid's CPU time and RSS from /proc. At most `limit` seconds (then the group is killed)."""
    script = f'exec "$@" > {shlex.quote(out_path)} 2> {shlex.quote(err_path)}'
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    spawn_at = time.perf_counter()
    proc = subprocess.Popen([spawn, "sh", "-c", script, "sh", *argv], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    pid, samples = None, []
    for k in range(1, int(limit) + 1):  # one look per second, bounded by the time limit
        delay = spawn_at + k - time.perf_counter()
        if delay > 0:
            try:
                proc.wait(timeout=delay)
                break
            except subprocess.TimeoutExpired:
                pass
        if pid is None:
            pid = child_of(proc.pid)
        stat = proc_stat(pid) if pid else None
        memory = proc_memory(pid) if pid else None
        t = time.perf_counter() - spawn_at
        if stat and memory and stat[0] == "stillup" and stat[1] != "Z":
            samples.append(Sample(t, stat[2], *memory))
        if proc.poll() is not None:
            break
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise RuntimeError(f"{' '.join(argv)} took longer than {limit} s")
    out, _ = proc.communicate(timeout=10)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"bench_spawn {' '.join(argv)} failed with status {proc.returncode}")
    fields = dict(kv.split("=") for kv in out.split())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Watched(int(fields["wall_ns"]) / 1e9, int(fields["maxrss_kb"]) * 1024,
                   int(fields["status"]), cpu, samples, pid)


def spawn_floor(spawn):
    """Peak RSS of `sh -c 'exec true'` through bench_spawn: what the measurement itself costs."""
    best = 0
    for _ in range(3):
        out = subprocess.run([spawn, "sh", "-c", "exec true"], capture_output=True, text=True,
                             timeout=10).stdout
        best = max(best, int(dict(kv.split("=") for kv in out.split())["maxrss_kb"]) * 1024)
    return best


def time_wait_sockets(port):
    """Sockets in TIME_WAIT (state 06) to or from 127.0.0.1:port, from /proc/net/tcp."""
    hex_port = f"{port:04X}"
    n = 0
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[3] == "06" and (fields[1].endswith(":" + hex_port)
                                          or fields[2].endswith(":" + hex_port)):
                    n += 1
    except OSError:
        return None
    return n


# ---------------------------------------------------------------------------------------------
# Statistics and formatting


def ms(seconds):
    return f"{seconds * 1000:.1f} ms"


def signed_ms(seconds):
    return f"{seconds * 1000:+.1f} ms"


def mb(n):
    return f"{n / MB:.2f} MB"


def ratio(a, b):
    if not b or b <= 0 or math.isnan(a) or math.isnan(b):
        return "n/a"
    return f"{a / b:.2f}x"


def verdict(ok):
    return "ok" if ok else "MISSED"


def mean(xs):
    return sum(xs) / len(xs) if xs else float("nan")


def slope(points):
    """Least-squares slope of y over x for [(x, y)], or nan with fewer than 2 points."""
    if len(points) < 2:
        return float("nan")
    mx = mean([x for x, _ in points])
    my = mean([y for _, y in points])
    den = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / den if den else float("nan")


def table(rows, header):
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  " + "  ".join(str(c).ljust(w) for c, w in zip(header, widths)).rstrip()]
    lines.append("  " + "  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


def scheduled(duration_s, rate):
    """Samples stillup schedules: index i starts at i x interval while that is before the end,
    with the interval rounded to whole nanoseconds as Duration::from_secs_f64 does."""
    interval_ns = round(1e9 / rate)
    return -(-round(duration_s * 1e9) // interval_ns)


# ---------------------------------------------------------------------------------------------
# (1) Sustained rate


class RateRun:
    """One `stillup watch URL --rate R/s --duration D --output json` against a healthy server."""

    def __init__(self, rate, duration, watched, report, server_cpu, server_stats, time_wait,
                 window):
        self.rate = rate
        self.duration = duration
        self.w = watched
        self.report = report
        t = report["targets"][0] if report and report.get("targets") else None
        self.target = t
        self.scheduled = scheduled(duration, rate)
        self.recorded = t["samples"] if t else 0
        self.healthy = t["healthy_samples"] if t else 0
        self.elapsed = report["elapsed_ms"] / 1000 if report else float("nan")
        self.achieved = self.recorded / self.elapsed if report else float("nan")
        self.server_cpu = server_cpu
        self.server_stats = server_stats
        self.time_wait = time_wait
        self.core = watched.cpu / watched.wall
        self.cpu_per_sample = watched.cpu / self.recorded if self.recorded else float("nan")
        # Memory over time: the first and the last `window` one-second looks.
        s = watched.samples
        k = max(1, min(window, len(s) // 3))
        self.window = k
        self.first, self.last = s[:k], s[-k:]
        self.rss_first = mean([x.rss for x in self.first])
        self.rss_last = mean([x.rss for x in self.last])
        self.hwm = max((x.hwm for x in s), default=0)
        # Growth: slope of RSS over time after the first second of start-up, converted to bytes
        # per 1000 samples at the rate achieved.
        per_s = slope([(x.t, x.rss) for x in s if x.t >= 2.0])
        self.growth_per_1000 = per_s / self.achieved * 1000 if self.recorded else float("nan")
        # CPU in the first and the last window, as a fraction of one core: is a sample getting
        # more expensive as the run goes on?
        self.core_first = self._core_between(0, k)
        self.core_last = self._core_between(len(s) - 1 - k, len(s) - 1)

    def latency(self, key):
        """A latency percentile from the JSON, in seconds."""
        return self.target["latency"][key] / 1000 if self.target else float("nan")

    def _core_between(self, i, j):
        s = self.w.samples
        if not 0 <= i < j < len(s):
            return float("nan")
        return (s[j].cpu - s[i].cpu) / (s[j].t - s[i].t)

    @property
    def lost(self):
        return self.scheduled - self.recorded

    @property
    def failed(self):
        return self.recorded - self.healthy


def rate_run(args, tmp, rate, duration, window):
    with Server(args.server, "200") as server:
        argv = [args.stillup, "watch", server.url, "--rate", f"{rate}/s",
                "--duration", f"{duration}s", "--output", "json"]
        out = os.path.join(tmp, f"watch-{rate}.json")
        err = os.path.join(tmp, f"watch-{rate}.stderr")
        cpu_before = server.cpu_seconds()
        watched = run_sampled(args.spawn, argv, out, err, duration + 60)
        server_cpu = server.cpu_seconds() - cpu_before
        stats = server.stats()
        time_wait = time_wait_sockets(server.port)
    try:
        with open(out) as f:
            report = json.load(f)
    except (OSError, ValueError):
        report = None
    if watched.status != 0 or report is None:
        with open(err) as f:
            tail = f.read()[-2000:]
        print(f"  stillup at {rate}/s exited {watched.status}; stderr ends with:\n{tail}")
    return RateRun(rate, duration, watched, report, server_cpu, stats, time_wait, window)


def sustained_rate(args, record_size):
    duration = args.duration
    window = min(10, max(1, duration // 3))
    floor = spawn_floor(args.spawn)
    print(f"(1) sustained rate: stillup watch URL --rate R/s --duration {duration}s --output "
          f"json, against bench_watch_server script 200 (a fresh connection per sample); "
          f"baseline: the same at {args.baseline_rate}/s, run first")
    with tempfile.TemporaryDirectory(prefix="stillup-watch-bench-") as tmp:
        base = rate_run(args, tmp, args.baseline_rate, duration, window)
        main = rate_run(args, tmp, args.rate, duration, window)

    def classes(r):
        if not r.target:
            return "no JSON"
        return " ".join(f"{k}*{v}" for k, v in r.target["classes"].items()) or "none"

    expected_growth = record_size * 1000
    rows = []

    def row(label, fn, compare=None, target="", ok=""):
        a, b = fn(main), fn(base)
        shown = [a, b] if compare is None else [compare(a), compare(b)]
        rows.append([label, *shown, ratio(a, b) if compare else "", target, ok])

    def plain(label, fn, target="", ok=""):
        rows.append([label, fn(main), fn(base), "", target, ok])

    plain("exit status", lambda r: str(r.w.status), "0", verdict(main.w.status == 0))
    at_target = (args.rate, duration) == (RATE_TARGET, DURATION_TARGET)
    plain("samples scheduled (duration x rate)", lambda r: str(r.scheduled),
          f"{RATE_TARGET}/s for {DURATION_TARGET} s",
          verdict(at_target) if at_target else "(shorter run)")
    plain("samples recorded (JSON)", lambda r: str(r.recorded))
    plain("samples lost (scheduled - recorded)", lambda r: str(r.lost), "0",
          verdict(main.lost == 0))
    plain("samples failed, by class", classes, "none", verdict(main.failed == 0))
    plain("requests the server read", lambda r: str(r.server_stats["requests"]),
          "= recorded", verdict(main.server_stats["requests"] == main.recorded))
    row("watch elapsed (JSON)", lambda r: r.elapsed, ms)
    row("achieved rate (recorded / elapsed)", lambda r: r.achieved, lambda x: f"{x:.1f}/s",
        f">= {0.99 * args.rate:g}/s", verdict(main.achieved >= 0.99 * args.rate))
    row("latency from scheduled start, p50", lambda r: r.latency("p50_ms"), ms)
    row("  p99", lambda r: r.latency("p99_ms"), ms)
    row("  max", lambda r: r.latency("max_ms"), ms)
    row("CPU user+sys of stillup", lambda r: r.w.cpu, ms)
    row("  as a fraction of one core (/ wall)", lambda r: r.core, lambda x: f"{x:.3f}",
        f"< {CPU_TARGET} core", verdict(main.core < CPU_TARGET))
    row(f"  first {window} s, from /proc", lambda r: r.core_first, lambda x: f"{x:.3f}")
    row(f"  last {window} s, from /proc", lambda r: r.core_last, lambda x: f"{x:.3f}")
    row("CPU per recorded sample", lambda r: r.cpu_per_sample, lambda x: f"{x * 1e6:.1f} us",
        "", "")
    row("CPU of the server, fraction of one core", lambda r: r.server_cpu / r.w.wall,
        lambda x: f"{x:.3f}")
    row("peak RSS (ru_maxrss via bench_spawn)", lambda r: r.w.maxrss, mb)
    row("  VmHWM, last seen in /proc", lambda r: r.hwm, mb)
    row(f"RSS, mean of the first {window} s", lambda r: r.rss_first, mb)
    row(f"RSS, mean of the last {window} s", lambda r: r.rss_last, mb)
    row("  last / first", lambda r: r.rss_last / r.rss_first, lambda x: f"{x:.2f}x")
    row("RSS growth per 1000 samples (slope)", lambda r: r.growth_per_1000,
        lambda x: f"{x / KB:+.1f} KB",
        f"<= {GROWTH_SLACK:g} x {record_size} B x 1000",
        verdict(main.growth_per_1000 <= GROWTH_SLACK * expected_growth))
    row("  per sample", lambda r: r.growth_per_1000 / 1000, lambda x: f"{x:+.1f} B")
    plain("sockets in TIME_WAIT on the port at the end",
          lambda r: "n/a" if r.time_wait is None else str(r.time_wait))
    print(table(rows, ["", f"{args.rate}/s", f"{args.baseline_rate}/s (baseline)", "ratio",
                       "target", ""]))
    print(f"  one stillup::watch::SampleRecord is {record_size} bytes (size_of, printed by "
          f"bench_watch_server record-size): {record_size * 1000 / KB:.0f} KB per 1000 samples is "
          f"what keeping one per sample costs by design")
    hour = main.growth_per_1000 / 1000 * args.rate * 3600
    print(f"  at the measured growth, an hour at {args.rate}/s would add about {hour / MB:.0f} MB")
    print(f"  peak RSS floor of the measurement (sh -c 'exec true' through bench_spawn): "
          f"{mb(floor)}")
    print(f"  RSS each second at {args.rate}/s (MB): "
          + " ".join(f"{x.rss / MB:.1f}" for x in main.w.samples))
    print(f"  CPU fraction each second at {args.rate}/s: "
          + " ".join(f"{(b.cpu - a.cpu) / (b.t - a.t):.2f}"
                     for a, b in zip(main.w.samples, main.w.samples[1:])))


# ---------------------------------------------------------------------------------------------
# (2) Accuracy of outage lengths


def group(kind):
    """Phases are compared in two groups: the port refusing (refused, or reset at the edge
    where the listener closes) and HTTP status answers."""
    return "status" if kind == "http_status" or kind.isdigit() else "refuse"


class OutageRun:
    def __init__(self, rate, lead, phases, report, status, seconds):
        self.rate = rate
        self.lead = lead
        self.status = status
        self.seconds = seconds
        self.truth = sum(ms_ for _, ms_ in phases) / 1000
        self.truth_groups = {}
        for kind, ms_ in phases:
            self.truth_groups[group(kind)] = self.truth_groups.get(group(kind), 0) + ms_ / 1000
        t = report["targets"][0] if report and report.get("targets") else None
        self.windows = t["windows"] if t else []
        self.measured = sum(w["length_ms"] for w in self.windows) / 1000 if t else float("nan")
        self.error = self.measured - self.truth
        self.groups = {}
        self.sequence = []
        for w in self.windows:
            for p in w["phases"]:
                g = group(p["class"])
                self.groups[g] = self.groups.get(g, 0) + (p["to_ms"] - p["from_ms"]) / 1000
                self.sequence.append(f"{p['label'] if g == 'status' else p['class']}"
                                     f"*{p['samples']}")
        self.group_errors = {g: self.groups.get(g, 0.0) - v for g, v in self.truth_groups.items()}
        self.samples = t["samples"] if t else 0


def outage_run(args, rate, lead_ms, phases):
    spec = [f"200:{lead_ms}", *[f"{kind}:{ms_}" for kind, ms_ in phases], "200"]
    duration_ms = lead_ms + sum(ms_ for _, ms_ in phases) + int(TAIL * 1000)
    with Server(args.server, *spec) as server:
        argv = [args.stillup, "watch", server.url, "--rate", f"{rate}/s",
                "--duration", f"{duration_ms}ms", "--output", "json"]
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=duration_ms / 1000 + 15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise RuntimeError(f"{' '.join(argv)} took too long")
        seconds = time.perf_counter() - start
    try:
        report = json.loads(out)
    except ValueError:
        report = None
    return OutageRun(rate, lead_ms / 1000, phases, report, proc.returncode, seconds)


def accuracy(args):
    reps = args.reps
    print(f"(2) accuracy of outage lengths: bench_watch_server healthy for a lead, then the "
          f"outage, then healthy; stillup watch URL --rate R/s --duration (lead + outage + "
          f"{TAIL:g} s) --output json started right after READY; {reps} runs per rate and "
          f"scenario, rates interleaved; error = measured window length - scripted length")
    rows, lines = [], []
    for title, phases in SCENARIOS:
        runs = {rate: [] for rate in ACCURACY_RATES}
        for k in range(reps):
            order = ACCURACY_RATES if k % 2 == 0 else list(reversed(ACCURACY_RATES))
            for rate in order:
                # The outage starts at LEAD plus (k + 1/2)/reps of one sample period, so the runs
                # spread its edges evenly over where they can fall between two samples.
                lead_ms = round((LEAD + (k + 0.5) / reps / rate) * 1000)
                runs[rate].append(outage_run(args, rate, lead_ms, phases))
        truth = sum(ms_ for _, ms_ in phases) / 1000
        for i, rate in enumerate(ACCURACY_RATES):
            rs = runs[rate]
            period = 1 / rate
            ok_runs = [r for r in rs if r.status == 0 and not math.isnan(r.measured)]
            errors = [r.error for r in ok_runs]
            worst = max((abs(e) for e in errors), default=float("nan"))
            within = sum(1 for e in errors if abs(e) <= period)
            one_window = sum(1 for r in ok_runs if len(r.windows) == 1)
            group_worst = {}
            for g in rs[0].truth_groups:
                group_worst[g] = max((abs(r.group_errors[g]) for r in ok_runs),
                                     default=float("nan"))
            rows.append([title if i == 0 else "", f"{rate}/s", ms(period), ms(truth),
                         ms(statistics.median([r.measured for r in ok_runs])) if ok_runs
                         else "n/a",
                         signed_ms(statistics.median(errors)) if errors else "n/a",
                         ms(worst), ratio(worst, period), f"{within}/{len(rs)}",
                         f"{one_window}/{len(rs)}",
                         ", ".join(f"{g} {ms(v)}" for g, v in group_worst.items()),
                         verdict(len(ok_runs) == len(rs) and within == len(rs)
                                 and one_window == len(rs))])
            for r in rs:
                lines.append(f"    {title}, {rate}/s, lead {r.lead * 1000:.0f} ms: measured "
                             f"{ms(r.measured)} ({signed_ms(r.error)}; "
                             + ", ".join(f"{g} {signed_ms(e)}" for g, e in r.group_errors.items())
                             + f") in {len(r.windows)} window(s): {' then '.join(r.sequence)}; "
                             f"{r.samples} samples, exit {r.status}")
    print(table(rows, ["scenario", "rate", "period", "truth", "measured, median",
                       "error, median", "max |error|", "/ period", "|error| <= period",
                       "one window", "max |error| per phase group", ""]))
    print("  per run (phase groups: refuse = refused or reset samples, status = HTTP status "
          "answers; error of each group's length against its scripted length):")
    for line in lines:
        print(line)
    print("  a window opens at the scheduled start of the first failed sample and closes at the "
          "scheduled start of the first healthy one after it, so each edge is late by 0 to one "
          "period: the length error lies within (-1, +1) period, median about 0; with a truth of "
          "N periods + f it can only be -f or period - f (plus timer jitter)")


# ---------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stillup", required=True, help="path to the release stillup binary")
    parser.add_argument("--server", required=True,
                        help="path to the release bench_watch_server example")
    parser.add_argument("--spawn", required=True, help="path to the release bench_spawn example")
    parser.add_argument("--quick", action="store_true",
                        help="for development: (1) runs 10 s per rate, (2) 2 runs per rate")
    parser.add_argument("--duration", type=int,
                        help="seconds per run in (1) (default 60, or 10 with --quick)")
    parser.add_argument("--rate", type=int, default=RATE_TARGET,
                        help=f"samples per second in (1) (default {RATE_TARGET})")
    parser.add_argument("--baseline-rate", type=int, default=100,
                        help="samples per second of the baseline run in (1) (default 100)")
    parser.add_argument("--reps", type=int,
                        help="runs per rate and scenario in (2) (default 5, or 2 with --quick)")
    parser.add_argument("--only", choices=["1", "2"], action="append",
                        help="run only this part (repeatable)")
    args = parser.parse_args()
    if args.duration is None:
        args.duration = 10 if args.quick else DURATION_TARGET
    if args.reps is None:
        args.reps = 2 if args.quick else 5
    if not 3 <= args.duration <= 600:
        parser.error("--duration must be between 3 and 600 seconds")
    if not 1 <= args.reps <= 50:
        parser.error("--reps must be between 1 and 50")
    for name in ("rate", "baseline_rate"):
        if not 1 <= getattr(args, name) <= 10_000:
            parser.error(f"--{name.replace('_', '-')} must be between 1 and 10000")

    version = subprocess.run([args.stillup, "--version"], capture_output=True, text=True,
                             timeout=10).stdout.strip()
    record_size = int(subprocess.run([args.server, "record-size"], capture_output=True,
                                     text=True, timeout=10).stdout)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"stillup watch bench: {version}; {os.cpu_count()} CPUs; load average {load}; "
          f"{time.strftime('%Y-%m-%d %H:%M:%S')}")
    print("ratio = first column / baseline column, both measured in this run\n")
    started = time.perf_counter()
    if not args.only or "1" in args.only:
        sustained_rate(args, record_size)
        print()
    if not args.only or "2" in args.only:
        accuracy(args)
        print()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"done in {time.perf_counter() - started:.0f} s; load average at the end {load}")


if __name__ == "__main__":
    sys.exit(main())
