"""scripts/record-daemon: a recording reverse proxy, tested against a tiny loopback upstream.

The upstream below plays a few daemon answers (plain JSON, chunked JSON with an error
envelope, an event stream, binary bytes); a client script goes through the recorder
and keeps what it received.  The recording must have the transcripts' shape, hide the
key, replace machine paths, and the proxy must pass every byte through unchanged.
"""

import base64
import hashlib
import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "scripts", "record-daemon")
KEY = "k3y-for-the-recorder-test-0123456789"
TENANT = "5f0c8a52-7a4b-4d5e-9c1f-2b3a4c5d6e7f"

# the transcripts' key order, as in shared/daemon-transcripts/<release>/*.json
EXCHANGE_KEYS = ["scenario", "time", "request", "response", "elapsed_s", "seq"]
REQUEST_KEYS = ["method", "path", "query", "raw_target", "headers", "chunked", "body"]
RESPONSE_HEAD = ["status", "reason", "headers", "chunked", "length"]


def load_recorder():
    loader = importlib.machinery.SourceFileLoader("record_daemon_under_test", SCRIPT)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


rd = load_recorder()


# ---------------------------------------------------------------------------
# a tiny upstream "daemon"
# ---------------------------------------------------------------------------

class Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    sent = {}          # path -> body bytes as written, for the transparency check
    state_dir = "/nowhere"

    def log_message(self, *a):
        pass

    def _body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or ""):
            return rd._read_chunked(self.rfile)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n)

    def _plain(self, status, body, ctype="application/json; charset=utf-8"):
        self.send_response_only(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        Upstream.sent[self.path] = body

    def _chunked(self, pieces, ctype, pause=0.0):
        self.send_response_only(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for piece in pieces:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.flush()
            if pause:
                time.sleep(pause)
        self.wfile.write(b"0\r\n\r\n")
        Upstream.sent[self.path] = b"".join(pieces)

    def do_GET(self):
        key = self.headers.get("X-Api-Key")
        if self.path == "/health/check":
            return self._plain(200, b'{"status":"ok","version":"9.9.9"}')
        if key != KEY:
            return self._plain(401, b'{"code":-401,"message":"{\\"message\\":\\"unauthorized\\",'
                                    b'\\"error_type\\":\\"PluginDaemonUnauthorizedError\\",\\"args\\":null}",'
                                    b'"data":null}')
        if self.path.startswith("/plugin/%s/management/list" % TENANT):
            err = json.dumps({"message": "open %s/cwd/x/README.md: file does not exist" % self.state_dir,
                              "error_type": "PluginDaemonInternalServerError", "args": None})
            body = json.dumps({"code": -500, "message": err, "data": None, "pad": "x" * 3000}).encode()
            return self._chunked([body[:1000], body[1000:]], "application/json; charset=utf-8")
        if self.path.startswith("/plugin/%s/asset/" % TENANT):
            return self._plain(200, bytes(range(256)) * 3, "application/octet-stream")
        return self._plain(404, b"404 page not found", "text/plain")

    def do_POST(self):
        raw = self._body()
        if self.path.endswith("/install/upload/package"):
            digest = hashlib.sha256(raw).hexdigest()
            return self._plain(200, json.dumps({"code": 0, "message": "success",
                                                "data": {"got": len(raw), "sha": digest}}).encode())
        if self.path.endswith("/dispatch/tool/invoke"):
            events = [json.dumps({"code": 0, "message": "success",
                                  "data": {"type": "text", "message": {"text": "t%d" % i}, "meta": None}})
                      for i in range(3)]
            pieces = [("data: %s\n\n" % e).encode() for e in events]
            return self._chunked(pieces, "text/event-stream", pause=0.02)
        return self._plain(404, b"404 page not found", "text/plain")


@pytest.fixture
def upstream(tmp_path):
    Upstream.sent = {}
    Upstream.state_dir = str(tmp_path / "state")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:%d" % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


CLIENT = textwrap.dedent(r'''
    import base64, http.client, json, os, sys, urllib.parse
    url = urllib.parse.urlsplit(sys.argv[1])
    key = os.environ["DIFY_PLUGIN_DAEMON_KEY"]
    tenant = sys.argv[2]
    got = {}
    def call(method, target, headers=None, body=None, chunked=False):
        c = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        c.request(method, target, body=body, headers=headers or {}, encode_chunked=chunked)
        r = c.getresponse()
        data = r.read()
        got[target] = base64.b64encode(data).decode()
        c.close()
        return r.status
    call("GET", "/health/check")
    call("GET", "/plugin/%s/management/list?page=1&page_size=256" % tenant, {"X-Api-Key": key})
    call("GET", "/plugin/%s/management/list?page=1&page_size=256&x=" % tenant, {"X-Api-Key": "nope"})
    b = "bnd0123"
    blob = bytes(range(256)) * 20  # 5120 bytes, not UTF-8
    form = (b"--" + b.encode() + b'\r\nContent-Disposition: form-data; name="verify_signature"\r\n\r\nfalse\r\n'
            + b"--" + b.encode() + b'\r\nContent-Disposition: form-data; name="dify_pkg"; filename="p.difypkg"'
            + b"\r\nContent-Type: application/octet-stream\r\n\r\n" + blob + b"\r\n--" + b.encode() + b"--\r\n")
    call("POST", "/plugin/%s/management/install/upload/package" % tenant,
         {"X-Api-Key": key, "Content-Type": "multipart/form-data; boundary=" + b}, form)
    body = json.dumps({"user_id": "u", "data": {"provider": "p", "tool": "t", "credentials": {},
                       "tool_parameters": {"path": os.environ["PKG_PATH"]}}}).encode()
    call("POST", "/plugin/%s/dispatch/tool/invoke" % tenant,
         {"X-Api-Key": key, "Content-Type": "application/json"}, iter([body[:10], body[10:]]), chunked=True)
    call("GET", "/plugin/%s/asset/abc" % tenant, {"X-Api-Key": key})
    with open(os.environ["GOT_FILE"], "w") as fh:
        json.dump(got, fh)
''')


def run_recorder(tmp_path, upstream, command, *extra, **env_extra):
    out = tmp_path / "rec" / "scenario.json"
    env = dict(os.environ)
    env.pop("DIFY_PLUGIN_DAEMON_KEY", None)
    env.update(DIFY_E2E_KEY=KEY, **env_extra)
    proc = subprocess.run(
        [sys.executable, SCRIPT, "-s", "t01_demo", "-o", str(out), "--upstream", upstream,
         "--state", str(tmp_path / "state"), "--pkgs", str(tmp_path / "pkgs"), "--home", str(tmp_path / "home"),
         *extra, "--", *command],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    return proc, out


def test_records_a_scenario_in_the_transcript_format(tmp_path, upstream):
    client = tmp_path / "client.py"
    client.write_text(CLIENT)
    got_file = tmp_path / "got.json"
    pkg_path = str(tmp_path / "pkgs" / "e2e.difypkg")
    proc, out = run_recorder(tmp_path, upstream, [sys.executable, str(client), "{url}", TENANT],
                             GOT_FILE=str(got_file), PKG_PATH=pkg_path)
    assert proc.returncode == 0, proc.stderr.decode()
    raw = out.read_text()
    assert KEY not in raw and KEY not in proc.stderr.decode() and KEY not in proc.stdout.decode()
    assert str(tmp_path) not in raw  # every machine path replaced
    ex = json.loads(raw)
    assert [e["seq"] for e in ex] == [1, 2, 3, 4, 5, 6]
    for e in ex:
        assert list(e) == EXCHANGE_KEYS
        assert list(e["request"]) == REQUEST_KEYS
        assert list(e["response"])[:5] == RESPONSE_HEAD
        assert e["scenario"] == "t01_demo"
        assert len(e["time"]) == 8 and e["time"][2] == ":"
        assert isinstance(e["elapsed_s"], float)

    health, lst, wrong, upload, invoke, asset = ex
    # no key, no body; Content-Length framing
    assert health["request"]["body"] is None
    assert not any(k.lower() == "x-api-key" for k, _ in health["request"]["headers"])
    assert health["response"]["json"] == {"status": "ok", "version": "9.9.9"}
    assert health["response"]["chunked"] is False and health["response"]["length"] == 33
    assert list(health["response"])[5:] == ["text", "json"]

    # correct key, query parsed, chunked error envelope decoded, $STATE replaced
    assert ["X-Api-Key", "<redacted:correct key>"] in lst["request"]["headers"]
    assert lst["request"]["query"] == {"page": ["1"], "page_size": ["256"]}
    assert lst["request"]["raw_target"].endswith("?page=1&page_size=256")
    assert lst["request"]["path"] == "/plugin/%s/management/list" % TENANT
    r = lst["response"]
    assert r["chunked"] is True and ["Transfer-Encoding", "chunked"] in r["headers"]
    assert r["json"]["code"] == -500
    assert r["json_message_decoded"]["error_type"] == "PluginDaemonInternalServerError"
    assert r["json_message_decoded"]["message"] == "open $STATE/cwd/x/README.md: file does not exist"
    assert r["length"] == len(base64.b64decode(json.loads(got_file.read_text())[lst["request"]["raw_target"]]))

    # another key: its length only; blank query values kept
    assert ["X-Api-Key", "<redacted:other key, 4 chars>"] in wrong["request"]["headers"]
    assert wrong["request"]["query"]["x"] == [""]
    assert wrong["response"]["status"] == 401 and wrong["response"]["reason"] == "Unauthorized"

    # multipart upload: parts listed, the binary file part as sha256 + length only
    body = upload["request"]["body"]
    assert list(body) == ["length", "sha256", "multipart_parts"]  # > 4 KiB: no base64
    field, pkg = body["multipart_parts"]
    assert field == {"headers": 'Content-Disposition: form-data; name="verify_signature"',
                     "length": 5, "sha256": hashlib.sha256(b"false").hexdigest(), "content": "false"}
    blob = bytes(range(256)) * 20
    assert pkg["length"] == len(blob) and pkg["sha256"] == hashlib.sha256(blob).hexdigest()
    assert "content" not in pkg
    assert upload["response"]["json"]["data"]["sha"] == body["sha256"]  # the daemon got the same bytes

    # chunked JSON request; event stream answer
    rq = invoke["request"]
    assert rq["chunked"] is True
    assert rq["body"]["json"]["data"]["tool_parameters"]["path"] == "$PKGS/e2e.difypkg"
    r = invoke["response"]
    assert list(r)[5:] == ["sse_raw", "sse_events", "read_timing"]
    assert [e["data"]["message"]["text"] for e in r["sse_events"]] == ["t0", "t1", "t2"]
    assert r["sse_raw"].count("data: ") == 3 and r["sse_raw"].endswith("\n\n")
    assert sum(n for _, n in r["read_timing"]) == r["length"] == len(r["sse_raw"].encode())
    assert len(r["read_timing"]) >= 2  # the stream arrived in pieces, and was passed on in pieces
    assert r["read_timing"][-1][0] >= 0.03

    # binary answer: sha256 and, being small, base64
    r = asset["response"]
    assert "text" not in r and r["length"] == 768
    assert base64.b64decode(r["base64"]) == bytes(range(256)) * 3

    # the proxy is transparent: the client received exactly what the upstream wrote
    got = json.loads(got_file.read_text())
    for target, data in got.items():
        assert base64.b64decode(data) == Upstream.sent[target], target


def test_command_status_is_passed_on_and_file_written(tmp_path, upstream):
    proc, out = run_recorder(tmp_path, upstream, [sys.executable, "-c", "import sys; sys.exit(3)"])
    assert proc.returncode == 3
    assert json.loads(out.read_text()) == []


def test_append_continues_the_sequence(tmp_path, upstream):
    cmd = [sys.executable, "-c",
           "import sys, urllib.request; urllib.request.urlopen(sys.argv[1] + '/health/check').read()", "{url}"]
    run_recorder(tmp_path, upstream, cmd)
    proc, out = run_recorder(tmp_path, upstream, cmd, "--append")
    assert proc.returncode == 0, proc.stderr.decode()
    assert [e["seq"] for e in json.loads(out.read_text())] == [1, 2]


def test_upstream_down_is_recorded_as_502(tmp_path):
    cmd = [sys.executable, "-c",
           "import sys, urllib.request, urllib.error\n"
           "try: urllib.request.urlopen(sys.argv[1] + '/health/check')\n"
           "except urllib.error.HTTPError as e: sys.exit(0 if e.code == 502 else 1)\n"
           "sys.exit(1)", "{url}"]
    # a port nothing listens on: bind one, then close it
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    proc, out = run_recorder(tmp_path, "http://127.0.0.1:%d" % port, cmd)
    assert proc.returncode == 0, proc.stderr.decode()
    (e,) = json.loads(out.read_text())
    assert e["response"]["status"] == 502 and "proxy_error" in e["response"]


def test_body_and_stream_helpers():
    assert rd.describe_request_body(b"", "application/json") is None
    assert rd.describe_request_body(b'{"a":1}', "application/json") == {"length": 7, "text": '{"a":1}', "json": {"a": 1}}
    assert rd.describe_request_body(b"a=b", "application/x-www-form-urlencoded") == {"length": 3, "text": "a=b"}
    small = rd.describe_request_body(b"\xff\x00", "application/octet-stream")
    assert small == {"length": 2, "sha256": hashlib.sha256(b"\xff\x00").hexdigest(), "base64": "/wA="}
    assert rd.sse_events("data: {\"a\":1}\n\ndata: x\ndata: y\n\n: comment\n\n") == [{"a": 1}, "x\ny"]
    assert rd.sse_events("") == []
    s = rd.Scrubber("secret-key", state="/srv/st", home="/srv", pkgs="/p")
    assert s.text("/srv/st/cwd and /srv/.config and /p/x and secret-key") == \
        "$STATE/cwd and $HOME/.config and $PKGS/x and <redacted:correct key>"
    assert s.key_header("secret-key") == "<redacted:correct key>"
    assert s.key_header("") == "<redacted:other key, 0 chars>"
