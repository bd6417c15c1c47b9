"""The stream reader's own chunked-encoding decoder, against raw bytes from the fake.

The client decodes ``Transfer-Encoding: chunked`` itself for invoke streams (large
reads instead of http.client's chunk-by-chunk loop). These tests send hand-made
chunked bodies, whole or dribbled in small writes, and check the events, the errors
for broken framing, and that the connection is reused only after a clean end.
"""

import time

import pytest

import dify_plugin_client as dpc
from faultkit import install_sample, make_client, raw_response, read_request_body, write_raw

INVOKE = r"/dispatch/tool/invoke$"
HEAD = [("Content-Type", "text/event-stream"), ("Transfer-Encoding", "chunked")]


def _event(text):
    return (b'data: {"code":0,"message":"success","data":{"type":"text","message":'
            b'{"text":"%s"},"meta":null}}\n\n' % text.encode())


def _chunk(payload, size_text=None):
    return (size_text or b"%x" % len(payload)) + b"\r\n" + payload + b"\r\n"


def _serve(daemon, body, pieces=1, close=False, gap=0.002):
    """Answer the next invokes with ``body`` after the head, in ``pieces`` writes."""
    def handler(handler):
        read_request_body(handler)
        data = raw_response("HTTP/1.1 200 OK", HEAD) + body
        step = max(1, len(data) // pieces)
        handler.response_started = True
        for start in range(0, len(data), step):
            handler.wfile.write(data[start:start + step])
            handler.wfile.flush()
            if pieces > 1:
                time.sleep(gap)
        handler.close_connection = close
    daemon.add_override("POST", INVOKE, handler)


@pytest.fixture
def client(daemon, tenant):
    with make_client(daemon.url, daemon.key, timeout=3.0) as client:
        install_sample(client, daemon, tenant)
        yield client


def _texts(client, tenant):
    return [m.message.text for m in client.invoke(tenant, "u", "acme/echo/echo", "echo",
                                                  {"api_key": "x"}, {"text": "t"})]


def test_one_chunk_per_event_and_the_connection_is_reused(client, daemon, tenant):
    body = b"".join(_chunk(_event("m%d" % i)) for i in range(50)) + b"0\r\n\r\n"
    _serve(daemon, body)
    opened = client._transport.connections_opened
    for _ in range(3):
        assert _texts(client, tenant) == ["m%d" % i for i in range(50)]
    assert client._transport.connections_opened == opened  # every stream ended cleanly


@pytest.mark.parametrize("pieces", [7, 61, 400])
def test_dribbled_writes_split_sizes_payloads_and_crlfs(client, daemon, tenant, pieces):
    events = b"".join(_event("e%d" % i) for i in range(20))
    # chunk boundaries that do not match event boundaries, upper-case hex, extensions
    body = (_chunk(events[:5]) + _chunk(events[5:300], b"%X;name=value" % 295)
            + _chunk(events[300:], b"000%x" % (len(events) - 300))
            + b"0\r\nX-Trailer: yes\r\n\r\n")
    _serve(daemon, body, pieces=pieces)
    assert _texts(client, tenant) == ["e%d" % i for i in range(20)]
    assert _texts(client, tenant) == ["e%d" % i for i in range(20)]


@pytest.mark.parametrize("body,what", [
    (_chunk(_event("a")) + b"zz\r\n", "bad chunk size"),
    (_chunk(_event("a"))[:-2] + b"XX0\r\n\r\n", "no CRLF after a chunk"),
    (_chunk(_event("a")) + b"f" * 2000, "chunk size line is too long"),
    # what int(x, 16) would take but is no chunk size
    (_chunk(_event("a"), b"0x%x" % len(_event("a"))), "bad chunk size"),
    (_chunk(_event("a"), b"+%x" % len(_event("a"))), "bad chunk size"),
    (_chunk(_event("a"), b"0_%x" % len(_event("a"))), "bad chunk size"),
    (_chunk(_event("a"), b"0" * 17 + b"%x" % len(_event("a"))), "bad chunk size"),
])
def test_broken_framing_is_a_protocol_error(client, daemon, tenant, body, what):
    _serve(daemon, body, close=True)
    with pytest.raises(dpc.RemoteProtocolError, match=what):
        _texts(client, tenant)
    daemon.remove_overrides()
    assert len(_texts(client, tenant)) == 1  # the client is still usable


@pytest.mark.parametrize("cut", ["inside a chunk", "before the last chunk", "in the trailers"])
def test_a_connection_closed_mid_body_is_a_protocol_error(client, daemon, tenant, cut):
    whole = _chunk(_event("a")) + _chunk(_event("b"))
    body = {"inside a chunk": whole[:-10], "before the last chunk": whole,
            "in the trailers": whole + b"0\r\nX-Trailer: 1\r\n"}[cut]

    def handler(handler):
        read_request_body(handler)
        write_raw(handler, raw_response("HTTP/1.1 200 OK", HEAD) + body)
    daemon.add_override("POST", INVOKE, handler)
    with pytest.raises(dpc.RemoteProtocolError):
        _texts(client, tenant)
    daemon.remove_overrides()
    assert len(_texts(client, tenant)) == 1


def test_bytes_after_the_body_mean_the_connection_is_not_reused(client, daemon, tenant):
    _serve(daemon, _chunk(_event("a")) + b"0\r\n\r\nHTTP/1.1 200 OK\r\n")
    opened = client._transport.connections_opened
    assert _texts(client, tenant) == ["a"]
    daemon.remove_overrides()
    assert len(_texts(client, tenant)) == 1
    assert client._transport.connections_opened == opened + 1


def test_large_events_across_many_reads(client, daemon, tenant):
    big = "x" * 300000
    body = _chunk(_event(big)) + _chunk(_event("after")) + b"0\r\n\r\n"
    _serve(daemon, body, pieces=40, gap=0.0)
    assert _texts(client, tenant) == [big, "after"]
