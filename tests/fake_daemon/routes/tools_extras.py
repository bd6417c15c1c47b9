"""Tool extras, OAuth, dynamic select, management additions, remote debugging and /v2 extract.

* dispatch (tenant and ``/v2`` paths, through :mod:`fake_daemon.dispatch`):
  ``oauth/get_authorization_url``, ``oauth/get_credentials``,
  ``oauth/refresh_credentials``, ``dynamic_select/fetch_parameter_options``;
* ``GET .../management/installation/ids?category=`` (0.6.10),
  ``GET .../management/:category/list`` (0.6.2; ``query``, ``tags``, ``language`` 0.6.10),
  ``GET .../management/models/bindings`` (0.6.10);
* ``POST .../debugging/key``: only while ``daemon.remote_installing`` is true (the
  daemon registers it only with PLUGIN_REMOTE_INSTALLING_ENABLED); one key per tenant;
* ``GET /v2/invoke/extract`` (0.6.1): a stored package's manifest by
  ``X-Plugin-Unique-Identifier``.

Routes a release does not have answer 404 ``route not found`` when ``daemon.version``
is older (the daemon's NoRoute).  The plugins' side of the dispatch routes is a small
emulation of the recorded test plugins (tests/transcripts/0.6.10-routes/{oauth,
dynamic_select}); tests replace it with ``FakeDaemon.set_dispatch_handler``.
Recorded ground truth: tests/transcripts/0.6.10-routes/{oauth,dynamic_select,
management,debugging,v2}.
"""

import binascii
import time
import urllib.parse
import uuid

from ..dispatch import DispatchRoute, identifier_header, register_dispatch_route
from ..server import _HANDLED, _Field
from ..wire import NOT_FOUND_BODY, FakePluginError, _bad_request, _go_value, _require_uuid
from .common import _TENANT, page_of

MGMT = "/plugin/:tenant_id/management"
CATEGORIES = ("tool", "model", "extension", "agent-strategy", "datasource", "trigger")
LANGUAGES = ("en_US", "zh_Hans", "ja_JP", "pt_BR")
PLUGIN_TAGS = frozenset(["search", "image", "videos", "weather", "finance", "design", "travel", "social",
                         "news", "medical", "productivity", "education", "business", "entertainment",
                         "utilities", "agent", "rag", "other", "trigger"])
PACKAGE_NOT_FOUND = "plugin package not found, please upload it firstly"
# Which section of a declaration makes its category, in Dify's order (else "extension").
_CATEGORY_SECTIONS = (("tool", "tool"), ("model", "model"), ("datasource", "datasource"),
                      ("agent_strategy", "agent-strategy"), ("trigger", "trigger"))

_IDS_FIELDS = [_TENANT, _Field("Category", "form", "category", "str", "required")]
_CATEGORY_LIST_FIELDS = [
    _TENANT,
    _Field("Category", "uri", "category", "str", "required"),
    _Field("Page", "form", "page", "int", "required,min=1"),
    _Field("PageSize", "form", "page_size", "int", "required,min=1,max=256"),
    _Field("Query", "form", "query", "str", "omitempty,max=256"),
    _Field("Tags", "form", "tags", "strs", "omitempty,max=128"),
    _Field("Language", "form", "language", "str", "omitempty"),
]
_CATEGORY_LIST_NS = "listPluginsByCategoryRequest."


def category_of(declaration):
    """The category Dify and the daemon derive from a declaration."""
    for section, category in _CATEGORY_SECTIONS:
        if declaration.get(section):
            return category
    return "extension"


# ---- the plugin's side of the dispatch routes -----------------------------------------


def _provider_section(call):
    """The tool provider, or the trigger provider's subscription constructor, the call names."""
    declaration = call.package.persisted if call.package is not None else {}
    provider = call.values["Data"]["Provider"]
    tool = declaration.get("tool") or {}
    if tool.get("identity", {}).get("name") == provider:
        return "tool", tool
    trigger = declaration.get("trigger") or {}
    if (trigger.get("identity") or {}).get("name") == provider:
        return "trigger", trigger
    raise FakePluginError("ValueError", "Provider `%s` not found" % provider, {})


def _oauth_schema(call):
    kind, section = _provider_section(call)
    schema = section.get("oauth_schema") if kind == "tool" else \
        (section.get("subscription_constructor") or {}).get("oauth_schema")
    if not schema:
        raise FakePluginError("ValueError", "Provider `%s` does not support OAuth"
                              % call.values["Data"]["Provider"], {})
    return schema


def _authorization_url(call):
    _oauth_schema(call)
    data = call.data
    client_id = (data.get("system_credentials") or {}).get("client_id", "")
    query = urllib.parse.urlencode([("client_id", client_id), ("redirect_uri", data.get("redirect_uri", "")),
                                    ("response_type", "code"), ("state", "fake-state")])
    yield {"authorization_url": "https://auth.example.invalid/authorize?" + query}


def _callback_code(raw_hex):
    """``code`` from the request line of the hex-encoded callback request."""
    try:
        raw = binascii.unhexlify(raw_hex)
    except (binascii.Error, ValueError):
        raise FakePluginError("Error", "Non-hexadecimal digit found", {})
    request_line = raw.split(b"\r\n", 1)[0].decode("latin-1")
    parts = request_line.split(" ")
    target = parts[1] if len(parts) > 1 else ""
    codes = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query).get("code")
    if not codes:
        raise FakePluginError("ToolProviderOAuthError", "no ?code= in the callback request", {})
    return codes[0]


def _credentials(call):
    _oauth_schema(call)
    code = _callback_code(call.data.get("raw_http_request", ""))
    yield {"credentials": {"access_token": "at-" + code, "refresh_token": "rt-" + code},
           "expires_at": int(time.time()) + 3600}


def _refresh(call):
    _oauth_schema(call)
    refresh_token = (call.data.get("credentials") or {}).get("refresh_token", "")
    yield {"credentials": {"access_token": "at-refreshed-" + refresh_token, "refresh_token": refresh_token},
           "expires_at": int(time.time()) + 7200}


def _dynamic_parameters(call):
    """The parameters of what ``provider_action`` names: a tool, ``provider`` (a trigger's
    subscription constructor) or a trigger event."""
    kind, section = _provider_section(call)
    action = call.values["Data"]["ProviderAction"]
    if kind == "tool":
        for tool in section.get("tools") or []:
            if tool.get("identity", {}).get("name") == action:
                return tool.get("parameters") or []
    elif action == "provider":
        return (section.get("subscription_constructor") or {}).get("parameters") or []
    else:
        for event in section.get("events") or []:
            if (event.get("identity") or {}).get("name") == action:
                return event.get("parameters") or []
    raise FakePluginError("ValueError", "Cannot find the target to fetch parameter options", {})


def _options(call):
    """Two options for a declared dynamic-select parameter, labelled in the four languages
    as the daemon's I18nObject fills them."""
    name = call.values["Data"]["Parameter"]
    declared = [p for p in _dynamic_parameters(call) if p.get("name") == name]
    if not declared or declared[0].get("type") != "dynamic-select":
        raise FakePluginError("ValueError", "no dynamic options for parameter '%s'" % name, {})
    options = []
    for index in (1, 2):
        text = "%s %d" % (name, index)
        options.append({"value": "%s-%d" % (name, index),
                        "label": dict((lang, text) for lang in ("en_US", "ja_JP", "zh_Hans", "pt_BR")),
                        "icon": ""})
    yield {"options": options}


_OAUTH_FIELDS = [
    _Field("Provider", "json", "provider", "str", "required"),
    _Field("RedirectURI", "json", "redirect_uri", "str", "required"),
]
AUTHORIZATION_URL = DispatchRoute("oauth/get_authorization_url", "RequestOAuthGetAuthorizationURL",
                                  _OAUTH_FIELDS, handler=_authorization_url)
GET_CREDENTIALS = DispatchRoute("oauth/get_credentials", "RequestOAuthGetCredentials", _OAUTH_FIELDS + [
    _Field("RawHttpRequest", "json", "raw_http_request", "str", "required"),
], handler=_credentials)
REFRESH_CREDENTIALS = DispatchRoute("oauth/refresh_credentials", "RequestOAuthRefreshCredentials",
                                    _OAUTH_FIELDS + [
                                        _Field("Credentials", "json", "credentials", "map", "required"),
                                    ], handler=_refresh)
DYNAMIC_SELECT = DispatchRoute("dynamic_select/fetch_parameter_options", "RequestDynamicParameterSelect", [
    _Field("Credentials", "json", "credentials", "map", "required"),
    _Field("Provider", "json", "provider", "str", "required"),
    _Field("ProviderAction", "json", "provider_action", "str", "required"),
    _Field("Parameter", "json", "parameter", "str", "required"),
], handler=_options)


# ---- management additions ---------------------------------------------------------------


def _since(daemon, h, release):
    """False (after answering the NoRoute 404) when ``daemon.version`` predates the route."""
    if daemon.release_at_least(*release):
        return True
    h.send_body(404, NOT_FOUND_BODY)
    return False


def _tenant_rows(daemon, tenant):
    """The tenant's installations with their declarations, newest first."""
    rows = sorted(daemon._installations.get(tenant, []), key=lambda row: row["created"], reverse=True)
    return [(row, daemon._declaration_for(row)) for row in rows]


def _r_installation_ids(daemon, h):
    if not _since(daemon, h, (0, 6, 10)):
        return _HANDLED
    values = h.bind(_IDS_FIELDS)
    tenant = _require_uuid(values["TenantID"])
    category = values["Category"]
    if category not in CATEGORIES:
        raise _bad_request("invalid plugin category")
    with daemon._lock:
        ids = []
        for row, declaration in _tenant_rows(daemon, tenant):
            if category_of(declaration) == category and row["plugin_id"] not in ids:
                ids.append(row["plugin_id"])
    return {"plugin_ids": ids}


def _matches(row, declaration, query, tags, language):
    if tags and not set(tags) & set(declaration.get("tags") or []):
        return False
    if not query:
        return True
    texts = [row["plugin_id"], declaration.get("name", "")]
    for field in ("label", "description"):
        value = declaration.get(field) or {}
        texts.append(value.get(language or "en_US") or value.get("en_US", ""))
    return any(query.lower() in text.lower() for text in texts)


def _check_category_filters(values):
    """The 0.6.10 validation of the filters (HTTP 400 with go-playground's lines)."""
    problems = []
    if values["Language"] and values["Language"] not in LANGUAGES:
        problems.append(("Language", "Language", "oneof"))
    for index, tag in enumerate(values["Tags"] or []):
        if tag not in PLUGIN_TAGS:
            problems.append(("Tags[%d]" % index, "Tags[%d]" % index, "plugin_tag"))
    if problems:
        raise _bad_request("\n".join("Key: '%s%s' Error:Field validation for '%s' failed on the '%s' tag"
                                     % (_CATEGORY_LIST_NS, key, field, tag)
                                     for key, field, tag in problems), status=400)


def _r_category_list(daemon, h):
    if not _since(daemon, h, (0, 6, 2)):
        return _HANDLED
    values = h.bind(_CATEGORY_LIST_FIELDS)
    filtering = daemon.release_at_least(0, 6, 10)   # earlier releases do not read the filters
    if filtering:
        _check_category_filters(values)
    tenant = _require_uuid(values["TenantID"])
    if values["Category"] not in CATEGORIES:
        raise _bad_request("invalid plugin category")
    query, tags, language = (values["Query"], values["Tags"], values["Language"]) if filtering else ("", [], "")
    with daemon._lock:
        matches = [daemon._list_entry(row) for row, declaration in _tenant_rows(daemon, tenant)
                   if category_of(declaration) == values["Category"]
                   and _matches(row, declaration, query, tags, language)]
    return {"list": page_of(matches, values), "has_more": len(matches) > values["Page"] * values["PageSize"]}


def _r_model_bindings(daemon, h):
    if not _since(daemon, h, (0, 6, 10)):
        return _HANDLED
    values = h.bind([_TENANT])
    tenant = _require_uuid(values["TenantID"])
    with daemon._lock:
        rows = []
        for row, declaration in _tenant_rows(daemon, tenant):
            model = declaration.get("model")
            if not isinstance(model, dict):
                continue
            rows.append({
                "provider": model.get("provider", ""), "installation_id": row["id"],
                "plugin_id": row["plugin_id"], "plugin_unique_identifier": row["plugin_unique_identifier"],
                "runtime_type": row["runtime_type"], "source": row["source"],
                "version": declaration.get("version", ""), "verified": bool(declaration.get("verified")),
            })
    return rows


# ---- remote debugging and /v2 extract ------------------------------------------------------


def _r_debugging_key(daemon, h, keys):
    if not getattr(daemon, "remote_installing", True):
        h.send_body(404, NOT_FOUND_BODY)   # the daemon registers no such route then
        return _HANDLED
    tenant = h.params.get("tenant_id", "")
    with daemon._lock:
        key = keys.setdefault(tenant, str(uuid.uuid4()))
    return {"key": key}


def _r_extract(daemon, h):
    if not _since(daemon, h, (0, 6, 1)):
        return _HANDLED
    identifier = identifier_header(h)
    with daemon._lock:
        package = daemon._packages.get(identifier)
    if package is None:
        raise _bad_request(PACKAGE_NOT_FOUND)
    return {"manifest": package.original, "unique_identifier": identifier,
            "verification": _go_value(package.verification)}


def register(router, daemon):
    if not hasattr(daemon, "remote_installing"):
        daemon.remote_installing = True
    keys = {}
    for method, pattern, handler in (
            ("GET", MGMT + "/installation/ids", _r_installation_ids),
            ("GET", MGMT + "/:category/list", _r_category_list),
            ("GET", MGMT + "/models/bindings", _r_model_bindings),
            ("GET", "/v2/invoke/extract", _r_extract)):
        router.add(method, pattern, _bound(handler, daemon), True)
    router.add("POST", "/plugin/:tenant_id/debugging/key",
               lambda h: _r_debugging_key(daemon, h, keys), True)
    for route in (AUTHORIZATION_URL, GET_CREDENTIALS, REFRESH_CREDENTIALS, DYNAMIC_SELECT):
        register_dispatch_route(router, daemon, route)


def _bound(handler, daemon):
    return lambda h: handler(daemon, h)

