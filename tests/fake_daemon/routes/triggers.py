"""Trigger routes: discovery and the six ``trigger/*`` dispatch routes.

* ``GET .../management/triggers`` and ``.../trigger?plugin_id&provider``;
* dispatch (tenant and ``/v2``), ``data`` always ``{provider, credentials?,
  credential_type?, ...}``: ``validate_credentials`` -> ``{result}``; ``subscribe``
  ``{endpoint (required), parameters?}`` -> ``{subscription}``; ``refresh`` and
  ``unsubscribe`` ``{subscription (required)}`` -> ``{subscription}`` (for unsubscribe
  the plugin's ``{success, message}``); ``dispatch_event`` ``{subscription,
  raw_http_request (required, hex)}`` -> ``{user_id, events, payload, response (hex of
  an HTTP response)}``; ``invoke_event`` ``{event, subscription, raw_http_request
  (required), parameters?, payload?}`` -> ``{variables, cancelled}``.

The plugin side is the handler a test sets, else a default that keeps the Python SDK's
rules the recordings (and the real daemon) show: ``dispatch_event`` without
``credential_type`` and ``invoke_event`` without ``parameters`` or ``payload`` objects
fail with a pydantic ValidationError; a raw request that is not hex, has no Host header,
or whose body does not match its Content-Length, fails as the SDK does.  By default a subscription expires in an hour,
unsubscribing succeeds, a webhook fires no event and is answered 200 with an empty body,
and an event's variables are its payload.  Recorded ground truth:
tests/transcripts/0.6.10-routes/trigger/.
"""

import binascii
import time

from ..dispatch import DispatchRoute, register_dispatch_route
from ..server import _Field
from ..wire import FakePluginError
from .providers import member_names, register_listing

_PROVIDER = _Field("Provider", "json", "provider", "str", "required")
_SUBSCRIPTION = _Field("Subscription", "json", "subscription", "map", "required")
_RAW = _Field("RawHTTPRequest", "json", "raw_http_request", "str", "required")
EMPTY_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


def _provider(call):
    provider, events = member_names(call, "trigger")
    if call.data.get("provider") != provider:
        raise ValueError("Trigger provider `%s` not found" % call.data.get("provider"))
    return events


def _require(call, request_type, *names):
    """The SDK's pydantic check of the request model (objects where it wants them)."""
    problems = [name for name in names if not isinstance(call.data.get(name), (dict, str))]
    if problems:
        raise FakePluginError("ValidationError", "%d validation error%s for %s\n%s" % (
            len(problems), "" if len(problems) == 1 else "s", request_type,
            "\n".join("%s\n  Field required [type=missing]" % name for name in problems)))


def raw_request(call):
    """(head bytes, body) of ``data.raw_http_request``, or the SDK's errors."""
    raw = binascii.unhexlify(call.data.get("raw_http_request") or "")
    head, _, body = raw.partition(b"\r\n\r\n")
    names = set()
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        names.add(name.strip().lower())
        if name.strip().lower() == b"content-length" and int(value.strip() or 0) != len(body):
            raise ValueError("HTTP body does not match Content-Length")
    if b"host" not in names:   # werkzeug, under the SDK, wants it
        raise ValueError("Missing mandatory Host: header")
    return head, body


def _validate(call):
    _provider(call)
    yield {"result": True}


def _subscribe(call):
    _provider(call)
    yield {"subscription": {"endpoint": call.data.get("endpoint"), "expires_at": int(time.time()) + 3600,
                            "parameters": call.data.get("parameters") or {}, "properties": {}}}


def _refresh(call):
    _provider(call)
    yield {"subscription": dict(call.data.get("subscription") or {}, expires_at=int(time.time()) + 3600)}


def _unsubscribe(call):
    _provider(call)
    yield {"subscription": {"success": True, "message": "unsubscribed"}}


def _dispatch(call):
    _provider(call)
    _require(call, "TriggerDispatchEventRequest", "credential_type")
    raw_request(call)
    yield {"user_id": "", "events": [], "payload": {},
           "response": binascii.hexlify(EMPTY_RESPONSE).decode("ascii")}


def _invoke(call):
    events = _provider(call)
    _require(call, "TriggerInvokeEventRequest", "parameters", "payload")
    if call.data.get("event") not in events:
        raise ValueError("Event `%s` not found in provider `%s`" % (call.data.get("event"),
                                                                  call.data.get("provider")))
    raw_request(call)
    yield {"variables": call.data.get("payload"), "cancelled": False}


_CREDENTIALS = [_Field("Credentials", "json", "credentials", "map"),
                _Field("CredentialType", "json", "credential_type", "str")]
ROUTES = [
    DispatchRoute("trigger/validate_credentials", "TriggerValidateProviderCredentialsRequest",
                  [_PROVIDER] + _CREDENTIALS, handler=_validate),
    DispatchRoute("trigger/subscribe", "TriggerSubscribeRequest", [
        _PROVIDER, _Field("Endpoint", "json", "endpoint", "str", "required"),
        _Field("Parameters", "json", "parameters", "map")] + _CREDENTIALS, handler=_subscribe),
    DispatchRoute("trigger/unsubscribe", "TriggerUnsubscribeRequest", [_PROVIDER, _SUBSCRIPTION] + _CREDENTIALS,
                  handler=_unsubscribe),
    DispatchRoute("trigger/refresh", "TriggerRefreshRequest", [_PROVIDER, _SUBSCRIPTION] + _CREDENTIALS,
                  handler=_refresh),
    DispatchRoute("trigger/dispatch_event", "TriggerDispatchEventRequest",
                  [_PROVIDER, _SUBSCRIPTION, _RAW] + _CREDENTIALS, handler=_dispatch),
    DispatchRoute("trigger/invoke_event", "TriggerInvokeEventRequest", [
        _PROVIDER, _Field("Event", "json", "event", "str", "required"), _RAW,
        _Field("Parameters", "json", "parameters", "map"), _SUBSCRIPTION,
        _Field("Payload", "json", "payload", "map")] + _CREDENTIALS, handler=_invoke),
]


def register(router, daemon):
    register_listing(router, daemon, "triggers", "trigger", "trigger")
    for route in ROUTES:
        register_dispatch_route(router, daemon, route)
