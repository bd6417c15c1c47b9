"""Pre-rendered daemon responses for the replay server, made by the fake daemon itself.

Everything the replay server sends is what ``tests/fake_daemon.py`` answers (its
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
  the timing for ours and the baselines alike.
"""

import io
import json
import os
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

import fake_daemon  # noqa: E402  (tests/fake_daemon.py)

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


def build(outdir, small_count, blob_count, blob_size):
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
    with open(os.path.join(outdir, "meta.json"), "w") as handle:
        json.dump(meta, handle)
    return meta


if __name__ == "__main__":
    print(json.dumps(build(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))))
