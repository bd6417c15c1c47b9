"""Tests of the fake daemon itself, over raw http.client / sockets (not the client module)."""

import base64
import http.client
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
import uuid
import zipfile

import pytest

from fake_daemon import (
    DispatchRoute,
    FakeDaemon,
    FakePluginError,
    Field,
    blob_chunks,
    build_package,
    go_json,
    package_identifier,
    sample_plugin,
)

MGMT = "/plugin/%s/management"
UNAUTHORIZED = (
    b'{"code":-401,"message":"{\\"message\\":\\"unauthorized\\",\\"error_type\\":'
    b'\\"PluginDaemonUnauthorizedError\\",\\"args\\":null}","data":null}'
)
ASSET_ID = re.compile(r"^[0-9a-f]{64}\.svg$")
PARAM_KEYS = ["name", "label", "human_description", "type", "scope", "form", "llm_description", "required",
              "auto_generate", "template", "default", "min", "max", "multiple", "precision", "options"]


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

class Client(object):
    """A tiny keep-alive client over one http.client connection."""

    def __init__(self, daemon, key=None):
        self.daemon = daemon
        self.key = daemon.key if key is None else key
        self.conn = http.client.HTTPConnection("127.0.0.1", daemon.port, timeout=30)

    def call(self, method, path, body=None, headers=None, key=True):
        sent = {}
        if key:
            sent["X-Api-Key"] = self.key
        sent.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            sent.setdefault("Content-Type", "application/json")
        self.conn.request(method, path, body=body, headers=sent)
        response = self.conn.getresponse()
        return response.status, response, response.read()

    def ok(self, method, path, body=None, headers=None):
        """Call and return ``data`` of a success envelope."""
        status, _, raw = self.call(method, path, body, headers)
        envelope = json.loads(raw)
        assert status == 200 and envelope["code"] == 0, raw
        return envelope["data"]

    def error(self, method, path, body=None, headers=None):
        """Call and return ``(http status, code, error_type, message)`` of an error envelope."""
        status, _, raw = self.call(method, path, body, headers)
        envelope = json.loads(raw)
        assert envelope["data"] is None and envelope["code"] != 0, raw
        inner = json.loads(envelope["message"])
        assert list(inner) == ["message", "error_type", "args"] and inner["args"] is None
        return status, envelope["code"], inner["error_type"], inner["message"]

    def close(self):
        self.conn.close()


@pytest.fixture
def client(daemon):
    c = Client(daemon)
    yield c
    c.close()


def multipart(fields=(), files=(), boundary="----fakeboundary7MA4YWxk"):
    """Build a multipart/form-data body; returns (bytes, content type)."""
    chunks = []
    for name, value in fields:
        chunks.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
                       % (boundary, name, value)).encode())
    for name, filename, data in files:
        chunks.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                       "Content-Type: application/octet-stream\r\n\r\n" % (boundary, name, filename)).encode())
        chunks.append(data + b"\r\n")
    chunks.append(("--%s--\r\n" % boundary).encode())
    return b"".join(chunks), "multipart/form-data; boundary=" + boundary


def upload(client, tenant, package, verify="false", field="dify_pkg", route="package"):
    body, ctype = multipart([("verify_signature", verify)], [(field, field, package)])
    return client.call("POST", MGMT % tenant + "/install/upload/" + route, body, {"Content-Type": ctype})


def upload_ok(client, tenant, package):
    status, _, raw = upload(client, tenant, package)
    envelope = json.loads(raw)
    assert status == 200 and envelope["code"] == 0, raw
    return envelope["data"]


def wait_task(client, tenant, task_id, statuses=("success", "failed"), timeout=5.0):
    deadline = time.time() + timeout
    while True:
        task = client.ok("GET", MGMT % tenant + "/install/tasks/" + task_id)
        if task["status"] in statuses or time.time() > deadline:
            return task
        time.sleep(0.01)


def install(client, tenant, identifiers, source="package", metas=None):
    body = {"plugin_unique_identifiers": identifiers, "source": source,
            "metas": [{} for _ in identifiers] if metas is None else metas}
    return client.ok("POST", MGMT % tenant + "/install/identifiers", body)


def installed_plugin(client, tenant, **kwargs):
    """Upload + install sample_plugin(**kwargs); returns its identifier."""
    uid = upload_ok(client, tenant, sample_plugin(**kwargs))["unique_identifier"]
    started = install(client, tenant, [uid])
    assert wait_task(client, tenant, started["task_id"])["status"] == "success"
    return uid


def read_response(stream):
    """Read one HTTP/1.1 response from a binary file; returns (status, headers, chunks, body)."""
    status_line = stream.readline()
    status = int(status_line.split()[1])
    headers = {}
    while True:
        line = stream.readline()
        if line in (b"\r\n", b""):
            break
        name, value = line.decode("latin-1").split(":", 1)
        headers[name.strip().lower()] = value.strip()
    chunks = []
    if headers.get("transfer-encoding") == "chunked":
        while True:
            size = int(stream.readline().strip(), 16)
            if size == 0:
                assert stream.readline() == b"\r\n"
                break
            chunks.append(stream.read(size))
            assert stream.read(2) == b"\r\n"
        return status, headers, chunks, b"".join(chunks)
    body = stream.read(int(headers.get("content-length", "0")))
    return status, headers, chunks, body


def raw_request(method, path, body=b"", headers=()):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1"]
    lines += ["%s: %s" % item for item in headers]
    if body:
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def read_until_closed(sock):
    """Everything the server writes on ``sock`` until it closes the connection."""
    received = b""
    while True:
        data = sock.recv(65536)
        if not data:
            break
        received += data
    sock.close()
    return received


def invoke_body(provider="echo", tool="echo", params=None):
    return json.dumps({"user_id": "u1", "conversation_id": None, "app_id": None, "message_id": None,
                       "data": {"provider": provider, "tool": tool, "credentials": {"api_key": "sk"},
                                "credential_type": "api-key", "tool_parameters": params or {}}}).encode()


def invoke_events(daemon, tenant, plugin_id="acme/echo", body=None):
    """POST a tool invoke over a raw socket; returns (status, headers, chunks)."""
    sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
    try:
        sock.sendall(raw_request("POST", "/plugin/%s/dispatch/tool/invoke" % tenant, body or invoke_body(), [
            ("X-Api-Key", daemon.key), ("X-Plugin-ID", plugin_id), ("Content-Type", "application/json")]))
        status, headers, chunks, _ = read_response(sock.makefile("rb"))
        return status, headers, chunks
    finally:
        sock.close()


def event_json(chunk):
    assert chunk.startswith(b"data: ") and chunk.endswith(b"\n\n") and chunk.count(b"\n") == 2
    return json.loads(chunk[len(b"data: "):])


# --------------------------------------------------------------------------
# transport: keep-alive, auth, routing
# --------------------------------------------------------------------------

def test_keep_alive_serves_two_requests_on_one_connection(daemon, client):
    daemon.reset_stats()
    for _ in range(2):
        status, response, raw = client.call("GET", "/health/check", key=False)
        assert status == 200
        assert response.getheader("Content-Length") == str(len(raw))
        assert response.getheader("Content-Type") == "application/json; charset=utf-8"
    assert daemon.connections_opened == 1
    assert daemon.open_connections == 1
    assert [r.path for r in daemon.requests] == ["/health/check", "/health/check"]
    client.close()
    deadline = time.time() + 3
    while daemon.open_connections and time.time() < deadline:
        time.sleep(0.01)
    assert daemon.open_connections == 0
    assert daemon.max_open_connections == 1


def test_health_check_needs_no_key_and_reports_version():
    with FakeDaemon(version="9.9.9") as daemon:
        client = Client(daemon)
        status, _, raw = client.call("GET", "/health/check", key=False)
        client.close()
    body = json.loads(raw)
    assert status == 200 and body["status"] == "ok" and body["version"] == "9.9.9"
    assert list(body) == sorted(body)   # a Go map: keys sorted
    assert set(body) == {"status", "pool_status", "version", "build_time", "platform", "active_requests",
                         "active_dispatch_requests"}
    assert body["platform"] == "local" and set(body["pool_status"]) == {"free", "busy", "total"}


@pytest.mark.parametrize("key", [None, "wrong"])
def test_unauthorized_body_is_exact(daemon, tenant, key):
    client = Client(daemon, key=key or "")
    status, response, raw = client.call("GET", MGMT % tenant + "/list?page=1&page_size=1", key=key is not None)
    assert status == 401
    assert raw == UNAUTHORIZED
    assert response.getheader("Content-Type") == "application/json; charset=utf-8"
    # the key check runs before the dispatch middleware and before streaming
    status, _, raw = client.call("POST", "/plugin/%s/dispatch/tool/invoke" % tenant, b"{}",
                                 {"Content-Type": "application/json"}, key=key is not None)
    assert (status, raw) == (401, UNAUTHORIZED)
    client.close()


def test_unknown_route_and_wrong_method_are_404_without_key_check(daemon, tenant):
    client = Client(daemon, key="wrong")
    for method, path in [("GET", "/nope"), ("GET", MGMT % tenant + "/uninstall"),
                         ("POST", MGMT % tenant + "/list"), ("DELETE", MGMT % tenant + "/list"),
                         ("GET", "/plugin/%s/management/models2" % tenant)]:
        status, response, raw = client.call(method, path)
        assert (status, raw) == (404, b'{"code":"not_found","message":"route not found"}'), (method, path)
        assert response.getheader("Content-Type") == "application/json; charset=utf-8"
    client.close()


def test_trailing_slash_redirects(daemon, client, tenant):
    status, response, _ = client.call("GET", MGMT % tenant + "/list/?page=1&page_size=2")
    assert status == 301
    assert response.getheader("Location") == MGMT % tenant + "/list?page=1&page_size=2"
    status, response, raw = client.call("POST", MGMT % tenant + "/uninstall/", {"plugin_installation_id": "x"})
    assert status == 307 and raw == b""
    assert response.getheader("Location") == MGMT % tenant + "/uninstall"


def test_requests_are_recorded_with_query_headers_and_body(daemon, client, tenant):
    client.call("POST", MGMT % tenant + "/installation/missing?x=1&x=2&empty=",
                {"plugin_unique_identifiers": []}, {"X-Custom": "v"})
    record = daemon.requests[-1]
    assert record.method == "POST" and record.path == MGMT % tenant + "/installation/missing"
    assert record.raw_query == "x=1&x=2&empty="
    assert record.query == {"x": ["1", "2"], "empty": [""]}
    assert record.headers["x-custom"] == "v" and record.headers["X-API-KEY"] == daemon.key
    assert record.json() == {"plugin_unique_identifiers": []}
    assert record.body_size == len(record.body)


def test_go_json_encoding():
    assert go_json({"a": "<x>&", "b": [1, 2.5], "c": None, "d": "é"}) == \
        '{"a":"\\u003cx\\u003e\\u0026","b":[1,2.5],"c":null,"d":"é"}'.encode("utf-8")


# --------------------------------------------------------------------------
# upload, install, list, tools, invoke
# --------------------------------------------------------------------------

def test_upload_install_and_discover(daemon, client, tenant):
    package = sample_plugin(readmes={"zh_Hans": "# 回声\n"})
    data = upload_ok(client, tenant, package)
    uid = data["unique_identifier"]
    assert uid == package_identifier(package)
    assert re.match(r"^acme/echo:0\.0\.1@[0-9a-f]{64}$", uid)
    assert list(data) == ["manifest", "unique_identifier", "verification"]
    assert data["verification"] is None
    manifest = data["manifest"]
    assert manifest["verified"] is False and ASSET_ID.match(manifest["icon"])
    assert ASSET_ID.match(manifest["tool"]["identity"]["icon"])
    assert manifest["created_at"] == "2024-01-01T00:00:00Z"
    assert "identity" in manifest["tool"] and "category" not in manifest
    # the upload is idempotent and not an install
    assert upload_ok(client, tenant, package)["unique_identifier"] == uid
    assert client.ok("GET", MGMT % tenant + "/list?page=1&page_size=10") == {"list": [], "total": 0}
    assert client.ok("GET", MGMT % tenant + "/fetch/identifier?plugin_unique_identifier=" + uid) is False
    asset = client.call("GET", "/plugin/%s/asset/%s" % (tenant, manifest["icon"]))[2]
    assert asset.startswith(b"<svg")

    started = install(client, tenant, [uid])
    assert started["all_installed"] is False and started["task_id"]
    task = client.ok("GET", MGMT % tenant + "/install/tasks/" + started["task_id"])
    assert task["status"] == "running" and task["total_plugins"] == 1 and task["completed_plugins"] == 0
    entry = task["plugins"][0]
    assert entry["status"] in ("pending", "running") and entry["plugin_id"] == "acme/echo"
    assert entry["labels"]["en_US"] == "Echo" and entry["icon"] == manifest["icon"] and entry["source"] == "package"
    task = wait_task(client, tenant, started["task_id"])
    assert task["status"] == "success" and task["completed_plugins"] == 1
    assert task["plugins"][0]["status"] == "success" and task["plugins"][0]["message"] == "installed"
    assert install(client, tenant, [uid]) == {"all_installed": True, "task_id": ""}

    listed = client.ok("GET", MGMT % tenant + "/list?page=1&page_size=10&response_type=paged")
    assert listed["total"] == 1
    item = listed["list"][0]
    assert item["id"] == item["installation_id"] and item["name"] == "echo" and item["version"] == "0.0.1"
    assert item["plugin_unique_identifier"] == uid and item["tenant_id"] == tenant
    assert item["runtime_type"] == "local" and item["source"] == "package" and item["meta"] == {}
    assert item["checksum"] == uid.rsplit("@", 1)[1] and item["declaration"]["name"] == "echo"
    assert item["endpoints_setups"] == 0 and item["endpoints_active"] == 0

    batch = client.ok("POST", MGMT % tenant + "/installation/fetch/batch", {"plugin_ids": ["acme/echo", "x/y"]})
    assert [b["plugin_id"] for b in batch] == ["acme/echo"] and batch[0]["version"] == "0.0.1"
    assert client.ok("POST", MGMT % tenant + "/installation/fetch/batch", {"plugin_ids": []}) == []
    other = "acme/echo:0.0.2@" + "a" * 64
    missing = client.ok("POST", MGMT % tenant + "/installation/missing",
                        {"plugin_unique_identifiers": [uid, other, "zz/top:1.0.0@" + "b" * 32]})
    assert missing == [{"plugin_unique_identifier": other, "current_identifier": uid},
                       {"plugin_unique_identifier": "zz/top:1.0.0@" + "b" * 32, "current_identifier": ""}]
    assert client.ok("GET", MGMT % tenant + "/fetch/identifier?plugin_unique_identifier=" + uid) is True

    assert client.ok("GET", MGMT % tenant + "/fetch/manifest?plugin_unique_identifier=" + uid) == manifest
    decoded = client.ok("GET", MGMT % tenant + "/decode/from_identifier?plugin_unique_identifier=" + uid)
    assert decoded["unique_identifier"] == uid and decoded["verification"] is None
    assert decoded["manifest"]["icon"] == "icon.svg" and decoded["manifest"]["tool"]["identity"]["icon"] == "icon.svg"
    # the legacy query key alone: HTTP 400 on 0.6.10 (transcripts 0.6.10/s22_unknown_identifier[2])
    status, _, raw = client.call("GET", MGMT % tenant + "/decode/from_identifier?PluginUniqueIdentifier=" + uid)
    assert status == 400 and "failed on the 'required' tag" in json.loads(json.loads(raw)["message"])["message"]

    readme = client.ok("GET", MGMT % tenant + "/fetch/readme?plugin_unique_identifier=%s&language=zh_Hans" % uid)
    assert readme == {"content": "# 回声\n", "language": "zh_Hans"}
    readme = client.ok("GET", MGMT % tenant + "/fetch/readme?plugin_unique_identifier=%s&language=ja_JP" % uid)
    assert readme["language"] == "en_US" and readme["content"].startswith("# Echo")

    providers = client.ok("GET", MGMT % tenant + "/tools?page=1&page_size=256")
    assert len(providers) == 1
    assert providers[0]["provider"] == "echo" and providers[0]["plugin_id"] == "acme/echo"
    one = client.ok("GET", MGMT % tenant + "/tool?plugin_id=acme%2Fecho&provider=echo")
    assert one == providers[0]
    existence = client.ok("POST", MGMT % tenant + "/tools/check_existence", {"provider_ids": [
        {"plugin_id": "acme/echo", "provider_name": "echo"}, {"plugin_id": "acme/echo", "provider_name": "x"}]})
    assert existence == [True, False]

    installation_id = item["id"]
    assert client.ok("POST", MGMT % tenant + "/uninstall", {"plugin_installation_id": installation_id}) is True
    assert client.ok("POST", MGMT % tenant + "/uninstall", {"plugin_installation_id": installation_id}) is True
    assert client.ok("GET", MGMT % tenant + "/list?page=1&page_size=10")["total"] == 0
    assert client.ok("GET", MGMT % tenant + "/fetch/identifier?plugin_unique_identifier=" + uid) is False
    assert daemon.errors == []


def test_tool_provider_declaration_shape(client, tenant):
    installed_plugin(client, tenant)
    provider = client.ok("GET", MGMT % tenant + "/tools?page=1&page_size=1")[0]
    declaration = provider["declaration"]
    assert list(declaration) == ["identity", "credentials_schema", "oauth_schema", "tools"]
    assert list(declaration["identity"]) == ["author", "name", "description", "icon", "icon_dark", "label", "tags"]
    assert declaration["oauth_schema"] is None
    credentials = declaration["credentials_schema"]
    assert [c["name"] for c in credentials] == ["api_key", "region"]
    assert list(credentials[0]) == ["name", "type", "scope", "required", "default", "options", "multiple",
                                    "label", "help", "url", "placeholder"]
    assert credentials[1]["options"] == [{"value": "us", "label": {"en_US": "US"}},
                                         {"value": "eu", "label": {"en_US": "EU"}}]
    tools = dict((t["identity"]["name"], t) for t in declaration["tools"])
    assert sorted(tools) == ["blob", "echo", "ping"]
    for tool in tools.values():
        assert list(tool["identity"]) == ["author", "name", "label"]   # no provider, no icon
    echo = tools["echo"]
    assert list(echo) == ["identity", "description", "parameters", "output_schema", "has_runtime_parameters"]
    params = dict((p["name"], p) for p in echo["parameters"])
    for param in params.values():
        assert list(param) == PARAM_KEYS
    assert params["text"]["required"] is True and params["text"]["default"] is None
    assert (params["count"]["min"], params["count"]["max"], params["count"]["default"]) == (1, 10, 3)
    assert params["ratio"]["max"] == 1.5 and params["count"]["precision"] == 0
    assert params["mode"]["options"] == [{"value": "a", "label": {"en_US": "A"}, "icon": ""},
                                         {"value": "b", "label": {"en_US": "B"}, "icon": "b.svg"}]
    assert params["doc"]["options"] is None and params["token"]["type"] == "secret-input"
    assert params["flag"]["default"] is False and params["greeting"]["default"] == "hello"
    schema = echo["output_schema"]
    assert schema["properties"]["file"] == {"$ref": "https://dify.ai/schemas/v1/file.json"}
    assert schema["properties"]["items"]["items"] == {"$ref": "#/$defs/item"}
    assert list(schema) == sorted(schema)   # a Go map
    assert tools["ping"]["parameters"] is None and "output_schema" not in tools["ping"]


def test_invoke_streams_one_chunk_per_event(daemon, client, tenant):
    installed_plugin(client, tenant)
    params = {"text": "<hi>", "count": 1.0, "flag": True, "items": [1, "2"]}
    status, headers, chunks = invoke_events(daemon, tenant, body=invoke_body(params=params))
    assert status == 200
    assert headers["content-type"] == "text/event-stream" and headers["transfer-encoding"] == "chunked"
    assert "content-length" not in headers
    assert len(chunks) == 1
    assert chunks[0] == (b'data: {"code":0,"message":"success","data":{"type":"text","message":{"text":'
                         b'"{\\"count\\":1.0,\\"flag\\":true,\\"items\\":[1,\\"2\\"],\\"text\\":\\"\\u003chi\\u003e\\"}"},'
                         b'"meta":null}}\n\n')
    record = daemon.requests[-1]
    assert record.headers["X-Plugin-ID"] == "acme/echo" and record.json()["data"]["tool_parameters"] == params

    def handler(request):
        yield {"type": "text", "message": {"text": "a"}}
        yield {"type": "json", "message": {"json_object": {"b": 1.0, "a": [2]}}, "meta": {"z": 1, "y": 2}}
        for chunk in blob_chunks(b"\x89PN", meta={"mime_type": "image/png"}):
            yield chunk

    daemon.set_tool_handler("acme/echo", "echo", "echo", handler)
    status, _, chunks = invoke_events(daemon, tenant)
    events = [event_json(c) for c in chunks]
    assert [e["data"]["type"] for e in events] == ["text", "json", "blob_chunk", "blob_chunk"]
    assert chunks[1] == (b'data: {"code":0,"message":"success","data":{"type":"json","message":{"json_object":'
                         b'{"a":[2],"b":1}},"meta":{"y":2,"z":1}}}\n\n')
    assert events[0]["data"]["meta"] is None
    first, last = events[2]["data"]["message"], events[3]["data"]["message"]
    assert first["blob"] == "iVBO" and first["end"] is False and first["sequence"] == 0 and first["total_length"] == 3
    assert last == {"blob": "", "end": True, "id": first["id"], "sequence": 1, "total_length": 3}


def test_invoke_keeps_the_connection_alive(daemon, client, tenant):
    installed_plugin(client, tenant)
    daemon.reset_stats()
    for _ in range(2):
        status, response, raw = client.call("POST", "/plugin/%s/dispatch/tool/invoke" % tenant,
                                            invoke_body(params={"text": "x"}),
                                            {"Content-Type": "application/json", "X-Plugin-ID": "acme/echo"})
        assert status == 200 and raw.startswith(b"data: ")
    assert daemon.connections_opened == 0          # no new connection since reset_stats()
    assert len(daemon.requests) == 2 and daemon.open_connections == 1


def test_invoke_flushes_each_event_as_it_is_produced(daemon, client, tenant):
    installed_plugin(client, tenant)
    gate = threading.Event()

    def handler(request):
        yield {"type": "text", "message": {"text": "first"}}
        assert gate.wait(10)
        yield {"type": "text", "message": {"text": "second"}}

    daemon.set_tool_handler("acme/echo", "echo", "echo", handler)
    client.conn.request("POST", "/plugin/%s/dispatch/tool/invoke" % tenant, body=invoke_body(), headers={
        "X-Api-Key": daemon.key, "Content-Type": "application/json", "X-Plugin-ID": "acme/echo"})
    response = client.conn.getresponse()
    first = response.readline()            # arrives while the handler is still blocked
    assert json.loads(first[len(b"data: "):])["data"]["message"] == {"text": "first"}
    with daemon._stats_lock:
        assert daemon._active_dispatch == 1
    gate.set()
    rest = response.read()
    assert rest.startswith(b"\ndata: ") and b'"second"' in rest


def test_invoke_over_http_1_0_is_close_delimited(daemon, client, tenant):
    installed_plugin(client, tenant)
    sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
    body = invoke_body(params={"text": "x"})
    sock.sendall(("POST /plugin/%s/dispatch/tool/invoke HTTP/1.0\r\nX-Api-Key: %s\r\nX-Plugin-ID: acme/echo\r\n"
                  "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                  % (tenant, daemon.key, len(body))).encode() + body)
    head, _, payload = read_until_closed(sock).partition(b"\r\n\r\n")
    assert b"Transfer-Encoding" not in head and b"text/event-stream" in head
    assert payload.startswith(b"data: {") and payload.endswith(b"\n\n")


def test_invoke_plugin_error_is_the_final_event(daemon, client, tenant):
    installed_plugin(client, tenant)

    def handler(request):
        yield {"type": "text", "message": {"text": "partial"}, "meta": None}
        raise FakePluginError("InvokeRateLimitError", "slow down", {"description": "<too many>"})

    daemon.set_tool_handler("acme/echo", "echo", "echo", handler)
    _, _, chunks = invoke_events(daemon, tenant)
    assert len(chunks) == 2
    assert chunks[1] == (
        b'data: {"code":-500,"message":"{\\"message\\":\\"{\\\\\\"args\\\\\\":{\\\\\\"description\\\\\\":'
        b'\\\\\\"\\\\\\\\u003ctoo many\\\\\\\\u003e\\\\\\"},\\\\\\"error_type\\\\\\":\\\\\\"InvokeRateLimitError\\\\\\",'
        b'\\\\\\"message\\\\\\":\\\\\\"slow down\\\\\\"}\\",\\"error_type\\":\\"PluginInvokeError\\",\\"args\\":null}",'
        b'"data":null}\n\n')
    envelope = event_json(chunks[1])
    outer = json.loads(envelope["message"])
    assert outer["error_type"] == "PluginInvokeError" and outer["args"] is None
    inner = json.loads(outer["message"])
    assert list(inner) == ["args", "error_type", "message"]
    assert inner == {"args": {"description": "<too many>"}, "error_type": "InvokeRateLimitError",
                     "message": "slow down"}


def test_invoke_unknown_chunk_type_and_unknown_tool(daemon, client, tenant):
    installed_plugin(client, tenant)
    daemon.set_tool_handler("acme/echo", "echo", "echo", lambda request: [{"type": "bogus", "message": {}}])
    _, _, chunks = invoke_events(daemon, tenant)
    inner = json.loads(json.loads(event_json(chunks[-1])["message"])["message"])
    assert inner["error_type"] == "unmarshal_error" and list(inner) == ["error_type", "message"]

    daemon.set_tool_handler("acme/echo", "echo", "echo", lambda request: [{"type": "text", "message": ["x"]}])
    _, _, chunks = invoke_events(daemon, tenant)
    inner = json.loads(json.loads(event_json(chunks[-1])["message"])["message"])
    assert inner["error_type"] == "unmarshal_error"

    _, _, chunks = invoke_events(daemon, tenant, body=invoke_body(tool="nope"))
    inner = json.loads(json.loads(event_json(chunks[-1])["message"])["message"])
    assert inner["error_type"] == "ValueError" and inner["message"] == "Tool `nope` not found for provider `echo`"


def test_dispatch_errors_before_the_stream(daemon, client, tenant):
    path = "/plugin/%s/dispatch/tool/invoke" % tenant
    json_ct = {"Content-Type": "application/json"}
    status, code, error_type, message = client.error("POST", path, invoke_body(), json_ct)
    assert (status, code, error_type, message) == (400, -400, "PluginDaemonBadRequestError", "plugin_id is required")
    with_plugin = dict(json_ct, **{"X-Plugin-ID": "acme/echo"})
    assert client.error("POST", path, invoke_body(), with_plugin) == (404, -404, "PluginNotFoundError",
                                                                      "plugin not found")
    installed_plugin(client, tenant)
    status, code, error_type, message = client.error(
        "POST", path, json.dumps({"data": {"tool": "echo"}}), with_plugin)
    assert (status, code, error_type) == (400, -400, "PluginDaemonBadRequestError")
    assert "Error:Field validation for 'Provider' failed on the 'required' tag" in message
    status, code, _, message = client.error("POST", path, invoke_body(), {"X-Plugin-ID": "acme/echo"})
    assert status == 400 and "'Tool' failed on the 'required' tag" in message   # no Content-Type: body ignored
    status, code, error_type, message = client.error("POST", "/plugin/not-a-uuid/dispatch/tool/invoke",
                                                     invoke_body(), with_plugin)
    assert (status, code, error_type) == (500, -500, "PluginDaemonInternalServerError")
    assert "invalid input syntax for type uuid" in message


def test_blob_chunks_helper():
    data = os.urandom(8192 * 2 + 5)
    chunks = blob_chunks(data, meta={"mime_type": "application/octet-stream"})
    assert len(chunks) == 4
    assert all(c["type"] == "blob_chunk" and c["meta"] == {"mime_type": "application/octet-stream"} for c in chunks)
    assert len({c["message"]["id"] for c in chunks}) == 1
    assert [c["message"]["sequence"] for c in chunks] == [0, 1, 2, 3]
    assert [c["message"]["end"] for c in chunks] == [False, False, False, True]
    assert b"".join(base64.b64decode(c["message"]["blob"]) for c in chunks) == data
    assert chunks[-1]["message"]["blob"] == "" and chunks[-1]["message"]["total_length"] == len(data)
    empty = blob_chunks(b"")
    assert len(empty) == 1 and empty[0]["message"]["end"] is True and empty[0]["message"]["sequence"] == 0


# --------------------------------------------------------------------------
# error envelopes of management routes
# --------------------------------------------------------------------------

def test_validation_errors_are_http_400(client, tenant):
    status, code, error_type, message = client.error("GET", MGMT % tenant + "/list")
    assert (status, code, error_type) == (400, -400, "PluginDaemonBadRequestError")
    assert message == ("Key: 'Page' Error:Field validation for 'Page' failed on the 'required' tag\n"
                       "Key: 'PageSize' Error:Field validation for 'PageSize' failed on the 'required' tag")
    message = client.error("GET", MGMT % tenant + "/install/tasks?page=1&page_size=300")[3]
    assert message == "Key: 'PageSize' Error:Field validation for 'PageSize' failed on the 'max' tag"
    message = client.error("GET", MGMT % tenant + "/tools?page=0&page_size=1")[3]
    assert message == "Key: 'Page' Error:Field validation for 'Page' failed on the 'required' tag"
    # GET with Content-Type exactly application/json: the query is ignored
    status = client.error("GET", MGMT % tenant + "/list?page=1&page_size=1", None,
                          {"Content-Type": "application/json"})[0]
    assert status == 400
    assert client.ok("GET", MGMT % tenant + "/list?page=1&page_size=1", None,
                     {"Content-Type": "application/json; charset=utf-8"}) == {"list": [], "total": 0}
    # POST without Content-Type: the JSON body is ignored
    status, _, _, message = client.error("POST", MGMT % tenant + "/uninstall", b'{"plugin_installation_id":"x"}')
    assert status == 400 and "'PluginInstallationID' failed on the 'required' tag" in message
    assert client.ok("POST", MGMT % tenant + "/uninstall", b'{"plugin_installation_id":"%s"}' % str(
        uuid.uuid4()).encode(), {"Content-Type": "application/json; charset=utf-8"}) is True
    message = client.error("POST", MGMT % tenant + "/install/identifiers",
                           {"plugin_unique_identifiers": ["Bad"], "source": "", "metas": [{}]})[3]
    assert message == ("Key: 'PluginUniqueIdentifiers[0]' Error:Field validation for 'PluginUniqueIdentifiers[0]' "
                       "failed on the 'plugin_unique_identifier' tag\n"
                       "Key: 'Source' Error:Field validation for 'Source' failed on the 'required' tag")
    message = client.error("POST", MGMT % tenant + "/tools/check_existence",
                           {"provider_ids": [{"plugin_id": "a/b"}]})[3]
    assert message == ("Key: 'ProviderIDS[0].ProviderName' Error:Field validation for 'ProviderName' "
                       "failed on the 'required' tag")
    message = client.error("POST", MGMT % tenant + "/install/identifiers",
                           {"plugin_unique_identifiers": ["a/b:1.0.0@" + "c" * 32] * 65, "source": "x"})[3]
    assert "failed on the 'max' tag" in message


def test_management_errors_are_http_200(client, tenant):
    uid = "acme/none:1.0.0@" + "d" * 64
    assert client.error("GET", "/plugin/tenant-1/management/list?page=1&page_size=1")[:3] == (
        200, -500, "PluginDaemonInternalServerError")
    assert 'invalid input syntax for type uuid: "tenant-1"' in client.error(
        "GET", "/plugin/tenant-1/management/install/tasks?page=1&page_size=1")[3]
    assert client.error("GET", MGMT % tenant + "/install/tasks/" + str(uuid.uuid4())) == (
        200, -500, "PluginDaemonInternalServerError", "record not found")
    assert "invalid input syntax for type uuid" in client.error("GET", MGMT % tenant + "/install/tasks/abc")[3]
    assert client.error("GET", MGMT % tenant + "/fetch/manifest?plugin_unique_identifier=" + uid) == (
        200, -400, "PluginDaemonBadRequestError", "plugin not found")
    status, code, _, message = client.error("GET", MGMT % tenant + "/fetch/readme?plugin_unique_identifier=" + uid)
    assert (status, code) == (200, -500) and message.startswith("failed to get readme from database: ")
    assert client.error("GET", MGMT % tenant + "/decode/from_identifier?plugin_unique_identifier=" + uid)[:2] == (
        200, -400)
    assert client.error("POST", MGMT % tenant + "/install/identifiers",
                        {"plugin_unique_identifiers": [uid], "source": "package"})[1:] == (
        -400, "PluginDaemonBadRequestError",
        "the number of metas must be equal to the number of plugin unique identifiers")
    assert client.error("POST", MGMT % tenant + "/install/identifiers",
                        {"plugin_unique_identifiers": [uid], "source": "package", "metas": [None]})[1:] == (
        -500, "PluginDaemonInternalServerError", "plugin not found\nfailed to get plugin declaration")
    assert client.ok("POST", MGMT % tenant + "/install/identifiers",
                     {"plugin_unique_identifiers": [], "source": "package", "metas": []}) == {
        "all_installed": True, "task_id": ""}
    other = "acme/none:1.0.1@" + "d" * 64
    upgrade = MGMT % tenant + "/install/upgrade"
    body = {"original_plugin_unique_identifier": uid, "new_plugin_unique_identifier": uid, "source": "package"}
    assert client.error("POST", upgrade, body)[3] == "original and new plugin unique identifier are the same"
    body["new_plugin_unique_identifier"] = "acme/other:1.0.1@" + "d" * 64
    assert client.error("POST", upgrade, body)[3] == "original and new plugin id are different"
    body["new_plugin_unique_identifier"] = other
    assert client.error("POST", upgrade, body) == (200, -404, "PluginDaemonNotFoundError",
                                                   "plugin installation not found for this tenant")
    assert client.error("GET", MGMT % tenant + "/tool?plugin_id=acme/none&provider=none") == (
        200, -404, "PluginNotFoundError", "plugin not found")
    task = str(uuid.uuid4())
    assert client.error("POST", MGMT % tenant + "/install/tasks/%s/delete/not-an-id" % task) == (
        200, -400, "PluginDaemonBadRequestError", "plugin_unique_identifier is not valid: not-an-id")
    assert client.ok("POST", MGMT % tenant + "/install/tasks/%s/delete/%s" % (task, uid)) is True
    assert client.ok("POST", MGMT % tenant + "/install/tasks/%s/delete" % task) is True
    assert client.ok("POST", MGMT % tenant + "/install/tasks/delete_all") is True


def test_readme_missing_and_bad_ids(client, tenant):
    uid = upload_ok(client, tenant, sample_plugin(readme=None))["unique_identifier"]
    status, code, error_type, message = client.error(
        "GET", MGMT % tenant + "/fetch/readme?plugin_unique_identifier=" + uid)
    assert (status, code, error_type) == (200, -500, "PluginDaemonInternalServerError")
    assert message.startswith("failed to get readme from database: ") and "en_US readme not found" in message
    assert "invalid input syntax for type uuid" in client.error(
        "POST", MGMT % tenant + "/uninstall", {"plugin_installation_id": "42"})[3]
    assert "invalid input syntax for type uuid" in client.error(
        "POST", MGMT % tenant + "/install/tasks/42/delete")[3]
    assert client.call("GET", "/plugin/%s/asset/%s" % (tenant, "0" * 64 + ".svg"))[2] == b""


def test_upload_errors(client, tenant):
    route = MGMT % tenant + "/install/upload/package"
    assert client.error("POST", route, b"x", {"Content-Type": "application/octet-stream"})[:2] == (200, -400)
    assert client.error("POST", route, b"x", {"Content-Type": "text/plain"})[3] == \
        "request Content-Type isn't multipart/form-data"
    body, ctype = multipart([("verify_signature", "false")])
    assert client.error("POST", route, body, {"Content-Type": ctype})[3] == "http: no such file"
    body, ctype = multipart(files=[("dify_pkg", "", sample_plugin())])
    assert client.error("POST", route, body, {"Content-Type": ctype})[3] == "http: no such file"
    assert client.error("POST", route, b"", {"Content-Type": "multipart/form-data"})[3] == \
        "no multipart boundary param in Content-Type"

    def upload_error(package, verify="false"):
        status, _, raw = upload(client, tenant, package, verify=verify)
        envelope = json.loads(raw)
        assert status == 200 and envelope["code"] == -400, raw
        return json.loads(envelope["message"])["message"]

    assert upload_error(b"not a zip") == "difypkg: not a valid difypkg file"
    assert upload_error(sample_plugin(), verify="true") == (
        "plugin verification has been enabled, and the plugin you want to install has a bad signature")
    assert json.loads(upload(client, tenant, sample_plugin(), verify="True")[2])["code"] == 0  # only "true"
    assert upload_error(sample_plugin(author=str(uuid.uuid4()))) == "cannot set author to an UUID"
    assert upload_error(sample_plugin(author="Acme")).startswith("plugin_unique_identifier is not valid: Acme/echo")
    message = upload_error(sample_plugin(extra_files={"_assets/icon.svg": None}))
    # asset remapping happens when the package is stored (transcripts s23_corrupt_uploads[6])
    assert message.startswith("file not found: icon.svg\n") and message.endswith("\nfailed to save package")
    no_tool = build_package({"version": "0.0.1", "type": "plugin", "author": "acme", "name": "bare",
                             "label": {"en_US": "Bare"}, "icon": "icon.svg", "created_at": "2024-01-01T00:00:00Z"},
                            None, {})
    assert upload_error(no_tool) == ("at least one of endpoint, model, tool, agent_strategy, or datasource must be "
                                     "provided\nillegal plugin manifest\nfailed to decode package")
    missing_tool = sample_plugin(extra_files={"tools/ping.yaml": None})
    assert upload_error(missing_tool) == ("open tools/ping.yaml: file does not exist\n"
                                          "failed to read tool file: tools/ping.yaml")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.md", "no manifest")
    assert upload_error(buffer.getvalue()) == "open manifest.yaml: file does not exist"


def test_upload_size_limits(tenant):
    with FakeDaemon(max_package_size=4096) as daemon:
        client = Client(daemon)
        status, _, raw = upload(client, tenant, os.urandom(5000))
        assert status == 200 and json.loads(json.loads(raw)["message"])["message"] == \
            "file size exceeds the maximum limit"
        bomb = build_package({"version": "0.0.1", "type": "plugin", "author": "acme", "name": "big",
                              "icon": "icon.svg", "plugins": {"tools": []}}, None, {},
                             extra_files={"big.bin": b"\0" * 100000})
        assert len(bomb) < 4096
        message = json.loads(json.loads(upload(client, tenant, bomb)[2])["message"])["message"]
        assert message == ("plugin package size is too large, please ensure the uncompressed size is less "
                           "than 4096 bytes")
        client.close()


def test_large_multipart_upload_is_streamed_not_buffered(daemon, tenant):
    """~60 MiB file part over one keep-alive connection: size error, small memory peak."""
    size = 60 * 1024 * 1024
    boundary = "----streamtestboundary"
    head = ("--%s\r\nContent-Disposition: form-data; name=\"verify_signature\"\r\n\r\nfalse\r\n"
            "--%s\r\nContent-Disposition: form-data; name=\"dify_pkg\"; filename=\"dify_pkg\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n" % (boundary, boundary)).encode()
    tail = ("\r\n--%s--\r\n" % boundary).encode()
    block = b"\x5a" * (256 * 1024)

    def body():
        yield head
        for _ in range(size // len(block)):
            yield block
        yield tail

    client = Client(daemon)
    tracemalloc.start()
    try:
        client.conn.request("POST", MGMT % tenant + "/install/upload/package", body=body(), headers={
            "X-Api-Key": daemon.key, "Content-Type": "multipart/form-data; boundary=" + boundary,
            "Content-Length": str(len(head) + size + len(tail))})
        response = client.conn.getresponse()
        raw = response.read()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status == 200
    assert json.loads(json.loads(raw)["message"])["message"] == "file size exceeds the maximum limit"
    assert peak < 24 * 1024 * 1024, "peak traced memory %d bytes" % peak
    record = daemon.requests[-1]
    assert record.body == b"" and record.body_size == len(head) + size + len(tail)
    assert record.form["verify_signature"] == "false"
    assert record.form["dify_pkg"][:2] == ("dify_pkg", size)
    # the connection is still usable
    assert client.call("GET", "/health/check", key=False)[0] == 200
    assert daemon.connections_opened == 1
    client.close()


def test_expect_100_continue_and_chunked_request_body(daemon, tenant):
    package = sample_plugin()
    body, ctype = multipart([("verify_signature", "false")], [("dify_pkg", "dify_pkg", package)])
    sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
    stream = sock.makefile("rb")
    head = raw_request("POST", MGMT % tenant + "/install/upload/package", b"", [
        ("X-Api-Key", daemon.key), ("Content-Type", ctype), ("Content-Length", str(len(body))),
        ("Expect", "100-continue")])
    sock.sendall(head)
    assert stream.readline() == b"HTTP/1.1 100 Continue\r\n" and stream.readline() == b"\r\n"
    sock.sendall(body)
    status, _, _, raw = read_response(stream)
    assert status == 200 and json.loads(raw)["data"]["unique_identifier"] == package_identifier(package)
    # a refused Expect request gets no 100 and the connection is closed
    sock.sendall(raw_request("POST", MGMT % tenant + "/install/upload/package", b"", [
        ("X-Api-Key", "wrong"), ("Content-Type", ctype), ("Content-Length", str(len(body))),
        ("Expect", "100-continue")]))
    status, headers, _, raw = read_response(stream)
    assert status == 401 and raw == UNAUTHORIZED and headers.get("connection") == "close"
    sock.close()
    # chunked request body (http.client uses it for an iterable without Content-Length)
    client = Client(daemon)
    client.conn.request("POST", MGMT % tenant + "/install/upload/package", body=iter([body[:100], body[100:]]),
                        headers={"X-Api-Key": daemon.key, "Content-Type": ctype})
    response = client.conn.getresponse()
    assert json.loads(response.read())["code"] == 0
    assert daemon.requests[-1].headers["Transfer-Encoding"] == "chunked"
    assert daemon.requests[-1].body == body
    client.close()


def test_bad_content_length_is_rejected(daemon):
    sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
    sock.sendall(b"POST /health/check HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
    status, headers, _, raw = read_response(sock.makefile("rb"))
    assert status == 400 and raw == b"400 Bad Request" and headers["connection"] == "close"
    sock.close()


# --------------------------------------------------------------------------
# tasks, upgrade, bundles, helpers, fault injection
# --------------------------------------------------------------------------

def test_failed_install_and_task_management(daemon, client, tenant):
    good = upload_ok(client, tenant, sample_plugin(name="good"))["unique_identifier"]
    bad = upload_ok(client, tenant, sample_plugin(name="bad"))["unique_identifier"]
    daemon.fail_install["acme/bad"] = "x" * 3000
    started = install(client, tenant, [good, bad], source="marketplace",
                      metas=[{"plugin_unique_identifier": good}, {"plugin_unique_identifier": bad}])
    task = wait_task(client, tenant, started["task_id"], statuses=("failed",))
    deadline = time.time() + 5
    while any(p["status"] in ("pending", "running") for p in task["plugins"]) and time.time() < deadline:
        task = client.ok("GET", MGMT % tenant + "/install/tasks/" + started["task_id"])
    assert task["status"] == "failed" and task["total_plugins"] == 2 and task["completed_plugins"] == 1
    entries = dict((p["plugin_id"], p) for p in task["plugins"])
    assert entries["acme/good"]["status"] == "success" and entries["acme/bad"]["status"] == "failed"
    assert len(entries["acme/bad"]["message"]) == 512 + 3 + 512
    assert entries["acme/bad"]["source"] == "marketplace"
    installed = client.ok("GET", MGMT % tenant + "/list?page=1&page_size=10")["list"]
    assert [i["plugin_id"] for i in installed] == ["acme/good"]
    assert installed[0]["meta"] == {"plugin_unique_identifier": good}

    second = install(client, tenant, [bad])["task_id"]
    wait_task(client, tenant, second)
    tasks = client.ok("GET", MGMT % tenant + "/install/tasks?page=1&page_size=10")
    assert [t["id"] for t in tasks] == [second, started["task_id"]]
    assert client.ok("GET", MGMT % tenant + "/install/tasks?page=2&page_size=1")[0]["id"] == started["task_id"]
    # removing the failed entry leaves only successes: the task is deleted
    encoded = bad.replace("/", "%2F").replace(":", "%3A").replace("@", "%40")
    path = MGMT % tenant + "/install/tasks/%s/delete/%s" % (started["task_id"], encoded)
    assert client.ok("POST", path) is True
    assert client.error("GET", MGMT % tenant + "/install/tasks/" + started["task_id"])[3] == "record not found"
    assert client.ok("POST", MGMT % tenant + "/install/tasks/delete_all") is True
    assert client.ok("GET", MGMT % tenant + "/install/tasks?page=1&page_size=10") == []


def test_successful_tasks_expire_when_ttl_set(tenant):
    with FakeDaemon(install_delay=0, task_success_ttl=0.1) as daemon:
        client = Client(daemon)
        uid = upload_ok(client, tenant, sample_plugin())["unique_identifier"]
        task_id = install(client, tenant, [uid])["task_id"]
        deadline = time.time() + 5
        while time.time() < deadline:
            status, _, raw = client.call("GET", MGMT % tenant + "/install/tasks/" + task_id)
            if json.loads(raw)["code"] != 0:
                break
            time.sleep(0.02)
        assert json.loads(json.loads(raw)["message"])["message"] == "record not found"
        assert client.ok("GET", MGMT % tenant + "/list?page=1&page_size=1")["total"] == 1
        client.close()


def test_upgrade(daemon, client, tenant):
    old = installed_plugin(client, tenant, version="0.0.1")
    new = upload_ok(client, tenant, sample_plugin(version="0.0.2"))["unique_identifier"]
    started = client.ok("POST", MGMT % tenant + "/install/upgrade", {
        "original_plugin_unique_identifier": old, "new_plugin_unique_identifier": new,
        "source": "marketplace", "meta": {"plugin_unique_identifier": new}})
    assert started["all_installed"] is False
    task = client.ok("GET", MGMT % tenant + "/install/tasks/" + started["task_id"])
    assert task["plugins"][0]["labels"] == {"en_US": ""} and task["plugins"][0]["icon"] == ""
    task = wait_task(client, tenant, started["task_id"])
    assert task["status"] == "success" and task["plugins"][0]["message"] == "upgraded"
    item = client.ok("GET", MGMT % tenant + "/list?page=1&page_size=1")["list"][0]
    assert item["plugin_unique_identifier"] == new and item["version"] == "0.0.2" and item["source"] == "marketplace"
    # another tenant upgrading to an identifier some tenant already runs: synchronous
    other = str(uuid.uuid4())
    installed_plugin(client, other, version="0.0.1")
    assert client.ok("POST", MGMT % other + "/install/upgrade", {
        "original_plugin_unique_identifier": old, "new_plugin_unique_identifier": new,
        "source": "package"}) == {"all_installed": True, "task_id": ""}
    assert client.ok("GET", MGMT % other + "/list?page=1&page_size=1")["list"][0]["meta"] is None


def test_bundle_upload(daemon, client, tenant):
    package = sample_plugin(name="inner")
    manifest = {"name": "bundle", "author": "acme", "version": "0.0.1", "dependencies": [
        {"type": "github", "value": {"repo_pattern": "org/repo:1.0.0/plugin.difypkg"}},
        {"type": "marketplace", "value": {"marketplace_pattern": "langgenius/openai:0.2.1"}},
        {"type": "package", "value": {"path": "inner.difypkg"}},
    ]}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("manifest.yaml", json.dumps(manifest))
        archive.writestr("_assets/inner.difypkg", package)
    status, _, raw = upload(client, tenant, buffer.getvalue(), field="dify_bundle", route="bundle")
    data = json.loads(raw)["data"]
    assert data[0] == {"type": "github", "value": {"packages": "plugin.difypkg", "release": "1.0.0",
                                                   "repo": "org/repo", "repo_address": "https://github.com/org/repo"}}
    assert data[1] == {"type": "marketplace", "value": {"organization": "langgenius", "plugin": "openai",
                                                        "version": "0.2.1"}}
    assert data[2]["type"] == "package" and data[2]["value"]["unique_identifier"] == package_identifier(package)
    uid = data[2]["value"]["unique_identifier"]
    assert client.ok("GET", MGMT % tenant + "/fetch/manifest?plugin_unique_identifier=" + uid)["name"] == "inner"
    status, _, raw = upload(client, tenant, b"junk", field="dify_bundle", route="bundle")
    assert json.loads(json.loads(raw)["message"])["message"] == "zip: not a valid zip file\nfailed to decode bundle"


def test_state_helpers(daemon, client, tenant):
    package = sample_plugin(name="direct")
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        files = dict((name, archive.read(name)) for name in archive.namelist())
    uid = daemon.add_package(files)
    assert uid == package_identifier(package)
    row = daemon.install(tenant, uid, source="github", meta={"repo": "a/b", "version": "v1", "package": "p"})
    assert row["plugin_id"] == "acme/direct" and row["source"] == "github"
    assert daemon.installations(tenant)[0]["id"] == row["id"]
    assert client.ok("GET", MGMT % tenant + "/tool?plugin_id=acme/direct&provider=direct")["provider"] == "direct"
    with pytest.raises(ValueError):
        daemon.install("not-a-uuid", uid)
    with pytest.raises(ValueError):
        daemon.add_package({"README.md": b"x"})


def test_overrides_take_over_requests(daemon, client, tenant):
    def broken(handler):
        handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: {\"code\":0")
        handler.close_connection = True

    daemon.add_override("POST", r"/dispatch/tool/invoke$", broken)
    daemon.add_override("*", r"/dispatch/", lambda h: h.send_json(500, {"never": True}))
    daemon.add_override("GET", r"/management/list$", lambda h: h.send_json(503, {"busy": True}))
    status, _, raw = client.call("GET", MGMT % tenant + "/list?page=1&page_size=1")
    assert (status, raw) == (503, b'{"busy":true}')
    sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
    sock.sendall(raw_request("POST", "/plugin/%s/dispatch/tool/invoke" % tenant, invoke_body(),
                             [("X-Api-Key", daemon.key)]))
    assert read_until_closed(sock).endswith(b'data: {"code":0')
    daemon.remove_overrides()
    assert client.call("GET", MGMT % tenant + "/list?page=1&page_size=1")[0] == 200


@pytest.mark.parametrize("how", ["directory", "module"])
def test_subprocess_mode(tmp_path, tenant, how):
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    if how == "directory":   # python tests/fake_daemon (as bench/run.py starts it)
        command, cwd = [sys.executable, os.path.join(tests_dir, "fake_daemon")], str(tmp_path)
    else:                    # cd tests && python -m fake_daemon
        command, cwd = [sys.executable, "-m", "fake_daemon"], tests_dir
    process = subprocess.Popen(command + ["--host", "127.0.0.1", "--port", "0", "--key", "K",
                                          "--max-package-size", "1000"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd)
    try:
        line = process.stdout.readline().decode()
        match = re.match(r"^URL http://127\.0\.0\.1:(\d+)\n$", line)
        assert match, line
        conn = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=10)
        conn.request("GET", "/health/check")
        assert json.loads(conn.getresponse().read())["status"] == "ok"
        body, ctype = multipart([("verify_signature", "false")], [("dify_pkg", "dify_pkg", sample_plugin())])
        conn.request("POST", MGMT % tenant + "/install/upload/package", body=body,
                     headers={"X-Api-Key": "K", "Content-Type": ctype})
        envelope = json.loads(conn.getresponse().read())
        assert json.loads(envelope["message"])["message"] == "file size exceeds the maximum limit"
        conn.close()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
        process.stdout.close()
        process.stderr.close()
    assert code == 0


# --------------------------------------------------------------------------
# the generic dispatch mechanism (fake_daemon/dispatch.py), with a non-tool
# route; expected bytes are those of daemon-transcripts/0.6.10-routes/
# --------------------------------------------------------------------------

LLM_NS = "InvokePluginRequest[github.com/langgenius/dify-plugin-daemon/pkg/entities/requests.RequestInvokeLLM]"
ERROR_BODY = b'{"code":%d,"message":"{\\"message\\":\\"%s\\",\\"error_type\\":\\"%s\\",\\"args\\":null}","data":null}'


def error_body(code, message, error_type="PluginDaemonBadRequestError"):
    return ERROR_BODY % (code, message.encode(), error_type.encode())


def validation_line(namespace, field, tag):
    return "Key: '%s' Error:Field validation for '%s' failed on the '%s' tag" % (namespace, field, tag)


def llm_route():
    """llm/invoke as the daemon binds it (only the fields whose validation the recordings show),
    served at a test-only path: these tests exercise the generic mechanism with a route
    of their own, and the fake serves the real llm/invoke through routes/models.py."""
    return DispatchRoute("x_llm/invoke", "RequestInvokeLLM", [
        Field("Provider", "json", "provider", "str", "required", ns="BaseRequestInvokeModel.Provider"),
        Field("Model", "json", "model", "str", "required", ns="BaseRequestInvokeModel.Model"),
        Field("ModelType", "json", "model_type", "str", "required,eq=llm"),
    ])


def llm_body(text="hello wonderful world", tenant_id=None, **data):
    """The request body of model/llm_invoke_stream.json (``data`` keys overridable)."""
    body = {"user_id": "user-e2e-1", "data": {
        "provider": "echomodel", "model": "echo-llm", "model_type": "llm", "credentials": {"api_key": "good"},
        "prompt_messages": [{"role": "system", "content": "You echo."}, {"role": "user", "content": text}],
        "model_parameters": {"temperature": 0.5, "max_tokens": 100}, "tools": [], "stop": [], "stream": True}}
    body["data"].update(data)
    for key in [k for k, v in data.items() if v is None]:
        del body["data"][key]
    if tenant_id is not None:
        body["tenant_id"] = tenant_id
    return json.dumps(body).encode()


def llm_chunk(index, content, usage=None, finish_reason=None):
    """An LLMResultChunk, fields in the Go struct's order."""
    return {"model": "echo-llm", "system_fingerprint": "echo-fp-1", "delta": {
        "index": index, "message": {"role": "assistant", "content": content, "name": "", "tool_calls": [],
                                    "tool_call_id": "", "opaque_body": None},
        "usage": usage, "finish_reason": finish_reason}, "prompt_messages": []}


def echo_llm(call):
    """The recorded plugin's echo-llm: the last message word by word, then usage; 'fail midstream' fails."""
    words = call.data["prompt_messages"][-1]["content"].split()
    for index, word in enumerate(words):
        yield llm_chunk(index, word + " ")
        if words[:2] == ["fail", "midstream"] and index == 1:
            raise ValueError("echo failure in the middle of the stream")
    yield llm_chunk(len(words), "", finish_reason="stop", usage={
        "prompt_tokens": 5, "prompt_unit_price": "0.001", "prompt_price_unit": "0.001", "prompt_price": "0.000005",
        "completion_tokens": 3, "completion_unit_price": "0.002", "completion_price_unit": "0.001",
        "completion_price": "0.000006", "total_tokens": 8, "total_price": "0.000011", "currency": "USD",
        "latency": 0.00025380099987160065})


def llm_event(index, content):
    return (b'data: {"code":0,"message":"success","data":{"model":"echo-llm","system_fingerprint":"echo-fp-1",'
            b'"delta":{"index":%d,"message":{"role":"assistant","content":"%s","name":"","tool_calls":[],'
            b'"tool_call_id":"","opaque_body":null},"usage":null,"finish_reason":null},"prompt_messages":[]}}\n\n'
            % (index, content.encode()))


# model/llm_invoke_stream.json, the whole body
LLM_STREAM = [llm_event(0, "hello "), llm_event(1, "wonderful "), llm_event(2, "world "), (
    b'data: {"code":0,"message":"success","data":{"model":"echo-llm","system_fingerprint":"echo-fp-1","delta":'
    b'{"index":3,"message":{"role":"assistant","content":"","name":"","tool_calls":[],"tool_call_id":"",'
    b'"opaque_body":null},"usage":{"prompt_tokens":5,"prompt_unit_price":"0.001","prompt_price_unit":"0.001",'
    b'"prompt_price":"0.000005","completion_tokens":3,"completion_unit_price":"0.002","completion_price_unit":'
    b'"0.001","completion_price":"0.000006","total_tokens":8,"total_price":"0.000011","currency":"USD",'
    b'"latency":0.00025380099987160065},"finish_reason":"stop"},"prompt_messages":[]}}\n\n')]


def exchange(daemon, path, body, headers=(), key=True):
    """POST over a fresh socket; returns (status, headers, chunks, body)."""
    sent = [("X-Api-Key", daemon.key)] if key else []
    sent += [("Content-Type", "application/json")] + list(headers)
    sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
    try:
        sock.sendall(raw_request("POST", path, body, sent))
        return read_response(sock.makefile("rb"))
    finally:
        sock.close()


@pytest.fixture
def llm_daemon(daemon, client, tenant):
    """The daemon serving x_llm/invoke, acme/echo installed for ``tenant`` and answering with echo_llm."""
    daemon.add_dispatch_route(llm_route())
    installed_plugin(client, tenant)
    daemon.set_dispatch_handler("acme/echo", "x_llm/invoke", echo_llm)
    return daemon


def test_dispatch_serves_a_new_route_as_recorded(llm_daemon, tenant):
    calls = []

    def handler(call):
        calls.append(call)
        return echo_llm(call)

    llm_daemon.set_dispatch_handler("acme/echo", "x_llm/invoke", handler)
    path = "/plugin/%s/dispatch/x_llm/invoke" % tenant
    status, headers, chunks, _ = exchange(llm_daemon, path, llm_body(), [("X-Plugin-ID", "acme/echo")])
    assert status == 200 and chunks == LLM_STREAM       # one flushed chunk per event
    assert headers["content-type"] == "text/event-stream" and headers["transfer-encoding"] == "chunked"
    assert "content-length" not in headers
    call, = calls
    assert (call.plugin_id, call.tenant_id, call.direct) == ("acme/echo", tenant, False)
    assert call.installation["plugin_id"] == "acme/echo" and call.identifier == call.package.identifier
    assert call.values["Data"] == {"Provider": "echomodel", "Model": "echo-llm", "ModelType": "llm"}
    assert call.body == json.loads(llm_body()) and call.data["stream"] is True

    # model/llm_num_tokens.json: one chunk, Go struct order and float64 numbers
    llm_daemon.set_dispatch_handler("acme/echo", "x_llm/invoke", lambda call: [{"num_tokens": 10.0}])
    _, _, chunks, _ = exchange(llm_daemon, path, llm_body(), [("X-Plugin-ID", "acme/echo")])
    assert chunks == [b'data: {"code":0,"message":"success","data":{"num_tokens":10}}\n\n']
    deadline = time.time() + 5          # the server thread leaves the stream just after its last write
    while llm_daemon._active_dispatch and time.time() < deadline:
        time.sleep(0.01)
    assert llm_daemon._active_dispatch == 0


def test_dispatch_error_event_ends_the_stream(llm_daemon, tenant):
    path = "/plugin/%s/dispatch/x_llm/invoke" % tenant
    status, _, chunks, _ = exchange(llm_daemon, path, llm_body("fail midstream now ok"),
                                    [("X-Plugin-ID", "acme/echo")])
    # model/llm_invoke_error_midstream.json: two chunks, then the plugin's ValueError (traceback in args)
    assert status == 200 and chunks[:2] == [llm_event(0, "fail "), llm_event(1, "midstream ")]
    assert len(chunks) == 3
    assert chunks[2].startswith(
        b'data: {"code":-500,"message":"{\\"message\\":\\"{\\\\\\"args\\\\\\":{\\\\\\"traceback\\\\\\":'
        b'\\\\\\"Traceback (most recent call last):\\\\\\\\n')
    assert chunks[2].endswith(
        b'\\\\\\\\nValueError: echo failure in the middle of the stream\\\\\\\\n\\\\\\"},\\\\\\"error_type\\\\\\":'
        b'\\\\\\"ValueError\\\\\\",\\\\\\"message\\\\\\":\\\\\\"echo failure in the middle of the stream\\\\\\"}\\",'
        b'\\"error_type\\":\\"PluginInvokeError\\",\\"args\\":null}","data":null}\n\n')

    def limited(call):
        yield {"partial": True}
        raise FakePluginError("InvokeRateLimitError", "slow down", {"description": "wait"})

    llm_daemon.set_dispatch_handler("acme/echo", "x_llm/invoke", limited)
    _, _, chunks, _ = exchange(llm_daemon, path, llm_body(), [("X-Plugin-ID", "acme/echo")])
    assert chunks == [
        b'data: {"code":0,"message":"success","data":{"partial":true}}\n\n',
        b'data: {"code":-500,"message":"{\\"message\\":\\"{\\\\\\"args\\\\\\":{\\\\\\"description\\\\\\":'
        b'\\\\\\"wait\\\\\\"},\\\\\\"error_type\\\\\\":\\\\\\"InvokeRateLimitError\\\\\\",\\\\\\"message\\\\\\":'
        b'\\\\\\"slow down\\\\\\"}\\",\\"error_type\\":\\"PluginInvokeError\\",\\"args\\":null}","data":null}\n\n']


@pytest.mark.parametrize("stream_headers", ["lazy", "eager"])
def test_dispatch_empty_stream(tenant, stream_headers):
    # lazy, as tool/get_runtime_parameters.json: HTTP 200, text/event-stream, Content-Length 0, no event;
    # eager (the default): the headers, then only the terminating chunk
    with FakeDaemon(stream_headers=stream_headers) as daemon:
        client = Client(daemon)
        daemon.add_dispatch_route(DispatchRoute("x_model/schema", "RequestGetAIModelSchema", []))   # no handler
        installed_plugin(client, tenant)
        daemon.set_tool_handler("acme/echo", "echo", "ping", lambda request: [])
        for path, body in [("x_model/schema", b'{"data":{}}'), ("tool/invoke", invoke_body(tool="ping"))]:
            status, headers, chunks, raw = exchange(daemon, "/plugin/%s/dispatch/%s" % (tenant, path), body,
                                                    [("X-Plugin-ID", "acme/echo")])
            assert (status, chunks, raw, headers["content-type"]) == (200, [], b"", "text/event-stream"), path
            if stream_headers == "lazy":
                assert headers["content-length"] == "0" and "transfer-encoding" not in headers, path
            else:
                assert headers["transfer-encoding"] == "chunked" and "content-length" not in headers, path
        status, headers, chunks = invoke_events(daemon, tenant)     # with events: chunked either way
        assert headers["transfer-encoding"] == "chunked" and len(chunks) == 1
        daemon.reset_stats()
        for _ in range(2):   # the connection stays usable
            status, response, raw = client.call("POST", "/plugin/%s/dispatch/x_model/schema" % tenant,
                                                b'{"data":{}}',
                                                {"Content-Type": "application/json", "X-Plugin-ID": "acme/echo"})
            assert (status, raw) == (200, b"")
        assert daemon.connections_opened == 0
        client.close()
    with pytest.raises(ValueError):
        FakeDaemon(stream_headers="early")


def test_dispatch_validation_errors_are_http_400(llm_daemon, tenant):
    # model/llm_invoke_malformed_body.json (whole bodies, with their recorded lengths)
    path = "/plugin/%s/dispatch/x_llm/invoke" % tenant
    plugin = [("X-Plugin-ID", "acme/echo")]
    cases = [
        (llm_body(model_type="rerank"), 301, [validation_line(LLM_NS + ".Data.ModelType", "ModelType", "eq")]),
        (llm_body(model=None), 322,
         [validation_line(LLM_NS + ".Data.BaseRequestInvokeModel.Model", "Model", "required")]),
    ]
    everything = [validation_line(LLM_NS + ".Data.BaseRequestInvokeModel.Provider", "Provider", "required"),
                  validation_line(LLM_NS + ".Data.BaseRequestInvokeModel.Model", "Model", "required"),
                  validation_line(LLM_NS + ".Data.ModelType", "ModelType", "required")]
    cases += [(b"{not json", 729, everything), (b'{"user_id": "user-e2e-1"}', 729, everything)]
    for body, length, lines in cases:
        status, headers, _, raw = exchange(llm_daemon, path, body, plugin)
        assert status == 400 and raw == error_body(-400, "\\\\n".join(lines)) and len(raw) == length, body
        assert headers["content-type"] == "application/json; charset=utf-8"


def test_dispatch_middleware_errors_come_before_the_body(llm_daemon, tenant):
    # model/llm_invoke_plugin_id_and_auth_errors.json
    path = "/plugin/%s/dispatch/x_llm/invoke" % tenant
    not_found = error_body(-404, "plugin not found", "PluginNotFoundError")
    other_tenant = "/plugin/%s/dispatch/x_llm/invoke" % uuid.uuid4()
    for route, headers, body, expected in [
            (path, [], llm_body(), (400, error_body(-400, "plugin_id is required"), 138)),
            (path, [], b"{not json", (400, error_body(-400, "plugin_id is required"), 138)),
            (path, [("X-Plugin-ID", "ceocheck/not-installed")], b"{not json", (404, not_found, 125)),
            (path, [("X-Plugin-ID", "not a plugin id!")], llm_body(), (404, not_found, 125)),
            (other_tenant, [("X-Plugin-ID", "acme/echo")], llm_body(), (404, not_found, 125))]:
        status, _, _, raw = exchange(llm_daemon, route, body, headers)
        assert (status, raw, len(raw)) == expected, headers
    status, _, _, raw = exchange(llm_daemon, path, llm_body(), [("X-Plugin-ID", "acme/echo"), ("X-Api-Key", "x")],
                                 key=False)
    assert (status, raw, len(raw)) == (401, UNAUTHORIZED, 131)


def test_v2_dispatch_by_unique_identifier(daemon, client, tenant):
    # v2/invoke_tool.json, v2/invoke_llm.json, v2/uploaded_not_installed.json, v2/invoke_other.json
    uid = installed_plugin(client, tenant)
    other = str(uuid.uuid4())    # nothing installed there: /v2 does not look installations up
    by_uid = [("X-Plugin-Unique-Identifier", uid)]
    body = json.loads(invoke_body(params={"text": "v2"}))
    body["tenant_id"] = other
    status, headers, tenant_chunks = invoke_events(daemon, tenant, body=invoke_body(params={"text": "v2"}))
    status, headers, chunks, _ = exchange(daemon, "/v2/invoke/dispatch/tool/invoke", json.dumps(body).encode(), by_uid)
    assert status == 200 and headers["transfer-encoding"] == "chunked"
    assert chunks == tenant_chunks == [
        b'data: {"code":0,"message":"success","data":{"type":"text","message":{"text":"{\\"text\\":\\"v2\\"}"},'
        b'"meta":null}}\n\n']
    assert "X-Plugin-ID" not in daemon.requests[-1].headers

    seen = []
    daemon.set_tool_handler("acme/echo", "echo", "echo", lambda request: seen.append(request) or [
        {"type": "text", "message": {"text": "channel=general text=v2"}, "meta": None}])
    _, _, chunks, _ = exchange(daemon, "/v2/invoke/dispatch/tool/invoke", json.dumps(body).encode(), by_uid)
    assert chunks == [b'data: {"code":0,"message":"success","data":{"type":"text","message":'
                      b'{"text":"channel=general text=v2"},"meta":null}}\n\n']
    assert seen == [body]

    daemon.add_dispatch_route(llm_route())
    calls = []
    daemon.set_dispatch_handler("acme/echo", "x_llm/invoke", lambda call: calls.append(call) or echo_llm(call))
    _, _, chunks, _ = exchange(daemon, "/v2/invoke/dispatch/x_llm/invoke", llm_body("v2 says hi", other), by_uid)
    assert chunks[:3] == [llm_event(0, "v2 "), llm_event(1, "says "), llm_event(2, "hi ")] and len(chunks) == 4
    call, = calls
    assert (call.direct, call.installation, call.tenant_id, call.plugin_id) == (True, None, other, "acme/echo")
    assert call.identifier == uid and call.package.identifier == uid

    uploaded = upload_ok(client, tenant, sample_plugin(version="0.0.2"))["unique_identifier"]
    runtime_missing = error_body(-500, "no available node, plugin runtime not found",
                                 "PluginDaemonInternalServerError")
    tenant_missing = error_body(-400, validation_line(LLM_NS + ".InvokePluginUserIdentity.TenantId",
                                                      "TenantId", "required"))
    for path, headers, sent, expected in [
            ("x_llm/invoke", by_uid, llm_body("v2 says hi"), (400, tenant_missing, 325)),
            ("x_llm/invoke", [], llm_body("v2 says hi", other),
             (400, error_body(-400, "X-Plugin-Unique-Identifier header is required"), 162)),
            ("x_llm/invoke", [("X-Plugin-Unique-Identifier", "acme/echo:9.9.9@" + "b" * 64)], b"{not json",
             (404, runtime_missing, 164)),
            ("tool/invoke", [("X-Plugin-Unique-Identifier", uploaded)], invoke_body(), (404, runtime_missing, 164)),
            ("tool/invoke", [("X-Plugin-Unique-Identifier", "garbage")], invoke_body(),
             (400, error_body(-400, "plugin_unique_identifier is not valid: garbage",
                              "PluginUniqueIdentifierError"), 163)),
            ("model/polling/start", by_uid, llm_body(tenant_id=other),
             (404, b'{"code":"not_found","message":"route not found"}', 48))]:
        status, _, _, raw = exchange(daemon, "/v2/invoke/dispatch/" + path, sent, headers)
        assert (status, raw, len(raw)) == expected, (path, headers)
    status, _, _, raw = exchange(daemon, "/v2/invoke/dispatch/tool/invoke", invoke_body(), by_uid + [
        ("X-Api-Key", "wrong")], key=False)
    assert (status, raw) == (401, UNAUTHORIZED)


def test_dispatch_handlers_are_per_plugin_and_route(daemon, client, tenant):
    with pytest.raises(KeyError):
        daemon.set_dispatch_handler("acme/echo", "x_llm/invoke", echo_llm)      # not served yet
    daemon.add_dispatch_route(llm_route())
    with pytest.raises(ValueError):
        daemon.add_dispatch_route(llm_route())
    installed_plugin(client, tenant)
    installed_plugin(client, tenant, name="other")
    # a route handler takes over tool/invoke for its plugin, tool handlers included
    daemon.set_tool_handler("acme/echo", "echo", "echo", lambda request: [
        {"type": "text", "message": {"text": "tool handler"}, "meta": None}])
    daemon.set_dispatch_handler("acme/echo", "tool/invoke", lambda call: [
        {"type": "text", "message": {"text": "route handler for %s" % call.values["Data"]["Tool"]}, "meta": None}])
    _, _, chunks = invoke_events(daemon, tenant)
    assert event_json(chunks[0])["data"]["message"] == {"text": "route handler for echo"}
    _, _, chunks = invoke_events(daemon, tenant, plugin_id="acme/other", body=invoke_body(provider="other"))
    assert event_json(chunks[0])["data"]["message"] == {"text": '{}'}     # the other plugin: default echo
    daemon.set_dispatch_handler("acme/echo", "tool/invoke", None)
    _, _, chunks = invoke_events(daemon, tenant)
    assert event_json(chunks[0])["data"]["message"] == {"text": "tool handler"}
    # a route without a handler for this plugin answers the empty stream
    status, headers, chunks, _ = exchange(daemon, "/plugin/%s/dispatch/x_llm/invoke" % tenant, llm_body(),
                                          [("X-Plugin-ID", "acme/echo")])
    assert (status, chunks, headers["content-type"]) == (200, [], "text/event-stream")
    # the tool routes are served by the same mechanism, under /v2 as well
    status, _, chunks, _ = exchange(daemon, "/plugin/%s/dispatch/tool/validate_credentials" % tenant,
                                    b'{"data":{"provider":"echo","credentials":{}}}', [("X-Plugin-ID", "acme/echo")])
    assert (status, chunks) == (200, [b'data: {"code":0,"message":"success","data":{"result":true}}\n\n'])
