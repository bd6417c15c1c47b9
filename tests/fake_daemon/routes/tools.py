"""Tool routes: provider discovery (management) and the three tool dispatch routes (tools.md).

* ``GET .../management/tools``, ``GET .../management/tool``,
  ``POST .../management/tools/check_existence``;
* ``tool/invoke``, ``tool/validate_credentials``, ``tool/get_runtime_parameters``,
  served by the generic dispatch mechanism (``dispatch.py``), under
  ``/plugin/:tenant_id/dispatch/`` and ``/v2/invoke/dispatch/``.

``tool/invoke`` runs the handler set with ``FakeDaemon.set_tool_handler`` for
the (plugin, provider, tool), else echoes ``tool_parameters`` back as text when
the plugin declares the tool, else fails the way the SDK does
(``Tool `x` not found for provider `y```).  Its chunks are checked like the
daemon's ToolResponseChunk decoding (:func:`_chunk_event`).
"""

import json

from ..dispatch import DispatchRoute, register_dispatch_route
from ..server import _Field
from ..wire import (
    FakePluginError,
    _daemon_stream_error,
    _go_time,
    _go_value,
    _plugin_not_found,
    _require_uuid,
    go_json,
)
from .common import _PAGE_FIELDS, _TENANT, add_routes, page_of

MGMT = "/plugin/:tenant_id/management"

TOOL_CHUNK_TYPES = frozenset([
    "text", "file", "blob", "blob_chunk", "json", "link", "image", "image_link",
    "binary_link", "variable", "log", "retriever_resources",
])

_TOOL_FIELDS = [
    _TENANT,
    _Field("PluginID", "form", "plugin_id", "str", "required"),
    _Field("Provider", "form", "provider", "str", "required"),
]
_CHECK_FIELDS = [_TENANT, _Field("ProviderIDS", "json", "provider_ids", "structs", "required,dive", sub=[
    _Field("PluginID", "json", "plugin_id", "str", "required"),
    _Field("ProviderName", "json", "provider_name", "str", "required"),
])]


# ---- provider discovery ------------------------------------------------------


def _tool_entry(daemon, row):
    declaration = daemon._declaration_for(row)
    tool = declaration.get("tool") or {}
    return {
        "id": row["tool_row_id"],
        "created_at": _go_time(row["tool_created"]),
        "updated_at": _go_time(row["tool_created"]),
        "tenant_id": row["tenant_id"],
        "provider": tool.get("identity", {}).get("name", ""),
        "plugin_unique_identifier": row["plugin_unique_identifier"],
        "plugin_id": row["plugin_id"],
        "declaration": tool,
    }


def _tool_rows(daemon, tenant):
    rows = []
    for row in daemon._installations.get(tenant, []):
        package = daemon._packages.get(row["plugin_unique_identifier"])
        if package is not None and "tool" in package.persisted:
            rows.append(row)
    return rows


def _r_tools(daemon, h):
    values = h.bind(_PAGE_FIELDS)
    tenant = _require_uuid(values["TenantID"])
    with daemon._lock:
        rows = _tool_rows(daemon, tenant)
        return [_tool_entry(daemon, r) for r in page_of(rows, values)]


def _r_tool(daemon, h):
    values = h.bind(_TOOL_FIELDS)
    tenant = _require_uuid(values["TenantID"])
    with daemon._lock:
        for row in _tool_rows(daemon, tenant):
            if row["plugin_id"] == values["PluginID"]:
                entry = _tool_entry(daemon, row)
                if entry["provider"] != values["Provider"]:
                    break
                return entry
    raise _plugin_not_found()


def _r_check_existence(daemon, h):
    values = h.bind(_CHECK_FIELDS)
    tenant = _require_uuid(values["TenantID"])
    with daemon._lock:
        known = set()
        for row in _tool_rows(daemon, tenant)[:256]:
            known.add((row["plugin_id"], _tool_entry(daemon, row)["provider"]))
        return [(p["PluginID"], p["ProviderName"]) in known for p in values["ProviderIDS"]]


# ---- dispatch ----------------------------------------------------------------


def _default_tool_handler(request):
    """Echo the received tool_parameters as JSON text (sorted keys, as parsed)."""
    params = (request.get("data") or {}).get("tool_parameters")
    text = json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    yield {"type": "text", "message": {"text": text}, "meta": None}


def _chunk_event(chunk):
    """Envelope bytes for one handler chunk (or an unmarshal_error event)."""
    if isinstance(chunk, dict) and chunk.get("type") == "__raw__":
        return go_json({"code": 0, "message": "success", "data": _go_value(chunk.get("data"))})
    if not isinstance(chunk, dict) or chunk.get("type") not in TOOL_CHUNK_TYPES:
        kind = chunk.get("type") if isinstance(chunk, dict) else type(chunk).__name__
        return _daemon_stream_error("unmarshal_error", "invalid tool response type: %s" % kind)
    for field in ("message", "meta"):
        if not isinstance(chunk.get(field), (dict, type(None))):
            return _daemon_stream_error(
                "unmarshal_error", "json: cannot unmarshal %s into Go struct field ToolResponseChunk.%s of type "
                "map[string]interface {}" % (type(chunk[field]).__name__, field))
    data = {"type": chunk["type"], "message": _go_value(chunk.get("message")), "meta": _go_value(chunk.get("meta"))}
    return go_json({"code": 0, "message": "success", "data": data})


def _invoke_tool(call):
    """The plugin side of tool/invoke: a handler set by the test, the echo, or the SDK's not-found errors."""
    daemon = call.daemon
    provider, tool = call.values["Data"]["Provider"], call.values["Data"]["Tool"]
    with daemon._lock:
        handler = daemon._tool_handlers.get((call.plugin_id, provider, tool))
    if handler is None:
        declaration = (call.package.persisted.get("tool") if call.package else None) or {}
        names = [t["identity"]["name"] for t in declaration.get("tools", [])]
        # the SDK reports these as a ValueError with empty args (s14, cli23)
        if declaration.get("identity", {}).get("name") != provider:
            raise FakePluginError("ValueError", "Provider `%s` not found" % provider, {})
        if tool not in names:
            raise FakePluginError("ValueError", "Tool `%s` not found for provider `%s`" % (tool, provider), {})
        handler = _default_tool_handler
    return handler(call.body)


def _validate_credentials(call):
    """Every credential is accepted."""
    return [{"result": True}]


def _runtime_parameters(call):
    raise ValueError("Tool `%s` does not implement runtime parameters" % call.values["Data"]["Tool"])


INVOKE = DispatchRoute("tool/invoke", "RequestInvokeTool", [
    _Field("Provider", "json", "provider", "str", "required", ns="InvokeToolSchema.Provider"),
    _Field("Tool", "json", "tool", "str", "required", ns="InvokeToolSchema.Tool"),
], handler=_invoke_tool, encode=_chunk_event)
VALIDATE_CREDENTIALS = DispatchRoute("tool/validate_credentials", "RequestValidateToolCredentials", [
    _Field("Provider", "json", "provider", "str", "required"),
], handler=_validate_credentials)
RUNTIME_PARAMETERS = DispatchRoute("tool/get_runtime_parameters", "RequestGetToolRuntimeParameters", [
    _Field("Provider", "json", "provider", "str", "required"),
    _Field("Tool", "json", "tool", "str", "required"),
], handler=_runtime_parameters)


def register(router, daemon):
    add_routes(router, daemon, [
        ("GET", MGMT + "/tools", _r_tools, True),
        ("GET", MGMT + "/tool", _r_tool, True),
        ("POST", MGMT + "/tools/check_existence", _r_check_existence, True),
    ])
    for route in (INVOKE, VALIDATE_CREDENTIALS, RUNTIME_PARAMETERS):
        register_dispatch_route(router, daemon, route)
