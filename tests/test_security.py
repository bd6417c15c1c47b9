"""Security: the daemon key never shows; arguments cannot change the route or inject
headers; TLS verification stays on unless it is turned off explicitly.

* Leaks. Every error path (each daemon error class, HTTP status errors, transport
  errors, invalid responses, argument and configuration errors, install failures),
  ``str()``, ``repr()`` and the formatted traceback of every exception raised, the
  reprs of config, client, transport, timeouts and responses, everything the module
  logs (a handler on its logger at DEBUG, for every test here), and the CLI's output
  for every command that fails, with and without ``--debug`` and ``--json``, in
  process and as a subprocess: all of it is searched for the key, for any 8-character
  piece of its random part, and for the key percent-encoded, JSON-escaped, repr()ed,
  hex- and base64-encoded.
* Routes. For every client method that puts an argument into the URL path or query,
  arguments with ``../``, ``%2e%2e``, ``?``, ``#``, CR/LF and friends are either
  rejected with ``InvalidArgumentError`` before anything is sent, or reach the fake
  daemon on the unchanged route, with the query holding exactly what was passed.
* Headers. Values with CR, LF or any other control character are rejected, for the
  key, the user agent, the URL and every header built from an argument.
* TLS. An ``https://`` URL is verified by default (against a CA made with the
  ``openssl`` command at test time); only ``verify=False`` connects to an unknown
  certificate, and nothing else (falsy values, ``trust_env``, environment variables,
  a global ``ssl`` monkeypatch) turns verification off.

Bugs these tests found are fixed and kept as regression tests (the last section).
Figures for the README are collected in ``FIGURES``
(``tests/hardening_figures.py`` prints them).
"""

import base64
import http.server
import io
import json
import logging
import os
import re
import shutil
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import traceback
import uuid
from urllib.parse import parse_qs, quote, quote_plus, unquote

import pytest

import dify_plugin_client as dpc
from fake_daemon import FakeDaemon, FakePluginError, blob_chunks, go_json, sample_plugin
from faultkit import (Gate, abort, free_port, ok_envelope, raw_response, read_request_body,
                      write_raw)
from helpers import Run

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: The random part of the key: any 8 characters of it in any output count as a leak.
CORE = "Qv7mX2pLr9TzK4wNb6HdJ3sY"
#: The key, with characters that change under percent-encoding, JSON and repr().
KEY = "sk-SECRET-" + CORE + "+/=%\"'\\~\u00e9"
OTHER_KEY = "the-daemon-expects-another-key"

TENANT = "3f6c2b1a-9d4e-4c7b-8a2f-0e1d2c3b4a59"
TASK = "7a1b2c3d-4e5f-4a6b-9c8d-0e1f2a3b4c5d"
INSTALLATION = "0b1c2d3e-4f5a-4b6c-8d7e-9f0a1b2c3d4e"
IDENT = "acme/echo:0.0.1@" + "0" * 64
IDENT_NEW = "acme/echo:0.0.2@" + "1" * 64
PROVIDER = "acme/echo/echo"

#: Figures for the README (tests/hardening_figures.py prints them).
FIGURES = {"outputs_searched": 0, "log_records_searched": 0, "leak_needles": 0,
           "error_scenarios": 0, "cli_runs": 0, "subprocess_runs": 0, "route_cases": 0,
           "header_cases": 0, "tls_cases": 0}


# =============================================================================
# The leak detector
# =============================================================================


def _needles(key, core):
    needles = {key, core, quote(key, safe=""), quote(key), quote_plus(key),
               json.dumps(key)[1:-1], json.dumps(key, ensure_ascii=False)[1:-1],
               repr(key)[1:-1], key.encode("unicode_escape").decode("ascii"),
               key.encode("utf-8").hex(), core.encode("ascii").hex()}
    # any 8 characters of the random part: a masked "sk-S...Nb6H" is a leak too
    needles.update(core[i:i + 8] for i in range(len(core) - 7))
    # base64 at each of the three alignments the key can have inside a larger blob
    # (Basic auth, a base64-encoded body), less the tail that depends on what follows
    for encoding in ("utf-8", "latin-1"):
        data = key.encode(encoding)
        for shift in range(3):
            for encode in (base64.b64encode, base64.urlsafe_b64encode):
                text = encode(data[shift:]).decode("ascii")
                needles.add(text[:len(text) - 4])
    return sorted({needle.lower() for needle in needles if len(needle) >= 6})


#: Searched case-insensitively (the key's random part makes chance matches impossible).
NEEDLES = _needles(KEY, CORE)
#: Searched as they are: the key's fixed prefix ("secret-input" is a parameter type).
EXACT_NEEDLES = ["sk-SECRET", "SECRET-"]
FIGURES["leak_needles"] = len(NEEDLES) + len(EXACT_NEEDLES)


def _as_text(value):
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value)
        return [value.decode("utf-8", "replace"), value.decode("latin-1")]
    if not isinstance(value, str):
        value = repr(value)
    return [value]


def assert_no_key(label, value):
    """Fail if ``value`` (text, bytes or anything with a repr) holds the key in any form."""
    FIGURES["outputs_searched"] += 1
    for text in _as_text(value):
        lowered = text.lower()
        for needle, at in ([(n, lowered.find(n)) for n in NEEDLES]
                           + [(n, text.find(n)) for n in EXACT_NEEDLES]):
            if at >= 0:
                excerpt = text[max(0, at - 60):at + len(needle) + 60]
                pytest.fail("the key leaks in %s (as %r): ...%s..." % (label, needle, excerpt))


def assert_exception_clean(label, exc):
    """str(), repr(), the formatted traceback and every attribute of an exception."""
    assert_no_key(label + " str()", str(exc))
    assert_no_key(label + " repr()", repr(exc))
    assert_no_key(label + " args", exc.args)
    assert_no_key(label + " traceback", "".join(
        traceback.format_exception(type(exc), exc, exc.__traceback__)))
    for name, value in sorted(getattr(exc, "__dict__", {}).items()):
        assert_no_key("%s .%s" % (label, name), value)
    if isinstance(exc, dpc.DifyPluginError):
        for name in ("message", "hint", "route", "code", "error_type", "http_status"):
            assert_no_key("%s .%s" % (label, name), getattr(exc, name))
    if isinstance(exc, dpc.HTTPStatusError):
        assert_no_key(label + " .text", exc.text)
        assert_no_key(label + " .url", exc.url)
        if exc.response is not None:
            assert_no_key(label + " .response", exc.response)
            assert_no_key(label + " .response.headers", exc.response.headers)
            assert_no_key(label + " .response.content", exc.response.content)


class _Capture(logging.Handler):
    def __init__(self):
        logging.Handler.__init__(self, logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.records = []

    def emit(self, record):
        self.records.append((record, self.format(record)))


@pytest.fixture(autouse=True)
def module_log():
    """Everything the module logs during a test, at DEBUG, searched for the key."""
    logger = logging.getLogger("dify_plugin_client")
    capture = _Capture()
    old_level = logger.level
    logger.addHandler(capture)
    logger.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        logger.removeHandler(capture)
        logger.setLevel(old_level)
    for record, formatted in capture.records:
        FIGURES["log_records_searched"] += 1
        assert_no_key("log record", formatted)
        assert_no_key("log record args", record.args)


# =============================================================================
# Fixtures: fake daemons holding KEY (and one expecting another key)
# =============================================================================


@pytest.fixture(scope="module")
def sdaemon():
    """A fake daemon whose key is KEY, with the sample plugin installed for TENANT."""
    daemon = FakeDaemon(key=KEY).start()
    identifier = daemon.add_package(_sample_files())
    daemon.install(TENANT, identifier)
    daemon.sample_identifier = identifier
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture(scope="module")
def wrong_daemon():
    """A fake daemon that expects another key: every keyed call gets the 401 envelope."""
    daemon = FakeDaemon(key=OTHER_KEY).start()
    try:
        yield daemon
    finally:
        daemon.stop()


def _sample_files():
    import zipfile

    with zipfile.ZipFile(io.BytesIO(sample_plugin())) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.fixture
def daemon(sdaemon):
    """The shared KEY daemon, with overrides and install failures reset after each test."""
    yield sdaemon
    sdaemon.remove_overrides()
    sdaemon.fail_install.clear()
    sdaemon.install_delay = 0


def _client(url, key=KEY, **options):
    options.setdefault("timeout", dpc.Timeout(connect=2.0, read=2.0, write=2.0, pool=2.0))
    return dpc.DifyPluginClient(dpc.PluginConfig(url=url, key=key, **options))


@pytest.fixture
def client(daemon):
    with _client(daemon.url) as client:
        yield client


# =============================================================================
# Error paths: every exception, str/repr/traceback/attributes, and the logs
# =============================================================================


def _envelope(code, message):
    return go_json({"code": code, "message": message, "data": None})


def _typed(error_type, message="something failed", args=None):
    return json.dumps({"message": message, "error_type": error_type, "args": args})


def _answer(body, status=200, ctype="application/json; charset=utf-8"):
    def handler(h):
        read_request_body(h)
        h.send_body(status, body, ctype)
    return handler


def _stream_then(events):
    def handler(h):
        read_request_body(h)
        h.start_stream()
        for event in events:
            h.send_event(event)
        h.end_stream()
    return handler


def _invoke(client, tenant=TENANT, **kwargs):
    return list(client.invoke(tenant, "user-1", PROVIDER, "echo", {"api_key": "x"},
                              {"text": "hi"}, **kwargs))


LIST = r"/management/list$"
INVOKE = r"/dispatch/tool/invoke$"

#: (id, expected exception class, fn(ctx)); ctx has .client, .daemon, .wrong, .tmp, .mp
SCENARIOS = []


def scenario(name, expected):
    def register(fn):
        SCENARIOS.append((name, expected, fn))
        return fn
    return register


# --- the daemon's error envelope, every class, plain calls and streams --------

for _type, _cls in sorted(dpc._DAEMON_ERROR_TYPES.items()):
    def _plain(ctx, _type=_type):
        ctx.daemon.add_override("GET", LIST, _answer(_envelope(-500, _typed(_type))))
        ctx.client.list_plugins_with_total(TENANT)
    scenario("envelope-" + _type, _cls)(_plain)

for _code, _cls in sorted(dpc._DAEMON_ERROR_CODES.items()):
    def _by_code(ctx, _code=_code):
        ctx.daemon.add_override("GET", LIST, _answer(_envelope(_code, "plain text message")))
        ctx.client.list_plugins_with_total(TENANT)
    scenario("envelope-code%d" % _code, _cls)(_by_code)

for _type, _cls in sorted(dpc._INVOKE_ERROR_TYPES.items()):
    def _invoke_plain(ctx, _type=_type):
        inner = _typed(_type, "the plugin says no", {"retry_after": 3})
        ctx.daemon.add_override("GET", LIST, _answer(_envelope(
            -500, _typed("PluginInvokeError", inner))))
        ctx.client.list_plugins_with_total(TENANT)

    def _invoke_stream(ctx, _type=_type):
        ctx.daemon.add_override("POST", INVOKE, _stream_then([
            ok_envelope({"type": "text", "message": {"text": "partial"}, "meta": None}),
            _envelope(-500, _typed("PluginInvokeError", _typed(_type, "quota", None)))]))
        _invoke(ctx.client)
    scenario("envelope-invoke-" + _type, _cls)(_invoke_plain)
    scenario("stream-invoke-" + _type, _cls)(_invoke_stream)


@scenario("envelope-unknown-error-type", dpc.PluginDaemonError)
def _(ctx):
    ctx.daemon.add_override("GET", LIST, _answer(_envelope(-999, _typed("SomethingNew"))))
    ctx.client.list_plugins_with_total(TENANT)


@scenario("stream-plugin-error-from-the-fake", dpc.InvokeRateLimitError)
def _(ctx):
    def handler(request):
        yield {"type": "text", "message": {"text": "a"}, "meta": None}
        raise FakePluginError("InvokeRateLimitError", "too many calls", {"retry_after": 3})
    ctx.daemon.set_tool_handler("acme/echo", "echo", "echo", handler)
    try:
        _invoke(ctx.client)
    finally:
        ctx.daemon.set_tool_handler("acme/echo", "echo", "echo", None)


@scenario("endpoint-left-behind", dpc.EndpointLeftBehindError)
def _(ctx):
    listings = []

    def listing(h):  # the plugin had no endpoint; after the failed setup, Dify is down
        listings.append(h)
        h.send_body(200, ok_envelope([]) if len(listings) == 1 else _envelope(
            -500, _typed("PluginDaemonInternalServerError", "failed to decrypt settings")))
    ctx.daemon.add_override("GET", r"/endpoint/list/plugin$", listing)
    ctx.daemon.add_override("POST", r"/endpoint/setup$", _answer(_envelope(-500, _typed(
        "PluginDaemonInternalServerError", "failed to encrypt settings: dial tcp"))))
    ctx.client.create_endpoint(TENANT, "u", IDENT, "e", {"api_key": "k"})


@scenario("endpoint-not-identified", dpc.EndpointNotIdentifiedError)
def _(ctx):
    ctx.daemon.add_override("GET", r"/endpoint/list/plugin$", _answer(ok_envelope([])))
    ctx.daemon.add_override("POST", r"/endpoint/setup$", _answer(ok_envelope(True)))
    ctx.client.create_endpoint(TENANT, "u", IDENT, "e", {})


@scenario("trigger-response-not-http", dpc.HttpMessageError)
def _(ctx):
    ctx.daemon.add_override("POST", r"/dispatch/trigger/dispatch_event$", _stream_then([
        ok_envelope({"user_id": "", "events": [], "payload": {}, "response": "4854"})]))
    ctx.client.dispatch_trigger_event(TENANT, "u", PROVIDER, {"endpoint": "x"},
                                      dpc.RawHttpRequest("GET", "/")).http_response()


@scenario("stream-error-before-the-stream", dpc.PluginDaemonBadRequestError)
def _(ctx):
    ctx.daemon.add_override("POST", INVOKE, _answer(_envelope(
        -400, _typed("PluginDaemonBadRequestError", "bad"))))
    _invoke(ctx.client)


# --- the real 401: the daemon expects another key ------------------------------

@scenario("unauthorized-get", dpc.PluginDaemonUnauthorizedError)
def _(ctx):
    _client(ctx.wrong.url).list_plugins_with_total(TENANT)


@scenario("unauthorized-upload", dpc.PluginDaemonUnauthorizedError)
def _(ctx):
    _client(ctx.wrong.url).upload_pkg(TENANT, sample_plugin())


@scenario("unauthorized-invoke", dpc.PluginDaemonUnauthorizedError)
def _(ctx):
    _invoke(_client(ctx.wrong.url), cast_parameters=False)


@scenario("unauthorized-wait", dpc.PluginDaemonUnauthorizedError)
def _(ctx):
    _client(ctx.wrong.url).wait_for_installation_task(TENANT, TASK, timeout=1)


# --- answers that are not the daemon's: HTTPStatusError ------------------------

@scenario("http-502-html", dpc.HTTPStatusError)
def _(ctx):
    ctx.daemon.add_override("GET", LIST, _answer(
        b"<html><title>502 Bad Gateway</title>nginx</html>", 502, "text/html"))
    ctx.client.list_plugins_with_total(TENANT)


@scenario("http-500-empty", dpc.HTTPStatusError)
def _(ctx):
    ctx.daemon.add_override("POST", r"/uninstall$", _answer(b"", 500, None))
    ctx.client.uninstall(TENANT, INSTALLATION)


@scenario("http-401-proxy", dpc.HTTPStatusError)
def _(ctx):
    ctx.daemon.add_override("GET", LIST, _answer(b"Unauthorized", 401, "text/plain"))
    ctx.client.list_plugins_with_total(TENANT)


@scenario("http-404-unknown-route", dpc.HTTPStatusError)
def _(ctx):
    _client(ctx.daemon.url + "/not-the-daemon").list_plugins_with_total(TENANT)


@scenario("http-503-health", dpc.HTTPStatusError)
def _(ctx):
    ctx.daemon.add_override("GET", r"^/health/check$", _answer(b"down", 503, "text/plain"))
    ctx.client.health()


@scenario("http-redirect-to-another-host", dpc.HTTPStatusError)
def _(ctx):
    def redirect(h):
        write_raw(h, raw_response("HTTP/1.1 302 Found", [
            ("Location", "http://127.0.0.1:%d/elsewhere" % free_port()),
            ("Content-Length", "0")]), close=False)
    ctx.daemon.add_override("GET", LIST, redirect)
    ctx.client.list_plugins_with_total(TENANT)


@scenario("http-redirect-of-a-post", dpc.HTTPStatusError)
def _(ctx):
    def redirect(h):
        read_request_body(h)
        write_raw(h, raw_response("HTTP/1.1 307 Temporary Redirect", [
            ("Location", "/plugin/%s/management/uninstall-elsewhere" % TENANT),
            ("Content-Length", "0")]), close=False)
    ctx.daemon.add_override("POST", r"/uninstall$", redirect)
    ctx.client.uninstall(TENANT, INSTALLATION)


# --- transport errors ------------------------------------------------------------

@scenario("connect-refused-get-retried", dpc.ConnectError)
def _(ctx):
    _client("http://127.0.0.1:%d" % free_port(), retries=1).list_plugins_with_total(TENANT)


@scenario("connect-refused-stream", dpc.ConnectError)
def _(ctx):
    _invoke(_client("http://127.0.0.1:%d" % free_port()), cast_parameters=False)


@scenario("connect-timeout", dpc.ConnectTimeout)
def _(ctx):
    import http.client

    def connect(self):
        raise socket.timeout("timed out")
    ctx.mp.setattr(http.client.HTTPConnection, "connect", connect)
    _client(ctx.daemon.url, retries=0).list_plugins_with_total(TENANT)


@scenario("read-timeout", dpc.ReadTimeout)
def _(ctx):
    gate = Gate()
    ctx.daemon.add_override("GET", LIST, lambda h: gate.wait(5))
    try:
        _client(ctx.daemon.url, timeout=dpc.Timeout(2.0, read=0.2)).list_plugins_with_total(
            TENANT)
    finally:
        gate.release()


@scenario("stream-timeout", dpc.ReadTimeout)
def _(ctx):
    gate = Gate()

    def silent(h):
        read_request_body(h)
        h.start_stream()
        h.send_event(ok_envelope({"type": "text", "message": {"text": "a"}, "meta": None}))
        gate.wait(5)
    ctx.daemon.add_override("POST", INVOKE, silent)
    try:
        _invoke(_client(ctx.daemon.url, stream_timeout=0.2), cast_parameters=False)
    finally:
        gate.release()


@scenario("write-timeout", dpc.WriteTimeout)
def _(ctx):
    import http.client

    def send(self, data):
        raise socket.timeout("timed out")
    ctx.mp.setattr(http.client.HTTPConnection, "send", send)
    _client(ctx.daemon.url).upload_pkg(TENANT, sample_plugin())


@scenario("pool-timeout", dpc.PoolTimeout)
def _(ctx):
    client = _client(ctx.daemon.url, max_connections=1, timeout=dpc.Timeout(2.0, pool=0.2))
    stream = client.invoke(TENANT, "user-1", PROVIDER, "echo", {"api_key": "x"}, {"text": "a"},
                           cast_parameters=False)
    next(stream)  # holds the only connection
    try:
        client.list_plugins_with_total(TENANT)
    finally:
        stream.close()


@scenario("reset-before-response", dpc.RemoteProtocolError)
def _(ctx):
    ctx.daemon.add_override("GET", LIST, abort)
    _client(ctx.daemon.url, retries=1).list_plugins_with_total(TENANT)


@scenario("stream-cut-mid-event", dpc.RemoteProtocolError)
def _(ctx):
    def cut(h):
        read_request_body(h)
        h.start_stream()
        h.send_chunk(b'data: {"code":0,"message":"","data":{"type":"te')
        h.end_stream()
    ctx.daemon.add_override("POST", INVOKE, cut)
    _invoke(ctx.client, cast_parameters=False)


# --- invalid responses ----------------------------------------------------------

@scenario("invalid-not-json", dpc.InvalidResponseError)
def _(ctx):
    ctx.daemon.add_override("GET", LIST, _answer(b"<html>Dify</html>", 200, "text/html"))
    ctx.client.list_plugins_with_total(TENANT)


@scenario("invalid-not-an-envelope", dpc.InvalidResponseError)
def _(ctx):
    ctx.daemon.add_override("GET", LIST, _answer(b'{"list": []}'))
    ctx.client.list_plugins_with_total(TENANT)


@scenario("invalid-health", dpc.InvalidResponseError)
def _(ctx):
    ctx.daemon.add_override("GET", r"^/health/check$", _answer(b"ok", 200, "text/plain"))
    ctx.client.health()


@scenario("invalid-field-types", dpc.ResponseValidationError)
def _(ctx):
    ctx.daemon.add_override("GET", LIST, _answer(ok_envelope({"list": "x", "total": "y"})))
    ctx.client.list_plugins_with_total(TENANT)


@scenario("invalid-stream-event", dpc.InvalidResponseError)
def _(ctx):
    ctx.daemon.add_override("POST", INVOKE, _stream_then([b"not json at all"]))
    _invoke(ctx.client, cast_parameters=False)


@scenario("invalid-stream-message", dpc.ResponseValidationError)
def _(ctx):
    ctx.daemon.add_override("POST", INVOKE, _stream_then([ok_envelope({"type": "text",
                                                                       "message": 5})]))
    _invoke(ctx.client, cast_parameters=False)


@scenario("response-too-large", dpc.ResponseTooLargeError)
def _(ctx):
    _client(ctx.daemon.url, max_response_size=64).list_plugins_with_total(TENANT)


@scenario("blob-too-large", dpc.BlobTooLargeError)
def _(ctx):
    ctx.daemon.set_tool_handler("acme/echo", "echo", "echo",
                                lambda request: blob_chunks(b"x" * 300, chunk=100))
    try:
        _invoke(_client(ctx.daemon.url, max_blob_size=200), cast_parameters=False)
    finally:
        ctx.daemon.set_tool_handler("acme/echo", "echo", "echo", None)


# --- install failures -------------------------------------------------------------

def _start_install(ctx, tenant):
    decoded = ctx.client.upload_pkg(tenant, sample_plugin(version="0.0.9"))
    return ctx.client.install_from_identifiers(tenant, [decoded.unique_identifier], "package")


@scenario("install-failed", dpc.PluginInstallError)
def _(ctx):
    ctx.daemon.fail_install["acme/echo"] = "uv sync failed: no network"
    start = _start_install(ctx, ctx.tenant)
    ctx.client.wait_for_installation_task(ctx.tenant, start.task_id, timeout=5,
                                          poll_interval=0.02)


@scenario("install-timeout", dpc.InstallTimeoutError)
def _(ctx):
    ctx.daemon.install_delay = 5.0
    start = _start_install(ctx, ctx.tenant)
    ctx.client.wait_for_installation_task(ctx.tenant, start.task_id, timeout=0.2,
                                          poll_interval=0.05)


# --- arguments and configuration ---------------------------------------------------

_BAD_CALLS = [
    ("tenant", lambda c: c.list_plugins_with_total("not-a-tenant")),
    ("task", lambda c: c.fetch_plugin_installation_task(TENANT, "../x")),
    ("identifier", lambda c: c.fetch_plugin_manifest(TENANT, "Acme/Echo")),
    ("identifiers", lambda c: c.install_from_identifiers(TENANT, IDENT, "package")),
    ("metas", lambda c: c.install_from_identifiers(TENANT, [IDENT], "package", [{}, {}])),
    ("page", lambda c: c.list_plugins_with_total(TENANT, page=0)),
    ("source", lambda c: c.upgrade_plugin(TENANT, IDENT, IDENT_NEW, "")),
    ("upgrade-same", lambda c: c.upgrade_plugin(TENANT, IDENT, IDENT, "package")),
    ("plugin-ids", lambda c: c.fetch_plugin_installation_by_ids(TENANT, "acme/echo")),
    ("provider", lambda c: c.fetch_tool_provider(TENANT, "Acme/Echo")),
    ("provider-ids", lambda c: c.check_tools_existence(TENANT, "acme/echo/echo")),
    ("credential-type", lambda c: c.invoke(TENANT, "u", PROVIDER, "echo", {}, {},
                                           credential_type="password")),
    ("not-json", lambda c: c.invoke(TENANT, "u", PROVIDER, "echo", {"k": object()}, {},
                                    cast_parameters=False)),
    ("verify-signature", lambda c: c.upload_pkg(TENANT, b"PK", verify_signature="yes")),
    ("missing-file", lambda c: c.upload_pkg(TENANT, "/nonexistent/plugin.difypkg")),
    ("wait-timeout", lambda c: c.wait_for_installation_task(TENANT, TASK, timeout=-1)),
]
for _name, _call in _BAD_CALLS:
    scenario("argument-" + _name, dpc.InvalidArgumentError)(
        lambda ctx, _call=_call: _call(ctx.client))


@scenario("argument-no-such-tool", dpc.ToolNotFoundError)
def _(ctx):
    _invoke_named(ctx.client, "no-such-tool")


def _invoke_named(client, tool):
    return list(client.invoke(TENANT, "u", PROVIDER, tool, {}, {}))


@scenario("tool-parameters", dpc.ToolParameterError)
def _(ctx):
    list(ctx.client.invoke(TENANT, "u", PROVIDER, "echo", {"api_key": "x"},
                           {"text": "hi", "count": "many", "flag": "perhaps"}))


@scenario("package-too-large", dpc.PackageTooLargeError)
def _(ctx):
    _client(ctx.daemon.url, max_package_size=10).upload_pkg(TENANT, sample_plugin())


_BAD_CONFIGS = [
    ("url-scheme", dict(url="ftp://127.0.0.1")),
    ("url-query", dict(url="http://127.0.0.1/?x=1")),
    ("url-userinfo", dict(url="http://user:pw@127.0.0.1")),
    ("url-port", dict(url="http://127.0.0.1:99999")),
    ("url-crlf", dict(url="http://127.0.0.1\r\nX-Injected: 1")),
    ("timeout", dict(timeout=-1)),
    ("verify-missing", dict(verify="/nonexistent/ca.pem")),
    ("verify-type", dict(verify=0)),
    ("trust-env", dict(trust_env="yes")),
    ("pool-size", dict(pool_size=0)),
    ("retries", dict(retries=-1)),
    ("max-size", dict(max_response_size=0)),
    ("cache-ttl", dict(declaration_cache_ttl=-1)),
    ("user-agent", dict(user_agent="ua\r\nX-Injected: 1")),
    ("key-crlf", dict(key=KEY + "\r\nX-Injected: 1")),
    ("key-nul", dict(key=KEY + "\x00")),
    ("key-bytes", dict(key=KEY.encode("utf-8"))),
]
for _name, _options in _BAD_CONFIGS:
    def _bad_config(ctx, _options=_options):
        options = dict(dict(url="http://127.0.0.1:5002", key=KEY), **_options)
        dpc.PluginConfig(**options)
    scenario("config-" + _name, dpc.InvalidArgumentError)(_bad_config)


@scenario("client-needs-a-config", dpc.InvalidArgumentError)
def _(ctx):
    dpc.DifyPluginClient({"url": "http://127.0.0.1:5002", "key": KEY})


class _Ctx(object):
    pass


@pytest.mark.parametrize("name,expected,fn", SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_error_paths_never_show_the_key(name, expected, fn, daemon, wrong_daemon, client,
                                        tmp_path, monkeypatch):
    ctx = _Ctx()
    ctx.daemon, ctx.wrong, ctx.client, ctx.tmp, ctx.mp = daemon, wrong_daemon, client, tmp_path, \
        monkeypatch
    ctx.tenant = str(uuid.uuid4())
    with pytest.raises(dpc.DifyPluginError) as info:
        fn(ctx)
    monkeypatch.undo()
    assert type(info.value) is expected, (name, repr(info.value))
    FIGURES["error_scenarios"] += 1
    assert_exception_clean(name, info.value)


def test_every_error_class_has_a_scenario():
    """Each concrete error class of the module is raised by some scenario above."""
    covered = {expected for _, expected, _ in SCENARIOS}
    every = {cls for cls in vars(dpc).values() if isinstance(cls, type)
             and issubclass(cls, dpc.DifyPluginError)}
    abstract = {dpc.DifyPluginError, dpc.TransportError, dpc.TimeoutException,
                dpc.ConfigError, dpc.ModelNotFoundError}  # from the CLI: see the CLI tests
    assert every - abstract - covered == set()


def test_reprs_never_show_the_key(daemon, client):
    config = client.config
    client.list_plugins_with_total(TENANT)  # a pooled connection, a cached nothing
    daemon.add_override("GET", LIST, _answer(b"<html>bad gateway</html>", 502, "text/html"))
    with pytest.raises(dpc.HTTPStatusError) as info:
        client.list_plugins_with_total(TENANT)
    response = info.value.response
    objects = [config, client, client._transport, dpc.Timeout(3.0, connect=1.0),
               dpc.Timeout(2.0), response, response.request, info.value]
    for obj in objects:
        assert_no_key("repr(%s)" % type(obj).__name__, repr(obj))
        assert_no_key("str(%s)" % type(obj).__name__, str(obj))
        for name in getattr(obj, "__slots__", ()):
            if obj is config and name == "key":
                continue  # config.key is the key, by design
            assert_no_key("%s.%s" % (type(obj).__name__, name), getattr(obj, name, None))
        state = getattr(obj, "__dict__", None)
        if state is not None and obj is not config:  # config.key is the key, by design
            assert_no_key("vars(%s)" % type(obj).__name__, state)
    assert "'***'" in repr(config) and "'***'" in str(config)
    daemon.remove_overrides()
    for entity in (client.health(), client.list_plugins_with_total(TENANT),
                   client.fetch_tool_provider(TENANT, PROVIDER)):
        assert_no_key("repr(%s)" % type(entity).__name__, repr(entity))
        assert_no_key("to_dict(%s)" % type(entity).__name__, entity.to_dict())


# =============================================================================
# The CLI: every command failing, --debug, --json, config, in process
# =============================================================================


@pytest.fixture
def cli(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # expanduser("~/.dify")

    def run(*argv, env=None, stdin=""):
        environ = {"HOME": str(home), "NO_COLOR": "1"}
        environ.update(env or {})
        out, err = io.StringIO(), io.StringIO()
        code = dpc.main(list(argv), environ=environ, stdin=io.StringIO(stdin), stdout=out,
                        stderr=err)
        result = Run(code, out.getvalue(), err.getvalue())
        FIGURES["cli_runs"] += 1
        assert_no_key("CLI %s stdout" % (argv,), result.out)
        assert_no_key("CLI %s stderr" % (argv,), result.err)
        return result

    run.home = home
    return run


@pytest.fixture
def package_file(tmp_path):
    path = tmp_path / "echo.difypkg"
    path.write_bytes(sample_plugin())
    return str(path)


def _commands(package_file):
    """Every CLI command, with arguments that pass the CLI's own checks."""
    return [
        ["list"], ["list", "--page", "1"], ["upload-pkg", "--file", package_file],
        ["upload-bundle", "--file", package_file],
        ["install", "--identifier", IDENT], ["install", "--file", package_file],
        ["invoke", "--user", "ops", "--provider", PROVIDER, "--tool", "echo", "--params",
         '{"text": "hi"}', "--credentials", '{"api_key": "x"}'],
        ["invoke", "--user", "ops", "--provider", PROVIDER, "--tool", "echo", "--no-cast"],
        ["tasks"], ["tasks", "list"], ["tasks", "show", TASK], ["tasks", "wait", TASK],
        ["tasks", "delete", TASK], ["tasks", "delete", TASK, "--identifier", IDENT],
        ["tasks", "delete-all", "--yes"], ["tasks", "delete-all", "--failed"],
        ["uninstall", "acme/echo"], ["uninstall", INSTALLATION],
        ["upgrade", "--identifier", IDENT_NEW], ["upgrade", "--file", package_file],
        ["manifest", IDENT], ["readme", IDENT], ["tools"], ["tools", PROVIDER],
        ["tools", PROVIDER, "echo"], ["missing-deps", IDENT],
    ]


def _key_sources(cli, url):
    """The three ways to give the CLI the key: flag, environment, config file."""
    config = cli.home / "keyed.json"
    config.write_text(json.dumps({"url": url, "key": KEY, "tenant": TENANT}))
    config.chmod(0o600)
    return [
        (["--url", url, "--key", KEY, "--tenant", TENANT], {}),
        ([], {dpc.ENV_URL: url, dpc.ENV_KEY: KEY, dpc.ENV_TENANT: TENANT}),
        (["--config", str(config)], {}),
    ]


def test_cli_every_command_with_a_rejected_key(cli, wrong_daemon, package_file):
    """The daemon refuses the key: exit 4, for every command, every way of giving the key,
    with --debug (tracebacks and request logs) and --json."""
    sources = _key_sources(cli, wrong_daemon.url)
    for number, argv in enumerate(_commands(package_file)):
        flags, env = sources[number % len(sources)]
        for extra in ([], ["--debug"], ["--json", "--debug"]):
            result = cli(*(flags + argv + extra), env=env)
            assert result.code == dpc.EXIT_AUTH, (argv, extra, result)
            assert "unauthorized" in result.err
            if "--debug" in extra:
                assert "Traceback" in result.err and "debug: " in result.err


def test_cli_every_command_against_the_real_key(cli, sdaemon, package_file):
    """Success or the daemon's own refusal, with --debug: nothing shows the key."""
    flags = ["--url", sdaemon.url, "--key", KEY, "--tenant", str(uuid.uuid4())]
    codes = {}
    for argv in _commands(package_file):
        result = cli(*(flags + argv + ["--debug"]))
        codes[" ".join(argv[:2])] = result.code
        assert result.code in (dpc.EXIT_OK, dpc.EXIT_FAILED, dpc.EXIT_USAGE), (argv, result)
    assert codes["list"] == dpc.EXIT_OK and codes["install --file"] == dpc.EXIT_OK


def test_cli_unreachable_and_tls(cli, package_file, tls):
    dead = "http://127.0.0.1:%d" % free_port()
    commands = (["health"], ["list"], ["upload-pkg", "--file", package_file],
                ["invoke", "--user", "u", "--provider", PROVIDER, "--tool", "echo",
                 "--no-cast"])
    for url in (dead, tls.url):
        for number, argv in enumerate(commands):  # GETs are retried twice: keep runs few
            for extra in ([["--debug"]] if number < 2 else [[], ["--debug"]]):
                result = cli(*(["--url", url, "--key", KEY, "--tenant", TENANT] + argv + extra))
                assert result.code == dpc.EXIT_UNREACHABLE, (url, argv, result)
    result = cli("--url", tls.url, "--key", KEY, "health")
    assert "TLS verification failed" in result.err
    assert tls.requests == []


def test_cli_daemon_errors_and_invalid_answers(cli, daemon):
    flags = ["--url", daemon.url, "--key", KEY, "--tenant", TENANT, "--debug"]
    cases = [
        (_answer(_envelope(-500, _typed("PluginDaemonInternalServerError", "db down"))),
         dpc.EXIT_FAILED),
        (_answer(b"<html>502</html>", 502, "text/html"), dpc.EXIT_FAILED),
        (_answer(b"Forbidden", 403, "text/plain"), dpc.EXIT_AUTH),
        (_answer(b"not json", 200, "text/plain"), dpc.EXIT_FAILED),
        (abort, dpc.EXIT_UNREACHABLE),
    ]
    for handler, code in cases:
        daemon.remove_overrides()
        daemon.add_override("*", r"/management/", handler)
        for argv in (["list"], ["tasks", "show", TASK], ["uninstall", "acme/echo"],
                     ["tools", PROVIDER]):
            result = cli(*(flags + argv))
            assert result.code == code, (argv, result)


def test_cli_usage_and_config_errors(cli, sdaemon):
    """Exit 2 for bad arguments, bad settings and bad config files, the key given each way."""
    home = cli.home
    keyed = ["--key", KEY]
    for argv in (["--help"], ["list", "--help"], ["tasks", "show", "--help"], ["--version"]):
        assert cli(*(keyed + argv)).code == dpc.EXIT_OK
    runs = [
        cli(*keyed),                                   # no command: help
        cli(*(keyed + ["no-such-command"])),
        cli(*(keyed + ["list", "--page", "0"])),
        cli(*(keyed + ["invoke"])),
        cli(*(keyed + ["--url", sdaemon.url, "list"])),  # no tenant
        cli(*(keyed + ["--url", sdaemon.url, "--tenant", "nope", "list"])),
        cli(*(keyed + ["--url", "ftp://x", "--tenant", TENANT, "list"])),
        cli(*(keyed + ["--url", "http://x\r\nX-Injected: 1", "--tenant", TENANT, "list"])),
        cli(*(keyed + ["--timeout", "soon", "list"])),
        cli("list", env={dpc.ENV_KEY: KEY, dpc.ENV_TIMEOUT: "-3"}),
        cli(*(keyed + ["--config", str(home / "missing.json"), "list"])),
        cli(*(keyed + ["--url", sdaemon.url, "--tenant", TENANT, "manifest", "Not/An:Id"])),
        cli(*(keyed + ["--url", sdaemon.url, "--tenant", TENANT, "tasks", "show", "../x"])),
        cli(*(keyed + ["--url", sdaemon.url, "--tenant", TENANT, "uninstall", "../../x"])),
        cli(*(keyed + ["--url", sdaemon.url, "--tenant", TENANT, "invoke", "--user", "u",
                       "--provider", PROVIDER, "--tool", "echo", "--params", "{broken"])),
        cli(*(keyed + ["--url", sdaemon.url, "--tenant", TENANT, "invoke", "--user", "u",
                       "--provider", PROVIDER, "--tool", "echo", "--params", "[1]"])),
        cli(*(keyed + ["--url", sdaemon.url, "--tenant", TENANT, "tasks", "delete-all"])),
        cli("--url", sdaemon.url, "--tenant", TENANT, "list"),  # no key at all
        cli("--key", KEY + "\r\nX-Injected: 1", "--url", sdaemon.url, "--tenant", TENANT,
            "list"),
    ]
    # config files that hold the key and are broken in each way
    bodies = {
        "truncated": '{"url": "%s", "key": %s' % (sdaemon.url, json.dumps(KEY)),
        "trailing": '{"key": %s} garbage' % json.dumps(KEY),
        "array": "[%s]" % json.dumps(KEY),
        "key-type": '{"key": [%s]}' % json.dumps(KEY),
        "bad-url": '{"url": "ftp://x", "key": %s, "tenant": "%s"}' % (json.dumps(KEY), TENANT),
        "bad-timeout": '{"key": %s, "timeout": "later"}' % json.dumps(KEY),
        "not-utf8": b'{"key": "' + KEY.encode("latin-1") + b'"}',
    }
    for name, body in bodies.items():
        path = home / ("%s.json" % name)
        path.write_bytes(body if isinstance(body, bytes) else body.encode("utf-8"))
        path.chmod(0o600)
        runs.append(cli("--config", str(path), "list"))
    assert all(run.code == dpc.EXIT_USAGE for run in runs), [r for r in runs
                                                             if r.code != dpc.EXIT_USAGE]


def test_cli_config_show_and_warnings(cli, sdaemon):
    config = cli.home / ".dify"
    config.write_text(json.dumps({"url": sdaemon.url, "key": KEY, "tenant": TENANT}))
    config.chmod(0o644)  # readable by others: the CLI warns
    for argv in (["config"], ["config", "--json"], ["config", "--debug"], ["list", "--debug"]):
        result = cli(*argv)
        assert result.code == dpc.EXIT_OK, result
        assert "chmod 600" in result.err
    shown = json.loads(cli("config", "--json").out)
    assert shown["key"]["value"] == "****"
    for env in ({dpc.ENV_KEY: KEY}, {}):
        flags = [] if env else ["--key", KEY]
        for argv in (["config"], ["config", "--json"]):
            assert cli(*(flags + argv), env=env).code == dpc.EXIT_OK


def test_cli_interrupted(cli, sdaemon, monkeypatch):
    def interrupted(self, tenant_id):
        raise KeyboardInterrupt
    monkeypatch.setattr(dpc.DifyPluginClient, "list_plugins", interrupted)
    result = cli("--url", sdaemon.url, "--key", KEY, "--tenant", TENANT, "--debug", "list")
    assert result.code == dpc.EXIT_INTERRUPTED


def _subprocess(argv, env):
    full_env = dict(os.environ, NO_COLOR="1", PYTHONPATH=REPO)
    for name in (dpc.ENV_URL, dpc.ENV_KEY, dpc.ENV_TIMEOUT, dpc.ENV_TENANT):
        full_env.pop(name, None)
    full_env.update(env)
    result = subprocess.run([sys.executable, "-m", "dify_plugin_client"] + argv,
                            capture_output=True, env=full_env, cwd=REPO, timeout=60)
    FIGURES["subprocess_runs"] += 1
    assert_no_key("subprocess %s stdout" % argv[-3:], result.stdout)
    assert_no_key("subprocess %s stderr" % argv[-3:], result.stderr)
    return result


def test_cli_subprocess_debug(wrong_daemon, sdaemon, tmp_path, tls):
    """As a user runs it: --debug tracebacks and request logs, the key from env and argv."""
    env = {"HOME": str(tmp_path), dpc.ENV_KEY: KEY, dpc.ENV_TENANT: TENANT}
    refused = _subprocess(["--debug", "--url", wrong_daemon.url, "list"], env)
    assert refused.returncode == dpc.EXIT_AUTH
    assert b"Traceback" in refused.stderr and b"debug: GET " in refused.stderr
    shown = _subprocess(["--debug", "--json", "--url", sdaemon.url, "config"], env)
    assert shown.returncode == 0 and json.loads(shown.stdout)["key"]["value"] == "****"
    listed = _subprocess(["--debug", "--key", KEY, "--url", sdaemon.url, "list"], env)
    assert listed.returncode == 0 and b"debug: GET " in listed.stderr
    dead = _subprocess(["--debug", "--key", KEY, "--url", "http://127.0.0.1:%d" % free_port(),
                        "invoke", "--user", "u", "--provider", PROVIDER, "--tool", "echo"], env)
    assert dead.returncode == dpc.EXIT_UNREACHABLE and b"Traceback" in dead.stderr
    tls_run = _subprocess(["--debug", "--url", tls.url, "health"], env)
    assert tls_run.returncode == dpc.EXIT_UNREACHABLE and b"TLS" in tls_run.stderr


# =============================================================================
# Regression tests: leaks and escapes these tests found, since fixed
# =============================================================================


# Was a bug: text the server sends back is copied into errors verbatim (_status_error's
# body snippet, _daemon_error's message); a proxy or daemon that echoes the X-Api-Key
# header puts the key into str(error), the CLI's stderr and HTTPStatusError.text, although
# the README says no error shows it


@pytest.mark.parametrize("kind", ["proxy-page", "daemon-message"])
def test_key_echoed_by_the_server_is_not_shown(daemon, client, kind):
    def echo(h):
        seen = h.headers.get("X-Api-Key", "")
        if kind == "proxy-page":
            h.send_body(502, ("<pre>upstream failed; request had X-Api-Key: %s</pre>"
                              % seen).encode("latin-1"), "text/html")
        else:
            h.send_body(200, _envelope(-401, "invalid key %s" % seen))
    daemon.add_override("GET", LIST, echo)
    with pytest.raises(dpc.DifyPluginError) as info:
        client.list_plugins_with_total(TENANT)
    for text in (str(info.value), repr(info.value)):
        assert_no_key("error with a server-echoed key", text)


# Was a bug: _check_key and the user_agent check reject only C0 controls and DEL; a value
# with a character outside Latin-1 passes PluginConfig, then http.client's putheader
# raises UnicodeEncodeError (not a DifyPluginError) on the first request, and for the key
# its repr() and .object hold the whole key; the CLI lets it escape main() with a
# traceback


@pytest.mark.parametrize("field", ["key", "user_agent"])
def test_header_value_outside_latin1(daemon, field):
    value = KEY + "\u20ac" if field == "key" else "agent \u2028 x"
    options = {"key": value} if field == "key" else {"key": KEY, "user_agent": value}
    try:
        client = _client(daemon.url, **options)
        client.list_plugins_with_total(TENANT)
    except dpc.InvalidArgumentError as exc:
        assert_exception_clean("non-Latin-1 " + field, exc)
    except Exception as exc:  # noqa: BLE001 - what escapes is the point
        assert_no_key("repr of what escaped", repr(exc))
        pytest.fail("%s escaped instead of InvalidArgumentError" % type(exc).__name__)


def test_cli_key_outside_latin1(cli, daemon):
    try:
        result = cli("--url", daemon.url, "--key", KEY + "\u20ac", "--tenant", TENANT, "list")
    except Exception as exc:  # noqa: BLE001
        assert_no_key("repr of what escaped main()", repr(exc))
        pytest.fail("%s escaped main()" % type(exc).__name__)
    assert result.code == dpc.EXIT_USAGE


# =============================================================================
# Routes: no argument can change the route or the query
# =============================================================================

#: Pieces that would change a route or a query if they reached the URL unescaped.
_PAYLOADS = [
    "..", "../", "../../health/check", "./", "%2e%2e", "%2E%2E%2F", "%2e%2e/x", "..%2f..%2f",
    ".%2e", "a/../../x", "a/./b", "?", "?page=999", "#", "#frag", "&", "a&page_size=1", "a=b",
    ";x=1", "\n", "\r\n", "a\r\nX-Injected: 1", "%0d%0aX-Injected:%201",
    " HTTP/1.1\r\nX-Injected: 1\r\n\r\nGET /x", "/", "//evil.example/x", "\\..\\", "\x00",
    "\t", " ", "\x85", "\u2028", "\uff0e\uff0e/", "\u00e9", "@evil.example",
]


def _variants(valid):
    out = []
    for payload in _PAYLOADS:
        out.extend([payload, valid + payload, payload + valid])
    return out


_ALLOWED_HEADERS = {"host", "user-agent", "accept", "x-api-key", "content-type",
                    "content-length", "x-plugin-id"}


class Route(object):
    """What a call may send: (method, path) pairs and the exact query of each."""

    def __init__(self, method, path, query=None):
        self.method, self.path, self.query = method, path, query or {}


def _m(suffix):
    return "/plugin/%s/management/%s" % (TENANT, suffix)


def _check_sent(requests, allowed, label):
    for request in requests:
        matches = [route for route in allowed
                   if route.method == request.method and route.path == request.path]
        assert matches, "%s: a request went to %s %s" % (label, request.method, request.path)
        route = matches[0]
        query = parse_qs(request.raw_query, keep_blank_values=True)
        if route.query is not None:
            expected = {name: list(values) for name, values in route.query.items()
                        if name not in ("page", "page_size")}
            got = {name: values for name, values in query.items()
                   if name not in ("page", "page_size")}
            assert got == expected, "%s: query %r" % (label, request.raw_query)
            assert set(query) <= set(route.query) | {"page", "page_size"}
        names = {name.lower() for name in request.headers.keys()}
        assert names <= _ALLOWED_HEADERS, "%s: headers %r" % (label, sorted(names))
        assert request.headers.get("X-Api-Key") in (KEY, None)
        if request.headers.get("X-Plugin-ID") is not None:
            assert request.headers["X-Plugin-ID"] == "acme/echo"


def _attempt(daemon, call, allowed, label, must_reject=False):
    """Run ``call``; it raises InvalidArgumentError with nothing sent, or sends only
    requests on ``allowed`` routes. Nothing but the module's own errors may escape."""
    FIGURES["route_cases"] += 1
    before = len(daemon.requests)
    rejected = False
    try:
        call()
    except dpc.InvalidArgumentError as exc:
        # (after a request only where one is allowed: invoke fetches the declaration
        # before it can tell that the tool does not exist)
        rejected = True
        # str, repr and attributes (the traceback is searched in the error-path tests)
        assert_no_key(label, (str(exc), repr(exc), vars(exc)))
    except dpc.DifyPluginError:  # the fake refused: fine, if the route was right
        pass
    sent = daemon.requests[before:]
    if must_reject:
        assert rejected and not sent, "%s: not rejected before sending (sent %r)" % (label, sent)
    _check_sent(sent, allowed, label)


_TASK_ROUTE = Route("GET", _m("install/tasks/" + TASK))
_BATCH_ROUTE = Route("POST", _m("installation/fetch/batch"))


def _tenant_calls(c):
    """Every client method, with the tenant id as the argument under test."""
    return [
        ("upload_pkg", lambda t: c.upload_pkg(t, b"PK\x05\x06" + b"\0" * 18)),
        ("upload_bundle", lambda t: c.upload_bundle(t, b"PK\x05\x06" + b"\0" * 18)),
        ("install_from_identifiers", lambda t: c.install_from_identifiers(t, [IDENT],
                                                                          "package")),
        ("fetch_plugin_installation_task", lambda t: c.fetch_plugin_installation_task(t, TASK)),
        ("fetch_plugin_installation_tasks", lambda t: c.fetch_plugin_installation_tasks(t)),
        ("iter_installation_tasks", lambda t: list(c.iter_installation_tasks(t))),
        ("delete_plugin_installation_task",
         lambda t: c.delete_plugin_installation_task(t, TASK)),
        ("delete_all_plugin_installation_task_items",
         lambda t: c.delete_all_plugin_installation_task_items(t)),
        ("delete_plugin_installation_task_item",
         lambda t: c.delete_plugin_installation_task_item(t, TASK, IDENT)),
        ("fetch_missing_dependencies", lambda t: c.fetch_missing_dependencies(t, [IDENT])),
        ("uninstall", lambda t: c.uninstall(t, INSTALLATION)),
        ("upgrade_plugin", lambda t: c.upgrade_plugin(t, IDENT, IDENT_NEW, "package")),
        ("fetch_plugin_installation_by_ids",
         lambda t: c.fetch_plugin_installation_by_ids(t, ["acme/echo"])),
        ("wait_for_installation_task",
         lambda t: c.wait_for_installation_task(t, TASK, timeout=1)),
        ("list_plugins_with_total", lambda t: c.list_plugins_with_total(t)),
        ("list_plugins", lambda t: c.list_plugins(t)),
        ("iter_plugins", lambda t: list(c.iter_plugins(t))),
        ("fetch_plugin_manifest", lambda t: c.fetch_plugin_manifest(t, IDENT)),
        ("decode_plugin_from_identifier", lambda t: c.decode_plugin_from_identifier(t, IDENT)),
        ("fetch_plugin_readme", lambda t: c.fetch_plugin_readme(t, IDENT)),
        ("fetch_plugin_readme_info", lambda t: c.fetch_plugin_readme_info(t, IDENT)),
        ("fetch_plugin_by_identifier", lambda t: c.fetch_plugin_by_identifier(t, IDENT)),
        ("fetch_tool_providers", lambda t: c.fetch_tool_providers(t)),
        ("fetch_tool_provider", lambda t: c.fetch_tool_provider(t, PROVIDER)),
        ("check_tools_existence", lambda t: c.check_tools_existence(t, [PROVIDER])),
        ("fetch_endpoints_page", lambda t: c.fetch_endpoints_page(t)),
        ("iter_endpoints", lambda t: list(c.iter_endpoints(t))),
        ("list_endpoints", lambda t: c.list_endpoints(t)),
        ("list_endpoints_for_single_plugin",
         lambda t: c.list_endpoints_for_single_plugin(t, "acme/echo")),
        ("fetch_endpoint", lambda t: c.fetch_endpoint(t, TASK)),
        ("create_endpoint", lambda t: c.create_endpoint(t, "u", IDENT, "e", {})),
        ("update_endpoint", lambda t: c.update_endpoint(t, "u", TASK, "e", {})),
        ("delete_endpoint", lambda t: c.delete_endpoint(t, TASK)),
        ("enable_endpoint", lambda t: c.enable_endpoint(t, TASK)),
        ("disable_endpoint", lambda t: c.disable_endpoint(t, TASK)),
        ("fetch_agent_strategy_providers", lambda t: c.fetch_agent_strategy_providers(t)),
        ("fetch_agent_strategy_provider",
         lambda t: c.fetch_agent_strategy_provider(t, PROVIDER)),
        ("invoke_agent_strategy",
         lambda t: list(c.invoke_agent_strategy(t, "u", PROVIDER, "s"))),
        ("fetch_datasource_providers", lambda t: c.fetch_datasource_providers(t)),
        ("fetch_datasource_provider", lambda t: c.fetch_datasource_provider(t, PROVIDER)),
        ("validate_datasource_credentials",
         lambda t: c.validate_datasource_credentials(t, "u", PROVIDER, {})),
        ("get_website_crawl", lambda t: list(c.get_website_crawl(t, "u", PROVIDER, "d", {}))),
        ("get_online_document_pages",
         lambda t: c.get_online_document_pages(t, "u", PROVIDER, "d", {})),
        ("get_online_document_page_content", lambda t: list(
            c.get_online_document_page_content(t, "u", PROVIDER, "d", {}, {"page_id": "p"}))),
        ("online_drive_browse_files",
         lambda t: c.online_drive_browse_files(t, "u", PROVIDER, "d", {})),
        ("online_drive_download_file",
         lambda t: list(c.online_drive_download_file(t, "u", PROVIDER, "d", {}, "f"))),
        ("fetch_trigger_providers", lambda t: c.fetch_trigger_providers(t)),
        ("fetch_trigger_provider", lambda t: c.fetch_trigger_provider(t, PROVIDER)),
        ("validate_trigger_credentials",
         lambda t: c.validate_trigger_credentials(t, "u", PROVIDER, {})),
        ("subscribe_trigger", lambda t: c.subscribe_trigger(t, "u", PROVIDER, "https://h/x")),
        ("unsubscribe_trigger",
         lambda t: c.unsubscribe_trigger(t, "u", PROVIDER, {"endpoint": "x"})),
        ("refresh_trigger", lambda t: c.refresh_trigger(t, "u", PROVIDER, {"endpoint": "x"})),
        ("dispatch_trigger_event", lambda t: c.dispatch_trigger_event(
            t, "u", PROVIDER, {"endpoint": "x"}, dpc.RawHttpRequest("GET", "/"))),
        ("invoke_trigger_event", lambda t: c.invoke_trigger_event(
            t, "u", PROVIDER, "e", {"endpoint": "x"}, dpc.RawHttpRequest("GET", "/"))),
        ("fetch_model_providers", lambda t: c.fetch_model_providers(t)),
        ("invoke_llm", lambda t: list(c.invoke_llm(t, "u", "acme/echo", "echo", "m", {}, []))),
        ("get_llm_num_tokens", lambda t: c.get_llm_num_tokens(t, "u", "acme/echo", "echo",
                                                               "llm", "m", {}, [])),
        ("start_model_polling", lambda t: c.start_model_polling(t, "u", "acme/echo", "echo",
                                                                 "m", {}, [])),
        ("check_model_polling", lambda t: c.check_model_polling(t, "u", "acme/echo", "echo",
                                                                 "m", {}, {"a": 1})),
        ("poll_llm", lambda t: c.poll_llm(t, "u", "acme/echo", "echo", "m", {}, [])),
        ("invoke_text_embedding", lambda t: c.invoke_text_embedding(t, "u", "acme/echo", "echo",
                                                                     "m", {}, ["a"])),
        ("invoke_multimodal_embedding",
         lambda t: c.invoke_multimodal_embedding(t, "u", "acme/echo", "echo", "m", {}, ["a"])),
        ("get_text_embedding_num_tokens",
         lambda t: c.get_text_embedding_num_tokens(t, "u", "acme/echo", "echo", "m", {}, ["a"])),
        ("invoke_rerank", lambda t: c.invoke_rerank(t, "u", "acme/echo", "echo", "m", {}, "q",
                                                     ["a"])),
        ("invoke_multimodal_rerank",
         lambda t: c.invoke_multimodal_rerank(t, "u", "acme/echo", "echo", "m", {}, "q", ["a"])),
        ("invoke_tts", lambda t: list(c.invoke_tts(t, "u", "acme/echo", "echo", "m", {}, "a",
                                                   "v"))),
        ("get_tts_model_voices", lambda t: c.get_tts_model_voices(t, "u", "acme/echo", "echo",
                                                                   "m", {})),
        ("invoke_speech_to_text", lambda t: c.invoke_speech_to_text(t, "u", "acme/echo", "echo",
                                                                     "m", {}, b"a")),
        ("invoke_moderation", lambda t: c.invoke_moderation(t, "u", "acme/echo", "echo", "m",
                                                             {}, "a")),
        ("validate_provider_credentials",
         lambda t: c.validate_provider_credentials(t, "u", "acme/echo", "echo", {})),
        ("validate_model_credentials",
         lambda t: c.validate_model_credentials(t, "u", "acme/echo", "echo", "llm", "m", {})),
        ("get_model_schema", lambda t: c.get_model_schema(t, "u", "acme/echo", "echo", "llm",
                                                           "m", {})),
        ("invoke", lambda t: list(c.invoke(t, "u", PROVIDER, "echo", {}, {"text": "a"}))),
        ("validate_tool_credentials",
         lambda t: c.validate_tool_credentials(t, "u", PROVIDER, {})),
        ("get_runtime_parameters",
         lambda t: c.get_runtime_parameters(t, "u", PROVIDER, {}, "echo")),
        ("get_authorization_url", lambda t: c.get_authorization_url(
            t, "u", "acme/echo", "echo", "https://d/cb", {})),
        ("get_credentials", lambda t: c.get_credentials(
            t, "u", "acme/echo", "echo", "https://d/cb", {}, "https://d/cb?code=1")),
        ("refresh_credentials", lambda t: c.refresh_credentials(
            t, "u", "acme/echo", "echo", "https://d/cb", {}, {})),
        ("fetch_dynamic_select_options", lambda t: c.fetch_dynamic_select_options(
            t, "u", "acme/echo", "echo", "echo", {}, "mode")),
        ("list_installed_plugin_ids", lambda t: c.list_installed_plugin_ids(t, "tool")),
        ("list_plugins_by_category", lambda t: c.list_plugins_by_category(t, "tool")),
        ("iter_plugins_by_category", lambda t: list(c.iter_plugins_by_category(t, "tool"))),
        ("list_model_plugin_bindings", lambda t: c.list_model_plugin_bindings(t)),
        ("get_debugging_key", lambda t: c.get_debugging_key(t)),
        ("fetch_asset", lambda t: c.fetch_asset(t, "icon.svg")),
        ("extract_asset", lambda t: c.extract_asset(t, IDENT, "icon.svg")),
    ]


def test_client_methods_are_all_covered(client):
    public = {name for name in dir(dpc.DifyPluginClient) if not name.startswith("_")
              and callable(getattr(dpc.DifyPluginClient, name))}
    covered = {name for name, _ in _tenant_calls(client)}
    # no tenant: health takes no argument, extract_plugin and by_identifier an identifier
    assert public - covered == {"close", "health", "extract_plugin", "by_identifier"}


def test_tenant_id_cannot_change_the_route(daemon, client):
    valid = TENANT
    for name, call in _tenant_calls(client):
        for payload in _variants(valid) + [valid.upper() + "\n", uuid.UUID(valid).hex,
                                           "{%s}" % valid, valid[:-1], valid + "0"]:
            _attempt(daemon, lambda: call(payload), [], "%s(tenant_id=%r)" % (name, payload),
                     must_reject=True)


def test_task_id_cannot_change_the_route(daemon, client):
    calls = [
        ("fetch_plugin_installation_task", lambda v: client.fetch_plugin_installation_task(
            TENANT, v)),
        ("delete_plugin_installation_task", lambda v: client.delete_plugin_installation_task(
            TENANT, v)),
        ("delete_plugin_installation_task_item",
         lambda v: client.delete_plugin_installation_task_item(TENANT, v, IDENT)),
        ("wait_for_installation_task", lambda v: client.wait_for_installation_task(
            TENANT, v, timeout=1)),
    ]
    for name, call in calls:
        for payload in _variants(TASK):
            _attempt(daemon, lambda: call(payload), [], "%s(task_id=%r)" % (name, payload),
                     must_reject=True)


def test_identifier_in_the_path_cannot_change_the_route(daemon, client):
    """delete_plugin_installation_task_item puts the identifier into the path unescaped
    (a catch-all segment): only a valid identifier may get there."""
    route = Route("POST", _m("install/tasks/%s/delete/%s" % (TASK, IDENT)))
    _attempt(daemon, lambda: client.delete_plugin_installation_task_item(TENANT, TASK, IDENT),
             [route], "valid identifier")
    assert daemon.requests[-1].path == route.path
    for payload in _variants(IDENT) + [IDENT.replace("acme/", "../"),
                                       IDENT.replace("acme/echo", "acme/.."),
                                       IDENT + "/../../../uninstall"]:
        _attempt(daemon, lambda: client.delete_plugin_installation_task_item(
            TENANT, TASK, payload), [], "identifier=%r" % payload, must_reject=True)


# Was a bug: _IDENTIFIER_PATTERN's pre-release part is -\w{1,16}, and Python's \w
# matches non-ASCII letters (the daemon's Go \w does not); such an identifier passes
# _check_identifier, and delete_plugin_installation_task_item puts it into the path
# unescaped, where http.client raises UnicodeEncodeError (not InvalidArgumentError)


@pytest.mark.parametrize("tag", ["\u00e9", "\u0663", "\u4e2d"])
def test_identifier_with_a_non_ascii_word_character(daemon, client, tag):
    """Rejected before sending, or sent percent-encoded as that one identifier."""
    payload = "acme/echo:0.0.1-%s@%s" % (tag, "0" * 64)
    before = len(daemon.requests)
    try:
        client.delete_plugin_installation_task_item(TENANT, TASK, payload)
    except dpc.InvalidArgumentError:
        assert len(daemon.requests) == before
        return
    except dpc.DifyPluginError:
        pass
    sent = daemon.requests[before:]
    assert len(sent) == 1
    assert unquote(sent[0].path) == _m("install/tasks/%s/delete/%s" % (TASK, payload))


def test_identifier_in_the_query_cannot_change_the_route(daemon, client):
    calls = [
        ("fetch_plugin_manifest", client.fetch_plugin_manifest, "fetch/manifest",
         lambda v: {"plugin_unique_identifier": [v]}),
        ("decode_plugin_from_identifier", client.decode_plugin_from_identifier,
         "decode/from_identifier",
         lambda v: {"plugin_unique_identifier": [v], "PluginUniqueIdentifier": [v]}),
        ("fetch_plugin_readme", client.fetch_plugin_readme, "fetch/readme",
         lambda v: {"plugin_unique_identifier": [v], "language": ["en_US"]}),
        ("fetch_plugin_by_identifier", client.fetch_plugin_by_identifier, "fetch/identifier",
         lambda v: {"plugin_unique_identifier": [v]}),
    ]
    for name, method, suffix, query in calls:
        _attempt(daemon, lambda: method(TENANT, IDENT), [Route("GET", _m(suffix), query(IDENT))],
                 name + " valid")
        assert daemon.requests[-1].path == _m(suffix)
        for payload in _variants(IDENT):
            _attempt(daemon, lambda: method(TENANT, payload),
                     [Route("GET", _m(suffix), query(payload))],
                     "%s(%r)" % (name, payload), must_reject=True)


def test_identifiers_in_bodies_cannot_change_the_route(daemon, client):
    calls = [
        ("install_from_identifiers", lambda v: client.install_from_identifiers(
            TENANT, [v], "package"), Route("POST", _m("install/identifiers"))),
        ("fetch_missing_dependencies", lambda v: client.fetch_missing_dependencies(TENANT, [v]),
         Route("POST", _m("installation/missing"))),
        ("upgrade_plugin(original)", lambda v: client.upgrade_plugin(TENANT, v, IDENT_NEW,
                                                                     "package"),
         Route("POST", _m("install/upgrade"))),
        ("upgrade_plugin(new)", lambda v: client.upgrade_plugin(TENANT, IDENT, v, "package"),
         Route("POST", _m("install/upgrade"))),
        ("fetch_plugin_installation_by_ids", lambda v: client.fetch_plugin_installation_by_ids(
            TENANT, [v]), _BATCH_ROUTE),
        ("uninstall", lambda v: client.uninstall(TENANT, v), Route("POST", _m("uninstall"))),
    ]
    for name, call, route in calls:
        for payload in _variants(IDENT):
            _attempt(daemon, lambda: call(payload), [route], "%s(%r)" % (name, payload),
                     must_reject=True)


def test_readme_language_stays_one_query_value(daemon, client):
    """The language is free text: it is sent, percent-encoded, as exactly one value."""
    suffix = "fetch/readme"
    for payload in _PAYLOADS + ["en_US&plugin_unique_identifier=evil", "en_US#x",
                                "zh_Hans?x=1"]:
        route = Route("GET", _m(suffix), {"plugin_unique_identifier": [IDENT],
                                          "language": [payload]})
        before = len(daemon.requests)
        _attempt(daemon, lambda: client.fetch_plugin_readme(TENANT, IDENT, language=payload),
                 [route], "language=%r" % payload)
        assert len(daemon.requests) == before + 1, payload  # sent: the route was checked


# Was a bug: fetch_plugin_readme checks only that language is a non-empty str; a lone
# surrogate reaches urlencode() in _Transport.request, which raises UnicodeEncodeError
# (not InvalidArgumentError)


def test_readme_language_with_a_lone_surrogate(daemon, client):
    _attempt(daemon, lambda: client.fetch_plugin_readme(TENANT, IDENT, language="en\ud800"),
             [Route("GET", _m("fetch/readme"))], "language with a surrogate")


def test_provider_cannot_change_the_route_or_headers(daemon, client):
    tool_route = Route("GET", _m("tool"), {"plugin_id": ["acme/echo"], "provider": ["echo"]})
    invoke_route = Route("POST", "/plugin/%s/dispatch/tool/invoke" % TENANT, {})
    _attempt(daemon, lambda: client.fetch_tool_provider(TENANT, PROVIDER), [tool_route],
             "valid provider")
    shapes = []
    for payload in _PAYLOADS:
        shapes.extend([payload, "acme/echo/" + payload, "acme/" + payload + "/echo",
                       payload + "/echo/echo", PROVIDER + payload, payload + PROVIDER])
    for payload in shapes:
        _attempt(daemon, lambda: client.fetch_tool_provider(TENANT, payload), [tool_route],
                 "fetch_tool_provider(%r)" % payload, must_reject=True)
        _attempt(daemon, lambda: list(client.invoke(TENANT, "u", payload, "echo", {}, {})),
                 [tool_route, invoke_route], "invoke(tool_provider=%r)" % payload,
                 must_reject=True)
        _attempt(daemon, lambda: client.check_tools_existence(TENANT, [payload]),
                 [Route("POST", _m("tools/check_existence"))],
                 "check_tools_existence(%r)" % payload, must_reject=True)


def test_invoke_body_arguments_cannot_change_the_route_or_headers(daemon, client):
    """user_id, tool_name and the ids go into the JSON body: the route and headers stay."""
    invoke_route = Route("POST", "/plugin/%s/dispatch/tool/invoke" % TENANT, {})
    tool_route = Route("GET", _m("tool"), {"plugin_id": ["acme/echo"], "provider": ["echo"]})
    for payload in _PAYLOADS:
        for argument in ("user_id", "tool_name", "conversation_id", "app_id", "message_id"):
            kwargs = {"user_id": "u", "tool_name": "echo"}
            kwargs[argument] = payload
            user, tool = kwargs.pop("user_id"), kwargs.pop("tool_name")
            for cast in (False, True):
                _attempt(daemon, lambda: list(client.invoke(
                    TENANT, user, PROVIDER, tool, {"api_key": "x"}, {"text": payload},
                    cast_parameters=cast, **kwargs)), [invoke_route, tool_route],
                    "invoke(%s=%r, cast=%s)" % (argument, payload, cast))
        _attempt(daemon, lambda: client.check_tools_existence(
            TENANT, [{"plugin_id": "acme/echo", "provider_name": payload}]),
            [Route("POST", _m("tools/check_existence"))], "provider_name=%r" % payload)
        _attempt(daemon, lambda: client.install_from_identifiers(TENANT, [IDENT], payload),
                 [Route("POST", _m("install/identifiers"))], "source=%r" % payload)


def test_pages_cannot_change_the_query(daemon, client):
    for value in ["1&page_size=1", "1", 1.0, True, 0, -1, None, "../", [1], "2#"]:
        for call in (lambda: client.list_plugins_with_total(TENANT, page=value),
                     lambda: client.list_plugins_with_total(TENANT, page_size=value),
                     lambda: client.fetch_plugin_installation_tasks(TENANT, page=value),
                     lambda: client.fetch_plugin_installation_tasks(TENANT, page_size=value)):
            _attempt(daemon, call, [], "page=%r" % (value,), must_reject=True)
    for call in (lambda: client.list_plugins_with_total(TENANT, page_size=257),
                 lambda: client.fetch_plugin_installation_tasks(TENANT, page_size=257)):
        _attempt(daemon, call, [], "page_size=257", must_reject=True)
    _attempt(daemon, lambda: client.list_plugins_with_total(TENANT, 2, 3),
             [Route("GET", _m("list"), {})], "valid page")
    assert parse_qs(daemon.requests[-1].raw_query) == {"page": ["2"], "page_size": ["3"]}


def test_upload_file_name_cannot_add_parts_or_headers(daemon, client, tmp_path):
    """The file's name goes into the part's Content-Disposition: quotes, CR and LF are
    escaped, so the form keeps exactly its two fields."""
    route = Route("POST", _m("install/upload/package"), {})
    names = ['a"; name="verify_signature".difypkg', "a\r\nContent-Type: text-evil.difypkg",
             "a\r\n\r\n--dify-plugin-client-x\r\n.difypkg", "..\\..\\x.difypkg", "%22%0d%0a",
             "\u00e9\u4e2d.difypkg", "a\nX-Injected: 1"]
    for name in names:
        path = tmp_path / name
        path.write_bytes(sample_plugin())
        _attempt(daemon, lambda: client.upload_pkg(TENANT, str(path)), [route],
                 "file name %r" % name)
        form = daemon.requests[-1].form
        assert sorted(form) == ["dify_pkg", "verify_signature"], (name, form)
        assert form["verify_signature"] == "false"
        assert form["dify_pkg"][1] == len(sample_plugin())


# =============================================================================
# Headers: CR/LF (and every other control character) rejected
# =============================================================================

_CONTROLS = [chr(code) for code in list(range(0x20)) + [0x7f]]


def test_control_characters_in_the_key_are_rejected_without_echo():
    for char in _CONTROLS:
        for value in (KEY + char, char + KEY, KEY[:10] + char + "X-Injected: 1" + KEY[10:],
                      KEY + char + "\nX-Injected: 1"):
            FIGURES["header_cases"] += 1
            with pytest.raises(dpc.InvalidArgumentError) as info:
                dpc.PluginConfig(url="http://127.0.0.1:5002", key=value)
            assert info.value.argument == "key"
            assert_exception_clean("key with %r" % char, info.value)


def test_control_characters_in_the_user_agent_and_url_are_rejected():
    for char in _CONTROLS:
        FIGURES["header_cases"] += 2
        with pytest.raises(dpc.InvalidArgumentError) as info:
            dpc.PluginConfig(url="http://127.0.0.1:5002", key=KEY,
                             user_agent="agent" + char + "X-Injected: 1")
        assert info.value.argument == "user_agent"
        with pytest.raises(dpc.InvalidArgumentError) as info:
            dpc.PluginConfig(url="http://127.0.0.1:5002/base" + char + "X-Injected: 1", key=KEY)
        assert info.value.argument == "url"


def test_header_guard_of_the_transport(daemon, client):
    """Headers the client builds from arguments go through _check_header_value."""
    for char in _CONTROLS:
        FIGURES["header_cases"] += 1
        before = len(daemon.requests)
        with pytest.raises(dpc.InvalidArgumentError):
            client._transport.request("GET", "/health/check", auth=False,
                                      headers={"X-Plugin-ID": "acme/echo" + char + "X: 1"})
        assert len(daemon.requests) == before


@pytest.mark.parametrize("char", ["\x85", "\x9f", "\u20ac", "\u2028"])
def test_c1_controls_and_non_latin1_are_refused_in_headers(daemon, char):
    """C1 controls (NEL, ...) could end a header line for a lax parser; characters outside
    Latin-1 cannot be sent by http.client: both are refused before anything is sent."""
    FIGURES["header_cases"] += 1
    before = len(daemon.requests)
    for options in ({"key": KEY + char}, {"key": KEY, "user_agent": "agent" + char}):
        with pytest.raises(dpc.InvalidArgumentError) as info:
            _client(daemon.url, **options)
        assert_exception_clean("header value with %r" % char, info.value)
    assert len(daemon.requests) == before


@pytest.mark.parametrize("char", ["\xa0", "\u00e9", "\u00ff"])
def test_latin1_characters_pass_through_as_one_header(daemon, char):
    """Printable non-ASCII Latin-1 characters are sent as they are, in one header line."""
    FIGURES["header_cases"] += 1
    key = KEY + char + "X-Injected: 1"
    daemon.key = key
    try:
        with _client(daemon.url, key=key, user_agent="agent" + char + "X-Injected: 2") as c:
            assert c.list_plugins_with_total(TENANT).total == 1
    finally:
        daemon.key = KEY
    request = daemon.requests[-1]
    assert request.headers["X-Api-Key"] == key
    assert request.headers["User-Agent"] == "agent" + char + "X-Injected: 2"
    assert "X-Injected" not in request.headers


def test_tool_provider_header_is_checked(daemon, client):
    for char in _CONTROLS + ["\x85", "\u2028"]:
        FIGURES["header_cases"] += 1
        _attempt(daemon, lambda: list(client.invoke(
            TENANT, "u", "acme/echo" + char + "X-Injected: 1/echo", "echo", {}, {})), [],
            "X-Plugin-ID with %r" % char, must_reject=True)


# =============================================================================
# TLS: verified unless verify=False
# =============================================================================

_OPENSSL_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = dify-plugin-client test
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[leaf_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[wrong_name_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong-name.invalid
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA and two server certificates (for 127.0.0.1, and for another name)."""
    openssl = shutil.which("openssl")
    if openssl is None:  # pragma: no cover - openssl is on every machine this runs on
        pytest.skip("the openssl command is needed to make test certificates")
    directory = tmp_path_factory.mktemp("pki")
    config = directory / "openssl.cnf"
    config.write_text(_OPENSSL_CONFIG)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(*args):
        subprocess.run([openssl] + list(args), check=True, capture_output=True, cwd=directory,
                       timeout=60)

    run("req", "-x509", "-config", str(config), "-extensions", "ca_ext", *ec,
        "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=dpc test CA")
    run("req", "-new", "-config", str(config), *ec, "-keyout", "server.key",
        "-out", "server.csr", "-subj", "/CN=dpc test server")
    for name, section in (("server.pem", "leaf_ext"), ("wrong-name.pem", "wrong_name_ext")):
        run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-set_serial", str(len(section)), "-days", "2", "-extfile", str(config),
            "-extensions", section, "-out", name)
    return directory


class _TLSHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        self.request.settimeout(5)
        self.request.do_handshake()
        http.server.BaseHTTPRequestHandler.setup(self)

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.requests.append((self.path, dict(self.headers.items())))
        if self.path == "/health/check":
            body = go_json({"status": "ok", "version": "tls", "platform": "local"})
        elif self.path.split("?")[0].endswith("/management/list"):
            body = ok_envelope({"list": [], "total": 0})
        else:
            self.send_response(301)
            self.send_header("Location", self.server.redirect_to or "/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _TLSServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, context):
        self.context = context
        self.requests = []
        self.redirect_to = None
        http.server.ThreadingHTTPServer.__init__(self, ("127.0.0.1", 0), _TLSHandler)

    def server_bind(self):  # no getfqdn() (a DNS lookup)
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def get_request(self):
        sock, address = self.socket.accept()
        return self.context.wrap_socket(sock, server_side=True,
                                        do_handshake_on_connect=False), address

    def handle_error(self, request, client_address):
        pass  # failed handshakes are what several tests are about


class _Running(object):
    def __init__(self, server):
        self.server = server
        self.requests = server.requests
        self.url = "https://127.0.0.1:%d" % server.server_address[1]
        self.thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def _tls_server(pki, certificate):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(pki / certificate), str(pki / "server.key"))
    return _Running(_TLSServer(context))


@pytest.fixture(scope="module")
def tls_server(pki):
    running = _tls_server(pki, "server.pem")
    yield running
    running.stop()


@pytest.fixture
def tls(tls_server):
    del tls_server.requests[:]
    tls_server.server.redirect_to = None
    return tls_server


@pytest.fixture(scope="module")
def tls_wrong_name(pki):
    running = _tls_server(pki, "wrong-name.pem")
    yield running
    running.stop()


def _assert_tls_refused(client, server, label):
    FIGURES["tls_cases"] += 1
    with pytest.raises(dpc.ConnectError) as info:
        client.list_plugins_with_total(TENANT)
    assert type(info.value) is dpc.ConnectError, label
    assert "TLS verification failed" in (info.value.hint or ""), (label, str(info.value))
    assert_exception_clean(label, info.value)
    assert server.requests == [], "%s: a request (and the key) reached the server" % label


def test_tls_is_verified_by_default(tls):
    _assert_tls_refused(_client(tls.url, retries=0), tls, "default config")
    _assert_tls_refused(_client(tls.url, retries=0, verify=True), tls, "verify=True")
    with pytest.raises(dpc.ConnectError):
        _client(tls.url, retries=0).health()  # no key, still verified
    assert tls.requests == []


def test_tls_verify_false_connects(tls):
    FIGURES["tls_cases"] += 1
    with _client(tls.url, verify=False) as client:
        assert client.health().version == "tls"
        assert client.list_plugins_with_total(TENANT).total == 0
    assert [path for path, _ in tls.requests][0] == "/health/check"
    assert tls.requests[-1][1]["X-Api-Key"] == KEY


def test_tls_with_the_ca_bundle_connects_and_checks_the_name(tls, tls_wrong_name, pki):
    FIGURES["tls_cases"] += 1
    with _client(tls.url, verify=str(pki / "ca.pem")) as client:
        assert client.health().version == "tls"
        assert client.list_plugins_with_total(TENANT).total == 0
    del tls_wrong_name.requests[:]
    _assert_tls_refused(_client(tls_wrong_name.url, retries=0, verify=str(pki / "ca.pem")),
                        tls_wrong_name, "certificate for another name")


def test_tls_trusts_a_ca_from_ssl_cert_file(tls, pki, monkeypatch):
    """With the default verify=True, OpenSSL's SSL_CERT_FILE can add a private CA: the
    way to trust one from the CLI, which has no option that weakens verification."""
    FIGURES["tls_cases"] += 1
    monkeypatch.setenv("SSL_CERT_FILE", str(pki / "ca.pem"))
    with _client(tls.url) as client:
        assert client.health().version == "tls"


def test_nothing_but_verify_false_turns_verification_off(tls, monkeypatch):
    for value in (0, None, "", [], {}, "false", "0", "no"):
        FIGURES["tls_cases"] += 1
        with pytest.raises(dpc.InvalidArgumentError) as info:
            dpc.PluginConfig(url=tls.url, key=KEY, verify=value)
        assert info.value.argument == "verify"
    for name, value in (("PYTHONHTTPSVERIFY", "0"), ("CURL_CA_BUNDLE", ""),
                        ("REQUESTS_CA_BUNDLE", ""), ("SSL_CERT_FILE", os.devnull),
                        ("HTTPS_PROXY", ""), ("NO_PROXY", "*")):
        monkeypatch.setenv(name, value)
    # a library elsewhere in the process turning verification off for urllib
    monkeypatch.setattr(ssl, "_create_default_https_context", ssl._create_unverified_context)
    _assert_tls_refused(_client(tls.url, retries=0), tls, "environment and ssl monkeypatch")
    _assert_tls_refused(_client(tls.url, retries=0, trust_env=True), tls, "trust_env=True")


def test_cli_only_insecure_turns_verification_off(cli, tls, pki):
    """No option of any command weakens TLS but --insecure, which warns; --cacert adds a
    CA and keeps verifying (--verify-signature is about packages)."""
    commands = [[], ["config"], ["health"], ["list"], ["upload-pkg"], ["upload-bundle"],
                ["install"], ["invoke"], ["tasks"], ["tasks", "list"], ["tasks", "show"],
                ["tasks", "wait"], ["tasks", "delete"], ["tasks", "delete-all"],
                ["uninstall"], ["upgrade"], ["manifest"], ["readme"], ["tools"],
                ["missing-deps"]]
    for argv in commands:
        result = cli(*(argv + ["--help"]))
        assert result.code == dpc.EXIT_OK, (argv, result)
        options = set(re.findall(r"--[a-z][a-z0-9-]*", result.out))
        assert "--url" in options and "--key" in options, (argv, options)
        weakening = {option for option in options
                     if option not in ("--verify-signature", "--insecure", "--cacert")
                     and re.search(r"insecure|verify|ssl|tls|cert|ca-", option)}
        assert weakening == set(), (argv, weakening)
    flags = ["--url", tls.url, "--key", KEY]
    refused = cli(*(flags + ["health"]))
    assert refused.code == dpc.EXIT_UNREACHABLE and "--cacert PATH" in refused.err
    trusted = cli(*(flags + ["--cacert", str(pki / "ca.pem"), "health"]))
    assert trusted.code == dpc.EXIT_OK and "warning" not in trusted.err, trusted
    insecure = cli(*(flags + ["--insecure", "health"]))
    assert insecure.code == dpc.EXIT_OK and "verification is off" in insecure.err, insecure
    from_env = cli(*(flags + ["health"]), env={"DIFY_PLUGIN_DAEMON_INSECURE": "1"})
    assert from_env.code == dpc.EXIT_OK and "DIFY_PLUGIN_DAEMON_INSECURE" in from_env.err


def test_https_redirect_to_plain_http_is_not_followed(tls, pki, sdaemon):
    """An https daemon redirecting to http (same host) must not get the key in clear."""
    FIGURES["tls_cases"] += 1
    plain_before = len(sdaemon.requests)
    tls.server.redirect_to = sdaemon.url + "/plugin/%s/management/list" % TENANT
    with _client(tls.url, verify=str(pki / "ca.pem")) as client:
        with pytest.raises(dpc.HTTPStatusError) as info:
            client.fetch_plugin_manifest(TENANT, IDENT)  # answered with the redirect
    assert "not followed" in str(info.value)
    assert_exception_clean("https to http redirect", info.value)
    assert len(sdaemon.requests) == plain_before


def test_environment_proxy_is_ignored_by_default(sdaemon, monkeypatch):
    """trust_env is off by default: an HTTP_PROXY in the environment never sees the key."""
    proxy = FakeDaemon(key="proxy").start()
    try:
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
            monkeypatch.setenv(name, proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        with _client(sdaemon.url) as client:
            assert client.list_plugins_with_total(TENANT).total == 1
        assert proxy.requests == []
    finally:
        proxy.stop()


def test_the_detector_finds_each_form_of_the_key():
    """The searches above would see the key percent-encoded, escaped, encoded or cut."""
    raw = KEY.encode("utf-8")
    forms = [KEY, KEY.upper(), quote(KEY, safe=""), quote_plus(KEY), json.dumps(KEY),
             json.dumps({"k": KEY}), repr(KEY), repr(raw), raw.hex(), "X-Api-Key: " + KEY,
             "sk-SECRET-****", CORE[5:13], "..." + CORE[-8:], raw]
    for prefix in ("", "a", "ab"):  # base64 of the key at every alignment in a blob
        blob = (prefix + "user:").encode("utf-8") + raw + b"|tail"
        forms.append(base64.b64encode(blob).decode("ascii"))
        forms.append(base64.urlsafe_b64encode(blob))
    for form in forms:
        with pytest.raises(pytest.fail.Exception):
            assert_no_key("self-test", "some text around %s it" % (form,) if isinstance(
                form, str) else form)
    FIGURES["outputs_searched"] -= len(forms)  # the self-test searched no real output
    for harmless in ("secret-input", "SECRET_KEY", "sk-", "****", TENANT, IDENT):
        assert_no_key("self-test", harmless)
        FIGURES["outputs_searched"] -= 1


def test_keys_are_masked_while_a_config_holds_them_and_no_longer():
    """Keys of live configs are masked in error texts the server sends back; a key no
    config holds any more masks nothing (it could be an ordinary word by then)."""
    import gc

    word = "zebra-%s" % os.getpid()
    config = dpc.PluginConfig(url="http://127.0.0.1:1", key=word)
    twin = dpc.PluginConfig(url="http://127.0.0.1:2", key=word)
    assert word not in str(dpc.DifyPluginError("the server said %s" % word))
    del config
    gc.collect()
    assert word not in str(dpc.DifyPluginError("the server said %s" % word))  # twin holds it
    del twin
    gc.collect()
    assert word in str(dpc.DifyPluginError("the server said %s" % word))


# --- plugin credentials never come back in a dispatch error ----------------------

_ECHOED = "sk-echoed-secret-4711"


class _ErrorStream:
    """A dispatch answer whose one event is a plugin error quoting ``_ECHOED`` back."""

    status_code = 200
    headers = {"content-type": "text/event-stream"}

    def __init__(self):
        inner = json.dumps({"error_type": "InvokeError", "message": "bad key " + _ECHOED,
                            "args": {"echo": [_ECHOED]}})
        event = json.dumps({"code": -500, "data": None,
                            "message": json.dumps({"error_type": "PluginInvokeError",
                                                   "message": inner})})
        self.body = ("data: %s\n\n" % event).encode()

    def iter_raw(self, read_timeout):
        yield self.body

    def set_read_timeout(self, read_timeout):
        pass

    def read_body(self):
        return self.body

    def close(self):
        pass


class _ErrorTransport:
    def request(self, method, path, **options):
        return _ErrorStream()


_T = "6f1c2d3e-0000-4000-8000-00000000beef"
_SECRET_CALLS = {
    "tool invoke": lambda c, s: list(c.invoke(_T, "u", "a/b/p", "t", s, cast_parameters=False)),
    "tool credentials": lambda c, s: c.validate_tool_credentials(_T, "u", "a/b/p", s),
    "runtime parameters": lambda c, s: c.get_runtime_parameters(_T, "u", "a/b/p", s, "t"),
    "llm": lambda c, s: list(c.invoke_llm(_T, "u", "a/b", "p", "m", s, [])),
    "moderation": lambda c, s: c.invoke_moderation(_T, "u", "a/b", "p", "m", s, "text"),
    "oauth url": lambda c, s: c.get_authorization_url(_T, "u", "a/b", "p", "http://r", s),
    "oauth refresh": lambda c, s: c.refresh_credentials(_T, "u", "a/b", "p", "http://r", {}, s),
    "dynamic select": lambda c, s: c.fetch_dynamic_select_options(_T, "u", "a/b", "p", "x", s,
                                                                   "q"),
    "datasource": lambda c, s: c.validate_datasource_credentials(_T, "u", "a/b/p", s),
    "website crawl": lambda c, s: list(c.get_website_crawl(_T, "u", "a/b/p", "d", s)),
    "trigger": lambda c, s: c.validate_trigger_credentials(_T, "u", "a/b/p", s),
    "agent context": lambda c, s: list(c.invoke_agent_strategy(
        _T, "u", "a/b/p", "s", {}, context={"credentials": s})),
}


@pytest.mark.parametrize("name", sorted(_SECRET_CALLS))
def test_dispatch_errors_mask_the_plugin_credentials_of_every_route_group(name):
    """A plugin that quotes its credentials in an error does not put them in the
    client's error: every dispatch route group, not only models."""
    client = dpc.DifyPluginClient(dpc.PluginConfig(url="http://127.0.0.1:9", key="k" * 12))
    client._dispatcher._transport = _ErrorTransport()
    with pytest.raises(dpc.PluginInvokeError) as info:
        _SECRET_CALLS[name](client, {"api_key": _ECHOED, "nested": {"token": _ECHOED}})
    error = info.value
    assert "***" in error.message
    for text in (str(error), repr(error), repr(error.args), repr(vars(error))):
        assert _ECHOED not in text


def test_a_plugin_credential_is_masked_in_the_response_an_error_keeps():
    response = dpc.Response(500, {}, b'{"error": "bad key sk-kept-secret-99"}', "POST",
                            "http://127.0.0.1:9/x")
    error = dpc._status_error(response, "POST /x")
    dpc._mask_credentials(error, ["sk-kept-secret-99"])
    assert b"sk-kept-secret-99" not in error.response.content
    assert "sk-kept-secret-99" not in error.response.text + str(error)


def test_forgetting_a_key_inside_the_key_lock_does_not_hang():
    """A config's finalizer may run (by a garbage collection) while its own thread holds
    the key lock in _remember_key: forgetting must not wait on that thread."""
    def forget_while_locked():
        with dpc._KEYS_LOCK:
            dpc._forget_key("never-remembered-key")

    worker = threading.Thread(target=forget_while_locked, daemon=True)
    worker.start()
    worker.join(5)
    assert not worker.is_alive()


def test_a_trigger_subscription_repr_names_its_properties_not_their_values():
    subscription = dpc.TriggerSubscription.from_dict(
        {"endpoint": "http://127.0.0.1/e/1", "expires_at": 5,
         "parameters": {"token": "tok-secret-1"}, "properties": {"webhook_secret": "whsec-2"}},
        "data")
    for text in (repr(subscription), str(subscription)):
        assert "tok-secret-1" not in text and "whsec-2" not in text
        assert "webhook_secret" in text and "http://127.0.0.1/e/1" in text
    assert subscription.to_dict()["properties"] == {"webhook_secret": "whsec-2"}
