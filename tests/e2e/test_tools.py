"""Tool providers, and invoking the test plugin's tools through the API."""

import hashlib

import pytest

from e2e_support import (BLOB, ECHO_TYPES_MESSAGES, PLUGIN_ID, PROVIDER, RAISE_ERROR_TEXT, USER,
                         dpc, only, types_of)


# --------------------------------------------------------------------------- providers


def _check_provider(provider):
    assert isinstance(provider, dpc.PluginToolProviderEntity)
    assert provider.plugin_id == PLUGIN_ID and provider.provider == "e2e_tools"
    assert provider.full_name == PROVIDER
    declaration = provider.declaration
    assert declaration.identity.name == PROVIDER
    assert [tool.identity.name for tool in declaration.tools] == ["echo_types", "raise_error"]
    assert all(tool.identity.provider == PROVIDER for tool in declaration.tools)
    echo = declaration.tool("echo_types")
    assert [p.name for p in echo.parameters] == ["text", "count", "flag", "mode", "suffix"]
    count, mode = echo.parameter("count"), echo.parameter("mode")
    assert (count.type, count.min, count.max) == ("number", 0, 100)
    assert mode.type == "select" and mode.default == "keep"
    assert [o.value for o in mode.options] == ["keep", "upper", "lower"]
    assert echo.parameter("text").required is True


def test_fetch_tool_providers(client, installed):
    providers = client.fetch_tool_providers(installed.tenant)
    assert len(providers) == 1
    _check_provider(providers[0])
    assert providers[0].plugin_unique_identifier == installed.decoded.unique_identifier


def test_fetch_one_tool_provider_by_full_name(client, installed):
    _check_provider(client.fetch_tool_provider(installed.tenant, PROVIDER))


def test_bare_provider_name_means_langgenius(client, installed):
    # "e2e_tools" is langgenius/e2e_tools/e2e_tools, which this tenant does not have
    with pytest.raises(dpc.PluginNotFoundError):
        client.fetch_tool_provider(installed.tenant, "e2e_tools")


def test_unknown_provider_is_not_found(client, installed):
    for name in ("e2etest/e2e_tools/nope", "nobody/nothing/nothing"):
        with pytest.raises(dpc.PluginNotFoundError):
            client.fetch_tool_provider(installed.tenant, name)


def test_check_tools_existence(client, installed, tenant):
    wanted = [{"plugin_id": PLUGIN_ID, "provider_name": "e2e_tools"},
              PROVIDER,
              {"plugin_id": PLUGIN_ID, "provider_name": "nope"},
              {"plugin_id": "nobody/nothing", "provider_name": "nothing"}]
    assert client.check_tools_existence(installed.tenant, wanted) == [True, True, False, False]
    assert client.check_tools_existence(tenant, wanted[:1]) == [False]
    assert client.check_tools_existence(installed.tenant, []) == []


# --------------------------------------------------------------------------- invoke echo_types


def _invoke(client, tenant, tool, parameters, **options):
    return list(client.invoke(tenant, USER, PROVIDER, tool, {}, parameters, **options))


def _received(messages):
    return only(messages, "json").message.data["received"]


def test_echo_types_sends_every_message_type_typed(client, installed, pkgs):
    messages = _invoke(client, installed.tenant, "echo_types",
                       {"text": "Hello", "count": 3, "flag": True, "mode": "upper"})
    assert types_of(messages) == ECHO_TYPES_MESSAGES
    text, data, variable, log, blob = messages
    assert isinstance(text.message, dpc.TextMessage) and text.message.text == "HELLO!"
    assert isinstance(data.message, dpc.JsonMessage)
    assert data.message.data == data.message.json_object
    assert data.message.data["plugin_version"] == pkgs.old.version
    assert data.message.data["blob_size"] == len(BLOB)
    assert data.message.data["blob_sha256"] == hashlib.sha256(BLOB).hexdigest()
    assert isinstance(variable.message, dpc.VariableMessage)
    assert (variable.message.variable_name, variable.message.variable_value,
            variable.message.stream) == ("echo_text", "HELLO!", False)
    assert isinstance(log.message, dpc.LogMessage)
    assert (log.message.label, log.message.status) == ("echo_types", "success")
    assert log.message.data == {"text": "HELLO!",
                                "parameter_names": ["count", "flag", "mode", "suffix", "text"]}
    assert log.message.id
    # the blob came as blob_chunk pieces (8 KiB each) and arrives merged, with its meta
    assert isinstance(blob.message, dpc.BlobMessage)
    assert blob.message.blob == BLOB
    assert blob.meta["mime_type"] == "application/octet-stream"
    assert blob.meta["filename"] == "e2e.bin"
    for message in messages:
        assert isinstance(message, dpc.ToolInvokeMessage)


def test_echo_types_blob_chunks_unmerged(client, installed):
    messages = _invoke(client, installed.tenant, "echo_types", {"text": "x"},
                       merge_blob_chunks=False)
    chunks = [m for m in messages if m.type == "blob_chunk"]
    assert types_of(messages) == ECHO_TYPES_MESSAGES[:-1] + ["blob_chunk"] * len(chunks)
    assert len(chunks) >= 3  # 20000 bytes in pieces of at most 8 KiB, then the end marker
    assert all(isinstance(c.message, dpc.BlobChunkMessage) for c in chunks)
    assert len({c.message.id for c in chunks}) == 1
    assert [c.message.sequence for c in chunks] == list(range(len(chunks)))
    assert [c.message.end for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert all(len(c.message.blob) <= 8192 for c in chunks)
    assert b"".join(c.message.blob for c in chunks) == BLOB


def test_parameters_are_cast_by_the_declaration(client, installed):
    received = _received(_invoke(client, installed.tenant, "echo_types",
                                 {"text": 42, "count": "7", "flag": "yes", "mode": "lower"}))
    assert received["text"] == {"value": "42", "type": "str"}
    assert received["count"] == {"value": 7, "type": "int"}
    assert received["flag"] == {"value": True, "type": "bool"}
    assert received["mode"] == {"value": "lower", "type": "str"}
    received = _received(_invoke(client, installed.tenant, "echo_types",
                                 {"text": "t", "count": "2.5", "flag": "off"}))
    assert received["count"] == {"value": 2.5, "type": "float"}
    assert received["flag"] == {"value": False, "type": "bool"}


def test_missing_parameters_take_their_declared_defaults(client, installed):
    messages = _invoke(client, installed.tenant, "echo_types", {"text": "hi"})
    received = _received(messages)
    # mode and suffix have defaults; count and flag have none and stay absent
    assert received == {"text": {"value": "hi", "type": "str"},
                        "mode": {"value": "keep", "type": "str"},
                        "suffix": {"value": "!", "type": "str"}}
    assert only(messages, "text").message.text == "hi!"


def test_without_casting_parameters_go_as_given(client, installed):
    received = _received(_invoke(client, installed.tenant, "echo_types",
                                 {"text": "hi", "count": "7"}, cast_parameters=False))
    assert received == {"text": {"value": "hi", "type": "str"},
                        "count": {"value": "7", "type": "str"}}


def test_parameters_that_do_not_fit_are_refused_together(client, installed):
    with pytest.raises(dpc.ToolParameterError) as refused:
        client.invoke(installed.tenant, USER, PROVIDER, "echo_types", {},
                      {"count": "lots", "mode": "sideways", "flag": "maybe"})
    named = sorted(problem[0] for problem in refused.value.problems)
    assert named == ["count", "flag", "mode", "text"]  # text: required, missing
    with pytest.raises(dpc.ToolParameterError) as refused:
        client.invoke(installed.tenant, USER, PROVIDER, "echo_types", {},
                      {"text": "t", "count": 101})
    assert [problem[0] for problem in refused.value.problems] == ["count"]
    assert "100" in str(refused.value)


def test_ids_and_credential_type_are_accepted(client, installed):
    messages = list(client.invoke(installed.tenant, USER, PROVIDER, "echo_types", {},
                                  {"text": "ids"}, conversation_id="conv-1", app_id="app-1",
                                  message_id="msg-1", credential_type="api-key"))
    assert types_of(messages) == ECHO_TYPES_MESSAGES


def test_closing_the_stream_early(client, installed):
    stream = client.invoke(installed.tenant, USER, PROVIDER, "echo_types", {}, {"text": "early"})
    first = next(stream)
    assert first.type == "text" and first.message.text == "early!"
    stream.close()
    # the client is still fine afterwards
    assert types_of(_invoke(client, installed.tenant, "echo_types", {"text": "after"})) == \
        ECHO_TYPES_MESSAGES


# --------------------------------------------------------------------------- errors


def test_plugin_exception_is_plugin_invoke_error_with_its_message(client, installed, tenant):
    marker = "e2e failure %s" % tenant[:8]
    seen = []
    with pytest.raises(dpc.PluginInvokeError) as failed:
        for message in client.invoke(installed.tenant, USER, PROVIDER, "raise_error", {},
                                     {"message": marker}):
            seen.append(message)
    assert [(m.type, m.message.text) for m in seen] == [("text", RAISE_ERROR_TEXT)]
    error = failed.value
    assert error.invoke_error_type == "ValueError"
    assert error.invoke_message == marker
    assert error.message == marker
    assert marker in str(error)


def test_plugin_exception_default_message(client, installed):
    with pytest.raises(dpc.PluginInvokeError) as failed:
        _invoke(client, installed.tenant, "raise_error", {})
    assert failed.value.invoke_message == "e2e_tools intentional failure"


def test_unknown_tool(client, installed):
    # casting needs the declaration, which has no such tool: refused before sending
    with pytest.raises(dpc.InvalidArgumentError) as refused:
        client.invoke(installed.tenant, USER, PROVIDER, "no_such_tool", {}, {})
    assert "echo_types" in str(refused.value)  # names the tools there are
    # without casting the plugin itself answers
    with pytest.raises(dpc.PluginInvokeError) as failed:
        _invoke(client, installed.tenant, "no_such_tool", {}, cast_parameters=False)
    assert "no_such_tool" in failed.value.message


def test_unknown_provider_of_an_installed_plugin(client, installed):
    with pytest.raises(dpc.PluginNotFoundError):
        client.invoke(installed.tenant, USER, PLUGIN_ID + "/nope", "echo_types", {}, {})
    with pytest.raises(dpc.PluginInvokeError) as failed:
        list(client.invoke(installed.tenant, USER, PLUGIN_ID + "/nope", "echo_types", {},
                           {"text": "x"}, cast_parameters=False))
    assert "nope" in failed.value.message


def test_plugin_not_installed_for_the_tenant(client, installed, tenant):
    with pytest.raises(dpc.PluginNotFoundError):
        client.invoke(tenant, USER, PROVIDER, "echo_types", {}, {"text": "x"})
    with pytest.raises(dpc.PluginNotFoundError):
        list(client.invoke(tenant, USER, PROVIDER, "echo_types", {}, {"text": "x"},
                           cast_parameters=False))
