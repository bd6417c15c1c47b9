"""One generic way to serve the daemon's dispatch routes (the plugin calls answered as SSE).

A dispatch route is described by a :class:`DispatchRoute`: its path after
``/dispatch/`` (``"tool/invoke"``, ``"llm/invoke"``...), the Go request type
(it names the struct in validation messages), the binding spec of the body's
``data`` object, the plugin's built-in behaviour and how a chunk is encoded.
:func:`register_dispatch_route` serves it twice, as the daemon does:

* ``POST /plugin/:tenant_id/dispatch/<path>``: ``X-Plugin-ID`` names the plugin,
  which must be installed for the tenant (middleware errors: HTTP 400 without
  the header, HTTP 404 ``PluginNotFoundError`` when not installed, HTTP 500 for a
  tenant id that is not a UUID);
* ``POST /v2/invoke/dispatch/<path>`` (``route.v2``): ``X-Plugin-Unique-Identifier``
  names the package, ``tenant_id`` comes from the JSON body and no installation
  is looked up; the package must be running, i.e. installed for some tenant
  (else HTTP 404, code -500, ``no available node, plugin runtime not found``).

Then the body is bound and validated like gin does (HTTP 400 on failure), the
handler runs (the one a test set with ``FakeDaemon.set_dispatch_handler`` for
this plugin, else the route's own), and its chunks are written as a chunked
``text/event-stream``: one ``data: {"code":0,"message":"success","data":...}``
event per chunk, flushed as produced.  An exception from the handler ends the
stream with a ``code -500`` ``PluginInvokeError`` event; a handler that yields
nothing gives the empty stream (HTTP 200 and no event; with
``FakeDaemon(stream_headers="lazy")`` framed as the daemon frames it,
``Content-Length: 0``).  Recorded ground truth:
``daemon-transcripts/0.6.10-routes/{model,tool,v2}/``.
"""

import traceback

from .server import _HANDLED, _ClientGone, _Field
from .wire import (
    IDENTIFIER_RE,
    FakePluginError,
    _bad_request,
    _canonical_uuid,
    _DaemonError,
    _go_struct,
    _internal,
    _is_pg_uuid,
    _plugin_error_event,
    _plugin_not_found,
    _uuid_error,
    go_json,
)

REQUEST_NS = "InvokePluginRequest[github.com/langgenius/dify-plugin-daemon/pkg/entities/requests.{0}]"
TENANT_PREFIX = "/plugin/:tenant_id/dispatch/"
V2_PREFIX = "/v2/invoke/dispatch/"
SSE_CTYPE = "text/event-stream"


def encode_chunk(chunk):
    """The success event of one chunk: ``data`` is the chunk itself.

    Keys keep the order the handler gave (a Go struct's field order); numbers
    are printed as Go prints a float64 (``1.0`` becomes ``1``).
    """
    return go_json({"code": 0, "message": "success", "data": _go_struct(chunk)})


def _dispatch_fields(type_name, data_fields):
    """The request struct of a tenant route: tenant from the URI, ``user_id`` and ``data`` from JSON."""
    return [
        _Field("TenantID", "uri", "tenant_id", "str", "required"),
        _Field("UserID", "json", "user_id", "str"),
        _Field("Data", "json", "data", "struct", "required", sub=data_fields,
               ns=REQUEST_NS.format(type_name) + ".Data"),
    ]


def _v2_fields(type_name, data_fields):
    """The request struct of a /v2 route: the URI has no tenant, so ``tenant_id`` binds from JSON."""
    return [
        _Field("TenantId", "json", "tenant_id", "str", "required",
               ns=REQUEST_NS.format(type_name) + ".InvokePluginUserIdentity.TenantId"),
        _Field("UserID", "json", "user_id", "str"),
        _Field("Data", "json", "data", "struct", "required", sub=data_fields,
               ns=REQUEST_NS.format(type_name) + ".Data"),
    ]


class DispatchRoute(object):
    """A dispatch route served by :func:`serve`.

    ``path``: after ``/dispatch/``, e.g. ``"llm/invoke"``.  ``request_type``: the
    Go type in ``requests`` (``"RequestInvokeLLM"``), for validation messages.
    ``data_fields``: :class:`~fake_daemon.server._Field` specs of ``data`` (set
    ``ns`` where Go reports an embedded struct, e.g.
    ``"BaseRequestInvokeModel.Model"``).  ``handler``: ``fn(call) -> iterable of
    chunks``, the plugin's behaviour when no test handler is set (None: the
    empty stream).  ``encode``: chunk -> envelope bytes (default
    :func:`encode_chunk`).  ``v2``: also serve ``/v2/invoke/dispatch/<path>``.
    ``chunk_filter``: chunks -> chunks, what the daemon does to the plugin's
    chunks before they are encoded (None: they pass as they are; agent
    strategies merge blob pieces there).
    """

    def __init__(self, path, request_type, data_fields, handler=None, encode=None, v2=True,
                 chunk_filter=None):
        self.path = path.strip("/")
        self.request_type = request_type
        self.data_fields = list(data_fields)
        self.handler = handler
        self.encode = encode or encode_chunk
        self.v2 = v2
        self.chunk_filter = chunk_filter
        self.fields = _dispatch_fields(request_type, self.data_fields)
        self.v2_fields = _v2_fields(request_type, self.data_fields)

    def __repr__(self):
        return "<DispatchRoute %s>" % self.path


class DispatchCall(object):
    """What a dispatch handler is given.

    ``body``: the decoded JSON body (``{}`` when not an object); ``data``: its
    ``data`` object; ``values``: the request as bound (Go field names, e.g.
    ``values["Data"]["Provider"]``); ``tenant_id``, ``plugin_id``,
    ``identifier``; ``package``: the stored package (``package.persisted`` is the
    declaration), ``installation``: the tenant's installation row (None on
    ``/v2``, where ``direct`` is True); ``route`` and ``daemon``.
    """

    def __init__(self, daemon, route, body, values, tenant_id, plugin_id, identifier, package, installation):
        self.daemon = daemon
        self.route = route
        self.body = body
        self.data = body.get("data") if isinstance(body.get("data"), dict) else {}
        self.values = values
        self.tenant_id = tenant_id
        self.plugin_id = plugin_id
        self.identifier = identifier
        self.package = package
        self.installation = installation
        self.direct = installation is None

    def __repr__(self):
        return "<DispatchCall %s %s>" % (self.route.path, self.identifier)


def register_dispatch_route(router, daemon, route, answer=None):
    """Serve ``route`` on ``router`` for ``daemon`` (tenant path, and the /v2 path when ``route.v2``).

    ``answer(daemon, route, h, direct)`` answers one request (default :func:`serve`);
    a route group with checks of its own passes a function that makes them first.
    """
    answer = answer or serve
    with daemon._lock:
        if route.path in daemon._dispatch_routes:
            raise ValueError("dispatch route already served: %s" % route.path)
        daemon._dispatch_routes[route.path] = route
    router.add("POST", TENANT_PREFIX + route.path, lambda h: answer(daemon, route, h), True)
    if route.v2:
        router.add("POST", V2_PREFIX + route.path, lambda h: answer(daemon, route, h, direct=True), True)


def serve(daemon, route, h, direct=False):
    """Answer one dispatch request: middleware checks, binding, then the SSE stream."""
    call = dispatch_call(daemon, route, h, direct)
    handler = plugin_handler(daemon, call)
    chunks = _call_handler(handler, call) if handler is not None else iter(())
    if route.chunk_filter is not None:
        chunks = route.chunk_filter(chunks)
    return stream(daemon, h, chunks, route.encode)


def dispatch_call(daemon, route, h, direct=False):
    """The middleware checks and the binding of one request; what its handler is given."""
    if direct:
        identifier, package = _direct_plugin(daemon, h)
        installation, plugin_id = None, identifier.split(":", 1)[0]
        values = h.bind(route.v2_fields)
        tenant = values["TenantId"]
    else:
        installation, package = _dispatch_installation(daemon, h)
        identifier, plugin_id = installation["plugin_unique_identifier"], installation["plugin_id"]
        values = h.bind(route.fields)
        tenant = values["TenantID"]
    body = h.json_body()
    return DispatchCall(daemon, route, body if isinstance(body, dict) else {}, values, tenant, plugin_id,
                        identifier, package, installation)


def plugin_handler(daemon, call):
    """The handler a test set for this plugin and route, else the route's own (may be None)."""
    return daemon._dispatch_handler(call.plugin_id, call.route.path) or call.route.handler


def _dispatch_installation(daemon, h):
    """The dispatch middleware: X-Plugin-ID, installation lookup (pre-stream errors)."""
    plugin_id = h.headers.get("X-Plugin-ID", "")
    if not plugin_id:
        raise _bad_request("plugin_id is required", status=400)
    tenant = h.params.get("tenant_id", "")
    if not _is_pg_uuid(tenant):
        raise _uuid_error(tenant, status=500)
    with daemon._lock:
        row = daemon._find_installation(_canonical_uuid(tenant), plugin_id)
        if row is None:
            raise _plugin_not_found(status=404)
        return row, daemon._packages.get(row["plugin_unique_identifier"])


def _direct_plugin(daemon, h):
    """The /v2 middleware: X-Plugin-Unique-Identifier, then a running plugin (pre-stream errors)."""
    identifier = identifier_header(h)
    with daemon._lock:
        if daemon._refcount.get(identifier, 0) <= 0:   # uploaded only, or unknown: no runtime runs it
            raise _internal("no available node, plugin runtime not found", status=404)
        return identifier, daemon._packages.get(identifier)


def identifier_header(h):
    """The request's ``X-Plugin-Unique-Identifier``, checked: HTTP 400 when missing or malformed."""
    identifier = h.headers.get("X-Plugin-Unique-Identifier", "")
    if not identifier:
        raise _bad_request("X-Plugin-Unique-Identifier header is required", status=400)
    if not IDENTIFIER_RE.match(identifier):
        raise _DaemonError(-400, "PluginUniqueIdentifierError",
                           "plugin_unique_identifier is not valid: %s" % identifier, status=400)
    return identifier


def _call_handler(handler, call):
    for chunk in handler(call):
        yield chunk


def stream(daemon, h, chunks, encode=encode_chunk):
    """Write chunks as SSE events; a handler error becomes the final event.

    ``daemon.stream_headers`` says when the headers go out: ``"eager"``: before
    the first chunk is asked for; ``"lazy"``: with the first event, as the
    daemon does, so that a stream without events is answered as Go answers a
    handler that wrote nothing (HTTP 200, ``Content-Length: 0``).
    """
    started = [False]

    def emit(event):
        if not started[0]:
            h.start_stream(SSE_CTYPE)
            started[0] = True
        h.send_event(event)

    with daemon._stats_lock:
        daemon._active_dispatch += 1
    try:
        if daemon.stream_headers == "eager":
            h.start_stream(SSE_CTYPE)
            started[0] = True
        iterator = iter(chunks)
        while True:
            try:
                chunk = next(iterator)
            except StopIteration:
                break
            except FakePluginError as exc:
                emit(_plugin_error_event(exc.error_type, exc.message, exc.error_args))
                break
            except _ClientGone:
                raise
            except Exception as exc:  # any plugin exception is reported like the SDK does
                emit(_plugin_error_event(type(exc).__name__, str(exc), {"traceback": traceback.format_exc()}))
                break
            event = encode(chunk)
            emit(event)
            if event.startswith(b'{"code":-500'):
                break
        if started[0]:
            h.end_stream()
        else:   # lazy, and nothing was written: Go answers Content-Length: 0
            h.send_body(200, b"", SSE_CTYPE)
    except _ClientGone:
        h.close_connection = True
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    finally:
        with daemon._stats_lock:
            daemon._active_dispatch -= 1
    return _HANDLED
