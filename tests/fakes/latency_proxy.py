"""A logging HTTP proxy that adds a fixed latency to every AWS call, for the gathering
bench (issue #11): it sits between the SDK clients and moto / aws_fake.py, records each
call (service, operation, when it arrived, when it was answered) and answers in one
write, so that no Nagle/delayed-ACK stall between a response's headers and its body
distorts the timings.

  python latency_proxy.py --upstream moto=http://127.0.0.1:5000 --upstream fake=http://127.0.0.1:5001 \
      [--delay-ms 100]
  prints "PORT <name> <port>" per upstream, then "READY"; exits when its standard input closes.
  GET  /_proxy/calls   the calls so far: [{"service", "operation", "start", "end"}] (seconds,
                       time.monotonic of this process)
  POST /_proxy/reset   forgets the calls
  POST /_proxy/delay   {"ms": N}: the latency added from now on

Or in-process: `Proxy({"moto": url, ...}, delay_ms)`; `.ports`, `.calls()`, `.reset()`,
`.delay_ms`, `.close()` (the bench driver uses this, so that the proxy's clock is its own).

The operation is read the way AWS routes it: the `X-Amz-Target` header (awsJson: KMS),
the form's `Action` (awsQuery: IAM, STS, SNS), or the REST path (restJson1: AWS Backup,
the routes aws_fake.py serves); the service from the SigV4 credential scope.
"""

import argparse
import http.client
import json
import re
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# AWS Backup's REST routes (botocore model backup 2018-11-15), as aws_fake.py serves them.
BACKUP_ROUTES = [
    ("GET", re.compile(r"^/restore-jobs/[^/]+/metadata/?$"), "GetRestoreJobMetadata"),
    ("GET", re.compile(r"^/restore-jobs/[^/]+/?$"), "DescribeRestoreJob"),
    ("GET", re.compile(r"^/backup-vaults/[^/]+/recovery-points/[^/]+/restore-metadata/?$"),
     "GetRecoveryPointRestoreMetadata"),
    ("GET", re.compile(r"^/backup-vaults/[^/]+/recovery-points/?$"), "ListRecoveryPointsByBackupVault"),
    ("GET", re.compile(r"^/backup-vaults/[^/]+/recovery-points/.+$"), "DescribeRecoveryPoint"),
    ("GET", re.compile(r"^/backup-vaults/[^/]+/access-policy/?$"), "GetBackupVaultAccessPolicy"),
    ("GET", re.compile(r"^/backup-vaults/?$"), "ListBackupVaults"),
    ("PUT", re.compile(r"^/restore-jobs/?$"), "StartRestoreJob"),
    # The readiness enumeration (issue #13).
    ("GET", re.compile(r"^/resources/?$"), "ListProtectedResources"),
    ("GET", re.compile(r"^/resources/[^/]+/recovery-points/?$"), "ListRecoveryPointsByResource"),
    ("GET", re.compile(r"^/restore-testing/plans/?$"), "ListRestoreTestingPlans"),
    ("GET", re.compile(r"^/restore-testing/plans/[^/]+/selections/?$"), "ListRestoreTestingSelections"),
    ("GET", re.compile(r"^/restore-testing/plans/[^/]+/selections/[^/]+/?$"), "GetRestoreTestingSelection"),
]
SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}


def operation_of(method, path, headers, body):
    target = headers.get("X-Amz-Target")
    if target:
        return target.rsplit(".", 1)[-1]
    if "x-www-form-urlencoded" in (headers.get("Content-Type") or ""):
        action = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("Action")
        if action:
            return action[0]
    bare = urllib.parse.urlsplit(path).path
    for m, pattern, name in BACKUP_ROUTES:
        if m == method and pattern.match(bare):
            return name
    return f"{method} {bare}"


def service_of(headers):
    found = SCOPE.search(headers.get("Authorization") or "")
    return found.group(1) if found else "?"


class Proxy:
    def __init__(self, upstreams, delay_ms=0):
        self.delay_ms = delay_ms
        self._calls = []
        self._lock = threading.Lock()
        self._servers = []
        self.ports = {}
        for name, url in upstreams.items():
            server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler(name, url))
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self._servers.append(server)
            self.ports[name] = server.server_address[1]

    def calls(self):
        with self._lock:
            return list(self._calls)

    def reset(self):
        with self._lock:
            self._calls.clear()

    def close(self):
        for server in self._servers:
            server.shutdown()

    def _record(self, call):
        with self._lock:
            self._calls.append(call)

    def _handler(self, name, url):
        proxy = self
        upstream = urllib.parse.urlsplit(url)
        local = threading.local()

        def connection():
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
                conn.connect()
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                local.conn = conn
            return conn

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args):
                pass

            def read_body(self):
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    data = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            self.rfile.readline()
                            return data
                        data += self.rfile.read(size)
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def control(self, body):
                if self.path == "/_proxy/calls":
                    return proxy.calls()
                if self.path == "/_proxy/reset":
                    proxy.reset()
                    return {}
                if self.path == "/_proxy/delay":
                    proxy.delay_ms = float(json.loads(body or b"{}").get("ms", 0))
                    return {}
                return None

            def forward(self):
                body = self.read_body()
                if self.path.startswith("/_proxy/"):
                    answer = self.control(body)
                    self.answer(200 if answer is not None else 404, [("Content-Type", "application/json")],
                                json.dumps(answer).encode())
                    return
                start = time.monotonic()
                if proxy.delay_ms:
                    time.sleep(proxy.delay_ms / 1000)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                if body or self.command in ("POST", "PUT"):
                    headers["Content-Length"] = str(len(body))
                try:
                    conn = connection()
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    status, reply_headers = resp.status, resp.getheaders()
                except (OSError, http.client.HTTPException) as e:
                    local.conn = None
                    status, reply_headers, data = 502, [("Content-Type", "text/plain")], str(e).encode()
                end = time.monotonic()
                proxy._record(
                    {
                        "upstream": name,
                        "service": service_of(self.headers),
                        "operation": operation_of(self.command, self.path, self.headers, body),
                        "start": start,
                        "end": end,
                    }
                )
                self.answer(status, reply_headers, data)

            def answer(self, status, headers, data):
                reason = http.client.responses.get(status, "")
                head = [f"HTTP/1.1 {status} {reason}"]
                head += [f"{k}: {v}" for k, v in headers if k.lower() not in HOP_BY_HOP]
                head += [f"Content-Length: {len(data)}", "", ""]
                # One write: status line, headers and body leave in one segment train.
                self.wfile.write("\r\n".join(head).encode("latin-1") + data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = forward

        return Handler


def longest_chain(calls):
    """The longest run of calls one after another, each started after the previous one
    was answered (the sequential round trips of an invocation), as a list of calls."""
    calls = sorted(calls, key=lambda c: c["start"])
    best = []  # best[i]: the longest chain ending with calls[i]
    for i, c in enumerate(calls):
        before = [best[j] for j in range(i) if calls[j]["end"] <= c["start"]]
        best.append(max(before, key=len, default=[]) + [c])
    return max(best, key=len, default=[])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--upstream", action="append", required=True, help="NAME=URL")
    p.add_argument("--delay-ms", type=float, default=0)
    args = p.parse_args()
    proxy = Proxy(dict(u.split("=", 1) for u in args.upstream), args.delay_ms)
    for name, port in proxy.ports.items():
        print(f"PORT {name} {port}", flush=True)
    print("READY", flush=True)
    sys.stdin.read()  # until the parent closes it
    proxy.close()


if __name__ == "__main__":
    main()
