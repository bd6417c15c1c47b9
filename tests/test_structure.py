"""The module's structure holds: its map, the route table, the one dispatch path and the
command registry."""

import inspect
import io
import json
import os
import re

import pytest

import dify_plugin_client as dpc
from helpers import install_sample, make_client

MODULE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "dify_plugin_client.py")
PROVIDER = "acme/echo/echo"


def _source():
    with open(MODULE, encoding="utf-8") as handle:
        return handle.read()


def test_the_map_lists_every_section_banner_in_order():
    source = _source()
    banners = [re.sub(r" \(.*\)$", "", banner)  # "(RFC 7578)" and such are not mapped
               for banner in re.findall(r"^# =+\n# (.+)\n# =+$", source, re.M)]
    docstring = dpc.__doc__.split("Map of this file", 1)[1]
    mapped = [line.strip().split("  ")[0].strip() for line in docstring.splitlines()
              if line.startswith("    ") and line.strip()]
    assert banners == mapped


def test_every_route_in_the_table_has_its_method():
    assert len(dpc.ROUTES) == len(set(dpc.ROUTES))
    for method, path, name in dpc.ROUTES:
        assert method in ("GET", "POST", "PUT", "DELETE"), path
        assert path.startswith(("/plugin/:tenant_id/", "/v2/", "/health/", "/e/")), path
        assert callable(getattr(dpc.DifyPluginClient, name)), name


def test_dispatch_target_addresses_an_installed_plugin_or_a_package():
    tenant = "6f1c2d3e-0000-4000-8000-000000000000"
    installed = dpc._DispatchTarget(tenant, plugin_id="acme/echo")
    assert installed.path("tool/invoke") == "/plugin/%s/dispatch/tool/invoke" % tenant
    assert installed.headers()["X-Plugin-ID"] == "acme/echo"
    assert installed.body({"user_id": "u"}) == {"user_id": "u"}
    identifier = "acme/echo:0.0.1@" + "a" * 32
    package = dpc._DispatchTarget(tenant, unique_identifier=identifier)
    assert package.path("llm/invoke") == "/v2/invoke/dispatch/llm/invoke"
    assert package.headers()["X-Plugin-Unique-Identifier"] == identifier
    assert "X-Plugin-ID" not in package.headers()
    assert package.body({"user_id": "u"}) == {"user_id": "u", "tenant_id": tenant}
    for wrong in ({}, {"plugin_id": "acme/echo", "unique_identifier": identifier}):
        with pytest.raises(dpc.InvalidArgumentError):
            dpc._DispatchTarget(tenant, **wrong)
    with pytest.raises(dpc.InvalidArgumentError):
        dpc._DispatchTarget("tenant-1", plugin_id="acme/echo")


def test_one_dispatch_path_for_any_route_and_chunk_type(daemon, tenant):
    client = make_client(daemon)
    identifier = install_sample(client, tenant)
    daemon.set_tool_handler("acme/echo", "echo", "ping", lambda request: [
        {"type": "text", "message": {"text": "one"}, "meta": None},
        {"type": "json", "message": {"json_object": {"n": 2}}, "meta": None}])
    data = {"provider": "echo", "tool": "ping", "credentials": {}, "tool_parameters": {}}
    for target in (dpc._DispatchTarget(tenant, plugin_id="acme/echo"),
                   dpc._DispatchTarget(tenant, unique_identifier=identifier)):
        chunks = list(client._dispatcher.stream(target, "tool/invoke", data, user_id="u",
                                                chunk_type=dpc.ToolInvokeMessage))
        assert [c.type for c in chunks] == ["text", "json"]
        first = client._dispatcher.result(target, "tool/invoke", data, user_id="u",
                                          chunk_type=dpc.ToolInvokeMessage)
        assert first.message.text == "one"
        sent = daemon.requests[-1]
        assert json.loads(sent.body)["user_id"] == "u"
        assert ("tenant_id" in json.loads(sent.body)) == (target.plugin_id is None)


def test_a_stream_without_the_result_a_route_needs_is_an_error(daemon, tenant):
    client = make_client(daemon)
    install_sample(client, tenant)
    daemon.set_tool_handler("acme/echo", "echo", "ping", lambda request: [])
    data = {"provider": "echo", "tool": "ping", "credentials": {}, "tool_parameters": {}}
    target = dpc._DispatchTarget(tenant, plugin_id="acme/echo")
    assert list(client._dispatcher.stream(target, "tool/invoke", data, user_id="u",
                                          chunk_type=dpc.ToolInvokeMessage)) == []
    with pytest.raises(dpc.InvalidResponseError) as info:
        client._dispatcher.result(target, "tool/invoke", data, user_id="u",
                                  chunk_type=dpc.ToolInvokeMessage)
    assert "without a result" in str(info.value) and "tool/invoke" in str(info.value)
    assert client.list_plugins_with_total(tenant).total == 1  # the connection is fine


def test_bad_request_data_raises_at_the_call_not_on_iteration(daemon, tenant):
    client = make_client(daemon)
    target = dpc._DispatchTarget(tenant, plugin_id="acme/echo")
    with pytest.raises(dpc.InvalidArgumentError):
        client._dispatcher.stream(target, "tool/invoke", {"x": object()}, user_id="u",
                                  chunk_type=dpc.ToolInvokeMessage)
    assert daemon.requests == []


def test_each_command_lives_in_one_place():
    for name, command in dpc._COMMANDS.items():
        assert command.help and command.examples, name
        if command.actions:
            for action in command.actions.values():
                assert inspect.isfunction(action.handler) and action.help, (name, action.name)
        else:
            assert inspect.isfunction(command.handler), name
    listed = io.StringIO()
    assert dpc.main(["--help"], stdout=listed, stderr=listed) == 0
    for name in dpc._COMMANDS:
        assert re.search(r"^\s+%s\s" % re.escape(name), listed.getvalue(), re.M), name
    handlers = {command.handler for command in dpc._COMMANDS.values()}
    unregistered = [name for name, value in vars(dpc).items()
                    if name.startswith("_cmd_") and value not in handlers]
    assert unregistered == [], "command handlers without their @_command registration"


def test_tasks_actions_are_functions_in_the_registry():
    assert list(dpc._COMMANDS["tasks"].actions) == ["list", "show", "wait", "delete",
                                                     "delete-all"]


def test_the_routes_cover_the_daemon_at_0_6_10():
    """Every tenant route and every /v2 route the daemon registers at 0.6.10
    (tests/daemon_routes_0_6_10.txt, read from its source) is spoken; nothing is invented."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "daemon_routes_0_6_10.txt")
    with open(path, encoding="utf-8") as handle:
        listed = {tuple(line.split()) for line in handle
                  if line.strip() and not line.startswith("#")}
    assert sum(p.startswith("/plugin/:tenant_id/") for _, p in listed) == 76
    assert sum(p.startswith("/v2/") for _, p in listed) == 35
    spoken = {(method, path) for method, path, _ in dpc.ROUTES}
    assert sorted(listed - spoken) == []
    assert spoken - listed == {("GET", "/health/check")}
