"""Agent strategies against the real daemon: discovery, invoke (the daemon merges blob
chunks), plugin errors and the CLI (tests/e2e/plugins/echoagent)."""

import json

import pytest

from e2e_support import USER, dpc, tenant_with_plugins, types_of

PROVIDER = "e2etest/echoagent/echoagent"
#: What the echo strategy sends (tests/e2e/plugins/echoagent/strategies/echo.py).
MESSAGES = ["log", "text", "json", "variable", "log", "blob", "blob", "link", "text"]


@pytest.fixture(scope="module")
def tenant(client, tenants):
    return tenant_with_plugins(client, tenants, "echoagent")


def test_discovery(client, tenant):
    [provider] = client.fetch_agent_strategy_providers(tenant)
    assert provider.full_name == PROVIDER == provider.declaration.identity.name
    strategy = provider.declaration.strategy("echo")
    assert strategy.identity.provider == PROVIDER
    assert [p.name for p in strategy.parameters] == ["query", "model", "tools",
                                                     "maximum_iterations"]
    assert strategy.parameter("maximum_iterations").default == 3
    assert provider.meta.runner.entrypoint == "main"
    one = client.fetch_agent_strategy_provider(tenant, PROVIDER)
    assert one.declaration.strategies[0].identity.name == "echo"
    with pytest.raises(dpc.PluginNotFoundError):
        client.fetch_agent_strategy_provider(tenant, "e2etest/echoagent/nope")


def test_invoke_streams_typed_messages_with_blobs_merged(client, tenant):
    messages = list(client.invoke_agent_strategy(
        tenant, USER, PROVIDER, "echo", {"query": "hello agent", "maximum_iterations": 2},
        conversation_id="conv-1", app_id="app-1", message_id="msg-1",
        context={"credentials": {"tool_credentials": {}}}))
    assert types_of(messages) == MESSAGES
    assert all(isinstance(m, dpc.AgentInvokeMessage) for m in messages)
    assert messages[1].message.text == "echo: hello agent"
    assert messages[2].message.json_object["user_id"] == USER
    assert messages[5].message.blob == b"small-blob-bytes"
    assert messages[6].message.blob == b"A" * 5000 + b"B" * 3000  # merged by the daemon
    assert messages[6].meta == {"filename": "merged.bin", "mime_type": "application/octet-stream"}
    tree = dpc.LogTree()
    for message in messages:
        tree.add(message)
    [root] = tree.roots
    assert (root.log.label, root.log.status) == ("Round 1", "success")


def test_plugin_errors(client, tenant):
    with pytest.raises(dpc.PluginInvokeError) as info:
        list(client.invoke_agent_strategy(tenant, USER, PROVIDER, "echo", {"query": "please fail"}))
    assert (info.value.invoke_error_type, info.value.message) == (
        "ValueError", "echo strategy failed on purpose")
    with pytest.raises(dpc.PluginInvokeError) as info:
        list(client.invoke_agent_strategy(tenant, USER, PROVIDER, "nope"))
    assert "Agent `nope` not found" in info.value.message
    with pytest.raises(dpc.PluginNotFoundError):
        list(client.invoke_agent_strategy(tenant, USER, "e2etest/notinstalled/x", "echo"))


def test_cli(cli, tenant, tmp_path):
    listed = cli("agents", "list", "--json", tenant=tenant)
    assert listed.rc == 0 and json.loads(listed.out)[0]["provider"] == "echoagent"
    run = cli("agents", "invoke", "--provider", PROVIDER, "--strategy", "echo", "--params",
              '{"query": "from the cli"}', "--output-dir", str(tmp_path), tenant=tenant)
    assert run.rc == 0, run
    assert "echo: from the cli" in run.out and "log [start] Round 1" in run.err
    assert (tmp_path / "merged.bin").read_bytes() == b"A" * 5000 + b"B" * 3000
    lines = [json.loads(line) for line in cli("agents", "invoke", "--provider", PROVIDER,
                                              "--strategy", "echo", "--params",
                                              '{"query": "x"}', "--json",
                                              tenant=tenant).out.splitlines()]
    assert [line["type"] for line in lines] == MESSAGES
    failed = cli("agents", "invoke", "--provider", PROVIDER, "--strategy", "echo", "--params",
                 '{"query": "fail"}', tenant=tenant)
    assert failed.rc == 1 and "echo strategy failed on purpose" in failed.err
