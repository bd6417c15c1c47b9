"""The fake daemon itself: configuration, lifecycle, observation and in-memory state.

:class:`FakeDaemon` owns the server (``start``/``stop``/``url``/``key``), what
tests observe (``requests``, connection counters, ``errors``), the scenario
knobs tests set directly (``add_override``, ``set_tool_handler``,
``set_dispatch_handler``, ``add_dispatch_route``, ``add_package``, ``install``,
``fail_install``, ``signed``, ``finish_installs``) and the state the daemon would keep in its
database: uploaded packages and assets, installations per tenant, install tasks.
The route groups in ``routes/`` read and change that state through the
helpers at the end of the class.

Release switches: ``version`` is what ``/health/check`` reports (``0.6.10`` by
default) and the release whose behaviour the routes follow where releases differ
(:meth:`FakeDaemon.release_at_least`; so far: up to 0.5.4 ``decode/from_identifier``
reads its identifier from the query key ``PluginUniqueIdentifier``, later releases
from ``plugin_unique_identifier``).  ``stream_headers`` chooses when a dispatch
stream's headers are written (see :data:`STREAM_HEADERS`).

Packages and runtimes, as the daemon keeps them (tests/transcripts/README.md, x02):
an upload stores the package file (``_packages``) and its declaration
(``_declared``); installations count the tenants using an identifier
(``_refcount``, the daemon's ``plugins`` row).  When the last installation of an
identifier goes (uninstall, or upgrade to another identifier), its ``plugins``
row and its declaration are deleted; the package file stays.  Installing or
upgrading to that identifier then fails until it is uploaded again.
"""

import io
import re
import socket
import threading
import zipfile

from .builders import _zip_info
from .dispatch import register_dispatch_route
from .packages import _decode_upload
from .routes import build_router
from .server import _Server
from .wire import _DaemonError, _canonical_uuid, _go_time, _go_value, _internal, _is_pg_uuid, _now, _uuid7

DEFAULT_MAX_PACKAGE_SIZE = 52428800      # MAX_PLUGIN_PACKAGE_SIZE
DEFAULT_MAX_BUNDLE_SIZE = 629145600      # MAX_BUNDLE_PACKAGE_SIZE
#: Where the daemon's messages say packages are stored (the daemon image's ./storage).
STORAGE_ROOT = "/app/storage"
TASK_MESSAGE_LIMIT = 1024                # install task messages longer than this are cut
# When a dispatch stream's headers are written.  "lazy" is the daemon's way: with the
# first event, so a stream without events is HTTP 200 with Content-Length: 0
# (0.6.10-routes/tool/get_runtime_parameters.json).  "eager" (before the handler runs;
# no event gives headers plus the terminating zero-length chunk) is what this fake has
# always done, and stays the default while the client mishandles the recorded framing.
STREAM_HEADERS = ("eager", "lazy")


class FakeDaemon(object):
    """An in-memory Dify Plugin Daemon on a real loopback HTTP/1.1 server.

    Construct, ``start()`` (or use as a context manager), point a client at
    ``url``.  Every request is recorded in ``requests``; connection counters
    show keep-alive reuse.  State helpers (``add_package``, ``install``,
    ``set_tool_handler``, ``set_dispatch_handler``, ``fail_install``) and
    ``add_override`` (fault injection) let tests set up any scenario without
    going through HTTP; ``add_dispatch_route`` serves more dispatch routes.
    ``stream_headers`` (``"eager"`` or ``"lazy"``) is explained at
    :data:`STREAM_HEADERS`.  ``install_delay``: how long an install job runs in
    the background (seconds); ``None`` makes jobs start at once and finish only
    when the test calls :meth:`finish_installs` (deterministic task polls).
    """

    def __init__(self, key="test-key", host="127.0.0.1", port=0, *, max_package_size=DEFAULT_MAX_PACKAGE_SIZE,
                 max_bundle_size=DEFAULT_MAX_BUNDLE_SIZE, install_delay=0.05, task_success_ttl=None,
                 version="0.6.10", stream_headers="lazy"):
        if stream_headers not in STREAM_HEADERS:
            raise ValueError("stream_headers must be one of %s" % ", ".join(STREAM_HEADERS))
        self.key = key
        self.host = host
        self.port = port
        self.max_package_size = max_package_size
        self.max_bundle_size = max_bundle_size
        self.install_delay = install_delay
        self.task_success_ttl = task_success_ttl
        self.version = version
        self.stream_headers = stream_headers
        self.storage_root = STORAGE_ROOT
        self.url = None
        # observation
        self.requests = []
        self.errors = []                 # tracebacks of unexpected exceptions in the fake
        self.connections_opened = 0
        self.open_connections = 0
        self.max_open_connections = 0
        # scenario knobs
        self.fail_install = {}           # plugin_id -> error message for its install entry
        self.signed = {}                 # identifier -> authorized_category (treated as signed)
        # state
        self._lock = threading.RLock()
        self._stats_lock = threading.Lock()
        self._packages = {}              # identifier -> _Package (the stored package file)
        self._declared = set()           # identifiers whose declaration is stored
        self._assets = {}                # asset id -> bytes
        self._installations = {}         # tenant -> [installation dict]
        self._refcount = {}              # identifier -> number of installations (the `plugins` row)
        self._tasks = {}                 # tenant -> {task id -> task dict}
        self._tool_handlers = {}         # (plugin_id, provider, tool) -> fn(request_json)
        self._dispatch_handlers = {}     # (plugin_id, route path) -> fn(call)
        self._dispatch_routes = {}       # route path -> DispatchRoute
        self._overrides = []
        self._sockets = set()
        self._timers = []
        self._manual_jobs = []           # install_delay=None: started jobs waiting for finish_installs()
        self._active = 0
        self._active_dispatch = 0
        self._stopping = threading.Event()
        self._server = None
        self._thread = None
        self._router = build_router(self)

    # ---- lifecycle ---------------------------------------------------------

    def start(self):
        """Bind and serve in a background thread; returns self."""
        self._stopping.clear()
        self._server = _Server((self.host, self.port), self)
        host, port = self._server.server_address[:2]
        self.port = port
        self.url = "http://%s:%d" % ("[%s]" % host if ":" in host else host, port)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="fake-dify-daemon", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stop serving, close open connections and cancel background work."""
        self._stopping.set()
        for timer in list(self._timers):
            timer.cancel()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            with self._stats_lock:
                sockets = list(self._sockets)
            for sock in sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def release_at_least(self, *release):
        """True when ``version`` is this release or a later one (an unparsable version counts as
        the newest), e.g. ``release_at_least(0, 5, 5)``."""
        parts = re.match(r"^v?(\d+)\.(\d+)\.(\d+)", self.version or "")
        if parts is None:
            return True
        return tuple(int(p) for p in parts.groups()) >= tuple(release)

    # ---- observation -------------------------------------------------------

    def reset_stats(self):
        """Forget recorded requests and restart the connection counters."""
        with self._stats_lock:
            del self.requests[:]
            self.connections_opened = 0
            self.max_open_connections = self.open_connections

    def _record(self, record):
        with self._stats_lock:
            self.requests.append(record)

    def _connection_opened(self, sock):
        with self._stats_lock:
            self._sockets.add(sock)
            self.connections_opened += 1
            self.open_connections += 1
            self.max_open_connections = max(self.max_open_connections, self.open_connections)

    def _connection_closed(self, sock):
        with self._stats_lock:
            if sock in self._sockets:
                self._sockets.discard(sock)
                self.open_connections -= 1

    def _active_requests_delta(self, delta):
        with self._stats_lock:
            self._active += delta

    # ---- scenario helpers --------------------------------------------------

    def add_override(self, method, path_regex, fn):
        """Route matching requests to ``fn(handler)`` before anything else.

        ``method`` is an HTTP method or ``"*"``/None for any; ``path_regex`` is
        searched in the raw request path.  ``fn`` fully handles the request: it
        may use ``handler.read_body()``, ``send_json()``, ``send_body()``,
        ``start_stream()``/``send_event()``/``end_stream()`` or the raw
        ``handler.wfile`` / ``handler.connection`` (set
        ``handler.close_connection = True`` after breaking the protocol).
        The first matching override wins.
        """
        with self._lock:
            self._overrides.append((method, re.compile(path_regex), fn))

    def remove_overrides(self):
        """Drop every override added with :meth:`add_override`."""
        with self._lock:
            del self._overrides[:]

    def _overrides_snapshot(self):
        with self._lock:
            return list(self._overrides)

    def set_tool_handler(self, plugin_id, provider, tool, fn):
        """Handle invocations of one tool: ``fn(request_json) -> iterable of chunk dicts``.

        ``request_json`` is the whole decoded request body.  Chunks are
        ``{"type", "message", "meta"}`` dicts; ``fn`` may raise
        :class:`FakePluginError` (or any exception) to end the stream with a
        ``PluginInvokeError`` event.  ``fn=None`` restores the default echo.
        """
        with self._lock:
            if fn is None:
                self._tool_handlers.pop((plugin_id, provider, tool), None)
            else:
                self._tool_handlers[(plugin_id, provider, tool)] = fn

    def set_dispatch_handler(self, plugin_id, route, fn):
        """Answer one dispatch route for one plugin: ``fn(call) -> iterable of chunks``.

        ``route`` is the path after ``/dispatch/`` (``"tool/invoke"``,
        ``"llm/invoke"``...); it must be served (built in, or added with
        :meth:`add_dispatch_route`).  ``call`` is a
        :class:`~fake_daemon.dispatch.DispatchCall`: ``call.body`` is the decoded
        request body, ``call.values`` the request as the daemon bound it,
        ``call.package`` the plugin's stored package.  Each chunk becomes one
        ``data:`` event (encoded by the route); ``fn`` may raise
        :class:`FakePluginError` (or any exception) to end the stream with a
        ``PluginInvokeError`` event, and an empty iterable gives the empty
        stream.  It takes over the route for that plugin, handlers set with
        :meth:`set_tool_handler` included.  ``fn=None`` removes it.
        """
        with self._lock:
            if route not in self._dispatch_routes:
                raise KeyError("dispatch route not served: %r (add it with add_dispatch_route)" % route)
            if fn is None:
                self._dispatch_handlers.pop((plugin_id, route), None)
            else:
                self._dispatch_handlers[(plugin_id, route)] = fn

    def add_dispatch_route(self, route):
        """Serve one more dispatch route (a :class:`~fake_daemon.dispatch.DispatchRoute`).

        It answers ``POST /plugin/:tenant_id/dispatch/<route.path>`` and, when
        ``route.v2``, ``POST /v2/invoke/dispatch/<route.path>``; it may be added
        while the daemon runs.
        """
        register_dispatch_route(self._router, self, route)

    def _dispatch_handler(self, plugin_id, route):
        with self._lock:
            return self._dispatch_handlers.get((plugin_id, route))

    def add_package(self, files):
        """Store a package built from ``{path: bytes}`` as if uploaded; returns its identifier."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(files):
                data = files[path]
                archive.writestr(_zip_info(path), data.encode("utf-8") if isinstance(data, str) else data)
        buffer.seek(0)
        try:
            package = _decode_upload(buffer, None, self.signed)
        except _DaemonError as exc:
            raise ValueError(exc.message)
        self._store_packages([package])
        return package.identifier

    def install(self, tenant_id, identifier, source="package", meta=None):
        """Install an uploaded package for a tenant right away; returns the list entry."""
        if not _is_pg_uuid(tenant_id):
            raise ValueError("tenant_id must be a UUID: %r" % tenant_id)
        tenant = _canonical_uuid(tenant_id)
        with self._lock:
            package = self._declaration_of(identifier)
            if package is None:
                raise KeyError("package not uploaded (or its declaration is gone): %s" % identifier)
            if self._find_installation(tenant, package.plugin_id) is not None:
                raise ValueError("plugin already installed for tenant: %s" % package.plugin_id)
            row = self._create_installation(tenant, package, source, {} if meta is None else meta)
            return self._list_entry(row)

    def installations(self, tenant_id):
        """The tenant's installations as ``list`` returns them (newest first)."""
        tenant = _canonical_uuid(tenant_id)
        with self._lock:
            rows = sorted(self._installations.get(tenant, []), key=lambda r: r["created"], reverse=True)
            return [self._list_entry(r) for r in rows]

    def tasks(self, tenant_id):
        """The tenant's install tasks as the API returns them (newest first)."""
        tenant = _canonical_uuid(tenant_id)
        with self._lock:
            tasks = sorted(self._tasks.get(tenant, {}).values(), key=lambda t: t["created"], reverse=True)
            return [self._task_json(t) for t in tasks]

    # ---- state the routes use: packages -----------------------------------

    def _store_packages(self, packages):
        with self._lock:
            for package in packages:
                self._packages.setdefault(package.identifier, package)
                self._declared.add(package.identifier)
                self._assets.update(package.assets)

    def _declaration_of(self, identifier):
        """The stored package whose declaration is stored, or None."""
        return self._packages.get(identifier) if identifier in self._declared else None

    def _release_identifier(self, identifier):
        """One installation of ``identifier`` less; the last one takes its row and declaration."""
        left = self._refcount.get(identifier, 0) - 1
        if left > 0:
            self._refcount[identifier] = left
        else:
            self._refcount.pop(identifier, None)
            self._declared.discard(identifier)

    # ---- state the routes use: install tasks ------------------------------

    def _create_task(self, tenant, jobs, source):
        now = _now()
        task = {"id": _uuid7(), "created": now, "updated": now, "status": "running", "tenant_id": tenant,
                "total_plugins": len(jobs), "completed_plugins": 0, "plugins": []}
        for job in jobs:
            package = job["package"]
            upgrade = job["kind"] == "upgrade"
            identifier = job["identifier"]
            entry = {
                "plugin_unique_identifier": identifier,
                "labels": {"en_US": ""} if upgrade else dict(package.persisted["label"]),
                "icon": "" if upgrade else package.persisted["icon"],
                "icon_dark": "" if upgrade else package.persisted["icon_dark"],
                "plugin_id": identifier.split(":", 1)[0],
                "status": "pending",
                "message": "",
                "source": source,
            }
            task["plugins"].append(entry)
            job["entry"] = entry
        self._tasks.setdefault(tenant, {})[task["id"]] = task
        for job in jobs:
            if self.install_delay is None:   # manual timing: started now, finished by finish_installs()
                job["entry"].update(status="running", message="starting")
                self._manual_jobs.append((tenant, task, job))
                continue
            thread = threading.Thread(target=self._run_job, args=(tenant, task, job),
                                      name="fake-install", daemon=True)
            thread.start()
        return task

    def finish_installs(self, keep_tasks=()):
        """Manual install timing (``install_delay=None``): finish the started jobs now.

        Every job waiting since its task was created ends as the background job would
        (success, or the failure the scenario knobs ask for), except the jobs of the
        task ids in ``keep_tasks``, which stay ``running``.  Returns how many finished.
        """
        keep = set(keep_tasks)
        with self._lock:
            due = [item for item in self._manual_jobs if item[1]["id"] not in keep]
            self._manual_jobs = [item for item in self._manual_jobs if item[1]["id"] in keep]
            for tenant, task, job in due:
                self._finish_job(tenant, task, job)
        return len(due)

    def _run_job(self, tenant, task, job):
        """Background install of one entry: pending -> running/starting -> success or failed."""
        half = max(0.0, self.install_delay) / 2.0
        if self._stopping.wait(half):
            return
        with self._lock:
            job["entry"].update(status="running", message="starting")
            task["updated"] = _now()
        if self._stopping.wait(half):
            return
        with self._lock:
            self._finish_job(tenant, task, job)

    def _finish_job(self, tenant, task, job):
        """The end of one install job (under the lock): the entry ends success or failed.

        An install over another installed version of the plugin ends ``success`` /
        ``installed`` and changes nothing (s04, cli34).  An upgrade fails when the new
        package was never uploaded, or when its declaration is gone (x02).
        """
        identifier = job["identifier"]
        entry = job["entry"]
        failure = self.fail_install.get(identifier.split(":", 1)[0])
        if failure is None and job["kind"] == "upgrade":
            failure = self._upgrade_failure(identifier)
        if failure is not None:
            entry.update(status="failed", message=_truncate_message(failure))
            task["status"] = "failed"
        else:
            if job["kind"] == "upgrade":
                self._switch_installation(job["row"], self._packages[identifier], job["source"], job["meta"])
            elif self._find_installation(tenant, identifier.split(":", 1)[0]) is None:
                self._create_installation(tenant, job["package"], job["source"], job["meta"])
            entry.update(status="success", message="upgraded" if job["kind"] == "upgrade" else "installed")
            task["completed_plugins"] += 1
            if task["status"] != "failed" and all(e["status"] == "success" for e in task["plugins"]):
                task["status"] = "success"
                self._schedule_task_cleanup(tenant, task)
        task["updated"] = _now()

    def _upgrade_failure(self, identifier):
        """Why an upgrade job to ``identifier`` fails now, or None."""
        if identifier not in self._packages:
            return ("failed to move plugin to installed bucket: failed to get package file when trying to "
                    "install plugin to local\nopen %s/plugin_packages/%s: no such file or directory"
                    % (self.storage_root, identifier))
        if identifier not in self._declared:
            return "failed to get new plugin declaration after install: plugin not found"
        return None

    def _schedule_task_cleanup(self, tenant, task):
        if self.task_success_ttl is None:
            return

        def cleanup():
            with self._lock:
                tasks = self._tasks.get(tenant, {})
                if tasks.get(task["id"]) is task and task["status"] == "success":
                    del tasks[task["id"]]

        timer = threading.Timer(self.task_success_ttl, cleanup)
        timer.daemon = True
        self._timers = [t for t in self._timers if t.is_alive()] + [timer]
        timer.start()

    def _task_json(self, task):
        return {
            "id": task["id"],
            "created_at": _go_time(task["created"]),
            "updated_at": _go_time(task["updated"]),
            "status": task["status"],
            "tenant_id": task["tenant_id"],
            "total_plugins": task["total_plugins"],
            "completed_plugins": task["completed_plugins"],
            "plugins": [dict(e) for e in task["plugins"]],
        }

    # ---- state the routes use: installations ------------------------------

    def _find_installation(self, tenant, plugin_id):
        for row in self._installations.get(tenant, []):
            if row["plugin_id"] == plugin_id:
                return row
        return None

    def _create_installation(self, tenant, package, source, meta):
        now = _now()
        row = {"id": _uuid7(), "created": now, "updated": now, "tenant_id": tenant,
               "plugin_id": package.plugin_id, "plugin_unique_identifier": package.identifier,
               "runtime_type": "local", "source": source, "meta": meta,
               "tool_row_id": _uuid7(), "tool_created": now}
        self._installations.setdefault(tenant, []).append(row)
        self._refcount[package.identifier] = self._refcount.get(package.identifier, 0) + 1
        return row

    def _switch_installation(self, row, package, source, meta):
        old = row["plugin_unique_identifier"]
        self._refcount[package.identifier] = self._refcount.get(package.identifier, 0) + 1
        self._release_identifier(old)
        row.update(plugin_unique_identifier=package.identifier, source=source, meta=meta, updated=_now())

    def _row_json(self, row):
        return {
            "id": row["id"],
            "created_at": _go_time(row["created"]),
            "updated_at": _go_time(row["updated"]),
            "tenant_id": row["tenant_id"],
            "plugin_id": row["plugin_id"],
            "plugin_unique_identifier": row["plugin_unique_identifier"],
            "runtime_type": row["runtime_type"],
            "endpoints_setups": 0,
            "endpoints_active": 0,
            "source": row["source"],
            "meta": _go_value(row["meta"]),
        }

    def _declaration_for(self, row):
        package = self._packages.get(row["plugin_unique_identifier"])
        if package is None:
            raise _internal("failed to get plugin declaration")
        return package.persisted

    #: The key order of a ``list`` entry: the field order of the daemon's struct, as recorded
    #: in tests/transcripts/0.6.10/s06_list.json.
    LIST_ENTRY_KEYS = ("id", "name", "plugin_id", "tenant_id", "plugin_unique_identifier", "endpoints_active",
                       "endpoints_setups", "installation_id", "declaration", "runtime_type", "version",
                       "created_at", "updated_at", "source", "checksum", "meta")

    def _list_entry(self, row):
        declaration = self._declaration_for(row)
        out = self._row_json(row)
        out.update(name=declaration["name"], version=declaration["version"],
                   checksum=row["plugin_unique_identifier"].rsplit("@", 1)[1],
                   declaration=declaration, installation_id=row["id"])
        return dict((key, out[key]) for key in self.LIST_ENTRY_KEYS)


def _truncate_message(message):
    raw = message.encode("utf-8")
    if len(raw) <= TASK_MESSAGE_LIMIT:
        return message
    return raw[:512].decode("utf-8", "ignore") + "..." + raw[-512:].decode("utf-8", "ignore")
