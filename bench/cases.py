"""One benchmark case per process: ``python bench/cases.py CASE --impl IMPL [options]``.

Run by bench/run.py inside the benchmark's virtual environment (httpx, pydantic,
PyYAML, and dify_plugin_client installed from this checkout).  Each invocation
prints one JSON object on stdout.  ``ours`` is dify_plugin_client; the other
implementations are the baselines described in bench/baseline_models.py.

Every stream case (ours and baselines alike) first reads the short ``warm`` stream on
the same client/connection, so imports, lazily built parsers and validators (pydantic
builds ``PluginDaemonBasicResponse[ToolInvokeMessage]`` on first use) and the
connection are set up before the timed run.
"""

import argparse
import gc
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from fixtures import EMPTY_TENANT, KEY, PROVIDER, TENANT  # noqa: E402

USER = "bench-user"
PLUGIN_ID, PROVIDER_NAME = PROVIDER.rsplit("/", 1)


def _ours(url, **kwargs):
    from dify_plugin_client import DifyPluginClient, PluginConfig

    return DifyPluginClient(PluginConfig(url=url, key=KEY, **kwargs))


def _httpx_client():
    import httpx

    # As Dify builds its pooled daemon client.
    return httpx.Client(limits=httpx.Limits(max_keepalive_connections=50, max_connections=100),
                        trust_env=False, timeout=httpx.Timeout(600.0))


def _invoke_payload(tool, parameters=None):
    return {"user_id": USER, "conversation_id": None, "app_id": None, "message_id": None,
            "data": {"provider": PROVIDER_NAME, "tool": tool, "credentials": {},
                     "tool_parameters": parameters or {}}}


def _dify_dispatch_stream(client, url, plugin_id, route, payload, model):
    """Dify's _request_with_plugin_daemon_response_stream: POST ``payload`` to the
    tenant's ``dispatch/<route>``, then read the answer as Dify's _stream_request does
    (iter_lines, ``data:`` stripped, blank lines skipped) and validate each line with
    ``PluginDaemonBasicResponse[model].model_validate_json``; yields each ``data``."""
    from baseline_models import PluginDaemonBasicResponse

    headers = {"X-Api-Key": KEY, "X-Plugin-ID": plugin_id, "Content-Type": "application/json",
               "Accept-Encoding": "gzip, deflate, br"}
    content = json.dumps(payload)
    with client.stream("POST", "%s/plugin/%s/dispatch/%s" % (url, TENANT, route),
                       headers=headers, content=content) as response:
        for raw_line in response.iter_lines():
            if not raw_line:
                continue
            line = raw_line.decode("utf-8") if isinstance(raw_line, bytes) else raw_line
            line = line.strip()
            if line.startswith("data:"):
                line = line[5:].strip()
            if not line:
                continue
            rep = PluginDaemonBasicResponse[model].model_validate_json(line)
            if rep.code != 0:
                raise ValueError("plugin daemon: %s, code: %s" % (rep.message, rep.code))
            if rep.data is None:
                raise ValueError("got empty data from plugin daemon")
            yield rep.data


def _dify_stream(client, url, tool, parameters=None):
    """Dify's tool invoke stream: ToolInvokeMessage items of the bench tool ``tool``."""
    from baseline_models import ToolInvokeMessage

    return _dify_dispatch_stream(client, url, PLUGIN_ID, "tool/invoke",
                                 _invoke_payload(tool, parameters), ToolInvokeMessage)


def _dify_request(client, method, url, model, params=None, **kwargs):
    """Dify's _request_with_plugin_daemon_response."""
    from baseline_models import PluginDaemonBasicResponse

    headers = kwargs.pop("headers", {})
    headers["X-Api-Key"] = KEY
    headers.setdefault("Accept-Encoding", "gzip, deflate, br")
    response = client.request(method, url, params=params, headers=headers, **kwargs)
    response.raise_for_status()
    rep = PluginDaemonBasicResponse[model].model_validate(response.json())
    if rep.code != 0:
        raise ValueError("%s, code: %s" % (rep.message, rep.code))
    if rep.data is None:
        raise ValueError("got empty data from plugin daemon")
    return rep.data


def _vm(field):
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _read_timed(open_stream):
    """After a gc.collect, time opening and reading a stream to its end.

    ``open_stream()`` is called inside the timed span.  Returns (items read, the last
    item, seconds).
    """
    gc.collect()
    start = time.perf_counter()
    count = 0
    last = None
    for last in open_stream():
        count += 1
    return count, last, time.perf_counter() - start


def _best_time(reps, run):
    """The shortest of ``reps`` timed calls of ``run()`` (each after a gc.collect).

    Returns (seconds, what the last call returned).
    """
    best = result = None
    for _ in range(reps):
        gc.collect()
        start = time.perf_counter()
        result = run()
        elapsed = time.perf_counter() - start
        best = elapsed if best is None else min(best, elapsed)
    return best, result


def _peak_memory(send, size):
    """Call ``send()`` once after a gc.collect, watching the process's memory.

    Returns (what ``send`` returned, the figures: seconds, RSS and high-water mark
    before, high-water mark after, its growth, and that growth per byte of ``size``).
    """
    gc.collect()
    rss_before = _vm("VmRSS")
    hwm_before = _vm("VmHWM")
    start = time.perf_counter()
    answer = send()
    elapsed = time.perf_counter() - start
    hwm_after = _vm("VmHWM")
    return answer, {"seconds": elapsed, "rss_before": rss_before, "hwm_before": hwm_before,
                    "hwm_after": hwm_after, "peak_growth": hwm_after - hwm_before,
                    "growth_x_file": (hwm_after - hwm_before) / size}


# ----------------------------------------------------------------------------------
# Calls: N sequential list_plugins_with_total on one client
# ----------------------------------------------------------------------------------


def case_calls(args):
    tenant = EMPTY_TENANT if args.empty else TENANT
    url = args.url
    n = args.n
    impl = args.impl
    if impl == "ours":
        client = _ours(url)

        def call():
            return client.list_plugins_with_total(tenant).total
    elif impl == "httpx_pooled":
        from baseline_models import PluginListResponse

        client = _httpx_client()
        target = "%s/plugin/%s/management/list" % (url, tenant)

        def call():
            return _dify_request(client, "GET", target, PluginListResponse,
                                 params={"page": 1, "page_size": 256}).total
    elif impl == "httpx_fresh":
        import httpx

        from baseline_models import PluginListResponse

        target = "%s/plugin/%s/management/list" % (url, tenant)

        class Fresh:
            """Dify's BasePluginClient._request: module-level httpx.request per call
            (a new Client, SSL context and connection each time)."""

            @staticmethod
            def request(method, url, **kwargs):
                return httpx.request(method, url, trust_env=False,
                                     timeout=httpx.Timeout(600.0), **kwargs)

        def call():
            return _dify_request(Fresh, "GET", target, PluginListResponse,
                                 params={"page": 1, "page_size": 256}).total
    elif impl == "raw_httpclient":
        import http.client
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port)
        target = "/plugin/%s/management/list?page=1&page_size=256" % tenant

        def call():
            conn.request("GET", target, headers={"X-Api-Key": KEY})
            return json.loads(conn.getresponse().read())["data"]["total"]
    else:
        raise SystemExit("unknown impl " + impl)
    expected = 0 if args.empty else 1
    for _ in range(args.warmup):
        if call() != expected:
            raise SystemExit("unexpected total")
    start = time.perf_counter()
    for _ in range(n):
        call()
    elapsed = time.perf_counter() - start
    return {"calls": n, "seconds": elapsed, "per_second": n / elapsed,
            "us_per_call": elapsed / n * 1e6}


# ----------------------------------------------------------------------------------
# Streams
# ----------------------------------------------------------------------------------


def _warm_ours(client):
    """Read the short warm-up stream (every message kind) before timing."""
    for _ in client.invoke(TENANT, USER, PROVIDER, "warm", cast_parameters=False):
        pass


def _warm_httpx(client, url):
    from baseline_models import merge_blob_chunks

    for _ in merge_blob_chunks(_dify_stream(client, url, "warm")):
        pass


def case_stream(args):
    url = args.url
    impl = args.impl
    expected = args.n
    if impl == "ours":
        client = _ours(url)
        _warm_ours(client)
        count, last, elapsed = _read_timed(
            lambda: client.invoke(TENANT, USER, PROVIDER, "small", cast_parameters=False))
        typed = type(last.message).__name__
    elif impl == "httpx_pydantic":
        client = _httpx_client()
        _warm_httpx(client, url)
        count, last, elapsed = _read_timed(lambda: _dify_stream(client, url, "small"))
        typed = type(last.message).__name__
    elif impl == "naive_readline":
        import http.client
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port)
        headers = {"X-Api-Key": KEY, "X-Plugin-ID": PLUGIN_ID,
                   "Content-Type": "application/json"}
        path = "/plugin/%s/dispatch/tool/invoke" % TENANT

        def naive(tool):
            """The same stream, read line by line; each data line json.loads-ed and its
            envelope checked; the message stays an untyped dict."""
            conn.request("POST", path, body=json.dumps(_invoke_payload(tool)).encode(),
                         headers=headers)
            response = conn.getresponse()
            if response.status != 200:
                raise SystemExit("HTTP %d" % response.status)
            readline = response.readline
            while True:
                line = readline()
                if not line:
                    break
                if line.startswith(b"data:"):
                    envelope = json.loads(line[5:])
                    if envelope["code"] != 0 or envelope["data"] is None:
                        raise SystemExit("daemon error %r" % envelope)
                    yield envelope["data"]

        for _ in naive("warm"):
            pass
        count, last, elapsed = _read_timed(lambda: naive("small"))
        typed = "dict"
    else:
        raise SystemExit("unknown impl " + impl)
    if count != expected:
        raise SystemExit("got %d messages, expected %d" % (count, expected))
    return {"messages": count, "seconds": elapsed, "per_second": count / elapsed,
            "last_message_type": typed}


def case_blob(args):
    url = args.url
    impl = args.impl
    if impl == "ours":
        client = _ours(url)
        _warm_ours(client)
        gc.collect()
        start = time.perf_counter()
        blobs = [m.message.blob for m in client.invoke(TENANT, USER, PROVIDER, "blob",
                                                       cast_parameters=False)]
        elapsed = time.perf_counter() - start
    elif impl == "httpx_pydantic":
        from baseline_models import merge_blob_chunks

        client = _httpx_client()
        _warm_httpx(client, url)
        gc.collect()
        start = time.perf_counter()
        blobs = [m.message.blob for m in merge_blob_chunks(_dify_stream(client, url, "blob"))]
        elapsed = time.perf_counter() - start
    else:
        raise SystemExit("unknown impl " + impl)
    total = sum(len(blob) for blob in blobs)
    if total != args.n:
        raise SystemExit("merged %d bytes, expected %d" % (total, args.n))
    return {"blobs": len(blobs), "bytes": total, "seconds": elapsed,
            "mb_per_second": total / elapsed / 1e6}


def case_latency(args):
    url = args.url
    impl = args.impl
    parameters = {"count": args.n, "interval": 0.1, "split_gap": 0.02}
    if impl == "ours":
        messages = _ours(url).invoke(TENANT, USER, PROVIDER, "paced", tool_parameters=parameters,
                                     cast_parameters=False)
    elif impl == "httpx_pydantic":
        messages = _dify_stream(_httpx_client(), url, "paced", parameters)
    else:
        raise SystemExit("unknown impl " + impl)
    latencies = []
    for message in messages:
        now = time.monotonic_ns()
        sent = int(message.message.text.split()[0][len("sent_ns="):])
        latencies.append((now - sent) / 1e6)
    if len(latencies) != args.n:
        raise SystemExit("got %d events" % len(latencies))
    ordered = sorted(latencies)
    return {"events": len(latencies), "max_ms": ordered[-1],
            "median_ms": ordered[len(ordered) // 2], "min_ms": ordered[0]}


# ----------------------------------------------------------------------------------
# Upload memory
# ----------------------------------------------------------------------------------


def case_upload(args):
    import fake_daemon

    url = args.url
    impl = args.impl
    small = fake_daemon.sample_plugin()
    if impl == "ours":
        client = _ours(url, max_package_size=args.limit)
        client.upload_pkg(TENANT, small)  # warm-up: imports, connection

        def upload():
            return client.upload_pkg(TENANT, args.pkg).unique_identifier
    elif impl == "httpx_bytes":
        from baseline_models import PluginDecodeResponse

        client = _httpx_client()
        target = "%s/plugin/%s/management/install/upload/package" % (url, TENANT)

        def send(pkg):
            return _dify_request(client, "POST", target, PluginDecodeResponse,
                                 files={"dify_pkg": ("dify_pkg", pkg, "application/octet-stream")},
                                 data={"verify_signature": "false"})

        send(small)

        def upload():
            with open(args.pkg, "rb") as handle:
                pkg = handle.read()  # Dify holds the package as bytes
            return send(pkg).unique_identifier
    else:
        raise SystemExit("unknown impl " + impl)
    size = os.path.getsize(args.pkg)
    identifier, memory = _peak_memory(upload, size)
    return dict({"identifier": identifier, "bytes": size}, **memory)


# ----------------------------------------------------------------------------------
# Requests per invoke (counted by the fake daemon)
# ----------------------------------------------------------------------------------


def case_invoke_requests(args):
    import fake_daemon

    from fixtures import sample_files

    result = {}
    with fake_daemon.FakeDaemon(key=KEY) as daemon:
        daemon.install(TENANT, daemon.add_package(sample_files()))
        params = {"text": "hi", "count": "3"}
        n = args.n

        # ours: the declaration (for parameter casting) is fetched once, then cached
        client = _ours(daemon.url)
        daemon.reset_stats()
        list(client.invoke(TENANT, USER, PROVIDER, "echo", tool_parameters=params))
        cold = len(daemon.requests)
        daemon.reset_stats()
        start = time.perf_counter()
        for _ in range(n):
            messages = list(client.invoke(TENANT, USER, PROVIDER, "echo",
                                          tool_parameters=params))
        elapsed = time.perf_counter() - start
        routes = sorted(set(r.path.rsplit("/", 1)[-1] for r in daemon.requests))
        result["ours"] = {"cold_requests": cold, "warm_requests_per_invoke":
                          len(daemon.requests) / n, "ms_per_invoke": elapsed / n * 1e3,
                          "routes": routes, "answer": messages[0].message.text}

        # baseline: fetch the provider declaration, then invoke (two requests each time)
        from baseline_models import PluginToolProviderEntity

        http = _httpx_client()
        daemon.reset_stats()
        start = time.perf_counter()
        for _ in range(n):
            provider = _dify_request(http, "GET", "%s/plugin/%s/management/tool"
                                     % (daemon.url, TENANT), PluginToolProviderEntity,
                                     params={"plugin_id": PLUGIN_ID, "provider": PROVIDER_NAME})
            assert provider.declaration.tools[0].identity.name == "echo"
            messages = list(_dify_stream(http, daemon.url, "echo", {"text": "hi", "count": 3}))
        elapsed = time.perf_counter() - start
        routes = sorted(set(r.path.rsplit("/", 1)[-1] for r in daemon.requests))
        result["httpx_pydantic"] = {"warm_requests_per_invoke": len(daemon.requests) / n,
                                    "ms_per_invoke": elapsed / n * 1e3, "routes": routes,
                                    "answer": messages[0].message.text}
    return result


# ----------------------------------------------------------------------------------
# $ref resolution
# ----------------------------------------------------------------------------------


def make_schema(defs):
    """A tool output schema with ``defs`` definitions, each used once from properties;
    every definition refers to a shared leaf, and every tenth to Dify's file schema."""
    definitions = {"leaf": {"type": "object", "properties": {
        "id": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}}}}
    properties = {}
    for index in range(defs):
        item = {"type": "object", "description": "definition %d" % index,
                "properties": {"name": {"type": "string", "maxLength": 64},
                               "size": {"type": "integer", "minimum": 0},
                               "kind": {"enum": ["a", "b", "c"]},
                               "leaf": {"$ref": "#/$defs/leaf"}},
                "required": ["name", "size"]}
        if index % 10 == 0:
            item["properties"]["file"] = {"$ref": "https://dify.ai/schemas/v1/file.json"}
        definitions["d%d" % index] = item
        properties["p%d" % index] = {"$ref": "#/$defs/d%d" % index,
                                     "description": "property %d" % index}
    return {"type": "object", "properties": properties, "$defs": definitions}


def count_nodes(node):
    stack = [node]
    count = 0
    while stack:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def case_refs(args):
    import dify_plugin_client

    from baseline_models import deepcopy_resolve_refs

    registry = {"https://dify.ai/schemas/v1/file.json": dify_plugin_client._dify_schema("v1",
                                                                                        "file")}
    rows = []
    for target in (1000, 10000, 100000):
        per_def = count_nodes(make_schema(11)) - count_nodes(make_schema(1))
        defs = max(1, round(target / (per_def / 10.0)))
        schema = make_schema(defs)
        nodes = count_nodes(schema)
        repeat = {1000: 30, 10000: 5, 100000: 3}[target]
        row = {"target": target, "nodes": nodes}
        for impl, fn in (("ours", dify_plugin_client._resolve_refs),
                         ("deepcopy_bfs", lambda s: deepcopy_resolve_refs(s, registry))):
            best, result = _best_time(repeat, lambda: fn(schema))
            row[impl] = {"seconds": best, "us_per_node": best / nodes * 1e6,
                         "output_nodes": count_nodes(result)}
            row[impl + "_result"] = result
        same = row.pop("ours_result") == row.pop("deepcopy_bfs_result")
        row["same_output"] = same
        rows.append(row)
    return {"sizes": rows}


# ----------------------------------------------------------------------------------
# Models: an LLM stream, an embeddings answer, TTS audio, speech-to-text upload memory
# ----------------------------------------------------------------------------------

MODEL_PLUGIN, MODEL_PROVIDER = "acme/echo", "echo"
CREDENTIALS = {"api_key": "bench"}


def _dify_model_stream(client, url, route, data, model):
    """Dify's PluginModelClient: the payload through jsonable_encoder-like dumping, then
    _request_with_plugin_daemon_response_stream (iter_lines + model_validate_json)."""
    return _dify_dispatch_stream(client, url, MODEL_PLUGIN, route, {"user_id": USER, "data": data},
                                 model)


def _model_data(model, model_type, **fields):
    return dict({"provider": MODEL_PROVIDER, "model_type": model_type, "model": model,
                 "credentials": CREDENTIALS}, **fields)


def case_llm_stream(args):
    """One streamed LLM answer of N small chunks, each parsed into a typed chunk."""
    url, impl = args.url, args.impl
    if impl == "ours":
        from dify_plugin_client import UserPromptMessage

        client = _ours(url)

        def run(model):
            return client.invoke_llm(TENANT, USER, MODEL_PLUGIN, MODEL_PROVIDER, model,
                                     CREDENTIALS, [UserPromptMessage(content="hello")])
    elif impl == "httpx_pydantic":
        from baseline_models import LLMResultChunk

        client = _httpx_client()

        def run(model):
            data = _model_data(model, "llm", prompt_messages=[{"role": "user",
                                                               "content": "hello"}],
                               model_parameters=None, tools=None, stop=None, stream=True)
            return _dify_model_stream(client, url, "llm/invoke", data, LLMResultChunk)
    else:
        raise SystemExit("unknown impl " + impl)
    for _ in run("llm_warm"):
        pass
    count, last, elapsed = _read_timed(lambda: run("llm"))
    if count != args.n or last.delta.usage is None:
        raise SystemExit("got %d chunks, expected %d with usage at the end" % (count, args.n))
    return {"chunks": count, "seconds": elapsed, "per_second": count / elapsed,
            "total_price": str(last.delta.usage.total_price),
            "price_type": type(last.delta.usage.total_price).__name__,
            "chunk_type": type(last).__module__ + "." + type(last).__name__}


def case_embeddings(args):
    """One text-embedding answer (1,000 x 1,536 floats), parsed into its typed result;
    the best of --reps calls on one client."""
    url, impl = args.url, args.impl

    def texts(model):  # one per vector of the recorded answer (ours checks the count)
        return ["text %d" % index for index in range(args.n if model == "embed" else 4)]

    if impl == "ours":
        client = _ours(url)

        def call(model):
            return client.invoke_text_embedding(TENANT, USER, MODEL_PLUGIN, MODEL_PROVIDER,
                                                model, CREDENTIALS, texts(model), "document")
    elif impl == "httpx_pydantic":
        from baseline_models import EmbeddingResult

        client = _httpx_client()

        def call(model):
            data = _model_data(model, "text-embedding", texts=texts(model),
                               input_type="document")
            for result in _dify_model_stream(client, url, "text_embedding/invoke", data,
                                             EmbeddingResult):
                return result
            raise ValueError("Failed to invoke text embedding")
    else:
        raise SystemExit("unknown impl " + impl)
    call("embed_warm")
    best, result = _best_time(args.reps, lambda: call("embed"))
    vectors = result.embeddings
    if len(vectors) != args.n or not all(type(value) is float for value in vectors[-1]):
        raise SystemExit("got %d vectors, expected %d of floats" % (len(vectors), args.n))
    return {"vectors": len(vectors), "dimensions": len(vectors[0]), "seconds": best,
            "vectors_per_second": len(vectors) / best, "first": vectors[0][0],
            "price_type": type(result.usage.total_price).__name__}


def case_tts(args):
    """TTS audio streamed as hex pieces, decoded; MB/s of audio."""
    import binascii

    url, impl = args.url, args.impl
    if impl == "ours":
        client = _ours(url)

        def run(model):
            return client.invoke_tts(TENANT, USER, MODEL_PLUGIN, MODEL_PROVIDER, model,
                                     CREDENTIALS, "hello", "alloy")
    elif impl == "httpx_pydantic":
        from baseline_models import PluginStringResultResponse

        client = _httpx_client()

        def run(model):  # Dify's invoke_tts: unhexlify each piece
            data = _model_data(model, "tts", tenant_id=TENANT, content_text="hello",
                               voice="alloy")
            for piece in _dify_model_stream(client, url, "tts/invoke", data,
                                            PluginStringResultResponse):
                yield binascii.unhexlify(piece.result)
    else:
        raise SystemExit("unknown impl " + impl)
    for _ in run("tts_warm"):
        pass

    def audio_bytes():
        total = 0
        for piece in run("tts"):
            total += len(piece)
        return total

    best, total = _best_time(args.reps, audio_bytes)
    if total != args.n:
        raise SystemExit("decoded %d bytes, expected %d" % (total, args.n))
    return {"bytes": total, "seconds": best, "mb_per_second": total / best / 1e6}


def case_stt(args):
    """Speech to text of a large audio file: peak memory growth of the client."""
    url, impl = args.url, args.impl
    size = os.path.getsize(args.pkg)
    if impl == "ours":
        client = _ours(url)
        client.invoke_speech_to_text(TENANT, USER, MODEL_PLUGIN, MODEL_PROVIDER, "stt",
                                     CREDENTIALS, b"RIFF")  # warm-up

        def send():
            return client.invoke_speech_to_text(TENANT, USER, MODEL_PLUGIN, MODEL_PROVIDER,
                                                "stt", CREDENTIALS, args.pkg)
    elif impl == "httpx_bytes":
        import binascii

        from baseline_models import PluginStringResultResponse

        client = _httpx_client()

        def dify(file):  # Dify's invoke_speech_to_text: hexlify(file.read()) into the JSON
            data = _model_data("stt", "speech2text", file=binascii.hexlify(file.read()).decode())
            for result in _dify_model_stream(client, url, "speech2text/invoke", data,
                                             PluginStringResultResponse):
                return result.result
            raise ValueError("Failed to invoke speech to text")

        import io

        dify(io.BytesIO(b"RIFF"))

        def send():
            with open(args.pkg, "rb") as handle:
                return dify(handle)
    else:
        raise SystemExit("unknown impl " + impl)
    answer, memory = _peak_memory(send, size)
    received = int(answer.split()[1])
    if received < 2 * size:
        raise SystemExit("the server received %d bytes for %d bytes of audio" % (received, size))
    return dict({"bytes": size, "received": received}, **memory)


CASES = {"calls": case_calls, "stream": case_stream, "blob": case_blob, "latency": case_latency,
         "upload": case_upload, "invoke_requests": case_invoke_requests, "refs": case_refs,
         "llm_stream": case_llm_stream, "embeddings": case_embeddings, "tts": case_tts,
         "stt": case_stt}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("--impl", default="ours")
    parser.add_argument("--url")
    parser.add_argument("--n", type=int, default=0)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--empty", action="store_true")
    parser.add_argument("--pkg")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
    result = CASES[args.case](args)
    result["case"] = args.case
    result["impl"] = args.impl
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
