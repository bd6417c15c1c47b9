"""Triggers: discovery, credentials, subscriptions, webhook dispatch and events, the raw
HTTP message helpers, the CLI, and every recorded answer of
tests/transcripts/0.6.10-routes/trigger/."""

import binascii
import copy
import json
import os
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dify_plugin_client as dpc
import route_replay as rr
from extensions_support import (Cli, case_id, check_folder, check_route_group, install_echo,
                                 recorded_declaration, run_case, with_page_size)
from fake_daemon import FakePluginError

CLAIMED_FOLDERS = ("trigger",)
PROVIDER = "e2etest/echotrigger/echotrigger"
PLUGIN = "e2etest/echotrigger"
GOOD = {"api_key": "good"}
SUBSCRIPTION = {"endpoint": "https://hooks.example/t", "expires_at": 1900000000,
                "parameters": {"channel": "c1"}, "properties": {"secret": "s"}}
WEBHOOK = dpc.RawHttpRequest("POST", "/t?src=x", [("Host", "hooks.example"),
                                                  ("Content-Type", "application/json")],
                             b'{"kind": "push"}')


@pytest.fixture
def trigger(client, daemon, tenant):
    return install_echo(client, daemon, tenant, "echotrigger")


@pytest.fixture
def cli(daemon, tenant, tmp_path):
    return Cli(daemon, tenant, tmp_path)


def _sent(daemon, route):
    return [r for r in daemon.requests if r.path.endswith("/dispatch/trigger/" + route)][-1]


def _handle(daemon, route, fn):
    daemon.set_dispatch_handler(PLUGIN, "trigger/" + route, fn)


# =============================================================================
# Raw HTTP messages
# =============================================================================


def test_request_bytes_and_hex():
    request = dpc.RawHttpRequest("POST", "/hook?a=1", {"Content-Type": "text/plain"}, "h\u00e9")
    raw = (b"POST /hook?a=1 HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n"
           b"Content-Length: 3\r\n\r\nh\xc3\xa9")
    assert request.to_bytes() == raw
    assert request.to_hex() == binascii.hexlify(raw).decode()
    assert request.header("content-length") == "3" and request.header("x") is None
    empty = dpc.RawHttpRequest("GET", "/", [("X-A", "1"), ("X-A", "2"), ("host", "h.example")])
    assert empty.to_bytes() == b"GET / HTTP/1.1\r\nX-A: 1\r\nX-A: 2\r\nhost: h.example\r\n\r\n"
    absolute = dpc.RawHttpRequest("GET", "http://a.example:8080/x")
    assert absolute.headers == [("Host", "a.example:8080")]
    assert dpc.RawHttpRequest("GET", "/", version="HTTP/1.0").headers == []
    parsed = dpc.RawHttpRequest.parse(request.to_hex())
    assert (parsed.method, parsed.target, parsed.version, parsed.body) == (
        "POST", "/hook?a=1", "HTTP/1.1", "h\u00e9".encode())
    assert parsed.headers == request.headers and "3 bytes" in repr(parsed)


def test_response_parse_and_build():
    raw = (b"HTTP/1.1 200 \r\nX-Echo-Trigger: 1\r\nContent-Type: application/json\r\n"
           b"Content-Length: 12\r\n\r\n{\"ok\": true}")
    response = dpc.RawHttpResponse.parse(raw)
    assert (response.status, response.reason) == (200, "")
    assert response.header("x-echo-trigger") == "1" and response.json() == {"ok": True}
    built = dpc.RawHttpResponse(404, {"Content-Type": "text/plain"}, "gone")
    assert built.to_bytes() == (b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
                                b"Content-Length: 4\r\n\r\ngone")
    again = dpc.RawHttpResponse.parse(built.to_hex().upper())
    assert (again.status, again.reason, again.text) == (404, "Not Found", "gone")
    assert dpc.RawHttpResponse(299, reason=None).reason == ""
    assert dpc.RawHttpResponse(200, body=b'{"a": [1]}').json() == {"a": [1]}


def test_parse_tolerates_what_senders_do():
    folded = dpc.RawHttpResponse.parse(b"HTTP/1.0 204 No Content\nX-Long: a\n  b\n\n")
    assert folded.status == 204 and folded.header("X-Long") == "a b" and folded.body == b""
    chunked = dpc.RawHttpResponse.parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                        b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n")
    assert chunked.body == b"abcde"
    bare = dpc.RawHttpResponse.parse(b"HTTP/1.1 500")
    assert (bare.status, bare.reason, bare.headers) == (500, "", [])
    latin = dpc.RawHttpResponse.parse(b"HTTP/1.1 200 OK\r\nX-N: caf\xe9\r\n\r\n")
    assert latin.header("X-N") == "caf\u00e9"


@pytest.mark.parametrize("data, needle", [
    (b"", "is empty"),
    ("zz", "not hex text"),
    ("abc", "not hex text"),
    (12, "must be bytes or hex text"),
    (b"HTTP/1.1 2000 OK\r\n\r\n", "does not start with"),
    (b"SMTP 200 OK\r\n\r\n", "does not start with"),
    (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "line 2"),
    (b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", "line 2"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc", "Content-Length 5 but its body is 3"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "not a number"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "only chunked"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab", "cut short"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "not hex"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", "without the last"),
])
def test_bad_responses_are_clear_errors(data, needle):
    with pytest.raises(dpc.HttpMessageError) as info:
        dpc.RawHttpResponse.parse(data)
    assert needle in str(info.value) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("args, needle", [
    (("GE T", "/"), "method"), (("GET", "no-slash"), "target"), (("GET", "/a b"), "target"),
    (("GET", "/caf\u00e9"), "target"), (("GET", "/", {"X": "a\r\nInjected: 1"}), "one line"),
    (("GET", "/", {"Bad Name": "x"}), "not an HTTP token"), (("GET", "/", [("X",)]), "pairs"),
    (("POST", "/", {"Content-Length": "9"}, b"abc"), "does not match the 3-byte body"),
    (("POST", "/", {"Transfer-Encoding": "chunked"}, b"abc"), "without Transfer-Encoding"),
    (("GET", "/", None, 5), "body must be bytes or text"), (("GET", "/", None, b"", "HTTP/x"),
                                                            "version"),
])
def test_bad_requests_are_refused(args, needle):
    with pytest.raises(dpc.HttpMessageError) as info:
        dpc.RawHttpRequest(*args)
    assert needle in str(info.value)


@pytest.mark.parametrize("data, needle", [
    (b"POST /x\r\n\r\n", "does not start with"),
    (b"POST /x HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc", "Content-Length 9"),
])
def test_bad_request_bytes(data, needle):
    with pytest.raises(dpc.HttpMessageError) as info:
        dpc.RawHttpRequest.parse(data)
    assert needle in str(info.value)


_TOKEN = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.",
                 min_size=1, max_size=12)
_VALUE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x2FF,
                                        blacklist_characters="\x7f"), max_size=20)


@settings(max_examples=80, deadline=None)
@given(status=st.integers(100, 999), headers=st.lists(st.tuples(_TOKEN, _VALUE), max_size=5),
       body=st.binary(max_size=200))
def test_responses_round_trip(status, headers, body):
    headers = [(n, v.strip(" \t")) for n, v in headers if n.lower() not in
               ("content-length", "transfer-encoding")]
    built = dpc.RawHttpResponse(status, headers, body, reason="R")
    parsed = dpc.RawHttpResponse.parse(built.to_hex())
    assert (parsed.status, parsed.reason, parsed.headers, parsed.body) == (
        status, "R", built.headers, body)


@settings(max_examples=80, deadline=None)
@given(data=st.binary(max_size=300))
def test_any_bytes_parse_or_fail_clearly(data):
    for parse in (dpc.RawHttpResponse.parse, dpc.RawHttpRequest.parse):
        try:
            parse(data)
        except dpc.HttpMessageError:
            pass


# =============================================================================
# The client against the fake daemon
# =============================================================================


def test_discovery(client, daemon, tenant, trigger):
    [provider] = client.fetch_trigger_providers(tenant)
    assert daemon.requests[-1].query == {"page": ["1"], "page_size": ["256"]}
    assert isinstance(provider, dpc.PluginTriggerProviderEntity)
    declaration = provider.declaration
    assert provider.full_name == PROVIDER == declaration.identity.name
    assert declaration.event("ping").identity.provider == PROVIDER
    assert [p.name for p in declaration.event("ping").parameters] == ["only_kind", "level"]
    assert declaration.event("ping").output_schema["properties"]["kind"] == {"type": "string"}
    assert [c.name for c in declaration.subscription_schema] == ["secret"]
    constructor = declaration.subscription_constructor
    assert constructor.parameters[0].type == "dynamic-select"
    assert [c.name for c in constructor.credentials_schema] == ["api_key"]
    assert constructor.oauth_schema.client_schema[0].name == "client_id"
    one = client.fetch_trigger_provider(tenant, PROVIDER)
    assert daemon.requests[-1].query == {"plugin_id": [PLUGIN], "provider": ["echotrigger"]}
    assert one.declaration.events[0].identity.name == "ping"
    with pytest.raises(dpc.PluginNotFoundError) as info:
        client.fetch_trigger_provider(tenant, PLUGIN + "/nope")
    assert "no trigger provider" in info.value.message


def test_validate_credentials(client, daemon, tenant, trigger):
    assert client.validate_trigger_credentials(tenant, "u", PROVIDER, GOOD) is True
    assert _sent(daemon, "validate_credentials").json() == {
        "user_id": "u", "data": {"provider": "echotrigger", "credentials": GOOD}}
    _handle(daemon, "validate_credentials", lambda call: (_ for _ in ()).throw(FakePluginError(
        "TriggerProviderCredentialValidationError", "api_key must be 'good'")))
    with pytest.raises(dpc.TriggerProviderCredentialValidationError):
        client.validate_trigger_credentials(tenant, "u", PROVIDER, {"api_key": "x"})


def test_subscription_lifecycle(client, daemon, tenant, trigger):
    subscription = client.subscribe_trigger(tenant, "u", PROVIDER, "https://hooks.example/t",
                                            {"channel": "c1"}, GOOD)
    assert isinstance(subscription, dpc.TriggerSubscription)
    assert subscription.endpoint == "https://hooks.example/t"
    assert subscription.parameters == {"channel": "c1"} and subscription.expires_at > 0
    assert _sent(daemon, "subscribe").json()["data"] == {
        "provider": "echotrigger", "endpoint": "https://hooks.example/t",
        "parameters": {"channel": "c1"}, "credentials": GOOD, "credential_type": "api-key"}
    refreshed = client.refresh_trigger(tenant, "u", PROVIDER, subscription, GOOD, "oauth2")
    sent = _sent(daemon, "refresh").json()["data"]
    assert sent["subscription"] == subscription.to_dict() and sent["credential_type"] == "oauth2"
    assert refreshed.endpoint == subscription.endpoint
    result = client.unsubscribe_trigger(tenant, "u", PROVIDER, SUBSCRIPTION)
    assert isinstance(result, dpc.TriggerUnsubscribeResult) and result.success
    assert _sent(daemon, "unsubscribe").json()["data"] == {
        "provider": "echotrigger", "subscription": SUBSCRIPTION, "credentials": {},
        "credential_type": "unauthorized"}
    _handle(daemon, "unsubscribe", lambda call: iter([{"subscription": {
        "success": False, "message": "unknown external_id"}}]))
    refused = client.unsubscribe_trigger(tenant, "u", PROVIDER, SUBSCRIPTION, GOOD)
    assert (refused.success, refused.message) == (False, "unknown external_id")


def test_dispatch_event(client, daemon, tenant, trigger):
    def dispatch(call):
        raw = binascii.unhexlify(call.data["raw_http_request"])
        assert raw == WEBHOOK.to_bytes()
        response = dpc.RawHttpResponse(202, [("X-Echo", "1")], b'{"ok": true}', reason="")
        yield {"user_id": "alice", "events": ["ping"], "payload": {"kind": "push"},
               "response": response.to_hex()}
    _handle(daemon, "dispatch_event", dispatch)
    result = client.dispatch_trigger_event(tenant, "u", PROVIDER, SUBSCRIPTION, WEBHOOK, GOOD)
    assert (result.user_id, result.events, result.payload) == ("alice", ["ping"],
                                                               {"kind": "push"})
    response = result.http_response()
    assert (response.status, response.reason, response.body) == (202, "", b'{"ok": true}')
    assert response.header("x-echo") == "1"
    assert _sent(daemon, "dispatch_event").json()["data"] == {
        "provider": "echotrigger", "subscription": SUBSCRIPTION,
        "raw_http_request": WEBHOOK.to_hex(), "credentials": GOOD, "credential_type": "api-key"}
    for form in (WEBHOOK.to_bytes(), WEBHOOK.to_hex(), WEBHOOK.to_hex().upper()):
        client.dispatch_trigger_event(tenant, "u", PROVIDER, SUBSCRIPTION, form, GOOD)
        assert _sent(daemon, "dispatch_event").json()["data"]["raw_http_request"] == \
            WEBHOOK.to_hex()
    daemon.set_dispatch_handler(PLUGIN, "trigger/dispatch_event", None)  # the SDK's rules
    hostless = b"POST /t HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"  # bytes go as given
    with pytest.raises(dpc.PluginInvokeError) as info:
        client.dispatch_trigger_event(tenant, "u", PROVIDER, SUBSCRIPTION, hostless, GOOD)
    assert info.value.message == "Missing mandatory Host: header"
    _handle(daemon, "dispatch_event", lambda call: iter([{"user_id": "", "events": [],
                                                          "response": "zz"}]))
    broken = client.dispatch_trigger_event(tenant, "u", PROVIDER, SUBSCRIPTION, WEBHOOK)
    with pytest.raises(dpc.HttpMessageError):
        broken.http_response()


def test_dispatch_refuses_a_request_that_is_not_http(client, daemon, tenant, trigger):
    cases = [b"not http", "zz", WEBHOOK.to_bytes().replace(b"Content-Length: 16",
                                                            b"Content-Length: 99"), None]
    for raw in cases:
        with pytest.raises(dpc.InvalidArgumentError) as info:
            client.dispatch_trigger_event(tenant, "u", PROVIDER, SUBSCRIPTION, raw)
        assert info.value.argument == "raw_http_request"
    assert not [r for r in daemon.requests if "/dispatch/" in r.path]


def test_invoke_event(client, daemon, tenant, trigger):
    result = client.invoke_trigger_event(tenant, "u", PROVIDER, "ping", SUBSCRIPTION, WEBHOOK,
                                         payload={"kind": "push"}, credentials=GOOD)
    assert isinstance(result, dpc.TriggerInvokeEventResponse)
    assert result.variables == {"kind": "push"} and result.cancelled is False
    assert _sent(daemon, "invoke_event").json()["data"] == {
        "provider": "echotrigger", "event": "ping", "subscription": SUBSCRIPTION,
        "raw_http_request": WEBHOOK.to_hex(), "parameters": {}, "payload": {"kind": "push"},
        "credentials": GOOD, "credential_type": "api-key"}
    _handle(daemon, "invoke_event", lambda call: iter([{"variables": {}, "cancelled": True}]))
    assert client.invoke_trigger_event(tenant, "u", PROVIDER, "ping", SUBSCRIPTION,
                                       WEBHOOK).cancelled is True
    daemon.set_dispatch_handler(PLUGIN, "trigger/invoke_event", None)
    with pytest.raises(dpc.PluginInvokeError) as info:
        client.invoke_trigger_event(tenant, "u", PROVIDER, "nope", SUBSCRIPTION, WEBHOOK)
    assert "Event `nope` not found" in info.value.message


@pytest.mark.parametrize("call, argument", [
    (lambda c, t: c.subscribe_trigger(t, "u", PROVIDER, ""), "endpoint"),
    (lambda c, t: c.subscribe_trigger(t, "u", PROVIDER, "https://x", "p"), "parameters"),
    (lambda c, t: c.subscribe_trigger(t, "u", PROVIDER, "https://x", credential_type="key"),
     "credential_type"),
    (lambda c, t: c.refresh_trigger(t, "u", PROVIDER, {}), "subscription"),
    (lambda c, t: c.unsubscribe_trigger(t, "u", PROVIDER, "sub"), "subscription"),
    (lambda c, t: c.invoke_trigger_event(t, "u", PROVIDER, "", SUBSCRIPTION, WEBHOOK),
     "event_name"),
    (lambda c, t: c.invoke_trigger_event(t, "u", PROVIDER, "e", SUBSCRIPTION, WEBHOOK,
                                         payload=[1]), "payload"),
    (lambda c, t: c.validate_trigger_credentials(t, "u", "x/y", GOOD), "provider"),
    (lambda c, t: c.validate_trigger_credentials(t, "", PROVIDER, GOOD), "user_id"),
])
def test_bad_arguments_send_nothing(client, daemon, tenant, call, argument):
    with pytest.raises(dpc.InvalidArgumentError) as info:
        call(client, tenant)
    assert info.value.argument == argument and daemon.requests == []


# =============================================================================
# The CLI
# =============================================================================


def test_cli_list_show_validate(cli, daemon, tenant, trigger):
    run = cli("triggers")
    assert run.code == 0 and PROVIDER in run.out and "ping" in run.out, run
    assert cli("triggers", "list", "--json").json()[0]["provider"] == "echotrigger"
    shown = cli("triggers", "show", PROVIDER)
    assert "ping" in shown.out and "channel" in shown.err and "api_key" in shown.err
    assert "only_kind" in cli("triggers", "show", PROVIDER, "ping").out
    assert cli("triggers", "show", PROVIDER, "nope").code == 2
    ok = cli("triggers", "validate", "--provider", PROVIDER, "--credentials", '{"api_key": "g"}')
    assert ok.code == 0 and ok.out == "valid\n"
    _handle(daemon, "validate_credentials", lambda call: (_ for _ in ()).throw(FakePluginError(
        "TriggerProviderCredentialValidationError", "api_key must be 'good'")))
    bad = cli("triggers", "validate", "--provider", PROVIDER, "--credentials", "{}", "--json")
    assert bad.code == 1 and bad.json() == {"provider": PROVIDER, "valid": False,
                                            "error": "api_key must be 'good'"}


def test_cli_subscribe_masks_secret_properties_unless_saved(cli, daemon, tenant, trigger,
                                                            tmp_path):
    _handle(daemon, "subscribe", lambda call: iter([{"subscription": dict(
        SUBSCRIPTION, endpoint=call.data["endpoint"])}]))
    run = cli("triggers", "subscribe", "--provider", PROVIDER, "--endpoint", "https://h/x",
              "--params", '{"channel": "c1"}', "--credentials", json.dumps(GOOD))
    assert run.code == 0, run
    assert run.json()["properties"] == {"secret": "****"} and "--save" in run.err
    saved = tmp_path / "sub.json"
    run = cli("triggers", "subscribe", "--provider", PROVIDER, "--endpoint", "https://h/x",
              "--save", str(saved), "--json")
    assert run.json()["properties"] == {"secret": "****"}
    assert json.loads(saved.read_text())["properties"] == {"secret": "s"}
    assert stat.S_IMODE(os.stat(str(saved)).st_mode) == 0o600
    refreshed = cli("triggers", "refresh", "--provider", PROVIDER, "--subscription",
                    "@" + str(saved))
    assert refreshed.code == 0 and _sent(daemon, "refresh").json()["data"]["subscription"][
        "properties"] == {"secret": "s"}
    calls = len([r for r in daemon.requests if r.path.endswith("/trigger/subscribe")])
    run = cli("triggers", "subscribe", "--provider", PROVIDER, "--endpoint", "https://h/x",
              "--save", str(tmp_path / "missing" / "x.json"))
    assert run.code == 2 and "cannot write" in run.err
    again = cli("triggers", "subscribe", "--provider", PROVIDER, "--endpoint", "https://h/y",
                "--save", str(saved))  # would lose the subscription saved there
    assert again.code == 2 and "already exists" in again.err
    assert json.loads(saved.read_text())["endpoint"] == "https://h/x"
    # checked before the call: no subscription was made that nothing could keep
    assert len([r for r in daemon.requests if r.path.endswith("/trigger/subscribe")]) == calls
    os.chmod(str(saved), 0o644)
    _handle(daemon, "refresh", lambda call: iter([{"subscription": dict(
        SUBSCRIPTION, expires_at=99)}]))
    in_place = cli("triggers", "refresh", "--provider", PROVIDER, "--subscription",
                   "@" + str(saved), "--save", str(saved))
    assert in_place.code == 0, in_place
    assert json.loads(saved.read_text())["expires_at"] == 99
    assert stat.S_IMODE(os.stat(str(saved)).st_mode) == 0o600  # secrets: the owner's only
    _handle(daemon, "refresh", lambda call: (_ for _ in ()).throw(FakePluginError(
        "TriggerProviderCredentialValidationError", "expired")))
    failed = cli("triggers", "refresh", "--provider", PROVIDER, "--subscription",
                 "@" + str(saved), "--save", str(saved))
    assert failed.code == 1 and json.loads(saved.read_text())["expires_at"] == 99
    assert not [name for name in os.listdir(str(tmp_path)) if name.endswith(".part")]


def test_cli_unsubscribe(cli, daemon, tenant, trigger):
    sub = json.dumps(SUBSCRIPTION)
    run = cli("triggers", "unsubscribe", "--provider", PROVIDER, "--subscription", sub)
    assert run.code == 0 and "unsubscribed" in run.err
    _handle(daemon, "unsubscribe", lambda call: iter([{"subscription": {
        "success": False, "message": "unknown external_id"}}]))
    run = cli("triggers", "unsubscribe", "--provider", PROVIDER, "--subscription", sub, "--json")
    assert run.code == 1 and run.json() == {"success": False, "message": "unknown external_id"}


def test_cli_dispatch_and_invoke_event(cli, daemon, tenant, trigger, tmp_path):
    def dispatch(call):
        raw = binascii.unhexlify(call.data["raw_http_request"])
        assert raw.startswith(b"PUT /t?x=1 HTTP/1.1\r\nHost: localhost\r\n"
                              b"Content-Type: application/json\r\n")
        assert raw.endswith(b"Content-Length: 16\r\n\r\n" + b'{"kind": "push"}')
        response = dpc.RawHttpResponse(200, [("X-Echo", "1")], b"thanks", reason="OK")
        yield {"user_id": "alice", "events": ["ping"], "payload": {"kind": "push"},
               "response": response.to_hex()}
    _handle(daemon, "dispatch_event", dispatch)
    body = tmp_path / "push.json"
    body.write_bytes(b'{"kind": "push"}')
    run = cli("triggers", "dispatch", "--provider", PROVIDER, "--subscription",
              json.dumps(SUBSCRIPTION), "--method", "PUT", "--path", "/t?x=1", "--header",
              "Content-Type: application/json", "--body", "@" + str(body))
    assert run.code == 0, run
    assert "events: ping" in run.out and "response: 200 OK" in run.out and "thanks" in run.out
    data = cli("triggers", "dispatch", "--provider", PROVIDER, "--subscription",
               json.dumps(SUBSCRIPTION), "--method", "PUT", "--path", "/t?x=1", "--header",
               "Content-Type: application/json", "--body", "-", "--json",
               stdin='{"kind": "push"}').json()
    assert data["response"] == {"status": 200, "reason": "OK", "body": "thanks",
                                "headers": [["X-Echo", "1"], ["Content-Length", "6"]]}
    bad = cli("triggers", "dispatch", "--provider", PROVIDER, "--subscription", "{}",
              "--header", "no colon")
    assert bad.code == 2 and "--header" in bad.err
    bad = cli("triggers", "dispatch", "--provider", PROVIDER, "--subscription",
              json.dumps(SUBSCRIPTION), "--path", "no slash")
    assert bad.code == 2 and "target" in bad.err
    event = cli("triggers", "invoke-event", "--provider", PROVIDER, "--event", "ping",
                "--subscription", json.dumps(SUBSCRIPTION), "--payload", '{"kind": "push"}',
                "--body", "x")
    assert event.code == 0 and json.loads(event.out) == {"kind": "push"}
    _handle(daemon, "invoke_event", lambda call: iter([{"variables": {}, "cancelled": True}]))
    event = cli("triggers", "invoke-event", "--provider", PROVIDER, "--event", "ping",
                "--subscription", json.dumps(SUBSCRIPTION))
    assert event.code == 0 and "cancelled" in event.err


def test_routes_table_names_real_methods():
    check_route_group("trigger", 8)


# =============================================================================
# The recorded answers (tests/transcripts/0.6.10-routes/trigger/)
# =============================================================================

cases = rr.Cases()
T = rr.TENANT
ECHO = "ceocheck/echotrigger/echotrigger"


def _call(r, client, **overrides):
    """The client method for the recorded request, with its recorded arguments."""
    data = dict(r.body["data"], **overrides)
    route = r.exchange["request"]["path"].rsplit("/", 1)[1]
    args = (T, r.body["user_id"], ECHO)
    credentials = (data.get("credentials"), data.get("credential_type"))
    if route == "validate_credentials":
        return client.validate_trigger_credentials(*args, data["credentials"])
    if route == "subscribe":
        return client.subscribe_trigger(*args, data.get("endpoint", ""), data.get("parameters"),
                                        *credentials)
    if route == "refresh":
        return client.refresh_trigger(*args, data["subscription"], *credentials)
    if route == "unsubscribe":
        return client.unsubscribe_trigger(*args, data["subscription"], *credentials)
    if route == "dispatch_event":
        return client.dispatch_trigger_event(*args, data["subscription"], data["raw_http_request"],
                                             *credentials)
    return client.invoke_trigger_event(*args, data["event"], data.get("subscription"),
                                       data["raw_http_request"], data.get("parameters"),
                                       data.get("payload"), *credentials)


@cases("trigger/validate_credentials.json", 0)
def check_validate(r):
    r.serve()
    assert _call(r, r.client()) is True
    r.check_request()


@cases("trigger/subscribe_refresh_unsubscribe.json", 0, 1)
def check_subscription(r):
    r.serve()
    subscription = _call(r, r.client())
    r.check_request()
    assert isinstance(subscription, dpc.TriggerSubscription)
    assert subscription.to_dict() == r.events[0]["subscription"]


@cases("trigger/subscribe_refresh_unsubscribe.json", 2, 3)
def check_unsubscribe(r):
    r.serve()
    result = _call(r, r.client())
    r.check_request()
    assert result.to_dict() == r.events[0]["subscription"]


@cases("trigger/dispatch_event.json", 0, 1)
def check_dispatch(r):
    r.serve()
    client = r.client()
    if r.body["data"]["credential_type"] == "unauthorized":
        result = _call(r, client, credential_type=None)  # the client's default without credentials
    else:
        result = _call(r, client)
    r.check_request()
    recorded = r.events[0]
    assert (result.user_id, result.events, result.payload, result.response) == (
        recorded["user_id"], recorded["events"], recorded["payload"], recorded["response"])
    response = result.http_response()
    raw = binascii.unhexlify(recorded["response"])
    assert (response.status, response.reason) == (200, "")
    assert response.headers == [("X-Echo-Trigger", "1"), ("Content-Type", "application/json"),
                                ("Content-Length", "32")]
    assert response.body == raw.split(b"\r\n\r\n", 1)[1] and response.json()["ok"] is True
    request = dpc.RawHttpRequest.parse(r.body["data"]["raw_http_request"])
    assert (request.method, request.target) == ("POST", "/triggers/plugin/abc?src=test")


@cases("trigger/invoke_event.json", 0, 1)
def check_invoke_event(r):
    r.serve()
    result = _call(r, r.client())
    r.check_request()
    assert isinstance(result, dpc.TriggerInvokeEventResponse)
    assert result.to_dict() == r.events[0]


@cases("trigger/validate_credentials.json", 1)
@cases("trigger/dispatch_event.json", 2)
@cases("trigger/invoke_event.json", 2, 3)
def check_plugin_error(r):
    r.serve()
    with pytest.raises(dpc.PluginInvokeError) as info:
        _call(r, r.client())
    r.check_request()
    inner = r.error_layers()[-1][0]
    r.check_error(info.value, dpc._INVOKE_ERROR_TYPES.get(inner, dpc.PluginInvokeError))


@cases("trigger/dispatch_event.json", 3)
@cases("trigger/invoke_event.json", 4)
def check_what_the_sdk_needs_is_always_sent(r):
    """Recorded without credential_type (dispatch) or without parameters and payload
    (invoke): the plugin SDK refused them. The client always sends them; its request is
    the recorded one plus those fields (here answered with the recorded refusal)."""
    r.serve()
    with pytest.raises(dpc.PluginInvokeError) as info:
        _call(r, r.client())
    expected = copy.deepcopy(r.exchange)
    data = expected["request"]["body"]["data"]
    if "credential_type" not in data:
        data["credential_type"] = "unauthorized" if not data["credentials"] else "api-key"
    data.setdefault("parameters", {})
    data.setdefault("payload", {})
    if r.name.endswith("dispatch_event.json"):
        del data["parameters"], data["payload"]
    assert rr.request_problems(expected, r.replay.received[0]) == []
    r.check_error(info.value, dpc.PluginInvokeError)
    assert info.value.invoke_error_type == "ValidationError"


@cases("trigger/dispatch_event.json", 4)
@cases("trigger/invoke_event.json", 5)
@cases("trigger/subscribe_refresh_unsubscribe.json", 4)
def check_refused(r):
    """A raw request whose Content-Length lies, no subscription, no endpoint: refused
    before sending; the daemon's (or plugin's) recorded answer still reads as typed."""
    client = r.client()
    with pytest.raises(dpc.InvalidArgumentError) as info:
        _call(r, client)
    assert info.value.argument in ("raw_http_request", "subscription", "endpoint")
    r.check_nothing_sent()
    r.serve()
    with pytest.raises(dpc.PluginDaemonError) as error:
        r.raw_dispatch(client, dpc.TriggerDispatchResponse)
    if r.response["body_kind"] == "json":
        r.check_error(error.value, dpc.PluginDaemonBadRequestError)
    else:
        r.check_error(error.value, dpc.PluginInvokeError)
        assert error.value.message == "HTTP body does not match Content-Length"


def _same_provider(entity, raw):
    declaration = raw["declaration"]
    assert (entity.id, entity.full_name) == (raw["id"], ECHO)
    assert entity.declaration.identity.name == ECHO
    assert [c.name for c in entity.declaration.subscription_schema] == [
        c["name"] for c in declaration["subscription_schema"]]
    constructor = entity.declaration.subscription_constructor
    raw_constructor = declaration["subscription_constructor"]
    assert [(p.name, p.type, p.required) for p in constructor.parameters] == [
        (p["name"], p["type"], p["required"]) for p in raw_constructor["parameters"]]
    assert [c.name for c in constructor.oauth_schema.credentials_schema] == [
        c["name"] for c in raw_constructor["oauth_schema"]["credentials_schema"]]
    for event, raw_event in zip(entity.declaration.events, declaration["events"]):
        assert event.identity.name == raw_event["identity"]["name"]
        assert event.identity.provider == ECHO
        assert event.output_schema == raw_event["output_schema"]
        assert [p.name for p in event.parameters] == [p["name"] for p in raw_event["parameters"]]


@cases("trigger/discovery.json", 0)
def check_list(r):
    r.serve()
    providers = r.client().fetch_trigger_providers(T)
    assert rr.request_problems(with_page_size(r.exchange), r.replay.received[0]) == []
    [provider] = providers
    _same_provider(provider, r.data[0])


@cases("trigger/discovery.json", 1)
def check_get(r):
    r.serve()
    provider = r.client().fetch_trigger_provider(T, ECHO)
    r.check_request()
    _same_provider(provider, r.data)


@cases("trigger/discovery.json", 2)
def check_get_unknown(r):
    r.serve()
    with pytest.raises(dpc.PluginNotFoundError) as info:
        r.client().fetch_trigger_provider(T, "ceocheck/echotrigger/nope")
    r.check_request()
    r.check_not_found(info.value)


@pytest.mark.parametrize("key", cases.keys(), ids=case_id)
def test_recorded_exchange(replay, key):
    run_case(cases, replay, key)


def test_every_recorded_exchange_is_checked():
    check_folder(cases, CLAIMED_FOLDERS)


def test_recorded_manifest_declaration_parses():
    """The upload answer of the trigger plugin (0.6.10-routes/management/)."""
    decoded, declaration = recorded_declaration("install_echotrigger.json",
                                                dpc.TriggerProviderDeclaration, "trigger")
    assert declaration.event("ping") is not None and decoded.manifest.category == "trigger"


def test_a_bare_lf_head_ends_at_its_own_blank_line():
    """A head of bare LF lines ends at the first blank line, even when the body holds
    a CRLF blank line."""
    parsed = dpc.RawHttpRequest.parse(b"POST /h HTTP/1.1\nHost: x\nContent-Length: 6\n\n"
                                      b"ab\r\n\r\n")
    assert parsed.body == b"ab\r\n\r\n" and ("Host", "x") in list(parsed.headers)


_SUBSCRIBE = lambda c, t: c.subscribe_trigger(t, "u", PROVIDER, "https://h/t", {}, GOOD)  # noqa
_REFRESH = lambda c, t: c.refresh_trigger(t, "u", PROVIDER, SUBSCRIPTION, GOOD)  # noqa
_WRITTEN = {"endpoint": "https://h/t", "expires_at": 1, "parameters": None, "properties": {}}


@pytest.mark.parametrize("route, answer, call, path", [
    ("subscribe", {"subscription": {k: v for k, v in _WRITTEN.items() if k != "expires_at"}},
     _SUBSCRIBE, "data.subscription.expires_at"),
    ("subscribe", {"subscription": dict(_WRITTEN, expires_at=None)},
     _SUBSCRIBE, "data.subscription.expires_at"),
    ("refresh", {"subscription": {k: v for k, v in _WRITTEN.items() if k != "endpoint"}},
     _REFRESH, "data.subscription.endpoint"),
    ("refresh", {"subscription": {k: v for k, v in _WRITTEN.items() if k != "properties"}},
     _REFRESH, "data.subscription.properties"),
    ("dispatch_event", {"user_id": "u", "payload": {}, "response": ""},
     lambda c, t: c.dispatch_trigger_event(t, "u", PROVIDER, SUBSCRIPTION, WEBHOOK, GOOD),
     "data.events"),
    ("dispatch_event", {"user_id": "u", "events": ["ping"]},
     lambda c, t: c.dispatch_trigger_event(t, "u", PROVIDER, SUBSCRIPTION, WEBHOOK, GOOD),
     "data.response"),
    ("invoke_event", {"cancelled": False},
     lambda c, t: c.invoke_trigger_event(t, "u", PROVIDER, "ping", SUBSCRIPTION, WEBHOOK, GOOD),
     "data.variables"),
    ("invoke_event", {"variables": {}},
     lambda c, t: c.invoke_trigger_event(t, "u", PROVIDER, "ping", SUBSCRIPTION, WEBHOOK, GOOD),
     "data.cancelled"),
])
def test_a_trigger_answer_missing_a_field_the_daemon_always_writes(client, daemon, tenant,
                                                                   trigger, route, answer,
                                                                   call, path):
    """The daemon's response structs write these keys always, and the SDK writes every
    key of a subscription (parameters may be null): one missing is a broken answer, not
    an event with no variables, a webhook with no reply or a subscription that never
    expires."""
    _handle(daemon, route, lambda request: iter([answer]))  # sent as it is
    with pytest.raises(dpc.ResponseValidationError) as caught:
        call(client, tenant)
    assert caught.value.path == path



def test_a_subscription_with_null_parameters_reads_them_as_empty():
    """The SDK's Subscription.parameters is Optional: null is a real answer."""
    read = dpc.TriggerSubscription.from_dict(_WRITTEN)
    assert (read.endpoint, read.expires_at, read.parameters) == ("https://h/t", 1, {})
    assert dpc.TriggerSubscription().expires_at == -1  # built by hand: never expires


def test_cli_a_subscription_made_but_not_saved_is_kept_elsewhere(cli, daemon, tenant, trigger,
                                                                 tmp_path, monkeypatch):
    """The plugin made the subscription; the disk filled up before --save could write it.
    Unsubscribe needs its properties, so they are kept in a private temporary file."""
    import tempfile

    kept_in = tmp_path / "tmp"
    kept_in.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(kept_in))

    def disk_full(self):
        raise dpc.InvalidArgumentError("--save %s: cannot write: No space left on device"
                                       % self.path, argument="--save")
    monkeypatch.setattr(dpc._ReplacedFile, "commit", disk_full)
    _handle(daemon, "subscribe", lambda call: iter([{"subscription": SUBSCRIPTION}]))
    run = cli("triggers", "subscribe", "--provider", PROVIDER, "--endpoint", "https://h/x",
              "--save", str(tmp_path / "sub.json"))
    [kept] = os.listdir(str(kept_in))
    assert run.code == 1 and "the subscription was made" in run.err and kept in run.err
    assert json.loads((kept_in / kept).read_text())["properties"] == SUBSCRIPTION["properties"]
    assert stat.S_IMODE(os.stat(str(kept_in / kept)).st_mode) == 0o600
    assert sorted(os.listdir(str(tmp_path))) == ["tmp"]  # no .part left, no sub.json
    dash = cli("triggers", "subscribe", "--provider", PROVIDER, "--endpoint", "https://h/x",
               "--save", "-")
    assert dash.code == 2 and "--save takes a file" in dash.err
