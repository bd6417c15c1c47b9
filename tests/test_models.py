"""Model providers and model calls (issue 14): the fake daemon, and the real daemon's
recorded answers.

Part 1 runs every model method and CLI command against the fake daemon with the offline
test plugin ``e2etest/echomodel`` (tests/e2e/plugins/echomodel) installed: the exact
request (method, path, query, headers, JSON body), the typed answer, errors, argument
checks, credential masking, the first-token timeout, streamed speech-to-text bodies and
LLM polling.

Part 2 replays every exchange of ``tests/transcripts/0.6.10-routes/model/`` and of the
model files of ``management/`` on loopback (tests/route_replay.py), as the daemon sent
them: the client's request must be the recorded one, and the answer must come out as the daemon
meant it (the recorded values in typed entities, the typed error its error_type names,
the recorded chunks of a stream).
"""

import binascii
import collections
import decimal
import io
import json
import os
import signal as signal_module
import stat
import sys
import time
import uuid

import pytest

import dify_plugin_client as dpc
import route_replay as rr
import transcript_replay as tr
from extensions_support import with_page_size
from fake_daemon import FakePluginError
from faultkit import raw_response, read_request_body, write_raw
from helpers import KEY, last_request, make_client

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(TESTS_DIR, "e2e"))
import build_plugin  # noqa: E402  (stdlib only; builds the offline test plugins)

PLUGIN = "e2etest/echomodel"
PROVIDER = "echomodel"
GOOD = {"api_key": "good"}
USER = "user-1"
PROMPT = [dpc.UserPromptMessage(content="x")]


# =============================================================================
# Part 1: against the fake daemon
# =============================================================================


@pytest.fixture
def installed(daemon, tenant):
    """The echomodel package installed for ``tenant`` (as built for the e2e suite)."""
    identifier = daemon.add_package(build_plugin.files(plugin="echomodel"))
    daemon.install(tenant, identifier)
    return identifier


def dispatched(daemon, route):
    """The last request to a model dispatch route, with its decoded JSON body."""
    request = last_request(daemon, "/dispatch/" + route)
    return request, json.loads(request.body.decode("utf-8"))


def assert_dispatch_request(request, tenant, route, accept="text/event-stream"):
    assert request.method == "POST"
    assert request.path == "/plugin/%s/dispatch/%s" % (tenant, route)
    assert request.query == {}
    assert request.headers["X-Plugin-ID"] == PLUGIN
    assert request.headers["X-Api-Key"] == KEY
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == accept


def base_data(model, model_type, credentials=GOOD):
    return {"provider": PROVIDER, "model": model, "model_type": model_type,
            "credentials": credentials}


# --- discovery -------------------------------------------------------------------------


def test_fetch_model_providers(client, daemon, tenant, installed):
    [provider] = client.fetch_model_providers(tenant)
    request = last_request(daemon)
    assert (request.method, request.path) == ("GET", "/plugin/%s/management/models" % tenant)
    assert request.query == {"page": ["1"], "page_size": ["256"]}
    assert provider.plugin_id == PLUGIN and provider.provider == PROVIDER
    assert provider.full_name == PLUGIN + "/" + PROVIDER
    assert provider.plugin_unique_identifier == installed and provider.tenant_id == tenant
    declaration = provider.declaration
    assert declaration.help.url.en_US == "https://example.invalid/echomodel"
    assert declaration.supported_model_types == [dpc.ModelType.LLM, dpc.ModelType.TEXT_EMBEDDING,
                                                 dpc.ModelType.RERANK, dpc.ModelType.TTS,
                                                 dpc.ModelType.SPEECH2TEXT,
                                                 dpc.ModelType.MODERATION]
    assert declaration.configurate_methods == ["predefined-model"]
    [field] = declaration.provider_credential_schema.credential_form_schemas
    assert (field.variable, field.type, field.required) == ("api_key", "secret-input",
                                                           True)
    by_type = declaration.models_by_type()
    assert sorted(by_type) == ["llm", "moderation", "rerank", "speech2text", "text-embedding",
                               "tts"]
    llm = declaration.model("echo-llm", dpc.ModelType.LLM)
    assert llm.has_feature(dpc.ModelFeature.POLLING) and llm.has_feature("tool-call")
    assert llm.model_properties == {"mode": "chat", "context_size": 4096}
    assert llm.pricing.input == decimal.Decimal("0.001")
    assert isinstance(llm.pricing.output, decimal.Decimal)
    temperature = llm.parameter_rule("temperature")
    assert temperature.type == "float" and temperature.max == 1
    assert llm.parameter_rule("echo_prefix").type == "string"
    assert declaration.model("echo-embed").pricing.output is None
    assert declaration.model("echo-llm", "rerank") is None


def test_fetch_model_providers_reads_every_page(client, daemon, tenant, installed):
    [real] = client.fetch_model_providers(tenant)
    rows = []
    for index in range(300):
        row = real.to_dict()
        row["id"] = str(uuid.uuid4())
        row["provider"] = row["declaration"]["provider"] = "p%d" % index
        rows.append(row)
    pages = []

    def paged(handler):
        page = int(handler.record.query["page"][0])
        size = int(handler.record.query["page_size"][0])
        pages.append(page)
        handler.send_json(200, {"code": 0, "message": "success",
                                "data": rows[(page - 1) * size:page * size]})

    daemon.add_override("GET", r"/management/models$", paged)
    providers = client.fetch_model_providers(tenant)
    assert pages == [1, 2]
    assert [p.provider for p in providers] == ["p%d" % i for i in range(300)]


def test_fetch_model_providers_of_an_empty_tenant(client, daemon, tenant):
    assert client.fetch_model_providers(tenant) == []



def test_unknown_enum_values_and_fields_are_kept(client, daemon, tenant, installed):
    [real] = client.fetch_model_providers(tenant)
    row = real.to_dict()
    row["declaration"]["supported_model_types"].append("video-gen")
    row["declaration"]["models"][0]["features"] = ["tool-call", "time-travel"]
    row["declaration"]["models"][0]["model_type"] = "video-gen"
    row["declaration"]["models"][0]["brand_new"] = {"x": 1}
    daemon.add_override("GET", r"/management/models$",
                        lambda h: h.send_json(200, {"code": 0, "message": "success",
                                                    "data": [row]}))
    [provider] = client.fetch_model_providers(tenant)
    assert provider.declaration.supported_model_types[-1] == "video-gen"
    model = provider.declaration.models[0]
    assert model.features == [dpc.ModelFeature.TOOL_CALL, "time-travel"]
    assert model.model_type == "video-gen" and model.extra == {"brand_new": {"x": 1}}
    assert model.to_dict()["brand_new"] == {"x": 1}


# --- LLM ---------------------------------------------------------------------------------


def test_invoke_llm_streams_typed_chunks(client, daemon, tenant, installed):
    messages = [dpc.SystemPromptMessage(content="You echo."),
                dpc.UserPromptMessage(content="hello wonderful world")]
    stream = client.invoke_llm(tenant, USER, PLUGIN, PROVIDER, "echo-llm", GOOD, messages,
                               {"temperature": 0.5}, stop=["END"])
    assert not [r for r in daemon.requests if "/dispatch/" in r.path]  # sent on iteration
    chunks = list(stream)
    request, body = dispatched(daemon, "llm/invoke")
    assert_dispatch_request(request, tenant, "llm/invoke")
    assert body == {"user_id": USER, "data": dict(
        base_data("echo-llm", "llm"), prompt_messages=[
            {"role": "system", "content": "You echo."},
            {"role": "user", "content": "hello wonderful world"}],
        model_parameters={"temperature": 0.5}, tools=[], stop=["END"], stream=True)}
    assert [chunk.text for chunk in chunks] == ["hello ", "wonderful ", "world ", ""]
    assert [chunk.delta.index for chunk in chunks] == [0, 1, 2, 3]
    assert all(isinstance(chunk, dpc.LLMResultChunk) for chunk in chunks)
    assert [chunk.delta.finish_reason for chunk in chunks] == [None, None, None, "stop"]
    usage = chunks[-1].delta.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (5, 3, 8)
    assert usage.total_price == decimal.Decimal("0.000011") and usage.currency == "USD"
    assert all(isinstance(getattr(usage, name), decimal.Decimal)
               for name in ("prompt_unit_price", "prompt_price_unit", "prompt_price",
                            "completion_unit_price", "completion_price_unit",
                            "completion_price", "total_price"))
    message = chunks[0].delta.message
    assert isinstance(message, dpc.AssistantPromptMessage)
    assert message.role == dpc.PromptMessageRole.ASSISTANT and message.extra == {}
    assert message.tool_call_id == ""
    assert chunks[0].system_fingerprint == "echo-fp-1" and chunks[0].prompt_messages == []


def test_invoke_llm_not_streamed_is_one_assembled_result(client, daemon, tenant, installed):
    result = client.invoke_llm(tenant, USER, PLUGIN, PROVIDER, "echo-llm", GOOD,
                               [{"role": "user", "content": "call get_weather Paris"}],
                               stream=False)
    _, body = dispatched(daemon, "llm/invoke")
    assert body["data"]["stream"] is False
    assert isinstance(result, dpc.LLMResult)
    assert result.text == "call get_weather Paris" and result.finish_reason is None
    [call] = result.message.tool_calls
    assert call.function.name == "get_weather"
    assert call.function.parsed_arguments() == {"args": ["Paris"]}
    assert result.usage.total_tokens == 6 and result.system_fingerprint == "echo-fp-1"


def test_not_streamed_tool_calls_without_ids_stay_apart(client, daemon, tenant, installed):
    """As Dify merges them: a piece with a name and no id starts a call; a piece with
    neither continues the last one (its arguments joined)."""
    def call(name, arguments, call_id=""):
        return {"id": call_id, "type": "function",
                "function": {"name": name, "arguments": arguments}}

    def pieces(request):
        yield {"model": "m", "delta": {"index": 0, "message": {"content": "", "tool_calls": [
            call("get_weather", '{"city":'), call("", '"Paris"}'), call("get_time", "{}")]}}}
        yield {"model": "m", "delta": {"index": 1, "message": {"content": "", "tool_calls": [
            call("lookup", '{"q":1}', "call_9"), call("", "", "call_9")]},
            "finish_reason": "tool_calls"}}
    daemon.set_dispatch_handler(PLUGIN, "llm/invoke", pieces)
    result = client.invoke_llm(tenant, USER, PLUGIN, PROVIDER, "echo-llm", GOOD, PROMPT,
                               stream=False)
    assert [(c.id, c.function.name, c.function.arguments) for c in result.message.tool_calls] \
        == [("", "get_weather", '{"city":"Paris"}'), ("", "get_time", "{}"),
            ("call_9", "lookup", '{"q":1}')]


def test_a_closed_file_is_refused(client, daemon, tenant, installed, tmp_path):
    path = tmp_path / "audio.wav"
    path.write_bytes(WAV)
    with open(str(path), "rb") as handle:
        pass
    with pytest.raises(dpc.InvalidArgumentError) as info:
        client.invoke_speech_to_text(tenant, USER, PLUGIN, PROVIDER, "s", GOOD, handle)
    assert info.value.argument == "file" and "closed" in info.value.message
    with pytest.raises(dpc.InvalidArgumentError) as info:
        client.upload_pkg(tenant, handle)
    assert "closed" in info.value.message
    assert not [r for r in daemon.requests if r.method == "POST"]


@pytest.mark.parametrize("seconds", [float("inf"), 1e12, float("nan")])
def test_a_timeout_too_long_to_count_is_refused_at_once(client, daemon, tenant, installed,
                                                         seconds):
    with pytest.raises(dpc.InvalidArgumentError) as info:
        client.invoke_llm(tenant, USER, PLUGIN, PROVIDER, "echo-llm", GOOD, PROMPT,
                          first_token_timeout=seconds)
    assert info.value.argument == "first_token_timeout"
    for build in (lambda: dpc.Timeout(seconds), lambda: dpc.Timeout(10.0, read=seconds),
                  lambda: dpc.PluginConfig(url="http://127.0.0.1:1", key="k",
                                           first_token_timeout=seconds)):
        with pytest.raises(dpc.InvalidArgumentError):
            build()


def test_invoke_llm_tool_calls_and_tools_in_every_form(client, daemon, tenant, installed):
    tools = [dpc.PromptMessageTool(name="get_weather", description="Weather of a city",
                                   parameters={"type": "object", "default": None}),
             {"type": "function", "function": {"name": "get_time", "description": "Time",
                                               "parameters": {"type": "object"}}},
             {"name": "plain", "description": "x", "parameters": {}}]
    chunks = list(client.invoke_llm(tenant, USER, PLUGIN, PROVIDER, "echo-llm", GOOD,
                                    [dpc.UserPromptMessage(content="call get_weather Paris")],
                                    tools=tools))
    _, body = dispatched(daemon, "llm/invoke")
    assert body["data"]["tools"] == [
        {"name": "get_weather", "description": "Weather of a city",
         "parameters": {"type": "object", "default": None}},  # a null in a schema is kept
        {"name": "get_time", "description": "Time", "parameters": {"type": "object"}},
        {"name": "plain", "description": "x", "parameters": {}}]
    [with_call] = [chunk for chunk in chunks if chunk.delta.message.tool_calls]
    [call] = with_call.delta.message.tool_calls
    assert call.id.startswith("call_") and call.type == "function"
    assert with_call.system_fingerprint == ""  # the daemon writes the plugin's None so
    assert chunks[-1].delta.finish_reason == "tool_calls"


def test_prompt_messages_typed_and_openai_shapes(client, daemon, tenant, installed):
    history = [
        dpc.SystemPromptMessage(content="sys"),
        dpc.UserPromptMessage(content="call get_weather Paris", name="alice"),
        dpc.AssistantPromptMessage(content="", tool_calls=[dpc.AssistantToolCall(
            id="call_1", function=dpc.AssistantToolCallFunction(
                name="get_weather", arguments='{"city": "Paris"}'))]),
        dpc.ToolPromptMessage(content="sunny", tool_call_id="call_1", name="get_weather"),
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_2", "type": "function",
             "function": {"name": "f", "arguments": {"a": 1}}}]},
        {"role": dpc.PromptMessageRole.DEVELOPER, "content": "dev"},
        dpc.UserPromptMessage(content=[
            dpc.TextPromptMessageContent(data="describe "),
            dpc.ImagePromptMessageContent(url="https://example.invalid/cat.png",
                                          mime_type="image/png", format="png", detail="low"),
            {"type": "text", "text": "this "},
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,QUJD",
                                                "detail": "high"}},
            {"type": "image_url", "image_url": "https://example.invalid/dog.webp"},
            {"type": "image_url", "image_url": {"url": "https://example.invalid/owl.gif",
                                                "detail": "auto"}},  # OpenAI's default
            {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE",
                                      "filename": "a.pdf"}},
            {"type": "video", "url": "https://example.invalid/v.mp4", "format": "mp4",
             "mime_type": "video/mp4"},
            {"type": "text", "data": "picture"},
        ]),
    ]
    chunks = list(client.invoke_llm(tenant, USER, PLUGIN, PROVIDER, "echo-llm", GOOD, history))
    _, body = dispatched(daemon, "llm/invoke")
    assert body["data"]["prompt_messages"] == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "call get_weather Paris", "name": "alice"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}],
         "tool_call_id": ""},
        {"role": "tool", "content": "sunny", "name": "get_weather", "tool_call_id": "call_1"},
        {"role": "assistant", "content": "", "tool_calls": [  # no content goes as ""
            {"id": "call_2", "type": "function",
             "function": {"name": "f", "arguments": '{"a":1}'}}]},
        {"role": "developer", "content": "dev"},
        {"role": "user", "content": [
            {"type": "text", "data": "describe "},
            {"type": "image", "format": "png", "base64_data": "",
             "url": "https://example.invalid/cat.png", "mime_type": "image/png",
             "filename": "", "detail": "low"},
            {"type": "text", "data": "this "},
            {"type": "image", "base64_data": "QUJD", "mime_type": "image/jpeg",
             "format": "jpeg", "detail": "high"},
            {"type": "image", "url": "https://example.invalid/dog.webp", "format": "webp",
             "mime_type": "image/webp", "detail": "low"},  # Dify's default detail
            {"type": "image", "url": "https://example.invalid/owl.gif", "format": "gif",
             "mime_type": "image/gif", "detail": "low"},
            {"type": "audio", "base64_data": "UklGRg==", "format": "wav",
             "mime_type": "audio/x-wav"},
            {"type": "document", "base64_data": "JVBE", "mime_type": "application/pdf",
             "format": "pdf", "filename": "a.pdf"},
            {"type": "video", "url": "https://example.invalid/v.mp4", "format": "mp4",
             "mime_type": "video/mp4"},
            {"type": "text", "data": "picture"}]},
    ]
    assert "".join(chunk.text for chunk in chunks) == "describe this picture "


def test_json_schema_and_parameters_are_sent(client, daemon, tenant, installed):
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    list(client.invoke_llm(tenant, USER, PLUGIN, PROVIDER, "echo-llm", GOOD,
                           [dpc.UserPromptMessage(content="x")], {"echo_prefix": "P"},
                           json_schema=json.dumps(schema)))
    _, body = dispatched(daemon, "llm/invoke")
    assert body["data"]["json_schema"] == schema
    assert body["data"]["model_parameters"] == {"echo_prefix": "P"}


def test_llm_chunks_with_content_parts_and_streamed_tool_calls(client, daemon, tenant, installed):
    def handler(call):
        yield {"__raw__": {"model": "m", "system_fingerprint": "", "prompt_messages": [
            {"role": "user", "content": "q"}, {"role": "wizard", "content": "w"}],
            "delta": {"index": 0, "message": {
                "role": "assistant", "content": [{"type": "text", "data": "a"},
                                                 {"type": "image", "url": "u", "format": "png",
                                                  "mime_type": "image/png"},
                                                 {"type": "hologram", "x": 1}],
                "tool_calls": [{"id": "c1", "type": "function",
                                "function": {"name": "f", "arguments": '{"x": '}}]},
                "usage": None, "finish_reason": None}}}
        yield {"__raw__": {"model": "m", "delta": {"index": 1, "message": {
            "role": "assistant", "content": "b", "tool_calls": [
                {"id": "", "type": "function", "function": {"name": "", "arguments": "1}"}},
                {"id": 7, "type": "function", "function": {"name": "g", "arguments": "{}"}}]},
            "finish_reason": "tool_calls"}}}

    daemon.set_dispatch_handler(PLUGIN, "llm/invoke", handler)
    chunks = list(client.invoke_llm(tenant, USER, PLUGIN, PROVIDER, "echo-llm", GOOD,
                                    [dpc.UserPromptMessage(content="x")]))
    first = chunks[0]
    parts = first.delta.message.content
    assert isinstance(parts[0], dpc.TextPromptMessageContent) and parts[0].data == "a"
    assert isinstance(parts[1], dpc.ImagePromptMessageContent) and parts[1].mime_type == "image/png"
    assert parts[2] == {"type": "hologram", "x": 1}  # an unknown part type is kept as sent
    assert first.text == "a"
    assert isinstance(first.prompt_messages[0], dpc.UserPromptMessage)
    assert type(first.prompt_messages[1]) is dpc.PromptMessage
    assert first.prompt_messages[1].role == "wizard"
    assert chunks[1].delta.message.tool_calls[1].id == "7"

    result = client.invoke_llm(tenant, USER, PLUGIN, PROVIDER, "echo-llm", GOOD,
                               [dpc.UserPromptMessage(content="x")], stream=False)
    content = result.message.content
    assert [type(part) for part in content] == [dpc.TextPromptMessageContent,
                                                dpc.ImagePromptMessageContent, dict,
                                                dpc.TextPromptMessageContent]
    assert content[3].data == "b" and result.text == "ab"
    assert [(c.id, c.function.name, c.function.arguments) for c in result.message.tool_calls] == [
        ("c1", "f", '{"x": 1}'), ("7", "g", "{}")]
    assert result.finish_reason == "tool_calls" and result.usage is None


def test_one_answer_routes_reuse_their_connection(client, daemon, tenant, installed):
    """A route answered by one event reads the stream's end too, so its connection goes
    back to the pool (closed before it, every call opened a new connection)."""
    def count():
        return client.get_llm_num_tokens(tenant, USER, PLUGIN, PROVIDER, dpc.ModelType.LLM,
                                         "echo-llm", GOOD, [{"role": "user", "content": "a"}])
    count()
    opened = client._transport.connections_opened
    assert [count() for _ in range(5)] == [count()] * 5
    assert client._transport.connections_opened == opened


def test_get_llm_num_tokens(client, daemon, tenant, installed):
    count = client.get_llm_num_tokens(
        tenant, USER, PLUGIN, PROVIDER, dpc.ModelType.LLM, "echo-llm", GOOD,
        [{"role": "user", "content": "one two three"}],
        [{"name": "get_weather", "description": "Get the weather for a city",
          "parameters": {"type": "object"}}])
    request, body = dispatched(daemon, "llm/num_tokens")
    assert_dispatch_request(request, tenant, "llm/num_tokens")
    assert body == {"user_id": USER, "data": dict(
        base_data("echo-llm", "llm"),
        prompt_messages=[{"role": "user", "content": "one two three"}],
        tools=[{"name": "get_weather", "description": "Get the weather for a city",
                "parameters": {"type": "object"}}])}
    assert count == 10


# --- embeddings, rerank --------------------------------------------------------------------


def test_invoke_text_embedding(client, daemon, tenant, installed):
    result = client.invoke_text_embedding(tenant, USER, PLUGIN, PROVIDER, "echo-embed", GOOD,
                                          ["hello world", "second text here"])
    request, body = dispatched(daemon, "text_embedding/invoke")
    assert_dispatch_request(request, tenant, "text_embedding/invoke")
    assert body == {"user_id": USER, "data": dict(
        base_data("echo-embed", "text-embedding"), texts=["hello world", "second text here"],
        input_type="document")}
    assert isinstance(result, dpc.EmbeddingResult) and result.model == "echo-embed"
    assert [len(vector) for vector in result.embeddings] == [8, 8]
    assert result.embeddings[0][0] == 0.45098  # the recorded plugin's first value
    assert result.usage.tokens == 5 and result.usage.unit_price == decimal.Decimal("0.0001")
    assert isinstance(result.usage.total_price, decimal.Decimal)
    query = client.invoke_text_embedding(tenant, USER, PLUGIN, PROVIDER, "echo-embed", GOOD,
                                         ["hello world"], input_type="query")
    assert query.embeddings[0][0] == -0.733333
    assert client.invoke_text_embedding(tenant, USER, PLUGIN, PROVIDER, "echo-embed", GOOD,
                                        []).embeddings == []


def test_invoke_multimodal_embedding(client, daemon, tenant, installed):
    result = client.invoke_multimodal_embedding(
        tenant, USER, PLUGIN, PROVIDER, "echo-embed", GOOD,
        [dpc.MultimodalInput(content="hello"),
         {"content": "aGVsbG8=", "content_type": "image"}])
    request, body = dispatched(daemon, "multimodal_embedding/invoke")
    assert_dispatch_request(request, tenant, "multimodal_embedding/invoke")
    assert body == {"user_id": USER, "data": dict(
        base_data("echo-embed", "text-embedding"),
        documents=[{"content": "hello", "content_type": "text"},
                   {"content": "aGVsbG8=", "content_type": "image"}], input_type="document")}
    assert result.embeddings[0][0] == 0.835294 and len(result.embeddings) == 2


def test_get_text_embedding_num_tokens(client, daemon, tenant, installed):
    counts = client.get_text_embedding_num_tokens(tenant, USER, PLUGIN, PROVIDER, "echo-embed",
                                                  GOOD, ["a b c", "d", ""])
    request, body = dispatched(daemon, "text_embedding/num_tokens")
    assert_dispatch_request(request, tenant, "text_embedding/num_tokens")
    assert body == {"user_id": USER, "data": dict(base_data("echo-embed", "text-embedding"),
                                                  texts=["a b c", "d", ""])}
    assert counts == [3, 1, 0]


def test_invoke_rerank(client, daemon, tenant, installed):
    result = client.invoke_rerank(tenant, USER, PLUGIN, PROVIDER, "echo-rerank", GOOD,
                                  "red apple pie", ["green apple", "red apple pie recipe",
                                                    "blue car", "apple"],
                                  score_threshold=0.1, top_n=2)
    request, body = dispatched(daemon, "rerank/invoke")
    assert_dispatch_request(request, tenant, "rerank/invoke")
    assert body == {"user_id": USER, "data": dict(
        base_data("echo-rerank", "rerank"), query="red apple pie",
        docs=["green apple", "red apple pie recipe", "blue car", "apple"], score_threshold=0.1,
        top_n=2)}
    assert [(doc.index, doc.text, doc.score) for doc in result.docs] == [
        (1, "red apple pie recipe", 1.0), (0, "green apple", 0.3333)]
    # no top_n: the number of documents (the daemon would turn a null into 0: keep none)
    every = client.invoke_rerank(tenant, USER, PLUGIN, PROVIDER, "echo-rerank", GOOD, "a",
                                 ["a b", "b", "a"])
    _, body = dispatched(daemon, "rerank/invoke")
    assert body["data"]["score_threshold"] is None and body["data"]["top_n"] == 3
    assert [doc.index for doc in every.docs] == [0, 2, 1]


def test_invoke_multimodal_rerank(client, daemon, tenant, installed):
    result = client.invoke_multimodal_rerank(
        tenant, USER, PLUGIN, PROVIDER, "echo-rerank", GOOD,
        dpc.MultimodalInput(content="red apple"),
        [{"content": "apple", "content_type": "text"}, dpc.MultimodalInput(content="car")],
        score_threshold=0.0, top_n=5)
    request, body = dispatched(daemon, "multimodal_rerank/invoke")
    assert_dispatch_request(request, tenant, "multimodal_rerank/invoke")
    assert body == {"user_id": USER, "data": dict(
        base_data("echo-rerank", "rerank"), query={"content": "red apple", "content_type": "text"},
        docs=[{"content": "apple", "content_type": "text"},
              {"content": "car", "content_type": "text"}], score_threshold=0.0, top_n=5)}
    assert [(doc.index, doc.score) for doc in result.docs] == [(0, 0.5), (1, 0.0)]


# --- audio, moderation --------------------------------------------------------------------


def test_invoke_tts_yields_decoded_audio(client, daemon, tenant, installed):
    pieces = client.invoke_tts(tenant, USER, PLUGIN, PROVIDER, "echo-tts", GOOD,
                               "hello audio world", "alloy")
    assert list(pieces) == [b"ID3\x04\x00\x00", b"alloy:hello", b"alloy:audio", b"alloy:world"]
    request, body = dispatched(daemon, "tts/invoke")
    assert_dispatch_request(request, tenant, "tts/invoke")
    assert body == {"user_id": USER, "data": dict(
        base_data("echo-tts", "tts"), content_text="hello audio world", voice="alloy",
        tenant_id=tenant)}


def test_invoke_tts_refuses_audio_that_is_not_hex(client, daemon, tenant, installed):
    daemon.set_dispatch_handler(PLUGIN, "tts/invoke",
                                lambda call: iter([{"result": "4944"}, {"result": "zz"}]))
    pieces = client.invoke_tts(tenant, USER, PLUGIN, PROVIDER, "echo-tts", GOOD, "x", "alloy")
    assert next(pieces) == b"ID"
    with pytest.raises(dpc.ResponseValidationError) as info:
        next(pieces)
    assert info.value.path == "data.result" and "not hex" in info.value.message


def test_invoke_tts_large_chunks_are_read_from_the_raw_bytes(client, daemon, tenant, installed,
                                                            monkeypatch):
    """Events of 8 KiB of hex, as real TTS plugins send them, arrive whole and in order;
    most reach the TTS reader undecoded (memoryviews of the read), and a bad one among
    them is still refused."""
    pieces = [bytes((index + offset) % 256 for offset in range(4096)) for index in range(200)]
    forms = []
    quick = dpc._tts_chunk_reader

    def counting_reader():
        read = quick()
        return lambda data, route: forms.append(type(data)) or read(data, route)
    monkeypatch.setattr(dpc, "_tts_chunk_reader", counting_reader)
    daemon.set_dispatch_handler(PLUGIN, "tts/invoke", lambda call: iter(
        [{"result": piece.hex(), "mime_type": "audio/mpeg"} for piece in pieces]))
    audio = list(client.invoke_tts(tenant, USER, PLUGIN, PROVIDER, "echo-tts", GOOD, "x",
                                   "alloy"))
    assert audio == pieces
    assert forms.count(memoryview) > len(pieces) // 2
    bad = [{"result": piece.hex()} for piece in pieces[:50]] + [{"result": "zz" * 4096}]
    daemon.set_dispatch_handler(PLUGIN, "tts/invoke", lambda call: iter(bad))
    stream = client.invoke_tts(tenant, USER, PLUGIN, PROVIDER, "echo-tts", GOOD, "x", "alloy")
    with pytest.raises(dpc.ResponseValidationError) as info:
        list(stream)
    assert info.value.path == "data.result" and "not hex" in info.value.message


def test_closing_the_audio_closes_its_stream(client, tenant, monkeypatch):
    """Closing invoke_tts's generator closes the chunk stream under it at once (its
    connection goes back to the pool), not when the garbage collector gets to it."""
    closed = []

    def chunks():
        try:
            yield dpc._TTSChunk(result=b"a")
            yield dpc._TTSChunk(result=b"b")
        finally:
            closed.append(True)
    stream = chunks()  # still referenced: only an explicit close ends it
    monkeypatch.setattr(dpc._Models, "_model_stream", lambda *args, **kwargs: stream)
    audio = client.invoke_tts(tenant, USER, PLUGIN, PROVIDER, "echo-tts", GOOD, "x", "alloy")
    assert next(audio) == b"a"
    audio.close()
    assert closed == [True]


def test_get_tts_model_voices(client, daemon, tenant, installed):
    voices = client.get_tts_model_voices(tenant, USER, PLUGIN, PROVIDER, "echo-tts", GOOD)
    request, body = dispatched(daemon, "tts/model/voices")
    assert_dispatch_request(request, tenant, "tts/model/voices")
    assert body == {"user_id": USER, "data": base_data("echo-tts", "tts")}
    assert [(v.name, v.value) for v in voices] == [("Alloy", "alloy"), ("Nova", "nova")]
    german = client.get_tts_model_voices(tenant, USER, PLUGIN, PROVIDER, "echo-tts", GOOD,
                                         language="de-DE")
    assert dispatched(daemon, "tts/model/voices")[1]["data"]["language"] == "de-DE"
    assert [v.value for v in german] == ["nova"]


WAV = b"RIFF$\x00\x00\x00WAVEfmt " + bytes(range(24))


@pytest.mark.parametrize("form", ["bytes", "path", "file", "pipe"])
def test_invoke_speech_to_text_sends_hex(client, daemon, tenant, installed, tmp_path, form):
    path = tmp_path / "speech.wav"
    path.write_bytes(WAV)
    if form == "bytes":
        source = WAV
    elif form == "path":
        source = str(path)
    elif form == "file":
        source = open(str(path), "rb")
    else:
        read_end, write_end = os.pipe()
        os.write(write_end, WAV)
        os.close(write_end)
        source = os.fdopen(read_end, "rb")
    try:
        text = client.invoke_speech_to_text(tenant, USER, PLUGIN, PROVIDER, "echo-s2t", GOOD,
                                            source)
    finally:
        if hasattr(source, "close"):
            source.close()
    request, body = dispatched(daemon, "speech2text/invoke")
    assert_dispatch_request(request, tenant, "speech2text/invoke")
    assert body == {"user_id": USER, "data": dict(base_data("echo-s2t", "speech2text"),
                                                  file=binascii.hexlify(WAV).decode("ascii"))}
    assert request.headers["Content-Length"] == str(len(request.body))
    assert text == "hello from echo speech2text (%d bytes, .wav)" % len(WAV)


def test_speech_to_text_body_is_streamed_in_blocks(client, daemon, tenant, installed, tmp_path):
    audio = os.urandom(3 * dpc._HEX_BLOCK + 17)
    path = tmp_path / "big.wav"
    path.write_bytes(audio)
    body = dpc._HexFileJSONBody({"user_id": USER, "data": {"file": None}}, "file",
                                dpc._UploadSource.open(str(path), "file", 1 << 40))
    blocks = list(body.blocks())
    assert len(blocks) == 6 and max(len(block) for block in blocks) == 2 * dpc._HEX_BLOCK
    joined = b"".join(blocks)
    assert len(joined) == body.length
    assert json.loads(joined) == {"user_id": USER, "data": {"file": audio.hex()}}
    assert client.invoke_speech_to_text(tenant, USER, PLUGIN, PROVIDER, "echo-s2t", GOOD,
                                        str(path)).startswith("hello from echo speech2text (%d "
                                                              "bytes" % len(audio))


def test_speech_to_text_file_that_shrinks_or_is_text(client, tmp_path, tenant):
    path = tmp_path / "a.wav"
    path.write_bytes(b"abc")
    with open(str(path), "r") as text_file:
        with pytest.raises(dpc.InvalidArgumentError, match="binary mode") as info:
            client.invoke_speech_to_text(tenant, USER, PLUGIN, PROVIDER, "echo-s2t", GOOD,
                                         text_file)
    assert info.value.argument == "file"
    source = dpc._UploadSource.open(str(path), "file", 100)
    source.size = 10  # the file is shorter than it was when measured
    with pytest.raises(dpc.InvalidArgumentError, match="got shorter"):
        list(dpc._file_blocks(source, "file"))
    with pytest.raises(dpc.InvalidArgumentError, match="cannot read file"):
        client.invoke_speech_to_text(tenant, USER, PLUGIN, PROVIDER, "echo-s2t", GOOD,
                                     str(tmp_path / "missing.wav"))


def test_invoke_moderation(client, daemon, tenant, installed):
    assert client.invoke_moderation(tenant, USER, PLUGIN, PROVIDER, "echo-mod", GOOD,
                                    "this is forbidden content") is True
    request, body = dispatched(daemon, "moderation/invoke")
    assert_dispatch_request(request, tenant, "moderation/invoke")
    assert body == {"user_id": USER, "data": dict(base_data("echo-mod", "moderation"),
                                                  text="this is forbidden content")}
    assert client.invoke_moderation(tenant, USER, PLUGIN, PROVIDER, "echo-mod", GOOD,
                                    "all fine") is False


# --- credentials and schemas ----------------------------------------------------------------


def test_validate_provider_credentials_returns_result_and_credentials(client, daemon, tenant,
                                                                      installed):
    daemon.set_dispatch_handler(PLUGIN, "model/validate_provider_credentials", lambda call: iter(
        [{"result": True, "credentials": dict(call.data["credentials"], region="eu")}]))
    checked = client.validate_provider_credentials(tenant, USER, PLUGIN, PROVIDER,
                                                   {"api_key": "good-key-123"})
    request, body = dispatched(daemon, "model/validate_provider_credentials")
    assert_dispatch_request(request, tenant, "model/validate_provider_credentials")
    assert body == {"user_id": USER, "data": {"provider": PROVIDER,
                                              "credentials": {"api_key": "good-key-123"}}}
    assert isinstance(checked, dpc.CredentialsValidationResult) and checked
    assert checked.credentials == {"api_key": "good-key-123", "region": "eu"}
    assert "good-key-123" not in repr(checked) and "hidden" in repr(checked)


def test_validate_model_credentials(client, daemon, tenant, installed):
    checked = client.validate_model_credentials(tenant, USER, PLUGIN, PROVIDER,
                                                dpc.ModelType.RERANK, "echo-rerank", GOOD)
    request, body = dispatched(daemon, "model/validate_model_credentials")
    assert_dispatch_request(request, tenant, "model/validate_model_credentials")
    assert body == {"user_id": USER, "data": base_data("echo-rerank", "rerank")}
    assert checked.result is True and checked.credentials == GOOD


def test_failed_credential_checks_raise_and_mask_the_credentials(client, daemon, tenant,
                                                                 installed):
    secret = "sk-live-0123456789"

    def refuse(call):
        raise FakePluginError("CredentialsValidateFailedError",
                              "api_key %s is revoked" % call.data["credentials"]["api_key"],
                              {"traceback": "File x, api_key=%r" % secret,
                               "nested": [secret]})

    daemon.set_dispatch_handler(PLUGIN, "model/validate_provider_credentials", refuse)
    with pytest.raises(dpc.CredentialsValidateFailedError) as info:
        client.validate_provider_credentials(tenant, USER, PLUGIN, PROVIDER, {"api_key": secret})
    error = info.value
    assert error.message == "api_key *** is revoked"
    for text in (str(error), repr(error), repr(error.args), repr(vars(error))):
        assert secret not in text
    assert error.invoke_args == {"traceback": "File x, api_key='***'", "nested": ["***"]}


def test_llm_stream_errors_mask_the_credentials(client, daemon, tenant, installed):
    secret = "super-secret-key"

    def echo_key(call):
        yield {"model": "m", "delta": {"index": 0, "message": {"content": "a"}}}
        raise FakePluginError("InvokeAuthorizationError", "bad key %s" % secret)

    daemon.set_dispatch_handler(PLUGIN, "llm/invoke", echo_key)
    stream = client.invoke_llm(tenant, USER, PLUGIN, PROVIDER, "echo-llm",
                               {"api_key": secret, "nested": {"token": secret + "2"}},
                               [dpc.UserPromptMessage(content="x")])
    assert next(stream).text == "a"
    with pytest.raises(dpc.InvokeAuthorizationError) as info:
        next(stream)
    assert info.value.message == "bad key ***" and secret not in str(info.value)
    assert dpc._secret_values({"a": secret, "b": [secret + "2", "abc"], "c": 5}) == [
        secret + "2", secret]


def test_get_model_schema(client, daemon, tenant, installed):
    schema = client.get_model_schema(tenant, USER, PLUGIN, PROVIDER, "llm", "echo-llm", GOOD)
    request, body = dispatched(daemon, "model/schema")
    assert_dispatch_request(request, tenant, "model/schema")
    assert body == {"user_id": USER, "data": base_data("echo-llm", "llm")}
    assert isinstance(schema, dpc.AIModelEntity) and schema.model == "echo-llm"
    assert schema.pricing.output == decimal.Decimal("0.002")
    assert client.get_model_schema(tenant, USER, PLUGIN, PROVIDER, "llm", "nope", GOOD) is None


# --- polling -----------------------------------------------------------------------------


def test_start_and_check_polling(client, daemon, tenant, installed):
    started = client.start_model_polling(tenant, USER, PLUGIN, PROVIDER, "echo-llm", GOOD,
                                         [dpc.UserPromptMessage(content="poll this text")],
                                         {"temperature": 0.5})
    request, body = dispatched(daemon, "model/polling/start")
    assert_dispatch_request(request, tenant, "model/polling/start", accept="application/json")
    assert body == {"user_id": USER, "data": dict(
        base_data("echo-llm", "llm"), prompt_messages=[{"role": "user",
                                                        "content": "poll this text"}],
        model_parameters={"temperature": 0.5}, tools=[], stop=[], stream=False)}
    assert started.status == dpc.ModelPollingStatus.RUNNING and not started.finished
    assert started.plugin_state["text"] == "poll this text"
    assert (started.next_check_after_seconds, started.expires_after_seconds,
            started.max_attempts) == (1, 60, 5)
    done = client.check_model_polling(tenant, USER, PLUGIN, PROVIDER, "echo-llm", GOOD,
                                      started.plugin_state)
    request, body = dispatched(daemon, "model/polling/check")
    assert_dispatch_request(request, tenant, "model/polling/check", accept="application/json")
    assert body == {"user_id": USER, "data": dict(base_data("echo-llm", "llm"),
                                                  plugin_state=started.plugin_state)}
    assert done.status == dpc.ModelPollingStatus.SUCCEEDED and done.finished
    assert done.result.text == "poll this text"
    assert done.result.usage.prompt_price == decimal.Decimal("0.0000030")
    failed = client.check_model_polling(tenant, USER, PLUGIN, PROVIDER, "echo-llm", GOOD,
                                        {"fail": True})
    assert failed.status == dpc.ModelPollingStatus.FAILED
    assert failed.error == "echo polling failed on request"


def test_polling_errors_are_typed(client, daemon, tenant, installed):
    with pytest.raises(dpc.InvokeAuthorizationError) as info:
        client.start_model_polling(tenant, USER, PLUGIN, PROVIDER, "echo-llm",
                                   {"api_key": "wrong-key"}, [{"role": "user", "content": "x"}])
    assert info.value.http_status == 500 and info.value.code == -500
    with pytest.raises(dpc.PluginInvokeError, match="does not support polling"):
        client.start_model_polling(tenant, USER, PLUGIN, PROVIDER, "echo-embed", GOOD,
                                   [{"role": "user", "content": "x"}])
    before = len(daemon.requests)
    with pytest.raises(dpc.InvalidArgumentError) as refused:
        client.check_model_polling(tenant, USER, PLUGIN, PROVIDER, "echo-llm", GOOD, {})
    assert refused.value.argument == "plugin_state" and len(daemon.requests) == before


def _polling_plugin(daemon, answers):
    """Make the plugin answer start, then each check, with ``answers`` in turn."""
    queue = collections.deque(answers)
    seen = []

    def answer(call):
        seen.append(call.data.get("plugin_state"))
        return iter([queue.popleft()])

    daemon.set_dispatch_handler(PLUGIN, "model/polling/start", answer)
    daemon.set_dispatch_handler(PLUGIN, "model/polling/check", answer)
    return seen


RUNNING = {"status": "running", "plugin_state": {"step": 0}, "next_check_after_seconds": 0.01}
SUCCEEDED = {"status": "succeeded", "result": {
    "model": "echo-llm", "prompt_messages": [], "message": {"role": "assistant",
                                                            "content": "done"},
    "usage": None}}


def test_poll_llm_checks_until_the_result(client, daemon, tenant, installed):
    second = dict(RUNNING, plugin_state={"step": 1})
    seen = _polling_plugin(daemon, [RUNNING, second, SUCCEEDED])
    progress = []
    result = client.poll_llm(tenant, USER, PLUGIN, PROVIDER, "echo-llm", GOOD,
                             [dpc.UserPromptMessage(content="x")], on_progress=progress.append)
    assert result.text == "done"
    assert seen == [None, {"step": 0}, {"step": 1}]  # each check carries the last state
    assert [str(answer.status) for answer in progress] == ["running", "running", "succeeded"]


def test_poll_llm_failure_and_limits(client, daemon, tenant, installed):
    _polling_plugin(daemon, [RUNNING, {"status": "failed", "error": "quota gone"}])
    with pytest.raises(dpc.PluginInvokeError, match="quota gone"):
        client.poll_llm(tenant, USER, PLUGIN, PROVIDER, "echo-llm", GOOD,
                        [dpc.UserPromptMessage(content="x")])
    _polling_plugin(daemon, [dict(RUNNING, max_attempts=2)] + [RUNNING] * 5)
    with pytest.raises(dpc.TimeoutException, match="after 2 checks"):
        client.poll_llm(tenant, USER, PLUGIN, PROVIDER, "echo-llm", GOOD,
                        [dpc.UserPromptMessage(content="x")])
    _polling_plugin(daemon, [dict(RUNNING, next_check_after_seconds=5)])
    began = time.monotonic()
    with pytest.raises(dpc.TimeoutException, match="still running after 1 s"):
        client.poll_llm(tenant, USER, PLUGIN, PROVIDER, "echo-llm", GOOD,
                        [dpc.UserPromptMessage(content="x")], timeout=1)
    assert time.monotonic() - began < 1.0  # it does not sleep past the deadline
    _polling_plugin(daemon, [dict(RUNNING, expires_after_seconds=0.001,
                                  next_check_after_seconds=0.5)])
    with pytest.raises(dpc.TimeoutException, match="expires"):
        client.poll_llm(tenant, USER, PLUGIN, PROVIDER, "echo-llm", GOOD,
                        [dpc.UserPromptMessage(content="x")])
    for bad, text in (({"status": "running"}, "without a plugin_state"),
                      ({"status": "succeeded"}, "without a result"),
                      ({"status": "paused", "plugin_state": {"a": 1}}, "unknown status")):
        _polling_plugin(daemon, [bad])
        with pytest.raises(dpc.InvalidResponseError, match=text):
            client.poll_llm(tenant, USER, PLUGIN, PROVIDER, "echo-llm", GOOD,
                            [dpc.UserPromptMessage(content="x")])


# --- errors ------------------------------------------------------------------------------

INVOKE_ERRORS = ["InvokeRateLimitError", "InvokeAuthorizationError", "InvokeBadRequestError",
                 "InvokeConnectionError", "InvokeServerUnavailableError",
                 "CredentialsValidateFailedError", "PluginLLMPollingUnsupportedError"]


@pytest.mark.parametrize("error_type", INVOKE_ERRORS + ["ValueError"])
def test_plugin_errors_map_to_typed_classes(client, daemon, tenant, installed, error_type):
    def fail(call):
        raise FakePluginError(error_type, "it failed: " + error_type)

    expected = getattr(dpc, error_type, dpc.PluginInvokeError)
    calls = [
        ("llm/invoke", lambda: list(client.invoke_llm(
            tenant, USER, PLUGIN, PROVIDER, "echo-llm", GOOD, [dpc.UserPromptMessage(content="x")]))),
        ("text_embedding/invoke", lambda: client.invoke_text_embedding(
            tenant, USER, PLUGIN, PROVIDER, "echo-embed", GOOD, ["x"])),
        ("tts/invoke", lambda: list(client.invoke_tts(tenant, USER, PLUGIN, PROVIDER, "echo-tts",
                                                      GOOD, "x", "alloy"))),
    ]
    for route, call in calls:
        daemon.set_dispatch_handler(PLUGIN, route, fail)
        with pytest.raises(dpc.PluginInvokeError) as info:
            call()
        assert type(info.value) is expected, route
        assert info.value.invoke_error_type == error_type
        assert info.value.message == "it failed: " + error_type


def test_an_error_after_chunks_ends_the_stream(client, daemon, tenant, installed):
    stream = client.invoke_llm(tenant, USER, PLUGIN, PROVIDER, "echo-llm", GOOD,
                               [dpc.UserPromptMessage(content="fail midstream now ok")])
    assert [next(stream).text, next(stream).text] == ["fail ", "midstream "]
    with pytest.raises(dpc.PluginInvokeError) as info:
        next(stream)
    assert info.value.invoke_error_type == "ValueError"
    assert "middle of the stream" in info.value.message
    with pytest.raises(dpc.PluginInvokeError):  # not streamed: the same error, no result
        client.invoke_llm(tenant, USER, PLUGIN, PROVIDER, "echo-llm", GOOD,
                          [dpc.UserPromptMessage(content="fail midstream")], stream=False)


def test_middleware_and_validation_errors(client, daemon, tenant, installed):
    with pytest.raises(dpc.PluginNotFoundError) as info:
        list(client.invoke_llm(tenant, USER, "acme/not-installed", PROVIDER, "echo-llm", GOOD,
                               [dpc.UserPromptMessage(content="x")]))
    assert info.value.http_status == 404
    with pytest.raises(dpc.PluginNotFoundError):
        client.get_model_schema(str(uuid.uuid4()), USER, PLUGIN, PROVIDER, "llm", "m", GOOD)
    with pytest.raises(dpc.PluginDaemonBadRequestError) as info:
        client.validate_model_credentials(tenant, USER, PLUGIN, PROVIDER, "chat", "echo-llm",
                                          GOOD)
    assert info.value.http_status == 400 and "'model_type' tag" in info.value.message
    with pytest.raises(dpc.PluginDaemonBadRequestError, match="'oneof' tag"):
        client.invoke_multimodal_embedding(tenant, USER, PLUGIN, PROVIDER, "echo-embed", GOOD,
                                           [{"content": "a", "content_type": "text"}],
                                           input_type="passage")
    with pytest.raises(dpc.PluginInvokeError, match="Provider `nope` not found"):
        client.invoke_moderation(tenant, USER, PLUGIN, "nope", "echo-mod", GOOD, "x")
    wrong = make_client(daemon, timeout=5.0)
    object.__setattr__(wrong, "config", wrong.config.replace(key="not-the-key"))
    wrong = dpc.DifyPluginClient(wrong.config)
    with pytest.raises(dpc.PluginDaemonUnauthorizedError):
        wrong.invoke_moderation(tenant, USER, PLUGIN, PROVIDER, "echo-mod", GOOD, "x")
    wrong.close()


@pytest.mark.parametrize("route,call", [
    ("text_embedding/invoke", lambda c, t: c.invoke_text_embedding(
        t, USER, PLUGIN, PROVIDER, "echo-embed", GOOD, ["x"])),
    ("model/schema", lambda c, t: c.get_model_schema(t, USER, PLUGIN, PROVIDER, "llm", "m",
                                                     GOOD)),
    ("llm/invoke", lambda c, t: c.invoke_llm(t, USER, PLUGIN, PROVIDER, "echo-llm", GOOD,
                                             [dpc.UserPromptMessage(content="x")], stream=False)),
    ("moderation/invoke", lambda c, t: c.invoke_moderation(t, USER, PLUGIN, PROVIDER, "m",
                                                           GOOD, "x")),
])
def test_an_answer_without_a_result_is_an_error(client, daemon, tenant, installed, route, call):
    daemon.set_dispatch_handler(PLUGIN, route, lambda request: iter(()))
    with pytest.raises(dpc.InvalidResponseError):
        call(client, tenant)


def test_a_malformed_chunk_names_its_field(client, daemon, tenant, installed):
    daemon.set_dispatch_handler(PLUGIN, "text_embedding/invoke", lambda call: iter([
        {"__raw__": {"model": "m", "embeddings": [[0.1, "x"]],
                     "usage": {"unit_price": "0.1", "price_unit": "1", "total_price": "0"}}}]))
    with pytest.raises(dpc.ResponseValidationError) as info:
        client.invoke_text_embedding(tenant, USER, PLUGIN, PROVIDER, "echo-embed", GOOD, ["x"])
    assert info.value.path == "data.embeddings[0][1]"
    daemon.set_dispatch_handler(PLUGIN, "text_embedding/invoke", lambda call: iter([
        {"__raw__": {"model": "m", "embeddings": [], "usage": {
            "unit_price": 0.1, "price_unit": "1", "total_price": "a lot"}}}]))
    with pytest.raises(dpc.ResponseValidationError) as info:
        client.invoke_text_embedding(tenant, USER, PLUGIN, PROVIDER, "echo-embed", GOOD, ["x"])
    assert info.value.path == "data.usage.total_price"


def test_a_large_single_answer_may_pass_the_event_cap(daemon, tenant, installed):
    """One embeddings answer is one event; it may be as large as a whole response."""
    vectors = [[0.123456789] * 1536 for _ in range(40)]  # about 800 KB of JSON
    daemon.set_dispatch_handler(PLUGIN, "text_embedding/invoke", lambda call: iter([
        {"model": "m", "embeddings": vectors, "usage": {
            "tokens": 1, "total_tokens": 1, "unit_price": "0", "price_unit": "0",
            "total_price": "0", "currency": "USD", "latency": 0.1}}]))
    with make_client(daemon, max_event_size=64 * 1024) as small_events:
        result = small_events.invoke_text_embedding(tenant, USER, PLUGIN, PROVIDER, "m", GOOD,
                                                    ["x"] * 40)
        assert result.embeddings == vectors
    with make_client(daemon, max_event_size=64 * 1024, max_response_size=128 * 1024) as small:
        with pytest.raises(dpc.ResponseTooLargeError):
            small.invoke_text_embedding(tenant, USER, PLUGIN, PROVIDER, "m", GOOD, ["x"] * 40)


# --- answers that are damaged or do not fit the request ------------------------------------


def _raw_answer(daemon, route, body, content_type="text/event-stream"):
    """The dispatch ``route`` answers ``body`` as it is (the fake's encoding bypassed)."""
    def serve(handler):
        read_request_body(handler)
        write_raw(handler, raw_response("HTTP/1.1 200 OK", [
            ("Content-Type", content_type), ("Content-Length", str(len(body))),
            ("Connection", "close")], body))
    daemon.add_override("POST", "/dispatch/%s$" % route, serve)


def _event(data):
    return b"data: " + json.dumps({"code": 0, "message": "success", "data": data}).encode() \
        + b"\n\n"


@pytest.mark.parametrize("route, call", [
    ("llm/invoke", lambda c, t: list(c.invoke_llm(t, USER, PLUGIN, PROVIDER, "echo-llm", GOOD,
                                                  [dpc.UserPromptMessage(content="x")]))),
    ("tts/invoke", lambda c, t: list(c.invoke_tts(t, USER, PLUGIN, PROVIDER, "echo-tts", GOOD,
                                                  "x", "nova"))),
])
def test_an_empty_model_stream_is_an_error(client, daemon, tenant, installed, route, call):
    daemon.set_dispatch_handler(PLUGIN, route, lambda request: iter(()))
    with pytest.raises(dpc.InvalidResponseError) as info:
        call(client, tenant)
    assert "zero events" in info.value.message and route in info.value.message


def test_a_stream_line_that_is_not_an_event_field_is_an_error(client, daemon, tenant,
                                                              installed):
    """The daemon writes data lines only: one without its "data:" is a damaged event,
    not one to skip (the audio would come back short)."""
    first = _event({"result": "494433"})
    damaged = _event({"result": "0400"})[len(b"data: "):]
    _raw_answer(daemon, "tts/invoke", first + damaged)
    with pytest.raises(dpc.RemoteProtocolError) as info:
        b"".join(client.invoke_tts(tenant, USER, PLUGIN, PROVIDER, "echo-tts", GOOD, "x", "n"))
    assert "not an event field" in info.value.message
    _raw_answer(daemon, "llm/invoke", b": a comment\nretry: 5\nid: 1\nevent: message\n"
                + _event({"model": "m", "delta": {"index": 0, "message": {"content": "ok"}}}))
    chunks = list(client.invoke_llm(tenant, USER, PLUGIN, PROVIDER, "echo-llm", GOOD, PROMPT))
    assert [chunk.text for chunk in chunks] == ["ok"]  # the format's other lines still pass


def test_an_event_stream_content_type_in_any_case(client, daemon, tenant, installed):
    _raw_answer(daemon, "tts/invoke", _event({"result": "4944"}),
                content_type="Text/Event-Stream; charset=UTF-8")
    assert b"".join(client.invoke_tts(tenant, USER, PLUGIN, PROVIDER, "echo-tts", GOOD, "x",
                                      "n")) == b"ID"


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_and_infinity_are_not_json(client, daemon, tenant, installed, literal):
    body = (b'data: {"code":0,"message":"success","data":{"model":"m","embeddings":[[0.5,'
            + literal + b']],"usage":null}}\n\n')
    _raw_answer(daemon, "text_embedding/invoke", body)
    with pytest.raises(dpc.InvalidResponseError) as info:
        client.invoke_text_embedding(tenant, USER, PLUGIN, PROVIDER, "echo-embed", GOOD, ["x"])
    assert "%s is not a JSON number" % literal.decode() in info.value.message


def test_a_polling_answer_with_nan_is_refused(client, daemon, tenant, installed):
    body = (b'{"code":0,"message":"success","data":{"status":"running","plugin_state":'
            b'{"job":"1"},"next_check_after_seconds":NaN}}')
    _raw_answer(daemon, "model/polling/start", body, content_type="application/json")
    with pytest.raises(dpc.InvalidResponseError) as info:
        client.poll_llm(tenant, USER, PLUGIN, PROVIDER, "echo-llm", GOOD, PROMPT, timeout=5)
    assert "NaN is not a JSON number" in info.value.message


USAGE = {"tokens": 1, "total_tokens": 1, "unit_price": "0", "price_unit": "0",
         "total_price": "0", "currency": "USD", "latency": 0.1}


@pytest.mark.parametrize("route, answer, call, problem", [
    ("text_embedding/invoke", {"model": "m", "embeddings": [[0.1]], "usage": USAGE},
     lambda c, t: c.invoke_text_embedding(t, USER, PLUGIN, PROVIDER, "e", GOOD, ["a", "b"]),
     "1 vectors for 2 texts"),
    ("text_embedding/invoke", {"model": "m", "embeddings": [None, [0.1]], "usage": USAGE},
     lambda c, t: c.invoke_text_embedding(t, USER, PLUGIN, PROVIDER, "e", GOOD, ["a", "b"]),
     "embeddings[0] is empty"),
    ("multimodal_embedding/invoke", {"model": "m", "embeddings": [[0.1]], "usage": USAGE},
     lambda c, t: c.invoke_multimodal_embedding(
         t, USER, PLUGIN, PROVIDER, "e", GOOD, [{"content": "a", "content_type": "text"}] * 3),
     "1 vectors for 3 documents"),
    ("text_embedding/num_tokens", {"num_tokens": [1]},
     lambda c, t: c.get_text_embedding_num_tokens(t, USER, PLUGIN, PROVIDER, "e", GOOD,
                                                  ["a", "b"]),
     "1 token counts for 2 texts"),
    ("rerank/invoke", {"model": "m", "docs": [{"index": 2, "text": "x", "score": 0.5}]},
     lambda c, t: c.invoke_rerank(t, USER, PLUGIN, PROVIDER, "r", GOOD, "q", ["a", "b"]),
     "a document index 2, of 2 documents"),
    ("multimodal_rerank/invoke", {"model": "m", "docs": [{"index": -1, "text": "", "score": 1}]},
     lambda c, t: c.invoke_multimodal_rerank(t, USER, PLUGIN, PROVIDER, "r", GOOD,
                                             {"content": "q", "content_type": "text"},
                                             [{"content": "a", "content_type": "text"}]),
     "a document index -1, of 1 documents"),
])
def test_an_answer_that_does_not_fit_the_request(client, daemon, tenant, installed, route,
                                                 answer, call, problem):
    daemon.set_dispatch_handler(PLUGIN, route, lambda request: iter([{"__raw__": answer}]))
    with pytest.raises(dpc.ResponseValidationError) as info:
        call(client, tenant)
    assert problem in info.value.message and route in info.value.route


@pytest.mark.parametrize("route, answer, call, path", [
    ("text_embedding/invoke", {"model": "m", "usage": USAGE},
     lambda c, t: c.invoke_text_embedding(t, USER, PLUGIN, PROVIDER, "e", GOOD, ["a"]),
     "data.embeddings"),
    ("text_embedding/num_tokens", {"tokens": [1]},
     lambda c, t: c.get_text_embedding_num_tokens(t, USER, PLUGIN, PROVIDER, "e", GOOD, ["a"]),
     "data.num_tokens"),
    ("rerank/invoke", {"model": "m", "docs": [{"text": "a", "score": 0.5}]},
     lambda c, t: c.invoke_rerank(t, USER, PLUGIN, PROVIDER, "r", GOOD, "q", ["a"]),
     "data.docs[0].index"),
    ("rerank/invoke", {"model": "m", "docs": [{"index": 0, "text": "a", "score": None}]},
     lambda c, t: c.invoke_rerank(t, USER, PLUGIN, PROVIDER, "r", GOOD, "q", ["a"]),
     "data.docs[0].score"),
    ("model/validate_provider_credentials", {"credentials": {}},
     lambda c, t: c.validate_provider_credentials(t, USER, PLUGIN, PROVIDER, GOOD),
     "data.result"),
    ("model/schema", {},
     lambda c, t: c.get_model_schema(t, USER, PLUGIN, PROVIDER, "llm", "m", GOOD),
     "data.model_schema"),
])
def test_a_missing_answer_field_is_not_taken_as_its_zero(client, daemon, tenant, installed,
                                                         route, answer, call, path):
    daemon.set_dispatch_handler(PLUGIN, route, lambda request: iter([{"__raw__": answer}]))
    with pytest.raises(dpc.ResponseValidationError) as info:
        call(client, tenant)
    assert info.value.path == path


def test_a_null_model_schema_is_an_unknown_model(client, daemon, tenant, installed):
    daemon.set_dispatch_handler(PLUGIN, "model/schema", lambda request: iter(
        [{"__raw__": {"model_schema": None}}]))
    assert client.get_model_schema(tenant, USER, PLUGIN, PROVIDER, "llm", "nope", GOOD) is None


def test_an_error_without_a_message_says_so(client, daemon, tenant, installed):
    _raw_answer(daemon, "llm/invoke", b'data: {"code":-500,"message":null,"data":null}\n\n')
    with pytest.raises(dpc.PluginDaemonError) as info:
        list(client.invoke_llm(tenant, USER, PLUGIN, PROVIDER, "echo-llm", GOOD, PROMPT))
    assert info.value.message == "the daemon sent error code -500 without a message"


def test_nan_and_infinity_are_refused_before_sending(client, daemon, tenant, installed):
    with pytest.raises(dpc.InvalidArgumentError) as info:
        client.invoke_rerank(tenant, USER, PLUGIN, PROVIDER, "r", GOOD, "q", ["a"],
                             score_threshold=float("nan"))
    assert info.value.argument == "score_threshold" and "finite" in info.value.message
    with pytest.raises(dpc.InvalidArgumentError) as info:
        list(client.invoke_llm(tenant, USER, PLUGIN, PROVIDER, "echo-llm", GOOD, PROMPT,
                               {"temperature": float("inf")}))
    assert "NaN or Infinity, which JSON cannot carry" in info.value.message
    assert not [r for r in daemon.requests if "/dispatch/" in r.path]


def test_empty_audio_is_refused_before_sending(client, daemon, tenant, installed, tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    for audio in (b"", str(empty), io.BytesIO(b"")):
        with pytest.raises(dpc.InvalidArgumentError) as info:
            client.invoke_speech_to_text(tenant, USER, PLUGIN, PROVIDER, "s", GOOD, audio)
        assert info.value.argument == "file" and "empty" in info.value.message
    assert not [r for r in daemon.requests if "/dispatch/" in r.path]


SECRET = "sk-proj-A1b2C3d4E5f6G7h8A1b2C3d4E5f6G7h8A1b2C3d4E5f6G7h8-&<x>"


def _no_part_of(secret, text):
    """No 4 characters of ``secret`` in a row (in any JSON form) stand in ``text``."""
    forms = {secret, json.dumps(secret)[1:-1], json.dumps(secret)[1:-1].replace(
        "&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")}
    return not any(form[start:start + 4] in text for form in forms
                   for start in range(len(form) - 3) if form[start:start + 4].strip("-*"))


@pytest.mark.parametrize("cut", [0, 6, 12, 16])  # 4 to 21 characters of it shown
def test_no_part_of_a_credential_shows_in_an_error_that_cuts_the_answer_short(
        client, daemon, tenant, installed, cut):
    """An answer that echoes the credentials and is not the envelope is shown cut short
    in the error; the cut may fall inside a credential."""
    echoed = ('{"code":"0","message":"success","data":{"result":true,"credentials":'
              '{"padding":"%s","api_key":"%s"}}}' % ("p" * cut, SECRET))
    echoed = echoed.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    _raw_answer(daemon, "model/validate_provider_credentials",
                b"data: " + echoed.encode() + b"\n\n")
    with pytest.raises(dpc.InvalidResponseError) as info:
        client.validate_provider_credentials(tenant, USER, PLUGIN, PROVIDER, {"api_key": SECRET})
    shown = "%s %r %s" % (info.value, info.value, info.value.args)
    assert "no integer code" in shown and _no_part_of(SECRET, shown), shown


@pytest.mark.parametrize("secret, shown", [
    ("it's-a-secret-42", lambda s: repr(json.dumps({"api_key": s}))),  # repr escapes its '
    ("it's-a-secret-42", lambda s: repr({"api_key": s})),
    ('say "hi" & <go>', lambda s: json.dumps(s).replace("&", "\\u0026").replace(
        "<", "\\u003c").replace(">", "\\u003e")),                    # as Go writes it
    ('Pass"Pass1234!', lambda s: 'bad password ' + s[:9] + "..."),    # cut, at its start
    ('Pass"Pass1234!', lambda s: repr(json.dumps(s))[:12] + "..."),
    ("sk-" + "x" * 40, lambda s: ("%s..." % s[:20]) * 50),              # cut many times
])
def test_every_form_of_a_secret_is_masked(secret, shown):
    masked = dpc._mask_text(shown(secret), [secret])
    assert _no_part_of(secret, masked) and "***" in masked, masked


def test_an_error_nested_deeper_than_python_recurses_is_still_typed_and_masked(
        client, daemon, tenant, installed):
    deep = "%s"  # deep enough for a recursive copy to fail, not for the json parser
    for _ in range(600):
        deep = "[" + deep + "]"
    inner = json.dumps({"message": "failed with " + SECRET, "error_type": "PluginInvokeError",
                        "args": "@@"}).replace('"@@"', deep % json.dumps(SECRET))
    _raw_answer(daemon, "llm/invoke", b"data: " + json.dumps(
        {"code": -500, "message": inner, "data": None}).encode() + b"\n\n")
    with pytest.raises(dpc.PluginInvokeError) as info:
        list(client.invoke_llm(tenant, USER, PLUGIN, PROVIDER, "echo-llm", {"api_key": SECRET},
                               PROMPT))
    assert info.value.message == "failed with ***"
    innermost = info.value.daemon_args
    while isinstance(innermost, list):
        innermost = innermost[0]
    assert innermost == "***"


# --- first-token timeout -------------------------------------------------------------------


def _slow_llm(delay_first, delay_next=0.0):
    def handler(call):
        time.sleep(delay_first)
        yield {"model": "m", "delta": {"index": 0, "message": {"content": "a"}}}
        time.sleep(delay_next)
        yield {"model": "m", "delta": {"index": 1, "message": {"content": "b"},
                                       "finish_reason": "stop"}}
    return handler


@pytest.mark.parametrize("headers", ["lazy", "eager"])
def test_first_token_timeout_bounds_the_first_chunk(daemon, tenant, installed, headers):
    daemon.stream_headers = headers  # lazy: nothing, not even headers, before the chunk
    daemon.set_dispatch_handler(PLUGIN, "llm/invoke", _slow_llm(1.0))
    with make_client(daemon, stream_timeout=5.0) as client:
        began = time.monotonic()
        with pytest.raises(dpc.ReadTimeout) as info:
            list(client.invoke_llm(tenant, USER, PLUGIN, PROVIDER, "echo-llm", GOOD,
                                   [dpc.UserPromptMessage(content="x")],
                                   first_token_timeout=0.3))
        assert time.monotonic() - began < 0.9
        assert "first_token_timeout=0.3" in str(info.value)
        assert "first_token_timeout" in info.value.hint
    with make_client(daemon, stream_timeout=5.0, first_token_timeout=0.3) as client:
        with pytest.raises(dpc.ReadTimeout, match="first_token_timeout=0.3"):
            list(client.invoke_llm(tenant, USER, PLUGIN, PROVIDER, "echo-llm", GOOD,
                                   [dpc.UserPromptMessage(content="x")]))
        # None per call: no separate bound (the stream timeout applies)
        chunks = list(client.invoke_llm(tenant, USER, PLUGIN, PROVIDER, "echo-llm", GOOD,
                                        [dpc.UserPromptMessage(content="x")],
                                        first_token_timeout=None))
        assert [chunk.text for chunk in chunks] == ["a", "b"]


def test_after_the_first_chunk_the_stream_timeout_applies(daemon, tenant, installed):
    daemon.set_dispatch_handler(PLUGIN, "llm/invoke", _slow_llm(0.0, 0.6))
    with make_client(daemon, stream_timeout=2.0) as client:  # slower than the first bound: fine
        chunks = list(client.invoke_llm(tenant, USER, PLUGIN, PROVIDER, "echo-llm", GOOD,
                                        [dpc.UserPromptMessage(content="x")],
                                        first_token_timeout=0.3))
        assert [chunk.text for chunk in chunks] == ["a", "b"]
    with make_client(daemon, stream_timeout=0.3) as client:
        stream = client.invoke_llm(tenant, USER, PLUGIN, PROVIDER, "echo-llm", GOOD,
                                   [dpc.UserPromptMessage(content="x")], first_token_timeout=5)
        assert next(stream).text == "a"
        with pytest.raises(dpc.ReadTimeout) as info:
            next(stream)
        assert "silent for 0.3 s" in str(info.value) and "first_token" not in str(info.value)


def test_first_token_timeout_is_checked(client, tenant):
    for bad in (0, -1, "5", True):
        with pytest.raises(dpc.InvalidArgumentError) as info:
            client.invoke_llm(tenant, USER, PLUGIN, PROVIDER, "echo-llm", GOOD,
                              [dpc.UserPromptMessage(content="x")], first_token_timeout=bad)
        assert info.value.argument == "first_token_timeout"
    with pytest.raises(dpc.InvalidArgumentError):
        dpc.PluginConfig(url="http://127.0.0.1:1", key=KEY, first_token_timeout=0)
    assert dpc.PluginConfig(url="http://127.0.0.1:1", key=KEY).first_token_timeout is None


# --- arguments are checked before anything is sent -----------------------------------------


def _calls(tenant_id, **overrides):
    """Every model method with valid arguments, some replaced by ``overrides``."""
    def value(name, default):
        return overrides.get(name, default)

    messages = value("prompt_messages", [dpc.UserPromptMessage(content="x")])
    common = (value("tenant", tenant_id), value("user", USER), value("plugin", PLUGIN),
              value("provider", PROVIDER))
    model, credentials = value("model", "echo-llm"), value("credentials", GOOD)
    return {
        "invoke_llm": lambda c: c.invoke_llm(*common, model, credentials, messages,
                                             value("model_parameters", None),
                                             value("tools", None), value("stop", None),
                                             stream=value("stream", True),
                                             json_schema=value("json_schema", None)),
        "get_llm_num_tokens": lambda c: c.get_llm_num_tokens(
            *common, value("model_type", "llm"), model, credentials, messages,
            value("tools", None)),
        "start_model_polling": lambda c: c.start_model_polling(*common, model, credentials,
                                                               messages),
        "check_model_polling": lambda c: c.check_model_polling(
            *common, model, credentials, value("plugin_state", {"a": 1})),
        "poll_llm": lambda c: c.poll_llm(*common, model, credentials, messages,
                                         timeout=value("timeout", 5)),
        "invoke_text_embedding": lambda c: c.invoke_text_embedding(
            *common, model, credentials, value("texts", ["x"]), value("input_type", "query")),
        "invoke_multimodal_embedding": lambda c: c.invoke_multimodal_embedding(
            *common, model, credentials, value("documents", [{"content": "a",
                                                              "content_type": "text"}])),
        "get_text_embedding_num_tokens": lambda c: c.get_text_embedding_num_tokens(
            *common, model, credentials, value("texts", ["x"])),
        "invoke_rerank": lambda c: c.invoke_rerank(
            *common, model, credentials, value("query", "q"), value("docs", ["d"]),
            value("score_threshold", None), value("top_n", None)),
        "invoke_multimodal_rerank": lambda c: c.invoke_multimodal_rerank(
            *common, model, credentials, value("query", dpc.MultimodalInput(content="q")),
            value("docs", [dpc.MultimodalInput(content="d")])),
        "invoke_tts": lambda c: c.invoke_tts(*common, model, credentials,
                                             value("content_text", "hi"), value("voice", "v")),
        "get_tts_model_voices": lambda c: c.get_tts_model_voices(
            *common, model, credentials, value("language", None)),
        "invoke_speech_to_text": lambda c: c.invoke_speech_to_text(
            *common, model, credentials, value("file", b"RIFF")),
        "invoke_moderation": lambda c: c.invoke_moderation(*common, model, credentials,
                                                           value("text", "t")),
        "validate_provider_credentials": lambda c: c.validate_provider_credentials(
            *common, credentials),
        "validate_model_credentials": lambda c: c.validate_model_credentials(
            *common, value("model_type", "llm"), model, credentials),
        "get_model_schema": lambda c: c.get_model_schema(*common, value("model_type", "llm"),
                                                         model, credentials),
    }


BAD_COMMON = [("tenant", "not-a-uuid", "tenant_id"), ("user", "", "user_id"),
              ("user", None, "user_id"), ("plugin", "", "plugin_id"),
              ("plugin", "Not A Plugin!", "plugin_id"), ("provider", "", "provider"),
              ("provider", 5, "provider"), ("credentials", ["api_key"], "credentials")]


@pytest.mark.parametrize("name,bad,argument", BAD_COMMON)
def test_common_arguments_are_checked_before_sending(client, daemon, tenant, name, bad,
                                                     argument):
    before = len(daemon.requests)
    for method, call in _calls(tenant, **{name: bad}).items():
        if name == "model" and method == "validate_provider_credentials":
            continue
        with pytest.raises(dpc.InvalidArgumentError) as info:
            call(client)
        assert info.value.argument == argument, method
    assert len(daemon.requests) == before


@pytest.mark.parametrize("method,name,bad,argument", [
    ("invoke_llm", "model", "", "model"),
    ("invoke_llm", "prompt_messages", "hello", "prompt_messages"),
    ("invoke_llm", "prompt_messages", [5], "prompt_messages[0]"),
    ("invoke_llm", "prompt_messages", [{"content": "no role"}], "prompt_messages[0]"),
    ("invoke_llm", "prompt_messages", [dpc.UserPromptMessage("positional")], "prompt_messages[0]"),
    ("invoke_llm", "prompt_messages", [{"role": "user", "content": 5}],
     "prompt_messages[0].content"),
    ("invoke_llm", "prompt_messages", [{"role": "user", "content": [{"data": "x"}]}],
     "prompt_messages[0].content[0]"),
    ("invoke_llm", "prompt_messages", [{"role": "user", "content": [
        {"type": "image_url", "image_url": {}}]}], "prompt_messages[0].content[0]"),
    ("invoke_llm", "prompt_messages", [{"role": "user", "content": [
        {"type": "image_url", "image_url": "data:image/png,raw"}]}],
     "prompt_messages[0].content[0]"),
    ("invoke_llm", "prompt_messages", [{"role": "assistant", "tool_calls": [{"id": "x"}]}],
     "prompt_messages[0].tool_calls[0]"),
    ("invoke_llm", "prompt_messages", [{"role": "user", "content": {"not": "json"}}],
     "prompt_messages[0].content"),
    ("invoke_llm", "tools", [{"description": "no name"}], "tools[0].name"),
    ("invoke_llm", "tools", [{"name": "t", "parameters": "x"}], "tools[0]"),
    ("invoke_llm", "tools", "get_weather", "tools"),
    ("invoke_llm", "stop", "END", "stop"),
    ("invoke_llm", "stop", [1], "stop[0]"),
    ("invoke_llm", "stream", "yes", "stream"),
    ("invoke_llm", "model_parameters", [1], "model_parameters"),
    ("invoke_llm", "model_parameters", {"x": object()}, "data"),
    ("invoke_llm", "json_schema", "{nope", "json_schema"),
    ("invoke_llm", "json_schema", [1], "json_schema"),
    ("get_llm_num_tokens", "model_type", "", "model_type"),
    ("check_model_polling", "plugin_state", None, "plugin_state"),
    ("poll_llm", "timeout", 0, "timeout"),
    ("invoke_text_embedding", "texts", "abc", "texts"),
    ("invoke_text_embedding", "texts", ["a", None], "texts[1]"),
    ("invoke_text_embedding", "input_type", "", "input_type"),
    ("invoke_multimodal_embedding", "documents", [{"content": "a"}],
     "documents[0].content_type"),
    ("invoke_multimodal_embedding", "documents", ["a"], "documents[0]"),
    ("invoke_rerank", "query", None, "query"),
    ("invoke_rerank", "docs", [None], "docs[0]"),
    ("invoke_rerank", "score_threshold", "0.5", "score_threshold"),
    ("invoke_rerank", "top_n", 0, "top_n"),
    ("invoke_multimodal_rerank", "query", "plain text", "query"),
    ("invoke_tts", "voice", None, "voice"),
    ("invoke_tts", "content_text", "", "content_text"),
    ("get_tts_model_voices", "language", "", "language"),
    ("invoke_speech_to_text", "file", 12, "file"),
    ("invoke_moderation", "text", None, "text"),
    ("validate_model_credentials", "model_type", None, "model_type"),
])
def test_method_arguments_are_checked_before_sending(client, daemon, tenant, method, name, bad,
                                                     argument):
    before = len(daemon.requests)
    with pytest.raises(dpc.InvalidArgumentError) as info:
        call = _calls(tenant, **{name: bad})[method]
        call(client)
    assert info.value.argument == argument
    assert len(daemon.requests) == before


def test_every_model_method_is_in_the_argument_checks_and_routes():
    methods = {name for name in vars(dpc._Models) if not name.startswith("_")}
    assert methods - set(_calls("t")) == {"fetch_model_providers"}
    routes = {method for _, _, method in dpc.ROUTES}
    assert methods - routes == {"poll_llm"}  # it calls the polling routes' methods


def test_model_entities_round_trip_and_build_by_hand():
    chunk = {"model": "m", "system_fingerprint": "", "delta": {
        "index": 2, "message": {"role": "assistant", "content": "x", "name": "",
                                "tool_calls": [], "tool_call_id": "", "opaque_body": None},
        "usage": {"prompt_tokens": 1, "prompt_unit_price": "0.0010",
                  "prompt_price_unit": "0.001", "prompt_price": "0.0000005",
                  "completion_tokens": 0, "completion_unit_price": "0",
                  "completion_price_unit": "0", "completion_price": "0", "total_tokens": 1,
                  "total_price": "0.0000005", "currency": "USD", "latency": 0.5},
        "finish_reason": "stop"}, "prompt_messages": []}
    parsed = dpc.LLMResultChunk.from_dict(chunk)
    assert parsed.to_dict() == chunk  # prices keep their digits ("0.0010", "0.0000005")
    assert parsed.delta.usage.prompt_unit_price == decimal.Decimal("0.001")
    message = dpc.UserPromptMessage(content="hi")
    assert message.role == dpc.PromptMessageRole.USER and message.text == "hi"
    assert str(dpc.ModelType.TEXT_EMBEDDING) == "text-embedding"
    tool_call = dpc.AssistantToolCallFunction(arguments="")
    assert tool_call.parsed_arguments() == {}
    with pytest.raises(dpc.ResponseValidationError) as info:
        dpc.LLMResultChunk.from_dict({"delta": {"message": {"role": "assistant",
                                                            "content": 5}}})
    assert info.value.path == "LLMResultChunk.delta.message.content"
    checked = dpc.CredentialsValidationResult(result=False, credentials={"k": "secret-x"})
    assert not checked and "secret-x" not in repr(checked)


def test_speech_to_text_size_cap(client, daemon, tenant, monkeypatch, tmp_path):
    monkeypatch.setattr(dpc, "_MAX_AUDIO_SIZE", 10)
    path = tmp_path / "a.wav"
    path.write_bytes(b"x" * 11)
    read_end, write_end = os.pipe()
    os.write(write_end, b"y" * 11)
    os.close(write_end)
    before = len(daemon.requests)
    with os.fdopen(read_end, "rb") as pipe:
        for source in (str(path), pipe, b"z" * 11):
            with pytest.raises(dpc.InvalidArgumentError, match="over 10 bytes") as info:
                client.invoke_speech_to_text(tenant, USER, PLUGIN, PROVIDER, "m", GOOD, source)
            assert info.value.argument == "file"
    assert len(daemon.requests) == before


# =============================================================================
# Part 2: the real daemon's recorded answers, replayed
# =============================================================================

#: Folders of tests/transcripts/0.6.10-routes/ whose every exchange is checked here, and
#: the files of other folders that are this group's.
CLAIMED_FOLDERS = ("model",)
CLAIMED_FILES = ("management/models_list.json", "management/install_echomodel.json")
# management/models_bindings.json is the tools_extras group's (list_model_plugin_bindings).


def _claimed_exchanges():
    """Every ``(folder/file, index)`` checked here, e.g. ("model/llm_invoke_stream", 0)."""
    keys = [key for folder in CLAIMED_FOLDERS for key in rr.exchange_keys(folder)]
    keys += [(name, index) for name in CLAIMED_FILES
             for index in range(len(rr.recording(*name.split("/"))["exchanges"]))]
    return [(name[:-len(".json")], index) for name, index in keys]


EXCHANGES = _claimed_exchanges()


class Recorded(object):
    """One recorded exchange, with the request's parts the client's arguments come from."""

    def __init__(self, name, index):
        self.id = "%s[%d]" % (name, index)
        folder, _, file_name = name.partition("/")
        self.raw = rr.exchange(folder, file_name + ".json", index)
        self.request = self.raw["request"]
        self.response = self.raw["response"]
        self.headers = self.request["headers"]
        body = self.request.get("body")
        self.body = body if isinstance(body, dict) else {}
        self.data = self.body.get("data") if isinstance(self.body.get("data"), dict) else {}
        path = self.request["path"]
        self.tenant = path.split("/")[2]
        self.route = path.split("/", 3)[3]  # after /plugin/<tenant>/
        self.plugin_id = self.headers.get("X-Plugin-ID", "")
        self.user_id = self.body.get("user_id", "")

    def events(self):
        return [event["data"] for event in self.response.get("sse_events") or []]


# --- what the client is asked to do for each recorded request ---------------------------


def _gather(call):
    """(value, error): a stream is read to its end; the chunks before an error are kept."""
    try:
        value = call()
    except dpc.DifyPluginError as exc:
        return None, exc
    if not hasattr(value, "__next__"):
        return value, None
    items = []
    try:
        for item in value:
            items.append(item)
    except dpc.DifyPluginError as exc:
        return items, exc
    return items, None


def _dispatch_call(client, rec, **changes):
    """The client method call that sends ``rec``'s request (``changes`` replace arguments)."""
    d = dict(rec.data, **changes)
    args = (changes.get("tenant", rec.tenant), rec.user_id, changes.get("plugin", rec.plugin_id),
            d.get("provider"))
    route = rec.route.split("/", 1)[1]
    calls = {
        "llm/invoke": lambda: client.invoke_llm(
            *args, d.get("model"), d.get("credentials"), d.get("prompt_messages"),
            d.get("model_parameters"), d.get("tools"), d.get("stop"), stream=d.get("stream")),
        "llm/num_tokens": lambda: client.get_llm_num_tokens(
            *args, d.get("model_type"), d.get("model"), d.get("credentials"),
            d.get("prompt_messages"), d.get("tools")),
        "model/schema": lambda: client.get_model_schema(
            *args, d.get("model_type"), d.get("model"), d.get("credentials")),
        "moderation/invoke": lambda: client.invoke_moderation(
            *args, d.get("model"), d.get("credentials"), d.get("text")),
        "multimodal_embedding/invoke": lambda: client.invoke_multimodal_embedding(
            *args, d.get("model"), d.get("credentials"), d.get("documents"),
            d.get("input_type")),
        "multimodal_rerank/invoke": lambda: client.invoke_multimodal_rerank(
            *args, d.get("model"), d.get("credentials"), d.get("query"), d.get("docs"),
            d.get("score_threshold"), d.get("top_n")),
        "model/polling/start": lambda: client.start_model_polling(
            *args, d.get("model"), d.get("credentials"), d.get("prompt_messages"),
            d.get("model_parameters"), d.get("tools"), d.get("stop")),
        "model/polling/check": lambda: client.check_model_polling(
            *args, d.get("model"), d.get("credentials"), d.get("plugin_state")),
        "rerank/invoke": lambda: client.invoke_rerank(
            *args, d.get("model"), d.get("credentials"), d.get("query"), d.get("docs"),
            d.get("score_threshold"), d.get("top_n")),
        "speech2text/invoke": lambda: client.invoke_speech_to_text(
            *args, d.get("model"), d.get("credentials"), binascii.unhexlify(d["file"])),
        "text_embedding/invoke": lambda: client.invoke_text_embedding(
            *args, d.get("model"), d.get("credentials"), d.get("texts"), d.get("input_type")),
        "text_embedding/num_tokens": lambda: client.get_text_embedding_num_tokens(
            *args, d.get("model"), d.get("credentials"), d.get("texts")),
        "tts/invoke": lambda: client.invoke_tts(
            *args, d.get("model"), d.get("credentials"), d.get("content_text"), d.get("voice")),
        "tts/model/voices": lambda: client.get_tts_model_voices(
            *args, d.get("model"), d.get("credentials"), d.get("language")),
        "model/validate_model_credentials": lambda: client.validate_model_credentials(
            *args, d.get("model_type"), d.get("model"), d.get("credentials")),
        "model/validate_provider_credentials": lambda: client.validate_provider_credentials(
            *args, d.get("credentials")),
    }
    return calls[route]


def _management_call(client, rec, upload_path):
    route = rec.route
    if route == "management/models":
        return lambda: client.fetch_model_providers(rec.tenant)
    if route == "management/install/upload/package":
        return lambda: client.upload_pkg(rec.tenant, upload_path)
    if route == "management/install/identifiers":
        return lambda: client.install_from_identifiers(
            rec.tenant, rec.body["plugin_unique_identifiers"], rec.body["source"],
            rec.body["metas"])
    if route.startswith("management/install/tasks/"):
        return lambda: client.fetch_plugin_installation_task(rec.tenant, route.rsplit("/", 1)[1])
    raise KeyError(route)


def call_for(client, rec, upload_path=None):
    if rec.route.startswith("dispatch/"):
        return _dispatch_call(client, rec)
    return _management_call(client, rec, upload_path)


#: Requests the client does not send as recorded (the recorder sent them by hand): why, the
#: changed arguments that would send them (the client must refuse those before sending),
#: and the recorded request whose arguments fetch this exchange's answer instead.
NOT_SENT_AS_RECORDED = {
    "model/llm_invoke_malformed_body[0]": (
        "invoke_llm always sends model_type llm", None, "model/llm_invoke_stream[0]"),
    "model/llm_invoke_malformed_body[1]": ("no model", {"model": None},
                                           "model/llm_invoke_stream[0]"),
    "model/llm_invoke_malformed_body[2]": ("a body that is not JSON", None,
                                           "model/llm_invoke_stream[0]"),
    "model/llm_invoke_malformed_body[3]": ("no data", None, "model/llm_invoke_stream[0]"),
    "model/llm_invoke_plugin_id_and_auth_errors[0]": ("no X-Plugin-ID", {"plugin": ""},
                                                      "model/llm_invoke_stream[0]"),
    "model/llm_invoke_plugin_id_and_auth_errors[3]": (
        "an X-Plugin-ID that is not author/name", {"plugin": "not a plugin id!"},
        "model/llm_invoke_stream[0]"),
    "model/multimodal_embedding_invoke[1]": (
        "model_type multimodal-embedding (the client sends text-embedding, as Dify does)",
        None, "model/multimodal_embedding_invoke[0]"),
    "model/polling_errors[1]": ("an empty plugin_state", {"plugin_state": {}},
                                "model/polling_start_check[1]"),
    "model/rerank_invoke_errors[0]": ("no query", {"query": None}, "model/rerank_invoke[0]"),
    "model/speech2text_invoke[1]": ("a file that is not hex (the client encodes the audio)",
                                    None, "model/speech2text_invoke[0]"),
    "model/text_embedding_invoke_errors[1]": ("no input_type", {"input_type": None},
                                              "model/text_embedding_invoke[0]"),
    "model/tts_invoke_errors[0]": ("no voice", {"voice": None}, "model/tts_invoke[0]"),
    "model/tts_invoke_errors[1]": ("no data.tenant_id (the client always sends it)", None,
                                   "model/tts_invoke[0]"),
    "management/models_list[1]": ("page_size 0 (fetch_model_providers pages by 256)", None,
                                  "management/models_list[0]"),
}
#: Recorded listings the client sends asking for 256 a page (it reads every page).
ALL_PAGES = {"management/models_list[0]", "management/models_list[2]"}
#: Exchanges recorded with a wrong X-Api-Key.
WRONG_KEY = {"model/llm_invoke_plugin_id_and_auth_errors[5]"}


def _recorded(exchange_id):
    name, index = exchange_id[:-1].split("[")
    return Recorded(name, int(index))


# --- how the answer must come out -----------------------------------------------------------


def _masked(text, credentials):
    """What the client must show of a plugin's text: credential values as ***."""
    values = []
    pending = [credentials]
    while pending:
        value = pending.pop()
        if isinstance(value, str) and len(value) >= 4:
            values.append(value)
        elif isinstance(value, dict):
            pending.extend(value.values())
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, "***")
    return text


def check_error(rec, error, envelope, status):
    layers = tr.error_layers(envelope["message"])
    outer = layers[0][0]
    assert error.code == envelope["code"] and error.http_status == status
    assert error.error_type == outer
    if outer == "PluginInvokeError":
        inner_type, inner_message = layers[-1]
        expected = getattr(dpc, inner_type, None) if inner_type else None
        if not (isinstance(expected, type) and issubclass(expected, dpc.PluginInvokeError)):
            expected = dpc.PluginInvokeError
        assert type(error) is expected, (rec.id, type(error), inner_type)
        assert error.invoke_error_type == inner_type
        assert error.message == _masked(inner_message, rec.data.get("credentials"))
    else:
        assert type(error) is getattr(dpc, outer), (rec.id, type(error), outer)
        assert error.message == layers[0][1]


def covers(parsed, recorded, where="data"):
    """The parsed value holds every recorded value; keys the daemon did not send are unset."""
    if isinstance(recorded, dict):
        assert isinstance(parsed, dict), where
        for key, value in recorded.items():
            assert key in parsed, "%s.%s missing" % (where, key)
            covers(parsed[key], value, "%s.%s" % (where, key))
        for key in set(parsed) - set(recorded):
            assert parsed[key] in (None, "", [], {}, False, 0), "%s.%s = %r" % (
                where, key, parsed[key])
    elif isinstance(recorded, list):
        assert isinstance(parsed, list) and len(parsed) == len(recorded), where
        for index, (left, right) in enumerate(zip(parsed, recorded)):
            covers(left, right, "%s[%d]" % (where, index))
    elif recorded is None and parsed in ([], {}):
        pass  # Go writes an empty list or map as null
    elif isinstance(recorded, str) and dpc._parse_datetime(recorded) is not None:
        assert dpc._parse_datetime(parsed) == dpc._parse_datetime(recorded), where
    else:
        assert parsed == recorded and type(parsed) in (type(recorded), int, float), (
            where, parsed, recorded)


def _as_data(value):
    if isinstance(value, list):
        return [_as_data(item) for item in value]
    return value.to_dict() if isinstance(value, dpc._Entity) else value


def check_success(rec, value):
    """The answer as the daemon meant it: the recorded data in the typed result."""
    route = rec.route
    if rec.response["body_kind"] == "sse":
        events = rec.events()
        data = [event["data"] for event in events]
        if route == "dispatch/llm/invoke" and rec.data.get("stream"):
            assert all(isinstance(chunk, dpc.LLMResultChunk) for chunk in value)
            covers(_as_data(value), data)
            usage = value[-1].delta.usage
            assert usage is None or isinstance(usage.total_price, decimal.Decimal)
        elif route == "dispatch/llm/invoke":
            [chunk] = data
            assert isinstance(value, dpc.LLMResult)
            assert value.text == chunk["delta"]["message"]["content"]
            covers(value.usage.to_dict(), chunk["delta"]["usage"])
            assert value.finish_reason == chunk["delta"]["finish_reason"]
        elif route == "dispatch/tts/invoke":
            assert value == [binascii.unhexlify(item["result"]) for item in data]
        else:
            [answer] = data
            unwrapped = {"dispatch/llm/num_tokens": "num_tokens",
                         "dispatch/text_embedding/num_tokens": "num_tokens",
                         "dispatch/tts/model/voices": "voices", "dispatch/model/schema":
                         "model_schema", "dispatch/moderation/invoke": "result",
                         "dispatch/speech2text/invoke": "result"}.get(route)
            covers(_as_data(value), answer[unwrapped] if unwrapped else answer)
    else:
        covers(_as_data(value), rec.response["body"]["data"])


def _credentials_hidden(value):
    if isinstance(value, dpc.CredentialsValidationResult):
        assert "good" not in repr(value) and "api_key" not in repr(value)


# --- the tests -----------------------------------------------------------------------------


@pytest.mark.parametrize("name,index", EXCHANGES, ids=["%s[%d]" % e for e in EXCHANGES])
def test_recorded_exchange(replay, tmp_path, name, index):
    rec = Recorded(name, index)
    key = "wrong-key-0123" if rec.id in WRONG_KEY else KEY
    upload_path = None
    if rec.route == "management/install/upload/package":
        [part] = [f for f in rec.request["body"]["multipart_form"] if "filename" in f]
        upload_path = str(tmp_path / part["filename"])
        with open(upload_path, "wb") as handle:
            handle.write(build_plugin.build(plugin="echomodel")[:part["size"]].ljust(
                part["size"], b"\0"))
    replay.reset()
    with make_client(replay, key) as client:
        special = NOT_SENT_AS_RECORDED.get(rec.id)
        if special is not None:
            why, refused_changes, stand_in = special
            if refused_changes is not None:  # the client refuses the recorded request
                with pytest.raises(dpc.InvalidArgumentError):
                    _dispatch_call(client, rec, **refused_changes)()
                assert replay.received == [], why
            sender = _recorded(stand_in)
            replay.serve(rec.raw)
            value, error = _gather(call_for(client, sender, upload_path))
            [received] = replay.received
            assert received.path == rec.request["path"] and received.method == "POST" \
                or rec.route == "management/models"
        else:
            replay.serve(rec.raw)
            value, error = _gather(call_for(client, rec, upload_path))
            [received] = replay.received
            expected = with_page_size(rec.raw) if rec.id in ALL_PAGES else rec.raw
            assert rr.request_problems(expected, received) == [], rec.id
    assert replay.pending == 0
    response = rec.response
    if response["body_kind"] == "sse":
        events = rec.events()
        failure = events[-1] if events and events[-1]["code"] != 0 else None
        successes = [event for event in events if event["code"] == 0]
        status = 200
    else:
        body = response["body"]
        failure = body if body["code"] != 0 else None
        successes = []
        status = response["status"]
    if failure is not None:
        assert error is not None, "%s: no error raised" % rec.id
        check_error(rec, error, failure, status)
        if successes:  # a stream that failed after some chunks: those chunks arrived
            covers(_as_data(value), [event["data"] for event in successes])
    else:
        assert error is None, "%s: %r" % (rec.id, error)
        check_success(rec, value)
        _credentials_hidden(value)


def test_every_claimed_exchange_is_checked():
    """Every exchange of the claimed folders and files has its own test above (which fails
    unless the request and the answer check out), every route has a call, and the tables
    name only exchanges that exist."""
    folders = sorted(set(CLAIMED_FOLDERS) | {name.split("/")[0] for name in CLAIMED_FILES})
    on_disk = ["%s[%d]" % (name[:-len(".json")], index) for folder in folders
               for name, index in rr.exchange_keys(folder)
               if folder in CLAIMED_FOLDERS or name in CLAIMED_FILES]
    parametrized = ["%s[%d]" % exchange for exchange in EXCHANGES]
    assert sorted(on_disk) == sorted(parametrized) and len(on_disk) > 60
    with dpc.DifyPluginClient(dpc.PluginConfig(url="http://127.0.0.1:9", key=KEY)) as client:
        for exchange_id in parametrized:
            call_for(client, _recorded(exchange_id), "x.difypkg")  # raises for an unknown route
    for table in (NOT_SENT_AS_RECORDED, ALL_PAGES):
        assert set(table) <= set(parametrized)
    for _, _, stand_in in NOT_SENT_AS_RECORDED.values():
        assert stand_in in parametrized and stand_in not in NOT_SENT_AS_RECORDED
    assert WRONG_KEY <= set(parametrized)


# --- the command line ---------------------------------------------------------------------

MODEL_FLAGS = ["--plugin", PLUGIN, "--provider", PROVIDER]
CREDS = ["--credentials", json.dumps(GOOD)]


def test_cli_models(cli, tenant, installed):
    listed = cli("models")
    assert listed.code == 0, listed
    assert "e2etest/echomodel/echomodel" in listed.out and "llm (1)" in listed.out
    as_json = cli("models", "--json").json()
    assert as_json[0]["declaration"]["provider"] == PROVIDER
    models = cli("models", PLUGIN + "/" + PROVIDER)
    assert models.code == 0 and "echo-llm" in models.out and "echo-tts" in models.out
    assert "0.001/0.002 per 0.001 USD" in models.out and "tool-call" in models.out
    llm_only = cli("models", PROVIDER, "--type", "llm", "--json").json()
    assert [model["model"] for model in llm_only] == ["echo-llm"]
    assert llm_only[0]["pricing"] == {"input": "0.001", "output": "0.002", "unit": "0.001",
                                      "currency": "USD"}
    missing = cli("models", "acme/none/none")  # not found: exit 1, as the README says
    assert missing.code == 1 and "no model provider 'acme/none/none'" in missing.err
    assert "ModelNotFoundError" in cli("models", "acme/none/none", "--json").err


def test_cli_llm_streams_and_reports_usage(cli, daemon, tenant, installed):
    run = cli("llm", "hello wonderful world", "--model", "echo-llm", *MODEL_FLAGS, *CREDS,
              "--system", "You echo.", "--param", "temperature=0.5", "--param", "echo_prefix=Hi",
              "--param", "max_tokens=100")
    assert run.code == 0, run
    assert run.out == "Hi hello wonderful world \n"
    assert "tokens: 5 prompt + 4 completion = 9; cost 0.000013 USD" in run.err
    _, body = dispatched(daemon, "llm/invoke")
    assert body["user_id"] == "dify-plugin-client"
    assert body["data"]["prompt_messages"] == [{"role": "system", "content": "You echo."},
                                               {"role": "user", "content": "hello wonderful world"}]
    assert body["data"]["model_parameters"] == {"temperature": 0.5, "echo_prefix": "Hi",
                                                "max_tokens": 100}
    assert json.dumps(GOOD) not in run.out + run.err and "good" not in run.err


def test_cli_llm_prompt_from_stdin_json_and_forms_of_the_model(cli, daemon, tenant, installed):
    run = cli("llm", "--model", PLUGIN + "/" + PROVIDER + "/echo-llm", *CREDS, "--json",
              stdin="call lookup x\n")
    assert run.code == 0, run
    chunks = [json.loads(line) for line in run.out.splitlines()]
    assert [c["delta"]["message"]["content"] for c in chunks[:2]] == ["call ", "lookup "]
    assert chunks[-1]["delta"]["finish_reason"] == "tool_calls"
    assert chunks[-1]["delta"]["usage"]["total_price"] == "0.000009"
    plain = cli("llm", "call lookup x", "--model", "echo-llm", "--provider",
                PLUGIN + "/" + PROVIDER, *CREDS)
    assert plain.code == 0 and "tool call call_" in plain.err and "lookup({\"args\"" in plain.err
    found = cli("llm", "a b", "--model", "echo-llm", *CREDS)  # looked up among the providers
    assert found.code == 0 and found.out == "a b \n"
    assert last_request(daemon, "/management/models").method == "GET"
    whole = cli("llm", "a b", "--model", "echo-llm", *CREDS, "--no-stream")
    assert whole.code == 0 and whole.out == "a b\n" and "tokens: 2 prompt" in whole.err
    polled = cli("llm", "poll me", "--model", "echo-llm", *CREDS, "--poll", "--json")
    assert polled.code == 0 and polled.json()["message"]["content"] == "poll me"


def test_cli_llm_errors(cli, daemon, tenant, installed):
    unknown = cli("llm", "x", "--model", "gpt-9", *CREDS)
    assert unknown.code == 1 and "no installed model provider declares llm model 'gpt-9'" in \
        unknown.err
    wrong_type = cli("llm", "x", "--model", "echo-embed", *CREDS)
    assert wrong_type.code == 1
    refused = cli("llm", "x", "--model", "echo-llm", "--credentials", '{"api_key": "hunter22"}')
    assert refused.code == 1 and "InvokeAuthorizationError" in refused.err
    assert "hunter22" not in refused.out + refused.err
    limited = cli("llm", "please raise ratelimit", "--model", "echo-llm", *CREDS)
    assert limited.code == 1 and "Rate Limit" in limited.err
    both = cli("llm", "--model", "echo-llm", "--credentials", "-", stdin=json.dumps(GOOD))
    assert both.code == 2 and "both come from standard input" in both.err
    bad_param = cli("llm", "x", "--model", "echo-llm", *CREDS, "--param", "novalue")
    assert bad_param.code == 2 and "name=value" in bad_param.err
    bad_json = cli("llm", "x", "--model", "echo-llm", "--credentials", '{"api_key": "secret-x"')
    assert bad_json.code == 2 and "secret-x" not in bad_json.err
    empty = cli("llm", "--model", "echo-llm", *CREDS, stdin="  \n")
    assert empty.code == 2 and "the prompt on standard input is empty" in empty.err
    assert "the prompt is empty" in cli("llm", "", "--model", "echo-llm", *CREDS).err
    daemon.set_dispatch_handler(PLUGIN, "llm/invoke", _slow_llm(1.0))
    slow = cli("llm", "x", "--model", "echo-llm", *MODEL_FLAGS, *CREDS,
               "--first-token-timeout", "0.2")
    assert slow.code == 3 and "first_token_timeout=0.2" in slow.err


def test_cli_llm_credentials_from_a_file_and_stdin(cli, daemon, tenant, installed, tmp_path):
    path = tmp_path / "key.json"
    path.write_text(json.dumps(GOOD))
    assert cli("llm", "a", "--model", "echo-llm", *MODEL_FLAGS, "--credentials",
               "@" + str(path)).out == "a \n"
    assert cli("llm", "a", "--model", "echo-llm", *MODEL_FLAGS, "--credentials", "-",
               stdin=json.dumps(GOOD)).out == "a \n"
    assert dispatched(daemon, "llm/invoke")[1]["data"]["credentials"] == GOOD


def test_cli_embed_rerank_moderate(cli, daemon, tenant, installed):
    embedded = cli("embed", "hello world", "second text here", "--model", "echo-embed", *CREDS)
    assert embedded.code == 0, embedded
    assert "0.45098" in embedded.out and "tokens: 5; cost" in embedded.err
    as_json = cli("embed", "hello world", "--model", "echo-embed", *CREDS, "--input-type",
                  "query", "--json").json()
    assert as_json["embeddings"][0][0] == -0.733333 and as_json["usage"]["unit_price"] == "0.0001"
    assert dispatched(daemon, "text_embedding/invoke")[1]["data"]["input_type"] == "query"
    ranked = cli("rerank", "green apple", "red apple pie recipe", "blue car", "--query",
                 "red apple pie", "--model", "echo-rerank", *CREDS, "--top-n", "1")
    assert ranked.code == 0 and "red apple pie recipe" in ranked.out and "green" not in ranked.out
    ranked_json = cli("rerank", "apple", "--query", "apple", "--model", "echo-rerank", *CREDS,
                      "--score-threshold", "0.5", "--json").json()
    assert ranked_json["docs"] == [{"index": 0, "text": "apple", "score": 1}]
    assert cli("moderate", "forbidden words", "--model", "echo-mod", *CREDS).out == "flagged\n"
    assert cli("moderate", "--model", "echo-mod", *CREDS, "--json",
               stdin="fine").json() == {"flagged": False}


def test_cli_tts_and_stt(cli, daemon, tenant, installed, tmp_path):
    target = tmp_path / "out.mp3"
    spoken = cli("tts", "hello world", "--model", "echo-tts", *CREDS, "--voice", "nova", "-o",
                 str(target))
    assert spoken.code == 0, spoken
    assert target.read_bytes() == b"ID3\x04\x00\x00nova:hellonova:world"
    assert "wrote 26 bytes of audio to" in spoken.err
    daemon.set_dispatch_handler(PLUGIN, "tts/invoke", lambda call: _failing_audio())
    failed = cli("tts", "x", "--model", "echo-tts", *CREDS, "--voice", "nova", "-o", str(target))
    assert failed.code == 1 and target.read_bytes() == b"ID3\x04\x00\x00nova:hellonova:world"
    assert not os.path.exists(str(target) + ".part")  # a failed run leaves the old file
    audio = tmp_path / "speech.wav"
    audio.write_bytes(WAV)
    heard = cli("stt", str(audio), "--model", "echo-s2t", *CREDS)
    assert heard.code == 0 and heard.out == "hello from echo speech2text (%d bytes, .wav)\n" % len(
        WAV)
    assert cli("stt", str(audio), "--model", "echo-s2t", *CREDS, "--json").json() == {
        "text": "hello from echo speech2text (%d bytes, .wav)" % len(WAV)}
    assert cli("stt", str(tmp_path / "none.wav"), "--model", "echo-s2t", *CREDS).code == 2


def _failing_audio():
    yield {"result": "4944"}
    raise FakePluginError("InvokeServerUnavailableError", "down")


def test_cli_validate_credentials(cli, daemon, tenant, installed):
    daemon.set_dispatch_handler(PLUGIN, "model/validate_provider_credentials", lambda call: iter(
        [{"result": True, "credentials": dict(call.data["credentials"], region="eu")}]))
    valid = cli("validate-credentials", "--provider", PLUGIN + "/" + PROVIDER, "--credentials",
                '{"api_key": "topsecret-1"}')
    assert valid.code == 0 and valid.out == "valid\n" and "api_key, region" in valid.err
    assert "topsecret-1" not in valid.out + valid.err
    as_json = cli("validate-credentials", "--provider", PROVIDER, "--credentials",
                  '{"api_key": "topsecret-1"}', "--json").json()
    assert as_json == {"result": True, "error": None,
                       "credentials": {"api_key": "***", "region": "***"}}
    model = cli("validate-credentials", "--provider", PROVIDER, "--plugin", PLUGIN, "--model",
                "echo-rerank", "--model-type", "rerank", "--credentials", "-",
                stdin='{"api_key": "wrong-value"}')
    assert model.code == 1 and model.out.startswith("not valid: ") and model.err == ""
    assert "wrong-value" not in model.out
    _, body = dispatched(daemon, "model/validate_model_credentials")
    assert body["data"]["model_type"] == "rerank" and body["data"]["model"] == "echo-rerank"
    refused = cli("validate-credentials", "--provider", PROVIDER, "--plugin", PLUGIN,
                  "--model", "echo-llm", "--credentials", '{"api_key": "wrong-value"}', "--json")
    assert refused.code == 1 and refused.json()["result"] is False and refused.json()["error"]
    assert "wrong-value" not in refused.out + refused.err
    unknown = cli("validate-credentials", "--provider", "nothing", "--credentials", "{}")
    assert unknown.code == 1 and "no model provider named 'nothing'" in unknown.err


def test_cli_models_by_type(cli, daemon, tenant, installed):
    only_tts = cli("models", "--type", "tts")
    assert only_tts.code == 0 and "tts (1)" in only_tts.out and "llm (1)" not in only_tts.out
    assert cli("models", "--type", "tts", "--json").json()[0]["provider"] == PROVIDER
    asked = len(daemon.requests)
    bogus = cli("models", PROVIDER, "--type", "bogus")
    assert bogus.code == 2 and "must be one of llm, text-embedding" in bogus.err
    assert len(daemon.requests) == asked  # refused before asking


def test_cli_json_input_refuses_nan_and_infinity(cli, daemon, tenant, installed):
    for argv in (["--param", "temperature=NaN"], ["--param", "t=-Infinity"],
                 ["--credentials", '{"api_key": "good", "t": NaN}']):
        run = cli("llm", "x", "--model", "echo-llm", *MODEL_FLAGS, *CREDS, *argv)
        assert run.code == 2 and ("NaN" in run.err or "Infinity" in run.err), (argv, run)
    threshold = cli("rerank", "a", "-q", "a", "--model", "echo-rerank", *MODEL_FLAGS, *CREDS,
                    "--score-threshold", "nan")
    assert threshold.code == 2 and "must be a number, got 'nan'" in threshold.err
    assert not [r for r in daemon.requests if "/dispatch/" in r.path]


def test_cli_text_from_stdin(cli, daemon, tenant, installed):
    piped = cli("embed", "-", "--model", "echo-embed", *MODEL_FLAGS, *CREDS, stdin="a text\r\n")
    assert piped.code == 0 and dispatched(daemon, "text_embedding/invoke")[1]["data"][
        "texts"] == ["a text"]  # the final line end is dropped, as `echo` adds one
    bare = cli("embed", "--model", "echo-embed", *MODEL_FLAGS, *CREDS, stdin="no dash\n")
    assert bare.code == 0 and dispatched(daemon, "text_embedding/invoke")[1]["data"][
        "texts"] == ["no dash"]  # no text at all reads one from stdin, as the README says
    kept = cli("llm", "--model", "echo-llm", *MODEL_FLAGS, *CREDS, stdin="two\nlines\n\n")
    assert kept.code == 0 and dispatched(daemon, "llm/invoke")[1]["data"]["prompt_messages"][
        -1]["content"] == "two\nlines\n"
    undecodable = cli("llm", "--model", "echo-llm", *MODEL_FLAGS, *CREDS,
                      stdin="\udcff\udcfe hello")  # bytes that are not UTF-8, as Python keeps them
    assert undecodable.code == 2 and "the prompt on standard input is not UTF-8 text" in \
        undecodable.err
    assert "not UTF-8" in cli("moderate", "\udcff", "--model", "echo-mod", *CREDS).err


def test_cli_usage_errors_with_json_are_json(cli):
    missing = cli("--json", "llm", "hi")
    record = json.loads(missing.err)
    assert missing.code == 2 and record["exit_code"] == 2 and missing.out == ""
    assert record["error"] == "InvalidArgumentError" and "--model" in record["message"]
    mistyped = cli("lm", "--json")
    assert mistyped.code == 2 and "did you mean llm" in json.loads(mistyped.err)["message"]
    assert "usage:" in cli("llm", "hi").err  # without --json: argparse's own text


def test_cli_text_from_a_terminal_says_it_is_waiting(daemon, tenant, installed, tmp_path):
    """No text given and stdin a terminal: say what it waits for, or it seems to hang."""
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    err = io.StringIO()
    code = dpc.main(["embed", "--model", "echo-embed", *MODEL_FLAGS, *CREDS],
                    environ={dpc.ENV_URL: daemon.url, dpc.ENV_KEY: KEY, dpc.ENV_TENANT: tenant,
                             "HOME": str(tmp_path)},
                    stdin=Terminal("typed\n"), stdout=io.StringIO(), stderr=err)
    assert code == 0 and "reading the text from standard input (end it with Ctrl-D)" in \
        err.getvalue()


def test_cli_interrupt_with_json_is_json(daemon, tenant, installed, tmp_path):
    class Interrupting(io.StringIO):
        def read(self, *args):
            raise KeyboardInterrupt

    err = io.StringIO()
    code = dpc.main(["--json", "llm", "--model", "echo-llm", *MODEL_FLAGS, *CREDS],
                    environ={dpc.ENV_URL: daemon.url, dpc.ENV_KEY: KEY, dpc.ENV_TENANT: tenant,
                             "HOME": str(tmp_path)},
                    stdin=Interrupting(), stdout=io.StringIO(), stderr=err)
    assert code == 130 and json.loads(err.getvalue())["error"] == "KeyboardInterrupt"


def test_cli_tts_output_is_checked_first_and_never_touches_other_files(cli, daemon, tenant,
                                                                       installed, tmp_path):
    target = tmp_path / "y.mp3"
    mine = tmp_path / "y.mp3.part"
    mine.write_bytes(b"precious")
    daemon.set_dispatch_handler(PLUGIN, "tts/invoke", lambda call: _failing_audio())
    failed = cli("tts", "x", "--model", "echo-tts", *MODEL_FLAGS, *CREDS, "--voice", "nova",
                 "-o", str(target))
    assert failed.code == 1 and mine.read_bytes() == b"precious"
    assert sorted(os.listdir(str(tmp_path))) == ["home", "y.mp3.part"]  # nothing left behind
    folder = cli("tts", "x", "--model", "echo-tts", *MODEL_FLAGS, *CREDS, "--voice", "nova",
                 "-o", str(tmp_path))
    assert folder.code == 2 and "is a directory" in folder.err
    nowhere = cli("tts", "x", "--model", "echo-tts", *MODEL_FLAGS, *CREDS, "--voice", "nova",
                  "-o", str(tmp_path / "missing" / "y.mp3"))
    assert nowhere.code == 2 and "cannot write" in nowhere.err
    assert not [r for r in daemon.requests if r.path.endswith("/dispatch/tts/invoke")][1:]


def test_cli_tts_to_stdout(daemon, tenant, installed, tmp_path):
    environ = {dpc.ENV_URL: daemon.url, dpc.ENV_KEY: KEY, dpc.ENV_TENANT: tenant,
               "HOME": str(tmp_path)}
    argv = ["tts", "hello world", "--model", "echo-tts", *MODEL_FLAGS, *CREDS, "--voice",
            "nova", "-o", "-"]
    raw = io.BytesIO()
    stdout, err = io.TextIOWrapper(raw, encoding="utf-8"), io.StringIO()
    assert dpc.main(argv, environ=environ, stdout=stdout, stderr=err) == 0
    assert raw.getvalue() == b"ID3\x04\x00\x00nova:hellonova:world"
    assert "of audio to stdout" in err.getvalue()
    err = io.StringIO()
    assert dpc.main(argv + ["--json"], environ=environ, stdout=io.TextIOWrapper(io.BytesIO()),
                    stderr=err) == 2 and "--json cannot go together" in err.getvalue()


def test_cli_stt_checks(cli, daemon, tenant, installed, tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    run = cli("stt", str(empty), "--model", "echo-s2t", *MODEL_FLAGS, *CREDS)
    assert run.code == 2 and "file is empty" in run.err
    both = cli("stt", "-", "--model", "echo-s2t", *MODEL_FLAGS, "--credentials", "-",
               stdin=json.dumps(GOOD))
    assert both.code == 2 and "both come from standard input" in both.err
    assert not [r for r in daemon.requests if "/dispatch/" in r.path]


def test_cli_validate_credentials_model_type(cli, daemon, tenant, installed):
    bogus = cli("validate-credentials", "--provider", PLUGIN + "/" + PROVIDER, "--model", "m",
                "--model-type", "bogus", *CREDS)
    assert bogus.code == 2 and "must be one of" in bogus.err
    alone = cli("validate-credentials", "--provider", PLUGIN + "/" + PROVIDER, "--model-type",
                "rerank", *CREDS)
    assert alone.code == 2 and "--model-type goes with --model" in alone.err
    assert not [r for r in daemon.requests if "/dispatch/" in r.path]


def test_cli_stdin_that_decodes_strictly(daemon, tenant, installed, tmp_path):
    """A stdin decoded strictly (not with surrogateescape) raises on bytes that are not
    UTF-8: still a usage error, for a text and for --credentials -."""
    environ = {dpc.ENV_URL: daemon.url, dpc.ENV_KEY: KEY, dpc.ENV_TENANT: tenant,
               "HOME": str(tmp_path)}
    for argv, what in ((["llm", "--model", "echo-llm", *MODEL_FLAGS, *CREDS],
                        "the prompt on standard input is not UTF-8 text"),
                       (["llm", "x", "--model", "echo-llm", *MODEL_FLAGS, "--credentials", "-"],
                        "--credentials (stdin) is not UTF-8 text")):
        stdin = io.TextIOWrapper(io.BytesIO(b"\xff\xfe hi\n"), encoding="utf-8",
                                 errors="strict")
        err = io.StringIO()
        assert dpc.main(argv, environ=environ, stdin=stdin, stdout=io.StringIO(),
                        stderr=err) == 2
        assert what in err.getvalue()


def test_cli_param_with_nan_inside_and_json_without_a_command(cli, daemon):
    inside = cli("llm", "x", "--model", "echo-llm", *MODEL_FLAGS, *CREDS,
                 "--param", "stop=[NaN]")
    assert inside.code == 2 and "NaN is not a JSON number" in inside.err
    bare = cli("--json")
    assert bare.code == 2 and json.loads(bare.err)["message"].startswith("no command given")
    short = cli("--jso", "models", "--type", "x")  # argparse takes --jso for --json
    assert short.code == 2 and json.loads(short.err)["exit_code"] == 2


def test_cli_tts_to_a_long_file_name(cli, daemon, tenant, installed, tmp_path):
    target = tmp_path / ("n" * 250)  # the longest names most file systems take
    run = cli("tts", "hi", "--model", "echo-tts", *MODEL_FLAGS, *CREDS, "--voice", "nova",
              "-o", str(target))
    assert run.code == 0 and target.read_bytes().startswith(b"ID3")
    assert sorted(os.listdir(str(tmp_path))) == ["home", "n" * 250]


def test_cli_first_token_timeout_hint_and_poll(cli, daemon, tenant, installed):
    daemon.set_dispatch_handler(PLUGIN, "llm/invoke", _slow_llm(1.0))
    slow = cli("llm", "x", "--model", "echo-llm", *MODEL_FLAGS, *CREDS,
               "--first-token-timeout", "0.2")
    assert slow.code == 3 and "raise --first-token-timeout SECONDS" in slow.err
    both = cli("llm", "x", "--model", "echo-llm", *MODEL_FLAGS, *CREDS, "--poll",
               "--first-token-timeout", "5")
    assert both.code == 2 and "not --poll" in both.err


def test_every_example_in_the_help_parses():
    """Each example a command's --help shows is a command line the parser takes."""
    import shlex

    for command in dpc._COMMANDS.values():
        for owner, prog in [(command, "dify-plugin-client " + command.name)] + [
                (action, "dify-plugin-client %s %s" % (command.name, action.name))
                for action in command.actions.values()]:
            epilog = owner.epilog(prog)
            examples = epilog.split("examples:\n", 1)[1].split("\n\n", 1)[0].splitlines() \
                if "examples:\n" in epilog else []
            for example in examples:
                words = shlex.split(example.strip())  # (what the program gets: up to any
                words = words[words.index("dify-plugin-client") + 1:]  # redirect or pipe)
                words = words[:next((index for index, word in enumerate(words)
                                     if word in ("|", ">", ">>", "<", "&&", ";")), len(words))]
                parser = dpc._build_parser(words)
                try:
                    parser.parse_args(words)
                except SystemExit:
                    raise AssertionError("%s: the example does not parse: %s" % (prog, example))


def test_cli_model_commands_are_documented(cli):
    for command in ("models", "llm", "embed", "rerank", "tts", "stt", "moderate",
                    "validate-credentials"):
        shown = cli(command, "--help")
        assert shown.code == 0 and "examples:" in shown.out and "with --json:" in shown.out, \
            command
    assert "author/name/provider/model" in cli("llm", "--help").out


def test_cli_tts_output_through_a_link_keeps_the_link_and_the_mode(cli, daemon, tenant,
                                                                  installed, tmp_path):
    real = tmp_path / "voice.mp3"
    real.write_bytes(b"old audio")
    os.chmod(str(real), 0o640)
    link = tmp_path / "latest.mp3"
    os.symlink("voice.mp3", str(link))
    spoken = cli("tts", "hi", "--model", "echo-tts", *MODEL_FLAGS, *CREDS, "--voice", "nova",
                 "-o", str(link))
    assert spoken.code == 0, spoken
    assert os.path.islink(str(link)) and os.readlink(str(link)) == "voice.mp3"
    assert real.read_bytes() == b"ID3\x04\x00\x00nova:hi"
    assert os.stat(str(real)).st_mode & 0o777 == 0o640
    assert sorted(os.listdir(str(tmp_path))) == ["home", "latest.mp3", "voice.mp3"]


def test_output_files_refuse_what_open_would_refuse(tmp_path, monkeypatch):
    """A loop of links, a path ending in a slash, a file that is not writable: each is
    named before anything is fetched; and the error names the folder that failed."""
    loop = tmp_path / "loop"
    os.symlink("loop", str(loop))
    for path, needle in ((str(loop), "loop"), (str(tmp_path / "new") + "/", "is a directory")):
        with pytest.raises(dpc.InvalidArgumentError) as caught:
            dpc._ReplacedFile(path, "-o")
        assert needle in str(caught.value)
    locked = tmp_path / "locked.mp3"
    locked.write_bytes(b"x")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: False if path == str(locked)
                        else real_access(path, mode))  # (root may write anything)
    with pytest.raises(dpc.InvalidArgumentError) as caught:
        dpc._ReplacedFile(str(locked), "-o")
    assert "is not writable" in str(caught.value)
    elsewhere = tmp_path / "elsewhere"
    link = tmp_path / "link.mp3"
    os.symlink(str(elsewhere / "a.mp3"), str(link))  # into a folder that is not there
    with pytest.raises(dpc.InvalidArgumentError) as caught:
        dpc._ReplacedFile(str(link), "-o")
    assert "cannot write %s:" % elsewhere in str(caught.value)


def test_output_files_long_names_modes_and_a_failing_close(tmp_path):
    name = "\U0001F600" * 60 + ".mp3"  # 244 bytes: the partial file's name must still fit
    with dpc._ReplacedFile(str(tmp_path / name), "-o") as out:
        out.write(b"audio")
        out.commit()
    assert (tmp_path / name).read_bytes() == b"audio"
    kept = tmp_path / "kept.mp3"
    kept.write_bytes(b"old")
    os.chmod(str(kept), 0o600)
    with dpc._ReplacedFile(str(kept), "-o") as out:
        assert stat.S_IMODE(os.stat(out.partial).st_mode) == 0o600  # never more open
        partial = out.partial

        class Failing(io.BytesIO):
            def close(self):
                raise OSError(28, "No space left on device")
        out.handle.close()
        out.handle = Failing()
        with pytest.raises(KeyboardInterrupt):  # the error in flight is the one raised
            with out:
                raise KeyboardInterrupt
    assert not os.path.exists(partial) and kept.read_bytes() == b"old"


@pytest.mark.skipif(not hasattr(signal_module, "SIGTERM") or os.name != "posix",
                    reason="a process signals itself with SIGTERM on POSIX only")
def test_cli_sigterm_removes_what_it_was_writing(daemon, tenant, installed, tmp_path):
    """SIGTERM (a service manager stopping a job) unwinds the command as Ctrl-C does:
    exit 143, the target untouched, no partial file; the old handler is back after."""
    def audio(call):
        yield {"result": "4944"}
        os.kill(os.getpid(), signal_module.SIGTERM)  # the CLI runs in this process's main thread
        time.sleep(0.5)
        yield {"result": "3304"}
    daemon.set_dispatch_handler(PLUGIN, "tts/invoke", audio)
    target = tmp_path / "out.mp3"
    target.write_bytes(b"old")
    before = signal_module.getsignal(signal_module.SIGTERM)
    err = io.StringIO()
    code = dpc.main(["tts", "hi", "--model", "echo-tts", *MODEL_FLAGS, *CREDS, "--voice", "v",
                     "-o", str(target)],
                    environ={dpc.ENV_URL: daemon.url, dpc.ENV_KEY: KEY, dpc.ENV_TENANT: tenant,
                             "HOME": str(tmp_path)},
                    stdin=io.StringIO(), stdout=io.StringIO(), stderr=err)
    assert (code, err.getvalue()) == (143, "terminated\n")
    assert target.read_bytes() == b"old" and sorted(os.listdir(str(tmp_path))) == ["out.mp3"]
    assert signal_module.getsignal(signal_module.SIGTERM) is before
