"""/v2: a package by its unique identifier (extract_plugin, by_identifier views).

Against the fake daemon: the manifest route, every dispatch method of the client on a
package view (and a dispatch route of any group, written the usual way), the view's
tool declarations, its errors, and ``invoke --identifier``. Against the real daemon's
recorded answers (tests/transcripts/0.6.10-routes/v2): every exchange is served on
loopback and checked. LLM, embedding, schema and agent-strategy exchanges go through the
view's dispatcher directly, as the methods of those groups do.
"""

import base64
import json
import os
import uuid

import pytest

import dify_plugin_client as dpc
import route_replay as rr
from extensions_support import case_id, check_folder, run_case, run_cli as run
from fake_daemon import DispatchRoute, Field, sample_plugin
from helpers import install_sample, last_request

CLAIMED_FOLDERS = ("v2",)
PROVIDER = "acme/echo/echo"


@dpc._entity
class AnyChunk(dpc._Entity):
    """A chunk whose entity another route group defines: kept whole in ``extra``."""


@pytest.fixture
def running(client, tenant):
    """The sample plugin installed for ``tenant`` (so a runtime of it is up)."""
    return install_sample(client, tenant)


@pytest.fixture
def stranger():
    """A tenant with nothing installed."""
    return str(uuid.uuid4())


# =============================================================================
# Against the fake daemon
# =============================================================================


def test_extract_plugin(client, daemon):
    identifier = client.upload_pkg(str(uuid.uuid4()), sample_plugin()).unique_identifier
    decoded = client.extract_plugin(identifier)
    request = last_request(daemon)
    assert (request.method, request.path, request.raw_query, request.body) == (
        "GET", "/v2/invoke/extract", "", b"")
    assert request.headers["X-Plugin-Unique-Identifier"] == identifier
    assert "X-Plugin-ID" not in request.headers
    assert decoded.unique_identifier == identifier and decoded.verification is None
    assert decoded.manifest.icon == "icon.svg"  # the package's own names, as decoded
    assert decoded.manifest.tool.tool("echo").parameter("text").required
    with pytest.raises(dpc.PluginDaemonBadRequestError, match="upload it firstly") as caught:
        client.extract_plugin("acme/echo:9.9.9@" + "b" * 64)
    assert caught.value.http_status == 200
    before = len(daemon.requests)
    with pytest.raises(dpc.InvalidArgumentError):
        client.extract_plugin("garbage")
    assert len(daemon.requests) == before


def test_view_invoke_runs_the_package_for_any_tenant(client, daemon, running, stranger):
    view = client.by_identifier(running)
    assert view.package_identifier == running and client.package_identifier is None
    assert isinstance(view, dpc.DifyPluginClient) and view.config is client.config
    daemon.reset_stats()
    messages = list(view.invoke(stranger, "u1", PROVIDER, "echo", {"api_key": "k"},
                                {"text": "hi", "count": "4"}, credential_type="api-key"))
    paths = [r.path for r in daemon.requests]
    assert paths == ["/v2/invoke/extract", "/v2/invoke/dispatch/tool/invoke"]  # no tenant route
    request = daemon.requests[-1]
    assert request.headers["X-Plugin-Unique-Identifier"] == running
    assert "X-Plugin-ID" not in request.headers
    body = request.json()
    assert body["tenant_id"] == stranger and body["user_id"] == "u1"
    assert body["data"]["tool_parameters"]["count"] == 4  # cast by the package's declaration
    assert body["data"]["provider"] == "echo" and body["data"]["credential_type"] == "api-key"
    assert json.loads(messages[0].message.text)["text"] == "hi"
    list(view.invoke(stranger, "u1", PROVIDER, "echo", {}, {"text": "again"}))
    assert [r.path for r in daemon.requests].count("/v2/invoke/extract") == 1  # cached
    assert view.fetch_tool_provider(stranger, PROVIDER).plugin_unique_identifier == running


def test_every_dispatch_method_on_a_view(client, daemon, running, stranger):
    view = client.by_identifier(running)
    handlers = {
        "tool/validate_credentials": lambda call: [{"result": True}],
        "tool/get_runtime_parameters": lambda call: [{"parameters": []}],
        "oauth/get_authorization_url": lambda call: [{"authorization_url": "https://a"}],
        "oauth/get_credentials": lambda call: [{"credentials": {"t": "1"}, "expires_at": -1}],
        "oauth/refresh_credentials": lambda call: [{"credentials": {"t": "2"}}],
        "dynamic_select/fetch_parameter_options": lambda call: [{"options": []}],
    }
    for route, handler in handlers.items():
        daemon.set_dispatch_handler("acme/echo", route, handler)
    calls = [
        ("tool/validate_credentials", lambda: view.validate_tool_credentials(
            stranger, "u1", PROVIDER, {})),
        ("tool/get_runtime_parameters", lambda: view.get_runtime_parameters(
            stranger, "u1", PROVIDER, {}, "echo")),
        ("oauth/get_authorization_url", lambda: view.get_authorization_url(
            stranger, "u1", "acme/echo", "echo", "https://d/cb", {})),
        ("oauth/get_credentials", lambda: view.get_credentials(
            stranger, "u1", "acme/echo", "echo", "https://d/cb", {}, "https://d/cb?code=1")),
        ("oauth/refresh_credentials", lambda: view.refresh_credentials(
            stranger, "u1", "acme/echo", "echo", "https://d/cb", {}, {"t": "1"})),
        ("dynamic_select/fetch_parameter_options", lambda: view.fetch_dynamic_select_options(
            stranger, "u1", "acme/echo", "echo", "echo", {}, "mode")),
    ]
    for route, call in calls:
        call()
        request = daemon.requests[-1]
        assert request.path == "/v2/invoke/dispatch/" + route
        assert request.headers["X-Plugin-Unique-Identifier"] == running
        assert request.json()["tenant_id"] == stranger


def test_any_groups_dispatch_method_works_on_a_view(client, daemon, tenant, running, stranger):
    """A dispatch method of another route group, written the usual way (a _DispatchTarget
    with the installed plugin id), is sent to /v2 on a view without any change."""
    daemon.add_dispatch_route(DispatchRoute("echo/upper", "RequestUpper", [
        Field("Text", "json", "text", "str", "required")],
        handler=lambda call: [{"text": call.data["text"].upper()}]))

    def upper(some_client, tenant_id, text):
        return some_client._dispatcher.result(
            dpc._DispatchTarget(tenant_id, plugin_id="acme/echo"), "echo/upper", {"text": text},
            user_id="u1", chunk_type=AnyChunk).extra["text"]

    assert upper(client, tenant, "tenant") == "TENANT"
    assert last_request(daemon).path.endswith("/dispatch/echo/upper")
    assert upper(client.by_identifier(running), stranger, "package") == "PACKAGE"
    request = last_request(daemon)
    assert request.path == "/v2/invoke/dispatch/echo/upper"
    assert request.json() == {"user_id": "u1", "data": {"text": "package"}, "tenant_id": stranger}


def test_view_refuses_another_plugin(client, daemon, running, stranger):
    view = client.by_identifier(running)
    before = len(daemon.requests)
    with pytest.raises(dpc.InvalidArgumentError, match="runs the package") as caught:
        view.validate_tool_credentials(stranger, "u1", "acme/other/other", {})
    assert caught.value.argument == "plugin_id"
    with pytest.raises(dpc.InvalidArgumentError, match="runs the package"):
        view.invoke(stranger, "u1", "acme/other/other", "echo")
    with pytest.raises(dpc.InvalidArgumentError):
        client.by_identifier("acme/echo")
    assert len(daemon.requests) == before
    with pytest.raises(dpc.PluginNotFoundError, match="no tool provider other"):
        view.fetch_tool_provider(stranger, "acme/echo/other")


def test_view_of_a_package_nothing_runs(client, daemon, running, stranger):
    uploaded = client.upload_pkg(stranger, sample_plugin(version="0.0.2")).unique_identifier
    view = client.by_identifier(uploaded)
    assert view.extract_plugin(uploaded).manifest.version == "0.0.2"  # readable
    with pytest.raises(dpc.PluginDaemonInternalServerError) as caught:
        list(view.invoke(stranger, "u1", PROVIDER, "echo", {}, {"text": "x"}))
    assert caught.value.http_status == 404 and "no available node" in caught.value.message
    assert caught.value.hint  # says the runtime is not running


def test_view_shares_connections_not_declarations(client, daemon, running, tenant):
    list(client.invoke(tenant, "u1", PROVIDER, "echo", {}, {"text": "x"}))
    view = client.by_identifier(running)
    assert view._transport is client._transport and view._declarations == {}
    assert client._declarations  # the client's own cache is untouched
    with view:
        pass
    assert [p.plugin_id for p in client.list_plugins(tenant)] == ["acme/echo"]  # still usable
    assert [p.plugin_id for p in view.list_plugins(tenant)] == ["acme/echo"]  # tenant routes


def test_cli_invoke_identifier(daemon, running, stranger):
    code, out, err = run(daemon, stranger, "invoke", "--identifier", running, "--user", "u1",
                         "--provider", PROVIDER, "--tool", "echo", "--params", '{"text": "v2"}')
    assert code == 0, err
    assert json.loads(out)["text"] == "v2"
    assert last_request(daemon).path == "/v2/invoke/dispatch/tool/invoke"
    code, _, err = run(daemon, stranger, "invoke", "--user", "u1", "--provider", PROVIDER,
                       "--tool", "echo", "--params", '{"text": "v2"}')
    assert code == 1 and "PluginNotFoundError" in err  # without it: the tenant's install
    code, _, err = run(daemon, stranger, "invoke", "--identifier", "acme/echo", "--user", "u1",
                       "--provider", PROVIDER, "--tool", "echo")
    assert code == 2 and "unique identifier" in err


# =============================================================================
# Against the recorded answers (0.6.10-routes/v2)
# =============================================================================

cases = rr.Cases()
ECHOMODEL = "ceocheck/echomodel"


def _identifier(rec):
    return rec.exchange["request"]["headers"].get("X-Plugin-Unique-Identifier")


def _tenant(rec):
    return rec.body.get("tenant_id", rr.TENANT)


def _route(rec):
    return rec.exchange["request"]["path"][len("/v2/invoke/dispatch/"):]


@cases("v2/extract.json", 0)
def _extract(rec):
    rec.serve()
    decoded = rec.client().extract_plugin(_identifier(rec))
    assert decoded.unique_identifier == rec.data["unique_identifier"]
    assert decoded.manifest.name == "echomodel" and decoded.manifest.icon == "icon.svg"
    assert decoded.manifest.category == "model" and decoded.verification is None
    rec.check_request()


@cases("v2/extract.json", 1)
def _extract_without_header(rec):
    rec.serve()  # the client always sends the header: sent as recorded
    with pytest.raises(dpc.PluginDaemonBadRequestError) as caught:
        rec.raw_call(rec.client())
    rec.check_error(caught.value, dpc.PluginDaemonBadRequestError)
    assert caught.value.http_status == 400
    rec.check_request()


@cases("v2/extract.json", 2)
def _extract_unknown(rec):
    rec.serve()
    with pytest.raises(dpc.PluginDaemonBadRequestError) as caught:
        rec.client().extract_plugin(_identifier(rec))
    rec.check_error(caught.value, dpc.PluginDaemonBadRequestError)
    assert caught.value.http_status == 200
    rec.check_request()


@cases("v2/extract.json", 3)
def _extract_malformed(rec):
    client = rec.client()
    with pytest.raises(dpc.InvalidArgumentError):
        client.extract_plugin(_identifier(rec))
    rec.check_nothing_sent()
    rec.serve()
    with pytest.raises(dpc.PluginUniqueIdentifierError) as caught:
        rec.raw_call(client)
    rec.check_error(caught.value, dpc.PluginUniqueIdentifierError)
    rec.check_request()


def _view_stream(rec, chunk_type=AnyChunk, key=rr.KEY):
    """The recorded request made by a package view's dispatcher, as a dispatch method of
    the route's group makes it."""
    view = rec.client(key=key).by_identifier(_identifier(rec))
    plugin_id = _identifier(rec).split(":")[0]
    return list(view._dispatcher.stream(dpc._DispatchTarget(_tenant(rec), plugin_id=plugin_id),
                                        _route(rec), rec.body["data"], user_id=rec.body["user_id"],
                                        chunk_type=chunk_type))


@cases("v2/invoke_llm.json", 0, 2)
@cases("v2/invoke_other.json", 0, 1)
def _view_dispatch(rec):
    rec.serve()
    chunks = _view_stream(rec)
    assert [chunk.extra for chunk in chunks] == rec.events
    rec.check_request()


@cases("v2/invoke_other.json", 2)
def _view_agent_strategy(rec):
    rec.serve()
    messages = _view_stream(rec, dpc.ToolInvokeMessage)
    assert [m.type for m in messages] == [e["type"] for e in rec.events]
    blobs = [e["message"]["blob"] for e in rec.events if e["type"] == "blob"]
    assert [m.message.blob for m in messages if m.type == "blob"] == [
        base64.b64decode(blob) for blob in blobs]
    rec.check_request()


@cases("v2/invoke_other.json", 3)
def _view_polling(rec):
    """model/polling/start is not mirrored under /v2: the daemon's unknown-route 404."""
    rec.serve()
    with pytest.raises(dpc.HTTPStatusError) as caught:
        _view_stream(rec)
    assert caught.value.status_code == 404 and caught.value.code == "not_found"
    rec.check_request()


@cases("v2/invoke_llm.json", 1, 3)
def _unsendable(rec):
    """No tenant_id in the body, no identifier header: a view always sends both."""
    rec.serve()
    with pytest.raises(dpc.PluginDaemonBadRequestError) as caught:
        rec.raw_dispatch(rec.client(), AnyChunk)
    rec.check_error(caught.value, dpc.PluginDaemonBadRequestError)
    assert caught.value.http_status == 400
    rec.check_request()


@cases("v2/invoke_llm.json", 4)
def _unknown_package(rec):
    rec.serve()
    with pytest.raises(dpc.PluginDaemonInternalServerError) as caught:
        _view_stream(rec)
    rec.check_error(caught.value, dpc.PluginDaemonInternalServerError)
    assert caught.value.http_status == 404 and caught.value.hint
    rec.check_request()


@cases("v2/invoke_llm.json", 5)
def _wrong_key(rec):
    rec.serve()
    with pytest.raises(dpc.PluginDaemonUnauthorizedError) as caught:
        _view_stream(rec, key="not-the-daemon-key")
    rec.check_error(caught.value, dpc.PluginDaemonUnauthorizedError)
    rec.check_request()


def _view_invoke(rec):
    data = rec.body["data"]
    view = rec.client().by_identifier(_identifier(rec))
    return list(view.invoke(_tenant(rec), rec.body["user_id"], "ceocheck/echotool/echotool",
                            data["tool"], data["credentials"], data["tool_parameters"],
                            credential_type=data.get("credential_type"), cast_parameters=False))


@cases("v2/invoke_tool.json", 0)
def _invoke_tool(rec):
    rec.serve()
    messages = _view_invoke(rec)
    chunks = [e for e in rec.events if e["type"] == "blob_chunk"]
    assert [m.type for m in messages] == ["text", "json", "blob"]
    assert messages[0].message.text == rec.events[0]["message"]["text"]
    assert messages[2].message.blob == b"".join(base64.b64decode(c["message"]["blob"])
                                                for c in chunks)
    assert len(messages[2].message.blob) == chunks[-1]["message"]["total_length"]
    rec.check_request(null_keys_dropped=("conversation_id", "app_id", "message_id"))


@cases("v2/uploaded_not_installed.json", 0)
def _upload(rec):
    form = rec.body["multipart_form"][0]
    path = os.path.join(rec.tmp_dir, form["filename"])
    with open(path, "wb") as handle:  # only the size and name were recorded
        handle.write(b"\0" * form["size"])
    rec.serve()
    decoded = rec.client().upload_pkg(rr.TENANT, path)
    assert decoded.unique_identifier == rec.data["unique_identifier"]
    rec.check_request()


@cases("v2/uploaded_not_installed.json", 1)
def _extract_uploaded(rec):
    rec.serve()
    decoded = rec.client().extract_plugin(_identifier(rec))
    assert decoded.manifest.version == "0.0.2" and decoded.manifest.tool.identity.name == "echotool"
    rec.check_request()


@cases("v2/uploaded_not_installed.json", 2)
def _invoke_uploaded(rec):
    rec.serve()
    with pytest.raises(dpc.PluginDaemonInternalServerError) as caught:
        _view_invoke(rec)
    rec.check_error(caught.value, dpc.PluginDaemonInternalServerError)
    assert caught.value.http_status == 404
    rec.check_request(null_keys_dropped=("conversation_id", "app_id", "message_id"))


@pytest.mark.parametrize("key", cases.keys(), ids=case_id)
def test_recorded_exchange(replay, key, tmp_path):
    run_case(cases, replay, key, str(tmp_path))


def test_every_recorded_exchange_is_checked():
    check_folder(cases, CLAIMED_FOLDERS)


def test_a_view_names_the_v2_route_when_a_stream_ends_without_a_result(client, daemon,
                                                                      running, stranger):
    """The "zero events" error of a one-answer route names the route the request went to."""
    daemon.add_dispatch_route(DispatchRoute("echo/nothing", "RequestNothing", [],
                                            handler=lambda call: []))
    with pytest.raises(dpc.InvalidResponseError) as info:
        client.by_identifier(running)._dispatcher.result(
            dpc._DispatchTarget(stranger, plugin_id="acme/echo"), "echo/nothing", {},
            user_id="u1", chunk_type=AnyChunk)
    assert info.value.route == "POST /v2/invoke/dispatch/echo/nothing"
