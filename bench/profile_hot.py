"""Profile dify_plugin_client's hot paths; prints a Markdown report on stdout.

``python bench/profile_hot.py --url REPLAY_URL --fixtures DIR`` (run by bench/run.py
in the benchmark venv).  Two kinds of evidence per path:

* a cost breakdown: each layer timed on its own, without a profiler, in microseconds
  per call / per event (so the layers' costs add up to the end-to-end figure);
* cProfile of the end-to-end run: the functions with the most own time.

Paths: the per-call transport + envelope + entity parse (list_plugins_with_total),
the SSE stream (http.client chunked reads, _SSEParser, _event_message,
ToolInvokeMessage.from_dict), blob chunks (base64, merge), import time, and $ref
resolution at 100k nodes with and without the cyclic GC.
"""

import argparse
import base64
import binascii
import cProfile
import gc
import io
import json
import os
import pstats
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import dify_plugin_client as dpc  # noqa: E402
from fixtures import EMPTY_TENANT, KEY, PROFILE_SMALL_COUNT, PROVIDER, TENANT  # noqa: E402

OUT = []


def emit(text=""):
    OUT.append(text)


def per_call(fn, n, repeat=3):
    best = None
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = (time.perf_counter() - start) / n
        best = elapsed if best is None else min(best, elapsed)
    return best * 1e6


LAYERS = (("dify_plugin_client", "dify_plugin_client.py"),
          ("http.client", "/http/client.py"), ("email (http.client's header parser)", "/email/"),
          ("urllib.parse", "/urllib/parse.py"), ("json", "/json/"),
          ("socket (Python part)", "/socket.py"))


def layer_of(filename, name):
    for label, needle in LAYERS:
        if needle in filename:
            return label
    if filename == "~":
        if "socket" in name or "recv" in name or "send" in name:
            return "socket syscalls"
        if "json" in name or "scanner" in name:
            return "json"
        return "builtins"
    return "other Python"


def top_functions(profile, limit=14, total_label="calls"):
    stats = pstats.Stats(profile)
    rows = []
    layers = {}
    for (filename, line, name), (cc, nc, tt, ct, callers) in stats.stats.items():
        rows.append((tt, ct, nc, filename, line, name))
        label = layer_of(filename, name)
        layers[label] = layers.get(label, 0.0) + tt
    rows.sort(reverse=True)
    total = sum(row[0] for row in rows)
    emit("Own time by layer: " + ", ".join(
        "%s %.0f %%" % (label, 100.0 * value / total)
        for label, value in sorted(layers.items(), key=lambda item: -item[1])) + ".")
    emit("")
    emit("| own time | share | cumulative | calls | function |")
    emit("|---:|---:|---:|---:|---|")
    for tt, ct, nc, filename, line, name in rows[:limit]:
        where = os.path.basename(filename) if filename != "~" else ""
        label = "%s:%d %s" % (where, line, name) if where else name
        emit("| %.0f ms | %.0f %% | %.0f ms | %d | `%s` |"
             % (tt * 1e3, 100.0 * tt / total if total else 0, ct * 1e3, nc, label))
    emit("")
    emit("(cProfile total %.0f ms; cProfile inflates Python-level calls, so read shares, "
         "not absolute times)" % (total * 1e3))
    emit("")


def profile_calls(url):
    import http.client
    from urllib.parse import urlsplit

    emit("### Per call: `list_plugins_with_total` (one plugin, 6.7 KB page)")
    emit("")
    client = dpc.DifyPluginClient(dpc.PluginConfig(url=url, key=KEY))
    path = "/plugin/%s/management/list" % TENANT
    query = {"page": 1, "page_size": 256}
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port)
    target = path + "?page=1&page_size=256"

    def raw():
        conn.request("GET", target, headers={"X-Api-Key": KEY})
        return conn.getresponse().read()

    body = raw()
    response = client._transport.request("GET", path, query=query)
    data = json.loads(body)["data"]
    empty_path = "/plugin/%s/management/list" % EMPTY_TENANT
    for _ in range(200):
        client.list_plugins_with_total(TENANT)
        raw()
    n = 400
    rows = [
        ("raw http.client keep-alive round trip, body read (transport floor)", per_call(raw, n)),
        ("ours: `_Transport.request` (6.7 KB body)",
         per_call(lambda: client._transport.request("GET", path, query=query), n)),
        ("ours: `_Transport.request` (59 B body)",
         per_call(lambda: client._transport.request("GET", empty_path, query=query), n)),
        ("`json.loads` of the 6.7 KB body", per_call(lambda: json.loads(body), n)),
        ("ours: `_decode_envelope` (json.loads + checks)",
         per_call(lambda: dpc._decode_envelope(response, "GET x"), n)),
        ("ours: `PluginListResponse.from_dict(data)`",
         per_call(lambda: dpc.PluginListResponse.from_dict(data, "data"), n)),
        ("ours: `list_plugins_with_total` end to end",
         per_call(lambda: client.list_plugins_with_total(TENANT), n)),
    ]
    try:
        from baseline_models import PluginDaemonBasicResponse, PluginListResponse

        envelope = json.loads(body)
        rows.append(("baseline: pydantic `model_validate` of the same envelope",
                     per_call(lambda: PluginDaemonBasicResponse[PluginListResponse]
                              .model_validate(envelope), n)))
    except ImportError:
        pass
    emit("| layer | µs per call |")
    emit("|---|---:|")
    for label, value in rows:
        emit("| %s | %.0f |" % (label, value))
    emit("")
    emit("Entity count in that page: %d `from_dict` calls per page." % count_from_dict(data))
    emit("")
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(500):
        client.list_plugins_with_total(TENANT)
    profile.disable()
    emit("cProfile, 500 calls:")
    emit("")
    top_functions(profile)
    for _ in range(200):
        client.list_plugins_with_total(EMPTY_TENANT)
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(1000):
        client.list_plugins_with_total(EMPTY_TENANT)
    profile.disable()
    emit("cProfile, 1000 calls on the empty page (transport and envelope only; "
         "`http/client.py`, `email/*` and `urllib/parse.py` are the stdlib HTTP layer):")
    emit("")
    top_functions(profile, limit=16)


def count_from_dict(data):
    """How many from_dict calls parsing one page makes (each entity class has its own)."""
    profile = cProfile.Profile()
    profile.enable()
    dpc.PluginListResponse.from_dict(data, "data")
    profile.disable()
    stats = pstats.Stats(profile).stats
    return sum(calls for (_, _, name), (calls, *_rest) in stats.items() if name == "from_dict")


def dechunk(raw):
    """The event-stream payload of a chunked body, and its HTTP chunks."""
    stream = io.BytesIO(raw)
    chunks = []
    while True:
        size = int(stream.readline().strip(), 16)
        if size == 0:
            break
        chunks.append(stream.read(size))
        stream.read(2)
    return b"".join(chunks), chunks


def profile_stream(url, fixtures):
    emit("### Stream: %d small tool messages (70 %% text, 15 %% json, 15 %% variable)"
         % PROFILE_SMALL_COUNT)
    emit("")
    with open(os.path.join(fixtures, "small_profile.sse"), "rb") as handle:
        payload, chunks = dechunk(handle.read())
    count = len(chunks)
    events = [chunk[6:-2].decode() for chunk in chunks]
    route = "POST x"

    def parse_blocks(blocks):
        parser = dpc._SSEParser()
        total = 0
        for block in blocks:
            total += len(parser.feed(block))
        return total

    block = dpc._READ_BLOCK
    big_blocks = [payload[i:i + block] for i in range(0, len(payload), block)]
    client = dpc.DifyPluginClient(dpc.PluginConfig(url=url, key=KEY))

    def full():
        n = 0
        for _ in client.invoke(TENANT, "u", PROVIDER, "small_profile", cast_parameters=False):
            n += 1
        return n

    def http_reads():
        response = client._transport.request(
            "POST", "/plugin/%s/dispatch/tool/invoke" % TENANT,
            headers={"X-Plugin-ID": "acme/echo", "Content-Type": "application/json"},
            body=json.dumps({"data": {"tool": "small_profile"}}).encode(), stream=True)
        reads = 0
        for _ in response.iter_raw(60):
            reads += 1
        response.close()
        return reads

    def timed(fn, repeat=3):
        best = None
        for _ in range(repeat):
            gc.collect()
            start = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - start
            best = elapsed if best is None else min(best, elapsed)
        return best / count * 1e6

    read = dpc._event_reader(dpc.ToolInvokeMessage)
    messages = [read(text, route) for text in events[:3]]
    assert all(isinstance(m, dpc.ToolInvokeMessage) for m in messages)
    reads = http_reads()
    datas = [json.loads(text)["data"] for text in events]
    rows = [
        ("http.client chunked `read1` loop (`_StreamResponse.iter_raw`): %d reads for %d "
         "events" % (reads, count), timed(http_reads)),
        ("`_SSEParser.feed`, one HTTP chunk (= one event) per call, as iter_raw delivers",
         timed(lambda: parse_blocks(chunks))),
        ("`_SSEParser.feed`, %d KiB blocks (as the chunked reader yields them)" % (block // 1024),
         timed(lambda: parse_blocks(big_blocks))),
        ("`json.loads` of the event", per_call_list(json.loads, events)),
        ("`_event_reader` (JSON scan + envelope checks + from_dict)",
         per_call_list(lambda t: read(t, route), events)),
        ("`ToolInvokeMessage.from_dict` alone",
         per_call_list(lambda d: dpc.ToolInvokeMessage.from_dict(d, "data"), datas)),
        ("ours: `invoke()` end to end over loopback", timed(full)),
    ]
    emit("| layer | µs per event |")
    emit("|---|---:|")
    for label, value in rows:
        emit("| %s | %.2f |" % (label, value))
    emit("")
    profile = cProfile.Profile()
    profile.enable()
    full()
    profile.disable()
    emit("cProfile, one %d-message invoke:" % count)
    emit("")
    top_functions(profile)


def profile_blob(url, fixtures):
    emit("### Blob stream: 8 KiB `blob_chunk` events, merged")
    emit("")
    with open(os.path.join(fixtures, "blob.sse"), "rb") as handle:
        _, chunks = dechunk(handle.read())
    events = [chunk[6:-2].decode() for chunk in chunks]
    sample = [json.loads(t)["data"]["message"]["blob"] for t in events[:2000] if
              json.loads(t)["data"]["message"]["blob"]]
    count = len(sample)
    raws = [json.loads(t)["data"] for t in events[:2000]]
    rows = [
        ("`json.loads` of one ~11 KB event", per_call_list(json.loads, events[:2000])),
        ("`base64.b64decode(validate=True)` (what `_decode_base64` does)",
         per_call_list(lambda s: base64.b64decode(s, validate=True), sample)),
        ("`binascii.a2b_base64(strict_mode=True)` (3.11+)",
         per_call_list(lambda s: binascii.a2b_base64(s, strict_mode=True), sample)
         if sys.version_info >= (3, 11) else float("nan")),
        ("`base64.b64decode` (not validated)", per_call_list(base64.b64decode, sample)),
        ("`ToolInvokeMessage.from_dict` of a chunk (incl. base64)",
         per_call_list(lambda d: dpc.ToolInvokeMessage.from_dict(d, "data"), raws)),
    ]
    emit("| layer | µs per 8 KiB chunk |")
    emit("|---|---:|")
    for label, value in rows:
        emit("| %s | %.1f |" % (label, value))
    emit("")
    emit("(%d chunks sampled)" % count)
    emit("")
    client = dpc.DifyPluginClient(dpc.PluginConfig(url=url, key=KEY))
    profile = cProfile.Profile()
    profile.enable()
    for _ in client.invoke(TENANT, "u", PROVIDER, "blob", cast_parameters=False):
        pass
    profile.disable()
    emit("cProfile, the whole blob stream (%d events):" % len(events))
    emit("")
    top_functions(profile, limit=10)


def per_call_list(fn, items, repeat=3):
    best = None
    for _ in range(repeat):
        start = time.perf_counter()
        for item in items:
            fn(item)
        elapsed = (time.perf_counter() - start) / len(items)
        best = elapsed if best is None else min(best, elapsed)
    return best * 1e6


IMPORT_PROBE = r"""
import sys, time
clock = time.perf_counter
t0 = clock()
import base64, enum, json, os, re, threading
t1 = clock()
import dataclasses
t2 = clock()
spent = {"dataclass": 0.0, "re.compile": 0.0, "classes": 0, "patterns": 0}
original_dataclass, original_compile = dataclasses.dataclass, re.compile

def timed_dataclass(cls=None, **kwargs):
    if cls is None:
        return lambda c: timed_dataclass(c, **kwargs)
    start = clock()
    result = original_dataclass(cls, **kwargs)
    spent["dataclass"] += clock() - start
    spent["classes"] += 1
    return result

def timed_compile(*args, **kwargs):
    start = clock()
    result = original_compile(*args, **kwargs)
    spent["re.compile"] += clock() - start
    spent["patterns"] += 1
    return result

dataclasses.dataclass, re.compile = timed_dataclass, timed_compile
import dify_plugin_client
t3 = clock()
dataclasses.dataclass, re.compile = original_dataclass, original_compile
import io
out = io.StringIO()
start = clock()
dify_plugin_client.main(["--help"], stdout=out, stderr=out)
t4 = clock()
print(json.dumps({"stdlib": t1 - t0, "dataclasses": t2 - t1, "body": t3 - t2,
                  "dataclass": spent["dataclass"], "classes": spent["classes"],
                  "re_compile": spent["re.compile"], "patterns": spent["patterns"],
                  "help": t4 - start}))
"""


def profile_import():
    emit("### Import and `--help`: where the time goes")
    emit("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    runs = []
    for _ in range(9):
        result = subprocess.run([sys.executable, "-c", IMPORT_PROBE], capture_output=True,
                                text=True, env=env, cwd="/")
        if result.returncode != 0:
            emit("(import probe failed: %s)" % result.stderr.strip().splitlines()[-1])
            emit("")
            return
        runs.append(json.loads(result.stdout.strip().splitlines()[-1]))

    def med(key):
        values = sorted(run[key] for run in runs)
        return values[len(values) // 2] * 1e3

    last = runs[-1]
    body = med("body")
    emit("Median of 9 fresh interpreters, each piece timed in-process (ms):")
    emit("")
    emit("| piece | ms |")
    emit("|---|---:|")
    emit("| stdlib modules the module needs at import (`base64`, `enum`, `json`, `os`, `re`, "
         "`threading`) | %.1f |" % med("stdlib"))
    emit("| `import dataclasses` (pulls in `inspect`, `ast`, `dis`, ...) | %.1f |"
         % med("dataclasses"))
    emit("| the module body | %.1f |" % body)
    emit("| · of which `@dataclasses.dataclass` on %d classes | %.1f |"
         % (last["classes"], med("dataclass")))
    emit("| · of which %d module-level `re.compile` | %.1f |"
         % (last["patterns"], med("re_compile")))
    emit("| · the rest (class bodies, enums, constants) | %.1f |"
         % (body - med("dataclass") - med("re_compile")))
    emit("| `main(['--help'])` after the import (argparse import, parser build, help text) "
         "| %.1f |" % med("help"))
    emit("")


def profile_refs():
    from cases import count_nodes, make_schema

    emit("### `$ref` resolution, with and without the cyclic GC")
    emit("")
    emit("| nodes | µs/node, GC on | µs/node, GC off |")
    emit("|---:|---:|---:|")
    for defs in (40, 400, 4000):
        schema = make_schema(defs)
        nodes = count_nodes(schema)
        cells = []
        for enabled in (True, False):
            best = None
            for _ in range(3):
                gc.collect()
                if not enabled:
                    gc.disable()
                start = time.perf_counter()
                dpc._resolve_refs(schema)
                elapsed = time.perf_counter() - start
                gc.enable()
                best = elapsed if best is None else min(best, elapsed)
            cells.append(best / nodes * 1e6)
        emit("| %d | %.2f | %.2f |" % (nodes, cells[0], cells[1]))
    emit("")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--fixtures", required=True)
    args = parser.parse_args()
    profile_calls(args.url)
    profile_stream(args.url, args.fixtures)
    profile_blob(args.url, args.fixtures)
    profile_import()
    profile_refs()
    sys.stdout.write("\n".join(OUT) + "\n")


if __name__ == "__main__":
    main()
