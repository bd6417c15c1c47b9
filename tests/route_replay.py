"""Replay the route-group recordings (tests/transcripts/0.6.10-routes/) on loopback.

Those files (format: the README there) hold raw HTTP exchanges with daemon 0.6.10:
``request`` {method, path, target, headers, body} and ``response`` {status, reason,
headers, body_kind, body | body_raw | body_base64}. This module:

- loads them: :func:`recording`, :func:`exchange_keys` (every ``(file, index)`` of a
  folder, for the tests that claim a folder);
- serves them: :class:`RouteReplay` answers each request it receives with the next
  exchange put in its queue (:meth:`RouteReplay.serve`), status line, headers and body
  as recorded (JSON bodies re-encoded compactly, event streams and binaries byte for
  byte; chunked when the daemon chunked), and keeps what it received;
- compares: :func:`request_problems` lists every difference between a received request
  and the recorded one (method, path, query, the headers that carry meaning, JSON body
  or multipart fields).

Tenant ids are used as recorded (they are UUIDs), so paths compare exactly.
"""

import base64
import collections
import http.server
import json
import os
import socketserver
import threading
import urllib.parse

import transcript_replay as tr

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
ROUTES_DIR = os.path.join(TESTS_DIR, "transcripts", "0.6.10-routes")
_SKIPPED_HEADERS = ("content-length", "transfer-encoding", "date", "connection")

_CACHE = {}


def recording(folder, name):
    """The parsed recording ``<folder>/<name>`` (a ``.json`` file name)."""
    key = (folder, name)
    if key not in _CACHE:
        with open(os.path.join(ROUTES_DIR, folder, name), encoding="utf-8") as handle:
            _CACHE[key] = json.load(handle)
    return _CACHE[key]


def exchange(folder, name, index):
    return recording(folder, name)["exchanges"][index]


def exchange_keys(folder):
    """Every ``(folder/name, index)`` of the folder's recordings."""
    keys = []
    for name in sorted(os.listdir(os.path.join(ROUTES_DIR, folder))):
        if name.endswith(".json"):
            for index in range(len(recording(folder, name)["exchanges"])):
                keys.append(("%s/%s" % (folder, name), index))
    return keys


# --- what was received (each request kept as a transcript_replay.ReceivedRequest) ------


def _multipart_parts(body, content_type):
    """``{name: (filename, content)}`` of a multipart/form-data body."""
    parts = {}
    for head, content in tr.parse_multipart(body, content_type):
        name, filename = tr.disposition(head)
        parts[name] = (filename, content)
    return parts


def request_problems(recorded, received, *, null_keys_dropped=(), extra_query=()):
    """Differences between ``received`` and the ``recorded`` exchange's request.

    ``null_keys_dropped``: top-level body keys the client sends as null and the recording
    omits (the daemon reads both as absent). ``extra_query``: query names the client may
    add (e.g. the second key of decode/from_identifier kept for daemons up to 0.5.4).
    """
    request = recorded["request"]
    problems = []
    if received.method != request["method"]:
        problems.append("method %s, recorded %s" % (received.method, request["method"]))
    if received.path != request["path"]:
        problems.append("path %s, recorded %s" % (received.path, request["path"]))
    expected_query = urllib.parse.parse_qs(urllib.parse.urlsplit(request["target"]).query,
                                           keep_blank_values=True)
    query = dict((k, v) for k, v in received.query.items() if k not in extra_query)
    if query != expected_query:
        problems.append("query %r, recorded %r" % (query, expected_query))
    headers = request["headers"]
    if received.header("X-Api-Key") is None:
        problems.append("no X-Api-Key header")
    for name in ("X-Plugin-ID", "X-Plugin-Unique-Identifier"):
        if received.header(name) != headers.get(name):
            problems.append("%s %r, recorded %r"
                            % (name, received.header(name), headers.get(name)))
    recorded_type = (headers.get("Content-Type") or "").split(";")[0]
    sent_type = (received.header("Content-Type") or "").split(";")[0]
    if recorded_type != sent_type:
        problems.append("Content-Type %r, recorded %r" % (sent_type, recorded_type))
    problems.extend(_body_problems(request.get("body"), received, null_keys_dropped))
    return problems


def _body_problems(body, received, null_keys_dropped):
    if body is None:
        return ["sent %d body bytes; the recorded request had none" % len(received.body)] \
            if received.body else []
    if isinstance(body, dict) and "multipart_form" in body:
        parts = _multipart_parts(received.body, received.header("Content-Type"))
        problems = []
        for field in body["multipart_form"]:
            filename, content = parts.pop(field["name"], (None, None))
            if content is None:
                problems.append("multipart field %s missing" % field["name"])
            elif "value" in field and content.decode("utf-8") != field["value"]:
                problems.append("multipart %s=%r, recorded %r"
                                % (field["name"], content, field["value"]))
            elif "size" in field and (filename, len(content)) != (field["filename"], field["size"]):
                problems.append("multipart file %r of %d bytes, recorded %r of %d" % (
                    filename, len(content), field["filename"], field["size"]))
        if parts:
            problems.append("multipart fields not recorded: %s" % sorted(parts))
        return problems
    try:
        sent = received.json()
    except ValueError as exc:
        return ["body is not JSON: %s" % exc]
    if isinstance(sent, dict):
        for key in null_keys_dropped:
            if key in sent and sent[key] is None and key not in body:
                del sent[key]
    if sent != body:
        return ["JSON body %s, recorded %s" % (json.dumps(sent, sort_keys=True),
                                               json.dumps(body, sort_keys=True))]
    return []


# --- the recorded answers ------------------------------------------------------------


def response_parts(recorded):
    """(status, reason, headers, body bytes, chunked) of a recorded response."""
    response = recorded["response"]
    kind = response["body_kind"]
    if kind == "sse":
        body = response["body_raw"].encode("utf-8")
    elif kind == "binary":
        body = base64.b64decode(response.get("body_base64") or "")
    elif kind == "json":
        body = json.dumps(response["body"], separators=(",", ":"),
                          ensure_ascii=False).encode("utf-8")
    else:
        body = (response.get("body") or "").encode("utf-8")
    chunked = any(name.lower() == "transfer-encoding" for name, _ in response["headers"])
    headers = [(name, value) for name, value in response["headers"]
               if name.lower() not in _SKIPPED_HEADERS]
    return response["status"], response["reason"], headers, body, chunked


class _Handler(tr.ReplayHandler):
    """Keeps each request and answers it with the next queued exchange (or HTTP 500)."""

    def _answer(self):
        body, chunked = self._read_body()
        received = tr.ReceivedRequest(self.command, self.path, list(self.headers.items()), body,
                                      chunked)
        self._write(self.server.owner.next_for(received))

    def _write(self, recorded):
        if recorded is None:
            text = b"route replay: no recorded exchange queued for this request"
            self.wfile.write(b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(text), text))
            return
        status, reason, headers, body, chunked = response_parts(recorded)
        lines = ["HTTP/1.1 %d %s" % (status, reason)] + ["%s: %s" % pair for pair in headers]
        lines.append("Transfer-Encoding: chunked" if chunked else "Content-Length: %d" % len(body))
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if not chunked:
            self.wfile.write(body)
            return
        for start in range(0, len(body), 1024):
            piece = body[start:start + 1024]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class RouteReplay(object):
    """A loopback server answering with queued recorded exchanges, in order."""

    def __init__(self):
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._lock = threading.Lock()
        self._queue = collections.deque()
        self.received = []
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def url(self):
        return "http://%s:%d" % self._server.server_address[:2]

    def serve(self, *recorded):
        """Answer the next requests with these exchanges (in this order)."""
        with self._lock:
            self._queue.extend(recorded)

    def reset(self):
        with self._lock:
            self._queue.clear()
            del self.received[:]

    def next_for(self, received):
        with self._lock:
            self.received.append(received)
            return self._queue.popleft() if self._queue else None

    @property
    def pending(self):
        with self._lock:
            return len(self._queue)

    def close(self):
        self._server.shutdown()
        self._server.server_close()


# --- test scaffolding: one check per recorded exchange -----------------------------------

#: The recordings' tenants and user (tenant ids are used as recorded).
TENANT = "0b4f6b38-2b3c-4d3e-9a4f-5c6d7e8f9a0b"
OTHER_TENANT = "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
USER = "user-e2e-1"
KEY = "route-replay-key-0123"


class Cases(object):
    """``(folder/file, index) -> check``: each recorded exchange's check, registered with
    ``@cases("tool/x.json", 0, 1)``."""

    def __init__(self):
        self.table = {}

    def __call__(self, name, *indexes):
        def register(check):
            for index in indexes:
                if (name, index) in self.table:
                    raise ValueError("two checks for %s[%d]" % (name, index))
                self.table[(name, index)] = check
            return check
        return register

    def keys(self):
        return sorted(self.table)

    def unchecked(self, folders, elsewhere=()):
        """(exchanges of ``folders`` without a check, checks of no recorded exchange);
        files in ``elsewhere`` are claimed by another test module."""
        expected = [key for folder in folders for key in exchange_keys(folder)
                    if key[0] not in elsewhere]
        return ([key for key in expected if key not in self.table],
                [key for key in self.table if key not in expected])


class Replayed(object):
    """One recorded exchange under test: serve it, call, compare."""

    def __init__(self, replay, key):
        self.replay = replay
        self.name, self.index = key
        folder, _, file_name = self.name.partition("/")
        self.exchange = exchange(folder, file_name, self.index)
        self.response = self.exchange["response"]
        self.body = self.exchange["request"].get("body")

    def client(self, key=KEY, **options):
        import dify_plugin_client as dpc

        options.setdefault("timeout", 10.0)
        return dpc.DifyPluginClient(dpc.PluginConfig(url=self.replay.url, key=key, **options))

    def serve(self):
        self.replay.serve(self.exchange)

    @property
    def events(self):
        """The ``data`` of each recorded stream event."""
        return [event["data"]["data"] for event in self.response.get("sse_events") or []]

    @property
    def data(self):
        return self.response["body"]["data"]

    def error_layers(self):
        """The recorded error's layers (the last stream event's, or the JSON body's)."""
        if self.response["body_kind"] == "sse":
            return tr.error_layers(self.response["sse_events"][-1]["data"]["message"])
        return tr.error_layers(self.response["body"]["message"])

    def check_request(self, **options):
        assert len(self.replay.received) == 1, self.replay.received
        problems = request_problems(self.exchange, self.replay.received[0], **options)
        assert problems == [], problems

    def check_nothing_sent(self):
        assert self.replay.received == []

    def check_not_found(self, error):
        """``error`` carries the recorded not-found answer: its error_type, and a message
        that ends with the daemon's."""
        [(error_type, message)] = self.error_layers()
        assert error.error_type == error_type
        assert error.message.endswith("(the daemon: %s)" % message)

    def check_error(self, error, cls):
        """``error`` is ``cls`` and carries the recorded error's types and message."""
        layers = self.error_layers()
        assert type(error) is cls, (type(error), cls, layers)
        assert error.error_type == layers[0][0]
        if len(layers) > 1:  # a plugin error: its own type and message
            assert error.invoke_error_type == layers[-1][0]
            assert error.message == layers[-1][1]
        else:
            assert error.message == layers[0][1]

    # --- requests the client cannot make: sent as recorded through its own machinery ---

    def raw_headers(self):
        headers = dict((name, value) for name, value in self.exchange["request"]["headers"].items()
                       if name.startswith("X-Plugin"))
        return headers

    def raw_dispatch(self, client, chunk_type):
        """The recorded dispatch request, sent by the client's stream reader."""
        request = self.exchange["request"]
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        headers.update(self.raw_headers())
        body = json.dumps(request["body"]).encode("utf-8")
        import dify_plugin_client as dpc

        return list(client._dispatcher._chunks(
            request["path"], headers, body, chunk_type, False, first_event_timeout=None,
            max_event_size=client.config.max_event_size, read=dpc._event_reader(chunk_type)))

    def raw_call(self, client):
        """The recorded JSON-route request, sent by the client's envelope reader."""
        request = self.exchange["request"]
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(request["target"]).query)
        return client._call(request["method"], request["path"], query=query,
                            headers=self.raw_headers() or None, payload=request.get("body"))
