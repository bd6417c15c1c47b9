"""The connection pool through a process's life: os.fork(), an exception raised at a bad
moment, a stream on a connection the server closes, and IPv6 literal hosts."""

import json
import os
import time

import pytest

import dify_plugin_client as dpc
from faultkit import make_client, raw_response, read_request_body

LLM = r"/dispatch/llm/invoke$"
TENANT = "6f1c2d3e-0000-4000-8000-0000000000aa"


def _echo_path(daemon):
    """GET /echo/...: answers the path it was asked for (so an answer shows its request)."""
    def echo(handler):
        handler.send_json(200, {"code": 0, "message": "", "data": handler.path})
    daemon.add_override("GET", r"^/echo/", echo)


def _asked(transport, path):
    return json.loads(transport.request("GET", path).content)["data"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork() exists on POSIX only")
def test_a_forked_child_never_shares_the_parents_connections(daemon):
    """Both processes on one inherited socket would read each other's answers."""
    _echo_path(daemon)
    client = make_client(daemon.url, daemon.key, timeout=10.0)
    transport = client._transport
    assert _asked(transport, "/echo/warm") == "/echo/warm"  # one idle connection now
    opened = transport.connections_opened
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # the child: report its wrong answers through the pipe, then leave
        wrong = -1
        try:
            wrong = sum(_asked(transport, "/echo/child/%d" % i) != "/echo/child/%d" % i
                        for i in range(100))
            wrong += 1000 * (transport.connections_opened == opened)  # it must open its own
        finally:
            os.write(writer, str(wrong).encode())
            os._exit(0)
    os.close(writer)
    wrong_here = sum(_asked(transport, "/echo/parent/%d" % i) != "/echo/parent/%d" % i
                     for i in range(100))
    os.waitpid(child, 0)
    wrong_there = int(os.read(reader, 64) or b"-1")
    os.close(reader)
    assert (wrong_here, wrong_there) == (0, 0)
    assert transport.connections_opened == opened  # the parent kept its connection
    client.close()


def test_an_exception_while_a_stream_starts_frees_its_slot(daemon, monkeypatch):
    """An exception (a signal handler's KeyboardInterrupt, say) raised while the stream
    object is being made must not keep its connection slot: with one slot, the next
    call would wait for it forever."""
    _echo_path(daemon)
    client = make_client(daemon.url, daemon.key, timeout=dpc.Timeout(5.0, pool=0.5),
                         max_connections=1)
    real = dpc._header_dict
    calls = []

    def interrupted(response):
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return real(response)
    monkeypatch.setattr(dpc, "_header_dict", interrupted)
    with pytest.raises(KeyboardInterrupt):
        client._transport.request("GET", "/echo/a", stream=True)
    monkeypatch.setattr(dpc, "_header_dict", real)
    assert _asked(client._transport, "/echo/b") == "/echo/b"  # the slot is free again


def _llm_event(text):
    chunk = {"model": "m", "prompt_messages": [], "system_fingerprint": None,
             "delta": {"index": 0, "message": {"role": "assistant", "content": text}}}
    return b"data: " + json.dumps({"code": 0, "message": "", "data": chunk}).encode() + b"\n\n"


def _serve_until_close(daemon, gap):
    """LLM streams that end when the server closes the connection (no chunked framing,
    as some proxies send them): one event at once, another after ``gap`` seconds."""
    def handler(handler):
        read_request_body(handler)
        handler.response_started = True
        handler.wfile.write(raw_response("HTTP/1.1 200 OK", [
            ("Content-Type", "text/event-stream"), ("Connection", "close")]) + _llm_event("a"))
        handler.wfile.flush()
        time.sleep(gap)
        try:
            handler.wfile.write(_llm_event("b"))
            handler.wfile.flush()
        except OSError:
            pass  # the client gave up first (the timeout test)
        handler.close_connection = True
    daemon.add_override("POST", LLM, handler)


def _llm(client, **options):
    return [chunk.delta.message.content for chunk in client.invoke_llm(
        TENANT, "u", "acme/m", "m", "m", {}, [{"role": "user", "content": "x"}], **options)]


def test_stream_timeouts_hold_on_a_connection_the_server_closes(daemon):
    """After the first chunk, the stream timeout bounds each wait, not the first-token
    one; on a Connection: close answer too (it used to keep the first read's bound)."""
    _serve_until_close(daemon, gap=1.5)
    client = make_client(daemon.url, daemon.key, stream_timeout=10.0)
    assert _llm(client, first_token_timeout=0.5) == ["a", "b"]  # 1.5 s after the first: fine
    hasty = make_client(daemon.url, daemon.key, stream_timeout=0.5)
    with pytest.raises(dpc.ReadTimeout):
        _llm(hasty, first_token_timeout=5.0)


def test_an_ipv6_literal_host_is_written_in_brackets():
    """In the origin (errors, Response.url, redirects): http://::1:5002 is no URL."""
    transport = dpc._Transport(dpc.PluginConfig(url="http://[::1]:5002", key="k" * 20))
    assert transport.origin == "http://[::1]:5002"
    client = dpc.DifyPluginClient(dpc.PluginConfig(url="http://[::1]:1", key="k" * 20,
                                                   timeout=2.0))
    with pytest.raises(dpc.ConnectError) as caught:
        client.list_plugins(TENANT)
    assert "http://[::1]:1" in str(caught.value)
