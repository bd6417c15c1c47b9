#!/usr/bin/env python3
"""Run the offline e2e plugins under the real SDK over stdio, no daemon.

Developer tool, not part of the pytest run. For every plugin in this folder it

1. builds the package with ``../build_plugin.py`` and unpacks it into a
   temporary folder (what the daemon's local runtime does with an install);
2. starts ``<python> -m main`` there with ``INSTALL_METHOD=local`` (the
   daemon's command line and environment for a local plugin);
3. writes one request line per action on stdin, in the daemon's format
   ``{"session_id", "conversation_id", "message_id", "app_id", "endpoint_id",
   "context", "event": "request", "data": {"user_id", "type", "action",
   ...the HTTP body's "data"...}}``;
4. reads the plugin's session messages (``stream`` / ``error`` / ``end``) and
   checks them against the shapes in the 0.6.10 route recordings
   (``shared/daemon-transcripts/0.6.10-routes``).

Only the plugin side is checked here: what the daemon does on top (SSE
envelope, Go re-marshalling, merging agent blob_chunks, HTTP 400 validation
before a plugin is called) is not, and requests the daemon itself rejects are
not sent.

    python tests/e2e/plugins/check_stdio.py --python /path/to/venv/bin/python [--plugin echomodel] [-v]

``--python`` must be a CPython 3.12 with ``dify_plugin==0.10.2`` installed
(the plugins' requirements.txt); ``$DIFY_PLUGIN_PYTHON`` is the default. The
plugins make no network calls. Exit status 0 when every check passed.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from decimal import Decimal
from typing import Any, Callable, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import build_plugin  # noqa: E402

USER_ID = "user-e2e-1"
TENANT_ID = "0b4f6b38-2b3c-4d3e-9a4f-5c6d7e8f9a0b"
GOOD = {"api_key": "good"}
WRONG = {"api_key": "wrong"}
BOOT_TIMEOUT = 120.0
REQUEST_TIMEOUT = 60.0

Message = Tuple[str, Any]  # ("stream" | "error", data)


class CheckFailed(AssertionError):
    pass


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise CheckFailed(what)


# ---------------------------------------------------------------------------
# the plugin process
# ---------------------------------------------------------------------------


class PluginProcess:
    """One plugin started the way the daemon's local runtime starts it."""

    def __init__(self, python: str, workdir: str) -> None:
        env = dict(os.environ)
        env["INSTALL_METHOD"] = "local"
        self.proc = subprocess.Popen(
            [python, "-m", "main"],
            cwd=workdir,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.manifest: Optional[dict] = None
        self.ready = threading.Event()
        self.sessions: Dict[str, "queue.Queue[dict]"] = {}
        self.lock = threading.Lock()
        self.other_events: List[dict] = []
        self.stderr_lines: List[str] = []
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _queue(self, session_id: str) -> "queue.Queue[dict]":
        with self.lock:
            return self.sessions.setdefault(session_id, queue.Queue())

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                self.other_events.append({"unparsed": line[:200].decode("utf-8", "replace")})
                continue
            if self.manifest is None and "event" not in obj:
                self.manifest = obj
                continue
            event = obj.get("event")
            if event == "heartbeat":
                self.ready.set()
            elif event == "session" and obj.get("session_id"):
                self._queue(obj["session_id"]).put(obj["data"])
            else:
                self.other_events.append(obj)
        self.ready.set()  # EOF: let a waiter notice the exit

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self.stderr_lines.append(raw.decode("utf-8", "replace").rstrip())

    def wait_ready(self, timeout: float) -> None:
        if not self.ready.wait(timeout) or self.proc.poll() is not None:
            raise RuntimeError(
                "plugin did not start (exit %r); stderr tail:\n%s"
                % (self.proc.poll(), "\n".join(self.stderr_lines[-20:]))
            )

    def request(self, data: dict, session: Optional[dict] = None, timeout: float = REQUEST_TIMEOUT) -> List[Message]:
        session_id = str(uuid.uuid4())
        line = {
            "session_id": session_id,
            "conversation_id": None,
            "message_id": None,
            "app_id": None,
            "endpoint_id": None,
            "context": {},
            "event": "request",
            "data": data,
        }
        line.update(session or {})
        q = self._queue(session_id)
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(line).encode("utf-8") + b"\n")
        self.proc.stdin.flush()
        out: List[Message] = []
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CheckFailed("no 'end' message within %.0f s (got %d messages)" % (timeout, len(out)))
            try:
                msg = q.get(timeout=remaining)
            except queue.Empty:
                continue
            kind = msg.get("type")
            if kind == "end":
                return out
            out.append((kind, msg.get("data")))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass


# ---------------------------------------------------------------------------
# request builders (the daemon's "data" map: user_id, type, action + body.data)
# ---------------------------------------------------------------------------


def req(access_type: str, action: str, **fields: Any) -> dict:
    data = {"user_id": USER_ID, "type": access_type, "action": action}
    data.update(fields)
    return data


def model_req(action: str, model_type: str, model: str, credentials: Optional[dict] = None, **fields: Any) -> dict:
    return req(
        "model",
        action,
        provider=fields.pop("provider", "echomodel"),
        model_type=model_type,
        model=model,
        credentials=GOOD if credentials is None else credentials,
        **fields,
    )


def llm_req(
    messages: List[dict],
    credentials: Optional[dict] = None,
    stream: bool = True,
    action: str = "invoke_llm",
    **fields: Any
) -> dict:
    fields.setdefault("model_parameters", {"temperature": 0.5, "max_tokens": 100})
    fields.setdefault("tools", [])
    fields.setdefault("stop", [])
    return model_req(
        action,
        "llm",
        fields.pop("model", "echo-llm"),
        credentials,
        prompt_messages=messages,
        stream=stream,
        **fields,
    )


HELLO = [{"role": "system", "content": "You echo."}, {"role": "user", "content": "hello wonderful world"}]
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Get the weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def raw_http(method: str, target: str, headers: List[Tuple[str, str]], body: bytes = b"") -> str:
    """Hex of a raw HTTP/1.1 request, as the daemon and Dify send it."""
    lines = ["%s %s HTTP/1.1" % (method, target)] + ["%s: %s" % h for h in headers]
    return binascii.hexlify("\r\n".join(lines).encode("utf-8") + b"\r\n\r\n" + body).decode("ascii")


HOOK_ID = "haw3p52s407hua0o"
DAEMON_HOST = "127.0.0.1:5002"


def hook_request(method: str, path: str, query: str = "", headers: Optional[List[Tuple[str, str]]] = None, body: bytes = b"") -> str:
    """The request the daemon forwards for /e/<hook>/<path>: hook prefix
    stripped, Dify-Hook-Id / Dify-Hook-Url added."""
    hdrs = [("Host", DAEMON_HOST), ("User-Agent", "Go-http-client/1.1")]
    if body:
        hdrs.append(("Content-Length", str(len(body))))
    hdrs += list(headers or [])
    hdrs += [
        ("Accept-Encoding", "identity"),
        ("Dify-Hook-Id", HOOK_ID),
        ("Dify-Hook-Url", "http://%s/e/%s%s" % (DAEMON_HOST, HOOK_ID, path)),
    ]
    return raw_http(method, path + ("?" + query if query else ""), hdrs, body)


ENDPOINT_SETTINGS = {"api_key": "sekret-value-123", "greeting": "hi"}


def endpoint_req(raw_hex: str, settings: Optional[dict] = None) -> dict:
    return {
        "type": "endpoint",
        "action": "invoke_endpoint",
        "user_id": "",
        "settings": ENDPOINT_SETTINGS if settings is None else settings,
        "raw_http_request": raw_hex,
    }


CALLBACK_HEX = raw_http(
    "GET",
    "/console/api/oauth/plugin/e2etest/echotool/echotool/tool/callback?code=abc123&state=echo-state",
    [("Host", "dify.example"), ("User-Agent", "browser"), ("Cookie", "session=1")],
)
CALLBACK_NO_CODE_HEX = raw_http("GET", "/cb", [("Host", "x")])

SUBSCRIPTION = {
    "expires_at": 1900000000,
    "endpoint": "https://dify.example/triggers/plugin/abc",
    "parameters": {"channel": "c1"},
    "properties": {"external_id": "hook-123", "secret": "s"},
}


def webhook_hex(body: bytes, secret: str = "s", content_length: Optional[int] = None) -> str:
    return raw_http(
        "POST",
        "/triggers/plugin/abc?src=test",
        [
            ("Host", "dify.example"),
            ("Content-Type", "application/json"),
            ("X-Echo-Secret", secret),
            ("Content-Length", str(len(body) if content_length is None else content_length)),
        ],
        body,
    )


PUSH = b'{"kind": "push", "user": "alice"}'


# ---------------------------------------------------------------------------
# result helpers
# ---------------------------------------------------------------------------


def streamed(msgs: List[Message]) -> List[Any]:
    errors = [d for k, d in msgs if k == "error"]
    expect(not errors, "unexpected plugin error: %s" % (json.dumps(errors[0])[:300] if errors else ""))
    return [d for k, d in msgs if k == "stream"]


def single(msgs: List[Message]) -> Any:
    items = streamed(msgs)
    expect(len(items) == 1, "expected exactly 1 message, got %d" % len(items))
    return items[0]


def plugin_error(msgs: List[Message], error_type: str, message: Optional[str] = None, prefix: bool = False) -> dict:
    """The last message must be a plugin error of that class (what the daemon
    turns into an SSE event with code -500)."""
    expect(bool(msgs) and msgs[-1][0] == "error", "expected a plugin error, got %s" % [k for k, _ in msgs])
    err = msgs[-1][1]
    expect(err.get("error_type") == error_type, "error_type %r != %r" % (err.get("error_type"), error_type))
    if message is not None:
        got = str(err.get("message"))
        ok = got.startswith(message) if prefix else got == message
        expect(ok, "error message %r != %r" % (got[:200], message))
    expect("traceback" in (err.get("args") or {}), "error args carry no traceback")
    return err


def keys(obj: dict, *names: str) -> None:
    expect(isinstance(obj, dict), "not an object: %r" % (obj,))
    missing = [n for n in names if n not in obj]
    expect(not missing, "missing keys %s in %s" % (missing, sorted(obj)))


def dec(value: Any) -> Decimal:
    return Decimal(str(value))


def llm_chunks(items: List[dict], model: str = "echo-llm") -> None:
    for i, c in enumerate(items):
        keys(c, "model", "delta", "system_fingerprint", "prompt_messages")
        keys(c["delta"], "index", "message", "usage", "finish_reason")
        expect(c["model"] == model, "chunk model %r" % c["model"])
        expect(c["delta"]["index"] == i, "chunk %d has index %r" % (i, c["delta"]["index"]))
        expect(c["prompt_messages"] == [], "prompt_messages not []")


def usage(u: dict, prompt: int, completion: int, priced: bool = True) -> None:
    keys(
        u,
        "prompt_tokens", "prompt_unit_price", "prompt_price_unit", "prompt_price",
        "completion_tokens", "completion_unit_price", "completion_price_unit", "completion_price",
        "total_tokens", "total_price", "currency", "latency",
    )
    expect((u["prompt_tokens"], u["completion_tokens"], u["total_tokens"]) == (prompt, completion, prompt + completion),
           "tokens %r/%r/%r" % (u["prompt_tokens"], u["completion_tokens"], u["total_tokens"]))
    for k in ("prompt_unit_price", "prompt_price", "completion_price", "total_price"):
        expect(isinstance(u[k], str), "%s is not a decimal string: %r" % (k, u[k]))
    if priced:
        expect(dec(u["prompt_unit_price"]) == Decimal("0.001") and dec(u["completion_unit_price"]) == Decimal("0.002"),
               "unit prices %r/%r" % (u["prompt_unit_price"], u["completion_unit_price"]))
        expect(dec(u["prompt_price"]) == prompt * Decimal("0.000001"), "prompt_price %r" % u["prompt_price"])
        expect(dec(u["completion_price"]) == completion * Decimal("0.000002"), "completion_price %r" % u["completion_price"])
        expect(dec(u["total_price"]) == dec(u["prompt_price"]) + dec(u["completion_price"]), "total_price")
    else:
        expect(dec(u["total_price"]) == 0, "unknown model should cost 0, got %r" % u["total_price"])
    expect(u["currency"] == "USD" and isinstance(u["latency"], float), "currency/latency")


def words_stream(items: List[dict], expected_words: List[str]) -> None:
    got = [c["delta"]["message"]["content"] for c in items[: len(expected_words)]]
    expect(got == [w + " " for w in expected_words], "words %r" % got)
    for c in items[: len(expected_words)]:
        expect(c["delta"]["usage"] is None and c["delta"]["finish_reason"] is None, "word chunk has usage/finish")
        expect(c["system_fingerprint"] == "echo-fp-1", "system_fingerprint %r" % c["system_fingerprint"])
        expect(c["delta"]["message"]["role"] == "assistant", "role")


def options(items: Any, expected: List[Tuple[str, str]]) -> List[dict]:
    keys(items, "options")
    opts = items["options"]
    got = [(o["value"], o["label"]["en_US"]) for o in opts]
    expect(got == expected, "options %r" % got)
    for o in opts:
        keys(o, "value", "label", "icon")
        keys(o["label"], "en_US", "zh_Hans", "ja_JP", "pt_BR")
    return opts


EMBED_DOC = [
    [0.45098, -0.396078, -0.694118, 0.45098, 0.152941, -0.396078, -0.513725, -0.937255],
    [0.709804, -0.231373, -0.631373, 0.505882, -0.607843, 0.929412, -0.45098, 0.466667],
]
EMBED_QUERY = [[-0.733333, 0.396078, -0.152941, 0.945098, -0.686275, 0.066667, -0.905882, 0.607843]]
EMBED_V2 = [[-0.003922, 0.592157, 0.890196, 0.223529, -0.364706, -0.396078, -0.333333, 0.223529]]
EMBED_MULTI = [
    [0.835294, 0.74902, -0.098039, -0.670588, 0.458824, 0.176471, 0.678431, -0.47451],
    [0.2, -0.396078, 0.176471, 0.403922, 0.678431, -0.670588, -0.066667, -0.2],
]


def embedding(result: dict, vectors: List[List[float]], tokens: int) -> None:
    keys(result, "model", "embeddings", "usage")
    expect(result["model"] == "echo-embed", "model")
    expect(result["embeddings"] == vectors, "vectors differ from the recordings: %r" % result["embeddings"])
    u = result["usage"]
    keys(u, "tokens", "total_tokens", "unit_price", "price_unit", "total_price", "currency", "latency")
    expect(u["tokens"] == tokens and u["total_tokens"] == tokens, "tokens %r" % u["tokens"])
    expect(dec(u["unit_price"]) == Decimal("0.0001") and dec(u["price_unit"]) == Decimal("0.001"), "prices")
    expect(dec(u["total_price"]) == tokens * Decimal("0.0000001"), "total_price %r" % u["total_price"])


# ---------------------------------------------------------------------------
# the cases
# ---------------------------------------------------------------------------

Case = Tuple[str, str, dict, Callable[[List[Message]], None], Optional[dict]]
CASES: Dict[str, List[Case]] = {}


def case(plugin: str, route: str, label: str, data: dict, session: Optional[dict] = None):
    def register(check: Callable[[List[Message]], None]) -> Callable[[List[Message]], None]:
        CASES.setdefault(plugin, []).append((route, label, data, check, session))
        return check

    return register


# -- echomodel ---------------------------------------------------------------

M = "echomodel"


@case(M, "model/validate_provider_credentials", "good", req("model", "validate_provider_credentials", provider="echomodel", credentials=GOOD))
def _(m):
    expect(single(m) == {"result": True, "credentials": GOOD}, "answer %r" % m)


@case(M, "model/validate_provider_credentials", "bad", req("model", "validate_provider_credentials", provider="echomodel", credentials=WRONG))
def _(m):
    err = plugin_error(m, "CredentialsValidateFailedError", "api_key must be 'good'")
    expect("wrong" not in json.dumps(err["message"]), "the error repeats the credential")


@case(M, "model/validate_provider_credentials", "unknown provider", req("model", "validate_provider_credentials", provider="no-such-provider", credentials=GOOD))
def _(m):
    plugin_error(m, "ValueError", "Provider `no-such-provider` not found")


@case(M, "model/validate_model_credentials", "good llm", req("model", "validate_model_credentials", provider="echomodel", model_type="llm", model="echo-llm", credentials=GOOD))
def _(m):
    expect(single(m) == {"result": True, "credentials": GOOD}, "answer %r" % m)


@case(M, "model/validate_model_credentials", "bad rerank", req("model", "validate_model_credentials", provider="echomodel", model_type="rerank", model="echo-rerank", credentials=WRONG))
def _(m):
    plugin_error(m, "CredentialsValidateFailedError", "api_key must be 'good'")


@case(M, "llm/invoke", "stream", llm_req(HELLO))
def _(m):
    items = streamed(m)
    expect(len(items) == 4, "expected 3 word chunks + 1 final, got %d" % len(items))
    llm_chunks(items)
    words_stream(items, ["hello", "wonderful", "world"])
    last = items[-1]["delta"]
    expect(last["finish_reason"] == "stop" and last["message"]["content"] == "", "final chunk %r" % last)
    usage(last["usage"], 5, 3)


@case(M, "llm/invoke", "stream=false", llm_req(HELLO, stream=False))
def _(m):
    c = single(m)
    llm_chunks([c])
    expect(c["delta"]["message"]["content"] == "hello wonderful world", "content %r" % c["delta"]["message"]["content"])
    expect(c["delta"]["finish_reason"] is None, "finish_reason should be null without streaming")
    usage(c["delta"]["usage"], 5, 3)


@case(M, "llm/invoke", "tool call", llm_req([{"role": "user", "content": "call get_weather Paris"}], tools=[WEATHER_TOOL]))
def _(m):
    items = streamed(m)
    expect(len(items) == 5, "expected 3 words + tool call + final, got %d" % len(items))
    llm_chunks(items)
    words_stream(items, ["call", "get_weather", "Paris"])
    calls = items[3]["delta"]["message"]["tool_calls"]
    expect(len(calls) == 1, "tool_calls %r" % calls)
    call = calls[0]
    expect(call["type"] == "function" and call["id"].startswith("call_"), "tool call %r" % call)
    expect(call["function"]["name"] == "get_weather", "function name")
    expect(json.loads(call["function"]["arguments"]) == {"args": ["Paris"]}, "arguments %r" % call["function"]["arguments"])
    expect(items[3]["system_fingerprint"] is None, "tool-call chunk fingerprint should be null")
    expect(items[4]["delta"]["finish_reason"] == "tool_calls", "finish_reason")
    usage(items[4]["delta"]["usage"], 3, 3)


@case(M, "llm/invoke", "multi-turn, list content, echo_prefix", llm_req(
    [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "call get_weather Paris"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
        {"role": "tool", "content": "sunny", "tool_call_id": "call_1", "name": "get_weather"},
        {"role": "user", "content": [
            {"type": "text", "data": "describe "},
            {"type": "text", "data": "this picture"},
            {"type": "image", "url": "https://example.invalid/cat.png", "mime_type": "image/png", "format": "png", "detail": "low"},
        ]},
    ],
    model_parameters={"echo_prefix": "PREFIX"},
    tools=[WEATHER_TOOL],
))
def _(m):
    items = streamed(m)
    expect(len(items) == 5, "expected 4 words + final, got %d" % len(items))
    words_stream(items, ["PREFIX", "describe", "this", "picture"])
    expect(items[-1]["delta"]["finish_reason"] == "stop", "finish_reason")
    usage(items[-1]["delta"]["usage"], 8, 4)


@case(M, "llm/invoke", "bad api_key", llm_req(HELLO, credentials=WRONG))
def _(m):
    err = plugin_error(m, "InvokeAuthorizationError")
    expect(err["args"].get("description") == "[models] Incorrect model credentials provided, please check and try again. ",
           "description %r" % err["args"].get("description"))


@case(M, "llm/invoke", "raise ratelimit", llm_req([{"role": "user", "content": "please raise ratelimit"}]))
def _(m):
    err = plugin_error(m, "InvokeRateLimitError", "[models] Rate Limit Error, echo rate limit for testing")
    expect(len(m) == 1, "nothing may be streamed before the error")
    expect(err["args"].get("description") == err["message"], "description")


@case(M, "llm/invoke", "raise badrequest", llm_req([{"role": "user", "content": "raise badrequest"}]))
def _(m):
    plugin_error(m, "InvokeBadRequestError", "[models] Bad Request Error, echo bad request for testing")


@case(M, "llm/invoke", "fail midstream", llm_req([{"role": "user", "content": "fail midstream now ok"}]))
def _(m):
    expect([k for k, _ in m] == ["stream", "stream", "error"], "sequence %r" % [k for k, _ in m])
    words_stream([d for k, d in m if k == "stream"], ["fail", "midstream"])
    plugin_error(m, "ValueError", "echo failure in the middle of the stream")


@case(M, "llm/invoke", "unknown model name", llm_req(HELLO, model="no-such-model"))
def _(m):
    items = streamed(m)
    expect(len(items) == 4, "chunks %d" % len(items))
    llm_chunks(items, model="no-such-model")
    usage(items[-1]["delta"]["usage"], 5, 3, priced=False)


@case(M, "llm/invoke", "unknown provider", llm_req(HELLO, provider="no-such-provider"))
def _(m):
    plugin_error(m, "ValueError", "Model `ModelType.LLM` not found for provider `no-such-provider`")


@case(M, "llm/invoke", "invalid role", llm_req([{"role": "wizard", "content": "x"}]))
def _(m):
    plugin_error(m, "ValidationError", "1 validation error for ModelInvokeLLMRequest", prefix=True)


@case(M, "llm/num_tokens", "words + tool", model_req("get_llm_num_tokens", "llm", "echo-llm", prompt_messages=[{"role": "user", "content": "one two three"}], tools=[WEATHER_TOOL]))
def _(m):
    expect(single(m) == {"num_tokens": 10}, "answer %r" % m)


@case(M, "model/schema", "echo-llm", model_req("get_ai_model_schemas", "llm", "echo-llm"))
def _(m):
    s = single(m)["model_schema"]
    keys(s, "model", "label", "model_type", "features", "fetch_from", "model_properties", "deprecated", "parameter_rules", "pricing")
    expect(s["model"] == "echo-llm" and s["model_type"] == "llm" and s["fetch_from"] == "predefined-model", "identity")
    expect(s["features"] == ["tool-call", "multi-tool-call", "stream-tool-call", "polling"], "features %r" % s["features"])
    expect(s["model_properties"] == {"context_size": 4096, "mode": "chat"}, "properties %r" % s["model_properties"])
    expect([r["name"] for r in s["parameter_rules"]] == ["temperature", "max_tokens", "echo_prefix"], "rules")
    t = s["parameter_rules"][0]
    expect(t["label"]["zh_Hans"] == "温度" and t["type"] == "float" and t["precision"] == 2, "temperature from the template")
    mt = s["parameter_rules"][1]
    expect((mt["default"], mt["min"], mt["max"]) == (256, 1, 4096), "max_tokens %r" % mt)
    expect({k: dec(v) for k, v in s["pricing"].items() if k != "currency"} == {"input": Decimal("0.001"), "output": Decimal("0.002"), "unit": Decimal("0.001")}, "pricing %r" % s["pricing"])
    expect(all(isinstance(v, str) for k, v in s["pricing"].items()), "prices must be strings")


@case(M, "model/schema", "echo-tts", model_req("get_ai_model_schemas", "tts", "echo-tts"))
def _(m):
    s = single(m)["model_schema"]
    p = s["model_properties"]
    expect(p["audio_type"] == "mp3" and p["default_voice"] == "alloy", "properties %r" % p)
    expect([v["mode"] for v in p["voices"]] == ["alloy", "nova"], "voices")
    expect(s["pricing"] is None and s["parameter_rules"] == [], "pricing/rules")


@case(M, "model/schema", "unknown model", model_req("get_ai_model_schemas", "llm", "nope"))
def _(m):
    expect(single(m) == {"model_schema": None}, "answer %r" % m)


@case(M, "moderation/invoke", "flagged", model_req("invoke_moderation", "moderation", "echo-mod", text="this is forbidden content"))
def _(m):
    expect(single(m) == {"result": True}, "answer %r" % m)


@case(M, "moderation/invoke", "clean", model_req("invoke_moderation", "moderation", "echo-mod", text="all fine"))
def _(m):
    expect(single(m) == {"result": False}, "answer %r" % m)


@case(M, "multimodal_embedding/invoke", "text + image", model_req("invoke_multimodal_embedding", "text-embedding", "echo-embed", documents=[{"content": "hello", "content_type": "text"}, {"content": "aGVsbG8=", "content_type": "image"}], input_type="document"))
def _(m):
    embedding(single(m), EMBED_MULTI, 2)


@case(M, "multimodal_embedding/invoke", "model_type multimodal-embedding", model_req("invoke_multimodal_embedding", "multimodal-embedding", "echo-embed", documents=[{"content": "hello", "content_type": "text"}], input_type="query"))
def _(m):
    plugin_error(m, "ValidationError", "1 validation error for ModelInvokeMultimodalEmbeddingRequest", prefix=True)


@case(M, "multimodal_rerank/invoke", "word overlap", model_req("invoke_multimodal_rerank", "rerank", "echo-rerank", query={"content": "red apple", "content_type": "text"}, docs=[{"content": "apple", "content_type": "text"}, {"content": "car", "content_type": "text"}], score_threshold=0.0, top_n=5))
def _(m):
    expect(single(m) == {"model": "echo-rerank", "docs": [{"index": 0, "text": "apple", "score": 0.5}, {"index": 1, "text": "car", "score": 0.0}]}, "answer %r" % m)


@case(M, "rerank/invoke", "threshold 0.1, top_n 2", model_req("invoke_rerank", "rerank", "echo-rerank", query="red apple pie", docs=["green apple", "red apple pie recipe", "blue car", "apple"], score_threshold=0.1, top_n=2))
def _(m):
    expect(single(m) == {"model": "echo-rerank", "docs": [{"index": 1, "text": "red apple pie recipe", "score": 1.0}, {"index": 0, "text": "green apple", "score": 0.3333}]}, "answer %r" % m)


@case(M, "rerank/invoke", "bad api_key", model_req("invoke_rerank", "rerank", "echo-rerank", WRONG, query="a", docs=["a"], score_threshold=0, top_n=1))
def _(m):
    plugin_error(m, "InvokeAuthorizationError")


@case(M, "speech2text/invoke", "44-byte WAV", model_req("invoke_speech2text", "speech2text", "echo-s2t", file="524946462400000057415645666d742000000000000000000000000000000000000000000000000000000000"))
def _(m):
    expect(single(m) == {"result": "hello from echo speech2text (44 bytes, .wav)"}, "answer %r" % m)


@case(M, "speech2text/invoke", "file not hex", model_req("invoke_speech2text", "speech2text", "echo-s2t", file="not-hex!"))
def _(m):
    plugin_error(m, "Error", "Non-hexadecimal digit found")


@case(M, "text_embedding/invoke", "document", model_req("invoke_text_embedding", "text-embedding", "echo-embed", texts=["hello world", "second text here"], input_type="document"))
def _(m):
    embedding(single(m), EMBED_DOC, 5)


@case(M, "text_embedding/invoke", "query", model_req("invoke_text_embedding", "text-embedding", "echo-embed", texts=["hello world"], input_type="query"))
def _(m):
    embedding(single(m), EMBED_QUERY, 2)


@case(M, "text_embedding/invoke", "query (as in v2/invoke_other)", model_req("invoke_text_embedding", "text-embedding", "echo-embed", texts=["v2"], input_type="query"))
def _(m):
    embedding(single(m), EMBED_V2, 1)


@case(M, "text_embedding/invoke", "bad api_key", model_req("invoke_text_embedding", "text-embedding", "echo-embed", WRONG, texts=["x"], input_type="document"))
def _(m):
    plugin_error(m, "InvokeAuthorizationError")


@case(M, "text_embedding/invoke", "empty texts", model_req("invoke_text_embedding", "text-embedding", "echo-embed", texts=[], input_type="document"))
def _(m):
    embedding(single(m), [], 0)


@case(M, "text_embedding/num_tokens", "per text", model_req("get_text_embedding_num_tokens", "text-embedding", "echo-embed", texts=["a b c", "d", ""]))
def _(m):
    expect(single(m) == {"num_tokens": [3, 1, 0]}, "answer %r" % m)


@case(M, "tts/invoke", "one piece per word", model_req("invoke_tts", "tts", "echo-tts", content_text="hello audio world", voice="alloy", tenant_id=TENANT_ID))
def _(m):
    items = streamed(m)
    expected = ["494433040000"] + [binascii.hexlify(("alloy:" + w).encode()).decode() for w in ("hello", "audio", "world")]
    expect([i["result"] for i in items] == expected, "audio pieces %r" % [i.get("result") for i in items])
    expect(all(i.get("mime_type") == "audio/mpeg" for i in items), "mime_type")


@case(M, "tts/invoke", "bad api_key", model_req("invoke_tts", "tts", "echo-tts", WRONG, content_text="x", voice="alloy", tenant_id=TENANT_ID))
def _(m):
    plugin_error(m, "InvokeAuthorizationError")


@case(M, "tts/model/voices", "all", model_req("get_tts_model_voices", "tts", "echo-tts", language=None))
def _(m):
    expect(single(m) == {"voices": [{"name": "Alloy", "value": "alloy"}, {"name": "Nova", "value": "nova"}]}, "answer %r" % m)


@case(M, "tts/model/voices", "de-DE", model_req("get_tts_model_voices", "tts", "echo-tts", language="de-DE"))
def _(m):
    expect(single(m) == {"voices": [{"name": "Nova", "value": "nova"}]}, "answer %r" % m)


@case(M, "model/polling/start", "start", llm_req([{"role": "user", "content": "poll this text"}], stream=False, action="start_polling"))
def _(m):
    r = single(m)
    keys(r, "status", "plugin_state", "result", "next_check_after_seconds", "expires_after_seconds", "max_attempts")
    expect(r["status"] == "running" and r["result"] is None, "status %r" % r["status"])
    st = r["plugin_state"]
    keys(st, "job_id", "prompt_tokens", "started", "text")
    expect(st["text"] == "poll this text" and st["prompt_tokens"] == 3, "plugin_state %r" % st)
    expect((r["next_check_after_seconds"], r["expires_after_seconds"], r["max_attempts"]) == (1, 60, 5), "timings")


@case(M, "model/polling/check", "succeeded", model_req("check_polling", "llm", "echo-llm", plugin_state={"job_id": "job-c598013f", "prompt_tokens": 3, "started": 1795643150, "text": "poll this text"}))
def _(m):
    r = single(m)
    expect(r["status"] == "succeeded", "status %r" % r["status"])
    res = r["result"]
    keys(res, "model", "prompt_messages", "message", "usage", "system_fingerprint")
    expect(res["message"]["content"] == "poll this text" and res["message"]["role"] == "assistant", "message")
    expect(res["system_fingerprint"] is None, "fingerprint")
    usage(res["usage"], 3, 3)


@case(M, "model/polling/check", "failed", model_req("check_polling", "llm", "echo-llm", plugin_state={"fail": True}))
def _(m):
    r = single(m)
    expect(r["status"] == "failed" and r["error"] == "echo polling failed on request" and r["result"] is None, "answer %r" % r)


@case(M, "model/polling/start", "bad api_key", llm_req(HELLO, credentials=WRONG, stream=False, action="start_polling"))
def _(m):
    plugin_error(m, "InvokeAuthorizationError")


@case(M, "model/polling/start", "unknown model", llm_req(HELLO, model="nope", stream=False, action="start_polling"))
def _(m):
    plugin_error(m, "ValueError", "Model `nope` for provider `echomodel` does not support polling")


# -- echoagent ---------------------------------------------------------------

A = "echoagent"
AGENT_SESSION = {
    "conversation_id": "conv-1",
    "app_id": "app-1",
    "message_id": "msg-1",
    "context": {"credentials": {"tool_credentials": {"e2etest/echotool/echotool": "cred-id-1"}}},
}


def agent_req(strategy: str = "echo", provider: str = "echoagent", **params: Any) -> dict:
    return req("agent_strategy", "invoke_agent_strategy", agent_strategy_provider=provider, agent_strategy=strategy, agent_strategy_params=params)


@case(A, "agent_strategy/invoke", "echo", agent_req(
    query="hello agent",
    maximum_iterations=2,
    model={"provider": "e2etest/echomodel/echomodel", "model": "echo-llm", "model_type": "llm", "mode": "chat", "completion_params": {}},
    tools=[],
), AGENT_SESSION)
def _(m):
    items = streamed(m)
    types = [i["type"] for i in items]
    expect(types == ["log", "text", "json", "variable", "log", "blob", "blob_chunk", "blob_chunk", "blob_chunk", "link", "text"], "types %r" % types)
    for i in items:
        keys(i, "type", "message", "meta")
    start, end = items[0]["message"], items[4]["message"]
    expect(start["status"] == "start" and end["status"] == "success" and start["id"] == end["id"], "log pair")
    expect(start["label"] == "Round 1" and start["data"] == {"query": "hello agent"}, "start log %r" % start)
    expect(items[1]["message"] == {"text": "echo: hello agent"}, "text")
    expect(items[2]["message"]["json_object"] == {"params": ["maximum_iterations", "model", "query", "tools"], "query": "hello agent", "user_id": USER_ID}, "json %r" % items[2]["message"])
    expect(items[3]["message"] == {"variable_name": "last_query", "variable_value": "hello agent", "stream": False}, "variable")
    expect(base64.b64decode(items[5]["message"]["blob"]) == b"small-blob-bytes", "small blob")
    expect(items[5]["meta"] == {"filename": "small.txt", "mime_type": "text/plain"}, "small blob meta")
    chunks = [i["message"] for i in items[6:9]]
    sizes = [len(base64.b64decode(c["blob"])) for c in chunks]
    expect(sizes == [5000, 3000, 0] and [c["sequence"] for c in chunks] == [0, 1, 2], "chunks %r" % sizes)
    expect([c["end"] for c in chunks] == [False, False, True] and len({c["id"] for c in chunks}) == 1, "chunk ids/end")
    expect(all(c["total_length"] == 8000 for c in chunks), "total_length")
    expect(items[8]["meta"] == {"filename": "merged.bin", "mime_type": "application/octet-stream"}, "end chunk meta")
    expect(items[9]["message"] == {"text": "https://example.invalid/echo"} and items[10]["message"] == {"text": "done"}, "link/text")


@case(A, "agent_strategy/invoke", "query contains 'fail'", agent_req(query="please fail"))
def _(m):
    plugin_error(m, "ValueError", "echo strategy failed on purpose")
    expect(len(m) == 1, "nothing may be sent before the error")


@case(A, "agent_strategy/invoke", "unknown strategy", agent_req(strategy="nope"))
def _(m):
    plugin_error(m, "ValueError", "Agent `nope` not found for provider `echoagent`")


@case(A, "agent_strategy/invoke", "unknown provider", agent_req(provider="nope"))
def _(m):
    plugin_error(m, "ValueError", "Agent `echo` not found for provider `nope`")


@case(M, "agent_strategy/invoke", "sent to the model plugin (wrong X-Plugin-ID)", agent_req(query="x"))
def _(m):
    plugin_error(m, "ValueError", "Agent `echo` not found for provider `echoagent`")


@case(A, "llm/invoke", "sent to a plugin without models (wrong X-Plugin-ID)", llm_req(HELLO))
def _(m):
    plugin_error(m, "ValueError", "Model `ModelType.LLM` not found for provider `echomodel`")


@case(A, "oauth/get_authorization_url", "provider without OAuth", req("oauth", "get_authorization_url", provider="echoagent", redirect_uri="https://x/cb", system_credentials={}))
def _(m):
    plugin_error(m, "ValueError", "Provider `echoagent` does not support OAuth")


# -- echotool ----------------------------------------------------------------

T = "echotool"


@case(T, "tool/validate_credentials", "good", req("tool", "validate_tool_credentials", provider="echotool", credentials=GOOD))
def _(m):
    expect(single(m) == {"result": True}, "answer %r" % m)


@case(T, "tool/validate_credentials", "bad", req("tool", "validate_tool_credentials", provider="echotool", credentials={"api_key": "bad"}))
def _(m):
    plugin_error(m, "ToolProviderCredentialValidationError", "api_key must be 'good'")


@case(T, "tool/validate_credentials", "unknown provider", req("tool", "validate_tool_credentials", provider="nope", credentials={}))
def _(m):
    plugin_error(m, "ValueError", "Provider `nope` not found")


@case(T, "tool/invoke", "pick (api-key)", req("tool", "invoke_tool", provider="echotool", tool="pick", tool_parameters={"channel": "general", "text": "hi"}, credentials=GOOD, credential_type="api-key"))
def _(m):
    items = streamed(m)
    expect([i["type"] for i in items] == ["text", "json", "blob_chunk", "blob_chunk", "blob_chunk"], "types %r" % [i["type"] for i in items])
    expect(items[0]["message"] == {"text": "channel=general text=hi"}, "text %r" % items[0]["message"])
    expect(items[1]["message"]["json_object"] == {"credential_keys": ["api_key"], "credential_type": "CredentialType.API_KEY"}, "json %r" % items[1]["message"])
    chunks = [i["message"] for i in items[2:]]
    data = [base64.b64decode(c["blob"]) for c in chunks]
    expect([len(d) for d in data] == [8192, 1808, 0], "chunk sizes %r" % [len(d) for d in data])
    expect(b"".join(data) == b"x" * 10000, "blob bytes")
    expect([c["sequence"] for c in chunks] == [0, 1, 2] and [c["end"] for c in chunks] == [False, False, True], "sequence/end")
    expect(all(c["total_length"] == 10000 for c in chunks), "total_length")
    expect(items[4]["meta"] == {"filename": "x.bin", "mime_type": "application/octet-stream"}, "meta %r" % items[4]["meta"])


@case(T, "tool/invoke", "runtime (oauth2)", req("tool", "invoke_tool", provider="echotool", tool="runtime", tool_parameters={"color": "red", "count": 2}, credentials={"access_token": "at-x"}, credential_type="oauth2"))
def _(m):
    expect(single(m) == {"type": "json", "message": {"json_object": {"color": "red", "count": 2}}, "meta": None}, "answer %r" % m)


for _tool, _creds in (("runtime", GOOD), ("pick", {}), ("nope", {})):
    @case(T, "tool/get_runtime_parameters", _tool, req("tool", "get_tool_runtime_parameters", provider="echotool", tool=_tool, credentials=_creds))
    def _(m):
        # SDK 0.10.2 registers no route for this action: no message, then end.
        expect(m == [], "expected an empty stream (no SDK route), got %r" % m)


@case(T, "dynamic_select/fetch_parameter_options", "pick.channel", req("dynamic_parameter", "fetch_parameter_options", provider="echotool", provider_action="pick", parameter="channel", credentials=GOOD, credential_type="api-key"))
def _(m):
    opts = options(single(m), [("general", "#general"), ("random", "#random"), ("token-good", "channel for good")])
    expect(opts[0]["label"]["zh_Hans"] == "#常规" and opts[0]["icon"] == "https://example.invalid/g.png", "general option")
    expect(opts[1]["icon"] is None, "random option icon")


@case(T, "dynamic_select/fetch_parameter_options", "parameter without options", req("dynamic_parameter", "fetch_parameter_options", provider="echotool", provider_action="pick", parameter="text", credentials={}))
def _(m):
    plugin_error(m, "ValueError", "no dynamic options for parameter 'text'")


@case(T, "dynamic_select/fetch_parameter_options", "unknown provider_action", req("dynamic_parameter", "fetch_parameter_options", provider="echotool", provider_action="nope", parameter="channel", credentials={}))
def _(m):
    plugin_error(m, "ValueError", "Cannot find the target to fetch parameter options")


OAUTH_CLIENT = {"client_id": "my-client", "client_secret": "s3cret"}


@case(T, "oauth/get_authorization_url", "tool", req("oauth", "get_authorization_url", provider="echotool", redirect_uri="https://dify.example/console/api/oauth/plugin/e2etest/echotool/echotool/tool/callback", system_credentials=OAUTH_CLIENT))
def _(m):
    expect(single(m) == {"authorization_url": "https://auth.example.invalid/authorize?client_id=my-client&redirect_uri=https%3A%2F%2Fdify.example%2Fconsole%2Fapi%2Foauth%2Fplugin%2Fe2etest%2Fechotool%2Fechotool%2Ftool%2Fcallback&response_type=code&state=echo-state"}, "answer %r" % m)


@case(T, "oauth/get_credentials", "tool", req("oauth", "get_credentials", provider="echotool", redirect_uri="https://dify.example/cb", system_credentials=OAUTH_CLIENT, raw_http_request=CALLBACK_HEX))
def _(m):
    r = single(m)
    keys(r, "metadata", "credentials", "expires_at")
    expect(r["credentials"] == {"access_token": "at-abc123", "refresh_token": "rt-abc123", "callback_method": "GET", "callback_path": "/console/api/oauth/plugin/e2etest/echotool/echotool/tool/callback"}, "credentials %r" % r["credentials"])
    expect(r["metadata"] == {} and r["expires_at"] > time.time(), "metadata/expires_at")


@case(T, "oauth/refresh_credentials", "tool", req("oauth", "refresh_credentials", provider="echotool", redirect_uri="https://dify.example/cb", system_credentials=OAUTH_CLIENT, credentials={"access_token": "at-abc123", "refresh_token": "rt-abc123"}))
def _(m):
    r = single(m)
    expect(r["credentials"] == {"access_token": "at-refreshed-rt-abc123", "refresh_token": "rt-abc123"}, "credentials %r" % r["credentials"])
    expect(r["expires_at"] > time.time(), "expires_at")


@case(T, "oauth/get_credentials", "callback without code", req("oauth", "get_credentials", provider="echotool", redirect_uri="https://x/cb", system_credentials=OAUTH_CLIENT, raw_http_request=CALLBACK_NO_CODE_HEX))
def _(m):
    plugin_error(m, "ToolProviderOAuthError", "no ?code= in the callback request")


@case(T, "oauth/get_credentials", "wrong client_secret", req("oauth", "get_credentials", provider="echotool", redirect_uri="https://x/cb", system_credentials={"client_id": "c", "client_secret": "wrong"}, raw_http_request=CALLBACK_HEX))
def _(m):
    plugin_error(m, "ToolProviderOAuthError", "client_secret must be 's3cret'")


@case(T, "oauth/get_credentials", "raw_http_request not hex", req("oauth", "get_credentials", provider="echotool", redirect_uri="https://x/cb", system_credentials=OAUTH_CLIENT, raw_http_request="zz-not-hex"))
def _(m):
    plugin_error(m, "Error", "Non-hexadecimal digit found")


# -- datasources -------------------------------------------------------------


def ds_validate(plugin: str, provider: str) -> None:
    @case(plugin, "datasource/validate_credentials", "good", req("datasource", "validate_datasource_credentials", provider=provider, credentials=GOOD))
    def _(m):
        expect(single(m) == {"result": True}, "answer %r" % m)

    @case(plugin, "datasource/validate_credentials", "bad", req("datasource", "validate_datasource_credentials", provider=provider, credentials={"api_key": "x"}))
    def _(m):
        plugin_error(m, "DatasourceCredentialValidationError", "api_key must be 'good'")

    @case(plugin, "datasource/validate_credentials", "unknown provider", req("datasource", "validate_datasource_credentials", provider="nope", credentials=GOOD))
    def _(m):
        plugin_error(m, "ValueError", "Datasource provider nope not found")


ds_validate("echodocs", "echodocs")
ds_validate("echodrive", "echodrive")
ds_validate("echocrawl", "echocrawl")

D = "echodocs"


def ds_req(action: str, provider: str, datasource: str, **fields: Any) -> dict:
    return req("datasource", action, provider=provider, datasource=datasource, credentials=GOOD, **fields)


@case(D, "datasource/get_online_document_pages", "pages", ds_req("invoke_online_document_datasource_get_pages", "echodocs", "docs", datasource_parameters={"topic": "T"}))
def _(m):
    r = single(m)
    keys(r, "result")
    ws = r["result"]
    expect(len(ws) == 1, "workspaces %d" % len(ws))
    keys(ws[0], "workspace_id", "workspace_name", "workspace_icon", "total", "pages")
    expect(ws[0]["workspace_id"] == "ws-1" and ws[0]["total"] == 2, "workspace")
    pages = ws[0]["pages"]
    for p in pages:
        keys(p, "page_id", "page_name", "page_icon", "type", "last_edited_time", "parent_id")
    expect([(p["page_id"], p["page_name"], p["parent_id"]) for p in pages] == [("p-1", "Page one T", None), ("p-2", "Child page", "p-1")], "pages %r" % pages)
    expect(pages[1]["page_icon"] == {"type": "emoji", "emoji": "x"}, "page icon")


@case(D, "datasource/get_online_document_page_content", "p-1", ds_req("invoke_online_document_datasource_get_page_content", "echodocs", "docs", page={"workspace_id": "ws-1", "page_id": "p-1", "type": "page"}))
def _(m):
    items = streamed(m)
    expect([i["type"] for i in items] == ["text", "variable", "json"], "types")
    expect(items[0]["message"] == {"text": "content of ws-1/p-1 (page)"}, "text %r" % items[0]["message"])
    expect(items[1]["message"] == {"variable_name": "title", "variable_value": "Title of p-1", "stream": False}, "variable")
    expect(items[2]["message"]["json_object"] == {"content": "hello", "page_id": "p-1", "workspace_id": "ws-1"}, "json")


@case(D, "datasource/get_online_document_page_content", "missing page", ds_req("invoke_online_document_datasource_get_page_content", "echodocs", "docs", page={"workspace_id": "ws-1", "page_id": "missing", "type": "page"}))
def _(m):
    plugin_error(m, "ValueError", "page not found: missing")


DR = "echodrive"


@case(DR, "datasource/online_drive_browse_files", "max_keys 2", ds_req("invoke_online_drive_browse_files", "echodrive", "drive", request={"bucket": "b1", "prefix": "docs/", "max_keys": 2}))
def _(m):
    expect(single(m) == {"result": [{"bucket": "b1", "files": [
        {"id": "docs/folder/", "name": "folder", "size": 0, "type": "folder"},
        {"id": "docs/file-1.txt", "name": "file-1.txt", "size": 10, "type": "file"},
    ], "is_truncated": True, "next_page_parameters": {"offset": 2}}]}, "answer %r" % m)


@case(DR, "datasource/online_drive_browse_files", "no bucket", ds_req("invoke_online_drive_browse_files", "echodrive", "drive", request={"prefix": "", "max_keys": 10, "next_page_parameters": {"offset": 2}}))
def _(m):
    r = single(m)["result"][0]
    expect(r["bucket"] is None and r["is_truncated"] is False and r["next_page_parameters"] is None, "bucket %r" % r)
    expect([f["id"] for f in r["files"]] == ["folder/", "file-1.txt", "file-2.txt", "file-3.txt"], "files")


@case(DR, "datasource/online_drive_download_file", "download", ds_req("invoke_online_drive_download_file", "echodrive", "drive", request={"bucket": "b1", "id": "docs/file-1.txt"}))
def _(m):
    item = single(m)
    expect(item["type"] == "blob", "type %r (the SDK does not split datasource blobs)" % item["type"])
    expect(base64.b64decode(item["message"]["blob"]) == b"contents of docs/file-1.txt in b1\n" * 3, "blob")
    expect(item["meta"] == {"file_name": "file-1.txt", "mime_type": "text/plain"}, "meta")


C = "echocrawl"


@case(C, "datasource/get_website_crawl", "crawl", ds_req("invoke_website_datasource_get_crawl", "echocrawl", "crawl", datasource_parameters={"topic": "t1"}))
def _(m):
    items = streamed(m)
    expect(len(items) == 2, "messages %d" % len(items))
    first, second = items[0]["result"], items[1]["result"]
    expect(first == {"status": "processing", "web_info_list": [], "total": 2, "completed": 0}, "first %r" % first)
    expect(second["status"] == "completed" and second["completed"] == 2 and second["total"] == 2, "second")
    expect(second["web_info_list"] == [
        {"source_url": "https://example.invalid/t1/1", "content": "one", "title": "One", "description": "first"},
        {"source_url": "https://example.invalid/t1/2", "content": "two", "title": "Two", "description": "second"},
    ], "pages %r" % second["web_info_list"])


@case(C, "datasource/get_website_crawl", "unknown datasource", ds_req("invoke_website_datasource_get_crawl", "echocrawl", "nope", datasource_parameters={}))
def _(m):
    plugin_error(m, "ValueError", "Website crawl datasource nope not found for provider echocrawl")


# -- echotrigger -------------------------------------------------------------

G = "echotrigger"


def trig_req(action: str, **fields: Any) -> dict:
    return req("trigger", action, provider="echotrigger", **fields)


@case(G, "trigger/validate_credentials", "good", trig_req("validate_trigger_credentials", credentials=GOOD))
def _(m):
    expect(single(m) == {"result": True}, "answer %r" % m)


@case(G, "trigger/validate_credentials", "bad", trig_req("validate_trigger_credentials", credentials={"api_key": "no"}))
def _(m):
    plugin_error(m, "TriggerProviderCredentialValidationError", "api_key must be 'good'")


@case(G, "trigger/dispatch_event", "dispatch", trig_req("dispatch_trigger_event", subscription=SUBSCRIPTION, raw_http_request=webhook_hex(PUSH), credentials=GOOD, credential_type="api-key"))
def _(m):
    r = single(m)
    keys(r, "user_id", "events", "payload", "response")
    expect((r["user_id"], r["events"], r["payload"]) == ("alice", ["ping"], {"kind": "push", "user": "alice"}), "answer %r" % r)
    raw = binascii.unhexlify(r["response"])
    head, _, body = raw.partition(b"\r\n\r\n")
    expect(head.startswith(b"HTTP/1.1 200 \r\n"), "status line %r" % head[:40])
    expect(b"X-Echo-Trigger: 1" in head and b"Content-Type: application/json" in head, "headers %r" % head)
    expect(json.loads(body) == {"ok": True, "received": "push"}, "body %r" % body)


@case(G, "trigger/dispatch_event", "no events", trig_req("dispatch_trigger_event", subscription=SUBSCRIPTION, raw_http_request=webhook_hex(b'{"kind": "none"}'), credentials={}, credential_type="unauthorized"))
def _(m):
    r = single(m)
    expect((r["user_id"], r["events"], r["payload"]) == ("", [], {"kind": "none"}), "answer %r" % r)


@case(G, "trigger/dispatch_event", "bad secret", trig_req("dispatch_trigger_event", subscription=SUBSCRIPTION, raw_http_request=webhook_hex(PUSH, secret="t"), credentials={}, credential_type="unauthorized"))
def _(m):
    plugin_error(m, "TriggerDispatchError", "bad X-Echo-Secret")


@case(G, "trigger/dispatch_event", "credential_type omitted", trig_req("dispatch_trigger_event", subscription=SUBSCRIPTION, raw_http_request=webhook_hex(PUSH), credentials={}))
def _(m):
    plugin_error(m, "ValidationError", "1 validation error for TriggerDispatchEventRequest", prefix=True)


@case(G, "trigger/dispatch_event", "wrong Content-Length", trig_req("dispatch_trigger_event", subscription=SUBSCRIPTION, raw_http_request=webhook_hex(PUSH, content_length=99), credentials={}, credential_type="unauthorized"))
def _(m):
    plugin_error(m, "ValueError", "HTTP body does not match Content-Length")


def invoke_event(event: str = "ping", **fields: Any) -> dict:
    base = dict(event=event, subscription=SUBSCRIPTION, raw_http_request=webhook_hex(PUSH), credentials=GOOD, credential_type="api-key")
    base.update(fields)
    return trig_req("invoke_trigger_event", **base)


@case(G, "trigger/invoke_event", "invoke", invoke_event(parameters={}, payload={"kind": "push", "user": "alice"}))
def _(m):
    expect(single(m) == {"variables": {"body": {"kind": "push", "user": "alice"}, "kind": "push", "method": "POST", "subscription_endpoint": SUBSCRIPTION["endpoint"]}, "cancelled": False}, "answer %r" % m)


@case(G, "trigger/invoke_event", "filtered -> cancelled", invoke_event(parameters={"only_kind": "issue"}, payload={"kind": "push"}))
def _(m):
    expect(single(m) == {"variables": {}, "cancelled": True}, "answer %r" % m)


@case(G, "trigger/invoke_event", "plugin raises", invoke_event(parameters={}, payload={"kind": "explode"}))
def _(m):
    plugin_error(m, "ValueError", "ping event exploded on purpose")


@case(G, "trigger/invoke_event", "unknown event", invoke_event(event="nope", parameters={}, payload={}))
def _(m):
    plugin_error(m, "ValueError", "Event `nope` not found in provider `echotrigger`")


@case(G, "trigger/invoke_event", "parameters/payload null", invoke_event(parameters=None, payload=None))
def _(m):
    plugin_error(m, "ValidationError", "2 validation errors for TriggerInvokeEventRequest", prefix=True)


@case(G, "trigger/subscribe", "subscribe", trig_req("subscribe_trigger", endpoint=SUBSCRIPTION["endpoint"], parameters={"channel": "c1"}, credentials=GOOD, credential_type="api-key"))
def _(m):
    s = single(m)["subscription"]
    keys(s, "expires_at", "endpoint", "parameters", "properties")
    expect(s["endpoint"] == SUBSCRIPTION["endpoint"] and s["parameters"] == {"channel": "c1"}, "subscription %r" % s)
    expect(s["properties"] == {"channel": "c1", "external_id": "hook-123", "secret": "s"}, "properties %r" % s["properties"])
    expect(s["expires_at"] > time.time(), "expires_at")


@case(G, "trigger/refresh", "refresh", trig_req("refresh_trigger", subscription=SUBSCRIPTION, credentials=GOOD, credential_type="api-key"))
def _(m):
    s = single(m)["subscription"]
    expect(s["properties"] == {"external_id": "hook-123", "secret": "s", "refreshed": True}, "properties %r" % s["properties"])
    expect(s["endpoint"] == SUBSCRIPTION["endpoint"] and s["expires_at"] > time.time(), "subscription")


@case(G, "trigger/unsubscribe", "success", trig_req("unsubscribe_trigger", subscription=SUBSCRIPTION, credentials=GOOD, credential_type="api-key"))
def _(m):
    expect(single(m) == {"subscription": {"success": True, "message": "deleted"}}, "answer %r" % m)


@case(G, "trigger/unsubscribe", "success:false", trig_req("unsubscribe_trigger", subscription=dict(SUBSCRIPTION, properties={"external_id": "other"}), credentials=GOOD, credential_type="api-key"))
def _(m):
    expect(single(m) == {"subscription": {"success": False, "message": "unknown external_id"}}, "answer %r" % m)


@case(G, "dynamic_select/fetch_parameter_options", "constructor channel", req("dynamic_parameter", "fetch_parameter_options", provider="echotrigger", provider_action="provider", parameter="channel", credentials=GOOD, credential_type="api-key"))
def _(m):
    options(single(m), [("c1", "Channel 1"), ("c2", "Channel 2 (CredentialType.API_KEY)")])


@case(G, "dynamic_select/fetch_parameter_options", "event ping.level", req("dynamic_parameter", "fetch_parameter_options", provider="echotrigger", provider_action="ping", parameter="level", credentials={}, credential_type="unauthorized"))
def _(m):
    options(single(m), [("low", "Low"), ("high", "High")])


@case(G, "oauth/get_authorization_url", "trigger", req("oauth", "get_authorization_url", provider="echotrigger", redirect_uri="https://dify.example/cb", system_credentials={"client_id": "tc"}))
def _(m):
    expect(single(m) == {"authorization_url": "https://auth.example.invalid/trigger?client_id=tc&redirect_uri=https://dify.example/cb"}, "answer %r" % m)


@case(G, "oauth/get_credentials", "trigger", req("oauth", "get_credentials", provider="echotrigger", redirect_uri="https://dify.example/cb", system_credentials={"client_id": "tc"}, raw_http_request=CALLBACK_HEX))
def _(m):
    r = single(m)
    expect(r["credentials"] == {"access_token": "trig-abc123"} and r["expires_at"] == -1, "answer %r" % r)


@case(G, "oauth/refresh_credentials", "trigger", req("oauth", "refresh_credentials", provider="echotrigger", redirect_uri="https://dify.example/cb", system_credentials={}, credentials={"access_token": "x"}))
def _(m):
    expect(single(m) == {"credentials": {"access_token": "trig-refreshed"}, "expires_at": -1}, "answer %r" % m)


# -- echoendpoint ------------------------------------------------------------

E = "echoendpoint"


def http_answer(msgs: List[Message]) -> Tuple[int, dict, bytes]:
    """Status, headers and body from the plugin's endpoint messages."""
    items = streamed(msgs)
    expect(bool(items), "no messages")
    keys(items[0], "status", "headers")
    body = b"".join(binascii.unhexlify(i.get("result", "")) for i in items)
    return items[0]["status"], items[0]["headers"], body


def echo_json(msgs: List[Message]) -> dict:
    status, headers, body = http_answer(msgs)
    expect(status == 200, "status %r" % status)
    expect(headers.get("X-Echo-Plugin") == "echoendpoint" and headers.get("Content-Type") == "application/json", "headers %r" % headers)
    doc = json.loads(body)
    keys(doc, "method", "path", "full_path", "url", "query", "headers", "body_text", "body_json", "values", "settings")
    expect(doc["settings"] == ENDPOINT_SETTINGS, "settings did not reach the plugin")
    expect(doc["headers"].get("Dify-Hook-Id") == HOOK_ID, "Dify-Hook-Id header")
    return doc


@case(E, "/e/:hook/echo", "POST /echo, JSON body + query", endpoint_req(hook_request("POST", "/echo", "multi=a&multi=b&q=1", [("Content-Type", "application/json"), ("X-Custom", "abc")], b'{"hello": "world"}')))
def _(m):
    doc = echo_json(m)
    expect((doc["method"], doc["path"], doc["full_path"]) == ("POST", "/echo", "/echo?multi=a&multi=b&q=1"), "request line %r" % doc)
    expect(doc["query"] == {"multi": ["a", "b"], "q": ["1"]}, "query %r" % doc["query"])
    expect(doc["body_json"] == {"hello": "world"} and doc["body_text"] == '{"hello": "world"}', "body")
    expect(doc["headers"].get("X-Custom") == "abc" and doc["values"] == {}, "headers/values")


@case(E, "/e/:hook/echo/<path:rest>", "GET with a deep path", endpoint_req(hook_request("GET", "/echo/some/deep/path", "x=y")))
def _(m):
    doc = echo_json(m)
    expect(doc["values"] == {"rest": "some/deep/path"} and doc["query"] == {"x": ["y"]}, "values/query %r" % doc)
    expect(doc["body_json"] is None and doc["body_text"] == "", "empty body")


@case(E, "/e/:hook/echo", "binary body", endpoint_req(hook_request("POST", "/echo", "", [("Content-Type", "application/octet-stream")], b"\x00\x01binary\xff")))
def _(m):
    doc = echo_json(m)
    expect(doc["body_text"] == "\x00\x01binary\ufffd" and doc["body_json"] is None, "body_text %r" % doc["body_text"])
    expect(doc["full_path"] == "/echo?", "full_path %r" % doc["full_path"])


@case(E, "/e/:hook/stream", "GET /stream?n=3 (201, 3 pieces)", endpoint_req(hook_request("GET", "/stream", "n=3")))
def _(m):
    items = streamed(m)
    expect(len(items) == 4 and "result" not in items[0], "expected a head + 3 pieces, got %d" % len(items))
    status, headers, body = http_answer(m)
    expect(status == 201 and headers.get("X-Stream") == "yes" and headers.get("Content-Type", "").startswith("text/plain"), "head %r %r" % (status, headers))
    expect(body == b"piece 1 of 3 (hi)\npiece 2 of 3 (hi)\npiece 3 of 3 (hi)\n", "body %r" % body)


@case(E, "/e/:hook/status/<int:code>", "PUT /status/418", endpoint_req(hook_request("PUT", "/status/418", "", [("Content-Type", "text/plain")], b"teapot?")))
def _(m):
    status, headers, body = http_answer(m)
    expect((status, body) == (418, b"status 418 from plugin"), "answer %r %r" % (status, body))
    expect(headers.get("Content-Type") == "text/plain; charset=utf-8", "content type %r" % headers)


@case(E, "/e/:hook/status/<int:code>", "PUT /status/599 (plugin raises)", endpoint_req(hook_request("PUT", "/status/599")))
def _(m):
    status, _, body = http_answer(m)
    expect((status, body) == (500, b"Internal Server Error: endpoint raised on purpose"), "answer %r %r" % (status, body))


@case(E, "/e/:hook/hidden", "DELETE /hidden (204)", endpoint_req(hook_request("DELETE", "/hidden")))
def _(m):
    status, _, body = http_answer(m)
    expect((status, body) == (204, b""), "answer %r %r" % (status, body))


@case(E, "/e/:hook/*", "undeclared path", endpoint_req(hook_request("GET", "/no/such/path")))
def _(m):
    status, _, body = http_answer(m)
    expect(status == 404 and body.startswith(b"Failed to dispatch endpoint request: 404 Not Found"), "answer %r %r" % (status, body[:80]))


@case(E, "/e/:hook/stream", "declared path, wrong method", endpoint_req(hook_request("POST", "/stream")))
def _(m):
    status, _, body = http_answer(m)
    expect(status == 404 and body == b"Failed to dispatch endpoint request: 405 Method Not Allowed: The method is not allowed for the requested URL.", "answer %r %r" % (status, body))


@case(E, "/e/:hook/stream", "HEAD /stream (GET rule)", endpoint_req(hook_request("HEAD", "/stream")))
def _(m):
    status, headers, _ = http_answer(m)
    expect(status == 201 and headers.get("X-Stream") == "yes", "answer %r %r" % (status, headers))


@case(E, "/e/:hook/echo", "OPTIONS /echo", endpoint_req(hook_request("OPTIONS", "/echo")))
def _(m):
    status, _, body = http_answer(m)
    expect(status == 404 and b"405 Method Not Allowed" in body, "answer %r %r" % (status, body[:80]))


@case(E, "/e/:hook/echo", "empty settings (orphan endpoint)", endpoint_req(hook_request("GET", "/echo/x"), settings={}))
def _(m):
    status, _, body = http_answer(m)
    expect(status == 200 and json.loads(body)["settings"] == {}, "answer %r" % status)


# ---------------------------------------------------------------------------
# runner
# ---------------------------------------------------------------------------


def unpack(plugin: str, dest: str) -> None:
    pkg = build_plugin.build(plugin=plugin)
    import io

    with zipfile.ZipFile(io.BytesIO(pkg)) as zf:
        zf.extractall(dest)


def run_plugin(python: str, plugin: str, verbose: bool) -> Tuple[int, int, List[str]]:
    lines: List[str] = []
    passed = failed = 0
    workdir = tempfile.mkdtemp(prefix="e2e-%s-" % plugin)
    proc: Optional[PluginProcess] = None
    try:
        unpack(plugin, workdir)
        started = time.monotonic()
        proc = PluginProcess(python, workdir)
        proc.wait_ready(BOOT_TIMEOUT)
        manifest = proc.manifest or {}
        if manifest.get("author") != "e2etest" or manifest.get("name") != plugin:
            lines.append("FAIL %-12s boot: manifest line %r" % (plugin, {k: manifest.get(k) for k in ("author", "name")}))
            return 0, 1, lines
        lines.append("ok   %-12s boot: manifest line + heartbeat in %.1f s" % (plugin, time.monotonic() - started))
        for route, label, data, check, session in CASES.get(plugin, []):
            name = "%-12s %s: %s" % (plugin, route, label)
            try:
                msgs = proc.request(data, session)
                check(msgs)
            except CheckFailed as exc:
                failed += 1
                lines.append("FAIL %s -- %s" % (name, exc))
                continue
            passed += 1
            if verbose:
                lines.append("PASS %s (%d messages)" % (name, len(msgs)))
        stray = [e for e in proc.other_events if e.get("event") not in ("log",)]
        if stray:
            failed += 1
            lines.append("FAIL %-12s stray events outside sessions: %s" % (plugin, json.dumps(stray)[:300]))
    except Exception as exc:  # boot failures, broken pipes
        failed += 1
        lines.append("FAIL %-12s %s: %s" % (plugin, type(exc).__name__, exc))
    finally:
        if proc is not None:
            proc.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return passed, failed, lines


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", default=os.environ.get("DIFY_PLUGIN_PYTHON"), help="python with dify_plugin==0.10.2 (default: $DIFY_PLUGIN_PYTHON)")
    ap.add_argument("--plugin", action="append", choices=build_plugin.ECHO_PLUGINS, help="only this plugin (repeatable)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every passing check too")
    args = ap.parse_args(argv)
    if not args.python:
        ap.error("--python (or $DIFY_PLUGIN_PYTHON) is required: a CPython 3.12 with dify_plugin==0.10.2")
    total_pass = total_fail = 0
    summary = []
    for plugin in args.plugin or build_plugin.ECHO_PLUGINS:
        passed, failed, lines = run_plugin(args.python, plugin, args.verbose)
        for line in lines:
            print(line, flush=True)
        summary.append("%-12s %3d passed %3d failed" % (plugin, passed, failed))
        total_pass += passed
        total_fail += failed
    print("\nsummary")
    for line in summary:
        print("  " + line)
    print("  %-12s %3d passed %3d failed" % ("total", total_pass, total_fail))
    return 1 if total_fail else 0


if __name__ == "__main__":
    raise SystemExit(main())
