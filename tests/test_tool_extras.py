"""Tool extras (credential checks, runtime parameters), OAuth and dynamic select.

Against the fake daemon: each method's exact request and parsing, its errors, and the
``tools-validate`` command. Against the real daemon's recorded answers
(tests/transcripts/0.6.10-routes/{tool,oauth,dynamic_select}): every exchange of those
folders is served on loopback and checked (``test_every_recorded_exchange_is_checked``).
"""

import base64
import binascii
import json

import pytest

import dify_plugin_client as dpc
import route_replay as rr
from extensions_support import case_id, check_folder, run_case, run_cli as run
from fake_daemon import FakePluginError, build_package
from helpers import install_sample, last_request

CLAIMED_FOLDERS = ("tool", "oauth", "dynamic_select")

PROVIDER = "acme/echo/echo"
OAUTH_PLUGIN = "acme/oauthy"
TRIGGER_PLUGIN = "acme/hooky"
SECRETS = {"client_id": "my-client", "client_secret": "s3cret-value"}


@pytest.fixture
def installed(client, tenant):
    return install_sample(client, tenant)


def _manifest(name, section, path):
    return {"version": "0.0.1", "type": "plugin", "author": "acme", "name": name,
            "label": {"en_US": name}, "description": {"en_US": name + " for tests"},
            "icon": "icon.svg", "resource": {"memory": 268435456},
            "plugins": {section: [path]},
            "meta": {"version": "0.0.1", "arch": ["amd64"],
                     "runner": {"language": "python", "version": "3.12", "entrypoint": "main"}},
            "created_at": "2024-01-01T00:00:00Z", "tags": ["utilities"]}


def oauth_tool_package():
    """A tool plugin with an oauth_schema and a dynamic-select parameter."""
    provider = {
        "identity": {"author": "acme", "name": "oauthy", "label": {"en_US": "OAuthy"},
                     "description": {"en_US": "OAuth tools"}, "icon": "icon.svg"},
        "credentials_for_provider": {"api_key": {"type": "secret-input", "required": True,
                                                 "label": {"en_US": "API key"}}},
        "oauth_schema": {
            "client_schema": [{"name": "client_id", "type": "text-input", "required": True,
                               "label": {"en_US": "Client id"}}],
            "credentials_schema": [{"name": "access_token", "type": "secret-input",
                                    "label": {"en_US": "Access token"}}]},
        "extra": {"python": {"source": "provider/oauthy.py"}},
    }
    pick = {"identity": {"name": "pick", "author": "acme", "label": {"en_US": "Pick"}},
            "description": {"human": {"en_US": "Pick one"}, "llm": "Picks one"},
            "parameters": [{"name": "channel", "type": "dynamic-select", "required": True,
                            "form": "form", "label": {"en_US": "Channel"},
                            "human_description": {"en_US": "Where"}},
                           {"name": "text", "type": "string", "form": "llm",
                            "label": {"en_US": "Text"}, "human_description": {"en_US": "What"},
                            "llm_description": "what"}],
            "extra": {"python": {"source": "tools/pick.py"}}}
    return build_package(_manifest("oauthy", "tools", "provider/oauthy.yaml"), provider,
                         {"tools/pick.yaml": pick})


def trigger_package():
    """A trigger plugin: a subscription constructor with OAuth and a dynamic-select
    parameter, and an event with one."""
    select = {"name": "channel", "type": "dynamic-select", "label": {"en_US": "Channel"}}
    provider = {
        "identity": {"author": "acme", "name": "hooky", "label": {"en_US": "Hooky"}},
        "subscription_constructor": {
            "parameters": [select],
            "oauth_schema": {"client_schema": [{"name": "client_id", "type": "text-input"}]}},
        "events": [{"identity": {"name": "ping", "author": "acme"},
                    "parameters": [dict(select, name="level")]}],
    }
    files = {"manifest.yaml": json.dumps(_manifest("hooky", "triggers", "provider/hooky.yaml")),
             "provider/hooky.yaml": json.dumps(provider), "_assets/icon.svg": "<svg/>",
             "main.py": "", "requirements.txt": "dify_plugin==0.10.2\n"}
    return files


@pytest.fixture
def oauthy(daemon, client, tenant):
    """The OAuth tool plugin, installed for ``tenant``."""
    decoded = client.upload_pkg(tenant, oauth_tool_package())
    daemon.install(tenant, decoded.unique_identifier)
    return decoded.unique_identifier


@pytest.fixture
def hooky(daemon, tenant):
    identifier = daemon.add_package(trigger_package())
    daemon.install(tenant, identifier)
    return identifier


def _sent(daemon, suffix):
    request = last_request(daemon, suffix)
    return request, request.json()


# =============================================================================
# Against the fake daemon
# =============================================================================


def test_validate_tool_credentials_request_and_answer(client, daemon, tenant, installed):
    calls = []

    def check(call):
        calls.append(call.data)
        yield {"result": call.data["credentials"].get("api_key") == "good"}

    daemon.set_dispatch_handler("acme/echo", "tool/validate_credentials", check)
    assert client.validate_tool_credentials(tenant, "u1", PROVIDER, {"api_key": "good"}) is True
    request, body = _sent(daemon, "/dispatch/tool/validate_credentials")
    assert request.path == "/plugin/%s/dispatch/tool/validate_credentials" % tenant
    assert request.headers["X-Plugin-ID"] == "acme/echo"
    assert request.headers["Content-Type"] == "application/json"
    assert body == {"user_id": "u1", "data": {"provider": "echo",
                                              "credentials": {"api_key": "good"}}}
    assert client.validate_tool_credentials(tenant, "u1", PROVIDER, {"api_key": "no"}) is False
    assert client.validate_tool_credentials(tenant, "u1", PROVIDER, None) is False
    assert calls[-1] == {"provider": "echo", "credentials": {}}


def test_validate_tool_credentials_plugin_refusal(client, daemon, tenant, installed):
    def refuse(call):
        raise FakePluginError("ToolProviderCredentialValidationError", "api_key is wrong", {})

    daemon.set_dispatch_handler("acme/echo", "tool/validate_credentials", refuse)
    with pytest.raises(dpc.ToolProviderCredentialValidationError) as caught:
        client.validate_tool_credentials(tenant, "u1", PROVIDER, {"api_key": "x"})
    assert isinstance(caught.value, dpc.PluginInvokeError)
    assert caught.value.message == "api_key is wrong"
    daemon.set_dispatch_handler("acme/echo", "tool/validate_credentials", lambda call: iter(()))
    with pytest.raises(dpc.InvalidResponseError, match="without a result"):
        client.validate_tool_credentials(tenant, "u1", PROVIDER, {})


def test_validate_tool_credentials_not_installed(client, tenant):
    with pytest.raises(dpc.PluginNotFoundError):
        client.validate_tool_credentials(tenant, "u1", PROVIDER, {})


@pytest.mark.parametrize("arguments, argument", [
    (("not-a-uuid", "u1", PROVIDER, {}), "tenant_id"),
    ((None, "", PROVIDER, {}), "user_id"),
    ((None, "u1", "a/b/c/d", {}), "provider"),
    ((None, "u1", PROVIDER, ["api_key"]), "credentials"),
])
def test_validate_tool_credentials_arguments(client, daemon, tenant, arguments, argument):
    arguments = (arguments[0] or tenant,) + arguments[1:]
    before = len(daemon.requests)
    with pytest.raises(dpc.InvalidArgumentError) as caught:
        client.validate_tool_credentials(*arguments)
    assert caught.value.argument == argument
    assert len(daemon.requests) == before


def test_get_runtime_parameters(client, daemon, tenant, installed):
    declared = {"name": "region", "type": "select", "form": "form", "required": True,
                "label": {"en_US": "Region"},
                "options": [{"value": "eu", "label": {"en_US": "EU"}}, {"value": 2}]}
    daemon.set_dispatch_handler("acme/echo", "tool/get_runtime_parameters",
                                lambda call: [{"parameters": [declared]}])
    parameters = client.get_runtime_parameters(tenant, "u1", PROVIDER, {"api_key": "k"}, "echo",
                                               conversation_id="c1", app_id="a1")
    assert [p.name for p in parameters] == ["region"]
    assert parameters[0].required and parameters[0].form == "form"
    assert [o.value for o in parameters[0].options] == ["eu", "2"]
    request, body = _sent(daemon, "/dispatch/tool/get_runtime_parameters")
    assert request.headers["X-Plugin-ID"] == "acme/echo"
    assert body == {"user_id": "u1", "conversation_id": "c1", "app_id": "a1",
                    "data": {"provider": "echo", "tool": "echo",
                             "credentials": {"api_key": "k"}}}


def test_get_runtime_parameters_empty_stream(client, daemon, tenant, installed):
    """What the plugin SDK answers (0.6.10-routes/tool/get_runtime_parameters.json)."""
    daemon.set_dispatch_handler("acme/echo", "tool/get_runtime_parameters",
                                lambda call: iter(()))
    with pytest.raises(dpc.InvalidResponseError) as caught:
        client.get_runtime_parameters(tenant, "u1", PROVIDER, {}, "echo")
    error = caught.value
    assert type(error) is dpc.InvalidResponseError
    assert "zero events" in error.message and "tool/get_runtime_parameters" in error.message
    assert "dify_plugin 0.10.2" in error.hint
    with pytest.raises(dpc.InvalidArgumentError):
        client.get_runtime_parameters(tenant, "u1", PROVIDER, {}, "")


def test_oauth_flow(client, daemon, tenant, oauthy):
    url = client.get_authorization_url(tenant, "u1", OAUTH_PLUGIN, "oauthy",
                                       "https://dify.example/cb", SECRETS)
    assert isinstance(url, dpc.PluginOAuthAuthorizationUrlResponse)
    assert url.authorization_url.startswith("https://auth.example.invalid/authorize?")
    assert "client_id=my-client" in url.authorization_url
    request, body = _sent(daemon, "/dispatch/oauth/get_authorization_url")
    assert request.headers["X-Plugin-ID"] == OAUTH_PLUGIN
    assert body == {"user_id": "u1", "data": {"provider": "oauthy",
                                              "redirect_uri": "https://dify.example/cb",
                                              "system_credentials": SECRETS}}

    granted = client.get_credentials(tenant, "u1", OAUTH_PLUGIN, OAUTH_PLUGIN + "/oauthy",
                                     "https://dify.example/cb", SECRETS,
                                     "https://dify.example/cb?code=abc123&state=x")
    assert granted.credentials == {"access_token": "at-abc123", "refresh_token": "rt-abc123"}
    assert granted.expires_at > 0 and granted.metadata == {}
    assert "at-abc123" not in repr(granted) and "access_token" in repr(granted)
    _, body = _sent(daemon, "/dispatch/oauth/get_credentials")
    assert body["data"]["provider"] == "oauthy"
    assert binascii.unhexlify(body["data"]["raw_http_request"]) == (
        b"GET /cb?code=abc123&state=x HTTP/1.1\r\nHost: dify.example\r\n\r\n")

    raw = b"POST /cb?code=zz HTTP/1.1\r\nHost: h\r\nCookie: s=1\r\n\r\nbody"
    again = client.get_credentials(tenant, "u1", OAUTH_PLUGIN, "oauthy", "https://d/cb", {}, raw)
    assert again.credentials["access_token"] == "at-zz"
    assert binascii.unhexlify(_sent(daemon, "/get_credentials")[1]["data"]["raw_http_request"]) \
        == raw

    refreshed = client.refresh_credentials(tenant, "u1", OAUTH_PLUGIN, "oauthy", "https://d/cb",
                                           SECRETS, granted.credentials)
    assert refreshed.credentials["access_token"] == "at-refreshed-rt-abc123"
    _, body = _sent(daemon, "/dispatch/oauth/refresh_credentials")
    assert body["data"] == {"provider": "oauthy", "redirect_uri": "https://d/cb",
                            "system_credentials": SECRETS, "credentials": granted.credentials}


def test_oauth_plugin_errors(client, daemon, tenant, oauthy, installed):
    with pytest.raises(dpc.ToolProviderOAuthError) as caught:
        client.get_credentials(tenant, "u1", OAUTH_PLUGIN, "oauthy", "https://d/cb", {},
                               "https://d/cb?state=only")
    assert caught.value.message == "no ?code= in the callback request"
    with pytest.raises(dpc.PluginInvokeError) as caught:  # the echo provider has no OAuth
        client.get_authorization_url(tenant, "u1", "acme/echo", "echo", "https://d/cb", {})
    assert caught.value.invoke_error_type == "ValueError"
    assert "does not support OAuth" in caught.value.message


@pytest.mark.parametrize("change, argument", [
    ({"plugin_id": "Not A Plugin"}, "plugin_id"),
    ({"provider": "other/plugin/oauthy"}, "provider"),
    ({"provider": ""}, "provider"),
    ({"redirect_uri": ""}, "redirect_uri"),
    ({"system_credentials": "secret"}, "system_credentials"),
    ({"request": b""}, "request"),
    ({"request": "not a url"}, "request"),
    ({"request": "ftp://host/cb?code=1"}, "request"),
    ({"request": 42}, "request"),
])
def test_oauth_arguments(client, daemon, tenant, change, argument):
    arguments = dict(plugin_id=OAUTH_PLUGIN, provider="oauthy", redirect_uri="https://d/cb",
                     system_credentials={}, request="https://d/cb?code=1")
    arguments.update(change)
    before = len(daemon.requests)
    with pytest.raises(dpc.InvalidArgumentError) as caught:
        client.get_credentials(tenant, "u1", **arguments)
    assert caught.value.argument == argument
    assert len(daemon.requests) == before
    with pytest.raises(dpc.InvalidArgumentError):
        client.refresh_credentials(tenant, "u1", OAUTH_PLUGIN, "oauthy", "https://d/cb", {}, None)


def test_dynamic_select_for_a_tool(client, daemon, tenant, oauthy):
    answer = client.fetch_dynamic_select_options(tenant, "u1", OAUTH_PLUGIN, "oauthy", "pick",
                                                 {"api_key": "k"}, "channel",
                                                 credential_type="api-key")
    assert isinstance(answer, dpc.PluginDynamicSelectOptionsResponse)
    assert [o.value for o in answer.options] == ["channel-1", "channel-2"]
    assert answer.options[0].label.get("ja_JP") == "channel 1" and answer.options[0].icon == ""
    request, body = _sent(daemon, "/dispatch/dynamic_select/fetch_parameter_options")
    assert request.headers["X-Plugin-ID"] == OAUTH_PLUGIN
    assert body == {"user_id": "u1", "data": {
        "provider": "oauthy", "provider_action": "pick", "parameter": "channel",
        "credentials": {"api_key": "k"}, "credential_type": "api-key"}}
    client.fetch_dynamic_select_options(tenant, "u1", OAUTH_PLUGIN, "oauthy", "pick", None,
                                        "channel")
    assert _sent(daemon, "/fetch_parameter_options")[1]["data"] == {
        "provider": "oauthy", "provider_action": "pick", "parameter": "channel",
        "credentials": {}}
    with pytest.raises(dpc.PluginInvokeError, match="no dynamic options for parameter 'text'"):
        client.fetch_dynamic_select_options(tenant, "u1", OAUTH_PLUGIN, "oauthy", "pick", {},
                                            "text")
    with pytest.raises(dpc.InvalidArgumentError) as caught:
        client.fetch_dynamic_select_options(tenant, "u1", OAUTH_PLUGIN, "oauthy", "pick", {},
                                            "channel", credential_type="password")
    assert caught.value.argument == "credential_type"


def test_dynamic_select_for_a_trigger(client, daemon, tenant, hooky):
    constructor = client.fetch_dynamic_select_options(tenant, "u1", TRIGGER_PLUGIN, "hooky",
                                                      "provider", {}, "channel")
    assert [o.value for o in constructor.options] == ["channel-1", "channel-2"]
    event = client.fetch_dynamic_select_options(tenant, "u1", TRIGGER_PLUGIN, "hooky", "ping",
                                                {}, "level", credential_type="unauthorized")
    assert [o.value for o in event.options] == ["level-1", "level-2"]
    assert _sent(daemon, "/fetch_parameter_options")[1]["data"]["provider_action"] == "ping"
    with pytest.raises(dpc.PluginInvokeError, match="Cannot find the target"):
        client.fetch_dynamic_select_options(tenant, "u1", TRIGGER_PLUGIN, "hooky", "nope", {},
                                            "level")


def test_trigger_oauth(client, daemon, tenant, hooky):
    url = client.get_authorization_url(tenant, "u1", TRIGGER_PLUGIN, "hooky", "https://d/cb",
                                       {"client_id": "tc"})
    assert "client_id=tc" in url.authorization_url


# --- the command line ---------------------------------------------------------------


def test_cli_tools_validate(daemon, tenant, installed):
    def check(call):
        if call.data["credentials"].get("api_key") != "good":
            raise FakePluginError("ToolProviderCredentialValidationError",
                                  "api_key %s is not valid" % call.data["credentials"]["api_key"],
                                  {})
        yield {"result": True}

    daemon.set_dispatch_handler("acme/echo", "tool/validate_credentials", check)
    assert run(daemon, tenant, "tools-validate", PROVIDER, "--credentials",
               '{"api_key": "good"}') == (0, "valid\n", "")
    code, out, err = run(daemon, tenant, "tools-validate", PROVIDER, "--credentials", "-",
                         stdin='{"api_key": "sk-secret-123"}')
    assert code == 1 and out == "not valid: api_key *** is not valid\n"
    assert "sk-secret-123" not in out + err
    code, out, _ = run(daemon, tenant, "--json", "tools-validate", PROVIDER, "--user", "u9",
                       "--credentials", '{"api_key": "sk-secret-123"}')
    assert code == 1 and json.loads(out) == {"provider": PROVIDER, "valid": False,
                                             "error": "api_key *** is not valid"}
    assert last_request(daemon, "/validate_credentials").json()["user_id"] == "u9"
    assert json.loads(run(daemon, tenant, "--json", "tools-validate", PROVIDER,
                          "--credentials", '{"api_key": "good"}')[1])["valid"] is True


def test_cli_tools_validate_errors(daemon, tenant, installed):
    code, _, err = run(daemon, tenant, "tools-validate", PROVIDER, "--credentials", "[1]")
    assert code == 2 and "must be a JSON object" in err
    code, _, err = run(daemon, tenant, "tools-validate", "acme/other/other", "--credentials", "{}")
    assert code == 1 and "PluginNotFoundError" in err
    code, _, err = run(daemon, tenant, "tools-validate", PROVIDER)
    assert code == 2 and "--credentials" in err


# =============================================================================
# Against the recorded answers (0.6.10-routes/{tool,oauth,dynamic_select})
# =============================================================================

cases = rr.Cases()
ECHOTOOL = "ceocheck/echotool/echotool"
_CONTEXT_KEYS = ("conversation_id", "app_id", "message_id")


def _data(rec):
    return rec.body["data"]


@cases("tool/get_runtime_parameters.json", 0, 1, 2)
def _runtime_parameters(rec):
    rec.serve()
    data = _data(rec)
    with pytest.raises(dpc.InvalidResponseError) as caught:
        rec.client().get_runtime_parameters(rr.TENANT, rr.USER, ECHOTOOL, data["credentials"],
                                            data["tool"])
    assert type(caught.value) is dpc.InvalidResponseError and "zero events" in str(caught.value)
    rec.check_request()


@cases("tool/validate_credentials.json", 0)
def _validate_good(rec):
    rec.serve()
    assert rec.client().validate_tool_credentials(rr.TENANT, rr.USER, ECHOTOOL,
                                                  _data(rec)["credentials"]) is True
    rec.check_request()


@cases("tool/validate_credentials.json", 1, 2)
def _validate_refused(rec):
    rec.serve()
    data = _data(rec)
    with pytest.raises(dpc.PluginInvokeError) as caught:
        rec.client().validate_tool_credentials(rr.TENANT, rr.USER,
                                               "ceocheck/echotool/" + data["provider"],
                                               data["credentials"])
    expected = {1: dpc.ToolProviderCredentialValidationError, 2: dpc.PluginInvokeError}
    rec.check_error(caught.value, expected[rec.index])
    rec.check_request()


@cases("tool/validate_credentials.json", 3)
def _validate_without_provider(rec):
    client = rec.client()
    with pytest.raises(dpc.InvalidArgumentError):  # the client cannot leave the provider out
        client.validate_tool_credentials(rr.TENANT, rr.USER, "", {})
    rec.check_nothing_sent()
    rec.serve()
    with pytest.raises(dpc.PluginDaemonBadRequestError) as caught:
        rec.raw_dispatch(client, dpc.ToolInvokeMessage)
    rec.check_error(caught.value, dpc.PluginDaemonBadRequestError)
    assert caught.value.http_status == 400
    rec.check_request()


def assert_same_message(message, event):
    """A parsed stream message holds what the recorded event held (defaults may add keys)."""
    sent = message.to_dict()
    assert (sent["type"], sent["meta"]) == (event["type"], event["meta"])
    assert dict((key, sent["message"][key]) for key in event["message"]) == event["message"]


def _blob_of(events):
    pieces = [e["message"]["blob"] for e in events if e["type"] == "blob_chunk"]
    return b"".join(base64.b64decode(piece) for piece in pieces)


@cases("tool/invoke_blob_chunks.json", 0, 1)
def _invoke(rec):
    data = _data(rec)
    client = rec.client()
    for merge in (True, False):
        rec.replay.reset()
        rec.serve()
        messages = list(client.invoke(rr.TENANT, rr.USER, ECHOTOOL, data["tool"],
                                      data["credentials"], data["tool_parameters"],
                                      credential_type=data["credential_type"],
                                      cast_parameters=False, merge_blob_chunks=merge))
        recorded = rec.events
        if merge and _blob_of(recorded):
            assert [m.type for m in messages] == [e["type"] for e in recorded
                                                  if e["type"] != "blob_chunk"] + ["blob"]
            assert messages[-1].message.blob == _blob_of(recorded)
            assert messages[-1].meta == recorded[-1]["meta"]
        else:
            assert len(messages) == len(recorded)
            for message, event in zip(messages, recorded):
                assert_same_message(message, event)
        rec.check_request(null_keys_dropped=_CONTEXT_KEYS)


@cases("tool/provider_discovery.json", 0)
def _provider(rec):
    rec.serve()
    provider = rec.client().fetch_tool_provider(rr.TENANT, ECHOTOOL)
    recorded = rec.data
    assert provider.plugin_unique_identifier == recorded["plugin_unique_identifier"]
    declaration = provider.declaration
    assert declaration.identity.name == ECHOTOOL
    assert [c.name for c in declaration.oauth_schema.client_schema] == ["client_id",
                                                                        "client_secret"]
    pick = declaration.tool("pick")
    assert pick.parameter("channel").type == "dynamic-select"
    assert declaration.tool("runtime").has_runtime_parameters is True
    assert [t.identity.name for t in declaration.tools] == [
        t["identity"]["name"] for t in recorded["declaration"]["tools"]]
    rec.check_request()


@cases("tool/provider_discovery.json", 1)
def _existence(rec):
    rec.serve()
    pairs = rec.body["provider_ids"]
    assert rec.client().check_tools_existence(rr.TENANT, pairs) == rec.data
    rec.check_request()


def _oauth_call(rec, client):
    data = _data(rec)
    plugin_id = rec.exchange["request"]["headers"]["X-Plugin-ID"]
    route = rec.exchange["request"]["path"].rsplit("/", 1)[1]
    common = (rr.TENANT, rr.USER, plugin_id, data["provider"], data["redirect_uri"],
              data["system_credentials"])
    if route == "get_authorization_url":
        return client.get_authorization_url(*common)
    if route == "get_credentials":
        return client.get_credentials(*common, binascii.unhexlify(data["raw_http_request"]))
    return client.refresh_credentials(*common, data["credentials"])


@cases("oauth/tool_oauth_flow.json", 0, 1, 2)
@cases("oauth/trigger_oauth_flow.json", 0, 1, 2)
def _oauth_flow(rec):
    rec.serve()
    answer = _oauth_call(rec, rec.client())
    [recorded] = rec.events
    if isinstance(answer, dpc.PluginOAuthAuthorizationUrlResponse):
        assert answer.authorization_url == recorded["authorization_url"]
    else:
        assert answer.credentials == recorded["credentials"]
        assert answer.expires_at == recorded["expires_at"] and answer.metadata == {}
        assert all(str(v) not in repr(answer) for v in answer.credentials.values())
    rec.check_request()


@cases("oauth/oauth_errors.json", 0, 1, 2)
def _oauth_refused(rec):
    rec.serve()
    with pytest.raises(dpc.PluginInvokeError) as caught:
        _oauth_call(rec, rec.client())
    expected = {0: dpc.PluginInvokeError, 1: dpc.ToolProviderOAuthError,
                2: dpc.ToolProviderOAuthError}
    rec.check_error(caught.value, expected[rec.index])
    rec.check_request()


@cases("oauth/oauth_errors.json", 3, 4, 5)
def _oauth_unsendable(rec):
    """Requests the client refuses to make (not hex, no redirect_uri, no credentials):
    nothing is sent; sent as recorded, the daemon's answer raises its typed error."""
    data = _data(rec)
    client = rec.client()
    common = [rr.TENANT, rr.USER, rec.exchange["request"]["headers"]["X-Plugin-ID"],
              data["provider"], data.get("redirect_uri", ""), data["system_credentials"]]
    with pytest.raises(dpc.InvalidArgumentError):
        if rec.index == 3:
            client.get_credentials(*common, data["raw_http_request"])  # not a URL either
        elif rec.index == 4:
            client.get_authorization_url(*common)
        else:
            client.refresh_credentials(*common, None)
    rec.check_nothing_sent()
    rec.serve()
    cls = dpc.PluginInvokeError if rec.index == 3 else dpc.PluginDaemonBadRequestError
    with pytest.raises(cls) as caught:
        rec.raw_dispatch(client, dpc.PluginOAuthCredentialsResponse)
    rec.check_error(caught.value, cls)
    rec.check_request()


def _options_call(rec):
    data = _data(rec)
    return rec.client().fetch_dynamic_select_options(
        rr.TENANT, rr.USER, rec.exchange["request"]["headers"]["X-Plugin-ID"], data["provider"],
        data["provider_action"], data["credentials"], data["parameter"],
        credential_type=data.get("credential_type"))


@cases("dynamic_select/fetch_parameter_options.json", 0, 1, 2)
def _options(rec):
    rec.serve()
    answer = _options_call(rec)
    [recorded] = rec.events
    assert [o.to_dict() for o in answer.options] == recorded["options"]
    assert answer.options[0].label.get("zh_Hans") == recorded["options"][0]["label"]["zh_Hans"]
    rec.check_request()


@cases("dynamic_select/fetch_parameter_options_errors.json", 0, 1)
def _options_refused(rec):
    rec.serve()
    with pytest.raises(dpc.PluginInvokeError) as caught:
        _options_call(rec)
    rec.check_error(caught.value, dpc.PluginInvokeError)
    rec.check_request()


@cases("dynamic_select/fetch_parameter_options_errors.json", 2)
def _options_without_credentials(rec):
    """The client always sends credentials ({} when None): the recorded request (none at
    all) is sent as recorded to check the answer's handling."""
    rec.serve()
    with pytest.raises(dpc.PluginDaemonBadRequestError) as caught:
        rec.raw_dispatch(rec.client(), dpc.PluginDynamicSelectOptionsResponse)
    rec.check_error(caught.value, dpc.PluginDaemonBadRequestError)
    rec.check_request()


@pytest.mark.parametrize("key", cases.keys(), ids=case_id)
def test_recorded_exchange(replay, key):
    run_case(cases, replay, key)


def test_every_recorded_exchange_is_checked():
    check_folder(cases, CLAIMED_FOLDERS)


@pytest.mark.parametrize("route, answer, call, path", [
    ("tool/get_runtime_parameters", {"params": []},
     lambda c, t: c.get_runtime_parameters(t, "u1", PROVIDER, {}, "echo"), "data.parameters"),
    ("dynamic_select/fetch_parameter_options", {"choices": []},
     lambda c, t: c.fetch_dynamic_select_options(t, "u1", "acme/echo", "echo", "pick", {},
                                                 "channel"), "data.options"),
])
def test_an_answer_without_its_list_is_not_an_empty_list(client, daemon, tenant, installed,
                                                         route, answer, call, path):
    daemon.set_dispatch_handler("acme/echo", route, lambda request: [answer])
    with pytest.raises(dpc.ResponseValidationError) as caught:
        call(client, tenant)
    assert caught.value.path == path
