"""What agent strategy, datasource, trigger and endpoint routes share: declarations.

The daemon keeps a plugin's declaration with every member file inlined: an agent
strategy provider's ``strategies``, a datasource provider's ``datasources``, a trigger
provider's ``events`` and an endpoint group's ``endpoints`` are lists of objects, not of
file names, and ``extra`` (the Python source) is dropped.  :func:`declaration` builds that
from a stored package; :func:`register_listing` serves the two management routes of a
provider kind (``GET .../management/<plural>?page&page_size`` and
``GET .../management/<singular>?plugin_id&provider``), answered like the tool routes:
the installation row plus ``declaration`` (and ``meta`` for agent strategies).
Recorded ground truth: tests/transcripts/0.6.10-routes/{agent,datasource,trigger}/.
"""

from ..packages import _i18n, _norm_config_list, _opt_i18n, _yaml_load
from ..server import _Field
from ..wire import _go_time, _go_value, _plugin_not_found, _require_uuid
from .common import _PAGE_FIELDS, _TENANT, add_routes, page_of

MGMT = "/plugin/:tenant_id/management"

#: section of the declaration -> the list of member files in it
_MEMBERS = {"agent_strategy": "strategies", "datasource": "datasources", "trigger": "events",
            "endpoint": "endpoints"}
_GET_FIELDS = [
    _TENANT,
    _Field("PluginID", "form", "plugin_id", "str", "required"),
    _Field("Provider", "form", "provider", "str", "required"),
]


def _norm_parameter(raw):
    """A strategy, datasource or event parameter, with the keys the daemon writes."""
    raw = raw if isinstance(raw, dict) else {}
    options = raw.get("options")
    if isinstance(options, list):
        options = [{"value": str((o or {}).get("value", "")), "label": _i18n((o or {}).get("label"))}
                   for o in options if isinstance(o, dict)]
    else:
        options = None
    out = {"name": str(raw.get("name", "")), "label": _i18n(raw.get("label")),
           "type": str(raw.get("type", "")), "scope": raw.get("scope"),
           "required": bool(raw.get("required", False)), "auto_generate": raw.get("auto_generate"),
           "template": raw.get("template"), "default": _go_value(raw.get("default")),
           "min": raw.get("min"), "max": raw.get("max"), "precision": raw.get("precision"),
           "options": options}
    if "help" in raw:
        out["help"] = _opt_i18n(raw.get("help"))
    if "description" in raw:
        out["description"] = _opt_i18n(raw.get("description"))
    return out


def _norm_member(section, raw):
    raw = dict(raw)
    raw.pop("extra", None)
    if section == "endpoint":
        return {"path": str(raw.get("path", "")), "method": str(raw.get("method", "")),
                "hidden": bool(raw.get("hidden", False))}
    if isinstance(raw.get("parameters"), list):
        raw["parameters"] = [_norm_parameter(p) for p in raw["parameters"]]
    return _go_value(raw)


def declaration(package, section):
    """The package's ``section`` declaration as the daemon stores it, or None."""
    raw = package.persisted.get(section) if package is not None else None
    if not isinstance(raw, dict):
        return None
    out = dict(raw)
    out.pop("extra", None)
    members = []
    for item in raw.get(_MEMBERS[section]) or []:
        if isinstance(item, str) and item in package.files:
            item = _yaml_load(package.files[item], "plugin_entities.Declaration")
        if isinstance(item, dict):
            members.append(_norm_member(section, item))
    out[_MEMBERS[section]] = members
    for key in ("credentials_schema", "subscription_schema", "settings"):
        if key in out:
            out[key] = _norm_config_list(out[key])
    constructor = out.get("subscription_constructor")
    if isinstance(constructor, dict):
        constructor = dict(constructor)
        constructor["parameters"] = [_norm_parameter(p) for p in constructor.get("parameters") or []]
        constructor["credentials_schema"] = _norm_config_list(constructor.get("credentials_schema"))
        out["subscription_constructor"] = constructor
    if section != "endpoint":
        identity = dict(out.get("identity") or {})
        if not identity.get("tags"):
            identity["tags"] = list(package.persisted.get("tags") or [])
        out["identity"] = identity
    return out


def provider_rows(daemon, tenant, section):
    """The tenant's installations whose package declares ``section``."""
    rows = []
    for row in daemon._installations.get(tenant, []):
        package = daemon._packages.get(row["plugin_unique_identifier"])
        if declaration(package, section) is not None:
            rows.append(row)
    return rows


def _entry(daemon, row, section, with_meta):
    package = daemon._packages.get(row["plugin_unique_identifier"])
    decl = declaration(package, section)
    entry = {"id": row["tool_row_id"], "created_at": _go_time(row["tool_created"]),
             "updated_at": _go_time(row["tool_created"]), "tenant_id": row["tenant_id"],
             "provider": (decl.get("identity") or {}).get("name", ""),
             "plugin_unique_identifier": row["plugin_unique_identifier"],
             "plugin_id": row["plugin_id"], "declaration": decl}
    if with_meta:
        entry["meta"] = package.persisted.get("meta")
    return entry


def register_listing(router, daemon, plural, singular, section, with_meta=False):
    """Serve ``management/<plural>`` (paged) and ``management/<singular>`` (one)."""

    def listing(daemon_, h):
        values = h.bind(_PAGE_FIELDS)
        tenant = _require_uuid(values["TenantID"])
        with daemon_._lock:
            rows = provider_rows(daemon_, tenant, section)
            return [_entry(daemon_, row, section, with_meta) for row in page_of(rows, values)]

    def one(daemon_, h):
        values = h.bind(_GET_FIELDS)
        tenant = _require_uuid(values["TenantID"])
        with daemon_._lock:
            for row in provider_rows(daemon_, tenant, section):
                if row["plugin_id"] == values["PluginID"]:
                    entry = _entry(daemon_, row, section, with_meta)
                    if entry["provider"] == values["Provider"]:
                        return entry
        raise _plugin_not_found()

    add_routes(router, daemon, [("GET", MGMT + "/" + plural, listing, True),
                                ("GET", MGMT + "/" + singular, one, True)])


def member_names(call, section):
    """(provider name, names of its members) of the dispatched plugin's declaration."""
    decl = declaration(call.package, section) or {}
    names = [(m.get("identity") or {}).get("name") for m in decl.get(_MEMBERS[section]) or []]
    return (decl.get("identity") or {}).get("name"), names
