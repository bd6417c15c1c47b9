"""Fault injection: the client against a fake daemon that misbehaves.

Every test asserts the exact error class, then that the same client object keeps
working (a plain GET, a POST and, where a plugin is installed, an invoke stream).
"""

import threading
import time

import pytest

import dify_plugin_client as dpc
from fake_daemon import FakeDaemon
from faultkit import (FAST, Gate, abort, assert_usable, count, free_port, install_sample,
                      make_client, ok_envelope, raw_response, read_request_body, write_raw)

LIST = r"/management/list$"
DELETE_ALL = r"/install/tasks/delete_all$"
INVOKE = r"/dispatch/tool/invoke$"
UPLOAD = r"/install/upload/package$"


@pytest.fixture
def installed(client, daemon, tenant):
    """The sample plugin installed for ``tenant``."""
    return install_sample(client, daemon, tenant)


def _invoke(client, tenant, **kwargs):
    return client.invoke(tenant, "user-1", "acme/echo/echo", "echo", {"api_key": "x"},
                         {"text": "hi"}, **kwargs)


# --- connection level ---------------------------------------------------------


def test_connection_refused_then_the_daemon_comes_up(tenant):
    port = free_port()
    client = make_client("http://127.0.0.1:%d" % port, "test-key", retries=1)
    with pytest.raises(dpc.ConnectError) as info:
        client.list_plugins_with_total(tenant)
    assert type(info.value) is dpc.ConnectError
    assert "is the daemon running" in info.value.hint
    with pytest.raises(dpc.ConnectError):
        client.delete_all_plugin_installation_task_items(tenant)
    # The same client object works once something listens there.
    daemon = FakeDaemon(port=port).start()
    try:
        assert_usable(client, daemon, tenant)
    finally:
        client.close()
        daemon.stop()


def test_reset_before_a_response_get_is_retried_then_fails(client, daemon, tenant):
    daemon.add_override("GET", LIST, abort)
    with pytest.raises(dpc.RemoteProtocolError) as info:
        client.list_plugins_with_total(tenant)
    assert type(info.value) is dpc.RemoteProtocolError
    assert count(daemon, "GET", "/list") == 1 + client.config.retries
    assert_usable(client, daemon, tenant)


def test_reset_before_a_response_post_is_never_retried(client, daemon, tenant):
    daemon.add_override("POST", DELETE_ALL, abort)
    with pytest.raises(dpc.RemoteProtocolError) as info:
        client.delete_all_plugin_installation_task_items(tenant)
    assert type(info.value) is dpc.RemoteProtocolError
    assert count(daemon, "POST", "/delete_all") == 1
    assert_usable(client, daemon, tenant)


def test_get_retry_hides_a_single_reset(client, daemon, tenant):
    hits = []

    def flaky(handler):
        hits.append(1)
        if len(hits) == 1:
            abort(handler)
        else:
            handler.send_body(200, ok_envelope({"list": [], "total": 0}))

    daemon.add_override("GET", LIST, flaky)
    assert client.list_plugins_with_total(tenant).total == 0
    assert count(daemon, "GET", "/list") == 2
    assert_usable(client, daemon, tenant)


def test_reset_during_a_response(client, daemon, tenant):
    def half_then_reset(handler):
        handler.wfile.write(raw_response("HTTP/1.1 200 OK", [
            ("Content-Type", "application/json"), ("Content-Length", "5000")],
            b'{"code":0,"message":"success","data":{"list":['))
        time.sleep(0.05)
        abort(handler)

    daemon.add_override("GET", LIST, half_then_reset)
    with pytest.raises(dpc.RemoteProtocolError) as info:
        client.list_plugins_with_total(tenant)
    assert type(info.value) is dpc.RemoteProtocolError
    assert_usable(client, daemon, tenant)


def test_reset_during_a_stream(client, daemon, tenant, installed):
    def one_event_then_reset(handler):
        read_request_body(handler)
        handler.start_stream()
        handler.send_event(ok_envelope({"type": "text", "message": {"text": "first"},
                                        "meta": None}))
        time.sleep(0.05)
        abort(handler)

    daemon.add_override("POST", INVOKE, one_event_then_reset)
    received = []
    with pytest.raises(dpc.RemoteProtocolError) as info:
        for message in _invoke(client, tenant):
            received.append(message.message.text)
    assert type(info.value) is dpc.RemoteProtocolError
    assert received == ["first"]  # what came before the break was delivered
    assert count(daemon, "POST", "/tool/invoke") == 1  # never retried
    assert_usable(client, daemon, tenant, installed=1)


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("how", ["fin", "rst"])
def test_idle_keep_alive_connection_closed_by_the_server_is_replaced(daemon, tenant, method, how):
    """The server closes a pooled connection between two calls: no error, no retry."""
    client = make_client(daemon.url, daemon.key, retries=0)  # so a retry cannot hide it
    path, call = ((LIST, lambda: client.list_plugins_with_total(tenant)) if method == "GET" else
                  (DELETE_ALL, lambda: client.delete_all_plugin_installation_task_items(tenant)))
    data = {"list": [], "total": 0} if method == "GET" else True

    def answer_then_close(handler):
        read_request_body(handler)
        handler.send_body(200, ok_envelope(data))  # a keep-alive answer...
        if how == "rst":
            abort(handler)  # ...then the socket is reset
        else:
            handler.close_connection = True  # ...then closed (FIN)

    daemon.add_override(method, path, answer_then_close)
    try:
        call()
        opened = daemon.connections_opened
        time.sleep(0.2)  # the close reaches the client while the connection is idle
        for _ in range(3):
            call()
            time.sleep(0.1)
        assert daemon.connections_opened == opened + 3  # each call on a fresh connection
        assert count(daemon, method, path.strip("$").rsplit("/", 1)[-1]) == 4  # no retries
        assert_usable(client, daemon, tenant)
    finally:
        client.close()


# --- bodies -------------------------------------------------------------------


def test_body_shorter_than_its_content_length(client, daemon, tenant):
    body = b'{"code":0,"message":"success","data":{"list":[],"total":0}}'
    daemon.add_override("GET", LIST, lambda h: write_raw(h, raw_response("HTTP/1.1 200 OK", [
        ("Content-Type", "application/json"), ("Content-Length", str(len(body) + 100))], body)))
    with pytest.raises(dpc.RemoteProtocolError) as info:
        client.list_plugins_with_total(tenant)
    assert type(info.value) is dpc.RemoteProtocolError
    assert "cut off" in str(info.value)
    assert_usable(client, daemon, tenant)


def test_cut_json_with_a_matching_content_length(client, daemon, tenant):
    daemon.add_override("GET", LIST, lambda h: h.send_body(200, b'{"code":0,"message":"succ'))
    with pytest.raises(dpc.InvalidResponseError) as info:
        client.list_plugins_with_total(tenant)
    assert type(info.value) is dpc.InvalidResponseError
    assert_usable(client, daemon, tenant)


def test_chunked_body_cut_before_its_last_chunk(client, daemon, tenant):
    daemon.add_override("GET", LIST, lambda h: write_raw(h, raw_response("HTTP/1.1 200 OK", [
        ("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")],
        b'10\r\n{"code":0,"messa\r\n')))
    with pytest.raises(dpc.RemoteProtocolError) as info:
        client.list_plugins_with_total(tenant)
    assert type(info.value) is dpc.RemoteProtocolError
    assert_usable(client, daemon, tenant)


def test_stream_cut_in_the_middle_of_an_event(client, daemon, tenant, installed):
    def cut(handler):
        read_request_body(handler)
        handler.start_stream()
        handler.send_event(ok_envelope({"type": "text", "message": {"text": "a"}, "meta": None}))
        handler.send_chunk(b'data: {"code":0,"message":"success","data":{"type":"te')
        handler.close_connection = True  # no terminating chunk: the connection just ends

    daemon.add_override("POST", INVOKE, cut)
    received = []
    with pytest.raises(dpc.RemoteProtocolError) as info:
        for message in _invoke(client, tenant):
            received.append(message.message.text)
    assert type(info.value) is dpc.RemoteProtocolError
    assert received == ["a"]
    assert_usable(client, daemon, tenant, installed=1)


def test_stream_answered_with_connection_close(client, daemon, tenant, installed):
    """A proxy (or the daemon) may end a stream by closing the connection: a clean end."""
    def close_delimited(handler):
        read_request_body(handler)
        write_raw(handler, raw_response("HTTP/1.1 200 OK", [
            ("Content-Type", "text/event-stream"), ("Connection", "close")],
            b'data: {"code":0,"message":"success","data":{"type":"text","message":{"text":"a"},'
            b'"meta":null}}\n\n'))

    daemon.add_override("POST", INVOKE, close_delimited)
    assert [m.message.text for m in _invoke(client, tenant)] == ["a"]
    assert_usable(client, daemon, tenant, installed=1)


def test_eof_delimited_stream_ending_inside_an_event(client, daemon, tenant, installed):
    """No chunking, Connection: close: EOF is a clean end, but the last event is unfinished."""
    def cut(handler):
        read_request_body(handler)
        write_raw(handler, raw_response("HTTP/1.1 200 OK", [
            ("Content-Type", "text/event-stream"), ("Connection", "close")],
            b'data: {"code":0,"message":"success","data":{"type":"text","message":{"text":"a"},'
            b'"meta":null}}\n\ndata: {"code":0,"message":"succ'))

    daemon.add_override("POST", INVOKE, cut)
    with pytest.raises(dpc.RemoteProtocolError) as info:
        list(_invoke(client, tenant))
    assert type(info.value) is dpc.RemoteProtocolError
    assert "middle of an event" in str(info.value)
    assert_usable(client, daemon, tenant, installed=1)


# --- time ---------------------------------------------------------------------


def _drip(handler, data, gap):
    for index in range(len(data)):
        time.sleep(gap)
        try:
            handler.wfile.write(data[index:index + 1])
        except OSError:
            break
    handler.close_connection = True


def test_headers_dripping_slower_than_the_read_timeout(daemon, tenant):
    client = make_client(daemon.url, daemon.key, timeout=FAST)
    body = ok_envelope({"list": [], "total": 0})
    response = raw_response("HTTP/1.1 200 OK", [("Content-Type", "application/json"),
                                                ("Content-Length", str(len(body)))], body)
    daemon.add_override("GET", LIST, lambda h: _drip(h, response[:30], FAST.read * 2))
    started = time.monotonic()
    with pytest.raises(dpc.ReadTimeout) as info:
        client.list_plugins_with_total(tenant)
    assert type(info.value) is dpc.ReadTimeout
    assert time.monotonic() - started < 3
    assert count(daemon, "GET", "/list") == 1  # a timeout is not retried
    assert_usable(client, daemon, tenant)


def test_body_dripping_slower_than_the_read_timeout(daemon, tenant):
    client = make_client(daemon.url, daemon.key, timeout=FAST)
    body = ok_envelope({"list": [], "total": 0})

    def drip(handler):
        handler.wfile.write(raw_response("HTTP/1.1 200 OK", [
            ("Content-Type", "application/json"), ("Content-Length", str(len(body)))]))
        _drip(handler, body[:20], FAST.read * 2)

    daemon.add_override("GET", LIST, drip)
    with pytest.raises(dpc.ReadTimeout) as info:
        client.list_plugins_with_total(tenant)
    assert type(info.value) is dpc.ReadTimeout
    assert_usable(client, daemon, tenant)


def test_server_that_never_answers(daemon, tenant):
    client = make_client(daemon.url, daemon.key, timeout=FAST)
    gate = Gate()
    daemon.add_override("GET", LIST, lambda h: gate.wait())
    started = time.monotonic()
    try:
        with pytest.raises(dpc.ReadTimeout) as info:
            client.list_plugins_with_total(tenant)
    finally:
        gate.release()
    assert type(info.value) is dpc.ReadTimeout
    assert time.monotonic() - started < 3
    assert count(daemon, "GET", "/list") == 1
    assert_usable(client, daemon, tenant)


def test_stream_silent_longer_than_the_stream_timeout(daemon, tenant):
    client = make_client(daemon.url, daemon.key, timeout=FAST, stream_timeout=0.3)
    install_sample(client, daemon, tenant)
    gate = Gate()

    def silent(handler):
        read_request_body(handler)
        handler.start_stream()
        handler.send_event(ok_envelope({"type": "text", "message": {"text": "a"}, "meta": None}))
        gate.wait()

    daemon.add_override("POST", INVOKE, silent)
    try:
        with pytest.raises(dpc.ReadTimeout) as info:
            list(_invoke(client, tenant))
    finally:
        gate.release()
    assert type(info.value) is dpc.ReadTimeout
    assert "stream_timeout" in info.value.hint
    assert_usable(client, daemon, tenant, installed=1)


def test_pool_exhausted(daemon, tenant):
    client = make_client(daemon.url, daemon.key, pool_size=1, max_connections=1,
                         timeout=dpc.Timeout(connect=2.0, read=2.0, write=2.0, pool=0.3))
    install_sample(client, daemon, tenant)
    stream = _invoke(client, tenant)
    next(stream)  # holds the only connection
    with pytest.raises(dpc.PoolTimeout) as info:
        client.list_plugins_with_total(tenant)
    assert type(info.value) is dpc.PoolTimeout
    stream.close()  # gives the connection back
    assert_usable(client, daemon, tenant, installed=1)


def test_upload_to_a_server_that_stops_reading(daemon, tenant):
    client = make_client(daemon.url, daemon.key, max_package_size=1 << 30,
                         timeout=dpc.Timeout(connect=2.0, read=2.0, write=0.3, pool=2.0))
    gate = Gate()
    daemon.add_override("POST", UPLOAD, lambda h: gate.wait())
    try:
        with pytest.raises(dpc.WriteTimeout) as info:
            client.upload_pkg(tenant, b"\0" * (48 << 20))  # more than the socket buffers
    finally:
        gate.release()
    assert type(info.value) is dpc.WriteTimeout
    assert_usable(client, daemon, tenant)


# --- answers that are not the daemon's -----------------------------------------


def test_proxy_502_html_page(client, daemon, tenant):
    page = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    daemon.add_override("GET", LIST, lambda h: h.send_body(502, page, "text/html"))
    with pytest.raises(dpc.HTTPStatusError) as info:
        client.list_plugins_with_total(tenant)
    error = info.value
    assert type(error) is dpc.HTTPStatusError
    assert error.status_code == 502 and error.http_status == 502
    assert "proxy" in error.hint and "502 Bad Gateway" in error.text
    assert_usable(client, daemon, tenant)


def test_proxy_413_on_upload(client, daemon, tenant):
    page = b"<html><head><title>413 Request Entity Too Large</title></head></html>"
    daemon.add_override("POST", UPLOAD, lambda h: h.send_body(413, page, "text/html"))
    with pytest.raises(dpc.HTTPStatusError) as info:
        client.upload_pkg(tenant, b"\0" * (4 << 20))  # the proxy answers without reading it
    error = info.value
    assert type(error) is dpc.HTTPStatusError and error.status_code == 413
    assert "client_max_body_size" in error.hint
    assert_usable(client, daemon, tenant)


def test_empty_500(client, daemon, tenant):
    daemon.add_override("GET", LIST, lambda h: h.send_body(500, b"", None))
    with pytest.raises(dpc.HTTPStatusError) as info:
        client.list_plugins_with_total(tenant)
    assert type(info.value) is dpc.HTTPStatusError and info.value.status_code == 500
    assert "empty body" in str(info.value)
    assert_usable(client, daemon, tenant)


def test_invalid_utf8_bodies(client, daemon, tenant):
    daemon.add_override("GET", LIST, lambda h: h.send_body(
        200, b'{"code":0,"message":"\xff\xfe","data":{"list":[],"total":0}}'))
    with pytest.raises(dpc.InvalidResponseError) as info:
        client.list_plugins_with_total(tenant)
    assert type(info.value) is dpc.InvalidResponseError
    daemon.remove_overrides()
    daemon.add_override("GET", LIST, lambda h: h.send_body(502, b"bad \xff\xfe gateway", None))
    with pytest.raises(dpc.HTTPStatusError) as info:
        client.list_plugins_with_total(tenant)
    assert type(info.value) is dpc.HTTPStatusError and "\ufffd" in info.value.text
    assert_usable(client, daemon, tenant)


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_response_larger_than_max_response_size(daemon, tenant, framing):
    big = ok_envelope({"list": [], "total": 0, "padding": "x" * (1 << 20)})

    def answer(handler):
        if framing == "content-length":
            handler.send_body(200, big)
        else:
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(big[i:i + 8192]), big[i:i + 8192])
                              for i in range(0, len(big), 8192))
            write_raw(handler, raw_response("HTTP/1.1 200 OK", [
                ("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")],
                chunks + b"0\r\n\r\n"), close=False)

    daemon.add_override("GET", LIST, answer)
    small = make_client(daemon.url, daemon.key, max_response_size=64 * 1024)
    with pytest.raises(dpc.ResponseTooLargeError) as info:
        small.list_plugins_with_total(tenant)
    assert type(info.value) is dpc.ResponseTooLargeError
    assert "max_response_size" in str(info.value)
    with make_client(daemon.url, daemon.key) as default:  # the cap is configurable
        assert default.list_plugins_with_total(tenant).extra["padding"] == "x" * (1 << 20)
    assert_usable(small, daemon, tenant)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_redirect_to_another_host_is_not_followed(client, daemon, tenant, method):
    other = FakeDaemon(host="127.0.0.2", key=daemon.key).start()  # another host, same key
    try:
        def redirect(handler):
            read_request_body(handler)
            write_raw(handler, raw_response(
                "HTTP/1.1 %d Found" % (302 if method == "GET" else 307),
                [("Location", other.url + handler.record.path), ("Content-Length", "0")]),
                close=False)

        daemon.add_override(method, LIST if method == "GET" else DELETE_ALL, redirect)
        call = (client.list_plugins_with_total if method == "GET"
                else client.delete_all_plugin_installation_task_items)
        with pytest.raises(dpc.HTTPStatusError) as info:
            call(tenant)
        assert type(info.value) is dpc.HTTPStatusError
        assert info.value.status_code in (302, 307)
        assert "127.0.0.2" in str(info.value) and "not sent there" in str(info.value)
        assert other.requests == [] and other.connections_opened == 0  # the key never left
        assert_usable(client, daemon, tenant)
    finally:
        other.stop()


def test_same_origin_redirect_is_followed_for_get(client, daemon, tenant):
    hits = []

    def moved(handler):
        hits.append(handler.record.path)
        if len(hits) == 1:
            write_raw(handler, raw_response("HTTP/1.1 301 Moved Permanently", [
                ("Location", handler.record.path + "?page=1&page_size=256"),
                ("Content-Length", "0")]), close=False)
        else:
            handler.send_body(200, ok_envelope({"list": [], "total": 0}))

    daemon.add_override("GET", LIST, moved)
    assert client.list_plugins_with_total(tenant).total == 0
    assert len(hits) == 2
    assert all(r.headers.get("X-Api-Key") == daemon.key for r in daemon.requests)
    assert_usable(client, daemon, tenant)


def test_faults_do_not_leak_connections(daemon, tenant):
    """After a run of faults, the pool holds at most pool_size connections."""
    client = make_client(daemon.url, daemon.key, pool_size=3, timeout=FAST, retries=1)
    install_sample(client, daemon, tenant)
    daemon.add_override("GET", LIST, abort)
    for _ in range(5):
        with pytest.raises(dpc.RemoteProtocolError):
            client.list_plugins_with_total(tenant)
    daemon.remove_overrides()
    errors = []

    def work():
        try:
            for _ in range(20):
                assert client.list_plugins_with_total(tenant).total == 1
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(client._transport._idle) <= 3
    client.close()


def test_a_stream_event_that_is_not_utf8_is_an_error(client, daemon, tenant, installed):
    """The daemon writes UTF-8: other bytes in an event are an error, not replaced.
    (Events read together with the bad one may go undelivered: the read fails whole.)"""
    def bad_bytes(handler):
        read_request_body(handler)
        handler.start_stream()
        handler.send_event(ok_envelope({"type": "text", "message": {"text": "first"},
                                        "meta": None}))
        time.sleep(0.05)  # a read of its own
        handler.send_event(b'{"code":0,"message":"","data":{"type":"text","message":'
                           b'{"text":"caf\xc3\xa9 \xff ok"},"meta":null}}')
        handler.end_stream()

    daemon.add_override("POST", INVOKE, bad_bytes)
    received = []
    with pytest.raises(dpc.InvalidResponseError) as info:
        for message in _invoke(client, tenant):
            received.append(message.message.text)
    assert "not UTF-8" in info.value.message and received == ["first"]
    assert_usable(client, daemon, tenant, installed=1)
