"""Pre-rendered daemon responses for the replay server, made by the fake daemon itself.

Everything the replay server sends is what ``tests/fake_daemon/`` answers (its
Go-style JSON encoding, its envelope, its SSE framing: one HTTP chunk per event),
rendered once before the timed runs:

* ``list-<tenant>.json``: GET /management/list with one installed sample plugin
  (a full declaration with its tool provider: ~6.7 KB), and an empty page;
* ``tool.json``: GET /management/tool (the sample provider's declaration);
* ``small.sse``: N small tool messages (70 % text, 15 % json, 15 % variable);
* ``small_profile.sse``: the same, shorter, for the profiler;
* ``blob.sse``: blobs sent as 8 KiB ``blob_chunk`` pieces, as the plugin SDK does;
* ``warm.sse``: a short stream with every message kind of the two above (text, json,
  variable, one 64 KiB blob in chunks), which each stream case reads once before
  its timed run, so imports, lazily built parsers/validators (pydantic builds a
  generic model's validator on first use) and the connection are set up outside
  the timing for ours and the baselines alike;
* model answers, as the fake daemon's model routes encode them
  (``tests/fake_daemon/routes/models.py``: the daemon's re-marshalled chunks, Go decimal
  strings): ``llm.sse``, N small LLM chunks of one streamed answer (the last with usage
  and finish reason); ``embed.sse``, one text-embedding answer of 1,000 vectors of 1,536
  floats (8 decimals, as embedding APIs send them); ``tts.sse``, 20 MiB of audio in
  4 KiB pieces, hex-encoded as the daemon sends TTS audio; and their short ``*_warm.sse``.
"""

import io
import json
import os
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

import fake_daemon  # noqa: E402  (tests/fake_daemon/)

KEY = "bench-key"
TENANT = "6f1c2d3e-0000-4000-8000-000000000001"        # one plugin installed
EMPTY_TENANT = "6f1c2d3e-0000-4000-8000-000000000002"  # nothing installed
PROVIDER = "acme/echo/echo"
PROFILE_SMALL_COUNT = 40000  # the shorter stream the profiler runs


def sample_files():
    with zipfile.ZipFile(io.BytesIO(fake_daemon.sample_plugin())) as archive:
        return {name: archive.read(name) for name in archive.namelist() if not name.endswith("/")}


def _get(port, path):
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("GET", path, headers={"X-Api-Key": KEY})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    if response.status != 200:
        raise RuntimeError("fake daemon answered %d for %s" % (response.status, path))
    return body


def _frame(envelope):
    event = b"data: " + envelope + b"\n\n"
    return b"%x\r\n" % len(event) + event + b"\r\n"


def small_message(index):
    kind = index % 20
    if kind < 14:
        return {"type": "text", "message": {"text": "chunk %06d of the answer " % index},
                "meta": None}
    if kind < 17:
        return {"type": "json", "message": {"json_object": {"index": index, "ok": True,
                                                            "score": 0.5}}, "meta": None}
    return {"type": "variable", "message": {"variable_name": "answer",
                                            "variable_value": "tok%d " % index, "stream": True},
            "meta": None}


def render_small(count):
    parts = [_frame(fake_daemon._chunk_event(small_message(i))) for i in range(count)]
    parts.append(b"0\r\n\r\n")
    return b"".join(parts)


def render_blobs(blob_count, blob_size, seed=1):
    import random

    rng = random.Random(seed)
    parts = []
    total = 0
    for _ in range(blob_count):
        data = rng.randbytes(blob_size)
        total += len(data)
        for chunk in fake_daemon.blob_chunks(data, meta={"mime_type": "application/octet-stream"}):
            parts.append(_frame(fake_daemon._chunk_event(chunk)))
    parts.append(b"0\r\n\r\n")
    return b"".join(parts), total


def render_warm():
    parts = [_frame(fake_daemon._chunk_event(small_message(i))) for i in range(60)]
    blob, _ = render_blobs(1, 64 * 1024, seed=2)
    return b"".join(parts) + blob  # render_blobs ends the chunked body


LLM_COUNT = 100000
EMBED_VECTORS, EMBED_DIMENSIONS = 1000, 1536
TTS_BYTES, TTS_PIECE = 20 * 1024 * 1024, 4096


def _model_events(chunks, encode):
    return b"".join(_frame(encode(chunk)) for chunk in chunks) + b"0\r\n\r\n"


def llm_chunks(count):
    for index in range(count - 1):
        yield {"model": "bench-llm", "system_fingerprint": "fp-1",
               "delta": {"index": index, "message": {"role": "assistant",
                                                     "content": "tok%06d " % index}}}
    usage = {"prompt_tokens": 12, "prompt_unit_price": "0.001", "prompt_price_unit": "0.001",
             "prompt_price": "0.000012", "completion_tokens": count - 1,
             "completion_unit_price": "0.002", "completion_price_unit": "0.001",
             "completion_price": "0.2", "total_tokens": count + 11, "total_price": "0.200012",
             "currency": "USD", "latency": 1.5}
    yield {"model": "bench-llm", "system_fingerprint": "fp-1",
           "delta": {"index": count - 1, "message": {"role": "assistant", "content": ""},
                     "usage": usage, "finish_reason": "stop"}}


def embedding_answer(vectors, dimensions, seed=3):
    import random

    rng = random.Random(seed)
    return {"model": "bench-embed",
            "embeddings": [[round(rng.gauss(0.0, 0.03), 8) for _ in range(dimensions)]
                           for _ in range(vectors)],
            "usage": {"tokens": vectors * 8, "total_tokens": vectors * 8, "unit_price": "0.0001",
                      "price_unit": "0.001", "total_price": "0.0008", "currency": "USD",
                      "latency": 0.25}}


def tts_pieces(total, piece, seed=4):
    import random

    rng = random.Random(seed)
    audio = rng.randbytes(total)
    for start in range(0, total, piece):
        yield {"result": audio[start:start + piece].hex(), "mime_type": "audio/mpeg"}


def render_models(outdir, llm_count, embed_vectors, tts_bytes):
    from fake_daemon.routes.models import encode_llm_chunk, encode_model_chunk

    files = {
        "llm.sse": _model_events(llm_chunks(llm_count), encode_llm_chunk),
        "llm_warm.sse": _model_events(llm_chunks(50), encode_llm_chunk),
        "embed.sse": _model_events([embedding_answer(embed_vectors, EMBED_DIMENSIONS)],
                                   encode_model_chunk),
        "embed_warm.sse": _model_events([embedding_answer(4, 16)], encode_model_chunk),
        "tts.sse": _model_events(tts_pieces(tts_bytes, TTS_PIECE), encode_model_chunk),
        "tts_warm.sse": _model_events(tts_pieces(64 * 1024, TTS_PIECE), encode_model_chunk),
    }
    for name, data in files.items():
        with open(os.path.join(outdir, name), "wb") as handle:
            handle.write(data)
    return {"llm_count": llm_count, "embed_vectors": embed_vectors,
            "embed_dimensions": EMBED_DIMENSIONS, "embed_sse_bytes": len(files["embed.sse"]),
            "tts_bytes": tts_bytes, "tts_piece": TTS_PIECE,
            "tts_sse_bytes": len(files["tts.sse"]), "llm_sse_bytes": len(files["llm.sse"])}


def build(outdir, small_count, blob_count, blob_size, models=None):
    os.makedirs(outdir, exist_ok=True)
    with fake_daemon.FakeDaemon(key=KEY) as daemon:
        identifier = daemon.add_package(sample_files())
        daemon.install(TENANT, identifier)
        listing = _get(daemon.port, "/plugin/%s/management/list?page=1&page_size=256" % TENANT)
        empty = _get(daemon.port, "/plugin/%s/management/list?page=1&page_size=256"
                     % EMPTY_TENANT)
        tool = _get(daemon.port, "/plugin/%s/management/tool?plugin_id=acme/echo&provider=echo"
                    % TENANT)
    files = {"list-%s.json" % TENANT: listing, "list-%s.json" % EMPTY_TENANT: empty,
             "tool.json": tool, "small.sse": render_small(small_count),
             "small_profile.sse": render_small(PROFILE_SMALL_COUNT), "warm.sse": render_warm()}
    blob, blob_total = render_blobs(blob_count, blob_size)
    files["blob.sse"] = blob
    for name, data in files.items():
        with open(os.path.join(outdir, name), "wb") as handle:
            handle.write(data)
    meta = {"small_count": small_count, "blob_count": blob_count, "blob_size": blob_size,
            "blob_total": blob_total, "blob_events": blob_count * (-(-blob_size // 8192) + 1),
            "list_bytes": len(listing), "empty_list_bytes": len(empty),
            "small_sse_bytes": len(files["small.sse"]), "blob_sse_bytes": len(blob)}
    if models:
        meta.update(render_models(outdir, *models))
    with open(os.path.join(outdir, "meta.json"), "w") as handle:
        json.dump(meta, handle)
    return meta


if __name__ == "__main__":
    # fixtures.py DIR SMALL BLOBS BLOB_SIZE [LLM_CHUNKS EMBED_VECTORS TTS_BYTES]
    print(json.dumps(build(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]),
                           [int(value) for value in sys.argv[5:8]] or None)))
