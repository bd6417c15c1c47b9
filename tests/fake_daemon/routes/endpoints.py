"""Endpoint routes: ``/plugin/:tenant_id/endpoint/*`` and the public hook ``/e/:hook_id/*path``.

State lives in ``daemon.endpoint_store`` (an :class:`EndpointStore`, made by
:func:`register`).  Settings are kept as given, standing in for what Dify's inner API
encrypts; set ``daemon.endpoint_store.inner_api_down = True`` to play the daemon whose
``DIFY_INNER_API_URL`` does not answer: setup then fails *after* creating the row (which
keeps empty settings, as the real daemon leaves it), update and any list with an
endpoint to decrypt fail, the hook answers 500, remove deletes the row and then fails;
enable and disable still work.

What the routes answer (HTTP 200 envelopes unless said otherwise), as recorded in
tests/transcripts/0.6.10-routes/endpoint/:

* ``POST setup`` ``{plugin_unique_identifier, user_id, name, settings}`` -> ``true``;
  -404 PluginNotFoundError when the tenant has not installed that identifier, -403
  without the endpoint permission, -400 without an endpoint group or when the settings
  do not validate (missing required, wrong type);
* ``GET list?page&page_size`` and ``GET list/plugin?plugin_id&page&page_size``
  (``page_size`` at most 100; HTTP 400 otherwise) -> endpoints newest first, secret-input
  settings masked the daemon's way (first and last two characters of values longer
  than 6), the plugin's endpoint declaration; an endpoint whose plugin is gone lists with
  empty settings and declaration (``list/plugin`` fails -404 then);
* ``POST update`` ``{endpoint_id, user_id, name, settings}`` -> ``true``; a secret sent
  back masked keeps the stored one; -404 ``failed to find endpoint: record not found``;
* ``POST enable`` / ``disable`` -> ``true`` (also when already so); -404 ``endpoint not
  found``; a non-UUID id -500 with Postgres' text;
* ``POST remove`` -> ``true``; unknown -500 ``failed to remove endpoint: record not found``;
* ``ANY /e/:hook_id/*path`` (no key, no envelope): unknown hook HTTP 404 -400, disabled
  HTTP 404 -404, else the plugin's answer: ``store.hook_handler(request) -> (status,
  headers, body)`` when set, else 200 JSON ``{method, path, query, body_text, headers,
  settings, hook_id}`` (the plugin sees the stored, unmasked settings).
"""

import json
import random
import string
import threading
import urllib.parse

from ..server import _HANDLED, _Field
from ..wire import (JSON_CTYPE, _bad_request, _canonical_uuid, _DaemonError, _daemon_not_found, _go_time,
                    _go_value, _internal, _is_pg_uuid, _now, _plugin_not_found, _require_uuid, _uuid7)
from .common import _TENANT, add_routes, page_of
from .providers import declaration

BASE = "/plugin/:tenant_id/endpoint"
HOOK_METHODS = ("HEAD", "GET", "POST", "PUT", "DELETE", "OPTIONS")
INNER_API = "http://127.0.0.1:5001/inner/api/invoke/encrypt"
DOWN = 'Post "%s": dial tcp 127.0.0.1:5001: connect: connection refused' % INNER_API

_ID = _Field("EndpointID", "json", "endpoint_id", "str", "required")
_SETUP_FIELDS = [
    _Field("PluginUniqueIdentifier", "json", "plugin_unique_identifier", "str",
           "required,plugin_unique_identifier"),
    _TENANT,
    _Field("UserID", "json", "user_id", "str", "required"),
    _Field("Settings", "json", "settings", "map", "omitempty"),
    _Field("Name", "json", "name", "str", "required"),
]
_UPDATE_FIELDS = [_ID, _TENANT, _Field("UserID", "json", "user_id", "str", "required"),
                  _Field("Settings", "json", "settings", "map", "omitempty"),
                  _Field("Name", "json", "name", "str", "required")]
_PAGE = [_Field("Page", "form", "page", "int", "required"),
         _Field("PageSize", "form", "page_size", "int", "required,max=100")]
_LIST_FIELDS = [_TENANT] + _PAGE
_LIST_PLUGIN_FIELDS = [_TENANT, _Field("PluginID", "form", "plugin_id", "str", "required")] + _PAGE


class EndpointStore(object):
    """The fake's endpoint rows and its inner-API switch (see the module docstring)."""

    def __init__(self):
        self.lock = threading.RLock()
        self.rows = []                 # endpoint rows, oldest first
        self.inner_api_down = False
        self.hook_handler = None       # fn(request dict) -> (status, [(name, value)], bytes)
        self.hook_requests = []        # what the plugin was given: request dicts

    def find(self, tenant, endpoint_id):
        for row in self.rows:
            if row["tenant_id"] == tenant and row["id"] == endpoint_id:
                return row
        return None


def _mask(settings, decl):
    secret = set(c["name"] for c in (decl or {}).get("settings") or [] if c.get("type") == "secret-input")
    out = {}
    for name, value in settings.items():
        if name in secret and isinstance(value, str):
            value = value[:2] + "*" * (len(value) - 4) + value[-2:] if len(value) > 6 else "*" * len(value)
        out[name] = value
    return out


def _validate_settings(settings, decl):
    """ValidateProviderConfigs: required settings, and the types of the usual kinds."""
    if len(settings) > 64:
        return "too many setting fields"
    for config in decl.get("settings") or []:
        name = config["name"]
        value = settings.get(name)
        if value is None:
            if config.get("required"):
                return "missing required setting: " + name
            continue
        kind = config.get("type")
        if kind in ("text-input", "secret-input", "select") and not isinstance(value, str):
            return "setting %s is not a string" % name
        if kind == "boolean" and not isinstance(value, bool):
            return "setting %s is not a boolean" % name
        if kind == "select" and value not in [o.get("value") for o in config.get("options") or []]:
            return "setting %s is not a valid option" % name
    return None


def _installation(daemon, tenant, plugin_id):
    for row in daemon._installations.get(tenant, []):
        if row["plugin_id"] == plugin_id:
            return row
    return None


def _plugin_declaration(daemon, tenant, plugin_id):
    """(installation row or None, endpoint declaration or None) of a tenant's plugin."""
    row = _installation(daemon, tenant, plugin_id)
    if row is None:
        return None, None
    return row, declaration(daemon._packages.get(row["plugin_unique_identifier"]), "endpoint")


def _json_row(daemon, store, row, for_plugin=False):
    installation, decl = _plugin_declaration(daemon, row["tenant_id"], row["plugin_id"])
    if installation is None:
        if for_plugin:
            raise _daemon_not_found("failed to find plugin installation: record not found")
        settings, decl = {}, {"settings": [], "endpoints": []}
    elif decl is None:
        raise _daemon_not_found("plugin does not have an endpoint")
    elif store.inner_api_down:
        raise _internal("failed to decrypt settings: " + DOWN)
    else:
        settings = _mask(row["settings"], decl)
    return {"id": row["id"], "created_at": _go_time(row["created"]), "updated_at": _go_time(row["updated"]),
            "name": row["name"], "hook_id": row["hook_id"], "tenant_id": row["tenant_id"],
            "user_id": row["user_id"], "plugin_id": row["plugin_id"], "expired_at": "2050-01-01T00:00:00Z",
            "enabled": row["enabled"], "settings": _go_value(settings), "declaration": decl}


def _r_setup(daemon, h):
    values = h.bind(_SETUP_FIELDS)
    tenant = _require_uuid(values["TenantID"])
    store = daemon.endpoint_store
    with daemon._lock, store.lock:
        installation = None
        for row in daemon._installations.get(tenant, []):
            if row["plugin_unique_identifier"] == values["PluginUniqueIdentifier"]:
                installation = row
        if installation is None:
            raise _plugin_not_found()
        package = daemon._packages.get(installation["plugin_unique_identifier"])
        permission = ((package.persisted.get("resource") or {}).get("permission") or {}).get("endpoint")
        if not (permission or {}).get("enabled"):
            raise _DaemonError(-403, "PluginPermissionDeniedError",
                               "permission denied, you need to enable endpoint access in plugin manifest")
        decl = declaration(package, "endpoint")
        if decl is None:
            raise _bad_request("plugin does not have an endpoint")
        settings = values["Settings"] or {}
        problem = _validate_settings(settings, decl)
        if problem:
            raise _bad_request("failed to validate settings: " + problem)
        now = _now()
        row = {"id": _uuid7(), "created": now, "updated": now, "name": values["Name"],
               "hook_id": "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(16)),
               "tenant_id": tenant, "user_id": values["UserID"], "plugin_id": installation["plugin_id"],
               "enabled": True, "settings": {}}
        store.rows.append(row)   # created before the settings are encrypted, as the daemon does
        if store.inner_api_down:
            raise _internal("failed to encrypt settings: " + DOWN)
        row["settings"] = dict(settings)
        row["updated"] = _now()
        return True


def _page(rows, values):
    """The requested page of ``rows``, newest first."""
    return page_of(sorted(rows, key=lambda r: r["created"], reverse=True), values)


def _r_list(daemon, h):
    values = h.bind(_LIST_FIELDS)
    tenant = _require_uuid(values["TenantID"])
    store = daemon.endpoint_store
    with daemon._lock, store.lock:
        rows = [r for r in store.rows if r["tenant_id"] == tenant]
        return [_json_row(daemon, store, row) for row in _page(rows, values)]


def _r_list_plugin(daemon, h):
    values = h.bind(_LIST_PLUGIN_FIELDS)
    tenant = _require_uuid(values["TenantID"])
    store = daemon.endpoint_store
    with daemon._lock, store.lock:
        rows = [r for r in store.rows if r["tenant_id"] == tenant and r["plugin_id"] == values["PluginID"]]
        return [_json_row(daemon, store, row, for_plugin=True) for row in _page(rows, values)]


def _uuid_or_error(value, action):
    if not _is_pg_uuid(value):
        raise _internal('failed to %s endpoint: ERROR: invalid input syntax for type uuid: "%s" (SQLSTATE 22P02)'
                        % (action, value))
    return _canonical_uuid(value)


def _switch(enabled):
    action = "enable" if enabled else "disable"

    def handler(daemon, h):
        values = h.bind([_ID, _TENANT])
        tenant = _require_uuid(values["TenantID"])
        endpoint_id = _uuid_or_error(values["EndpointID"], action)
        store = daemon.endpoint_store
        with store.lock:
            row = store.find(tenant, endpoint_id)
            if row is None:
                raise _daemon_not_found("endpoint not found")
            row["enabled"] = enabled
            row["updated"] = _now()
            return True
    return handler


def _r_remove(daemon, h):
    values = h.bind([_ID, _TENANT])
    tenant = _require_uuid(values["TenantID"])
    store = daemon.endpoint_store
    with store.lock:
        row = store.find(tenant, values["EndpointID"]) if _is_pg_uuid(values["EndpointID"]) else None
        if row is None:
            raise _internal("failed to remove endpoint: record not found")
        store.rows.remove(row)
        if store.inner_api_down:   # the row is gone; telling Dify to forget its settings fails
            raise _internal("failed to clear credentials cache: " + DOWN)
        return True


def _r_update(daemon, h):
    values = h.bind(_UPDATE_FIELDS)
    tenant = _require_uuid(values["TenantID"])
    store = daemon.endpoint_store
    with daemon._lock, store.lock:
        row = store.find(tenant, values["EndpointID"]) if _is_pg_uuid(values["EndpointID"]) else None
        if row is None:
            raise _daemon_not_found("failed to find endpoint: record not found")
        installation, decl = _plugin_declaration(daemon, tenant, row["plugin_id"])
        if installation is None:
            raise _daemon_not_found("failed to find plugin installation: record not found")
        if decl is None:
            raise _bad_request("plugin does not have an endpoint")
        if store.inner_api_down:
            raise _internal("failed to decrypt settings: " + DOWN)
        masked = _mask(row["settings"], decl)
        settings = dict(values["Settings"] or {})
        secret = set(c["name"] for c in decl.get("settings") or [] if c.get("type") == "secret-input")
        for name in list(settings):
            if name in secret and masked.get(name) == settings[name]:
                settings[name] = row["settings"][name]
        problem = _validate_settings(settings, decl)
        if problem:
            raise _bad_request("failed to validate settings: " + problem)
        row.update(name=values["Name"], settings=settings, updated=_now())
        return True


def _r_hook(daemon, h):
    store = daemon.endpoint_store
    with store.lock:
        row = next((r for r in store.rows if r["hook_id"] == h.params["hook_id"]), None)
        if row is None:
            raise _DaemonError(-400, "PluginDaemonBadRequestError", "endpoint not found", status=404)
        if not row["enabled"]:
            raise _DaemonError(-404, "PluginDaemonNotFoundError", "endpoint not found", status=404)
        if store.inner_api_down:
            raise _internal(DOWN, status=500)
        settings = dict(row["settings"])
        handler = store.hook_handler
    spool, _size = h.read_body()
    request = {"method": h.command, "path": h.params["path"], "hook_id": row["hook_id"],
               "query": urllib.parse.parse_qs(h.record.raw_query, keep_blank_values=True),
               "headers": dict(h.headers.items()), "body": spool.read(), "settings": settings}
    with store.lock:
        store.hook_requests.append(request)
    if handler is not None:
        status, headers, body = handler(request)
    else:
        echo = dict(request, body_text=request.pop("body").decode("utf-8", "replace"))
        status, headers, body = 200, [("Content-Type", "application/json")], json.dumps(echo, sort_keys=True)
    body = body.encode("utf-8") if isinstance(body, str) else body
    ctype = dict((k.lower(), v) for k, v in headers).get("content-type", JSON_CTYPE)
    h._prepare_finish()
    h._send_raw(status, body, ctype, [pair for pair in headers if pair[0].lower() != "content-type"])
    return _HANDLED


def register(router, daemon):
    daemon.endpoint_store = EndpointStore()
    add_routes(router, daemon, [
        ("POST", BASE + "/setup", _r_setup, True),
        ("GET", BASE + "/list", _r_list, True),
        ("GET", BASE + "/list/plugin", _r_list_plugin, True),
        ("POST", BASE + "/update", _r_update, True),
        ("POST", BASE + "/enable", _switch(True), True),
        ("POST", BASE + "/disable", _switch(False), True),
        ("POST", BASE + "/remove", _r_remove, True),
    ] + [(method, "/e/:hook_id/*path", _r_hook, False) for method in HOOK_METHODS])
