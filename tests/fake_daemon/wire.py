"""Wire facts shared by every part of the fake: Go-style JSON, times, ids, error envelopes.

* :func:`go_json` encodes like Go's encoding/json; :func:`_go_value` normalises a
  free-form value the way a ``map[string]any`` round trip does (sorted keys,
  numbers through float64), :func:`_go_struct` only the numbers (keys keep the
  order the caller gave, as a Go struct's fields do).
* ``created_at`` style times (:func:`_now`, :func:`_go_time`), UUIDv7 row ids and
  the Postgres uuid checks the daemon's database applies.
* The error envelope of daemon-api.md §2 (``{"code","message","data"}`` with a
  JSON-in-JSON message), the :class:`_DaemonError` a route raises to answer with
  one, and the ``PluginInvokeError`` events that end a dispatch stream.
"""

import datetime
import json
import math
import os
import re
import threading
import time
import uuid

IDENTIFIER_RE = re.compile(
    r"^(?:([a-z0-9_-]{1,64})/)?([a-z0-9_-]{1,255}):([0-9]{1,4})(\.[0-9]{1,4}){1,3}"
    r"(-\w{1,16})?@[a-f0-9]{32,64}$",
    re.ASCII,
)
PG_UUID_RE = re.compile(
    r"^\{?[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\}?$"
)

UNAUTHORIZED_BODY = (
    b'{"code":-401,"message":"{\\"message\\":\\"unauthorized\\",\\"error_type\\":'
    b'\\"PluginDaemonUnauthorizedError\\",\\"args\\":null}","data":null}'
)
NOT_FOUND_BODY = b'{"code":"not_found","message":"route not found"}'
JSON_CTYPE = "application/json; charset=utf-8"


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


def _go_struct(value):
    """Numbers as Go's float64 prints them; dict key order kept (a Go struct's field order)."""
    if isinstance(value, dict):
        return dict((str(k), _go_struct(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_go_struct(v) for v in value]
    if isinstance(value, float):
        return _go_number(value)
    return value


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


def _plugin_error_event(error_type, message, args):
    inner = go_json(_go_value({"args": args, "error_type": error_type, "message": message}))
    return _error_body(-500, "PluginInvokeError", inner.decode("utf-8"))


def _daemon_stream_error(error_type, message):
    inner = go_json({"error_type": error_type, "message": message})
    return _error_body(-500, "PluginInvokeError", inner.decode("utf-8"))
