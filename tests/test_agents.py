"""Agent strategies: discovery and streamed invocation, the CLI, and every recorded answer
of tests/transcripts/0.6.10-routes/agent/ replayed on loopback."""

import base64
import copy
import json

import pytest

import dify_plugin_client as dpc
import route_replay as rr
from extensions_support import (Cli, case_id, check_folder, check_route_group, install_echo,
                                 recorded_declaration, run_case, with_page_size)
from fake_daemon import FakePluginError, blob_chunks

CLAIMED_FOLDERS = ("agent",)
PROVIDER = "e2etest/echoagent/echoagent"
PLUGIN = "e2etest/echoagent"
INVOKE = "/dispatch/agent_strategy/invoke"


@pytest.fixture
def agent(client, daemon, tenant):
    return install_echo(client, daemon, tenant, "echoagent")


@pytest.fixture
def cli(daemon, tenant, tmp_path):
    return Cli(daemon, tenant, tmp_path)


def _log(log_id, label, status, parent=None, **data):
    return {"type": "log", "message": {"id": log_id, "label": label, "parent_id": parent,
                                       "status": status, "data": data, "error": None,
                                       "metadata": {}}, "meta": None}


def _strategy_stream(call):
    """A strategy's messages as the SDK sends them (blob as hand-made chunks)."""
    yield _log("r1", "Round 1", "start", query=call.data["agent_strategy_params"].get("query"))
    yield _log("s1", "Thought", "start", parent="r1")
    yield {"type": "text", "message": {"text": "echo: hi"}, "meta": None}
    yield _log("s1", "Thought", "success", parent="r1")
    yield _log("r1", "Round 1", "success")
    for chunk in blob_chunks(b"x" * 10000, meta={"filename": "out.bin"}):
        yield chunk
    yield {"type": "variable", "message": {"variable_name": "v", "variable_value": 1,
                                           "stream": False}, "meta": None}


# =============================================================================
# Discovery
# =============================================================================


def test_fetch_agent_strategy_providers(client, daemon, tenant, agent):
    daemon.reset_stats()
    [provider] = client.fetch_agent_strategy_providers(tenant)
    request = daemon.requests[-1]
    assert request.path == "/plugin/%s/management/agent_strategies" % tenant
    assert request.query == {"page": ["1"], "page_size": ["256"]}
    assert isinstance(provider, dpc.PluginAgentProviderEntity)
    assert (provider.provider, provider.plugin_id, provider.full_name) == ("echoagent", PLUGIN,
                                                                            PROVIDER)
    assert provider.plugin_unique_identifier == agent
    declaration = provider.declaration
    assert declaration.identity.name == PROVIDER and declaration.identity.author == "e2etest"
    strategy = declaration.strategy("echo")
    assert strategy.identity.provider == PROVIDER and declaration.strategy("nope") is None
    assert [p.name for p in strategy.parameters] == ["query", "model", "tools",
                                                     "maximum_iterations"]
    iterations = strategy.parameter("maximum_iterations")
    assert (iterations.type, iterations.default, iterations.min, iterations.max) == (
        "number", 3, 1, 10)
    assert strategy.parameter("model").scope == "tool-call&llm"
    assert strategy.features == ["history-messages"]
    assert provider.meta.runner.language == "python" and provider.meta.version == "0.0.1"


def test_fetch_agent_strategy_provider(client, daemon, tenant, agent):
    provider = client.fetch_agent_strategy_provider(tenant, PROVIDER)
    request = daemon.requests[-1]
    assert request.path == "/plugin/%s/management/agent_strategy" % tenant
    assert request.query == {"plugin_id": [PLUGIN], "provider": ["echoagent"]}
    assert provider.declaration.strategies[0].identity.provider == PROVIDER
    with pytest.raises(dpc.PluginNotFoundError) as info:
        client.fetch_agent_strategy_provider(tenant, PLUGIN + "/nope")
    assert "no agent strategy provider e2etest/echoagent/nope" in info.value.message
    with pytest.raises(dpc.InvalidArgumentError):
        client.fetch_agent_strategy_provider(tenant, "a/b/c/d")


def test_provider_listing_reads_every_page(client, daemon, tenant, agent):
    [real] = client.fetch_agent_strategy_providers(tenant)
    raw = real.to_dict()
    entries = []
    for index in range(300):
        entry = copy.deepcopy(raw)
        entry["provider"] = entry["declaration"]["identity"]["name"] = "p%d" % index
        entries.append(entry)

    def paged(h):
        page, size = int(h.record.query["page"][0]), int(h.record.query["page_size"][0])
        h.send_json(200, {"code": 0, "message": "success",
                          "data": entries[(page - 1) * size:page * size]})
    daemon.add_override("GET", r"/management/agent_strategies$", paged)
    daemon.reset_stats()
    providers = client.fetch_agent_strategy_providers(tenant)
    assert len(providers) == 300 and providers[-1].full_name == PLUGIN + "/p299"
    assert [r.query["page"] for r in daemon.requests] == [["1"], ["2"]]


# =============================================================================
# Invoke
# =============================================================================


def test_invoke_request_on_the_wire(client, daemon, tenant, agent):
    daemon.reset_stats()
    context = {"credentials": {"tool_credentials": {"a/b/c": "cred-1"}}}
    messages = list(client.invoke_agent_strategy(
        tenant, "u1", PROVIDER, "echo", {"query": "hi", "maximum_iterations": 2},
        conversation_id="c1", app_id="a1", message_id="m1", context=context))
    [request] = daemon.requests
    assert request.method == "POST" and request.path == "/plugin/%s%s" % (tenant, INVOKE)
    assert request.headers["X-Plugin-ID"] == PLUGIN
    assert request.headers["Accept"] == "text/event-stream"
    assert request.json() == {
        "user_id": "u1", "conversation_id": "c1", "app_id": "a1", "message_id": "m1",
        "context": context,
        "data": {"agent_strategy_provider": "echoagent", "agent_strategy": "echo",
                 "agent_strategy_params": {"query": "hi", "maximum_iterations": 2}}}
    [message] = messages
    assert isinstance(message, dpc.AgentInvokeMessage) and isinstance(message,
                                                                     dpc.ToolInvokeMessage)
    assert message.message.json_object == {"params": {"query": "hi", "maximum_iterations": 2}}
    list(client.invoke_agent_strategy(tenant, "u1", PROVIDER, "echo"))
    assert daemon.requests[-1].json() == {"user_id": "u1", "data": {
        "agent_strategy_provider": "echoagent", "agent_strategy": "echo",
        "agent_strategy_params": {}}}


def test_messages_are_typed_and_blobs_arrive_merged(client, daemon, tenant, agent):
    daemon.set_dispatch_handler(PLUGIN, "agent_strategy/invoke", _strategy_stream)
    messages = list(client.invoke_agent_strategy(tenant, "u", PROVIDER, "echo", {"query": "q"}))
    assert [m.type for m in messages] == ["log", "log", "text", "log", "log", "blob", "variable"]
    blob = messages[5]
    assert blob.message.blob == b"x" * 10000 and blob.meta == {"filename": "out.bin"}
    assert isinstance(messages[0].message, dpc.LogMessage)
    assert messages[0].message.data == {"query": "q"}
    tree = dpc.LogTree()
    nodes = [tree.add(m) for m in messages]
    assert nodes[2] is None and nodes[5] is None
    [root] = tree.roots
    assert (root.log.label, root.log.status, root.depth) == ("Round 1", "success", 0)
    [child] = root.children
    assert (child.log.label, child.log.status, child.depth, child.parent) == (
        "Thought", "success", 1, root)
    assert tree.nodes["s1"] is child and tree.add(messages[1].message) is child


def test_blob_chunks_the_daemon_left_are_merged_by_the_client(client, daemon, tenant, agent):
    events = [{"code": 0, "message": "success", "data": chunk}
              for chunk in blob_chunks(b"y" * 9000, meta={"mime_type": "a/b"})]

    def raw_stream(h):
        h.start_stream()
        for event in events:
            h.send_event(json.dumps(event).encode())
        h.end_stream()
    daemon.add_override("POST", INVOKE + "$", raw_stream)
    [message] = list(client.invoke_agent_strategy(tenant, "u", PROVIDER, "echo"))
    assert message.type == "blob" and message.message.blob == b"y" * 9000
    assert isinstance(message, dpc.AgentInvokeMessage)
    pieces = list(client.invoke_agent_strategy(tenant, "u", PROVIDER, "echo",
                                               merge_blob_chunks=False))
    assert [m.type for m in pieces] == ["blob_chunk", "blob_chunk", "blob_chunk"]


def test_plugin_errors_are_typed(client, daemon, tenant, agent):
    with pytest.raises(dpc.PluginInvokeError) as info:
        list(client.invoke_agent_strategy(tenant, "u", PROVIDER, "nope"))
    assert info.value.invoke_error_type == "ValueError"
    assert info.value.message == "Agent `nope` not found for provider `echoagent`"

    def rate_limited(call):
        yield {"type": "text", "message": {"text": "partial"}, "meta": None}
        raise FakePluginError("InvokeRateLimitError", "slow down", {"retry_after": 3})
    daemon.set_dispatch_handler(PLUGIN, "agent_strategy/invoke", rate_limited)
    stream = client.invoke_agent_strategy(tenant, "u", PROVIDER, "echo")
    assert next(stream).message.text == "partial"
    with pytest.raises(dpc.InvokeRateLimitError):
        next(stream)


@pytest.mark.parametrize("call, argument", [
    (lambda c, t: c.invoke_agent_strategy(t, "", PROVIDER, "echo"), "user_id"),
    (lambda c, t: c.invoke_agent_strategy(t, "u", "echoagent/x", "echo"), "agent_provider"),
    (lambda c, t: c.invoke_agent_strategy(t, "u", PROVIDER, ""), "agent_strategy"),
    (lambda c, t: c.invoke_agent_strategy(t, "u", PROVIDER, "e", ["q"]), "agent_params"),
    (lambda c, t: c.invoke_agent_strategy(t, "u", PROVIDER, "e", {"q": {1, 2}}), "agent_params"),
    (lambda c, t: c.invoke_agent_strategy(t, "u", PROVIDER, "e", context="x"), "context"),
    (lambda c, t: c.invoke_agent_strategy(t, "u", PROVIDER, "e", app_id=""), "app_id"),
    (lambda c, t: c.invoke_agent_strategy("t1", "u", PROVIDER, "e"), "tenant_id"),
])
def test_bad_arguments_raise_at_the_call(client, daemon, tenant, call, argument):
    with pytest.raises(dpc.InvalidArgumentError) as info:
        call(client, tenant)
    assert info.value.argument == argument and daemon.requests == []


def test_log_tree_keeps_order_and_orphans():
    tree = dpc.LogTree()
    child = tree.add(dpc.LogMessage(id="c", label="child", parent_id="missing", status="start"))
    root = tree.add(dpc.LogMessage(id="r", label="root", status="start"))
    unnamed = tree.add(dpc.LogMessage(label="no id", status="success"))
    assert tree.roots == [child, root, unnamed] and child.depth == 0
    assert tree.add(dpc.TextMessage(text="x")) is None
    assert "root" in repr(root)


# =============================================================================
# The CLI
# =============================================================================


def test_cli_list_and_show(cli, daemon, tenant, agent):
    run = cli("agents")
    assert run.code == 0 and PROVIDER in run.out and "echo" in run.out, run
    assert cli("agents", "list", "--json").json()[0]["declaration"]["identity"]["name"] == PROVIDER
    shown = cli("agents", "show", PROVIDER)
    assert "echo" in shown.out and "query" in shown.out
    one = cli("agents", "show", PROVIDER, "echo")
    assert "maximum_iterations" in one.out and "number" in one.out
    assert cli("agents", "show", PROVIDER, "echo", "--json").json()["identity"]["name"] == "echo"
    missing = cli("agents", "show", PROVIDER, "nope")
    assert missing.code == 2 and "its strategies: echo" in missing.err
    unknown = cli("agents", "show", PLUGIN + "/other")
    assert unknown.code == 1 and "no agent strategy provider" in unknown.err


def test_cli_invoke_prints_messages_and_saves_blobs(cli, daemon, tenant, agent, tmp_path):
    daemon.set_dispatch_handler(PLUGIN, "agent_strategy/invoke", _strategy_stream)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    run = cli("agents", "invoke", "--provider", PROVIDER, "--strategy", "echo", "--params",
              '{"query": "hi"}', "--output-dir", str(out_dir), "--user", "u7")
    assert run.code == 0, run
    assert run.out.strip() == "echo: hi"
    assert "log [start] Round 1" in run.err and "  log [start] Thought" in run.err
    assert "  log [success] Thought" in run.err
    assert (out_dir / "out.bin").read_bytes() == b"x" * 10000
    assert daemon.requests[-1].json()["user_id"] == "u7"
    run = cli("agents", "invoke", "--provider", PROVIDER, "--strategy", "echo", "--json",
              "--context", '{"credentials": {}}', "--conversation-id", "c9")
    lines = run.lines()
    assert [line["type"] for line in lines] == ["log", "log", "text", "log", "log", "blob",
                                                "variable"]
    assert lines[5]["message"]["blob"] == base64.b64encode(b"x" * 10000).decode()
    body = daemon.requests[-1].json()
    assert body["context"] == {"credentials": {}} and body["conversation_id"] == "c9"


def test_cli_invoke_errors(cli, daemon, tenant, agent, tmp_path):
    run = cli("agents", "invoke", "--provider", PROVIDER, "--strategy", "nope")
    assert run.code == 1 and "Agent `nope` not found" in run.err and "Traceback" not in run.err
    run = cli("agents", "invoke", "--provider", PROVIDER, "--strategy", "echo", "--params", "{")
    assert run.code == 2 and "--params is not valid JSON" in run.err
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    run = cli("agents", "invoke", "--provider", PROVIDER, "--strategy", "echo", "--output-dir",
              str(a_file))
    assert run.code == 2 and "is not a directory" in run.err
    # a directory not there yet is made, as invoke and datasources make theirs
    missing = tmp_path / "missing" / "deeper"
    run = cli("agents", "invoke", "--provider", PROVIDER, "--strategy", "echo", "--output-dir",
              str(missing))
    assert run.code == 0 and missing.is_dir()


def test_routes_table_names_real_methods():
    check_route_group("agent_strateg", 3)


# =============================================================================
# The recorded answers (tests/transcripts/0.6.10-routes/agent/)
# =============================================================================

cases = rr.Cases()
T, USER = rr.TENANT, rr.USER
ECHO = "ceocheck/echoagent/echoagent"


def _invoke_args(r):
    body = r.body
    data = body["data"]
    plugin = r.exchange["request"]["headers"]["X-Plugin-ID"]
    options = {name: body[name] for name in ("conversation_id", "app_id", "message_id",
                                             "context") if name in body}
    return ((T, body["user_id"], "%s/%s" % (plugin, data["agent_strategy_provider"]),
             data.get("agent_strategy", ""), data.get("agent_strategy_params")), options)


@cases("agent/invoke.json", 0)
def check_invoke(r):
    r.serve()
    args, options = _invoke_args(r)
    messages = list(r.client().invoke_agent_strategy(*args, **options))
    r.check_request()
    assert len(messages) == len(r.events)
    for message, event in zip(messages, r.events):
        assert isinstance(message, dpc.AgentInvokeMessage)
        assert message.type == event["type"] and message.meta == event["meta"]
        raw = event["message"]
        if event["type"] == "blob":
            assert message.message.blob == base64.b64decode(raw["blob"])
        elif event["type"] in ("text", "link"):
            assert message.message.text == raw["text"]
        elif event["type"] == "json":
            assert message.message.json_object == raw["json_object"]
        elif event["type"] == "variable":
            assert (message.message.variable_name, message.message.variable_value) == (
                raw["variable_name"], raw["variable_value"])
        else:
            assert (message.message.id, message.message.status, message.message.data) == (
                raw["id"], raw["status"], raw["data"])
    assert len(messages[6].message.blob) == 8000  # the daemon merged the plugin's 3 chunks
    tree = dpc.LogTree()
    for message in messages:
        tree.add(message)
    [root] = tree.roots
    assert (root.log.label, root.log.status, root.log.data) == ("Round 1", "success",
                                                                {"output": "echo: hello agent"})


@cases("agent/invoke_errors.json", 0, 1, 2, 4)
def check_invoke_error(r):
    r.serve()
    args, options = _invoke_args(r)
    with pytest.raises(dpc.PluginInvokeError) as info:
        list(r.client().invoke_agent_strategy(*args, **options))
    r.check_request()
    r.check_error(info.value, dpc.PluginInvokeError)
    assert "Traceback" in info.value.invoke_args["traceback"]


@cases("agent/invoke_errors.json", 3)
def check_invoke_refused(r):
    """No agent_strategy: refused before sending; the daemon's 400 is read as typed."""
    args, options = _invoke_args(r)
    client = r.client()
    with pytest.raises(dpc.InvalidArgumentError) as info:
        client.invoke_agent_strategy(*args, **options)
    assert info.value.argument == "agent_strategy"
    r.check_nothing_sent()
    r.serve()
    with pytest.raises(dpc.PluginDaemonBadRequestError) as error:
        r.raw_dispatch(client, dpc.AgentInvokeMessage)
    r.check_error(error.value, dpc.PluginDaemonBadRequestError)
    assert error.value.http_status == 400


def _same_provider(entity, raw):
    assert (entity.id, entity.provider, entity.plugin_id, entity.plugin_unique_identifier) == (
        raw["id"], raw["provider"], raw["plugin_id"], raw["plugin_unique_identifier"])
    declaration = raw["declaration"]
    assert entity.declaration.identity.name == ECHO
    assert entity.declaration.identity.icon == declaration["identity"]["icon"]
    assert entity.meta.to_dict()["arch"] == raw["meta"]["arch"]
    for strategy, raw_strategy in zip(entity.declaration.strategies, declaration["strategies"]):
        assert strategy.identity.name == raw_strategy["identity"]["name"]
        assert strategy.identity.provider == ECHO
        assert strategy.features == raw_strategy["features"]
        assert [(p.name, p.type, p.required, p.default, p.min, p.max, p.scope)
                for p in strategy.parameters] == [
            (p["name"], p["type"], p["required"], p["default"], p["min"], p["max"], p["scope"])
            for p in raw_strategy["parameters"]]
        assert strategy.parameters[0].help.en_US == ""


@cases("agent/list_and_get.json", 0)
def check_list(r):
    r.serve()
    providers = r.client().fetch_agent_strategy_providers(T)
    assert rr.request_problems(with_page_size(r.exchange), r.replay.received[0]) == []
    assert len(providers) == len(r.data)
    for entity, raw in zip(providers, r.data):
        _same_provider(entity, raw)


@cases("agent/list_and_get.json", 1)
def check_get(r):
    r.serve()
    provider = r.client().fetch_agent_strategy_provider(T, ECHO)
    r.check_request()
    _same_provider(provider, r.data)


@cases("agent/list_and_get.json", 2, 3)
def check_get_unknown(r):
    r.serve()
    query = r.exchange["request"]["target"].split("?")[1]
    params = dict(item.split("=") for item in query.split("&"))
    provider = "%s/%s" % (params["plugin_id"].replace("%2F", "/"), params["provider"])
    with pytest.raises(dpc.PluginNotFoundError) as info:
        r.client().fetch_agent_strategy_provider(T, provider)
    r.check_request()
    r.check_not_found(info.value)
    assert info.value.code == -404 and provider in info.value.message


@pytest.mark.parametrize("key", cases.keys(), ids=case_id)
def test_recorded_exchange(replay, key):
    run_case(cases, replay, key)


def test_every_recorded_exchange_is_checked():
    check_folder(cases, CLAIMED_FOLDERS)


# --- the install recordings of the agent plugin (0.6.10-routes/management/) ------------


def test_recorded_manifest_declaration_parses():
    """The manifest the upload answered holds the same declaration the listing gives."""
    decoded, declaration = recorded_declaration(
        "install_echoagent.json", dpc.AgentStrategyProviderDeclaration, "agent_strategy")
    assert declaration.strategy("echo").parameter("query").required is True
    assert decoded.manifest.category == "agent-strategy"
