"""Model routes: provider discovery (management) and every model dispatch route.

* ``GET .../management/models`` (paged; ``models/bindings`` is served by tools_extras);
* the SSE dispatch routes ``llm/invoke``, ``llm/num_tokens``, ``text_embedding/invoke``,
  ``text_embedding/num_tokens``, ``multimodal_embedding/invoke``, ``rerank/invoke``,
  ``multimodal_rerank/invoke``, ``tts/invoke``, ``tts/model/voices``,
  ``speech2text/invoke``, ``moderation/invoke``, ``model/validate_provider_credentials``,
  ``model/validate_model_credentials`` and ``model/schema`` (also under ``/v2``);
* ``model/polling/start`` and ``model/polling/check``: plain JSON (not SSE), plugin errors
  as HTTP 500 with a ``-500`` envelope; not under ``/v2``.

Ground truth: ``tests/transcripts/0.6.10-routes/model/`` and ``management/models_*.json``.

A model plugin's declaration is built as the daemon builds it: the provider file of the
package with its ``models`` globs replaced by the model files they match (in the order of
the model type names), parameter rules filled from the daemon's templates and every field
of the Go structs present.  Chunks are re-encoded as the daemon re-marshals them: an LLM
chunk gets every message field (``name`` and ``tool_call_id`` as ``""``) and
``prompt_messages: []``, prices become Go's shortest decimal strings.

Without a handler set by the test (``FakeDaemon.set_dispatch_handler``), each route
behaves like the offline test plugin ``tests/e2e/plugins/echomodel``: the LLM echoes the
words of the last user message (``call <tool> ...``, ``raise ratelimit``, ``raise
badrequest``, ``fail midstream`` and ``echo_prefix`` as there), embeddings are sha256
vectors, rerank scores word overlap, TTS yields ``ID3`` then ``<voice>:<word>`` pieces,
moderation flags "forbidden", and credentials must carry ``api_key: "good"``.  A handler
chunk ``{"__raw__": value}`` is sent as ``value`` exactly.
"""

import binascii
import decimal
import fnmatch
import hashlib
import json
import traceback
import uuid

import yaml

from .. import dispatch
from ..dispatch import REQUEST_NS, DispatchRoute
from ..server import _HANDLED, _Field, _validation_message
from ..wire import (
    FakePluginError,
    _bad_request,
    _go_struct,
    _go_time,
    _plugin_error_event,
    _require_uuid,
    go_json,
)
from .common import _PAGE_FIELDS, add_routes, page_of

MGMT = "/plugin/:tenant_id/management"
MODEL_TYPES = ("llm", "text-embedding", "rerank", "speech2text", "moderation", "tts", "text2img")
# the models section of a provider file names model types with underscores
_TYPE_KEYS = {"text_embedding": "text-embedding"}
GOOD_KEY = "good"
AUTH_MESSAGE = "[models] Incorrect model credentials provided, please check and try again. "
AUDIO_MIME = {"mp3": "audio/mpeg", "wav": "audio/wav", "ogg": "audio/ogg", "flac": "audio/flac"}

# The daemon fills a parameter rule that names use_template from these (label, type,
# help, default, min, max, precision); the rule's own values win.
_TEMPLATES = {
    "temperature": {"type": "float", "default": 0, "min": 0, "max": 1, "precision": 2,
                    "help": "Controls randomness: lower is more deterministic."},
    "top_p": {"type": "float", "default": 1, "min": 0, "max": 1, "precision": 2,
              "help": "Nucleus sampling: only tokens within this probability mass."},
    "presence_penalty": {"type": "float", "default": 0, "min": 0, "max": 1, "precision": 2,
                         "help": "Penalises tokens that already appeared."},
    "frequency_penalty": {"type": "float", "default": 0, "min": 0, "max": 1, "precision": 2,
                          "help": "Penalises tokens by how often they appeared."},
    "max_tokens": {"type": "int", "default": 64, "min": 1, "max": 2048, "precision": 0,
                   "help": "The upper limit of generated tokens."},
}


# ---- declarations --------------------------------------------------------------


def _i18n(value):
    return dict(value) if isinstance(value, dict) else None


def _credential_form(raw):
    return {
        "variable": raw.get("variable", ""), "label": _i18n(raw.get("label")),
        "type": raw.get("type", ""), "required": bool(raw.get("required", False)),
        "default": raw.get("default"), "options": list(raw.get("options") or []),
        "help": _i18n(raw.get("help")), "url": raw.get("url"),
        "placeholder": _i18n(raw.get("placeholder")),
        "max_length": raw.get("max_length") or 0, "show_on": list(raw.get("show_on") or []),
    }


def _credential_schema(raw):
    if not isinstance(raw, dict):
        return None
    schema = {"credential_form_schemas": [_credential_form(item) for item in
                                          raw.get("credential_form_schemas") or []]}
    if "model" in raw:
        schema = dict({"model": raw.get("model")}, **schema)
    return schema


def _parameter_rule(raw):
    template = _TEMPLATES.get(raw.get("use_template") or "", {})
    value = dict((key, raw[key] if raw.get(key) is not None else template.get(key))
                 for key in ("type", "default", "min", "max", "precision"))
    label = _i18n(raw.get("label")) or ({"en_US": raw.get("name", "")} if template else None)
    help_text = _i18n(raw.get("help")) or ({"en_US": template["help"]} if template else None)
    return {"name": raw.get("name", ""), "use_template": raw.get("use_template"), "label": label,
            "type": value["type"], "help": help_text, "required": bool(raw.get("required", False)),
            "default": value["default"], "min": value["min"], "max": value["max"],
            "precision": value["precision"], "options": list(raw.get("options") or [])}


def _decimal_text(value):
    """A price as Go's shopspring decimal writes it: shortest, no exponent."""
    if value is None:
        return None
    number = decimal.Decimal(str(value)).normalize()
    return format(number, "f") if number != 0 else "0"


def _pricing(raw):
    if not isinstance(raw, dict):
        return None
    return {"input": _decimal_text(raw.get("input", 0)), "output": _decimal_text(raw.get("output")),
            "unit": _decimal_text(raw.get("unit", 0)), "currency": raw.get("currency", "")}


def _model_declaration(raw):
    return {
        "model": raw.get("model", ""), "label": _i18n(raw.get("label")),
        "model_type": raw.get("model_type", ""), "features": raw.get("features") or None,
        "fetch_from": raw.get("fetch_from") or "predefined-model",
        "model_properties": dict(raw.get("model_properties") or {}),
        "deprecated": bool(raw.get("deprecated", False)),
        "parameter_rules": [_parameter_rule(rule) for rule in raw.get("parameter_rules") or []],
        "pricing": _pricing(raw.get("pricing")),
    }


def _models_of(package, section):
    """The provider's model declarations: a list as given, or the files its globs match."""
    models = section.get("models")
    if isinstance(models, list):
        return [_model_declaration(item) for item in models if isinstance(item, dict)]
    found = []
    for type_key in sorted(models or {}):
        patterns = (models[type_key] or {}).get("predefined") or []
        paths = sorted(path for path in package.files
                       if any(fnmatch.fnmatchcase(path, pattern) for pattern in patterns))
        for path in paths:
            raw = yaml.safe_load(package.files[path].decode("utf-8")) or {}
            raw.setdefault("model_type", _TYPE_KEYS.get(type_key, type_key))
            found.append(_model_declaration(raw))
    return found


def provider_declaration(package):
    """The daemon's ModelProviderDeclaration of a stored package (None if not a model plugin)."""
    section = package.persisted.get("model") if package is not None else None
    if not isinstance(section, dict):
        return None
    return {
        "provider": section.get("provider", ""), "label": _i18n(section.get("label")),
        "description": _i18n(section.get("description")),
        "icon_small": _i18n(section.get("icon_small")),
        "icon_large": _i18n(section.get("icon_large")),
        "icon_small_dark": _i18n(section.get("icon_small_dark")),
        "icon_large_dark": _i18n(section.get("icon_large_dark")),
        "background": section.get("background"), "help": section.get("help"),
        "supported_model_types": list(section.get("supported_model_types") or []),
        "configurate_methods": list(section.get("configurate_methods") or []),
        "provider_credential_schema": _credential_schema(section.get("provider_credential_schema")),
        "model_credential_schema": _credential_schema(section.get("model_credential_schema")),
        "position": dict(section.get("position") or {}),
        "models": _models_of(package, section),
    }


# ---- management routes -----------------------------------------------------------


def _model_rows(daemon, tenant):
    """(installation row, declaration) of the tenant's model plugins, oldest first."""
    rows = []
    for row in daemon._installations.get(tenant, []):
        declaration = provider_declaration(daemon._packages.get(row["plugin_unique_identifier"]))
        if declaration is not None:
            rows.append((row, declaration))
    return rows


def _r_models(daemon, h):
    values = h.bind(_PAGE_FIELDS)
    tenant = _require_uuid(values["TenantID"])
    with daemon._lock:
        rows = _model_rows(daemon, tenant)
        return [{
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, row["id"] + "/model")),
            "created_at": _go_time(row["created"]), "updated_at": _go_time(row["updated"]),
            "provider": declaration["provider"], "tenant_id": row["tenant_id"],
            "plugin_unique_identifier": row["plugin_unique_identifier"],
            "plugin_id": row["plugin_id"], "declaration": declaration,
        } for row, declaration in page_of(rows, values)]


# ---- the plugin's side: shared ---------------------------------------------------


def _words(text):
    return text.split()


def _message_text(message):
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return content
    return " ".join(part.get("data", "") for part in content or []
                    if isinstance(part, dict) and part.get("type") == "text")


def _last_user_text(messages):
    for message in reversed(messages or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return _message_text(message)
    return ""


def _provider(call, not_found="Provider `%s` not found"):
    """The declaration of the requested provider (the SDK's errors when it is not there)."""
    data = call.data
    declaration = provider_declaration(call.package)
    if declaration is None or declaration["provider"] != data.get("provider"):
        raise ValueError(not_found % data.get("provider"))
    return declaration


def _check_key(call):
    if (call.data.get("credentials") or {}).get("api_key") != GOOD_KEY:
        raise FakePluginError("InvokeAuthorizationError", AUTH_MESSAGE, {"description": AUTH_MESSAGE})


def _model_of(declaration, call):
    for model in declaration["models"]:
        if model["model"] == call.data.get("model"):
            return model
    return None


def _price(model, kind, tokens):
    """(unit price, price unit, total) as the SDK computes them; zeros without pricing."""
    pricing = (model or {}).get("pricing") or {}
    unit_price = decimal.Decimal(pricing.get(kind) or "0")
    unit = decimal.Decimal(pricing.get("unit") or "0")
    total = (unit_price * unit * tokens).quantize(decimal.Decimal("0.0000001"))
    return unit_price, unit, total


def _llm_usage(model, prompt_tokens, completion_tokens):
    prompt = _price(model, "input", prompt_tokens)
    completion = _price(model, "output", completion_tokens)
    currency = ((model or {}).get("pricing") or {}).get("currency") or "USD"
    return {"prompt_tokens": prompt_tokens, "prompt_unit_price": prompt[0], "prompt_price_unit": prompt[1],
            "prompt_price": prompt[2], "completion_tokens": completion_tokens,
            "completion_unit_price": completion[0], "completion_price_unit": completion[1],
            "completion_price": completion[2], "total_tokens": prompt_tokens + completion_tokens,
            "total_price": prompt[2] + completion[2], "currency": currency, "latency": 0.000125}


# ---- the plugin's side: LLM ------------------------------------------------------------


def _llm_reply(call):
    """(reply words, prompt tokens, tool call or None, fail midstream?) of echo-llm."""
    data = call.data
    declaration = _provider(call, "Model `ModelType.LLM` not found for provider `%s`")
    _check_key(call)
    text = _last_user_text(data.get("prompt_messages"))
    lowered = text.lower()
    if "raise ratelimit" in lowered:
        raise FakePluginError("InvokeRateLimitError", "[models] Rate Limit Error, echo rate limit for testing")
    if "raise badrequest" in lowered:
        raise FakePluginError("InvokeBadRequestError", "[models] Bad Request Error, echo bad request for testing")
    words = _words(text)
    prefix = (data.get("model_parameters") or {}).get("echo_prefix")
    tool_call = None
    if len(words) >= 2 and words[0].lower() == "call":
        tool_call = {"id": "call_" + uuid.uuid4().hex[:12], "type": "function",
                     "function": {"name": words[1], "arguments": json.dumps({"args": words[2:]})}}
    prompt_tokens = sum(len(_words(_message_text(m))) for m in data.get("prompt_messages") or [])
    return ([prefix] if prefix else []) + words, prompt_tokens, tool_call, "fail midstream" in lowered, \
        _model_of(declaration, call)


def _llm_chunk(model, index, content, usage=None, finish_reason=None, tool_calls=(), fingerprint="echo-fp-1"):
    return {"model": model, "system_fingerprint": fingerprint,
            "delta": {"index": index, "message": {"role": "assistant", "content": content,
                                                  "tool_calls": list(tool_calls)},
                      "usage": usage, "finish_reason": finish_reason}}


def _invoke_llm(call):
    reply, prompt_tokens, tool_call, fail, model = _llm_reply(call)
    name = call.data.get("model", "")
    if not call.data.get("stream", False):
        if fail:
            raise ValueError("echo failure (non-streaming)")
        yield _llm_chunk(name, 0, " ".join(reply), _llm_usage(model, prompt_tokens, len(reply)),
                         tool_calls=[tool_call] if tool_call else [])
        return
    for index, word in enumerate(reply):
        if fail and index == 2:
            raise ValueError("echo failure in the middle of the stream")
        yield _llm_chunk(name, index, word + " ")
    if fail:
        raise ValueError("echo failure in the middle of the stream")
    index = len(reply)
    if tool_call is not None:
        yield _llm_chunk(name, index, "", tool_calls=[tool_call], fingerprint=None)
        index += 1
    yield _llm_chunk(name, index, "", _llm_usage(model, prompt_tokens, len(reply)),
                     "tool_calls" if tool_call else "stop")


def _llm_num_tokens(call):
    _provider(call, "Model `ModelType.LLM` not found for provider `%s`")
    data = call.data
    total = sum(len(_words(_message_text(m))) for m in data.get("prompt_messages") or [])
    for tool in data.get("tools") or []:
        total += len(_words(tool.get("name", ""))) + len(_words(tool.get("description") or ""))
    yield {"num_tokens": total}


def _polling_model(call):
    """The requested model, which must declare the polling feature (else the SDK's error)."""
    declaration = _provider(call)
    model = _model_of(declaration, call)
    if model is None or "polling" not in (model.get("features") or []):
        raise ValueError("Model `%s` for provider `%s` does not support polling"
                         % (call.data.get("model"), call.data.get("provider")))
    _check_key(call)
    return model


def _start_polling(call):
    _polling_model(call)
    data = call.data
    yield {"status": "running", "plugin_state": {
        "job_id": "job-" + uuid.uuid4().hex[:8],
        "prompt_tokens": sum(len(_words(_message_text(m))) for m in data.get("prompt_messages") or []),
        "started": 1795643150, "text": _last_user_text(data.get("prompt_messages"))},
        "result": None, "next_check_after_seconds": 1, "expires_after_seconds": 60, "max_attempts": 5}


def _check_polling(call):
    model = _polling_model(call)
    state = call.data.get("plugin_state") or {}
    if state.get("fail"):
        yield {"status": "failed", "result": None, "error": "echo polling failed on request"}
        return
    text = str(state.get("text", ""))
    usage = _llm_usage(model, int(state.get("prompt_tokens") or 0),
                       len(_words(text)))
    # the plugin's own JSON, not re-marshalled: Python's decimal texts, name null
    usage = dict((key, str(value) if isinstance(value, decimal.Decimal) else value)
                 for key, value in usage.items())
    yield {"status": "succeeded", "result": {
        "model": call.data.get("model"), "prompt_messages": [],
        "message": {"role": "assistant", "content": text, "name": None, "tool_calls": [],
                    "opaque_body": None},
        "usage": usage, "system_fingerprint": None}}


# ---- the plugin's side: the other model types -------------------------------------------


def _vector(key):
    return [round(b / 127.5 - 1, 6) for b in hashlib.sha256(key.encode("utf-8")).digest()[:8]]


def _embedding_usage(model, tokens):
    unit_price, unit, total = _price(model, "input", tokens)
    currency = ((model or {}).get("pricing") or {}).get("currency") or "USD"
    return {"tokens": tokens, "total_tokens": tokens, "unit_price": unit_price, "price_unit": unit,
            "total_price": total, "currency": currency, "latency": 0.0000125}


def _invoke_text_embedding(call):
    declaration = _provider(call, "Model `ModelType.TEXT_EMBEDDING` not found for provider `%s`")
    _check_key(call)
    prefix = "query:" if call.data.get("input_type") == "query" else ""
    texts = call.data.get("texts") or []
    yield {"model": call.data.get("model"), "embeddings": [_vector(prefix + text) for text in texts],
           "usage": _embedding_usage(_model_of(declaration, call), sum(len(_words(t)) for t in texts))}


def _invoke_multimodal_embedding(call):
    if call.data.get("model_type") != "text-embedding":  # the SDK knows no other type here
        raise FakePluginError("ValidationError", "1 validation error for ModelInvokeMultimodalEmbeddingRequest")
    declaration = _provider(call)
    _check_key(call)
    prefix = "query:" if call.data.get("input_type") == "query" else ""
    documents = call.data.get("documents") or []
    yield {"model": call.data.get("model"),
           "embeddings": [_vector("%s%s:%s" % (prefix, d.get("content_type"), d.get("content")))
                          for d in documents],
           "usage": _embedding_usage(_model_of(declaration, call),
                                     sum(len(_words(str(d.get("content", "")))) for d in documents))}


def _text_embedding_num_tokens(call):
    _provider(call)
    yield {"num_tokens": [len(_words(text)) for text in call.data.get("texts") or []]}


def _rank(call, query, docs):
    _provider(call)
    _check_key(call)
    # the daemon's request struct holds both as numbers: a null arrives as 0
    threshold, top_n = call.data.get("score_threshold") or 0.0, call.data.get("top_n") or 0
    query_words = set(_words(query.lower()))
    ranked = []
    for index, text in enumerate(docs):
        score = round(len(query_words & set(_words(text.lower()))) / len(query_words), 4) if query_words else 0.0
        if score < threshold:
            continue
        ranked.append({"index": index, "text": text, "score": score})
    ranked.sort(key=lambda doc: doc["score"], reverse=True)
    return {"model": call.data.get("model"), "docs": ranked[:top_n]}


def _invoke_rerank(call):
    yield _rank(call, call.data.get("query") or "", call.data.get("docs") or [])


def _invoke_multimodal_rerank(call):
    query = call.data.get("query") or {}
    yield _rank(call, str(query.get("content", "")),
                [str(doc.get("content", "")) for doc in call.data.get("docs") or []])


def _invoke_tts(call):
    declaration = _provider(call)
    _check_key(call)
    model = _model_of(declaration, call) or {}
    audio_type = (model.get("model_properties") or {}).get("audio_type", "mp3")
    mime = AUDIO_MIME.get(audio_type, "audio/" + audio_type)
    yield {"result": binascii.hexlify(b"ID3\x04\x00\x00").decode("ascii"), "mime_type": mime}
    for word in _words(call.data.get("content_text") or ""):
        piece = ("%s:%s" % (call.data.get("voice"), word)).encode("utf-8")
        yield {"result": binascii.hexlify(piece).decode("ascii"), "mime_type": mime}


def _tts_voices(call):
    declaration = _provider(call)
    model = _model_of(declaration, call) or {}
    language = call.data.get("language")
    yield {"voices": [{"name": voice.get("name"), "value": voice.get("mode")}
                      for voice in (model.get("model_properties") or {}).get("voices") or []
                      if not language or language in (voice.get("language") or [])]}


def _speech_to_text(call):
    _provider(call)
    _check_key(call)
    try:
        audio = binascii.unhexlify(call.data.get("file") or "")
    except (binascii.Error, ValueError):
        raise FakePluginError("Error", "Non-hexadecimal digit found")
    suffix = ".wav" if audio[:4] == b"RIFF" else ".mp3"
    yield {"result": "hello from echo speech2text (%d bytes, %s)" % (len(audio), suffix)}


def _moderation(call):
    _provider(call)
    _check_key(call)
    yield {"result": "forbidden" in (call.data.get("text") or "").lower()}


def _validate_credentials(call):
    _provider(call)
    credentials = call.data.get("credentials") or {}
    if credentials.get("api_key") != GOOD_KEY:
        raise FakePluginError("CredentialsValidateFailedError", "api_key must be 'good'")
    yield {"result": True, "credentials": credentials}


def _model_schema(call):
    declaration = _provider(call)
    yield {"model_schema": _model_of(declaration, call)}


# ---- encoding: what the daemon re-marshals ------------------------------------------


def _raw(chunk):
    return isinstance(chunk, dict) and set(chunk) == {"__raw__"}


def _decimals(value):
    """Decimals (and numbers in price fields) as Go's decimal strings, recursively."""
    if isinstance(value, dict):
        return dict((key, _decimal_text(item) if (key.endswith("price") or key.endswith("price_unit")
                                                   or key == "unit_price") and item is not None
                     else _decimals(item)) for key, item in value.items())
    if isinstance(value, list):
        return [_decimals(item) for item in value]
    return value


def encode_model_chunk(chunk):
    """A plain model answer (embeddings, rerank, ...): prices as Go decimal strings."""
    if _raw(chunk):
        return go_json({"code": 0, "message": "success", "data": chunk["__raw__"]})
    return go_json({"code": 0, "message": "success", "data": _go_struct(_decimals(chunk))})


def encode_llm_chunk(chunk):
    """An LLMResultChunk as the daemon re-marshals it (every message field, prompt_messages [])."""
    if _raw(chunk):
        return go_json({"code": 0, "message": "success", "data": chunk["__raw__"]})
    delta = chunk.get("delta") or {}
    message = delta.get("message") or {}
    data = {
        "model": chunk.get("model", ""), "system_fingerprint": chunk.get("system_fingerprint") or "",
        "delta": {"index": delta.get("index", 0), "message": {
            "role": message.get("role", "assistant"), "content": message.get("content"),
            "name": message.get("name") or "", "tool_calls": message.get("tool_calls") or [],
            "tool_call_id": message.get("tool_call_id") or "", "opaque_body": message.get("opaque_body")},
            "usage": _decimals(delta.get("usage")), "finish_reason": delta.get("finish_reason")},
        "prompt_messages": [],
    }
    return go_json({"code": 0, "message": "success", "data": _go_struct(data)})


# ---- routes ------------------------------------------------------------------------


def _base(*extra, **options):
    """Provider, Model, ModelType and credentials, as BaseRequestInvokeModel binds them."""
    fields = [_Field("Provider", "json", "provider", "str", "required", ns="BaseRequestInvokeModel.Provider")]
    if options.get("model", True):
        fields.append(_Field("Model", "json", "model", "str", "required", ns="BaseRequestInvokeModel.Model"))
    fields.append(_Field("Credentials", "json", "credentials", "map", "omitempty", ns="Credentials.Credentials"))
    fields.extend(extra)
    if options.get("model", True):
        fields.append(_Field("ModelType", "json", "model_type", "str", "required"))
    return fields


class ModelRoute(DispatchRoute):
    """A model dispatch route; ``model_type`` is the one it takes (None: any valid one) and
    ``one_of`` maps a data key to the values the daemon's ``oneof`` rule allows."""

    def __init__(self, path, request_type, data_fields, handler, model_type=None, one_of=None,
                 encode=encode_model_chunk, v2=True, json_answer=False, any_model_type=False):
        DispatchRoute.__init__(self, path, request_type, data_fields, handler, encode, v2)
        self.model_type = model_type
        self.any_model_type = any_model_type  # multimodal routes: required, nothing more
        self.one_of = one_of or {}
        self.json_answer = json_answer

    def problems(self, data):
        """go-playground messages for the rules the shared binder does not know."""
        lines = []
        namespace = REQUEST_NS.format(self.request_type) + ".Data."
        model_type = data.get("model_type") if isinstance(data, dict) else None
        checked = any(f.name == "ModelType" for f in self.data_fields) and not self.any_model_type
        if checked and isinstance(model_type, str) and model_type:
            if model_type not in MODEL_TYPES:
                lines.append(_validation_message(namespace + "ModelType", "ModelType", "model_type"))
            elif self.model_type is not None and model_type != self.model_type:
                lines.append(_validation_message(namespace + "ModelType", "ModelType", "eq"))
        for key, (field_ns, allowed) in self.one_of.items():
            value = data.get(key) if isinstance(data, dict) else None
            if isinstance(value, str) and value and value not in allowed:
                name = field_ns.rsplit(".", 1)[-1]
                lines.append(_validation_message(namespace + field_ns, name, "oneof"))
        return lines


def _serve(daemon, route, h, direct=False):
    """The daemon's middleware and binding, the rules the binder lacks, then the answer."""
    if direct:
        dispatch._direct_plugin(daemon, h)
        h.bind(route.v2_fields)
    else:
        dispatch._dispatch_installation(daemon, h)
        h.bind(route.fields)
    body = h.json_body()
    problems = route.problems(body.get("data") if isinstance(body, dict) else None)
    if problems:
        raise _bad_request("\n".join(problems), status=400)
    if route.json_answer:
        return _serve_json(daemon, route, h)
    return dispatch.serve(daemon, route, h, direct)


def _serve_json(daemon, route, h):
    """Polling: the plugin's one answer as a JSON envelope; its error as HTTP 500 -500."""
    call = dispatch.dispatch_call(daemon, route, h)
    handler = dispatch.plugin_handler(daemon, call)
    try:
        answers = list(handler(call))
    except FakePluginError as exc:
        h.send_body(500, _plugin_error_event(exc.error_type, exc.message, exc.error_args))
        return _HANDLED
    except Exception as exc:  # any plugin exception, as the SDK reports it
        h.send_body(500, _plugin_error_event(type(exc).__name__, str(exc),
                                             {"traceback": traceback.format_exc()}))
        return _HANDLED
    answer = answers[0] if answers else None
    data = answer["__raw__"] if _raw(answer) else _go_struct(answer)
    h.send_body(200, go_json({"code": 0, "message": "success", "data": data}))
    return _HANDLED


def _field(name, key, kind="str", rules="required", schema=None):
    return _Field(name, "json", key, kind, rules, ns="%s.%s" % (schema, name) if schema else None)


_LLM_SCHEMA = [
    _field("ModelParameters", "model_parameters", "map", "omitempty", "InvokeLLMSchema"),
    _field("PromptMessages", "prompt_messages", "maps", "omitempty", "InvokeLLMSchema"),
    _field("Tools", "tools", "maps", "omitempty", "InvokeLLMSchema"),
    _field("Stop", "stop", "strs", "omitempty", "InvokeLLMSchema"),
]
_TTS_SCHEMA = "InvokeTTSSchema"

ROUTES = [
    ModelRoute("llm/invoke", "RequestInvokeLLM", _base(*_LLM_SCHEMA), _invoke_llm, "llm",
               encode=encode_llm_chunk),
    ModelRoute("llm/num_tokens", "RequestGetLLMNumTokens", _base(), _llm_num_tokens, "llm"),
    ModelRoute("text_embedding/invoke", "RequestInvokeTextEmbedding", _base(
        _field("Texts", "texts", "strs", "required", "InvokeTextEmbeddingSchema"),
        _field("InputType", "input_type", "str", "required", "InvokeTextEmbeddingSchema")),
        _invoke_text_embedding, "text-embedding"),
    ModelRoute("text_embedding/num_tokens", "RequestGetTextEmbeddingNumTokens", _base(
        _field("Texts", "texts", "strs", "required")), _text_embedding_num_tokens, "text-embedding"),
    ModelRoute("multimodal_embedding/invoke", "RequestInvokeMultimodalEmbedding", _base(
        _field("Documents", "documents", "maps", "required", "InvokeMultimodalEmbeddingSchema"),
        _field("InputType", "input_type", "str", "required", "InvokeMultimodalEmbeddingSchema")),
        _invoke_multimodal_embedding, any_model_type=True,
        one_of={"input_type": ("InvokeMultimodalEmbeddingSchema.InputType", ("document", "query"))}),
    ModelRoute("rerank/invoke", "RequestInvokeRerank", _base(
        _field("Query", "query", "str", "required", "InvokeRerankSchema"),
        _field("Docs", "docs", "strs", "required", "InvokeRerankSchema")), _invoke_rerank, "rerank"),
    ModelRoute("multimodal_rerank/invoke", "RequestInvokeMultimodalRerank", _base(
        _field("Query", "query", "map", "required", "InvokeMultimodalRerankSchema"),
        _field("Docs", "docs", "maps", "required", "InvokeMultimodalRerankSchema")),
        _invoke_multimodal_rerank, any_model_type=True),
    ModelRoute("tts/invoke", "RequestInvokeTTS", _base(
        _field("ContentText", "content_text", "str", "required", _TTS_SCHEMA),
        _field("Voice", "voice", "str", "required", _TTS_SCHEMA),
        _field("TenantID", "tenant_id", "str", "required", _TTS_SCHEMA)), _invoke_tts, "tts"),
    ModelRoute("tts/model/voices", "RequestGetTTSModelVoices", _base(
        _field("Language", "language", "str", "omitempty")), _tts_voices, "tts"),
    ModelRoute("speech2text/invoke", "RequestInvokeSpeech2Text", _base(
        _field("File", "file", "str", "required", "InvokeSpeech2TextSchema")), _speech_to_text,
        "speech2text"),
    ModelRoute("moderation/invoke", "RequestInvokeModeration", _base(
        _field("Text", "text", "str", "required", "InvokeModerationSchema")), _moderation, "moderation"),
    ModelRoute("model/validate_provider_credentials", "RequestValidateProviderCredentials", [
        _field("Credentials", "credentials", "map", "omitempty", "Credentials"),
        _field("Provider", "provider", "str", "required")], _validate_credentials),
    ModelRoute("model/validate_model_credentials", "RequestValidateModelCredentials", _base(),
               _validate_credentials),
    ModelRoute("model/schema", "RequestGetAIModelSchema", _base(), _model_schema),
    ModelRoute("model/polling/start", "RequestStartPolling", _base(*_LLM_SCHEMA), _start_polling, "llm",
               v2=False, json_answer=True),
    ModelRoute("model/polling/check", "RequestCheckPolling", _base(
        _field("PluginState", "plugin_state", "map", "required,min=1")), _check_polling, "llm",
        v2=False, json_answer=True),
]


def register(router, daemon):
    add_routes(router, daemon, [
        ("GET", MGMT + "/models", _r_models, True),
    ])
    for route in ROUTES:
        dispatch.register_dispatch_route(router, daemon, route, answer=_serve)
