"""Fault-injection helpers for the tests that drive the client against the fake daemon.

Everything here works through ``FakeDaemon.add_override(method, path_regex, fn)``:
``fn(handler)`` gets the fake's request handler and may break the protocol with the
raw socket (``handler.connection``) and writer (``handler.wfile``).
"""

import json
import socket
import struct
import threading

import dify_plugin_client as dpc
from fake_daemon import go_json, sample_plugin
from helpers import make_client  # noqa: F401 (the fault tests import it from here)

#: Small timeouts so that timeout faults show up in well under a second.
FAST = dpc.Timeout(connect=2.0, read=0.3, write=2.0, pool=2.0)


def free_port(host="127.0.0.1"):
    """A loopback port nobody listens on (bound, then released)."""
    sock = socket.socket()
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def ok_envelope(data):
    return go_json({"code": 0, "message": "success", "data": data})


def abort(handler):
    """Close the connection with a TCP reset (SO_LINGER 0), whatever was sent so far."""
    handler.close_connection = True
    sock = handler.connection
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    for stream in (handler.rfile, handler.wfile):
        try:
            stream.close()
        except Exception:
            pass
    sock.close()  # the last reference: the kernel sends RST


def write_raw(handler, data, close=True):
    """Write bytes as they are; the fake then closes the connection (FIN) if ``close``."""
    handler.response_started = True
    handler.close_connection = close
    try:
        handler.wfile.write(data)
    except OSError:
        pass


def raw_response(status_line, headers, body=b""):
    head = [status_line] + ["%s: %s" % item for item in headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def read_request_body(handler):
    """Consume the request body so the connection can stay in sync."""
    try:
        handler.read_body()
    except Exception:
        pass


class Gate(object):
    """Holds a handler thread until the test releases it (for 'never answers' faults)."""

    def __init__(self):
        self.event = threading.Event()
        self.entered = threading.Event()

    def wait(self, timeout=10.0):
        self.entered.set()
        self.event.wait(timeout)

    def release(self):
        self.event.set()


def count(daemon, method, suffix):
    """How many recorded requests have this method and a path ending with ``suffix``."""
    return sum(1 for r in list(daemon.requests) if r.method == method and r.path.endswith(suffix))


def install_sample(client, daemon, tenant):
    """Upload the sample plugin with the client and install it; returns its identifier."""
    decoded = client.upload_pkg(tenant, sample_plugin())
    daemon.install(tenant, decoded.unique_identifier)
    return decoded.unique_identifier


def assert_usable(client, daemon, tenant, installed=0):
    """The client still works after a fault: plain GET, POST and (if installed) an invoke."""
    daemon.remove_overrides()
    page = client.list_plugins_with_total(tenant)
    assert page.total == installed
    assert client.delete_all_plugin_installation_task_items(tenant) is True
    if installed:
        messages = list(client.invoke(tenant, "user-1", "acme/echo/echo", "echo",
                                      {"api_key": "x"}, {"text": "still alive"}))
        assert [m.type for m in messages] == ["text"]
        assert json.loads(messages[0].message.text)["text"] == "still alive"
