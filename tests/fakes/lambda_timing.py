"""Cold start, invocation time and peak memory of the Lambda binary, measured against a
minimal Lambda runtime API served here (the same protocol the Lambda service and
cargo-lambda's emulator speak), for BENCHMARKS.md.

  python lambda_timing.py --binary target/release/restore-doctor-lambda \
      --event events/restore-job-failed-efs.json --runs 5 [--env KEY=VALUE ...]

Per run: starts the binary, times start -> first `GET /invocation/next` (init), serves the
event (cold invocation), then the same event with a new id (warm invocation), then reads
the process's peak resident memory (VmHWM) and stops it. The environment (TOPIC_ARN,
AWS endpoints of moto and the fake, credentials) comes from --env; AWS_LAMBDA_* are set here.
"""

import argparse
import json
import os
import queue
import statistics
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime/invocation/"


def run_once(binary, event, extra_env):
    events = queue.Queue()
    marks = {}
    done = {}
    ready = threading.Event()

    class Api(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path != PREFIX + "next":
                self.send_error(404)
                return
            marks.setdefault("first_next", time.monotonic())
            request_id, body = events.get()  # blocks until there is work
            marks[request_id + ":start"] = time.monotonic()
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
            self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60_000))
            self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:eu-west-1:123456789012:function:restore-doctor")
            self.send_header("Lambda-Runtime-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = self.path[len(PREFIX):].split("/") if self.path.startswith(PREFIX) else []
            if len(parts) == 2:
                request_id, kind = parts
                marks[request_id + ":end"] = time.monotonic()
                done[request_id] = (kind, body.decode("utf-8", "replace"))
                if len(done) == 2:
                    ready.set()
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    server.daemon_threads = True
    # The binary is killed while it waits on `next`: that reset is expected.
    server.handle_error = lambda request, address: None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ)
    env.update(extra_env)
    env.update(
        {
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
            "AWS_LAMBDA_FUNCTION_NAME": "restore-doctor",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        }
    )
    cold = dict(event, id=f"timing-cold-{time.time_ns()}")
    warm = dict(event, id=f"timing-warm-{time.time_ns()}")
    events.put(("cold", cold))
    events.put(("warm", warm))
    started = time.monotonic()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not ready.wait(60):
            raise SystemExit(f"timing: no responses within 60 s: {done}")
        with open(f"/proc/{proc.pid}/status") as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
        peak_kb = int(status["VmHWM"].split()[0])
        resident = resident_by_mapping(proc.pid)
    finally:
        proc.kill()
        proc.wait()
        server.shutdown()
    return {
        "init_ms": (marks["first_next"] - started) * 1000,
        "cold_ms": (marks["cold:end"] - marks["cold:start"]) * 1000,
        "warm_ms": (marks["warm:end"] - marks["warm:start"]) * 1000,
        "peak_mib": peak_kb / 1024,
        "marks": marks,
        "resident_kib": resident,
        "outcomes": {k: v[0] for k, v in done.items()},
        "responses": {k: v[1] for k, v in done.items()},
    }


def resident_by_mapping(pid):
    """Resident KiB per kind of mapping (the binary's own pages, the heap, anonymous
    memory such as thread stacks and allocator arenas, shared libraries), from
    /proc/PID/smaps: where the peak memory lives."""
    totals = {}
    kind = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
                name = head[5] if len(head) > 5 else ""
                if name.endswith("restore-doctor-lambda"):
                    kind = "binary (code and data)"
                elif name == "[heap]":
                    kind = "heap"
                elif name.startswith("[stack"):
                    kind = "main stack"
                elif name == "":
                    kind = "anonymous (thread stacks, allocator arenas)"
                else:
                    kind = "shared libraries and other"
            elif head[0] == "Rss:" and kind:
                totals[kind] = totals.get(kind, 0) + int(head[1])
    return totals


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", required=True)
    p.add_argument("--event", required=True)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--env", action="append", default=[])
    args = p.parse_args()
    event = json.load(open(args.event))
    extra = dict(kv.split("=", 1) for kv in args.env)
    runs = [run_once(args.binary, event, extra) for _ in range(args.runs)]
    print("first run responses:", json.dumps(runs[0]["responses"]))
    print("first run resident KiB by mapping:", json.dumps(runs[0]["resident_kib"]))
    for key in ["init_ms", "cold_ms", "warm_ms", "peak_mib"]:
        values = [r[key] for r in runs]
        print(f"{key}: median {statistics.median(values):.1f}  min {min(values):.1f}  max {max(values):.1f}")


if __name__ == "__main__":
    main()
