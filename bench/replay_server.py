#!/usr/bin/env python3
"""A tiny HTTP/1.1 keep-alive server that replays pre-rendered daemon responses.

The fake daemon (tests/fake_daemon/) is a Python http.server: it parses every
request with email.parser, routes it, re-encodes JSON with Go's rules and writes
each SSE event through a buffered file.  For throughput figures that server is
the bottleneck, so this one does as little as possible per request:

* one thread per connection, blocking sockets, TCP_NODELAY, keep-alive;
* the request head is split by hand (only Content-Length and Connection are read);
* every answer is bytes rendered before the benchmark starts (by bench/fixtures.py
  from the fake daemon's own output), sent with one ``sendall``.

Routes (matched on the end of the path; the tenant picks the list fixture):

    GET  .../management/list       -> list-<tenant>.json  (Content-Length)
    GET  .../management/tool       -> tool.json
    POST .../dispatch/tool/invoke  -> stream named by the request's data.tool:
         "<name>"  a pre-rendered chunked text/event-stream body <name>.sse
         "paced"   events written live, one every --pace seconds; each event is
                   split in two writes 20 ms apart and carries, in its text,
                   the CLOCK_MONOTONIC time (ns) of its last write
    POST .../dispatch/{llm/invoke,text_embedding/invoke,tts/invoke}
                                   -> the stream named by the request's data.model
                                      (a pre-rendered <name>.sse, see bench/fixtures.py)
    POST .../dispatch/speech2text/invoke
                                   -> the body is read in blocks and dropped (it may be
                                      100 MB of hex); one event {"result": "received N
                                      bytes"} answers
    GET  /__stats                  -> {"requests": {route: count}, "connections": n}
    POST /__reset                  -> zero the counters

Run: ``python bench/replay_server.py --fixtures DIR`` prints ``URL http://127.0.0.1:PORT``
and serves until SIGTERM/SIGINT (or, with --watch-stdin, until stdin closes).  Loopback only.  Stdlib only.
"""

import argparse
import json
import os
import signal
import socket
import sys
import threading
import time

STATUS = {200: b"OK", 404: b"Not Found", 400: b"Bad Request"}


def _head(status, ctype, length=None, chunked=False, close=False):
    lines = [b"HTTP/1.1 %d %s" % (status, STATUS.get(status, b"X")),
             b"Content-Type: " + ctype,
             b"Date: Mon, 01 Jan 2024 00:00:00 GMT"]
    if chunked:
        lines.append(b"Transfer-Encoding: chunked")
    else:
        lines.append(b"Content-Length: %d" % length)
    if close:
        lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n"


JSON = b"application/json; charset=utf-8"
SSE = b"text/event-stream"
NOT_FOUND = b'{"code":"not_found","message":"route not found"}'


class Replay:
    def __init__(self, fixtures, pace):
        self.pace = pace
        self.lists = {}
        self.streams = {}
        self.tool = None
        for name in os.listdir(fixtures):
            path = os.path.join(fixtures, name)
            if name.startswith("list-") and name.endswith(".json"):
                with open(path, "rb") as handle:
                    self.lists[name[5:-5].encode("ascii")] = handle.read()
            elif name == "tool.json":
                with open(path, "rb") as handle:
                    self.tool = handle.read()
            elif name.endswith(".sse"):
                with open(path, "rb") as handle:
                    self.streams[name[:-4]] = handle.read()
        self.counts = {}
        self.connections = 0
        self.lock = threading.Lock()

    def count(self, route):
        with self.lock:
            self.counts[route] = self.counts.get(route, 0) + 1

    # -- one connection ------------------------------------------------------

    def serve(self, conn):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.lock:
            self.connections += 1
        buf = b""
        recv = conn.recv
        try:
            while True:
                end = buf.find(b"\r\n\r\n")
                while end < 0:
                    data = recv(262144)
                    if not data:
                        return
                    buf += data
                    end = buf.find(b"\r\n\r\n")
                head = buf[:end]
                buf = buf[end + 4:]
                first, _, rest = head.partition(b"\r\n")
                method, target, _ = first.split(b" ", 2)
                lower = rest.lower()
                length = 0
                at = lower.find(b"content-length:")
                if at >= 0:
                    stop = lower.find(b"\r\n", at)
                    length = int(lower[at + 15:stop if stop >= 0 else len(lower)])
                close = b"connection: close" in lower
                if target.split(b"?", 1)[0].endswith(b"/dispatch/speech2text/invoke"):
                    buf = self.drain(conn, buf, length, close)
                    if close or buf is None:
                        return
                    continue
                while len(buf) < length:
                    data = recv(max(262144, length - len(buf)))
                    if not data:
                        return
                    buf += data
                body, buf = buf[:length], buf[length:]
                path = target.split(b"?", 1)[0]
                self.respond(conn, method, path, body, close)
                if close:
                    return
        except (ConnectionError, OSError):
            return
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def drain(self, conn, buf, length, close):
        """Read a large request body in blocks without keeping it; answer with its size.
        Returns what was read past the body, or None when the peer went away."""
        self.count("speech2text")
        received = min(len(buf), length)
        rest = buf[length:]
        block = bytearray(1 << 20)
        while received < length:
            got = conn.recv_into(block, min(len(block), length - received))
            if not got:
                return None
            received += got
        event = (b'data: {"code":0,"message":"success","data":{"result":"received %d bytes"}}'
                 b"\n\n" % received)
        conn.sendall(_head(200, SSE, chunked=True) + b"%x\r\n" % len(event) + event
                     + b"\r\n0\r\n\r\n")
        return rest

    def respond(self, conn, method, path, body, close):
        if path.endswith(b"/management/list"):
            self.count("list")
            tenant = path.split(b"/")[2]
            payload = self.lists.get(tenant) or self.lists.get(b"default")
            conn.sendall(_head(200, JSON, len(payload), close=close) + payload)
        elif path.endswith(b"/management/tool"):
            self.count("tool")
            conn.sendall(_head(200, JSON, len(self.tool), close=close) + self.tool)
        elif path.endswith(b"/dispatch/tool/invoke"):
            self.count("invoke")
            try:
                name = json.loads(body)["data"]["tool"]
            except (ValueError, KeyError, TypeError):
                name = ""
            if name == "paced":
                self.paced(conn, json.loads(body)["data"].get("tool_parameters") or {})
                return
            stream = self.streams.get(name)
            if stream is None:
                conn.sendall(_head(404, JSON, len(NOT_FOUND), close=close) + NOT_FOUND)
                return
            conn.sendall(_head(200, SSE, chunked=True) + stream)
        elif path.endswith((b"/dispatch/llm/invoke", b"/dispatch/text_embedding/invoke",
                            b"/dispatch/tts/invoke")):
            self.count(path.rsplit(b"/", 2)[1].decode())
            try:
                name = json.loads(body)["data"]["model"]
            except (ValueError, KeyError, TypeError):
                name = ""
            stream = self.streams.get(name)
            if stream is None:
                conn.sendall(_head(404, JSON, len(NOT_FOUND), close=close) + NOT_FOUND)
                return
            conn.sendall(_head(200, SSE, chunked=True) + stream)
        elif path == b"/__stats":
            with self.lock:
                payload = json.dumps({"requests": self.counts,
                                      "connections": self.connections}).encode()
            conn.sendall(_head(200, JSON, len(payload), close=close) + payload)
        elif path == b"/__reset":
            with self.lock:
                self.counts = {}
                self.connections = 0
            conn.sendall(_head(200, JSON, 2, close=close) + b"{}")
        else:
            conn.sendall(_head(404, JSON, len(NOT_FOUND), close=close) + NOT_FOUND)

    def paced(self, conn, parameters):
        """Events written live: each in two writes (the second completes it)."""
        count = int(parameters.get("count", 20))
        interval = float(parameters.get("interval", self.pace))
        split_gap = float(parameters.get("split_gap", 0.02))
        conn.sendall(_head(200, SSE, chunked=True))
        start = time.monotonic() + interval
        for index in range(count):
            due = start + index * interval           # when the event is complete
            due_ns = int(due * 1e9)
            text = "sent_ns=%020d index=%06d" % (due_ns, index)
            event = (b'data: {"code":0,"message":"success","data":{"type":"text","message":'
                     b'{"text":"' + text.encode() + b'"},"meta":null}}\n\n')
            framed = b"%x\r\n" % len(event) + event + b"\r\n"
            cut = len(framed) // 2
            _sleep_until(due - split_gap)
            conn.sendall(framed[:cut])
            _sleep_until(due)
            conn.sendall(framed[cut:])
        conn.sendall(b"0\r\n\r\n")


def _sleep_until(deadline):
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        if left > 0.002:
            time.sleep(left - 0.001)
        # the last millisecond is spun so the write happens on time


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--pace", type=float, default=0.1)
    parser.add_argument("--watch-stdin", action="store_true",
                        help="stop when standard input closes (set by bench/run.py)")
    args = parser.parse_args(argv)
    replay = Replay(args.fixtures, args.pace)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    listener.listen(128)
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
        try:
            listener.close()
        except OSError:
            pass

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def watch_stdin():  # the parent closing our stdin also stops us
        try:
            sys.stdin.buffer.read()
        except (OSError, ValueError):
            pass
        on_signal(None, None)

    if args.watch_stdin:
        threading.Thread(target=watch_stdin, daemon=True).start()
    sys.stdout.write("URL http://127.0.0.1:%d\n" % listener.getsockname()[1])
    sys.stdout.flush()
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
        except OSError:
            break
        threading.Thread(target=replay.serve, args=(conn,), daemon=True).start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
