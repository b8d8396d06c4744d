#!/usr/bin/env python3
"""(6c) The deadline at 100,000 targets that never answer.

One listener on 127.0.0.1 accepts connections and never answers (the rest wait in its
backlog): every attempt is a connect or response timeout, so nothing but the deadline ends
the run. The overrun is the process's exit minus the first accepted connection (the deadline
starts just before the first connect, so this slightly overstates it) minus --timeout.

    python3 bench/deadline_hang.py [--stillup target/release/stillup] [--targets 100000] [--runs 2]
"""
import argparse
import resource
import socket
import subprocess
import threading
import time

parser = argparse.ArgumentParser()
parser.add_argument("--stillup", default="target/release/stillup")
parser.add_argument("--targets", type=int, default=100_000)
parser.add_argument("--runs", type=int, default=2)
args = parser.parse_args()

hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(4096)
port = listener.getsockname()[1]
first, held = [], []


def accept_forever():
    while True:
        conn, _ = listener.accept()
        if not first:
            first.append(time.monotonic())
        held.append(conn)


threading.Thread(target=accept_forever, daemon=True).start()
path = f"/tmp/stillup-deadline-{port}.txt"
with open(path, "w") as f:
    f.write("".join(f"http://127.0.0.1:{port}/t/{i}\n" for i in range(args.targets)))

print(f"{args.targets} targets that never answer, --timeout 3s --attempt-timeout 1s")
print("| output | exit | wall | spawn to first connect | overrun past the deadline | peak RSS |")
print("|---|---|---|---|---|---|")
for _ in range(args.runs):
    for output in (["-q"], []):
        first.clear()
        started = time.monotonic()
        run = subprocess.run(
            ["/usr/bin/time", "-f", "%M", args.stillup, "wait", "--targets-file", path,
             "--timeout", "3s", "--attempt-timeout", "1s"] + output,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        ended = time.monotonic()
        peak_kib = int(run.stderr.strip().splitlines()[-1])
        overrun = (ended - first[0] - 3.0) * 1000 if first else float("nan")
        print(f"| {'-q' if output else 'human'} | {run.returncode} | {ended - started:.2f} s | "
              f"{(first[0] - started) if first else float('nan'):.2f} s | {overrun:+.0f} ms | "
              f"{peak_kib / 1024:.1f} MB |")
        for conn in held:
            conn.close()
        held.clear()
