#!/usr/bin/env python3
"""A fake Dify Plugin Daemon for hermetic tests.

It speaks the daemon's HTTP API the way the Go service does (gin routing, the
``{"code","message","data"}`` envelope, JSON-in-JSON error messages, Go JSON
encoding, chunked ``text/event-stream`` dispatch streams) and keeps all state in
memory.  The contract it follows is ``shared/reference/daemon-api.md``,
``tools.md`` and ``real-daemon.md`` §7.

In-process use::

    with FakeDaemon(key="k") as daemon:
        pkg = sample_plugin()
        uid = daemon.add_package({...})          # or upload over HTTP
        ...  # point the client at daemon.url

As a separate process (benchmarks, memory tests)::

    python tests/fake_daemon.py --host 127.0.0.1 --port 0 --key K
    # prints "URL http://127.0.0.1:PORT" and serves until SIGTERM / SIGINT

Standard library only, plus PyYAML for the YAML files inside packages.
Works on Python 3.8 through 3.13.
"""

import argparse
import base64
import datetime
import email.message
import email.utils
import hashlib
import http.server
import io
import json
import math
import os
import re
import signal
import socket
import socketserver
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import uuid
import zipfile
import zlib
from http import HTTPStatus

import yaml

__all__ = [
    "FakeDaemon",
    "FakePluginError",
    "RecordedRequest",
    "blob_chunks",
    "build_package",
    "go_json",
    "package_identifier",
    "sample_plugin",
]


# --------------------------------------------------------------------------
# Constants (daemon defaults and wire facts; see daemon-api.md)
# --------------------------------------------------------------------------

DEFAULT_MAX_PACKAGE_SIZE = 52428800      # MAX_PLUGIN_PACKAGE_SIZE
DEFAULT_MAX_BUNDLE_SIZE = 629145600      # MAX_BUNDLE_PACKAGE_SIZE
SPOOL_LIMIT = 1 << 20                    # request bodies above this go to a temp file
RECORD_BODY_LIMIT = 1 << 20              # RecordedRequest.body keeps bodies up to this
DRAIN_LIMIT = 256 << 10                  # Go discards at most this much of an unread body
IO_BLOCK = 64 << 10                      # socket read size
SCAN_BLOCK = 1 << 20                     # multipart boundary scan window
TASK_MESSAGE_LIMIT = 1024                # install task messages longer than this are cut

IDENTIFIER_RE = re.compile(
    r"^(?:([a-z0-9_-]{1,64})/)?([a-z0-9_-]{1,255}):([0-9]{1,4})(\.[0-9]{1,4}){1,3}"
    r"(-\w{1,16})?@[a-f0-9]{32,64}$",
    re.ASCII,
)
AUTHOR_RE = re.compile(r"^[a-z0-9_-]{1,64}$")
PLUGIN_NAME_RE = re.compile(r"^[a-z0-9_-]{1,128}$")
PG_UUID_RE = re.compile(
    r"^\{?[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\}?$"
)
README_LANG_RE = re.compile(r"^README_([a-z]{2}_[A-Za-z]{2,})\.md$")

TOOL_CHUNK_TYPES = frozenset([
    "text", "file", "blob", "blob_chunk", "json", "link", "image", "image_link",
    "binary_link", "variable", "log", "retriever_resources",
])

UNAUTHORIZED_BODY = (
    b'{"code":-401,"message":"{\\"message\\":\\"unauthorized\\",\\"error_type\\":'
    b'\\"PluginDaemonUnauthorizedError\\",\\"args\\":null}","data":null}'
)
NOT_FOUND_BODY = b'{"code":"not_found","message":"route not found"}'
JSON_CTYPE = "application/json; charset=utf-8"

BAD_SIGNATURE = (
    "plugin verification has been enabled, and the plugin you want to install has a bad signature"
)
UNAUTHORIZED_LANGGENIUS = (
    "the plugin claims to be from langgenius but it is not signed by langgenius\n"
    "if you want to install it anyway, set ENFORCE_LANGGENIUS_PLUGIN_SIGNATURES=false"
)
DISPATCH_NS = (
    "InvokePluginRequest[github.com/langgenius/dify-plugin-daemon/pkg/entities/"
    "requests.{0}].Data"
)


# --------------------------------------------------------------------------
# Go-compatible JSON and time formatting
# --------------------------------------------------------------------------

def go_json(value):
    """Encode ``value`` the way Go's encoding/json does; returns bytes.

    Compact separators, no trailing newline, UTF-8 kept as is, and ``<``, ``>``,
    ``&``, U+2028, U+2029 escaped.  Key order is the dict's own order: use
    :func:`_go_value` first for values that Go holds as ``map[string]any``.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    text = (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
    return text.encode("utf-8", "replace")


def _go_number(value):
    """A number as it comes back out of a Go float64."""
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value) and abs(value) < 1e21:
            return int(value)
        return value
    if abs(value) > 2 ** 53:
        as_float = float(value)
        return int(as_float) if abs(as_float) < 1e21 else as_float
    return value


def _go_value(value):
    """Normalise a free-form value as Go's ``map[string]any`` round trip does.

    Map keys are sorted, numbers pass through float64 (so ``1.0`` becomes ``1``).
    """
    if isinstance(value, dict):
        return dict((str(k), _go_value(value[k])) for k in sorted(value, key=str))
    if isinstance(value, (list, tuple)):
        return [_go_value(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return _go_number(value)
    return str(value)


_clock_lock = threading.Lock()
_clock_last = [None]


def _now():
    """Current UTC time, strictly increasing (so ``created_at`` orders are stable)."""
    with _clock_lock:
        now = datetime.datetime.now(datetime.timezone.utc)
        last = _clock_last[0]
        if last is not None and now <= last:
            now = last + datetime.timedelta(microseconds=1)
        _clock_last[0] = now
        return now


def _go_time(moment):
    """Format a datetime as Go's time.Time JSON (RFC 3339, trimmed fraction)."""
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += ("." + "%06d" % moment.microsecond).rstrip("0")
    offset = moment.utcoffset()
    if not offset:
        return text + "Z"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return text + "%s%02d:%02d" % (sign, minutes // 60, minutes % 60)


_YAML_TIME_RE = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[Tt ]+(\d{1,2}):(\d{2}):(\d{2})(\.\d+)?)?"
    r"\s*(Z|z|[+-]\d{1,2}(?::?\d{2})?)?$"
)


def _go_time_text(value):
    """Render a manifest ``created_at`` the way the daemon re-emits it."""
    if value is None or value == "":
        return "0001-01-01T00:00:00Z"
    match = _YAML_TIME_RE.match(str(value).strip())
    if not match:
        raise _PkgError('parsing time "%s" as "2006-01-02T15:04:05Z07:00": cannot parse' % value)
    year, month, day, hour, minute, second, frac, zone = match.groups()
    text = "%04d-%02d-%02dT%02d:%02d:%02d" % (
        int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    if frac:
        digits = frac[1:10].rstrip("0")
        if digits:
            text += "." + digits
    if not zone or zone in ("Z", "z"):
        return text + "Z"
    sign, digits = zone[0], zone[1:].replace(":", "")
    if len(digits) <= 2:
        hours, mins = int(digits), 0
    else:
        hours, mins = int(digits[:-2]), int(digits[-2:])
    if hours == 0 and mins == 0:
        return text + "Z"      # Go's "Z07:00" layout prints Z for a zero offset
    return text + "%s%02d:%02d" % (sign, hours, mins)


def _uuid7():
    """A UUID version 7 string, like the daemon's row ids."""
    millis = int(time.time() * 1000) & ((1 << 48) - 1)
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis << 80) | (0x7 << 76) | (((rand >> 62) & 0xFFF) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def _is_pg_uuid(value):
    return bool(PG_UUID_RE.match(value or "")) and value.count("{") == value.count("}")


def _canonical_uuid(value):
    return str(uuid.UUID(value.strip("{}")))


# --------------------------------------------------------------------------
# Errors: the envelope and error_type values of daemon-api.md §2
# --------------------------------------------------------------------------

class FakePluginError(Exception):
    """Raise from a tool handler to make the plugin report an error.

    It arrives as the stream's final event: a ``PluginInvokeError`` whose inner
    message is ``{"args":..,"error_type":..,"message":..}`` (keys sorted).
    """

    def __init__(self, error_type, message, args=None):
        Exception.__init__(self, message)
        self.error_type = error_type
        self.message = message
        self.error_args = args   # (Exception.args is taken: it is always a tuple)


class _DaemonError(Exception):
    """An error envelope: HTTP status, negative code, error_type, message."""

    def __init__(self, code, error_type, message, status=200):
        Exception.__init__(self, message)
        self.code = code
        self.error_type = error_type
        self.message = message
        self.status = status

    def body(self):
        return _error_body(self.code, self.error_type, self.message)


class _PkgError(Exception):
    """A package or manifest decoding failure (message as the daemon words it)."""


class _ClientGone(Exception):
    """The client closed the connection or sent a truncated body."""


def _error_body(code, error_type, message):
    inner = go_json({"message": message, "error_type": error_type, "args": None}).decode("utf-8")
    return go_json({"code": code, "message": inner, "data": None})


def _bad_request(message, status=200):
    return _DaemonError(-400, "PluginDaemonBadRequestError", message, status)


def _internal(message, status=200):
    return _DaemonError(-500, "PluginDaemonInternalServerError", message, status)


def _daemon_not_found(message):
    return _DaemonError(-404, "PluginDaemonNotFoundError", message)


def _plugin_not_found(status=200):
    return _DaemonError(-404, "PluginNotFoundError", "plugin not found", status)


def _uuid_error(value, status=200):
    return _internal('ERROR: invalid input syntax for type uuid: "%s" (SQLSTATE 22P02)' % value, status)


def _require_uuid(value, status=200):
    """Postgres rejects non-UUID values for uuid columns; the daemon passes that on."""
    if not _is_pg_uuid(value):
        raise _uuid_error(value, status)
    return _canonical_uuid(value)


# --------------------------------------------------------------------------
# Request binding and go-playground style validation
# --------------------------------------------------------------------------

_MISSING = object()


class _Field(object):
    """One field of a Go request struct.

    ``source`` is ``uri``, ``json`` or ``form`` (the struct tag kind), ``key`` the
    tag value, ``kind`` one of str, int, strs, map, maps, struct, structs, and
    ``rules`` the ``validate`` tag.  ``ns`` overrides the namespace segment.
    """

    def __init__(self, name, source, key, kind, rules="", sub=None, ns=None, alt_keys=()):
        self.name = name
        self.source = source
        self.key = key
        self.kind = kind
        self.rules = [r for r in rules.split(",") if r]
        self.sub = sub or []
        self.ns = ns or name
        self.alt_keys = alt_keys


def _zero(kind):
    return {"str": "", "int": 0}.get(kind)


def _is_zero(kind, value):
    if kind == "str":
        return value == ""
    if kind == "int":
        return value == 0
    if kind == "struct":
        return False
    return value is None


def _json_lookup(obj, key):
    """Go's JSON field matching: exact key first, then case-insensitive."""
    if key in obj:
        return obj[key]
    lowered = key.lower()
    for name, value in obj.items():
        if name.lower() == lowered:
            return value
    return _MISSING


def _json_convert(field, value):
    """Convert a decoded JSON value into the Go field kind (type errors give zero)."""
    kind = field.kind
    if value is None:
        return _zero(kind) if kind != "struct" else _bind_json_struct(field.sub, {})
    if kind == "str":
        return value if isinstance(value, str) else ""
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool) and -2 ** 63 <= value < 2 ** 63:
            return value
        return 0
    if kind == "strs":
        if not isinstance(value, list):
            return None
        return [v if isinstance(v, str) else "" for v in value]
    if kind == "map":
        return value if isinstance(value, dict) else None
    if kind == "maps":
        if not isinstance(value, list):
            return None
        return [v if isinstance(v, dict) else None for v in value]
    if kind == "struct":
        return _bind_json_struct(field.sub, value if isinstance(value, dict) else {})
    if kind == "structs":
        if not isinstance(value, list):
            return None
        return [_bind_json_struct(field.sub, v if isinstance(v, dict) else {}) for v in value]
    return value


def _bind_json_struct(fields, obj):
    values = {}
    for field in fields:
        if field.source == "uri":
            values[field.name] = _zero(field.kind)
            continue
        key = field.key if field.source == "json" else field.name
        raw = _json_lookup(obj, key)
        values[field.name] = _zero(field.kind) if raw is _MISSING else _json_convert(field, raw)
    return values


_GO_INT_RE = re.compile(r"^[+-]?[0-9]+$")


def _bind_form(fields, form):
    """gin's form mapping: form tag or Go field name; stops at the first bad value."""
    values = dict((f.name, _zero(f.kind) if f.kind != "struct" else _bind_json_struct(f.sub, {}))
                  for f in fields)
    for field in fields:
        if field.source == "uri":
            continue
        keys = [field.key if field.source == "form" else field.name] + list(field.alt_keys)
        found = None
        for key in keys:
            if form.get(key):
                found = form[key]
                break
        if found is None:
            continue
        if field.kind == "str":
            values[field.name] = found[0]
        elif field.kind == "int":
            text = found[0] or "0"
            if not _GO_INT_RE.match(text) or not -2 ** 63 <= int(text) < 2 ** 63:
                break
            values[field.name] = int(text)
        elif field.kind == "strs":
            values[field.name] = list(found)
    return values


def _rule_ok(rule, param, kind, value):
    if rule == "required":
        return not _is_zero(kind, value)
    if rule in ("min", "max"):
        limit = int(param)
        if kind == "int":
            measure = value
        elif kind == "str":
            measure = len(value)
        else:
            measure = len(value or [])
        return measure >= limit if rule == "min" else measure <= limit
    if rule == "plugin_unique_identifier":
        return bool(IDENTIFIER_RE.match(value or ""))
    return True


def _validation_message(namespace, field, tag):
    return "Key: '%s' Error:Field validation for '%s' failed on the '%s' tag" % (namespace, field, tag)


def _validate(fields, values, prefix=""):
    """Run the ``validate`` tags in field order; returns go-playground error lines."""
    errors = []
    for field in fields:
        _validate_field(field, values.get(field.name), prefix + field.ns, field.name, errors)
    return errors


def _validate_field(field, value, namespace, name, errors, kind=None, rules=None):
    kind = kind or field.kind
    rules = field.rules if rules is None else rules
    for index, tag in enumerate(rules):
        if tag == "omitempty":
            if _is_zero(kind, value):
                return
            continue
        if tag == "dive":
            _validate_dive(field, value, namespace, name, rules[index + 1:], errors)
            return
        rule, _, param = tag.partition("=")
        if not _rule_ok(rule, param, kind, value):
            errors.append(_validation_message(namespace, name, rule))
            return
    if kind == "struct":
        errors.extend(_validate(field.sub, value or {}, namespace + "."))


def _validate_dive(field, value, namespace, name, element_rules, errors):
    for position, element in enumerate(value or []):
        if field.kind == "structs":
            errors.extend(_validate(field.sub, element, "%s[%d]." % (namespace, position)))
        else:
            _validate_field(field, element, "%s[%d]" % (namespace, position),
                            "%s[%d]" % (name, position), errors, kind="str", rules=element_rules)


# --------------------------------------------------------------------------
# YAML loading with Go yaml.v3 scalar rules
# --------------------------------------------------------------------------

class _GoYamlLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core scalars: no yes/no booleans, no sexagesimal
    ints, timestamps kept as strings (as yaml.v3 does for ``any`` fields)."""


def _setup_yaml_loader():
    dropped = set([
        "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int",
        "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp",
    ])
    resolvers = {}
    for first, items in yaml.SafeLoader.yaml_implicit_resolvers.items():
        kept = [(tag, rx) for tag, rx in items if tag not in dropped]
        if kept:
            resolvers[first] = kept
    _GoYamlLoader.yaml_implicit_resolvers = resolvers
    _GoYamlLoader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
    _GoYamlLoader.add_implicit_resolver(
        "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
        list("-+0123456789"))
    _GoYamlLoader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                   r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
        list("-+0123456789."))


_setup_yaml_loader()


def _yaml_load(data, type_name):
    """Parse YAML bytes; the top level must be a mapping (a Go struct)."""
    try:
        value = yaml.load(data, Loader=_GoYamlLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else 0
        raise _PkgError("yaml: line %d: %s" % (line, exc.problem or exc.context or "invalid yaml"))
    except yaml.YAMLError as exc:
        raise _PkgError("yaml: %s" % exc)
    if value is None:
        return {}
    if not isinstance(value, dict):
        tag = "!!seq" if isinstance(value, list) else "!!str"
        raise _PkgError("yaml: unmarshal errors:\n  line 1: cannot unmarshal %s into %s" % (tag, type_name))
    return value


# --------------------------------------------------------------------------
# Declaration normalisation: YAML -> the JSON shapes of daemon-api.md §5
# --------------------------------------------------------------------------

def _as_str(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _opt_str(value):
    return None if value is None else _as_str(value)


_YAML_TRUE = frozenset(["y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE"])


def _as_bool(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value in _YAML_TRUE
    return bool(value)


def _as_int(value):
    if isinstance(value, bool) or value is None:
        return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _opt_int(value):
    return None if value is None else _as_int(value)


def _opt_float(value):
    if value is None or isinstance(value, bool):
        return None
    try:
        return _go_number(float(value))
    except (TypeError, ValueError):
        return None


def _as_dict(value):
    return value if isinstance(value, dict) else {}


def _str_list(value):
    if value is None:
        return None
    if not isinstance(value, list):
        value = [value]
    return [_as_str(v) for v in value]


def _i18n(value):
    """I18nObject: en_US always present, other languages only when non-empty."""
    if isinstance(value, str):
        return {"en_US": value}
    value = _as_dict(value)
    out = {"en_US": _as_str(value.get("en_US"))}
    for lang in ("zh_Hans", "ja_JP", "pt_BR"):
        text = _as_str(value.get(lang))
        if text:
            out[lang] = text
    return out


def _opt_i18n(value):
    return None if value is None else _i18n(value)


def _permission(raw):
    out = {}
    for name in ("tool", "model", "node", "endpoint", "app", "storage"):
        if raw.get(name) is None:
            continue
        item = _as_dict(raw[name])
        if name == "model":
            out[name] = dict((k, _as_bool(item.get(k))) for k in (
                "enabled", "llm", "text_embedding", "rerank", "tts", "speech2text", "moderation"))
        elif name == "storage":
            out[name] = {"enabled": _as_bool(item.get("enabled")), "size": _as_int(item.get("size"))}
        else:
            out[name] = {"enabled": _as_bool(item.get("enabled"))}
    return out


def _norm_manifest(raw):
    """The flat PluginDeclaration of §5.2 (without the provider sections)."""
    resource = _as_dict(raw.get("resource"))
    resource_out = {"memory": _as_int(resource.get("memory"))}
    if resource.get("permission") is not None:
        resource_out["permission"] = _permission(_as_dict(resource.get("permission")))
    plugins = _as_dict(raw.get("plugins"))
    meta = _as_dict(raw.get("meta"))
    runner = _as_dict(meta.get("runner"))
    decl = {
        "version": _as_str(raw.get("version")),
        "type": _as_str(raw.get("type")),
        "author": _as_str(raw.get("author")),
        "name": _as_str(raw.get("name")),
        "label": _i18n(raw.get("label")),
        "description": _i18n(raw.get("description")),
        "icon": _as_str(raw.get("icon")),
        "icon_dark": _as_str(raw.get("icon_dark")),
        "resource": resource_out,
        "plugins": dict((k, _str_list(plugins.get(k))) for k in (
            "tools", "models", "endpoints", "agent_strategies", "datasources", "triggers")),
        "meta": {
            "version": _as_str(meta.get("version")),
            "arch": _str_list(meta.get("arch")),
            "runner": {
                "language": _as_str(runner.get("language")),
                "version": _as_str(runner.get("version")),
                "entrypoint": _as_str(runner.get("entrypoint")),
            },
            "minimum_dify_version": _opt_str(meta.get("minimum_dify_version")),
        },
        "tags": _str_list(raw.get("tags")) or [],
        "created_at": _go_time_text(raw.get("created_at")),
    }
    for optional in ("privacy", "repo"):
        if raw.get(optional) is not None:
            decl[optional] = _as_str(raw.get(optional))
    decl["verified"] = False
    return decl


def _norm_provider_config(raw, name=None):
    """ProviderConfig (credentials_schema / oauth_schema entries)."""
    raw = _as_dict(raw)
    options = raw.get("options")
    if isinstance(options, list):
        options = [{"value": _as_str(_as_dict(o).get("value")), "label": _i18n(_as_dict(o).get("label"))}
                   for o in options]
    else:
        options = None
    return {
        "name": _as_str(name if name is not None else raw.get("name")),
        "type": _as_str(raw.get("type")),
        "scope": _opt_str(raw.get("scope")),
        "required": _as_bool(raw.get("required")),
        "default": _go_value(raw.get("default")),
        "options": options,
        "multiple": _as_bool(raw.get("multiple")),
        "label": _i18n(raw.get("label")),
        "help": _opt_i18n(raw.get("help")),
        "url": _opt_str(raw.get("url")),
        "placeholder": _opt_i18n(raw.get("placeholder")),
    }


def _norm_config_list(raw):
    """credentials_for_provider may be a map (names from keys) or a list."""
    if isinstance(raw, dict):
        return [_norm_provider_config(v, name=k) for k, v in raw.items() if isinstance(v, dict)]
    if isinstance(raw, list):
        return [_norm_provider_config(v) for v in raw]
    return []


def _norm_param(raw):
    """ToolParameter with every key of tools.md §2.7 present."""
    raw = _as_dict(raw)
    options = raw.get("options")
    if isinstance(options, list):
        options = [{"value": _as_str(_as_dict(o).get("value")), "label": _i18n(_as_dict(o).get("label")),
                    "icon": _as_str(_as_dict(o).get("icon"))} for o in options]
    else:
        options = None
    auto = raw.get("auto_generate")
    template = raw.get("template")
    return {
        "name": _as_str(raw.get("name")),
        "label": _i18n(raw.get("label")),
        "human_description": _i18n(raw.get("human_description")),
        "type": _as_str(raw.get("type")),
        "scope": _opt_str(raw.get("scope")),
        "form": _as_str(raw.get("form")),
        "llm_description": _as_str(raw.get("llm_description")),
        "required": _as_bool(raw.get("required")),
        "auto_generate": None if auto is None else {"type": _as_str(_as_dict(auto).get("type"))},
        "template": None if template is None else {"enabled": _as_bool(_as_dict(template).get("enabled"))},
        "default": _go_value(raw.get("default")),
        "min": _opt_float(raw.get("min")),
        "max": _opt_float(raw.get("max")),
        "multiple": _as_bool(raw.get("multiple")),
        "precision": _opt_int(raw.get("precision")),
        "options": options,
    }


def _norm_tool(raw):
    """ToolDeclaration: no identity.provider, parameters null when none, output_schema omitted when empty."""
    identity = _as_dict(raw.get("identity"))
    description = _as_dict(raw.get("description"))
    params = raw.get("parameters")
    tool = {
        "identity": {
            "author": _as_str(identity.get("author")),
            "name": _as_str(identity.get("name")),
            "label": _i18n(identity.get("label")),
        },
        "description": {"human": _i18n(description.get("human")), "llm": _as_str(description.get("llm"))},
        "parameters": [_norm_param(p) for p in params] if isinstance(params, list) else None,
    }
    schema = raw.get("output_schema")
    if isinstance(schema, dict) and schema:
        tool["output_schema"] = _go_value(schema)
    tool["has_runtime_parameters"] = _as_bool(raw.get("has_runtime_parameters"))
    return tool


def _norm_tool_provider(raw):
    """ToolProviderDeclaration; returns (declaration, tool file paths)."""
    identity = _as_dict(raw.get("identity"))
    creds = raw.get("credentials_schema")
    if not creds:
        creds = raw.get("credentials_for_provider")
    oauth = raw.get("oauth_schema")
    if isinstance(oauth, dict):
        oauth = dict((key, _norm_config_list(oauth[key]) if oauth.get(key) is not None else None)
                     for key in ("client_schema", "credentials_schema"))
    else:
        oauth = None
    decl = {
        "identity": {
            "author": _as_str(identity.get("author")),
            "name": _as_str(identity.get("name")),
            "description": _i18n(identity.get("description")),
            "icon": _as_str(identity.get("icon")),
            "icon_dark": _as_str(identity.get("icon_dark")),
            "label": _i18n(identity.get("label")),
            "tags": _str_list(identity.get("tags")) or [],
        },
        "credentials_schema": _norm_config_list(creds),
        "oauth_schema": oauth,
        "tools": [],
    }
    files = []
    for item in raw.get("tools") or []:
        if isinstance(item, dict):
            decl["tools"].append(_norm_tool(item))
        elif item is not None:
            files.append(_as_str(item))
    return decl, files


_SECTIONS = (
    ("tools", "tool", "tool"), ("endpoints", "endpoint", "endpoint"), ("models", "model", "model"),
    ("agent_strategies", "agent_strategy", "agent strategy"),
    ("datasources", "datasource", "datasource"), ("triggers", "trigger", "trigger"),
)


def _read_member(files, path, what):
    if path not in files:
        raise _PkgError("open %s: file does not exist\nfailed to read %s file: %s" % (path, what, path))
    return files[path]


def _parse_declaration(files):
    """Decode manifest.yaml and the provider files: the daemon's Manifest()."""
    if "manifest.yaml" not in files:
        raise _PkgError("open manifest.yaml: file does not exist")
    raw = _yaml_load(files["manifest.yaml"], "plugin_entities.PluginDeclaration")
    decl = _norm_manifest(raw)
    for list_key, field, what in _SECTIONS:
        for path in decl["plugins"][list_key] or []:
            data = _read_member(files, path, what)
            try:
                section = _yaml_load(data, "plugin_entities.ProviderDeclaration")
            except _PkgError as exc:
                raise _PkgError("%s\nfailed to unmarshal plugin file: %s" % (exc, path))
            if field != "tool":
                decl[field] = _go_value(section)   # not modelled in detail: passed through
                continue
            provider, tool_files = _norm_tool_provider(section)
            for tool_path in tool_files:
                tool_data = _read_member(files, tool_path, "tool")
                try:
                    provider["tools"].append(_norm_tool(_yaml_load(tool_data, "plugin_entities.ToolDeclaration")))
                except _PkgError as exc:
                    raise _PkgError("%s\nfailed to unmarshal tool file: %s" % (exc, tool_path))
            decl["tool"] = provider
    if "tool" in decl:
        identity = decl["tool"]["identity"]
        if identity["description"]["en_US"] == "":
            identity["description"] = dict(decl["description"])
        if not identity["tags"]:
            identity["tags"] = list(decl["tags"])
    return _order_declaration(decl)


def _order_declaration(decl):
    order = ["version", "type", "author", "name", "label", "description", "icon", "icon_dark",
             "resource", "plugins", "meta", "tags", "created_at", "privacy", "repo", "verified",
             "endpoint", "model", "tool", "agent_strategy", "datasource", "trigger"]
    return dict((k, decl[k]) for k in order if k in decl)


def _manifest_validate(decl):
    """ManifestValidate plus the naming rules; returns an error text or None."""
    if not AUTHOR_RE.match(decl["author"]):
        return "plugin author %r must match %s" % (decl["author"], AUTHOR_RE.pattern)
    if not PLUGIN_NAME_RE.match(decl["name"]):
        return "plugin name %r must match %s" % (decl["name"], PLUGIN_NAME_RE.pattern)
    present = set(k for k in ("endpoint", "model", "tool", "agent_strategy", "datasource", "trigger") if k in decl)
    if not present:
        return "at least one of endpoint, model, tool, agent_strategy, or datasource must be provided"
    if "model" in present and present & set(["datasource", "tool", "endpoint", "agent_strategy"]):
        return "model and datasource, tool, endpoint, or agent_strategy cannot be provided at the same time"
    if "agent_strategy" in present and present & set(["tool", "model", "endpoint", "datasource"]):
        return "agent_strategy and tool, model, endpoint, or datasource cannot be provided at the same time"
    if "datasource" in present and present & set(["tool", "model", "endpoint", "agent_strategy"]):
        return "datasource and tool, model, endpoint, or agent_strategy cannot be provided at the same time"
    return None


def _package_checksum(files):
    """real-daemon.md §7: sha256 over sorted (sha256(path) + sha256(content))."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(hashlib.sha256(path.encode("utf-8")).digest())
        digest.update(hashlib.sha256(files[path]).digest())
    return digest.hexdigest()


def _make_identifier(decl, checksum):
    plugin_id = decl["name"] if not decl["author"] else decl["author"] + "/" + decl["name"]
    identifier = "%s:%s@%s" % (plugin_id, decl["version"], checksum)
    if not IDENTIFIER_RE.match(identifier):
        raise _PkgError("plugin_unique_identifier is not valid: %s" % identifier)
    return identifier


def _asset_id(name, content):
    return hashlib.sha256(content + name.encode("utf-8")).hexdigest() + os.path.splitext(name)[1]


def _remap_assets(decl, files):
    """Replace icon file names by asset ids; returns (new declaration, {asset_id: bytes})."""
    assets = dict((p[len("_assets/"):], files[p]) for p in files if p.startswith("_assets/"))
    stored = {}
    remapped = json.loads(json.dumps(decl))

    def remap(name, what):
        if name not in assets:
            raise _PkgError("file not found: %s\nfailed to remap %s\nfailed to remap assets" % (name, what))
        asset = _asset_id(name, assets[name])
        stored[asset] = assets[name]
        return asset

    model = remapped.get("model")
    if isinstance(model, dict):
        for field, what in (("icon_small", "model icon small"), ("icon_large", "model icon large"),
                            ("icon_small_dark", "model icon small dark"), ("icon_large_dark", "model icon large dark")):
            icons = model.get(field)
            if isinstance(icons, dict):
                for lang in ("en_US", "zh_Hans", "ja_JP", "pt_BR"):
                    if icons.get(lang):
                        icons[lang] = remap(icons[lang], "%s %s" % (what, lang))
    for section, what in (("tool", "tool icon"), ("agent_strategy", "agent icon")):
        identity = remapped.get(section, {}).get("identity") if isinstance(remapped.get(section), dict) else None
        if isinstance(identity, dict):
            if identity.get("icon"):
                identity["icon"] = remap(identity["icon"], what)
            if identity.get("icon_dark"):
                identity["icon_dark"] = remap(identity["icon_dark"], what + " dark")
    if remapped["icon"]:
        remapped["icon"] = remap(remapped["icon"], "plugin icon")
    if remapped["icon_dark"]:
        remapped["icon_dark"] = remap(remapped["icon_dark"], "plugin dark icon")
    return remapped, stored


def _read_zip(fileobj, limit=None):
    """Read every file entry of a .difypkg (directory entries are skipped)."""
    try:
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError):
        raise _PkgError("difypkg: not a valid difypkg file")
    with archive:
        infos = [i for i in archive.infolist() if not i.filename.endswith("/")]
        if limit is not None:
            total = 0
            for info in archive.infolist():
                total += info.file_size
                if total > limit:
                    raise _PkgError("plugin package size is too large, please ensure the uncompressed "
                                    "size is less than %d bytes" % limit)
        files = {}
        for info in infos:
            try:
                files[info.filename] = archive.read(info)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError):
                raise _PkgError("difypkg: checksum error")
    return files


class _Package(object):
    """A decoded, stored package (what the daemon keeps after upload)."""

    def __init__(self, identifier, files, original, persisted, assets, verification):
        self.identifier = identifier
        self.files = files
        self.original = original          # manifest with in-package icon names
        self.persisted = persisted        # manifest with asset-id icons
        self.assets = assets
        self.verification = verification

    @property
    def plugin_id(self):
        return self.identifier.split(":", 1)[0]

    @property
    def version(self):
        return self.identifier.split(":", 1)[1].split("@", 1)[0]

    @property
    def checksum(self):
        return self.identifier.rsplit("@", 1)[1]

    @property
    def verified(self):
        return self.persisted["verified"]

    def readmes(self):
        """{language: text}; raises _PkgError when README.md is missing."""
        if "README.md" not in self.files:
            raise _PkgError("open README.md: file does not exist\nen_US readme not found")
        out = {"en_US": self.files["README.md"].decode("utf-8", "replace")}
        for path in sorted(self.files):
            if path.startswith("readme/"):
                match = README_LANG_RE.match(path[len("readme/"):])
                if match:
                    out[match.group(1)] = self.files[path].decode("utf-8", "replace")
        return out


def _prepare_package(files, original, identifier, signed):
    """PreparePackage: manifest validation, asset remapping, verification."""
    problem = _manifest_validate(original)
    if problem:
        raise _PkgError(problem + "\nillegal plugin manifest")
    persisted, assets = _remap_assets(original, files)
    category = signed.get(identifier)
    verification = None
    if category is not None:
        verification = {"authorized_category": category}
        persisted["verified"] = True
        original = dict(original, verified=True)
    return _Package(identifier, files, original, persisted, assets, verification)


def _is_remote_like(identifier):
    author = identifier.split("/", 1)[0] if "/" in identifier.split(":", 1)[0] else ""
    try:
        uuid.UUID(author)
        return len(author) == 36
    except ValueError:
        return False


def package_identifier(data):
    """The unique identifier the daemon computes for package bytes (``author/name:version@checksum``)."""
    files = _read_zip(io.BytesIO(data))
    return _make_identifier(_parse_declaration(files), _package_checksum(files))


# --------------------------------------------------------------------------
# Multipart parsing over a spooled body (streaming, never the whole body in memory)
# --------------------------------------------------------------------------

class _Window(io.RawIOBase):
    """A read-only, seekable view of bytes [start, end) of another file."""

    def __init__(self, base, start, end):
        io.RawIOBase.__init__(self)
        self._base, self._start, self._end, self._pos = base, start, end, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, offset, whence=0):
        size = self._end - self._start
        base = {0: 0, 1: self._pos, 2: size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer):
        left = (self._end - self._start) - self._pos
        count = min(len(buffer), max(0, left))
        if count == 0:
            return 0
        self._base.seek(self._start + self._pos)
        data = self._base.read(count)
        buffer[:len(data)] = data
        self._pos += len(data)
        return len(data)


def _find(fileobj, needle, start, end):
    """Offset of ``needle`` in fileobj[start:end], scanning in blocks; -1 if absent."""
    overlap = len(needle) - 1
    pos = start
    while pos < end:
        fileobj.seek(pos)
        data = fileobj.read(min(SCAN_BLOCK, end - pos))
        if not data:
            return -1
        index = data.find(needle)
        if index >= 0:
            return pos + index
        if pos + len(data) >= end:
            return -1
        pos += max(1, len(data) - overlap)
    return -1


class _Part(object):
    def __init__(self, name, filename, headers, start, end):
        self.name, self.filename, self.headers = name, filename, headers
        self.start, self.end = start, end

    @property
    def size(self):
        return self.end - self.start


def _header_message(name, value):
    """An email Message holding one header, for its RFC 2045/2231 parameter parsing."""
    message = email.message.Message()
    message[name] = value
    return message


def _header_param(message, param, header):
    value = message.get_param(param, header=header)
    if isinstance(value, tuple):
        value = email.utils.collapse_rfc2231_value(value)
    return value if isinstance(value, str) else None


def _parse_part_headers(block):
    headers = {}
    for line in block.split(b"\r\n"):
        if not line:
            continue
        if b":" not in line:
            raise _bad_request("malformed MIME header line: " + line.decode("latin-1"))
        name, value = line.split(b":", 1)
        headers[name.decode("latin-1").strip().lower()] = value.decode("utf-8", "replace").strip()
    return headers


def _parse_multipart(fileobj, size, boundary):
    """List the parts of a multipart body in ``fileobj`` (offsets, no copies)."""
    dash = b"--" + boundary
    pos = _find(fileobj, dash, 0, size)
    parts = []
    while True:
        if pos < 0:
            raise _bad_request("multipart: NextPart: EOF")
        fileobj.seek(pos + len(dash))
        tail = fileobj.read(2)
        if tail == b"--":
            return parts
        line_end = _find(fileobj, b"\n", pos + len(dash), min(size, pos + len(dash) + 1024))
        if line_end < 0:
            raise _bad_request("multipart: NextPart: EOF")
        header_start = line_end + 1
        fileobj.seek(header_start)
        block = fileobj.read(64 << 10)
        if block.startswith(b"\r\n"):
            header_block, data_start = b"", header_start + 2
        else:
            index = block.find(b"\r\n\r\n")
            if index < 0:
                raise _bad_request("multipart: NextPart: EOF")
            header_block, data_start = block[:index], header_start + index + 4
        headers = _parse_part_headers(header_block)
        data_end = _find(fileobj, b"\r\n" + dash, data_start, size)
        if data_end < 0:
            raise _bad_request("unexpected EOF")
        disposition = _header_message("content-disposition", headers.get("content-disposition", ""))
        name = _header_param(disposition, "name", "content-disposition")
        filename = disposition.get_filename()
        parts.append(_Part(name, os.path.basename(filename) if filename else None, headers, data_start, data_end))
        pos = data_end + 2


class _MultipartForm(object):
    """Parsed multipart body: Go's FormFile / PostForm views."""

    def __init__(self, fileobj, parts):
        self._file = fileobj
        self.parts = parts

    def file(self, name):
        for part in self.parts:
            if part.name == name and part.filename:
                return part
        return None

    def value(self, name):
        for part in self.parts:
            if part.name == name and not part.filename:
                return self.read(part, limit=1 << 20).decode("utf-8", "replace")
        return ""

    def values(self):
        out = {}
        for part in self.parts:
            if part.name is not None and not part.filename:
                out.setdefault(part.name, []).append(self.read(part, limit=1 << 20).decode("utf-8", "replace"))
        return out

    def read(self, part, limit=None):
        self._file.seek(part.start)
        return self._file.read(part.size if limit is None else min(limit, part.size))

    def open(self, part):
        return _Window(self._file, part.start, part.end)

    def digest(self, part):
        digest = hashlib.sha256()
        self._file.seek(part.start)
        left = part.size
        while left > 0:
            data = self._file.read(min(SCAN_BLOCK, left))
            if not data:
                break
            digest.update(data)
            left -= len(data)
        return digest.hexdigest()


# --------------------------------------------------------------------------
# Observation: what went on the wire
# --------------------------------------------------------------------------

class RecordedRequest(object):
    """One request as the fake received it.

    Attributes: ``method``, ``path`` (raw, no query), ``raw_query``, ``query``
    (``parse_qs`` with ``keep_blank_values``), ``headers`` (case-insensitive
    ``http.client.HTTPMessage``), ``body`` (bytes; ``b""`` when over 1 MiB),
    ``body_size``, ``form`` (multipart text fields as str, file parts as
    ``(filename, size, sha256_hex)``), ``time``.
    """

    def __init__(self, method, target, headers):
        if target.startswith("http://") or target.startswith("https://"):
            split = urllib.parse.urlsplit(target)
            target = split.path + ("?" + split.query if split.query else "")
        path, _, raw_query = target.partition("?")
        self.method = method
        self.path = path
        self.raw_query = raw_query
        self.query = urllib.parse.parse_qs(raw_query, keep_blank_values=True)
        self.headers = headers
        self.body = b""
        self.body_size = 0
        self.form = {}
        self.time = time.time()

    def json(self):
        """The body parsed as JSON (None when empty)."""
        return json.loads(self.body.decode("utf-8")) if self.body else None

    def __repr__(self):
        return "<RecordedRequest %s %s%s (%d bytes)>" % (
            self.method, self.path, "?" + self.raw_query if self.raw_query else "", self.body_size)


# --------------------------------------------------------------------------
# Routing (gin's tree semantics: static, :param, *catch-all; trailing-slash redirect)
# --------------------------------------------------------------------------

def _split_path(path):
    """'/a/b/' -> ['a', 'b', ''] (a trailing slash is a final empty segment)."""
    return path[1:].split("/")


class _Route(object):
    def __init__(self, method, pattern, handler, keyed=True):
        self.method = method
        self.pattern = pattern
        self.segments = _split_path(pattern)
        self.handler = handler
        self.keyed = keyed

    def match(self, parts):
        """Path parameters when ``parts`` match this route, else None."""
        params = {}
        for index, segment in enumerate(self.segments):
            if index >= len(parts):
                return None
            if segment.startswith("*"):
                params[segment[1:]] = "/" + "/".join(parts[index:])
                return params
            if segment.startswith(":"):
                if parts[index] == "":
                    return None
                params[segment[1:]] = parts[index]
            elif segment != parts[index]:
                return None
        return params if len(parts) == len(self.segments) else None

    def rank(self):
        """Static segments win over parameters, parameters over catch-alls (gin's priority)."""
        return [2 if s.startswith("*") else 1 if s.startswith(":") else 0 for s in self.segments]


class _Router(object):
    def __init__(self):
        self.routes = []

    def add(self, method, pattern, handler, keyed=True):
        self.routes.append(_Route(method, pattern, handler, keyed))
        self.routes.sort(key=lambda r: r.rank())

    def match(self, method, path):
        """``(route, params)`` for the first matching route of ``method``, or None."""
        if not path.startswith("/"):
            return None
        parts = _split_path(path)
        for route in self.routes:
            if route.method == method:
                params = route.match(parts)
                if params is not None:
                    return route, params
        return None

    def redirect_target(self, method, path):
        """The trailing-slash variant of ``path`` that has a route, or None."""
        if path == "/":
            return None
        other = path[:-1] if path.endswith("/") else path + "/"
        return other if self.match(method, other) is not None else None


# --------------------------------------------------------------------------
# Tool invoke helpers
# --------------------------------------------------------------------------

def blob_chunks(data, meta=None, chunk=8192):
    """Split bytes the way the plugin SDK sends a blob for tools (tools.md §6.3).

    Returns ``blob_chunk`` ToolResponseChunk dicts: one per ``chunk`` bytes, then a
    final empty chunk with ``end: true``; all share a uuid4 hex ``id`` and ``meta``.
    """
    blob_id = uuid.uuid4().hex
    slices = [data[i:i + chunk] for i in range(0, len(data), chunk)]
    out = []
    for sequence, piece in enumerate(slices):
        out.append({"type": "blob_chunk", "message": {
            "id": blob_id, "sequence": sequence, "total_length": len(data),
            "blob": base64.b64encode(piece).decode("ascii"), "end": False}, "meta": meta})
    out.append({"type": "blob_chunk", "message": {
        "id": blob_id, "sequence": len(slices), "total_length": len(data), "blob": "", "end": True},
        "meta": meta})
    return out


def _default_tool_handler(request):
    """Echo the received tool_parameters as JSON text (sorted keys, as parsed)."""
    params = (request.get("data") or {}).get("tool_parameters")
    text = json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    yield {"type": "text", "message": {"text": text}, "meta": None}


def _plugin_error_event(error_type, message, args):
    inner = go_json(_go_value({"args": args, "error_type": error_type, "message": message}))
    return _error_body(-500, "PluginInvokeError", inner.decode("utf-8"))


def _daemon_stream_error(error_type, message):
    inner = go_json({"error_type": error_type, "message": message})
    return _error_body(-500, "PluginInvokeError", inner.decode("utf-8"))


# --------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------

class _Server(http.server.ThreadingHTTPServer):
    """ThreadingHTTPServer that counts connections and closes them gently."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address, fake):
        self.fake = fake
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        http.server.ThreadingHTTPServer.__init__(self, address, _Handler)

    def server_bind(self):
        # HTTPServer.server_bind calls getfqdn(), a DNS lookup; not wanted here.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def get_request(self):
        sock, addr = http.server.ThreadingHTTPServer.get_request(self)
        self.fake._connection_opened(sock)
        return sock, addr

    def shutdown_request(self, request):
        try:
            try:
                request.shutdown(socket.SHUT_WR)
                request.settimeout(0.5)
                deadline = time.time() + 0.5
                while time.time() < deadline:   # lingering close, like Go's closeWriteAndWait
                    if not request.recv(IO_BLOCK):
                        break
            except OSError:
                pass
            self.close_request(request)
        finally:
            self.fake._connection_closed(request)

    def handle_error(self, request, client_address):
        pass


class _Handler(http.server.BaseHTTPRequestHandler):
    """One connection: loops over keep-alive requests, each routed to the fake."""

    protocol_version = "HTTP/1.1"
    server_version = "fake-dify-plugin-daemon"

    def __getattr__(self, name):
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def log_message(self, *args):
        pass

    def setup(self):
        http.server.BaseHTTPRequestHandler.setup(self)
        self._expect_pending = False
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def handle_expect_100(self):
        self._expect_pending = True
        return True

    # ---- per-request state -------------------------------------------------

    def _reset(self):
        self.fake = self.server.fake
        self.params = {}
        self.record = None
        self.response_started = False
        self._body = None
        self._multipart = None
        self._multipart_error = None
        self._content_length = None
        self._chunked = False
        self._remaining = 0
        self._continue_sent = False
        self._stream_chunked = True

    def _dispatch(self):
        self._reset()
        problem = self._check_framing()
        if problem is not None:
            self.close_connection = True
            self._send_raw(problem[0], problem[1].encode("utf-8"), "text/plain; charset=utf-8")
            return
        self.record = RecordedRequest(self.command, self.path, self.headers)
        self.fake._record(self.record)
        self.fake._active_requests_delta(1)
        try:
            self._route()
        except _ClientGone:
            self.close_connection = True
        except Exception:
            self.fake.errors.append(traceback.format_exc())
            traceback.print_exc(file=sys.stderr)
            if not self.response_started:
                self._prepare_finish()
                self._send_raw(500, b"", None)   # gin's recovery: 500, empty body
            else:
                self.close_connection = True
        finally:
            self.fake._active_requests_delta(-1)
            self._expect_pending = False
            if self._body is not None:
                self._body[0].close()

    def _check_framing(self):
        """Go's request-level checks: Content-Length, Transfer-Encoding, Host."""
        if self.request_version == "HTTP/1.1" and not self.headers.get("Host"):
            return 400, "400 Bad Request: missing required Host header"
        encoding = self.headers.get("Transfer-Encoding")
        lengths = self.headers.get_all("Content-Length") or []
        if encoding is not None:
            if encoding.strip().lower() != "chunked":
                return 501, "Unsupported transfer encoding"
            self._chunked = True
            return None
        if lengths:
            values = set(v.strip() for v in lengths)
            if len(values) != 1 or not re.match(r"^[0-9]+$", lengths[0].strip()):
                return 400, "400 Bad Request"
            self._content_length = int(lengths[0].strip())
            self._remaining = self._content_length
        return None

    # ---- routing -----------------------------------------------------------

    def _route(self):
        fake = self.fake
        for method, pattern, fn in fake._overrides_snapshot():
            if (method in (None, "*") or method.upper() == self.command) and pattern.search(self.record.path):
                fn(self)
                if self._body is None and (self._remaining or self._chunked):
                    self.close_connection = True     # the override left body bytes unread
                return
        raw_path = self.record.path
        if re.search(r"%(?![0-9A-Fa-f]{2})", raw_path):
            self.close_connection = True
            self._send_raw(400, b"400 Bad Request", "text/plain; charset=utf-8")
            return
        path = urllib.parse.unquote(raw_path)
        found = fake._router.match(self.command, path)
        if found is None:
            target = fake._router.redirect_target(self.command, path)
            if target is not None:
                self._redirect(target)
            else:
                self.send_body(404, NOT_FOUND_BODY)
            return
        route, self.params = found
        if route.keyed and self.headers.get("X-Api-Key", "") != fake.key:
            self.send_body(401, UNAUTHORIZED_BODY)
            return
        try:
            result = route.handler(self)
        except _DaemonError as exc:
            self.send_body(exc.status, exc.body())
            return
        if result is not _HANDLED:
            self.send_body(200, go_json({"code": 0, "message": "success", "data": result}))

    def _redirect(self, target):
        location = urllib.parse.quote(target, safe="/:@!$&'()*+,;=-._~") + (
            "?" + self.record.raw_query if self.record.raw_query else "")
        status = 301 if self.command == "GET" else 307
        body = b""
        ctype = None
        if self.command == "GET":
            body = ('<a href="%s">%s</a>.\n\n' % (location.replace("&", "&amp;"),
                                                  HTTPStatus(status).phrase)).encode("utf-8")
            ctype = "text/html; charset=utf-8"
        self._prepare_finish()
        self._send_raw(status, body, ctype, [("Location", location)])

    # ---- request body ------------------------------------------------------

    def _send_continue(self):
        if self._expect_pending and not self._continue_sent:
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self._continue_sent = True

    def _iter_body(self):
        if self._chunked:
            while True:
                line = self.rfile.readline(1024)
                if not line.endswith(b"\n"):
                    raise _ClientGone()
                size_text = line.split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError:
                    raise _ClientGone()
                if size == 0:
                    while True:   # trailers
                        trailer = self.rfile.readline(65536)
                        if trailer in (b"\r\n", b"\n", b""):
                            break
                    self._chunked = False
                    return
                left = size
                while left:
                    data = self.rfile.read(min(IO_BLOCK, left))
                    if not data:
                        raise _ClientGone()
                    left -= len(data)
                    yield data
                self.rfile.readline(16)
        while self._remaining > 0:
            data = self.rfile.read(min(IO_BLOCK, self._remaining))
            if not data:
                raise _ClientGone()
            self._remaining -= len(data)
            yield data

    def read_body(self):
        """Read the whole request body once; returns ``(file, size)`` (file at offset 0).

        Bodies over 1 MiB are spooled to a temporary file.  Multipart bodies are
        parsed (offsets only) and recorded in ``record.form``.
        """
        if self._body is not None:
            self._body[0].seek(0)
            return self._body
        self._send_continue()
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_LIMIT)
        size = 0
        for block in self._iter_body():
            spool.write(block)
            size += len(block)
        self._body = (spool, size)
        self.record.body_size = size
        if size <= RECORD_BODY_LIMIT:
            spool.seek(0)
            self.record.body = spool.read()
        self._parse_form_body()
        spool.seek(0)
        return self._body

    def _parse_form_body(self):
        ctype = self.headers.get("Content-Type") or ""
        media = ctype.split(";", 1)[0].strip().lower()
        if media != "multipart/form-data":
            return
        boundary = _header_param(_header_message("content-type", ctype), "boundary", "content-type")
        if not boundary:
            self._multipart_error = _bad_request("no multipart boundary param in Content-Type")
            return
        spool, size = self._body
        try:
            parts = _parse_multipart(spool, size, boundary.encode("latin-1"))
        except _DaemonError as exc:
            self._multipart_error = exc
            return
        form = _MultipartForm(spool, parts)
        self._multipart = form
        for part in parts:
            if part.name is None or part.name in self.record.form:
                continue
            if part.filename:
                self.record.form[part.name] = (part.filename, part.size, form.digest(part))
            else:
                self.record.form[part.name] = form.read(part, limit=1 << 20).decode("utf-8", "replace")

    def multipart_form(self):
        """The parsed multipart form, or raise the -400 Go's ParseMultipartForm gives."""
        ctype = self.headers.get("Content-Type") or ""
        if ctype.split(";", 1)[0].strip().lower() != "multipart/form-data":
            raise _bad_request("request Content-Type isn't multipart/form-data")
        self.read_body()
        if self._multipart_error is not None:
            raise self._multipart_error
        return self._multipart

    def json_body(self):
        """The request body decoded as JSON, or _MISSING when it is not valid JSON."""
        spool, size = self.read_body()
        if size == 0:
            return _MISSING
        text = spool.read().decode("utf-8", "replace").lstrip(" \t\r\n")
        try:   # like json.NewDecoder(body).Decode: the first value counts, trailing bytes are ignored
            return json.JSONDecoder(parse_constant=_reject_constant).raw_decode(text)[0]
        except ValueError:
            return _MISSING

    def form_values(self):
        """Query values plus urlencoded / multipart body fields (gin's c.Request.Form)."""
        values = dict((k, list(v)) for k, v in self.record.query.items())
        if self.command != "GET":
            ctype = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
            if ctype == "application/x-www-form-urlencoded":
                spool, _ = self.read_body()
                body = urllib.parse.parse_qs(spool.read().decode("utf-8", "replace"), keep_blank_values=True)
                for key, items in body.items():
                    values[key] = items + values.get(key, [])
            elif ctype == "multipart/form-data":
                self.read_body()
                if self._multipart is not None:
                    for key, items in self._multipart.values().items():
                        values[key] = items + values.get(key, [])
        return values

    def bind(self, fields):
        """gin's BindRequest: JSON or form binding, URI params, then validation (HTTP 400)."""
        ctype = self.headers.get("Content-Type")
        media = (ctype or "").split(";", 1)[0].strip().lower()
        use_json = ctype == "application/json" or (self.command != "GET" and media == "application/json")
        if use_json:
            body = self.json_body()
            values = _bind_json_struct(fields, body if isinstance(body, dict) else {})
        else:
            values = _bind_form(fields, self.form_values())
        for field in fields:
            if field.source == "uri":
                values[field.name] = self.params.get(field.key, "")
        errors = _validate(fields, values)
        if errors:
            raise _bad_request("\n".join(errors), status=400)
        return values

    def _prepare_finish(self):
        """Before the response: drain a small unread body, else plan to close (like Go)."""
        if self._body is not None:
            return
        if self._expect_pending and not self._continue_sent:
            if self._content_length or self._chunked:
                self.close_connection = True
            return
        if self._remaining >= DRAIN_LIMIT:
            self.close_connection = True
            return
        drained, total = [], 0
        try:
            for block in self._iter_body():
                drained.append(block)
                total += len(block)
                if total > DRAIN_LIMIT:          # a chunked body that is too big
                    self.close_connection = True
                    return
        except _ClientGone:
            self.close_connection = True
        data = b"".join(drained)
        self.record.body, self.record.body_size = data, len(data)

    # ---- responses ---------------------------------------------------------

    def _header_lines(self, status, headers):
        lines = ["%s %d %s" % (self.protocol_version, status, HTTPStatus(status).phrase)]
        if self.close_connection:
            headers = headers + [("Connection", "close")]
        headers = headers + [("Date", email.utils.formatdate(usegmt=True))]
        for name, value in sorted(headers, key=lambda item: item[0]):
            lines.append("%s: %s" % (name, value))
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _send_raw(self, status, body, ctype, extra=None):
        headers = list(extra or [])
        if ctype:
            headers.append(("Content-Type", ctype))
        headers.append(("Content-Length", str(len(body))))
        payload = self._header_lines(status, headers)
        if self.command != "HEAD":
            payload += body
        self.response_started = True
        try:
            self.wfile.write(payload)
        except OSError:
            raise _ClientGone()

    def send_body(self, status, body, ctype=JSON_CTYPE):
        """Write a complete response with Content-Length (drains or closes as Go does)."""
        self._prepare_finish()
        self._send_raw(status, body, ctype)

    def send_json(self, status, value):
        """Write ``value`` with Go JSON encoding (for overrides and special routes)."""
        self.send_body(status, go_json(value))

    def start_stream(self, ctype="text/event-stream"):
        """Send the 200 headers of a streamed response (chunked on HTTP/1.1)."""
        self._prepare_finish()
        headers = [("Content-Type", ctype)]
        if self.request_version == "HTTP/1.1":
            headers.append(("Transfer-Encoding", "chunked"))
        else:
            self._stream_chunked = False
            self.close_connection = True
        self.response_started = True
        try:
            self.wfile.write(self._header_lines(200, headers))
        except OSError:
            raise _ClientGone()

    def send_chunk(self, data):
        """Write and flush one chunk of a streamed response."""
        if not data:
            return
        framed = (b"%x\r\n" % len(data)) + data + b"\r\n" if self._stream_chunked else data
        try:
            self.wfile.write(framed)
        except OSError:
            raise _ClientGone()

    def send_event(self, envelope_bytes):
        """One SSE event: ``data: `` + JSON + blank line, flushed as its own chunk."""
        self.send_chunk(b"data: " + envelope_bytes + b"\n\n")

    def end_stream(self):
        """Finish a streamed response (the terminating zero-length chunk)."""
        if self._stream_chunked:
            try:
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                raise _ClientGone()


def _reject_constant(name):
    raise ValueError("invalid JSON constant " + name)


_HANDLED = object()


# --------------------------------------------------------------------------
# Request schemas (the Go structs of the controllers)
# --------------------------------------------------------------------------

_TENANT = _Field("TenantID", "uri", "tenant_id", "str", "required")
_PAGE_FIELDS = [
    _TENANT,
    _Field("Page", "form", "page", "int", "required,min=1"),
    _Field("PageSize", "form", "page_size", "int", "required,min=1,max=256"),
]
_UID_QUERY = _Field("PluginUniqueIdentifier", "form", "plugin_unique_identifier", "str",
                    "required,plugin_unique_identifier")
_DECODE_FIELDS = [_Field("PluginUniqueIdentifier", "form", "plugin_unique_identifier", "str",
                         "required,plugin_unique_identifier", alt_keys=("PluginUniqueIdentifier",))]
_INSTALL_FIELDS = [
    _TENANT,
    _Field("PluginUniqueIdentifiers", "json", "plugin_unique_identifiers", "strs",
           "required,max=64,dive,plugin_unique_identifier"),
    _Field("Source", "json", "source", "str", "required"),
    _Field("Metas", "json", "metas", "maps", "omitempty"),
]
_UPGRADE_FIELDS = [
    _TENANT,
    _Field("OriginalPluginUniqueIdentifier", "json", "original_plugin_unique_identifier", "str",
           "required,plugin_unique_identifier"),
    _Field("NewPluginUniqueIdentifier", "json", "new_plugin_unique_identifier", "str",
           "required,plugin_unique_identifier"),
    _Field("Source", "json", "source", "str", "required"),
    _Field("Meta", "json", "meta", "map", "omitempty"),
]
_TASK_FIELDS = [_TENANT, _Field("TaskID", "uri", "id", "str", "required")]
_TASK_ITEM_FIELDS = _TASK_FIELDS + [_Field("Identifier", "uri", "identifier", "str", "required")]
_MISSING_FIELDS = [_TENANT, _Field("PluginUniqueIdentifiers", "json", "plugin_unique_identifiers", "strs",
                                   "required,max=256,dive,plugin_unique_identifier")]
_UNINSTALL_FIELDS = [_TENANT, _Field("PluginInstallationID", "json", "plugin_installation_id", "str", "required")]
_BATCH_FIELDS = [_TENANT, _Field("PluginIDs", "json", "plugin_ids", "strs", "required,max=256")]
_TOOL_FIELDS = [
    _TENANT,
    _Field("PluginID", "form", "plugin_id", "str", "required"),
    _Field("Provider", "form", "provider", "str", "required"),
]
_CHECK_FIELDS = [_TENANT, _Field("ProviderIDS", "json", "provider_ids", "structs", "required,dive", sub=[
    _Field("PluginID", "json", "plugin_id", "str", "required"),
    _Field("ProviderName", "json", "provider_name", "str", "required"),
])]
_README_FIELDS = [_UID_QUERY, _Field("Language", "form", "language", "str", "omitempty")]
_EXTRACT_FIELDS = [_TENANT, _UID_QUERY, _Field("FilePath", "form", "file_path", "str", "required")]


def _dispatch_fields(type_name, data_fields):
    return [
        _Field("TenantID", "uri", "tenant_id", "str", "required"),
        _Field("UserID", "json", "user_id", "str"),
        _Field("Data", "json", "data", "struct", "required", sub=data_fields,
               ns=DISPATCH_NS.format(type_name)),
    ]


_INVOKE_FIELDS = _dispatch_fields("RequestInvokeTool", [
    _Field("Provider", "json", "provider", "str", "required", ns="InvokeToolSchema.Provider"),
    _Field("Tool", "json", "tool", "str", "required", ns="InvokeToolSchema.Tool"),
])
_VALIDATE_FIELDS = _dispatch_fields("RequestValidateToolCredentials", [
    _Field("Provider", "json", "provider", "str", "required"),
])
_RUNTIME_FIELDS = _dispatch_fields("RequestGetToolRuntimeParameters", [
    _Field("Provider", "json", "provider", "str", "required"),
    _Field("Tool", "json", "tool", "str", "required"),
])


# --------------------------------------------------------------------------
# The fake daemon
# --------------------------------------------------------------------------

class FakeDaemon(object):
    """An in-memory Dify Plugin Daemon on a real loopback HTTP/1.1 server.

    Construct, ``start()`` (or use as a context manager), point a client at
    ``url``.  Every request is recorded in ``requests``; connection counters
    show keep-alive reuse.  State helpers (``add_package``, ``install``,
    ``set_tool_handler``, ``fail_install``) and ``add_override`` (fault
    injection) let tests set up any scenario without going through HTTP.
    """

    def __init__(self, key="test-key", host="127.0.0.1", port=0, *, max_package_size=DEFAULT_MAX_PACKAGE_SIZE,
                 max_bundle_size=DEFAULT_MAX_BUNDLE_SIZE, install_delay=0.05, task_success_ttl=None,
                 version="0.6.10"):
        self.key = key
        self.host = host
        self.port = port
        self.max_package_size = max_package_size
        self.max_bundle_size = max_bundle_size
        self.install_delay = install_delay
        self.task_success_ttl = task_success_ttl
        self.version = version
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
        self._packages = {}              # identifier -> _Package
        self._assets = {}                # asset id -> bytes
        self._installations = {}         # tenant -> [installation dict]
        self._refcount = {}              # identifier -> number of installations (the `plugins` row)
        self._tasks = {}                 # tenant -> {task id -> task dict}
        self._tool_handlers = {}
        self._overrides = []
        self._sockets = set()
        self._timers = []
        self._active = 0
        self._active_dispatch = 0
        self._stopping = threading.Event()
        self._server = None
        self._thread = None
        self._router = self._build_router()

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

    def add_package(self, files):
        """Store a package built from ``{path: bytes}`` as if uploaded; returns its identifier."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(files):
                data = files[path]
                archive.writestr(_zip_info(path), data.encode("utf-8") if isinstance(data, str) else data)
        buffer.seek(0)
        try:
            package = self._decode_upload(buffer, limit=None)
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
            package = self._packages.get(identifier)
            if package is None:
                raise KeyError("package not uploaded: %s" % identifier)
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

    # ---- routes ------------------------------------------------------------

    def _build_router(self):
        router = _Router()
        mgmt = "/plugin/:tenant_id/management"
        disp = "/plugin/:tenant_id/dispatch"
        table = [
            ("GET", "/health/check", self._r_health, False),
            ("POST", mgmt + "/install/upload/package", self._r_upload_package, True),
            ("POST", mgmt + "/install/upload/bundle", self._r_upload_bundle, True),
            ("POST", mgmt + "/install/identifiers", self._r_install, True),
            ("POST", mgmt + "/install/upgrade", self._r_upgrade, True),
            ("GET", mgmt + "/install/tasks/:id", self._r_task, True),
            ("POST", mgmt + "/install/tasks/delete_all", self._r_delete_all_tasks, True),
            ("POST", mgmt + "/install/tasks/:id/delete", self._r_delete_task, True),
            ("POST", mgmt + "/install/tasks/:id/delete/*identifier", self._r_delete_task_item, True),
            ("GET", mgmt + "/install/tasks", self._r_tasks, True),
            ("GET", mgmt + "/decode/from_identifier", self._r_decode, True),
            ("GET", mgmt + "/fetch/manifest", self._r_manifest, True),
            ("GET", mgmt + "/fetch/identifier", self._r_fetch_identifier, True),
            ("GET", mgmt + "/fetch/readme", self._r_readme, True),
            ("POST", mgmt + "/uninstall", self._r_uninstall, True),
            ("GET", mgmt + "/list", self._r_list, True),
            ("POST", mgmt + "/installation/fetch/batch", self._r_batch, True),
            ("POST", mgmt + "/installation/missing", self._r_missing, True),
            ("GET", mgmt + "/tools", self._r_tools, True),
            ("GET", mgmt + "/tool", self._r_tool, True),
            ("POST", mgmt + "/tools/check_existence", self._r_check_existence, True),
            ("GET", "/plugin/:tenant_id/asset/:id", self._r_asset, True),
            ("GET", "/plugin/:tenant_id/extract-asset/", self._r_extract_asset, True),
            ("POST", disp + "/tool/invoke", self._r_invoke, True),
            ("POST", disp + "/tool/validate_credentials", self._r_validate_credentials, True),
            ("POST", disp + "/tool/get_runtime_parameters", self._r_runtime_parameters, True),
        ]
        for method, pattern, handler, keyed in table:
            router.add(method, pattern, handler, keyed)
        return router

    # ---- health ------------------------------------------------------------

    def _r_health(self, h):
        with self._stats_lock:
            active, dispatch = self._active, self._active_dispatch
        h.send_body(200, go_json({
            "active_dispatch_requests": dispatch,
            "active_requests": active,
            "build_time": "",
            "platform": "local",
            "pool_status": {"busy": 0, "free": 10000, "total": 10000},
            "status": "ok",
            "version": self.version,
        }))
        return _HANDLED

    # ---- upload ------------------------------------------------------------

    def _decode_upload(self, fileobj, limit, verify=False):
        """The single-package upload pipeline (daemon-api.md §6.1)."""
        try:
            files = _read_zip(fileobj, limit)
            original = _parse_declaration(files)
            identifier = _make_identifier(original, _package_checksum(files))
        except _PkgError as exc:
            raise _bad_request(str(exc))
        if _is_remote_like(identifier):
            raise _bad_request("cannot set author to an UUID")
        try:
            package = _prepare_package(files, original, identifier, self.signed)
        except _PkgError as exc:
            raise _bad_request("%s\nfailed to decode package" % exc)
        if verify and not package.verified:
            raise _bad_request(BAD_SIGNATURE)
        return package

    def _store_packages(self, packages):
        with self._lock:
            for package in packages:
                self._packages.setdefault(package.identifier, package)
                self._assets.update(package.assets)

    def _r_upload_package(self, h):
        form = h.multipart_form()
        part = form.file("dify_pkg")
        if part is None:
            raise _bad_request("http: no such file")
        if h.params.get("tenant_id", "") == "":
            raise _bad_request("tenant ID is required")
        if part.size > self.max_package_size:
            raise _bad_request("file size exceeds the maximum limit")
        verify = form.value("verify_signature") == "true"
        package = self._decode_upload(form.open(part), self.max_package_size, verify)
        self._store_packages([package])
        stored = self._packages[package.identifier]
        return {"manifest": stored.persisted, "unique_identifier": stored.identifier,
                "verification": stored.verification}

    def _r_upload_bundle(self, h):
        form = h.multipart_form()
        part = form.file("dify_bundle")
        if part is None:
            raise _bad_request("http: no such file")
        if h.params.get("tenant_id", "") == "":
            raise _bad_request("tenant ID is required")
        if part.size > self.max_bundle_size:
            raise _bad_request("file size exceeds the maximum limit")
        verify = form.value("verify_signature") == "true"
        result, packages = [], []
        with _Bundle(form.open(part)) as bundle:
            for dependency in bundle.manifest.get("dependencies") or []:
                entry = self._bundle_dependency(_as_dict(dependency), bundle, verify)
                if entry is None:
                    continue
                if isinstance(entry, _Package):
                    packages.append(entry)
                    entry = {"type": "package", "value": {"manifest": entry.persisted,
                                                          "unique_identifier": entry.identifier}}
                result.append(entry)
        self._store_packages(packages)
        return result

    def _bundle_dependency(self, dependency, bundle, verify):
        kind = dependency.get("type")
        value = _as_dict(dependency.get("value"))
        if kind == "github":
            parts = _pattern_parts(value.get("repo_pattern"))
            ok = len(parts) >= 3
            return {"type": "github", "value": {
                "packages": parts[3] if len(parts) >= 4 else "",
                "release": parts[2] if ok else "",
                "repo": "%s/%s" % (parts[0], parts[1]) if ok else "",
                "repo_address": "https://github.com/%s/%s" % (parts[0], parts[1]) if ok else "",
            }}
        if kind == "marketplace":
            parts = _pattern_parts(value.get("marketplace_pattern"))
            return {"type": "marketplace", "value": {
                "organization": parts[0] if len(parts) >= 1 else "",
                "plugin": parts[1] if len(parts) >= 2 else "",
                "version": parts[2] if len(parts) >= 3 else "",
            }}
        if kind != "package":
            return None
        data = bundle.asset(_as_str(value.get("path")))
        if data is None:
            raise _internal("failed to fetch package from bundle\nasset not found")
        try:
            files = _read_zip(io.BytesIO(data))
            original = _parse_declaration(files)
        except _PkgError as exc:
            raise _bad_request("failed to create package decoder\n%s" % exc)
        try:
            identifier = _make_identifier(original, _package_checksum(files))
        except _PkgError as exc:
            raise _bad_request("failed to get package unique identifier\n%s" % exc)
        try:
            package = _prepare_package(files, original, identifier, self.signed)
        except _PkgError as exc:
            raise _internal("failed to decode package\n%s" % exc)
        if verify and not package.verified:
            raise _bad_request(BAD_SIGNATURE)
        if original["author"] == "langgenius" and (
                package.verification is None or package.verification.get("authorized_category") != "langgenius"):
            raise _bad_request(UNAUTHORIZED_LANGGENIUS)
        return package

    # ---- install tasks -----------------------------------------------------

    def _r_install(self, h):
        values = h.bind(_INSTALL_FIELDS)
        identifiers = values["PluginUniqueIdentifiers"]
        metas = values["Metas"] if values["Metas"] is not None else []
        if len(metas) != len(identifiers):
            raise _bad_request("the number of metas must be equal to the number of plugin unique identifiers")
        metas = [{} if m is None else m for m in metas]
        if not identifiers:
            return {"all_installed": True, "task_id": ""}
        tenant = _require_uuid(values["TenantID"])
        with self._lock:
            pending = [(uid, meta) for uid, meta in zip(identifiers, metas)
                       if self._find_installation(tenant, uid.split(":", 1)[0]) is None]
            if not pending:
                return {"all_installed": True, "task_id": ""}
            packages = []
            for uid in identifiers:
                if uid not in self._packages:
                    raise _internal("plugin not found\nfailed to get plugin declaration")
                packages.append(self._packages[uid])
            jobs = [{"kind": "install", "package": p, "source": values["Source"], "meta": m}
                    for p, m in zip(packages, metas)]
            task = self._create_task(tenant, jobs, values["Source"])
        return {"all_installed": False, "task_id": task["id"]}

    def _create_task(self, tenant, jobs, source):
        now = _now()
        task = {"id": _uuid7(), "created": now, "updated": now, "status": "running", "tenant_id": tenant,
                "total_plugins": len(jobs), "completed_plugins": 0, "plugins": []}
        for job in jobs:
            package = job["package"]
            upgrade = job["kind"] == "upgrade"
            entry = {
                "plugin_unique_identifier": package.identifier,
                "labels": {"en_US": ""} if upgrade else dict(package.persisted["label"]),
                "icon": "" if upgrade else package.persisted["icon"],
                "icon_dark": "" if upgrade else package.persisted["icon_dark"],
                "plugin_id": package.plugin_id,
                "status": "pending",
                "message": "",
                "source": source,
            }
            task["plugins"].append(entry)
            job["entry"] = entry
        self._tasks.setdefault(tenant, {})[task["id"]] = task
        for job in jobs:
            thread = threading.Thread(target=self._run_job, args=(tenant, task, job),
                                      name="fake-install", daemon=True)
            thread.start()
        return task

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
            package = job["package"]
            failure = self.fail_install.get(package.plugin_id)
            entry = job["entry"]
            if failure is not None:
                entry.update(status="failed", message=_truncate_message(failure))
                task["status"] = "failed"
            else:
                if job["kind"] == "upgrade":
                    self._switch_installation(job["row"], package, job["source"], job["meta"])
                elif self._find_installation(tenant, package.plugin_id) is None:
                    self._create_installation(tenant, package, job["source"], job["meta"])
                entry.update(status="success", message="upgraded" if job["kind"] == "upgrade" else "installed")
                task["completed_plugins"] += 1
                if task["status"] != "failed" and all(e["status"] == "success" for e in task["plugins"]):
                    task["status"] = "success"
                    self._schedule_task_cleanup(tenant, task)
            task["updated"] = _now()

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

    def _r_tasks(self, h):
        values = h.bind(_PAGE_FIELDS)
        tenant = _require_uuid(values["TenantID"])
        with self._lock:
            tasks = sorted(self._tasks.get(tenant, {}).values(), key=lambda t: t["created"], reverse=True)
            start = (values["Page"] - 1) * values["PageSize"]
            return [self._task_json(t) for t in tasks[start:start + values["PageSize"]]]

    def _r_task(self, h):
        values = h.bind(_TASK_FIELDS)
        tenant = _require_uuid(values["TenantID"])
        task_id = _require_uuid(values["TaskID"])
        with self._lock:
            task = self._tasks.get(tenant, {}).get(task_id)
            if task is None:
                raise _internal("record not found")
            return self._task_json(task)

    def _r_delete_task(self, h):
        values = h.bind(_TASK_FIELDS)
        tenant = _require_uuid(values["TenantID"])
        task_id = _require_uuid(values["TaskID"])
        with self._lock:
            self._tasks.get(tenant, {}).pop(task_id, None)
        return True

    def _r_delete_all_tasks(self, h):
        values = h.bind([_TENANT])
        tenant = _require_uuid(values["TenantID"])
        with self._lock:
            self._tasks.pop(tenant, None)
        return True

    def _r_delete_task_item(self, h):
        values = h.bind(_TASK_ITEM_FIELDS)
        identifier = values["Identifier"].lstrip("/")
        if not IDENTIFIER_RE.match(identifier):
            raise _bad_request("plugin_unique_identifier is not valid: %s" % identifier)
        tenant = _require_uuid(values["TenantID"])
        task_id = _require_uuid(values["TaskID"])
        with self._lock:
            tasks = self._tasks.get(tenant, {})
            task = tasks.get(task_id)
            if task is None:
                return True
            task["plugins"] = [e for e in task["plugins"] if e["plugin_unique_identifier"] != identifier]
            if all(e["status"] == "success" for e in task["plugins"]):
                del tasks[task_id]
            else:
                task["updated"] = _now()
        return True

    # ---- upgrade -----------------------------------------------------------

    def _r_upgrade(self, h):
        values = h.bind(_UPGRADE_FIELDS)
        original = values["OriginalPluginUniqueIdentifier"]
        new = values["NewPluginUniqueIdentifier"]
        if original == new:
            raise _bad_request("original and new plugin unique identifier are the same")
        if original.split(":", 1)[0] != new.split(":", 1)[0]:
            raise _bad_request("original and new plugin id are different")
        tenant = _require_uuid(values["TenantID"])
        with self._lock:
            row = self._find_installation(tenant, original.split(":", 1)[0])
            if row is None or row["plugin_unique_identifier"] != original:
                raise _daemon_not_found("plugin installation not found for this tenant")
            package = self._packages.get(new)
            if package is None:
                raise _internal("plugin not found\nfailed to get plugin declaration")
            if self._refcount.get(new, 0) > 0:
                self._switch_installation(row, package, values["Source"], values["Meta"])
                return {"all_installed": True, "task_id": ""}
            job = {"kind": "upgrade", "package": package, "source": values["Source"],
                   "meta": values["Meta"], "row": row}
            task = self._create_task(tenant, [job], values["Source"])
        return {"all_installed": False, "task_id": task["id"]}

    # ---- installations -----------------------------------------------------

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
        self._refcount[old] = max(0, self._refcount.get(old, 0) - 1)
        self._refcount[package.identifier] = self._refcount.get(package.identifier, 0) + 1
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

    def _list_entry(self, row):
        declaration = self._declaration_for(row)
        out = self._row_json(row)
        out.update(name=declaration["name"], version=declaration["version"],
                   checksum=row["plugin_unique_identifier"].rsplit("@", 1)[1],
                   declaration=declaration, installation_id=row["id"])
        return out

    def _r_list(self, h):
        values = h.bind(_PAGE_FIELDS)
        tenant = _require_uuid(values["TenantID"])
        with self._lock:
            rows = sorted(self._installations.get(tenant, []), key=lambda r: r["created"], reverse=True)
            start = (values["Page"] - 1) * values["PageSize"]
            page = [self._list_entry(r) for r in rows[start:start + values["PageSize"]]]
            return {"list": page, "total": len(rows)}

    def _r_batch(self, h):
        values = h.bind(_BATCH_FIELDS)
        tenant = _require_uuid(values["TenantID"])
        wanted = set(values["PluginIDs"])
        with self._lock:
            out = []
            for row in self._installations.get(tenant, []):
                if row["plugin_id"] in wanted and len(out) < 256:
                    entry = self._row_json(row)
                    uid = row["plugin_unique_identifier"]
                    entry.update(version=uid.split(":", 1)[1].split("@", 1)[0], checksum=uid.rsplit("@", 1)[1],
                                 declaration=self._declaration_for(row))
                    out.append(entry)
            return out

    def _r_missing(self, h):
        values = h.bind(_MISSING_FIELDS)
        tenant = _require_uuid(values["TenantID"])
        with self._lock:
            out = []
            for uid in values["PluginUniqueIdentifiers"]:
                row = self._find_installation(tenant, uid.split(":", 1)[0])
                if row is not None and row["plugin_unique_identifier"] == uid:
                    continue
                out.append({"plugin_unique_identifier": uid,
                            "current_identifier": row["plugin_unique_identifier"] if row else ""})
            return out

    def _r_uninstall(self, h):
        values = h.bind(_UNINSTALL_FIELDS)
        tenant = _require_uuid(values["TenantID"])
        installation_id = _require_uuid(values["PluginInstallationID"])
        with self._lock:
            rows = self._installations.get(tenant, [])
            for row in list(rows):
                if row["id"] == installation_id:
                    rows.remove(row)
                    uid = row["plugin_unique_identifier"]
                    self._refcount[uid] = max(0, self._refcount.get(uid, 0) - 1)
        return True

    # ---- manifests and readmes ---------------------------------------------

    def _r_manifest(self, h):
        values = h.bind([_TENANT, _UID_QUERY])
        with self._lock:
            package = self._packages.get(values["PluginUniqueIdentifier"])
        if package is None:
            raise _bad_request("plugin not found")
        return package.persisted

    def _r_decode(self, h):
        values = h.bind(_DECODE_FIELDS)
        uid = values["PluginUniqueIdentifier"]
        with self._lock:
            package = self._packages.get(uid)
        if package is None:
            raise _bad_request("open plugin_packages/%s: no such file or directory" % uid)
        return {"manifest": package.original, "unique_identifier": uid, "verification": package.verification}

    def _r_fetch_identifier(self, h):
        values = h.bind([_UID_QUERY])
        with self._lock:
            return self._refcount.get(values["PluginUniqueIdentifier"], 0) > 0

    def _r_readme(self, h):
        values = h.bind(_README_FIELDS)
        uid = values["PluginUniqueIdentifier"]
        with self._lock:
            package = self._packages.get(uid)
        if package is None:
            raise _internal("failed to get readme from database: open plugin_packages/%s: "
                            "no such file or directory" % uid)
        try:
            readmes = package.readmes()
        except _PkgError as exc:
            raise _internal("failed to get readme from database: %s" % exc)
        language = values["Language"]
        if language not in readmes:
            language = "en_US" if "en_US" in readmes else sorted(readmes)[0]
        return {"content": readmes[language], "language": language}

    def _r_asset(self, h):
        with self._lock:
            data = self._assets.get(h.params.get("id", ""))
        if data is None:
            h.send_body(200, b"", None)   # local storage: a missing asset is an empty 200
        else:
            h.send_body(200, data, "application/octet-stream")
        return _HANDLED

    def _r_extract_asset(self, h):
        values = h.bind(_EXTRACT_FIELDS)
        with self._lock:
            package = self._packages.get(values["PluginUniqueIdentifier"])
        if package is None or values["FilePath"] not in package.files:
            raise _internal("file not found: %s" % values["FilePath"], status=500)
        h.send_body(200, package.files[values["FilePath"]], "application/octet-stream")
        return _HANDLED

    # ---- tools -------------------------------------------------------------

    def _tool_entry(self, row):
        declaration = self._declaration_for(row)
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

    def _tool_rows(self, tenant):
        rows = []
        for row in self._installations.get(tenant, []):
            package = self._packages.get(row["plugin_unique_identifier"])
            if package is not None and "tool" in package.persisted:
                rows.append(row)
        return rows

    def _r_tools(self, h):
        values = h.bind(_PAGE_FIELDS)
        tenant = _require_uuid(values["TenantID"])
        with self._lock:
            rows = self._tool_rows(tenant)
            start = (values["Page"] - 1) * values["PageSize"]
            return [self._tool_entry(r) for r in rows[start:start + values["PageSize"]]]

    def _r_tool(self, h):
        values = h.bind(_TOOL_FIELDS)
        tenant = _require_uuid(values["TenantID"])
        with self._lock:
            for row in self._tool_rows(tenant):
                if row["plugin_id"] == values["PluginID"]:
                    entry = self._tool_entry(row)
                    if entry["provider"] != values["Provider"]:
                        break
                    return entry
        raise _plugin_not_found()

    def _r_check_existence(self, h):
        values = h.bind(_CHECK_FIELDS)
        tenant = _require_uuid(values["TenantID"])
        with self._lock:
            known = set()
            for row in self._tool_rows(tenant)[:256]:
                known.add((row["plugin_id"], self._tool_entry(row)["provider"]))
            return [(p["PluginID"], p["ProviderName"]) in known for p in values["ProviderIDS"]]

    # ---- dispatch ----------------------------------------------------------

    def _dispatch_installation(self, h):
        """The dispatch middleware: X-Plugin-ID, installation lookup (pre-stream errors)."""
        plugin_id = h.headers.get("X-Plugin-ID", "")
        if not plugin_id:
            raise _bad_request("plugin_id is required", status=400)
        tenant = h.params.get("tenant_id", "")
        if not _is_pg_uuid(tenant):
            raise _uuid_error(tenant, status=500)
        with self._lock:
            row = self._find_installation(_canonical_uuid(tenant), plugin_id)
            if row is None:
                raise _plugin_not_found(status=404)
            return row, self._packages.get(row["plugin_unique_identifier"])

    def _stream(self, h, chunks):
        """Write ToolResponseChunks as SSE events; errors become the final event."""
        with self._stats_lock:
            self._active_dispatch += 1
        try:
            h.start_stream()
            iterator = iter(chunks)
            while True:
                try:
                    chunk = next(iterator)
                except StopIteration:
                    break
                except FakePluginError as exc:
                    h.send_event(_plugin_error_event(exc.error_type, exc.message, exc.error_args))
                    break
                except _ClientGone:
                    raise
                except Exception as exc:  # any plugin exception is reported like the SDK does
                    h.send_event(_plugin_error_event(type(exc).__name__, str(exc),
                                                     {"traceback": traceback.format_exc()}))
                    break
                event = _chunk_event(chunk)
                h.send_event(event)
                if event.startswith(b'{"code":-500'):
                    break
            h.end_stream()
        except _ClientGone:
            h.close_connection = True
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        finally:
            with self._stats_lock:
                self._active_dispatch -= 1
        return _HANDLED

    def _r_invoke(self, h):
        row, package = self._dispatch_installation(h)
        values = h.bind(_INVOKE_FIELDS)
        request = h.json_body()
        request = request if isinstance(request, dict) else {}
        provider, tool = values["Data"]["Provider"], values["Data"]["Tool"]
        with self._lock:
            handler = self._tool_handlers.get((row["plugin_id"], provider, tool))
        if handler is None:
            declaration = (package.persisted.get("tool") if package else None) or {}
            names = [t["identity"]["name"] for t in declaration.get("tools", [])]
            if declaration.get("identity", {}).get("name") != provider:
                return self._stream(h, _raising(ValueError("Provider `%s` not found" % provider)))
            if tool not in names:
                return self._stream(h, _raising(ValueError("Tool `%s` not found for provider `%s`" % (tool, provider))))
            handler = _default_tool_handler
        return self._stream(h, _call_handler(handler, request))

    def _r_validate_credentials(self, h):
        self._dispatch_installation(h)
        h.bind(_VALIDATE_FIELDS)
        return self._stream(h, iter([{"type": "__raw__", "data": {"result": True}}]))

    def _r_runtime_parameters(self, h):
        self._dispatch_installation(h)
        values = h.bind(_RUNTIME_FIELDS)
        tool = values["Data"]["Tool"]
        return self._stream(h, _raising(ValueError("Tool `%s` does not implement runtime parameters" % tool)))


def _raising(exc):
    raise exc
    yield  # pragma: no cover  (makes this a generator)


def _call_handler(handler, request):
    for chunk in handler(request):
        yield chunk


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


def _truncate_message(message):
    raw = message.encode("utf-8")
    if len(raw) <= TASK_MESSAGE_LIMIT:
        return message
    return raw[:512].decode("utf-8", "ignore") + "..." + raw[-512:].decode("utf-8", "ignore")


def _pattern_parts(pattern):
    parts = []
    for piece in _as_str(pattern).split(":"):
        parts.extend(piece.split("/"))
    return parts


class _Bundle(object):
    """An uploaded bundle: manifest.yaml plus package files under ``_assets/``.

    Assets are read on demand, so a large bundle never sits in memory whole.
    """

    def __init__(self, fileobj):
        try:
            self._archive = zipfile.ZipFile(fileobj)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError):
            raise _bad_request("zip: not a valid zip file\nfailed to decode bundle")
        names = set(self._archive.namelist())
        if "manifest.yaml" not in names:
            self._archive.close()
            raise _bad_request("open manifest.yaml: file does not exist\nfailed to decode bundle")
        try:
            self.manifest = _yaml_load(self._archive.read("manifest.yaml"), "bundle_entities.Bundle")
        except _PkgError as exc:
            self._archive.close()
            raise _bad_request("%s\nfailed to decode bundle" % exc)
        self._names = names

    def asset(self, path):
        """Bytes of ``_assets/<path>``, or None."""
        name = "_assets/" + path
        if not path or name not in self._names or name.endswith("/"):
            return None
        return self._archive.read(name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._archive.close()


# --------------------------------------------------------------------------
# Package builders for tests
# --------------------------------------------------------------------------

_FIXED_DATE = (2024, 1, 1, 0, 0, 0)
_ICON_SVG = (b'<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16">'
             b'<rect width="16" height="16" fill="#1c64f2"/></svg>\n')


def _zip_info(path):
    info = zipfile.ZipInfo(path, date_time=_FIXED_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def _dump_yaml(value):
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, default_flow_style=False).encode("utf-8")


def _zip_files(files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            archive.writestr(_zip_info(path), files[path])
    return buffer.getvalue()


def build_package(manifest, provider, tools, *, readme=None, readmes=None, extra_files=None):
    """Build a ``.difypkg`` (zip of file entries only, sorted, deflated).

    ``manifest`` and ``provider`` are dicts dumped to ``manifest.yaml`` and the
    provider file (``manifest["plugins"]["tools"][0]``, default
    ``provider/<name>.yaml``); ``tools`` maps tool yaml paths to dicts (the
    provider's ``tools`` list defaults to those paths).  Icons named by the
    manifest or provider get a generated SVG under ``_assets/`` unless given.
    ``readme`` becomes README.md, ``readmes`` ``{lang: text}`` become
    ``readme/README_<lang>.md``.  ``extra_files`` ``{path: bytes|str|None}``
    adds or (with None) removes files.
    """
    manifest = json.loads(json.dumps(manifest))
    provider = json.loads(json.dumps(provider)) if provider is not None else None
    files = {}
    if provider is not None:
        plugins = manifest.setdefault("plugins", {})
        if not plugins.get("tools"):
            plugins["tools"] = ["provider/%s.yaml" % _as_dict(provider.get("identity")).get("name", "provider")]
        if "tools" not in provider:
            provider["tools"] = list(tools or {})
        files[plugins["tools"][0]] = _dump_yaml(provider)
    for path, tool in (tools or {}).items():
        files[path] = _dump_yaml(tool)
    files["manifest.yaml"] = _dump_yaml(manifest)
    icons = [manifest.get("icon"), manifest.get("icon_dark")]
    if provider is not None:
        identity = _as_dict(provider.get("identity"))
        icons += [identity.get("icon"), identity.get("icon_dark")]
    for icon in icons:
        if icon:
            files.setdefault("_assets/" + icon, _ICON_SVG)
    files.setdefault("requirements.txt", b"dify_plugin>=0.9.0,<0.10.0\n")
    files.setdefault("main.py", b"from dify_plugin import DifyPluginEnv, Plugin\n\n"
                                b"plugin = Plugin(DifyPluginEnv(MAX_REQUEST_TIMEOUT=120))\n\n"
                                b"if __name__ == \"__main__\":\n    plugin.run()\n")
    if readme is not None:
        files["README.md"] = readme.encode("utf-8") if isinstance(readme, str) else readme
    for lang, text in (readmes or {}).items():
        files["readme/README_%s.md" % lang] = text.encode("utf-8") if isinstance(text, str) else text
    for path, data in (extra_files or {}).items():
        if data is None:
            files.pop(path, None)
        else:
            files[path] = data.encode("utf-8") if isinstance(data, str) else data
    return _zip_files(files)


def _i18n_label(text):
    return {"en_US": text, "zh_Hans": text}


def _param(name, ptype, form="llm", required=False, **extra):
    param = {"name": name, "type": ptype, "required": required, "label": {"en_US": name.title()},
             "human_description": {"en_US": "The %s parameter" % name}, "form": form}
    if form == "llm":
        param["llm_description"] = "%s for the tool" % name
    param.update(extra)
    return param


def sample_plugin(author="acme", name="echo", version="0.0.1", *, provider=None, label="Echo",
                  readme="# Echo\n\nA sample tool plugin for tests.\n", readmes=None, tags=("utilities",),
                  extra_files=None):
    """A ready-made tool plugin package (bytes).

    One provider (``provider`` defaults to ``name``) with credentials given as a
    ``credentials_for_provider`` map, and three tools:

    * ``echo``: parameters covering string (required, no default), number
      (min/max/default/precision), boolean, select (options), secret-input,
      file, files, array, object, a form parameter with a default; plus an
      ``output_schema`` using ``https://dify.ai/schemas/v1/file.json`` and a
      local ``#/$defs/...`` ref;
    * ``ping``: no parameters (the daemon sends ``parameters: null``);
    * ``blob``: one number parameter, handy for blob-chunk handlers.
    """
    provider = provider or name
    manifest = {
        "version": version, "type": "plugin", "author": author, "name": name,
        "label": _i18n_label(label), "description": {"en_US": "%s plugin for tests" % label},
        "icon": "icon.svg", "resource": {"memory": 268435456, "permission": {"tool": {"enabled": True}}},
        "plugins": {"tools": ["provider/%s.yaml" % provider]},
        "meta": {"version": "0.0.1", "arch": ["amd64", "arm64"],
                 "runner": {"language": "python", "version": "3.12", "entrypoint": "main"},
                 "minimum_dify_version": None},
        "created_at": "2024-01-01T00:00:00Z", "privacy": "PRIVACY.md", "tags": list(tags),
    }
    provider_yaml = {
        "identity": {"author": author, "name": provider, "label": _i18n_label(label),
                     "description": {"en_US": "%s tools" % label}, "icon": "icon.svg", "tags": list(tags)},
        "credentials_for_provider": {
            "api_key": {"type": "secret-input", "required": True, "label": {"en_US": "API key"},
                        "placeholder": {"en_US": "sk-..."}, "help": {"en_US": "Your key"},
                        "url": "https://example.com/keys"},
            "region": {"type": "select", "required": False, "default": "us", "label": {"en_US": "Region"},
                       "options": [{"value": "us", "label": {"en_US": "US"}},
                                   {"value": "eu", "label": {"en_US": "EU"}}]},
        },
        "tools": ["tools/echo.yaml", "tools/ping.yaml", "tools/blob.yaml"],
        "extra": {"python": {"source": "provider/%s.py" % provider}},
    }
    echo = {
        "identity": {"name": "echo", "author": author, "label": {"en_US": "Echo"}},
        "description": {"human": {"en_US": "Echo the parameters back"}, "llm": "Echoes its parameters"},
        "parameters": [
            _param("text", "string", required=True),
            _param("count", "number", form="form", default=3, min=1, max=10, precision=0),
            _param("ratio", "number", min=0, max=1.5, default=0.5),
            _param("flag", "boolean", form="form", default=False),
            _param("mode", "select", form="form", default="a", options=[
                {"value": "a", "label": {"en_US": "A"}}, {"value": "b", "label": {"en_US": "B"}, "icon": "b.svg"}]),
            _param("token", "secret-input", form="form"),
            _param("doc", "file"),
            _param("docs", "files"),
            _param("items", "array"),
            _param("config", "object"),
            _param("greeting", "string", form="form", default="hello"),
        ],
        "output_schema": {
            "type": "object",
            "properties": {
                "file": {"$ref": "https://dify.ai/schemas/v1/file.json"},
                "items": {"type": "array", "items": {"$ref": "#/$defs/item"}},
            },
            "$defs": {"item": {"type": "object", "properties": {"name": {"type": "string"}}}},
        },
        "extra": {"python": {"source": "tools/echo.py"}},
    }
    ping = {
        "identity": {"name": "ping", "author": author, "label": {"en_US": "Ping"}},
        "description": {"human": {"en_US": "Answer pong"}, "llm": "Answers pong"},
        "extra": {"python": {"source": "tools/ping.py"}},
    }
    blob = {
        "identity": {"name": "blob", "author": author, "label": {"en_US": "Blob"}},
        "description": {"human": {"en_US": "Return bytes"}, "llm": "Returns bytes"},
        "parameters": [_param("size", "number", default=16)],
        "extra": {"python": {"source": "tools/blob.py"}},
    }
    extras = {"PRIVACY.md": "No data is collected.\n", "_assets/b.svg": _ICON_SVG}
    extras.update(extra_files or {})
    return build_package(manifest, provider_yaml,
                         {"tools/echo.yaml": echo, "tools/ping.yaml": ping, "tools/blob.yaml": blob},
                         readme=readme, readmes=readmes, extra_files=extras)


# --------------------------------------------------------------------------
# Command line: run as a separate process
# --------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(description="Fake Dify Plugin Daemon (for tests)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--key", default="test-key")
    parser.add_argument("--max-package-size", type=int, default=DEFAULT_MAX_PACKAGE_SIZE)
    parser.add_argument("--max-bundle-size", type=int, default=DEFAULT_MAX_BUNDLE_SIZE)
    parser.add_argument("--install-delay", type=float, default=0.05)
    parser.add_argument("--version", dest="daemon_version", default="0.6.10")
    args = parser.parse_args(argv)
    daemon = FakeDaemon(key=args.key, host=args.host, port=args.port, max_package_size=args.max_package_size,
                        max_bundle_size=args.max_bundle_size, install_delay=args.install_delay,
                        version=args.daemon_version)
    done = threading.Event()

    def on_signal(signum, frame):
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    daemon.start()
    sys.stdout.write("URL %s\n" % daemon.url)
    sys.stdout.flush()
    try:
        while not done.wait(0.2):
            pass
    finally:
        daemon.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
