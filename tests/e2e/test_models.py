"""Model providers and every model route against the real daemon, with the offline test
plugin echomodel (tests/e2e/plugins/echomodel; behaviour in the README there).

Expectations that depend on the release are marked ``version_specific``: the polling routes
(0.6.2) answer the daemon's 404 on older releases.
"""

import decimal
import hashlib
import json
import uuid

import pytest

import e2e_support as support
from e2e_support import GOOD, USER, WAV, dpc, user_message

PLUGIN = "e2etest/echomodel"
PROVIDER = "echomodel"


class ModelPlugin(object):
    """This session's build of echomodel (a random version: see e2e_support.random_release)."""

    def __init__(self):
        self.version = support.random_release() + ".1"
        self.data, self.identifier = support.build_test_plugin("echomodel", self.version)


@pytest.fixture(scope="module")
def model_plugin():
    return ModelPlugin()


@pytest.fixture(scope="module")
def tenant_id(client, tenants, model_plugin):
    """A tenant with echomodel installed (upload, install, wait)."""
    tenant = tenants.new()
    decoded = client.upload_pkg(tenant, model_plugin.data)
    assert decoded.unique_identifier == model_plugin.identifier
    support.install_and_wait(client, tenant, decoded.unique_identifier)
    return tenant


def llm(client, tenant, messages, credentials=GOOD, **options):
    return client.invoke_llm(tenant, USER, PLUGIN, PROVIDER, "echo-llm", credentials, messages,
                             **options)


def vector(key):
    """echo-embed's vector of ``key`` (see the plugin's README)."""
    return [round(b / 127.5 - 1, 6) for b in hashlib.sha256(key.encode("utf-8")).digest()[:8]]


# --------------------------------------------------------------------------- discovery


def test_fetch_model_providers(client, tenant_id, model_plugin):
    [provider] = client.fetch_model_providers(tenant_id)
    assert (provider.plugin_id, provider.provider) == (PLUGIN, PROVIDER)
    assert provider.plugin_unique_identifier == model_plugin.identifier
    assert provider.tenant_id == tenant_id and provider.created_at is not None
    declaration = provider.declaration
    assert [str(kind) for kind in declaration.supported_model_types] == [
        "llm", "text-embedding", "rerank", "tts", "speech2text", "moderation"]
    assert sorted(declaration.models_by_type()) == ["llm", "moderation", "rerank", "speech2text",
                                                    "text-embedding", "tts"]
    [field] = declaration.provider_credential_schema.credential_form_schemas
    assert field.variable == "api_key" and field.type == "secret-input"
    llm_model = declaration.model("echo-llm", dpc.ModelType.LLM)
    assert llm_model.has_feature(dpc.ModelFeature.POLLING)
    assert llm_model.pricing.input == decimal.Decimal("0.001")
    assert llm_model.pricing.output == decimal.Decimal("0.002")
    temperature = llm_model.parameter_rule("temperature")  # filled from the daemon's template
    assert temperature.type == "float" and temperature.max == 1
    assert declaration.model("echo-embed").pricing.output is None
    assert declaration.model("echo-tts").model_properties["audio_type"] == "mp3"


def test_model_providers_of_an_empty_tenant(client, tenant):
    assert client.fetch_model_providers(tenant) == []



# --------------------------------------------------------------------------- LLM


def test_invoke_llm_streams_typed_chunks(client, tenant_id):
    messages = [dpc.SystemPromptMessage(content="You echo."),
                dpc.UserPromptMessage(content="hello wonderful world")]
    chunks = list(llm(client, tenant_id, messages, model_parameters={"temperature": 0.5,
                                                                       "max_tokens": 100}))
    assert [chunk.text for chunk in chunks] == ["hello ", "wonderful ", "world ", ""]
    assert [chunk.delta.finish_reason for chunk in chunks] == [None, None, None, "stop"]
    usage = chunks[-1].delta.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (5, 3, 8)
    assert usage.total_price == decimal.Decimal("0.000011") and usage.currency == "USD"
    assert isinstance(usage.prompt_price, decimal.Decimal)
    assert chunks[0].system_fingerprint == "echo-fp-1" and chunks[0].model == "echo-llm"


def test_invoke_llm_not_streamed(client, tenant_id):
    result = llm(client, tenant_id, user_message("hello wonderful world"), stream=False)
    assert isinstance(result, dpc.LLMResult)
    assert result.text == "hello wonderful world" and result.usage.total_tokens == 6
    assert result.finish_reason is None


def test_invoke_llm_tool_call(client, tenant_id):
    tools = [dpc.PromptMessageTool(name="get_weather", description="Get the weather",
                                   parameters={"type": "object",
                                               "properties": {"city": {"type": "string"}}})]
    chunks = list(llm(client, tenant_id, user_message("call get_weather Paris"), tools=tools))
    [call] = [c for chunk in chunks for c in chunk.delta.message.tool_calls]
    assert call.function.name == "get_weather"
    assert call.function.parsed_arguments() == {"args": ["Paris"]}
    assert chunks[-1].delta.finish_reason == "tool_calls"
    result = llm(client, tenant_id, user_message("call get_weather Paris"), tools=tools,
                 stream=False)
    assert result.message.tool_calls[0].function.name == "get_weather"


def test_prompt_messages_in_every_shape(client, tenant_id):
    history = [
        dpc.SystemPromptMessage(content="sys"),
        {"role": "user", "content": "call get_weather Paris"},
        dpc.AssistantPromptMessage(content="", tool_calls=[dpc.AssistantToolCall(
            id="call_1", function=dpc.AssistantToolCallFunction(name="get_weather",
                                                                arguments='{"city": "Paris"}'))]),
        dpc.ToolPromptMessage(content="sunny", tool_call_id="call_1", name="get_weather"),
        dpc.UserPromptMessage(content=[
            dpc.TextPromptMessageContent(data="describe "),
            {"type": "text", "text": "this"},  # OpenAI's shape
            {"type": "image_url", "image_url": {"url": "https://example.invalid/cat.png",
                                                "detail": "low"}},
            dpc.TextPromptMessageContent(data="picture")]),
    ]
    chunks = list(llm(client, tenant_id, history, model_parameters={"echo_prefix": "P"}))
    assert "".join(chunk.text for chunk in chunks) == "P describe this picture "


def test_images_without_detail_and_turns_without_content(client, tenant_id):
    """The daemon fills in "" for a missing image detail or message content, which the
    plugin's SDK refuses: the client sends Dify's "low" and an empty content."""
    history = [
        {"role": "user", "content": "call get_weather Paris"},
        {"role": "assistant", "content": None, "tool_calls": [  # OpenAI's history shape
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        dpc.AssistantPromptMessage(content=None, tool_calls=[dpc.AssistantToolCall(
            id="call_2", function=dpc.AssistantToolCallFunction(name="f", arguments="{}"))]),
        {"role": "tool", "content": "sunny", "tool_call_id": "call_1"},
        dpc.UserPromptMessage(content=[
            dpc.TextPromptMessageContent(data="describe "),
            dpc.ImagePromptMessageContent(url="https://example.invalid/cat.png",
                                          mime_type="image/png", format="png"),
            {"type": "image_url", "image_url": {"url": "https://example.invalid/dog.png"}},
            dpc.TextPromptMessageContent(data="this")]),
    ]
    chunks = list(llm(client, tenant_id, history))
    assert "".join(chunk.text for chunk in chunks) == "describe this "


def test_json_schema_is_accepted(client, real_daemon, tenant_id):
    chunks = list(llm(client, tenant_id, user_message("structured please"),
                      json_schema={"type": "object"}))
    assert chunks[-1].delta.finish_reason == "stop"


def test_llm_errors_are_typed(client, tenant_id):
    with pytest.raises(dpc.InvokeAuthorizationError) as info:
        list(llm(client, tenant_id, user_message("x"), {"api_key": "wrong-key-123"}))
    assert "wrong-key-123" not in str(info.value) + repr(info.value.invoke_args)
    with pytest.raises(dpc.InvokeRateLimitError):
        list(llm(client, tenant_id, user_message("raise ratelimit")))
    with pytest.raises(dpc.InvokeBadRequestError):
        llm(client, tenant_id, user_message("raise badrequest"), stream=False)
    stream = llm(client, tenant_id, user_message("fail midstream now ok"))
    assert [next(stream).text, next(stream).text] == ["fail ", "midstream "]
    with pytest.raises(dpc.PluginInvokeError) as info:
        next(stream)
    assert info.value.invoke_error_type == "ValueError"
    with pytest.raises(dpc.PluginInvokeError, match="not found for provider `nope`"):
        list(client.invoke_llm(tenant_id, USER, PLUGIN, "nope", "echo-llm", GOOD,
                               user_message("x")))
    with pytest.raises(dpc.PluginNotFoundError):
        list(client.invoke_llm(tenant_id, USER, "e2etest/not-installed", PROVIDER, "echo-llm",
                               GOOD, user_message("x")))
    with pytest.raises(dpc.PluginNotFoundError):
        list(client.invoke_llm(str(uuid.uuid4()), USER, PLUGIN, PROVIDER, "echo-llm", GOOD,
                               user_message("x")))


def test_wrong_daemon_key(real_daemon, tenant_id):
    with support.make_client(real_daemon.url, "not-the-key") as wrong:
        with pytest.raises(dpc.PluginDaemonUnauthorizedError):
            list(llm(wrong, tenant_id, user_message("x")))


def test_first_token_timeout_lets_a_prompt_stream_through(real_daemon, tenant_id):
    with support.make_client(real_daemon.url, real_daemon.key, first_token_timeout=60.0,
                             stream_timeout=60.0) as client:
        chunks = list(llm(client, tenant_id, user_message("a b")))
        assert "".join(chunk.text for chunk in chunks) == "a b "


def test_get_llm_num_tokens(client, tenant_id):
    tools = [{"name": "get_weather", "description": "Get the weather for a city",
              "parameters": {"type": "object"}}]
    assert client.get_llm_num_tokens(tenant_id, USER, PLUGIN, PROVIDER, "llm", "echo-llm", GOOD,
                                     user_message("one two three"), tools) == 10


@pytest.mark.version_specific
def test_polling(client, real_daemon, tenant_id):
    if not real_daemon.at_least(0, 6, 2):
        with pytest.raises(dpc.HTTPStatusError) as info:
            client.start_model_polling(tenant_id, USER, PLUGIN, PROVIDER, "echo-llm", GOOD,
                                       user_message("x"))
        assert info.value.status_code == 404
        return
    started = client.start_model_polling(tenant_id, USER, PLUGIN, PROVIDER, "echo-llm", GOOD,
                                         user_message("poll this text"))
    assert started.status == dpc.ModelPollingStatus.RUNNING
    assert started.plugin_state["text"] == "poll this text"
    done = client.check_model_polling(tenant_id, USER, PLUGIN, PROVIDER, "echo-llm", GOOD,
                                      started.plugin_state)
    assert done.status == dpc.ModelPollingStatus.SUCCEEDED
    assert done.result.text == "poll this text"
    assert done.result.usage.total_price == decimal.Decimal("0.000009")
    failed = client.check_model_polling(tenant_id, USER, PLUGIN, PROVIDER, "echo-llm", GOOD,
                                        {"fail": True})
    assert failed.status == dpc.ModelPollingStatus.FAILED and failed.error
    seen = []
    result = client.poll_llm(tenant_id, USER, PLUGIN, PROVIDER, "echo-llm", GOOD,
                             user_message("polled to the end"), on_progress=seen.append)
    assert result.text == "polled to the end"
    assert [str(answer.status) for answer in seen] == ["running", "succeeded"]
    with pytest.raises(dpc.InvokeAuthorizationError) as info:
        client.start_model_polling(tenant_id, USER, PLUGIN, PROVIDER, "echo-llm",
                                   {"api_key": "bad-key"}, user_message("x"))
    assert info.value.http_status == 500
    with pytest.raises(dpc.PluginInvokeError, match="does not support polling"):
        client.start_model_polling(tenant_id, USER, PLUGIN, PROVIDER, "nope", GOOD,
                                   user_message("x"))


# --------------------------------------------------------------------------- the other types


def test_text_embedding(client, tenant_id):
    result = client.invoke_text_embedding(tenant_id, USER, PLUGIN, PROVIDER, "echo-embed", GOOD,
                                          ["hello world", "second text here"])
    assert result.embeddings == [vector("hello world"), vector("second text here")]
    assert result.usage.tokens == 5 and result.usage.unit_price == decimal.Decimal("0.0001")
    query = client.invoke_text_embedding(tenant_id, USER, PLUGIN, PROVIDER, "echo-embed", GOOD,
                                         ["hello world"], input_type="query")
    assert query.embeddings == [vector("query:hello world")]
    assert client.invoke_text_embedding(tenant_id, USER, PLUGIN, PROVIDER, "echo-embed", GOOD,
                                        []).embeddings == []
    assert client.get_text_embedding_num_tokens(tenant_id, USER, PLUGIN, PROVIDER, "echo-embed",
                                                GOOD, ["a b c", "d", ""]) == [3, 1, 0]
    with pytest.raises(dpc.InvokeAuthorizationError):
        client.invoke_text_embedding(tenant_id, USER, PLUGIN, PROVIDER, "echo-embed",
                                     {"api_key": "bad-key"}, ["x"])


def test_multimodal_embedding_and_rerank(client, tenant_id):
    result = client.invoke_multimodal_embedding(
        tenant_id, USER, PLUGIN, PROVIDER, "echo-embed", GOOD,
        [dpc.MultimodalInput(content="hello"), {"content": "aGVsbG8=", "content_type": "image"}])
    assert result.embeddings == [vector("text:hello"), vector("image:aGVsbG8=")]
    with pytest.raises(dpc.PluginDaemonBadRequestError):
        client.invoke_multimodal_embedding(tenant_id, USER, PLUGIN, PROVIDER, "echo-embed", GOOD,
                                           [dpc.MultimodalInput(content="x")], "passage")
    ranked = client.invoke_multimodal_rerank(
        tenant_id, USER, PLUGIN, PROVIDER, "echo-rerank", GOOD,
        dpc.MultimodalInput(content="red apple"),
        [dpc.MultimodalInput(content="apple"), dpc.MultimodalInput(content="car")], 0.0, 5)
    assert [(doc.index, doc.score) for doc in ranked.docs] == [(0, 0.5), (1, 0.0)]


def test_rerank(client, tenant_id):
    result = client.invoke_rerank(tenant_id, USER, PLUGIN, PROVIDER, "echo-rerank", GOOD,
                                  "red apple pie", ["green apple", "red apple pie recipe",
                                                    "blue car", "apple"], 0.1, 2)
    assert [(doc.index, doc.text, doc.score) for doc in result.docs] == [
        (1, "red apple pie recipe", 1.0), (0, "green apple", 0.3333)]


def test_tts(client, tenant_id):
    audio = list(client.invoke_tts(tenant_id, USER, PLUGIN, PROVIDER, "echo-tts", GOOD,
                                   "hello audio world", "alloy"))
    assert audio == [b"ID3\x04\x00\x00", b"alloy:hello", b"alloy:audio", b"alloy:world"]
    voices = client.get_tts_model_voices(tenant_id, USER, PLUGIN, PROVIDER, "echo-tts", GOOD)
    assert [(v.name, v.value) for v in voices] == [("Alloy", "alloy"), ("Nova", "nova")]
    german = client.get_tts_model_voices(tenant_id, USER, PLUGIN, PROVIDER, "echo-tts", GOOD,
                                         "de-DE")
    assert [v.value for v in german] == ["nova"]


def test_tts_large_chunks(client, tenant_id):
    """Chunks of 4 KiB (8 KiB of hex per event, as real TTS plugins send) arrive whole
    and in order: the client reads such events from the read's bytes."""
    audio = list(client.invoke_tts(tenant_id, USER, PLUGIN, PROVIDER, "echo-tts", GOOD,
                                   "bulk:300 end", "alloy"))
    expected = [bytes((index + offset) % 256 for offset in range(4096)) for index in range(300)]
    assert audio == [b"ID3\x04\x00\x00"] + expected + [b"alloy:end"]


def test_speech_to_text(client, tenant_id, tmp_path):
    path = tmp_path / "speech.wav"
    path.write_bytes(WAV)
    expected = "hello from echo speech2text (%d bytes, .wav)" % len(WAV)
    assert client.invoke_speech_to_text(tenant_id, USER, PLUGIN, PROVIDER, "echo-s2t", GOOD,
                                        str(path)) == expected
    with open(str(path), "rb") as handle:
        assert client.invoke_speech_to_text(tenant_id, USER, PLUGIN, PROVIDER, "echo-s2t", GOOD,
                                            handle) == expected
    big = b"RIFF" + bytes(300 * 1024)  # several hex blocks in one streamed body
    assert client.invoke_speech_to_text(tenant_id, USER, PLUGIN, PROVIDER, "echo-s2t", GOOD,
                                        big).startswith("hello from echo speech2text (%d "
                                                        % len(big))


def test_moderation(client, tenant_id):
    assert client.invoke_moderation(tenant_id, USER, PLUGIN, PROVIDER, "echo-mod", GOOD,
                                    "this is forbidden content") is True
    assert client.invoke_moderation(tenant_id, USER, PLUGIN, PROVIDER, "echo-mod", GOOD,
                                    "all fine") is False


def test_credential_checks(client, tenant_id):
    checked = client.validate_provider_credentials(tenant_id, USER, PLUGIN, PROVIDER, GOOD)
    assert checked and checked.credentials == GOOD and "good" not in repr(checked)
    with pytest.raises(dpc.CredentialsValidateFailedError) as info:
        client.validate_provider_credentials(tenant_id, USER, PLUGIN, PROVIDER,
                                             {"api_key": "wrong-key"})
    assert info.value.message == "api_key must be 'good'"
    assert client.validate_model_credentials(tenant_id, USER, PLUGIN, PROVIDER, "llm",
                                             "echo-llm", GOOD).result is True
    with pytest.raises(dpc.CredentialsValidateFailedError):
        client.validate_model_credentials(tenant_id, USER, PLUGIN, PROVIDER, "rerank",
                                          "echo-rerank", {"api_key": "wrong-key"})
    with pytest.raises(dpc.PluginDaemonBadRequestError):
        client.validate_model_credentials(tenant_id, USER, PLUGIN, PROVIDER, "chat", "echo-llm",
                                          GOOD)
    with pytest.raises(dpc.PluginInvokeError, match="Provider `nope` not found"):
        client.validate_provider_credentials(tenant_id, USER, PLUGIN, "nope", GOOD)


def test_model_schema(client, tenant_id):
    schema = client.get_model_schema(tenant_id, USER, PLUGIN, PROVIDER, "llm", "echo-llm", GOOD)
    assert isinstance(schema, dpc.AIModelEntity) and schema.model == "echo-llm"
    assert schema.pricing.unit == decimal.Decimal("0.001")
    tts = client.get_model_schema(tenant_id, USER, PLUGIN, PROVIDER, "tts", "echo-tts", GOOD)
    assert tts.model_properties["default_voice"] == "alloy"
    assert client.get_model_schema(tenant_id, USER, PLUGIN, PROVIDER, "llm", "nope", GOOD) is None


# --------------------------------------------------------------------------- the CLI

MODEL = ["--credentials", '{"api_key": "good"}']


def test_cli_model_commands(cli, tenant_id, tmp_path):
    listed = cli("models", tenant=tenant_id)
    assert listed.rc == 0 and PLUGIN + "/" + PROVIDER in listed.out
    models = cli("models", PLUGIN + "/" + PROVIDER, "--type", "llm", "--json", tenant=tenant_id)
    assert [model["model"] for model in json.loads(models.out)] == ["echo-llm"]
    asked = cli("llm", "hello wonderful world", "--model", "echo-llm", "--system", "You echo.",
                *MODEL, tenant=tenant_id)
    assert asked.rc == 0 and asked.out == "hello wonderful world \n"
    assert "tokens: 5 prompt + 3 completion = 8; cost 0.000011 USD" in asked.err
    embedded = cli("embed", "hello world", "--model", "echo-embed", *MODEL, "--json",
                   tenant=tenant_id)
    assert json.loads(embedded.out)["embeddings"] == [vector("hello world")]
    ranked = cli("rerank", "green apple", "blue car", "--query", "apple", "--model",
                 "echo-rerank", *MODEL, tenant=tenant_id)
    assert ranked.rc == 0 and "green apple" in ranked.out.splitlines()[1]
    target = tmp_path / "out.mp3"
    spoken = cli("tts", "hi there", "--model", "echo-tts", "--voice", "nova", "-o", str(target),
                 *MODEL, tenant=tenant_id)
    assert spoken.rc == 0 and target.read_bytes() == b"ID3\x04\x00\x00nova:hinova:there"
    audio = tmp_path / "speech.wav"
    audio.write_bytes(WAV)
    heard = cli("stt", str(audio), "--model", "echo-s2t", *MODEL, tenant=tenant_id)
    assert heard.rc == 0 and heard.out.startswith("hello from echo speech2text")
    assert cli("moderate", "forbidden", "--model", "echo-mod", *MODEL,
               tenant=tenant_id).out == "flagged\n"
    valid = cli("validate-credentials", "--provider", PLUGIN + "/" + PROVIDER, *MODEL,
                tenant=tenant_id)
    assert valid.rc == 0 and valid.out == "valid\n"
    refused = cli("validate-credentials", "--provider", PROVIDER, "--credentials",
                  '{"api_key": "nope-nope"}', tenant=tenant_id)
    assert refused.rc == 1 and "nope-nope" not in refused.out + refused.err
    assert refused.out.startswith("not valid: ")  # the plugin's reason, not an error

