#!/usr/bin/env python3
"""A test CAS (the operator's key server) for slabcast's drm tests.

Like Flussonic's example key server (a few lines of PHP), it reads `file`
and `number` from the query string and answers the key's 16 bytes:
md5(file + number), e.g. md5("news29412345"). The Go test computes the same
key to decrypt what slabcast serves.

    cas.py PORT CONTROL_FILE LOG_FILE [--lifetime SECONDS]

PORT 0 takes any free port. Everything binds 127.0.0.1 only.

CONTROL_FILE (read again on every request; missing means "ok" for all)
holds lines "FILE MODE"; FILE "*" is every file without a line of its own.
MODE is one of:
  ok        the key (200, 16 bytes)
  short     8 bytes of it
  500       HTTP 500
  slow      sleep 5 s, then the key
  upto=N    the key while number <= N, else 500 (a CAS failing mid-stream)
"Down" (not listening) is the test's business: it starts the server
late, or ends it by its PID and starts it again on the same port.

LOG_FILE gets one line per request: "FILE NUMBER MODE STATUS".
stdout gets "PORT n" then "READY" once listening; diagnostics go to
stderr. The server exits when stdin reaches EOF (the test holds it open),
on SIGTERM, or after --lifetime seconds.
"""

import argparse
import hashlib
import http.server
import os
import signal
import sys
import threading
import time
import urllib.parse


def key(file, number):
    return hashlib.md5((file + number).encode()).digest()[:16]


def mode_of(control, file):
    modes = {}
    try:
        with open(control) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2:
                    modes[parts[0]] = parts[1]
    except FileNotFoundError:
        pass
    return modes.get(file, modes.get("*", "ok"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("control")
    ap.add_argument("log")
    ap.add_argument("--lifetime", type=float, default=300)
    args = ap.parse_args()
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            file = q.get("file", [""])[0]
            number = q.get("number", [""])[0]
            mode = mode_of(args.control, file)
            status, body = 200, b""
            if not file or not number.isdigit():
                status = 400
            elif mode == "500":
                status = 500
            elif mode == "short":
                body = key(file, number)[:8]
            elif mode == "slow":
                time.sleep(5)
                body = key(file, number)
            elif mode.startswith("upto="):
                if int(number) <= int(mode[5:]):
                    body = key(file, number)
                else:
                    status = 500
            else:
                body = key(file, number)
            with lock:
                with open(args.log, "a") as f:
                    f.write("%s %s %s %d\n" % (file or "-", number or "-", mode, status))
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the origin gave up waiting (slow mode)

        def log_message(self, fmt, *a):
            pass

    class Server(http.server.ThreadingHTTPServer):
        allow_reuse_address = True
        daemon_threads = True

    try:
        srv = Server(("127.0.0.1", args.port), Handler)
    except OSError as e:
        print("cas.py: cannot listen on 127.0.0.1:%d: %s" % (args.port, e), file=sys.stderr)
        sys.exit(2)

    def bye(*_):
        os._exit(0)

    signal.signal(signal.SIGTERM, bye)
    signal.signal(signal.SIGINT, bye)
    threading.Timer(args.lifetime, bye).start()

    def stdin_eof():
        sys.stdin.buffer.read()
        bye()

    threading.Thread(target=stdin_eof, daemon=True).start()
    print("PORT %d" % srv.server_address[1], flush=True)
    print("READY", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
