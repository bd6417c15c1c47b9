"""Every /v2 dispatch route against the real daemon: each dispatch method called on a
``client.by_identifier(<installed package>)`` view answers what the same call answers
through the tenant route (the plain client, plugin named by plugin_id), for the tenant
that installed the package and for a tenant that has nothing installed (/v2 runs an
installed package for any tenant).

The offline test plugins (tests/e2e/plugins/) are built with random versions, uploaded
and installed for one tenant in a single task. A route whose plugin answers an error on
the tenant route (tool/get_runtime_parameters: an empty stream; wrong credentials; a
failing strategy...) must answer the same error class and message through /v2.

``ROUTE_CALLS`` names, for each of the 34 /v2 dispatch routes of daemon 0.6.10
(tests/daemon_routes_0_6_10.txt), the client method and the calls made; a test checks
that the table covers exactly those routes, and each call is recorded to check it went
to that route with the package's X-Plugin-Unique-Identifier.

Releases before 0.6.1 (0.5.4 has no /v2; tool declarations on a view come from
/v2/invoke/extract, 0.6.1) are checked to answer 404, as test_tool_extras.py does.
"""

import json
import re
import time
import uuid

import pytest

import e2e_support as support
from e2e_support import (GOOD, OAUTH_CALLBACK, OAUTH_CLIENT, SUBSCRIPTION, USER, WAV, dpc,
                         user_message, webhook)

BAD = {"api_key": "wrong-key"}
#: The first release whose /v2 the suite expects to answer (see test_tool_extras.py).
V2_FROM = (0, 6, 1)

ECHOTOOL = "e2etest/echotool"
TOOL_PROVIDER = ECHOTOOL + "/echotool"
MODEL_PLUGIN, MODEL_PROVIDER = "e2etest/echomodel", "echomodel"
AGENT = "e2etest/echoagent/echoagent"
DOCS, DRIVE, CRAWL = ("e2etest/echodocs/echodocs", "e2etest/echodrive/echodrive",
                      "e2etest/echocrawl/echocrawl")
TRIGGER = "e2etest/echotrigger/echotrigger"
PLUGINS = ("echotool", "echomodel", "echoagent", "echodocs", "echodrive", "echocrawl",
           "echotrigger")

#: Answer fields that depend on the clock, not on the route (compared loosely).
CLOCK_FIELDS = ("expires_at", "latency")
#: Ids the plugin or its SDK draws for each answer (agent log ids and their parent ids).
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _model(method, *args, **kw):
    """A call of a model method: ``(client, tenant) -> answer`` (streams as lists)."""
    def call(c, t):
        answer = getattr(c, method)(t, USER, MODEL_PLUGIN, MODEL_PROVIDER, *args, **kw)
        return list(answer) if hasattr(answer, "__next__") else answer
    return call


def _on(method, *args, **kw):
    """A call ``client.<method>(tenant, USER, *args, **kw)``, a stream read to the end."""
    def call(c, t):
        answer = getattr(c, method)(t, USER, *args, **kw)
        return list(answer) if hasattr(answer, "__next__") else answer
    return call


#: (route under /v2/invoke/dispatch/, test plugin, client method, calls). Each call is
#: made on the plain client (tenant route) and on a by_identifier view (/v2).
ROUTE_CALLS = (
    ("agent_strategy/invoke", "echoagent", "invoke_agent_strategy", [
        _on("invoke_agent_strategy", AGENT, "echo", {"query": "hello v2", "maximum_iterations": 2},
            conversation_id="conv-1", app_id="app-1", message_id="msg-1",
            context={"credentials": {"tool_credentials": {}}}),
        _on("invoke_agent_strategy", AGENT, "echo", {"query": "please fail"})]),
    ("tool/invoke", "echotool", "invoke", [
        _on("invoke", TOOL_PROVIDER, "pick", GOOD, {"channel": "general", "text": "v2"},
            credential_type="api-key")]),
    ("tool/validate_credentials", "echotool", "validate_tool_credentials", [
        _on("validate_tool_credentials", TOOL_PROVIDER, GOOD),
        _on("validate_tool_credentials", TOOL_PROVIDER, BAD)]),
    ("tool/get_runtime_parameters", "echotool", "get_runtime_parameters", [
        _on("get_runtime_parameters", TOOL_PROVIDER, GOOD, "runtime")]),
    ("llm/invoke", "echomodel", "invoke_llm", [
        _model("invoke_llm", "echo-llm", GOOD, user_message("hello v2 world")),
        _model("invoke_llm", "echo-llm", GOOD, user_message("hello v2 world"), stream=False),
        _model("invoke_llm", "echo-llm", GOOD, user_message("raise ratelimit"))]),
    ("llm/num_tokens", "echomodel", "get_llm_num_tokens", [
        _model("get_llm_num_tokens", "llm", "echo-llm", GOOD, user_message("one two three"),
               [{"name": "get_weather", "description": "Get the weather for a city",
                 "parameters": {"type": "object"}}])]),
    ("text_embedding/invoke", "echomodel", "invoke_text_embedding", [
        _model("invoke_text_embedding", "echo-embed", GOOD, ["hello world", "second text"]),
        _model("invoke_text_embedding", "echo-embed", GOOD, ["hello"], input_type="query")]),
    ("multimodal_embedding/invoke", "echomodel", "invoke_multimodal_embedding", [
        _model("invoke_multimodal_embedding", "echo-embed", GOOD,
               [dpc.MultimodalInput(content="hello"),
                {"content": "aGVsbG8=", "content_type": "image"}])]),
    ("text_embedding/num_tokens", "echomodel", "get_text_embedding_num_tokens", [
        _model("get_text_embedding_num_tokens", "echo-embed", GOOD, ["a b c", "d", ""])]),
    ("rerank/invoke", "echomodel", "invoke_rerank", [
        _model("invoke_rerank", "echo-rerank", GOOD, "red apple pie",
               ["green apple", "red apple pie recipe", "blue car", "apple"], 0.1, 2)]),
    ("multimodal_rerank/invoke", "echomodel", "invoke_multimodal_rerank", [
        _model("invoke_multimodal_rerank", "echo-rerank", GOOD,
               dpc.MultimodalInput(content="red apple"),
               [dpc.MultimodalInput(content="apple"), dpc.MultimodalInput(content="car")],
               0.0, 5)]),
    ("tts/invoke", "echomodel", "invoke_tts", [
        _model("invoke_tts", "echo-tts", GOOD, "hello audio world", "alloy")]),
    ("tts/model/voices", "echomodel", "get_tts_model_voices", [
        _model("get_tts_model_voices", "echo-tts", GOOD),
        _model("get_tts_model_voices", "echo-tts", GOOD, "de-DE")]),
    ("speech2text/invoke", "echomodel", "invoke_speech_to_text", [
        _model("invoke_speech_to_text", "echo-s2t", GOOD, WAV)]),
    ("moderation/invoke", "echomodel", "invoke_moderation", [
        _model("invoke_moderation", "echo-mod", GOOD, "this is forbidden content"),
        _model("invoke_moderation", "echo-mod", GOOD, "all fine")]),
    ("model/validate_provider_credentials", "echomodel", "validate_provider_credentials", [
        _model("validate_provider_credentials", GOOD),
        _model("validate_provider_credentials", BAD)]),
    ("model/validate_model_credentials", "echomodel", "validate_model_credentials", [
        _model("validate_model_credentials", "llm", "echo-llm", GOOD),
        _model("validate_model_credentials", "rerank", "echo-rerank", BAD)]),
    ("model/schema", "echomodel", "get_model_schema", [
        _model("get_model_schema", "llm", "echo-llm", GOOD),
        _model("get_model_schema", "llm", "nope", GOOD)]),
    ("oauth/get_authorization_url", "echotool", "get_authorization_url", [
        _on("get_authorization_url", ECHOTOOL, "echotool", OAUTH_CALLBACK, OAUTH_CLIENT)]),
    ("oauth/get_credentials", "echotool", "get_credentials", [
        _on("get_credentials", ECHOTOOL, TOOL_PROVIDER, OAUTH_CALLBACK, OAUTH_CLIENT,
            OAUTH_CALLBACK + "?code=abc123&state=echo-state"),
        _on("get_credentials", ECHOTOOL, "echotool", OAUTH_CALLBACK, OAUTH_CLIENT,
            OAUTH_CALLBACK + "?state=x")]),
    ("oauth/refresh_credentials", "echotool", "refresh_credentials", [
        _on("refresh_credentials", ECHOTOOL, "echotool", OAUTH_CALLBACK, OAUTH_CLIENT,
            {"access_token": "at-abc123", "refresh_token": "rt-abc123"})]),
    ("dynamic_select/fetch_parameter_options", "echotool", "fetch_dynamic_select_options", [
        _on("fetch_dynamic_select_options", ECHOTOOL, "echotool", "pick", GOOD, "channel",
            credential_type="api-key"),
        _on("fetch_dynamic_select_options", ECHOTOOL, "echotool", "pick", {}, "text")]),
    ("datasource/validate_credentials", "echodocs", "validate_datasource_credentials", [
        _on("validate_datasource_credentials", DOCS, GOOD),
        _on("validate_datasource_credentials", DOCS, BAD)]),
    ("datasource/get_website_crawl", "echocrawl", "get_website_crawl", [
        _on("get_website_crawl", CRAWL, "crawl", GOOD, {"topic": "t1"})]),
    ("datasource/get_online_document_pages", "echodocs", "get_online_document_pages", [
        _on("get_online_document_pages", DOCS, "docs", GOOD, {"topic": "T"})]),
    ("datasource/get_online_document_page_content", "echodocs",
     "get_online_document_page_content", [
         _on("get_online_document_page_content", DOCS, "docs", GOOD,
             {"workspace_id": "ws-1", "page_id": "p-1", "type": "page"}),
         _on("get_online_document_page_content", DOCS, "docs", GOOD,
             {"workspace_id": "ws-1", "page_id": "missing", "type": "page"})]),
    ("datasource/online_drive_browse_files", "echodrive", "online_drive_browse_files", [
        _on("online_drive_browse_files", DRIVE, "drive", GOOD, prefix="docs/", max_keys=2,
            bucket="b1")]),
    ("datasource/online_drive_download_file", "echodrive", "online_drive_download_file", [
        _on("online_drive_download_file", DRIVE, "drive", GOOD, "docs/file-1.txt",
            bucket="b1")]),
    ("trigger/invoke_event", "echotrigger", "invoke_trigger_event", [
        _on("invoke_trigger_event", TRIGGER, "ping", SUBSCRIPTION, webhook(),
            payload={"kind": "push", "user": "alice"}, credentials=GOOD),
        _on("invoke_trigger_event", TRIGGER, "ping", SUBSCRIPTION, webhook(),
            payload={"kind": "explode"}, credentials=GOOD)]),
    ("trigger/validate_credentials", "echotrigger", "validate_trigger_credentials", [
        _on("validate_trigger_credentials", TRIGGER, GOOD),
        _on("validate_trigger_credentials", TRIGGER, {"api_key": "no"})]),
    ("trigger/dispatch_event", "echotrigger", "dispatch_trigger_event", [
        _on("dispatch_trigger_event", TRIGGER, SUBSCRIPTION, webhook(), GOOD),
        _on("dispatch_trigger_event", TRIGGER, SUBSCRIPTION, webhook(secret="t"))]),
    ("trigger/subscribe", "echotrigger", "subscribe_trigger", [
        _on("subscribe_trigger", TRIGGER, SUBSCRIPTION["endpoint"], {"channel": "c1"}, GOOD)]),
    ("trigger/unsubscribe", "echotrigger", "unsubscribe_trigger", [
        _on("unsubscribe_trigger", TRIGGER, SUBSCRIPTION, GOOD),
        _on("unsubscribe_trigger", TRIGGER, dict(SUBSCRIPTION, properties={"external_id": "x"}),
            GOOD)]),
    ("trigger/refresh", "echotrigger", "refresh_trigger", [
        _on("refresh_trigger", TRIGGER, SUBSCRIPTION, GOOD)]),
)
ROUTES = [route for route, _plugin, _method, _calls in ROUTE_CALLS]
#: Calls whose tenant-route answer is an error, by route: /v2 must answer the same one.
#: (Checked, so that an error on both sides cannot pass for the equivalence of answers.)
EXPECTED_ERRORS = {
    "agent_strategy/invoke": [None, "PluginInvokeError"],
    "tool/validate_credentials": [None, "ToolProviderCredentialValidationError"],
    "tool/get_runtime_parameters": ["InvalidResponseError"],
    "llm/invoke": [None, None, "InvokeRateLimitError"],
    "model/validate_provider_credentials": [None, "CredentialsValidateFailedError"],
    "model/validate_model_credentials": [None, "CredentialsValidateFailedError"],
    "oauth/get_credentials": [None, "ToolProviderOAuthError"],
    "dynamic_select/fetch_parameter_options": [None, "PluginInvokeError"],
    "datasource/validate_credentials": [None, "DatasourceCredentialValidationError"],
    "datasource/get_online_document_page_content": [None, "PluginInvokeError"],
    "trigger/invoke_event": [None, "PluginInvokeError"],
    "trigger/validate_credentials": [None, "TriggerProviderCredentialValidationError"],
    "trigger/dispatch_event": [None, "PluginInvokeError"],
}


@pytest.fixture(scope="module")
def v2_plugins():
    """This module's builds of the test plugins, at a random version (see
    e2e_support.random_release)."""
    return support.BuiltPlugins(PLUGINS, support.random_release() + ".1")


@pytest.fixture(scope="module")
def home(client, tenants, v2_plugins):
    """A tenant with every test plugin of PLUGINS installed (one installation task)."""
    tenant = tenants.new()
    for name in PLUGINS:
        identifier = client.upload_pkg(tenant, v2_plugins.data[name]).unique_identifier
        assert identifier == v2_plugins.identifiers[name]
    support.install_all_and_wait(client, tenant, [v2_plugins.identifiers[n] for n in PLUGINS])
    return tenant


def _plain(value):
    """An answer as plain data: entities as their wire form, clock fields loosened."""
    if hasattr(value, "to_dict"):
        value = value.to_dict()
    if isinstance(value, dict):
        return {key: (_clock(item) if key in CLOCK_FIELDS else _plain(item))
                for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, str) and UUID_RE.match(value):
        return "<uuid>"
    return value


def _clock(value):
    if isinstance(value, (int, float)) and value > time.time():
        return "<in the future>"
    if isinstance(value, (int, float)) and value >= 0 and value < 60:
        return "<seconds>"  # a latency
    return value


def _outcome(call, c, tenant):
    try:
        return ("answer", _plain(call(c, tenant)))
    except dpc.DifyPluginError as exc:
        return ("error", type(exc).__name__, exc.message, exc.http_status, exc.error_type,
                getattr(exc, "invoke_error_type", None))


class _Recorder(object):
    """Records each dispatch request a view sends: (path, identifier header, tenant)."""

    def __init__(self, view):
        self.requests = []
        dispatcher = view._dispatcher
        chunks = dispatcher._chunks

        def recording(path, headers, body, *args, **kw):
            tenant = None
            if isinstance(body, (bytes, bytearray)):
                tenant = json.loads(body.decode("utf-8")).get("tenant_id")
            self.requests.append((path, headers.get("X-Plugin-Unique-Identifier"), tenant))
            return chunks(path, headers, body, *args, **kw)

        dispatcher._chunks = recording


def _v2_routes_of_the_daemon():
    with open(support.TESTS_DIR + "/daemon_routes_0_6_10.txt") as handle:
        lines = [line.strip() for line in handle]
    return [line.split("/v2/invoke/dispatch/", 1)[1] for line in lines
            if re.match(r"^POST /v2/invoke/dispatch/", line)]


def test_the_table_covers_every_v2_dispatch_route():
    daemon = _v2_routes_of_the_daemon()
    assert len(daemon) == 34
    assert sorted(ROUTES) == sorted(daemon) and len(set(ROUTES)) == len(ROUTES)
    # and each is the route the client's table says the method speaks through /v2
    spoken = {path: name for method, path, name in dpc.ROUTES if path.startswith("/v2/invoke/")}
    assert {route: method for route, _plugin, method, _calls in ROUTE_CALLS} == {
        path.split("/dispatch/", 1)[1]: name for path, name in spoken.items()
        if "/dispatch/" in path}
    assert set(EXPECTED_ERRORS) <= set(ROUTES)
    for route, _plugin, _method, calls in ROUTE_CALLS:
        assert len(EXPECTED_ERRORS.get(route, [None] * len(calls))) == len(calls), route


@pytest.mark.version_specific
@pytest.mark.parametrize("route", ROUTES)
def test_v2_route_answers_as_the_tenant_route(route, client, real_daemon, request, v2_plugins):
    [(plugin, method, calls)] = [(p, m, c) for r, p, m, c in ROUTE_CALLS if r == route]
    identifier = v2_plugins.identifiers[plugin]
    view = client.by_identifier(identifier)
    recorder = _Recorder(view)
    stranger = str(uuid.uuid4())  # has nothing installed
    if not real_daemon.at_least(*V2_FROM):
        with pytest.raises(dpc.HTTPStatusError) as caught:
            calls[0](view, stranger)
        assert caught.value.status_code == 404
        return
    home = request.getfixturevalue("home")
    expected_errors = EXPECTED_ERRORS.get(route, [None] * len(calls))
    for index, call in enumerate(calls):
        on_tenant = _outcome(call, client, home)
        error = on_tenant[1] if on_tenant[0] == "error" else None
        assert error == expected_errors[index], (index, on_tenant)
        for tenant in (home, stranger):
            recorder.requests[:] = []
            assert _outcome(call, view, tenant) == on_tenant, (index, tenant == home)
            assert recorder.requests == [("/v2/invoke/dispatch/" + route, identifier, tenant)] \
                or (route == "speech2text/invoke"  # its body is streamed, not bytes
                    and recorder.requests == [("/v2/invoke/dispatch/" + route, identifier,
                                               None)]), recorder.requests
    assert getattr(dpc.DifyPluginClient, method)  # the table names a real method
