"""Tool providers, casting on the wire, and streamed invoke against the fake daemon."""

import base64
import json

import pytest

import dify_plugin_client as dpc
from fake_daemon import FakePluginError, blob_chunks, go_json
from helpers import KEY, install_sample, last_request, make_client

PROVIDER = "acme/echo/echo"


@pytest.fixture
def installed(client, tenant):
    return install_sample(client, tenant)


def _text(messages):
    return "".join(m.message.text for m in messages if m.type == "text")


def test_fetch_tool_providers(client, daemon, tenant, installed):
    [provider] = client.fetch_tool_providers(tenant)
    request = last_request(daemon)
    assert request.path == "/plugin/%s/management/tools" % tenant
    assert request.query == {"page": ["1"], "page_size": ["256"]}
    assert provider.provider == "echo" and provider.plugin_id == "acme/echo"
    assert provider.full_name == PROVIDER
    assert provider.declaration.identity.name == PROVIDER
    assert [t.identity.provider for t in provider.declaration.tools] == [PROVIDER] * 3
    echo = provider.declaration.tool("echo")
    schema = echo.output_schema
    assert schema["properties"]["file"]["title"] == "File"  # Dify registry ref resolved
    assert schema["properties"]["items"]["items"] == {"type": "object",
                                                      "properties": {"name": {"type": "string"}}}
    assert echo.parameter("mode").options[1].value == "b"
    assert provider.declaration.tool("ping").parameters == []
    credentials = {c.name: c for c in provider.declaration.credentials_schema}
    assert credentials["api_key"].type == "secret-input" and credentials["api_key"].required


def test_fetch_tool_providers_pages_past_256(client, daemon, tenant, installed):
    [real] = client.fetch_tool_providers(tenant)
    raw = real.to_dict()
    raw["declaration"]["identity"]["name"] = "echo"
    entries = []
    for index in range(300):
        entry = json.loads(json.dumps(raw))
        entry["provider"] = entry["declaration"]["identity"]["name"] = "p%d" % index
        entries.append(entry)

    def paged(handler):
        page = int(handler.record.query["page"][0])
        size = int(handler.record.query["page_size"][0])
        handler.send_json(200, {"code": 0, "message": "success",
                                "data": entries[(page - 1) * size:page * size]})

    daemon.add_override("GET", r".*/management/tools$", paged)
    providers = client.fetch_tool_providers(tenant)
    assert len(providers) == 300 and providers[-1].full_name == "acme/echo/p299"


def test_fetch_tool_provider_forms(client, daemon, tenant, installed):
    provider = client.fetch_tool_provider(tenant, PROVIDER)
    request = last_request(daemon)
    assert request.path == "/plugin/%s/management/tool" % tenant
    assert request.query == {"plugin_id": ["acme/echo"], "provider": ["echo"]}
    assert provider.declaration.identity.name == PROVIDER
    with pytest.raises(dpc.PluginNotFoundError):
        client.fetch_tool_provider(tenant, "acme/echo/other")
    with pytest.raises(dpc.PluginNotFoundError):
        client.fetch_tool_provider(tenant, "echo")  # means langgenius/echo/echo
    assert last_request(daemon).query == {"plugin_id": ["langgenius/echo"],
                                          "provider": ["echo"]}
    with pytest.raises(dpc.InvalidArgumentError) as info:
        client.fetch_tool_provider(tenant, "acme/echo")
    assert "organization/plugin_name/provider_name" in str(info.value)


def test_check_tools_existence(client, daemon, tenant, installed):
    result = client.check_tools_existence(tenant, [
        {"plugin_id": "acme/echo", "provider_name": "echo"},
        {"plugin_id": "acme/echo", "provider_name": "nope"}, "acme/other/x"])
    assert result == [True, False, False]
    assert last_request(daemon).json() == {"provider_ids": [
        {"plugin_id": "acme/echo", "provider_name": "echo"},
        {"plugin_id": "acme/echo", "provider_name": "nope"},
        {"plugin_id": "acme/other", "provider_name": "x"}]}
    assert client.check_tools_existence(tenant, []) == []
    with pytest.raises(dpc.InvalidArgumentError):
        client.check_tools_existence(tenant, [{"plugin_id": "acme/echo"}])


def test_invoke_request_on_the_wire(daemon, tenant):
    client = make_client(daemon)
    install_sample(client, tenant)
    daemon.reset_stats()
    messages = list(client.invoke(tenant, "user-1", PROVIDER, "echo", {"api_key": "k1"},
                                  {"text": 42, "count": "4", "flag": "yes", "extra": [1]},
                                  conversation_id="c1", app_id="a1", message_id="m1",
                                  credential_type="api-key"))
    invoke = last_request(daemon, "/dispatch/tool/invoke")
    assert invoke.method == "POST" and invoke.path == "/plugin/%s/dispatch/tool/invoke" % tenant
    assert invoke.headers["X-Plugin-ID"] == "acme/echo"
    assert invoke.headers["Content-Type"] == "application/json"
    assert invoke.headers["X-Api-Key"] == KEY
    assert invoke.json() == {
        "user_id": "user-1", "conversation_id": "c1", "app_id": "a1", "message_id": "m1",
        "data": {"provider": "echo", "tool": "echo", "credentials": {"api_key": "k1"},
                 "credential_type": "api-key",
                 "tool_parameters": {"text": "42", "count": 4, "flag": True, "extra": [1],
                                     "ratio": 0.5, "mode": "a", "greeting": "hello"}}}
    assert json.loads(_text(messages))["count"] == 4


def test_one_request_per_invoke_after_the_first(daemon, tenant):
    client = make_client(daemon)
    install_sample(client, tenant)
    fresh = make_client(daemon)  # an empty declaration cache
    daemon.reset_stats()
    for _ in range(5):
        list(fresh.invoke(tenant, "u", PROVIDER, "echo", {}, {"text": "x"}))
    paths = [r.path.rsplit("/", 2)[-2:] for r in daemon.requests]
    assert paths.count(["management", "tool"]) == 1
    assert paths.count(["tool", "invoke"]) == 5 and len(paths) == 6
    daemon.reset_stats()
    list(fresh.invoke(tenant, "u", PROVIDER, "echo", {}, {"text": "x"}, cast_parameters=False))
    assert len(daemon.requests) == 1


def test_declaration_cache_expires(daemon, tenant):
    client = make_client(daemon, declaration_cache_ttl=0)
    install_sample(client, tenant)
    daemon.reset_stats()
    for _ in range(2):
        list(client.invoke(tenant, "u", PROVIDER, "echo", {}, {"text": "x"}))
    assert len(daemon.requests) == 4  # no cache: declaration + invoke each time


def test_casting_errors_raise_before_any_invoke(client, daemon, tenant, installed):
    client.fetch_tool_provider(tenant, PROVIDER)
    daemon.reset_stats()
    with pytest.raises(dpc.ToolParameterError) as info:
        client.invoke(tenant, "u", PROVIDER, "echo", {}, {"count": "many", "mode": "z"})
    message = str(info.value)
    assert "'count' = 'many' (expected a number)" in message
    assert "'mode' = 'z' (expected one of 'a', 'b')" in message
    assert "missing required: 'text'" in message
    assert daemon.requests == []
    with pytest.raises(dpc.InvalidArgumentError) as info:
        client.invoke(tenant, "u", PROVIDER, "nope", {}, {})
    assert "its tools: echo, ping, blob" in str(info.value)
    for bad in [dict(user_id=""), dict(tool_provider="acme/echo"),
                dict(credential_type="api_key"), dict(tool_parameters=[1]),
                dict(credentials="x"), dict(tool_parameters={"text": object()})]:
        arguments = dict(tenant_id=tenant, user_id="u", tool_provider=PROVIDER,
                         tool_name="echo", credentials={}, tool_parameters={"text": "x"})
        arguments.update(bad)
        with pytest.raises(dpc.InvalidArgumentError):
            arguments_cast = dict(arguments, cast_parameters="tool_parameters" not in bad)
            client.invoke(**arguments_cast)


def test_seed_readme_invoke_example_runs_as_written(client, daemon, tenant, installed, capsys):
    daemon.set_tool_handler("acme/echo", "echo", "echo", lambda request: [
        {"type": "text", "message": {"text": "hello "}, "meta": None},
        {"type": "text", "message": {"text": "world"}, "meta": None},
        {"type": "json", "message": {"json_object": {"hits": 2}}, "meta": None}])
    tenant_id = tenant
    # --- verbatim from the seed README ---
    stream = client.invoke(
        tenant_id=tenant_id,
        user_id="user-123",
        tool_provider="acme/echo/echo",
        tool_name="echo",
        credentials={},  # provider-specific
        tool_parameters={"text": "hello world"},
    )

    for msg in stream:
        if msg.type == "text":
            print(msg.message.text, end="")
        elif msg.type == "json":
            print(msg.message.data)
    # --- end ---
    assert capsys.readouterr().out == "hello world{'hits': 2}\n"


def test_every_message_type(client, daemon, tenant, installed):
    sent = [
        {"type": "text", "message": {"text": "t"}, "meta": None},
        {"type": "json", "message": {"json_object": [1, {"a": None}], "suppress_output": True},
         "meta": None},
        {"type": "json", "message": {"bare": 1}, "meta": None},
        {"type": "link", "message": {"text": "https://x/y"}, "meta": None},
        {"type": "image", "message": {"text": "https://x/i.png"}, "meta": None},
        {"type": "image_link", "message": {"text": "/files/tools/1.png"}, "meta": None},
        {"type": "binary_link", "message": {"text": "/files/tools/2.bin"}, "meta": None},
        {"type": "blob", "message": {"blob": "aGk="}, "meta": {"mime_type": "text/plain"}},
        {"type": "variable", "message": {"variable_name": "v", "variable_value": {"k": 1},
                                         "stream": False}, "meta": None},
        {"type": "log", "message": {"id": "l1", "label": "step", "parent_id": None,
                                    "error": None, "status": "success", "data": {"x": 1},
                                    "metadata": None}, "meta": None},
        {"type": "retriever_resources", "message": {"retriever_resources": [{"score": 0.5}],
                                                    "context": "ctx"}, "meta": None},
        {"type": "file", "message": {"file_marker": "file_marker"}, "meta": {"file": {}}},
    ]
    daemon.set_tool_handler("acme/echo", "echo", "ping", lambda request: sent)
    received = list(client.invoke(tenant, "u", PROVIDER, "ping", {}, {}))
    assert [m.type for m in received] == [m["type"] for m in sent]
    kinds = [type(m.message) for m in received]
    assert kinds == [dpc.TextMessage, dpc.JsonMessage, dpc.JsonMessage, dpc.TextMessage,
                     dpc.TextMessage, dpc.TextMessage, dpc.TextMessage, dpc.BlobMessage,
                     dpc.VariableMessage, dpc.LogMessage, dpc.RetrieverResourceMessage,
                     dpc.FileMessage]
    assert received[1].message.json_object == [1, {"a": None}]
    assert received[1].message.suppress_output is True
    assert received[2].message.data == {"bare": 1}
    assert received[7].message.blob == b"hi" and received[7].meta == {"mime_type": "text/plain"}
    assert received[9].message.metadata == {}
    assert received[11].message.data == {"file_marker": "file_marker"}


def test_unknown_message_type_is_kept(client, daemon, tenant, installed):
    def handler(handler_):  # the real daemon rejects unknown types; a newer one might not
        handler_.start_stream()
        handler_.send_event(go_json({"code": 0, "message": "success",
                                     "data": {"type": "hologram", "message": {"z": 1},
                                              "meta": None, "new_key": 2}}))
        handler_.end_stream()

    daemon.add_override("POST", r".*/dispatch/tool/invoke$", handler)
    [message] = list(client.invoke(tenant, "u", PROVIDER, "ping", {}, {}))
    assert message.type == "hologram" and message.message == dpc.UnknownMessage(data={"z": 1})
    assert message.extra == {"new_key": 2}


def test_blob_chunks_are_merged(client, daemon, tenant, installed):
    payload = bytes(range(256)) * 100  # 25,600 bytes: four chunks and an end marker
    daemon.set_tool_handler("acme/echo", "echo", "blob", lambda request: (
        [{"type": "text", "message": {"text": "before"}, "meta": None}]
        + blob_chunks(payload, {"mime_type": "application/octet-stream", "filename": "b.bin"})
        + [{"type": "text", "message": {"text": "after"}, "meta": None}]))
    messages = list(client.invoke(tenant, "u", PROVIDER, "blob", {}, {}))
    assert [m.type for m in messages] == ["text", "blob", "text"]
    assert messages[1].message.blob == payload
    assert messages[1].meta == {"mime_type": "application/octet-stream", "filename": "b.bin"}
    raw = list(client.invoke(tenant, "u", PROVIDER, "blob", {}, {}, merge_blob_chunks=False))
    chunks = [m.message for m in raw if m.type == "blob_chunk"]
    assert len(chunks) == 5 and chunks[-1].end and b"".join(c.blob for c in chunks) == payload


def test_blob_limits(daemon, tenant):
    client = make_client(daemon, max_blob_size=20000)
    install_sample(client, tenant)
    daemon.set_tool_handler("acme/echo", "echo", "blob",
                            lambda request: blob_chunks(b"x" * 30000))
    with pytest.raises(dpc.BlobTooLargeError):
        list(client.invoke(tenant, "u", PROVIDER, "blob", {}, {}))
    daemon.set_tool_handler("acme/echo", "echo", "blob",
                            lambda request: blob_chunks(b"x" * 20000, chunk=10000))
    with pytest.raises(dpc.BlobTooLargeError) as info:
        list(client.invoke(tenant, "u", PROVIDER, "blob", {}, {}))
    assert "max_blob_chunk_size" in str(info.value)
    daemon.set_tool_handler("acme/echo", "echo", "blob",
                            lambda request: blob_chunks(b"x" * 9000)[:1])
    with pytest.raises(dpc.InvalidResponseError) as info:
        list(client.invoke(tenant, "u", PROVIDER, "blob", {}, {}))
    assert "before blob(s)" in str(info.value)  # never-finished blobs are not dropped silently


def test_plugin_error_mid_stream(client, daemon, tenant, installed):
    def handler(request):
        yield {"type": "text", "message": {"text": "partial"}, "meta": None}
        raise FakePluginError("InvokeRateLimitError", "too many calls", {"retry_after": 3})

    daemon.set_tool_handler("acme/echo", "echo", "ping", handler)
    received = []
    with pytest.raises(dpc.InvokeRateLimitError) as info:
        for message in client.invoke(tenant, "u", PROVIDER, "ping", {}, {}):
            received.append(message)
    assert _text(received) == "partial"
    error = info.value
    assert error.error_type == "PluginInvokeError" and error.code == -500
    assert error.invoke_error_type == "InvokeRateLimitError"
    assert error.message == "too many calls" and error.invoke_args == {"retry_after": 3}
    daemon.set_tool_handler("acme/echo", "echo", "ping", lambda request: (_ for _ in ()).throw(
        FakePluginError("ValueError", "boom")))
    with pytest.raises(dpc.PluginInvokeError) as info:
        list(client.invoke(tenant, "u", PROVIDER, "ping", {}, {}))
    assert type(info.value) is dpc.PluginInvokeError
    assert info.value.invoke_error_type == "ValueError" and info.value.message == "boom"
    # the client stays usable
    assert list(client.invoke(tenant, "u", PROVIDER, "echo", {}, {"text": "ok"}))


def test_errors_before_the_stream(client, daemon, tenant, installed):
    with pytest.raises(dpc.PluginNotFoundError) as info:
        list(client.invoke(tenant, "u", "acme/absent/absent", "x", {}, {}, cast_parameters=False))
    assert info.value.http_status == 404 and info.value.code == -404
    bad_key = dpc.DifyPluginClient(dpc.PluginConfig(url=daemon.url, key="nope"))
    with pytest.raises(dpc.PluginDaemonUnauthorizedError):
        list(bad_key.invoke(tenant, "u", PROVIDER, "echo", {}, {}, cast_parameters=False))
    daemon.add_override("POST", r".*/dispatch/tool/invoke$", lambda h: h.send_body(
        500, go_json({"code": -500, "message": json.dumps({
            "message": "failed to get plugin runtime", "error_type":
            "PluginDaemonInternalServerError", "args": None}), "data": None})))
    with pytest.raises(dpc.PluginDaemonInternalServerError) as info:
        list(client.invoke(tenant, "u", PROVIDER, "echo", {}, {"text": "x"}))
    assert "runtime" in info.value.hint


def test_non_500_error_event_mid_stream_is_typed(client, daemon, tenant, installed):
    def handler(h):
        h.start_stream()
        h.send_event(go_json({"code": -404, "message": json.dumps({
            "message": "plugin not found", "error_type": "PluginNotFoundError", "args": None}),
            "data": None}))
        h.end_stream()

    daemon.add_override("POST", r".*/dispatch/tool/invoke$", handler)
    with pytest.raises(dpc.PluginNotFoundError):
        list(client.invoke(tenant, "u", PROVIDER, "ping", {}, {}))


def test_stream_cut_mid_event_raises(client, daemon, tenant, installed):
    def handler(h):
        h.start_stream()
        h.send_event(go_json({"code": 0, "message": "success",
                              "data": {"type": "text", "message": {"text": "a"}, "meta": None}}))
        h.send_chunk(b'data: {"code":0,"message":"succ')
        h.end_stream()  # a clean end of the HTTP body, in the middle of an event

    daemon.add_override("POST", r".*/dispatch/tool/invoke$", handler)
    received = []
    with pytest.raises(dpc.RemoteProtocolError) as info:
        for message in client.invoke(tenant, "u", PROVIDER, "ping", {}, {}):
            received.append(message)
    assert _text(received) == "a" and "middle of an event" in str(info.value)


def test_empty_stream_and_early_close(client, daemon, tenant, installed):
    daemon.set_tool_handler("acme/echo", "echo", "ping", lambda request: [])
    assert list(client.invoke(tenant, "u", PROVIDER, "ping", {}, {})) == []
    daemon.set_tool_handler("acme/echo", "echo", "ping", lambda request: [
        {"type": "text", "message": {"text": str(i)}, "meta": None} for i in range(1000)])
    daemon.reset_stats()
    stream = client.invoke(tenant, "u", PROVIDER, "ping", {}, {})
    assert next(stream).message.text == "0"
    stream.close()  # releases the connection: the next call works
    assert client.list_plugins_with_total(tenant).total == 1
    assert daemon.max_open_connections <= 2


def test_invoke_is_lazy_until_iterated(client, daemon, tenant, installed):
    client.fetch_tool_provider(tenant, PROVIDER)
    daemon.reset_stats()
    stream = client.invoke(tenant, "u", PROVIDER, "echo", {}, {"text": "x"})
    assert daemon.requests == []
    assert list(stream)
    assert len(daemon.requests) == 1


def test_blob_chunks_join_in_arrival_order_whatever_their_sequence(client, daemon, tenant,
                                                                   installed):
    """The daemon and Dify ignore `sequence`; a runtime other than the Python SDK may
    not number chunks (all 0 here, or out of order): chunks join as they arrive."""
    pieces = [b"a" * 100, b"b" * 100, b"c" * 50]

    def chunks(sequences):
        return [{"type": "blob_chunk", "message": {
            "id": "one", "sequence": number, "total_length": 250,
            "blob": base64.b64encode(piece).decode(), "end": False}, "meta": None}
            for number, piece in zip(sequences, pieces)] + [
            {"type": "blob_chunk", "message": {"id": "one", "sequence": 9, "total_length": 250,
                                               "blob": "", "end": True}, "meta": {"k": 1}}]

    for sequences in ([0, 0, 0], [2, 0, 1], [7, 7, 3]):
        daemon.set_tool_handler("acme/echo", "echo", "blob",
                                lambda request, s=sequences: chunks(s))
        messages = list(client.invoke(tenant, "u", PROVIDER, "blob", {}, {}))
        assert [m.type for m in messages] == ["blob"]
        assert messages[0].message.blob == b"".join(pieces) and messages[0].meta == {"k": 1}
