"""Section (8): `stillup exporter` against blackbox_exporter on the same loopback targets.

Both exporters are started by this file (each on a free port, stillup on port 0), given the same
module (HTTP, 2xx, 5 s) from the same blackbox.yml (stillup reads it with --blackbox-config), and
driven by `wrk` with a small Lua script that sends Prometheus'
`X-Prometheus-Scrape-Timeout-Seconds` header and sorts every answer into up / down / busy (503)
/ other. Rounds are interleaved (blackbox, stillup, stillup, blackbox, ...) so that a slow
moment of the machine hits both. Every child has a time limit; every loop a fixed count.
See "(8)" in bench/README.md for what each number means.
"""

import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request

MB = 1_000_000

# Targets from issue 13; they only label the output.
THROUGHPUT_RATIO_TARGET = 2.0  # stillup sustains at least 2x blackbox's probes per second
RSS_RATIO_TARGET = 0.5  # ... at no more than half its peak RSS
LATE_SLACK = 0.100  # under overload, no answer later than its budget plus 100 ms

MODULE = "bench"  # the one module of the blackbox.yml both read: HTTP, 2xx, 5 s
MODULE_TIMEOUT = 5.0
SCRAPE_TIMEOUT = 10.0  # the header of the throughput and latency runs: budget = module timeout
OVERLOAD_SCRAPE_TIMEOUT = 1.0  # the header of the overload runs: budget = 1 s - 0.5 s
OVERLOAD_BUDGET = OVERLOAD_SCRAPE_TIMEOUT - 0.5

LUA = r"""
-- wrk script: GET /probe for each target in turn, with a scrape timeout header; counts the
-- answers by verdict. Arguments: SCRAPE_TIMEOUT_SECONDS PATH...
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  header = { ["X-Prometheus-Scrape-Timeout-Seconds"] = args[1] }
  paths = {}
  for i = 2, #args do paths[#paths + 1] = args[i] end
  n = 0
  up = 0; down = 0; busy = 0; other = 0
end
function request()
  n = n % #paths + 1
  return wrk.format("GET", paths[n], header)
end
function response(status, headers, body)
  if status == 200 and body:find("\nprobe_success 1", 1, true) then up = up + 1
  elseif status == 200 and body:find("\nprobe_success 0", 1, true) then down = down + 1
  elseif status == 503 then busy = busy + 1
  else other = other + 1 end
end
function done(summary, latency, requests)
  -- errors.status (answers >= 400) are already sorted above; errors are socket errors only.
  local u, d, b, o = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    u = u + t:get("up"); d = d + t:get("down"); b = b + t:get("busy"); o = o + t:get("other")
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d us=%d up=%d down=%d busy=%d other=%d errors=%d p50=%d p99=%d max=%d\n",
    summary.requests, summary.duration, u, d, b, o,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""

PLAIN_LUA = r"""
-- wrk script: plain GETs, latency only (the direct baseline).
function done(summary, latency, requests)
  -- errors.status counts answers >= 400; they are "other" here, not socket errors.
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d us=%d up=%d down=0 busy=0 other=%d errors=%d p50=%d p99=%d max=%d\n",
    summary.requests, summary.duration, summary.requests - e.status, e.status,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pinned(cpus):
    if not cpus:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def http_ok(url, limit=2.0):
    try:
        with urllib.request.urlopen(url, timeout=limit) as r:
            return r.status == 200
    except OSError:
        return False


def rss(pid, field):
    """VmRSS / VmHWM of a process, in bytes (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class Exporter:
    """One exporter process, on 127.0.0.1, optionally pinned to some CPUs."""

    def __init__(self, name, argv, tmp, cpus, port=None):
        self.name = name
        self.log = open(os.path.join(tmp, f"{name.split()[0]}.log"), "w+")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=self.log, start_new_session=True,
                                     preexec_fn=pinned(cpus))
        deadline = time.monotonic() + 15
        self.addr = f"127.0.0.1:{port}" if port else None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if self.addr is None:
                self.addr = self._listening_line()
            if self.addr and http_ok(f"http://{self.addr}/metrics"):
                self.idle_rss = rss(self.proc.pid, "VmRSS")
                return
            time.sleep(0.05)
        self.log.flush()
        self.log.seek(0)
        said = self.log.read()[-2000:]
        self.stop()
        raise RuntimeError(f"{name} did not start: {said}")

    def _listening_line(self):
        self.log.flush()
        with open(self.log.name) as f:
            for line in f:
                marker = "listening on http://"
                if marker in line:
                    return line.split(marker, 1)[1].strip().rstrip("/")
        return None

    def peak_rss(self):
        return rss(self.proc.pid, "VmHWM")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


class WrkResult:
    def __init__(self, line):
        f = {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
        self.requests = f["requests"]
        self.seconds = f["us"] / 1e6
        self.up, self.down, self.busy, self.other = f["up"], f["down"], f["busy"], f["other"]
        self.errors = f["errors"]
        self.p50, self.p99, self.max = f["p50"] / 1e6, f["p99"] / 1e6, f["max"] / 1e6

    @property
    def rate(self):
        return self.requests / self.seconds if self.seconds else 0.0


def wrk(args, tmp, url_base, paths, connections, seconds, header, cpus, script=None):
    script = script or os.path.join(tmp, "probe.lua")
    threads = min(2, connections)
    argv = [args.wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
            "-s", script, url_base + paths[0], "--", str(header), *paths]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30,
                         preexec_fn=pinned(cpus))
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return WrkResult(line)
    raise RuntimeError(f"wrk printed no RESULT: {out.stdout}{out.stderr}")


def probe_paths(targets, module):
    from urllib.parse import quote
    return [f"/probe?target={quote(t, safe='')}&module={module}" for t in targets]


def one_round(args, tmp, which, healthy_targets, hang_target, cpus, load_cpus):
    """Start one exporter, run the four loads against it, stop it; return the figures."""
    if which == "blackbox_exporter":
        port = free_port()
        exporter = Exporter(which, [args.blackbox, f"--config.file={tmp}/blackbox.yml",
                                    f"--web.listen-address=127.0.0.1:{port}",
                                    "--log.level=error"], tmp, cpus, port=port)
    else:
        exporter = Exporter(which, [args.stillup, "exporter", "--listen", "127.0.0.1:0",
                                    "--blackbox-config", f"{tmp}/blackbox.yml",
                                    *args.exporter_flag], tmp, cpus)
    base = f"http://{exporter.addr}"
    healthy = probe_paths(healthy_targets, MODULE)
    hanging = probe_paths([hang_target], MODULE)
    secs = args.exporter_seconds
    try:
        wrk(args, tmp, base, healthy, 16, 1, SCRAPE_TIMEOUT, load_cpus)  # warm-up
        figures = {
            "throughput": wrk(args, tmp, base, healthy, args.exporter_connections, secs,
                              SCRAPE_TIMEOUT, load_cpus),
            "sequential": wrk(args, tmp, base, healthy, 1, max(2, secs // 2), SCRAPE_TIMEOUT,
                              load_cpus),
            "overload": wrk(args, tmp, base, healthy, args.exporter_overload, secs,
                            OVERLOAD_SCRAPE_TIMEOUT, load_cpus),
            "hanging": wrk(args, tmp, base, hanging, args.exporter_hanging, secs,
                           OVERLOAD_SCRAPE_TIMEOUT, load_cpus),
        }
        figures["direct"] = wrk(args, tmp, f"http://{healthy_targets[0].split('/')[2]}",
                                ["/health"], 1, max(2, secs // 2), 0, load_cpus,
                                script=os.path.join(tmp, "plain.lua"))
        figures["idle_rss"] = exporter.idle_rss
        figures["peak_rss"] = exporter.peak_rss()
        return figures
    finally:
        exporter.stop()


def exporter_section(args, helpers):
    table, ms, mb, ratio, verdict = (helpers[k] for k in ("table", "ms", "mb", "ratio",
                                                           "verdict"))
    BenchServer = helpers["BenchServer"]
    print("(8) stillup exporter vs blackbox_exporter: HTTP probes (2xx, timeout "
          f"{MODULE_TIMEOUT:g} s) of loopback targets, one exporter at a time")
    args.blackbox = args.blackbox or shutil.which("prometheus-blackbox-exporter") \
        or shutil.which("blackbox_exporter")
    args.wrk = args.wrk or shutil.which("wrk")
    missing = [n for n, p in (("blackbox_exporter", args.blackbox), ("wrk", args.wrk)) if not p]
    if missing:
        print(f"  skipped: {', '.join(missing)} not found (bench/run.sh installs them from "
              "Debian when it can: prometheus-blackbox-exporter, wrk)")
        return
    has_exporter = subprocess.run([args.stillup, "exporter", "--help"], capture_output=True,
                                  timeout=10).returncode == 0
    tools = ["blackbox_exporter"] + (["stillup exporter"] if has_exporter else [])
    if not has_exporter:
        print("  note: this stillup has no `exporter` command; blackbox_exporter alone")

    cpus_all = sorted(os.sched_getaffinity(0))
    if len(cpus_all) >= 4:
        cpus, load_cpus = set(cpus_all[:2]), set(cpus_all[2:])
        where = (f"exporter pinned to CPUs {sorted(cpus)}, wrk and targets to the other "
                 f"{len(load_cpus)}")
    else:
        cpus, load_cpus = None, None
        where = (f"only {len(cpus_all)} CPUs: exporter, wrk and targets share them (the "
                 "exporter gets less than 2 cores; the ratio is what to read)")
    print(f"  {where}")

    with tempfile.TemporaryDirectory(prefix="stillup-bench-exporter-") as tmp:
        with open(os.path.join(tmp, "blackbox.yml"), "w") as f:
            f.write(f"modules:\n  {MODULE}:\n    prober: http\n"
                    f"    timeout: {MODULE_TIMEOUT:g}s\n")
        with open(os.path.join(tmp, "probe.lua"), "w") as f:
            f.write(LUA)
        with open(os.path.join(tmp, "plain.lua"), "w") as f:
            f.write(PLAIN_LUA)
        servers = [BenchServer(args.server, "healthy") for _ in range(args.exporter_targets)]
        hang = BenchServer(args.server, "hang")
        try:
            targets = [s.url for s in servers]
            rounds = {t: [] for t in tools}
            for r in range(args.exporter_rounds):
                order = tools if r % 2 == 0 else list(reversed(tools))
                for which in order:
                    rounds[which].append(one_round(args, tmp, which, targets, hang.url, cpus,
                                                   load_cpus))
        finally:
            for s in [*servers, hang]:
                s.close()

    def med(which, load, attr):
        return statistics.median(getattr(r[load], attr) for r in rounds[which])

    def worst(which, load, attr):
        return max(getattr(r[load], attr) for r in rounds[which])

    def total(which, load, attr):
        return sum(getattr(r[load], attr) for r in rounds[which])

    def answers(which, load):
        return (f"{total(which, load, 'up')}/{total(which, load, 'down')}/"
                f"{total(which, load, 'busy')}/"
                f"{total(which, load, 'other') + total(which, load, 'errors')}")

    print(f"\n  (8a) throughput: wrk, {args.exporter_connections} connections, "
          f"{args.exporter_seconds} s x {args.exporter_rounds} rounds over "
          f"{args.exporter_targets} targets; medians of rounds; peak RSS = max VmHWM")
    rows = []
    for which in tools:
        rows.append([which, f"{med(which, 'throughput', 'rate'):.0f}",
                     ms(med(which, "throughput", "p50")), ms(med(which, "throughput", "p99")),
                     answers(which, "throughput"),
                     mb(statistics.median(r["idle_rss"] for r in rounds[which])),
                     mb(max(r["peak_rss"] for r in rounds[which]))])
    print(table(rows, ["exporter", "probes/s", "p50", "p99", "up/down/busy/other",
                       "idle RSS", "peak RSS"]))
    if len(tools) == 2:
        b, s = tools
        rate = med(s, "throughput", "rate") / max(med(b, "throughput", "rate"), 1e-9)
        peak_b = max(r["peak_rss"] for r in rounds[b])
        peak_s = max(r["peak_rss"] for r in rounds[s])
        print()
        print(table([
            ["probes/s, stillup / blackbox", f"{rate:.2f}x",
             f">= {THROUGHPUT_RATIO_TARGET:.2f}x", verdict(rate >= THROUGHPUT_RATIO_TARGET)],
            ["peak RSS, stillup / blackbox", ratio(peak_s, peak_b),
             f"<= {RSS_RATIO_TARGET:.2f}x", verdict(peak_s <= RSS_RATIO_TARGET * peak_b)],
        ], ["ratio", "value", "target", ""]))

    print("\n  (8b) probe overhead: one connection, one probe at a time, against the target's "
          "own answer to wrk in the same round (a fresh connection per request, as a probe "
          "makes); overhead = probe minus direct, medians of rounds")
    rows = []
    for which in tools:
        p50, p99 = med(which, "sequential", "p50"), med(which, "sequential", "p99")
        d50, d99 = med(which, "direct", "p50"), med(which, "direct", "p99")
        rows.append([which, ms(p50), ms(p99), ms(d50), ms(d99), ms(p50 - d50), ms(p99 - d99),
                     answers(which, "sequential")])
    print(table(rows, ["exporter", "probe p50", "probe p99", "direct p50", "direct p99",
                       "overhead p50", "overhead p99", "up/down/busy/other"]))

    print(f"\n  (8c) the scrape deadline under overload: scrape timeout "
          f"{OVERLOAD_SCRAPE_TIMEOUT:g} s, so a budget of {ms(OVERLOAD_BUDGET)}; "
          f"'healthy' = {args.exporter_overload} connections on healthy targets, 'hanging' = "
          f"{args.exporter_hanging} connections on a target that never answers; max = the "
          "latest answer of all rounds, as wrk measured it")
    rows = []
    for which in tools:
        for load in ("overload", "hanging"):
            late = worst(which, load, "max") - OVERLOAD_BUDGET
            rows.append([which, "healthy" if load == "overload" else "hanging",
                         f"{med(which, load, 'rate'):.0f}", ms(med(which, load, "p99")),
                         ms(worst(which, load, "max")), answers(which, load),
                         f"<= {ms(OVERLOAD_BUDGET + LATE_SLACK)}",
                         verdict(late <= LATE_SLACK)])
    print(table(rows, ["exporter", "targets", "answers/s", "p99", "max",
                       "up/down/busy/other", "target", ""]))
