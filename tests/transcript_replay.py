"""Replay the real daemon's recorded answers (tests/transcripts/) on loopback.

The recordings are lists of exchanges: what the client sent and what the daemon wrote
back, byte for byte (see tests/transcripts/README.md). This module loads them and runs
a small HTTP/1.1 server that plays the daemon's part:

- ``ReplayServer.expect(exchanges, tenants, pool=())`` loads a queue. Each request is
  answered with the head of the queue when it has the same method and path shape;
  exchanges marked optional may be skipped (requests a corrected client may drop);
  otherwise it gets a ``pool`` exchange of that shape (answers the daemon gave in the same
  state, for requests a corrected client may add; pool exchanges of one shape answer in
  their order, the last one again and again); otherwise it is *unexpected*: the
  server answers HTTP 500 with a plain-text note and the test fails on it.
- Answers are written as recorded: status line and reason, headers (Content-Type,
  Date, Content-Length or chunked transfer), and the body text or the raw event stream,
  chunked with the sizes the recording proxy read where those are known.
- ``compare_request(exchange, received, tenants, key)`` lists every difference between
  what the client sent and what the recording says it sent: method, path, query, JSON
  body, multipart fields, and the headers that carry meaning (key, plugin id, types).

Tenant ids are fresh per test: ``TenantMap`` maps each recorded tenant to a new UUID and
substitutes it in expected paths and in the replayed bodies (same length, so recorded
lengths stay right). Everything else (task ids, installation ids) is replayed as is.
"""

import base64
import collections
import hashlib
import http.server
import json
import os
import re
import socketserver
import threading
import urllib.parse
import uuid

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
TRANSCRIPTS_DIR = os.path.join(TESTS_DIR, "transcripts")

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TENANT_IN_PATH = re.compile(r"^(?:/[^/]+)*?/plugin/([^/]+)/")
CLIENT_USER_AGENT = "dify-plugin-client/"


# =============================================================================
# The corpus
# =============================================================================


class Exchange:
    """One recorded request and the daemon's answer."""

    def __init__(self, release, scenario, index, raw):
        self.release = release
        self.scenario = scenario
        self.index = index
        self.raw = raw
        self.request = raw["request"]
        self.response = raw["response"]

    @property
    def id(self):
        return "%s/%s[%d]" % (self.release, self.scenario, self.index)

    @property
    def key(self):
        return (self.release, self.scenario, self.index)

    @property
    def method(self):
        return self.request["method"]

    @property
    def path(self):
        return self.request["path"]

    @property
    def query(self):
        return self.request.get("query") or {}

    def header(self, name, where="request"):
        for key, value in (self.request if where == "request" else self.response)["headers"]:
            if key.lower() == name.lower():
                return value
        return None

    @property
    def user_agent(self):
        return self.header("User-Agent") or ""

    @property
    def sent_by_client(self):
        """True when this client's own code sent the request (not raw HTTP or curl)."""
        return self.user_agent.startswith(CLIENT_USER_AGENT)

    @property
    def tenant(self):
        match = _TENANT_IN_PATH.match(self.path)
        return match.group(1) if match else None

    @property
    def route(self):
        """The path after ``/plugin/<tenant>`` (or the whole path), UUIDs as ``{uuid}``."""
        return route_of(self.path)

    @property
    def shape(self):
        return (self.method, shape_of(self.path))

    @property
    def body_json(self):
        body = self.request.get("body") or {}
        return body.get("json")

    @property
    def response_json(self):
        return self.response.get("json")

    @property
    def is_stream(self):
        return "sse_raw" in self.response

    def __repr__(self):
        return "<Exchange %s %s %s>" % (self.id, self.method, self.path)


def route_of(path):
    match = _TENANT_IN_PATH.match(path)
    rest = path[match.end() - 1:] if match else path
    # the identifier after .../delete/ is a catch-all segment
    rest = re.sub(r"(/install/tasks/[^/]+/delete)/.+$", r"\1/{identifier}", rest)
    return UUID_RE.sub("{uuid}", rest)


def shape_of(path):
    """The path with its tenant, UUIDs and identifier segment generalised."""
    match = _TENANT_IN_PATH.match(path)
    prefix = path[:match.start(1)] + "{tenant}" if match else ""
    return prefix + route_of(path)


def release_dirs():
    """The folders of client-call recordings (the route-group folders are not included)."""
    return sorted(name for name in os.listdir(TRANSCRIPTS_DIR)
                  if os.path.isdir(os.path.join(TRANSCRIPTS_DIR, name)) and "-" not in name)


_CACHE = {}


def load_release(release):
    """``{scenario: [Exchange, ...]}`` for every ``<release>/<scenario>.json``, sorted."""
    if release not in _CACHE:
        folder = os.path.join(TRANSCRIPTS_DIR, release)
        scenarios = collections.OrderedDict()
        for name in sorted(os.listdir(folder)):
            if not name.endswith(".json"):
                continue
            scenario = name[:-len(".json")]
            with open(os.path.join(folder, name), "r", encoding="utf-8") as handle:
                raw = json.load(handle)
            scenarios[scenario] = [Exchange(release, scenario, index, item)
                                   for index, item in enumerate(raw)]
        _CACHE[release] = scenarios
    return _CACHE[release]


def exchange(release, scenario, index):
    return load_release(release)[scenario][index]


def error_layers(message, fields=("error_type", "message")):
    """The layers of a daemon error message, outer layer first: the daemon writes an error
    as JSON ``{"error_type", "message", "args"}`` in its envelope's message, and a plugin's
    error as such JSON in the message of its own. Each layer as the tuple of its
    ``fields``; a message that is not such JSON ends the layers."""
    layers = []
    while isinstance(message, str) and message.lstrip().startswith("{"):
        try:
            decoded = json.loads(message)
        except ValueError:
            break
        if not isinstance(decoded, dict) or "error_type" not in decoded:
            break
        layers.append(tuple(decoded.get(field) for field in fields))
        message = decoded.get("message")
    return layers


def recorded_tenants(release):
    """Every tenant id (UUIDs only) that appears in a path of the release."""
    found = []
    for exchanges in load_release(release).values():
        for item in exchanges:
            tenant = item.tenant
            if tenant and UUID_RE.fullmatch(tenant) and tenant not in found:
                found.append(tenant)
    return found


# =============================================================================
# Tenants
# =============================================================================


class TenantMap:
    """Recorded tenant id -> a fresh UUID, made on first use; substitutes in text."""

    def __init__(self, release):
        self.recorded = recorded_tenants(release)
        self.fresh = {}

    def __getitem__(self, recorded):
        if recorded not in self.fresh:
            self.fresh[recorded] = str(uuid.uuid4())
        return self.fresh[recorded]

    def apply(self, text):
        """``text`` with every recorded tenant replaced by its fresh id."""
        if not text:
            return text
        for recorded in self.recorded:
            if recorded in text:
                text = text.replace(recorded, self[recorded])
        return text

    def apply_json(self, value):
        return json.loads(self.apply(json.dumps(value)))


# =============================================================================
# What the client sent
# =============================================================================


class ReceivedRequest:
    """One request a replay server got: its path unquoted, its query parsed, its headers
    in order, and whether its body came chunked."""

    def __init__(self, method, target, headers, body, chunked):
        self.method = method
        self.target = target
        split = urllib.parse.urlsplit(target)
        self.path = urllib.parse.unquote(split.path)
        self.raw_path = split.path
        self.query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        self.headers = headers  # [(name, value)] in order
        self.body = body
        self.chunked = chunked

    def header(self, name):
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    @property
    def shape(self):
        return (self.method, shape_of(self.path))

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<ReceivedRequest %s %s>" % (self.method, self.target)


def parse_multipart(body, content_type):
    """``[(headers text, content bytes)]`` of a multipart/form-data body."""
    match = re.search(r'boundary="?([^";]+)"?', content_type or "")
    if not match:
        raise ValueError("no multipart boundary in %r" % content_type)
    delimiter = b"--" + match.group(1).encode("latin-1")
    parts = []
    chunks = body.split(delimiter)
    if chunks[0] not in (b"",):
        raise ValueError("multipart body does not start with its boundary")
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        if not chunk.startswith(b"\r\n") or not chunk.endswith(b"\r\n"):
            raise ValueError("malformed multipart part")
        chunk = chunk[2:-2]
        head, separator, content = chunk.partition(b"\r\n\r\n")
        if not separator:
            raise ValueError("multipart part without a blank line after its headers")
        parts.append((head.decode("utf-8"), content))
    return parts


def disposition(headers_text):
    """(name, filename) of a multipart part, from its headers (None for what is absent)."""
    name = re.search(r'name="([^"]*)"', headers_text)
    filename = re.search(r'filename="([^"]*)"', headers_text)
    return (name.group(1) if name else None, filename.group(1) if filename else None)


def recorded_parts(exchange_):
    """The recorded multipart parts as ``[(headers, length, sha256, content bytes|None)]``."""
    body = exchange_.request.get("body") or {}
    if "multipart_parts" in body:
        parts = []
        whole = recorded_body_bytes(exchange_)
        by_index = parse_multipart(whole, exchange_.header("Content-Type")) if whole else None
        for index, part in enumerate(body["multipart_parts"]):
            content = part.get("content")
            content = content.encode("utf-8") if isinstance(content, str) else None
            if content is None and by_index is not None:
                content = by_index[index][1]
            parts.append((part["headers"], part["length"], part.get("sha256"), content))
        return parts
    whole = recorded_body_bytes(exchange_)
    if whole is None:
        return None
    return [(head, len(content), hashlib.sha256(content).hexdigest(), content)
            for head, content in parse_multipart(whole, exchange_.header("Content-Type"))]


def recorded_body_bytes(exchange_):
    """The whole recorded request body when the recording kept it (text or base64)."""
    body = exchange_.request.get("body") or {}
    if "base64" in body:
        return base64.b64decode(body["base64"])
    if "text" in body:
        return body["text"].encode("utf-8")
    return None


def upload_payload(exchange_):
    """(field name, filename, payload bytes, exact) for a recorded upload.

    ``exact`` is False when the recording kept only the payload's length and sha256:
    the payload is then a stand-in of the same length.
    """
    parts = recorded_parts(exchange_)
    for headers, length, _sha, content in parts:
        name, filename = disposition(headers)
        if filename is not None:
            if content is not None:
                return name, filename, content, True
            return name, filename, b"\0" * length, False
    raise AssertionError("%s records no file part" % exchange_.id)


def verify_signature_value(exchange_):
    for headers, _length, _sha, content in recorded_parts(exchange_):
        name, filename = disposition(headers)
        if name == "verify_signature" and filename is None:
            return content.decode("utf-8") if content is not None else None
    return None


_KEY_REDACTION = re.compile(r"<redacted:(correct key|other key, (\d+) chars)>")


def compare_request(exchange_, received, tenants, key=None, query_superset=False):
    """Differences between what the client sent and what was recorded (``[]`` if none)."""
    problems = []
    if received.method != exchange_.method:
        problems.append("method %s, recorded %s" % (received.method, exchange_.method))
    expected_path = tenants.apply(exchange_.path)
    if received.path != expected_path:
        problems.append("path %s, recorded %s" % (received.path, expected_path))
    expected_query = {name: [tenants.apply(v) for v in values]
                      for name, values in exchange_.query.items()}
    if query_superset:
        for name, values in expected_query.items():
            if received.query.get(name) != values:
                problems.append("query %s=%r, recorded %r" % (name, received.query.get(name),
                                                                values))
    elif received.query != expected_query:
        problems.append("query %r, recorded %r" % (received.query, expected_query))
    problems.extend(_compare_headers(exchange_, received, key))
    problems.extend(_compare_body(exchange_, received, tenants))
    return problems


def _compare_headers(exchange_, received, key):
    problems = []
    recorded_key = exchange_.header("X-Api-Key")
    sent_key = received.header("X-Api-Key")
    if recorded_key is None:
        if sent_key is not None:
            problems.append("sent an X-Api-Key header; the recorded request had none")
    else:
        match = _KEY_REDACTION.fullmatch(recorded_key)
        if match is None:
            problems.append("unreadable recorded X-Api-Key %r" % recorded_key)
        elif match.group(1) == "correct key":
            if key is not None and sent_key != key:
                problems.append("X-Api-Key is not the configured key")
        else:
            length = int(match.group(2))
            if sent_key is None or len(sent_key) != length or (key is not None
                                                                 and sent_key == key):
                problems.append("X-Api-Key should be another key of %d characters" % length)
    for name in ("X-Plugin-ID", "Accept"):
        recorded = exchange_.header(name)
        if name == "Accept" and not exchange_.sent_by_client:
            continue  # curl's or urllib's own default
        if recorded is not None and received.header(name) != recorded:
            problems.append("%s %r, recorded %r" % (name, received.header(name), recorded))
    recorded_type = (exchange_.header("Content-Type") or "").split(";")[0].strip()
    sent_type = (received.header("Content-Type") or "").split(";")[0].strip()
    if recorded_type != sent_type:
        problems.append("Content-Type %r, recorded %r" % (sent_type, recorded_type))
    if bool(exchange_.request.get("chunked")) != received.chunked:
        problems.append("request chunked=%s, recorded %s" % (received.chunked,
                                                             exchange_.request.get("chunked")))
    return problems


def _compare_body(exchange_, received, tenants):
    body = exchange_.request.get("body")
    if not body:
        if received.body:
            return ["sent a body of %d bytes; the recorded request had none" % len(received.body)]
        return []
    content_type = exchange_.header("Content-Type") or ""
    if content_type.startswith("multipart/form-data"):
        return _compare_multipart(exchange_, received)
    if "json" in body:
        try:
            sent = received.json()
        except ValueError as exc:
            return ["body is not JSON: %s" % exc]
        expected = tenants.apply_json(body["json"])
        if sent != expected:
            return ["JSON body %s, recorded %s" % (json.dumps(sent, sort_keys=True),
                                                  json.dumps(expected, sort_keys=True))]
        return []
    expected_bytes = recorded_body_bytes(exchange_)
    if expected_bytes is not None and received.body != expected_bytes:
        return ["body differs from the recorded one"]
    return []


def _compare_multipart(exchange_, received):
    problems = []
    try:
        sent = parse_multipart(received.body, received.header("Content-Type"))
    except ValueError as exc:
        return ["multipart body unreadable: %s" % exc]
    expected = recorded_parts(exchange_)
    if len(sent) != len(expected):
        return ["%d multipart parts, recorded %d" % (len(sent), len(expected))]
    for index, ((sent_head, content), (head, length, sha, recorded_content)) in enumerate(
            zip(sent, expected)):
        if disposition(sent_head) != disposition(head):
            problems.append("part %d is %r, recorded %r" % (index, disposition(sent_head),
                                                           disposition(head)))
        sent_type = re.search(r"Content-Type: *(\S+)", sent_head)
        recorded_type = re.search(r"Content-Type: *(\S+)", head)
        if (sent_type and sent_type.group(1)) != (recorded_type and recorded_type.group(1)):
            problems.append("part %d Content-Type differs from the recording" % index)
        if len(content) != length:
            problems.append("part %d is %d bytes, recorded %d" % (index, len(content), length))
        elif recorded_content is not None and content != recorded_content:
            problems.append("part %d content differs from the recording" % index)
        elif recorded_content is not None and sha and hashlib.sha256(
                content).hexdigest() != sha:
            problems.append("part %d sha256 differs from the recording" % index)
    return problems


# =============================================================================
# The replay server
# =============================================================================


class Served:
    """One request the server received and how it answered it."""

    def __init__(self, request, exchange_, kind):
        self.request = request
        self.exchange = exchange_
        self.kind = kind  # "recorded", "pool" or "unexpected"

    def __repr__(self):
        return "<Served %s %s -> %s %s>" % (self.request.method, self.request.path, self.kind,
                                            self.exchange.id if self.exchange else "")


_PLACEHOLDER = re.compile(r"\$(STATE|HOME|PKGS)\b")


def response_bytes(exchange_, tenants):
    """(status line + headers, [body chunks], chunked) as the daemon wrote them."""
    response = exchange_.response
    if "sse_raw" in response:
        text = response["sse_raw"]
    else:
        text = response.get("text") or ""
    body = tenants.apply(text).encode("utf-8")
    if len(body) != response["length"] and not _PLACEHOLDER.search(text):
        # only the recording's path placeholders ($STATE, $HOME, $PKGS) change a length
        raise AssertionError("%s: body is %d bytes, recorded length %d"
                             % (exchange_.id, len(body), response["length"]))
    chunked = bool(response.get("chunked"))
    head = ["HTTP/1.1 %d %s" % (response["status"], response["reason"])]
    for name, value in response["headers"]:
        if name.lower() == "content-length":
            value = str(len(body))
        head.append("%s: %s" % (name, value))
    head_bytes = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
    sizes = [size for _, size in response.get("read_timing") or ()]
    if not chunked or not body:
        return head_bytes, [body], chunked
    if sum(sizes) != len(body):
        sizes = [2048] * (len(body) // 2048) + ([len(body) % 2048] if len(body) % 2048 else [])
    chunks, offset = [], 0
    for size in sizes:
        if size:
            chunks.append(body[offset:offset + size])
            offset += size
    return head_bytes, chunks, chunked


class ReplayHandler(http.server.BaseHTTPRequestHandler):
    """The request loop of the replay servers (this module's and route_replay's): HTTP/1.1,
    nothing logged, each request answered whole by ``_answer`` (its body read with
    ``_read_body``); a client that hangs up just ends its connection."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def handle_one_request(self):
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            self._answer()
            self.wfile.flush()
        except (ConnectionError, OSError):
            self.close_connection = True

    def _answer(self):
        raise NotImplementedError

    def _read_body(self):
        """(the request body, whether it came chunked)."""
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            pieces = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(pieces), True
                pieces.append(self.rfile.read(size))
                self.rfile.readline(65537)
        length = int(self.headers.get("Content-Length") or 0)
        return (self.rfile.read(length) if length else b""), False


class _Handler(ReplayHandler):
    server_version = "replay"

    def _answer(self):
        body, chunked = self._read_body()
        received = ReceivedRequest(self.command, self.path, list(self.headers.items()), body,
                                   chunked)
        owner = self.server.owner
        served = owner._dispatch(received)
        if served.exchange is None:
            text = ("replay server: unexpected request %s %s (next recorded: %s)"
                    % (received.method, received.path, owner._next_text())).encode("utf-8")
            self.wfile.write(b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain"
                             b"\r\nContent-Length: %d\r\n\r\n" % len(text) + text)
            return
        head, chunks, is_chunked = response_bytes(served.exchange, owner.tenants)
        self.wfile.write(head)
        if is_chunked:
            for chunk in chunks:
                self.wfile.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.wfile.write(chunks[0])
        for name, value in served.exchange.response["headers"]:
            if name.lower() == "connection" and value.lower() == "close":
                self.close_connection = True

    def do_GET(self):  # pragma: no cover - handle_one_request answers every method
        self._answer()


class _ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class ReplayServer:
    """Answers requests from a queue of recorded exchanges; see the module docstring."""

    def __init__(self):
        self._server = _ThreadingServer(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        self._lock = threading.Lock()
        self.tenants = None
        self.queue = collections.deque()
        self.pool = []
        self.optional = set()
        self.log = []

    @property
    def url(self):
        host, port = self._server.server_address[:2]
        return "http://%s:%d" % (host, port)

    def expect(self, exchanges, tenants, pool=(), optional=()):
        """Answer from ``exchanges`` in order; ``optional`` ones (keys) may be skipped."""
        with self._lock:
            self.tenants = tenants
            self.queue = collections.deque(exchanges)
            self.pool = list(pool)
            self.optional = set(optional)
            self.log = []
        return self

    def _dispatch(self, received):
        with self._lock:
            position = None
            for index, item in enumerate(self.queue):
                if item.shape == received.shape:
                    position = index
                    break
                if item.key not in self.optional:
                    break
            if position is not None:
                for _ in range(position):  # optional exchanges the client did not need
                    self.queue.popleft()
                served = Served(received, self.queue.popleft(), "recorded")
            else:
                same = [item for item in self.pool if item.shape == received.shape]
                match = same[0] if same else None
                if len(same) > 1:  # used up: the next request of this shape gets the next
                    self.pool.remove(match)
                served = Served(received, match, "pool" if match else "unexpected")
            self.log.append(served)
            return served

    def _next_text(self):
        return "%s %s" % self.queue[0].shape if self.queue else "nothing"

    @property
    def recorded(self):
        return [served for served in self.log if served.kind == "recorded"]

    @property
    def unexpected(self):
        return [served for served in self.log if served.kind == "unexpected"]

    def close(self):
        self._server.shutdown()
        self._server.server_close()
