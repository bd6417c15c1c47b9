#!/usr/bin/env python3
"""Client and command line tool for the Dify Plugin Daemon.

One file, standard library only: install it with pip or copy it into your project.
It speaks the daemon's HTTP API (package upload, install tasks, discovery, tool
providers, streamed tool invocation) and carries a CLI (``dify-plugin-client`` or
``python -m dify_plugin_client``).

Supports Python 3.8 to 3.13 and daemon releases 0.1.1 and later (tested against 0.6.10).

Example::

    from dify_plugin_client import DifyPluginClient, PluginConfig, PluginInstallationSource

    client = DifyPluginClient(PluginConfig(url="http://localhost:5002", key="plugin-api-key"))
    decoded = client.upload_pkg(tenant_id, "my_plugin.difypkg")
    start = client.install_from_identifiers(
        tenant_id, [decoded.unique_identifier], PluginInstallationSource.Package, [{}])
    if not start.all_installed:
        client.wait_for_installation_task(tenant_id, start.task_id)
    for plugin in client.list_plugins(tenant_id):
        print(plugin.name, plugin.version)

License: MIT.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = [
    # client and configuration
    "DifyPluginClient", "PluginConfig", "Timeout", "Response",
    # enums
    "PluginInstallationSource", "PluginInstallTaskStatus",
    # entities: plugins and install tasks
    "I18nObject", "PluginDeclaration", "PluginResourceRequirements", "PluginPermissions",
    "PluginExtensions", "PluginRunner", "PluginMeta", "PluginVerification",
    "PluginDecodeResponse", "PluginBundleDependency", "GithubDependency",
    "MarketplaceDependency", "PackageDependency", "PluginInstallTaskStartResponse",
    "PluginInstallTask", "PluginInstallTaskPluginStatus", "MissingPluginDependency",
    "PluginInstallation", "PluginEntity", "PluginListResponse", "DaemonHealth",
    # entities: tools
    "ToolProviderIdentity", "ProviderConfigOption", "ProviderConfig", "ToolOAuthSchema",
    "ToolParameterOption", "ToolParameter", "ToolIdentity", "ToolDescription",
    "ToolDeclaration", "ToolProviderDeclaration", "PluginToolProviderEntity",
    "ToolInvokeMessage", "TextMessage", "JsonMessage", "BlobMessage", "BlobChunkMessage",
    "VariableMessage", "LogMessage", "RetrieverResourceMessage", "FileMessage",
    "UnknownMessage",
    # errors
    "DifyPluginError", "TransportError", "ConnectError", "RemoteProtocolError",
    "TimeoutException", "ConnectTimeout", "ReadTimeout", "WriteTimeout", "PoolTimeout",
    "HTTPStatusError", "InvalidResponseError", "ResponseValidationError",
    "ResponseTooLargeError", "BlobTooLargeError", "InvalidArgumentError",
    "ToolParameterError", "PackageTooLargeError", "PluginInstallError",
    "InstallTimeoutError", "ConfigError",
    "PluginDaemonError", "PluginDaemonInnerError", "PluginInvokeError",
    "PluginDaemonBadRequestError", "PluginDaemonNotFoundError",
    "PluginUniqueIdentifierError", "PluginPermissionDeniedError",
    "PluginDaemonUnauthorizedError", "PluginDaemonInternalServerError",
    "PluginNotFoundError",
    "InvokeRateLimitError", "InvokeAuthorizationError", "InvokeBadRequestError",
    "InvokeConnectionError", "InvokeServerUnavailableError",
    "CredentialsValidateFailedError",
    # command line
    "main",
]

# Only cheap modules are imported here: `import dify_plugin_client` and
# `dify-plugin-client --help` must stay fast. http.client, ssl, socket, urllib,
# logging, threading and dataclasses are imported where first needed; json and re
# through the stand-ins below.
import _thread
import binascii
import enum
import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover - typing only, never imported at run time
    from typing import Any, List, Optional, Union


class _LazyModule:
    """Stands in for a module until its first use, then puts the real one in its place."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attribute):
        module = __import__(self._name)
        globals()[self._name] = module  # later lookups get the module itself
        return getattr(module, attribute)


json = _LazyModule("json")
re = _LazyModule("re")


class _Regex:
    """A regular expression compiled on first use (most are never needed by a command)."""

    def __init__(self, pattern):
        self.pattern = pattern

    def __getattr__(self, name):  # match, search, ...: bound to the compiled pattern
        compiled = re.compile(self.pattern)
        self.__dict__.update(match=compiled.match, search=compiled.search,
                             fullmatch=compiled.fullmatch, sub=compiled.sub)
        return getattr(compiled, name)


# =============================================================================
# Constants
# =============================================================================

#: Where the daemon listens by default (its SERVER_PORT default is 5002).
DEFAULT_URL = "http://localhost:5002"
#: Per-operation socket timeout for ordinary calls, in seconds.
DEFAULT_TIMEOUT = 60.0
#: Read timeout while waiting for stream events. The daemon ends a dispatch stream
#: after PLUGIN_MAX_EXECUTION_TIMEOUT (600 s by default) and sends no heartbeats, so a
#: long tool run is silent; wait a little longer than the daemon does.
DEFAULT_STREAM_TIMEOUT = 660.0
#: Daemon MAX_PLUGIN_PACKAGE_SIZE default: 52,428,800 bytes.
DEFAULT_MAX_PACKAGE_SIZE = 50 * 1024 * 1024
#: Daemon MAX_BUNDLE_PACKAGE_SIZE default: 629,145,600 bytes (12 x the package limit).
DEFAULT_MAX_BUNDLE_SIZE = 600 * 1024 * 1024
#: Largest non-streamed response body we accept (a 256-plugin listing is a few MiB).
DEFAULT_MAX_RESPONSE_SIZE = 64 * 1024 * 1024
#: Largest single server-sent event we accept.
DEFAULT_MAX_EVENT_SIZE = 16 * 1024 * 1024
#: Dify's blob merger limits: 8 KiB per decoded chunk, 30 MiB per merged blob.
DEFAULT_MAX_BLOB_CHUNK_SIZE = 8 * 1024
DEFAULT_MAX_BLOB_SIZE = 30 * 1024 * 1024
#: How long a fetched tool declaration is reused for parameter casting, in seconds.
DEFAULT_DECLARATION_CACHE_TTL = 30.0
#: Connections kept per client; also the most requests in flight at once.
DEFAULT_POOL_SIZE = 10
#: Automatic retries of idempotent (GET) requests after a connection error.
DEFAULT_RETRIES = 2

#: Daemon paging bounds (page >= 1, 1 <= page_size <= 256) and batch limits.
MAX_PAGE_SIZE = 256
MAX_INSTALL_IDENTIFIERS = 64
MAX_BATCH_IDS = 256

#: The daemon's plugin unique identifier pattern: [author/]name:version@checksum.
_IDENTIFIER_PATTERN = (
    r"(?:([a-z0-9_-]{1,64})/)?([a-z0-9_-]{1,255}):"
    r"([0-9]{1,4}(?:\.[0-9]{1,4}){1,3}(?:-[A-Za-z0-9_]{1,16})?)@([a-f0-9]{32,64})"
)
#: A plugin id is the identifier without version and checksum: [author/]name.
_PLUGIN_ID_PATTERN = r"(?:[a-z0-9_-]{1,64}/)?[a-z0-9_-]{1,255}"
_UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

_ASCII_DIGITS = _Regex(r"[0-9]+\Z")
_IDENTIFIER_RE = _Regex(_IDENTIFIER_PATTERN + r"\Z")
_PLUGIN_ID_RE = _Regex(_PLUGIN_ID_PATTERN + r"\Z")
_UUID_RE = _Regex(_UUID_PATTERN + r"\Z")
_CONTROL_CHARS_RE = _Regex(r"[\x00-\x1f\x7f]")
#: What may not go into a header value: controls (CR/LF would inject headers) and
#: anything http.client cannot send (it encodes header values as Latin-1).
_HEADER_UNSAFE_RE = _Regex(r"[^\x20-\x7e\xa0-\xff]")


def _logger():
    """The module's logger, created on first use (keeps `import logging` off import time)."""
    import logging

    return logging.getLogger("dify_plugin_client")


# =============================================================================
# Errors
# =============================================================================


#: Every daemon key a PluginConfig of this process holds. Error texts carry what the
#: daemon or a proxy sent back; should that echo the X-Api-Key header, it is masked.
_KEYS_IN_USE = set()
_MIN_REDACTED_KEY = 4  # shorter "keys" (tests, toys) would mask ordinary words


def _redact(text):
    """``text`` with every configured daemon key replaced by ***."""
    if isinstance(text, str):
        for key in tuple(_KEYS_IN_USE):
            if key in text:
                text = text.replace(key, "***")
    return text


def _redact_bytes(content):
    """``content`` with every configured key, as UTF-8 or Latin-1 bytes, replaced by ***."""
    for key in tuple(_KEYS_IN_USE):
        for encoded in {key.encode("utf-8"), key.encode("latin-1")}:
            if encoded in content:
                content = content.replace(encoded, b"***")
    return content


class DifyPluginError(Exception):
    """Root of every error this module raises on purpose.

    Attributes (any may be None): ``message`` (what happened), ``http_status``,
    ``code`` (the daemon's envelope code), ``error_type`` (the daemon's error type),
    ``route`` (method and path of the request) and ``hint`` (what to do about it).
    The daemon key never appears in any of them.
    """

    def __init__(self, message="", *, http_status=None, code=None, error_type=None,
                 route=None, hint=None):
        message = _redact(message)
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.code = code
        self.error_type = error_type
        self.route = route
        self.hint = _redact(hint)

    def _details(self):
        details = []
        if self.error_type:
            details.append(str(self.error_type))
        if self.code is not None:
            details.append("code %s" % (self.code,))
        if self.http_status is not None:
            details.append("HTTP %s" % (self.http_status,))
        if self.route:
            details.append(self.route)
        return details

    def __str__(self):
        text = self.message or self.__class__.__name__
        details = self._details()
        if details:
            text += " [%s]" % ", ".join(details)
        if self.hint:
            text += " (hint: %s)" % self.hint
        return text


# --- transport ---------------------------------------------------------------


class TransportError(DifyPluginError):
    """The request did not complete: no connection, a dropped one, or a timeout."""


class ConnectError(TransportError):
    """Could not open a connection (refused, unknown host, TLS handshake failed)."""


class RemoteProtocolError(TransportError):
    """The connection broke or the peer spoke invalid HTTP (reset, truncated body or stream)."""


class TimeoutException(TransportError):
    """A timeout expired. Subclasses say which phase."""


class ConnectTimeout(TimeoutException):
    """Opening the connection took longer than the connect timeout."""


class ReadTimeout(TimeoutException):
    """The daemon sent nothing for longer than the read (or stream) timeout."""


class WriteTimeout(TimeoutException):
    """Sending the request body stalled for longer than the write timeout."""


class PoolTimeout(TimeoutException):
    """Every pooled connection stayed busy for longer than the pool timeout."""


# --- HTTP and response shape --------------------------------------------------


class Response:
    """A received HTTP response, kept on errors (shaped like the httpx one)."""

    __slots__ = ("status_code", "headers", "content", "method", "url")

    def __init__(self, status_code, headers, content, method, url):
        self.status_code = status_code
        self.headers = headers  # dict with lower-case names
        self.content = content
        self.method = method
        self.url = url

    @property
    def text(self):
        return self.content.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.content)

    @property
    def request(self):
        return _RequestInfo(self.method, self.url)

    def __repr__(self):
        return "<Response [%s] %s %s>" % (self.status_code, self.method, self.url)


class _RequestInfo:
    __slots__ = ("method", "url")

    def __init__(self, method, url):
        self.method = method
        self.url = url


class HTTPStatusError(DifyPluginError):
    """A non-2xx response that is not a daemon error envelope (proxy page, empty 500, 404 route).

    ``status_code``, ``method``, ``url``, ``text`` and ``response`` mirror httpx.
    """

    def __init__(self, message="", *, response=None, **kwargs):
        super().__init__(message, **kwargs)
        self.response = response

    @property
    def status_code(self):
        return self.response.status_code if self.response is not None else self.http_status

    @property
    def method(self):
        return self.response.method if self.response is not None else None

    @property
    def url(self):
        return self.response.url if self.response is not None else None

    @property
    def text(self):
        return self.response.text if self.response is not None else ""


class InvalidResponseError(DifyPluginError):
    """The daemon answered 2xx but the body is not what its API promises."""


class ResponseValidationError(InvalidResponseError):
    """A field of the response is missing or has the wrong type. ``path`` names it."""

    def __init__(self, message="", *, path=None, **kwargs):
        super().__init__(message, **kwargs)
        self.path = path


class ResponseTooLargeError(InvalidResponseError):
    """A response, event or blob is larger than the configured cap."""


class BlobTooLargeError(ResponseTooLargeError):
    """A streamed blob (or one of its chunks) is larger than the configured cap."""


# --- caller input -------------------------------------------------------------


class InvalidArgumentError(DifyPluginError, ValueError):
    """An argument was rejected before any request was sent. ``argument`` names it."""

    def __init__(self, message="", *, argument=None, **kwargs):
        super().__init__(message, **kwargs)
        self.argument = argument


class ToolParameterError(InvalidArgumentError):
    """Tool parameters do not fit the tool's declaration.

    ``problems`` lists ``(parameter, value, expected)`` for every parameter at fault.
    """

    def __init__(self, message="", *, problems=(), **kwargs):
        kwargs.setdefault("argument", "tool_parameters")
        super().__init__(message, **kwargs)
        self.problems = list(problems)


class PackageTooLargeError(InvalidArgumentError):
    """A package or bundle is larger than the daemon accepts; nothing was sent."""


class ConfigError(DifyPluginError):
    """The CLI settings (flags, environment, config file) are unusable."""


# --- install tasks ------------------------------------------------------------


class PluginInstallError(DifyPluginError):
    """An install task failed. ``task`` is the last task seen; ``failures`` lists
    ``(plugin_unique_identifier, message)`` for every failed plugin."""

    def __init__(self, message="", *, task=None, failures=(), **kwargs):
        super().__init__(message, **kwargs)
        self.task = task
        self.failures = list(failures)


class InstallTimeoutError(DifyPluginError):
    """An install task did not finish before the deadline. ``task`` is the last one seen."""

    def __init__(self, message="", *, task=None, **kwargs):
        super().__init__(message, **kwargs)
        self.task = task


# --- daemon error envelopes ---------------------------------------------------


class PluginDaemonError(DifyPluginError):
    """The daemon answered with an error envelope (a negative ``code``).

    ``daemon_args`` holds the envelope's ``args`` (the daemon always sends null).
    Subclasses are chosen by the daemon's ``error_type`` string.
    """

    def __init__(self, message="", *, daemon_args=None, **kwargs):
        super().__init__(message, **kwargs)
        self.daemon_args = daemon_args


class PluginDaemonInnerError(PluginDaemonError):
    """An error inside the daemon that it could not describe further."""


class PluginDaemonInternalServerError(PluginDaemonError):
    """Daemon error type PluginDaemonInternalServerError (code -500)."""


class PluginDaemonBadRequestError(PluginDaemonError):
    """Daemon error type PluginDaemonBadRequestError (code -400): validation, upload, decode."""


class PluginDaemonNotFoundError(PluginDaemonError):
    """Daemon error type PluginDaemonNotFoundError (code -404)."""


class PluginUniqueIdentifierError(PluginDaemonError):
    """Daemon error type PluginUniqueIdentifierError (code -400): a malformed identifier."""


class PluginNotFoundError(PluginDaemonError):
    """Daemon error type PluginNotFoundError (code -404): the plugin is not installed."""


class PluginPermissionDeniedError(PluginDaemonError):
    """Daemon error type PluginPermissionDeniedError (code -403)."""


class PluginDaemonUnauthorizedError(PluginDaemonError):
    """Daemon error type PluginDaemonUnauthorizedError (code -401): wrong or missing key."""


class PluginInvokeError(PluginDaemonError):
    """The plugin itself failed while being invoked (daemon error type PluginInvokeError).

    ``invoke_error_type`` is the plugin's own error type (e.g. ``ValueError`` or
    ``InvokeRateLimitError``), ``invoke_message`` its message and ``invoke_args`` its
    args (the plugin SDK puts a ``traceback`` there). ``description`` is the raw inner
    JSON text as the daemon sent it. ``message`` is the plugin's message.
    """

    def __init__(self, message="", *, invoke_error_type=None, invoke_message=None,
                 invoke_args=None, description=None, **kwargs):
        super().__init__(message, **kwargs)
        self.invoke_error_type = invoke_error_type
        self.invoke_message = _redact(invoke_message)
        self.invoke_args = invoke_args
        self.description = _redact(description)

    def _details(self):
        details = super()._details()
        if self.invoke_error_type and self.invoke_error_type != self.error_type:
            details.insert(0, self.invoke_error_type)
        return details


class InvokeRateLimitError(PluginInvokeError):
    """The plugin reported InvokeRateLimitError."""


class InvokeAuthorizationError(PluginInvokeError):
    """The plugin reported InvokeAuthorizationError."""


class InvokeBadRequestError(PluginInvokeError):
    """The plugin reported InvokeBadRequestError."""


class InvokeConnectionError(PluginInvokeError):
    """The plugin reported InvokeConnectionError."""


class InvokeServerUnavailableError(PluginInvokeError):
    """The plugin reported InvokeServerUnavailableError."""


class CredentialsValidateFailedError(PluginInvokeError):
    """The plugin reported CredentialsValidateFailedError."""


#: Daemon ``error_type`` -> class. Looked up by string, so renaming a class never
#: changes which errors it catches.
_DAEMON_ERROR_TYPES = {
    "PluginDaemonInnerError": PluginDaemonInnerError,
    "PluginDaemonInternalServerError": PluginDaemonInternalServerError,
    "PluginDaemonBadRequestError": PluginDaemonBadRequestError,
    "PluginDaemonNotFoundError": PluginDaemonNotFoundError,
    "PluginUniqueIdentifierError": PluginUniqueIdentifierError,
    "PluginNotFoundError": PluginNotFoundError,
    "PluginPermissionDeniedError": PluginPermissionDeniedError,
    "PluginDaemonUnauthorizedError": PluginDaemonUnauthorizedError,
    "PluginInvokeError": PluginInvokeError,
}

#: The plugin's own error type (inside a PluginInvokeError) -> class.
_INVOKE_ERROR_TYPES = {
    "InvokeRateLimitError": InvokeRateLimitError,
    "InvokeAuthorizationError": InvokeAuthorizationError,
    "InvokeBadRequestError": InvokeBadRequestError,
    "InvokeConnectionError": InvokeConnectionError,
    "InvokeServerUnavailableError": InvokeServerUnavailableError,
    "CredentialsValidateFailedError": CredentialsValidateFailedError,
}

#: When an envelope carries no usable error_type, its code picks the class.
_DAEMON_ERROR_CODES = {
    -400: PluginDaemonBadRequestError,
    -401: PluginDaemonUnauthorizedError,
    -403: PluginPermissionDeniedError,
    -404: PluginDaemonNotFoundError,
    -500: PluginDaemonInternalServerError,
}

#: (substring of the daemon's message, hint). First match wins.
_MESSAGE_HINTS = (
    ("bad signature",
     "the daemon verifies package signatures: sign the package, or start the daemon with "
     "FORCE_VERIFYING_SIGNATURE=false to accept unsigned packages"),
    ("file size exceeds the maximum limit",
     "raise MAX_PLUGIN_PACKAGE_SIZE on the daemon (docker .env: PLUGIN_MAX_PACKAGE_SIZE)"),
    ("uncompressed size is less than",
     "raise MAX_PLUGIN_PACKAGE_SIZE on the daemon (docker .env: PLUGIN_MAX_PACKAGE_SIZE)"),
    ("invalid input syntax for type uuid",
     "tenant, task and installation ids must be UUIDs"),
    ("record not found",
     "the daemon deletes successful install tasks 60-120 s after they succeed; "
     "check the installation instead"),
    ("no available node",
     "the plugin runtime is not running on any daemon node: wait for the daemon to "
     "relaunch it, or reinstall the plugin"),
    ("plugin runtime",  # "plugin runtime not found", "failed to get plugin runtime"
     "the plugin runtime is not running: wait for the daemon to relaunch it, or reinstall"),
    ("killed by timeout",
     "the daemon stopped the call after PLUGIN_MAX_EXECUTION_TIMEOUT (600 s by default)"),
    ("ENFORCE_LANGGENIUS_PLUGIN_SIGNATURES",
     "unsigned packages by author 'langgenius' are refused unless the daemon sets "
     "ENFORCE_LANGGENIUS_PLUGIN_SIGNATURES=false"),
)

#: HTTP status -> hint, for responses without a daemon envelope.
_STATUS_HINTS = {
    401: "check the daemon key (the daemon's SERVER_KEY)",
    404: "the daemon does not know this route: check the URL, or the daemon is older than "
         "this feature",
    413: "a proxy in front of the daemon refused the body size (nginx: client_max_body_size, "
         "docker .env: NGINX_CLIENT_MAX_BODY_SIZE)",
    502: "a proxy answered: the daemon behind it is down or restarting",
    503: "a proxy answered: the daemon behind it is down or restarting",
    504: "a proxy timed out waiting for the daemon",
}


def _hint_for(message):
    if message:
        for needle, hint in _MESSAGE_HINTS:
            if needle in message:
                return hint
    return None


# =============================================================================
# Deferred dataclasses
# =============================================================================
#
# Importing `dataclasses` (it pulls in `inspect`) and turning some forty classes into
# dataclasses took longer than the rest of the import together. So the entity and
# configuration classes are declared with @_dataclass, which only records them; all of
# them become real dataclasses at once, in declaration order, on first use: when one
# is built, or read by dataclasses.fields(), is_dataclass(), asdict() or replace().
# A plain import and `--help` never pay for it.

_UNSET = object()
_DEFERRED = []                      # [(cls, dataclass options)], bases before subclasses
_deferred_lock = _thread.RLock()
_deferred_state = {"done": False, "busy": False}


class _FieldSpec:
    """What :func:`_field` declares: becomes a ``dataclasses.field`` on materialising."""

    __slots__ = ("conv", "required", "default", "factory")

    def __init__(self, conv, required, default, factory):
        self.conv = conv
        self.required = required
        self.default = default
        self.factory = factory


def _materialise_dataclasses():
    """Turn every recorded class into a dataclass. True if this call did the work."""
    if _deferred_state["done"]:
        return False
    with _deferred_lock:
        if _deferred_state["done"] or _deferred_state["busy"]:
            return False  # done by another thread meanwhile, or re-entered while working
        _deferred_state["busy"] = True
        try:
            import dataclasses

            for cls, options in _DEFERRED:
                for name in cls.__dict__.get("__annotations__", {}):
                    spec = cls.__dict__.get(name)
                    if isinstance(spec, _FieldSpec):
                        metadata = {"conv": spec.conv, "required": spec.required}
                        setattr(cls, name, dataclasses.field(
                            default_factory=spec.factory, metadata=metadata)
                            if spec.factory is not None else
                            dataclasses.field(default=spec.default, metadata=metadata))
                dataclasses.dataclass(cls, **options)
                cls._fields_ready()
            _deferred_state["done"] = True
        finally:
            _deferred_state["busy"] = False
    return True


class _DeferredMeta(type):
    """Metaclass of deferred dataclasses: asking for a dataclass attribute materialises."""

    def __getattr__(cls, name):
        if name.startswith("__dataclass_") or name == "__match_args__":
            _materialise_dataclasses()
            try:
                return type.__getattribute__(cls, name)  # no second trip through here
            except AttributeError:
                pass
        raise AttributeError("type object %r has no attribute %r" % (cls.__name__, name))


class _Deferred(metaclass=_DeferredMeta):
    """Base of deferred dataclasses; until materialised, building one materialises first."""

    def __init__(self, *args, **kwargs):
        _materialise_dataclasses()
        init = type(self).__init__
        if init is _Deferred.__init__:
            raise TypeError("%s is not a dataclass" % type(self).__name__)
        init(self, *args, **kwargs)

    @classmethod
    def _fields_ready(cls):
        """Called once the class is a dataclass (a hook for precomputed field tables)."""


def _dataclass(**options):
    """Class decorator: ``@dataclasses.dataclass(**options)``, applied on first use."""
    def record(cls):
        _DEFERRED.append((cls, options))
        return cls
    return record


# =============================================================================
# Configuration
# =============================================================================


def _check_seconds(value, name, allow_none=True):
    """A timeout in seconds: a positive number, or None for no limit."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise InvalidArgumentError(
            "%s must be a positive number of seconds%s, got %r"
            % (name, " or None" if allow_none else "", value), argument=name)
    return float(value)


class Timeout:
    """Timeouts in seconds for the four phases of a request (None means no limit).

    ``Timeout(10.0)`` sets all four; ``Timeout(10.0, connect=2.0)`` overrides one;
    ``Timeout(connect=2.0, read=30.0, write=30.0, pool=5.0)`` sets each explicitly.
    ``read`` and ``write`` bound each socket operation, not the whole request.
    """

    __slots__ = ("connect", "read", "write", "pool")

    def __init__(self, timeout=_UNSET, *, connect=_UNSET, read=_UNSET, write=_UNSET,
                 pool=_UNSET):
        if isinstance(timeout, Timeout):
            connect, read, write, pool = (timeout.connect, timeout.read, timeout.write,
                                          timeout.pool)
        elif timeout is _UNSET:
            missing = [name for name, value in (("connect", connect), ("read", read),
                                                ("write", write), ("pool", pool))
                       if value is _UNSET]
            if missing:
                raise InvalidArgumentError(
                    "Timeout() needs a default or all four of connect, read, write and "
                    "pool; missing: %s" % ", ".join(missing), argument="timeout")
        else:
            _check_seconds(timeout, "timeout")
            connect = timeout if connect is _UNSET else connect
            read = timeout if read is _UNSET else read
            write = timeout if write is _UNSET else write
            pool = timeout if pool is _UNSET else pool
        self.connect = _check_seconds(connect, "timeout.connect")
        self.read = _check_seconds(read, "timeout.read")
        self.write = _check_seconds(write, "timeout.write")
        self.pool = _check_seconds(pool, "timeout.pool")

    def __eq__(self, other):
        return isinstance(other, Timeout) and self._tuple() == other._tuple()

    def __hash__(self):
        return hash(self._tuple())

    def _tuple(self):
        return (self.connect, self.read, self.write, self.pool)

    def __repr__(self):
        values = set(self._tuple())
        if len(values) == 1:
            return "Timeout(%r)" % (self.connect,)
        return "Timeout(connect=%r, read=%r, write=%r, pool=%r)" % self._tuple()


def _split_url(url):
    """Check a daemon base URL; return (scheme, host, port, base_path)."""
    from urllib.parse import urlsplit

    if not isinstance(url, str) or not url.strip():
        raise InvalidArgumentError("url must be a non-empty string such as %s" % DEFAULT_URL,
                                   argument="url")
    if _CONTROL_CHARS_RE.search(url):
        raise InvalidArgumentError("url contains control characters", argument="url")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidArgumentError(
            "url must start with http:// or https:// and name a host, got %r" % (url,),
            argument="url")
    if parts.username is not None or parts.password is not None:
        raise InvalidArgumentError(
            "url must not carry user:password@; the daemon authenticates with the key",
            argument="url")
    if parts.query or parts.fragment:
        raise InvalidArgumentError("url must not have a query or fragment: %r" % (url,),
                                   argument="url")
    try:
        port = parts.port
    except ValueError:
        raise InvalidArgumentError("url has an invalid port: %r" % (url,),
                                   argument="url") from None
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    return parts.scheme, parts.hostname, port, parts.path.rstrip("/")


def _check_key(key):
    if not isinstance(key, str) or not key:
        raise InvalidArgumentError(
            "key must be a non-empty string (the daemon's SERVER_KEY)", argument="key")
    if _HEADER_UNSAFE_RE.search(key):
        # CR/LF would let the key inject headers; no real key contains controls.
        raise InvalidArgumentError("key contains control characters (CR, LF or others) or "
                                   "characters a header cannot carry", argument="key")
    if len(key) >= _MIN_REDACTED_KEY:
        _KEYS_IN_USE.add(key)
    return key


def _check_positive_int(value, name, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgumentError("%s must be an integer >= %d, got %r" % (name, minimum, value),
                                   argument=name)
    return value


@_dataclass(frozen=True, repr=False)
class PluginConfig(_Deferred):
    """How to reach the daemon.

    ``url`` is the daemon's base URL, ``key`` its SERVER_KEY (sent as ``X-Api-Key``),
    ``timeout`` a number of seconds or a :class:`Timeout`. The rest have safe defaults:

    - ``verify``: TLS certificate checking; True (system CAs), a CA bundle path, or False.
    - ``trust_env``: honour HTTP(S)_PROXY / NO_PROXY. Off by default, because the daemon
      is an internal service and proxies meant for the internet break it (as in Dify).
    - ``retries``: automatic retries of GET requests after connection errors.
    - ``pool_size``: kept-alive connections per client, and requests in flight at once.
    - ``stream_timeout``: read timeout between events of a tool invoke stream.
    - ``max_package_size`` / ``max_bundle_size``: refuse larger uploads before sending;
      match them to the daemon's MAX_PLUGIN_PACKAGE_SIZE / MAX_BUNDLE_PACKAGE_SIZE.
    - ``max_response_size``, ``max_event_size``, ``max_blob_size``,
      ``max_blob_chunk_size``: caps on what the client accepts from the daemon.
    - ``declaration_cache_ttl``: seconds a tool declaration is reused for casting.

    ``repr(config)`` never shows the key.
    """

    url: str = DEFAULT_URL
    key: str = ""
    timeout: "Union[float, Timeout, None]" = DEFAULT_TIMEOUT
    verify: "Union[bool, str]" = True
    trust_env: bool = False
    retries: int = DEFAULT_RETRIES
    pool_size: int = DEFAULT_POOL_SIZE
    stream_timeout: "Optional[float]" = DEFAULT_STREAM_TIMEOUT
    user_agent: "Optional[str]" = None
    max_package_size: int = DEFAULT_MAX_PACKAGE_SIZE
    max_bundle_size: int = DEFAULT_MAX_BUNDLE_SIZE
    max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE
    max_event_size: int = DEFAULT_MAX_EVENT_SIZE
    max_blob_size: int = DEFAULT_MAX_BLOB_SIZE
    max_blob_chunk_size: int = DEFAULT_MAX_BLOB_CHUNK_SIZE
    declaration_cache_ttl: float = DEFAULT_DECLARATION_CACHE_TTL

    def __post_init__(self):
        _split_url(self.url)
        _check_key(self.key)
        set_ = object.__setattr__  # frozen dataclass: normalise through object
        set_(self, "url", self.url.strip().rstrip("/"))
        if not isinstance(self.timeout, Timeout):
            set_(self, "timeout", Timeout(self.timeout))
        if not isinstance(self.verify, (bool, str)) or self.verify == "":
            raise InvalidArgumentError(
                "verify must be True, False or the path of a CA bundle", argument="verify")
        if isinstance(self.verify, str) and not os.path.exists(self.verify):
            raise InvalidArgumentError("CA bundle %r does not exist" % (self.verify,),
                                       argument="verify")
        if not isinstance(self.trust_env, bool):
            raise InvalidArgumentError("trust_env must be True or False", argument="trust_env")
        _check_positive_int(self.retries, "retries", minimum=0)
        _check_positive_int(self.pool_size, "pool_size")
        set_(self, "stream_timeout", _check_seconds(self.stream_timeout, "stream_timeout"))
        for name in ("max_package_size", "max_bundle_size", "max_response_size",
                     "max_event_size", "max_blob_size", "max_blob_chunk_size"):
            _check_positive_int(getattr(self, name), name)
        if isinstance(self.declaration_cache_ttl, bool) or not isinstance(
                self.declaration_cache_ttl, (int, float)) or self.declaration_cache_ttl < 0:
            raise InvalidArgumentError("declaration_cache_ttl must be a number >= 0",
                                       argument="declaration_cache_ttl")
        if self.user_agent is None:
            set_(self, "user_agent", "dify-plugin-client/%s (Python %d.%d)"
                 % (__version__, sys.version_info[0], sys.version_info[1]))
        elif not isinstance(self.user_agent, str) or _HEADER_UNSAFE_RE.search(self.user_agent):
            raise InvalidArgumentError("user_agent must be a string without control characters "
                                       "or characters outside Latin-1",
                                       argument="user_agent")

    def __repr__(self):
        import dataclasses

        shown = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            shown.append("%s=%s" % (field.name, "'***'" if field.name == "key" else repr(value)))
        return "PluginConfig(%s)" % ", ".join(shown)

    __str__ = __repr__


# =============================================================================
# Enums
# =============================================================================


class PluginInstallationSource(str, enum.Enum):
    """Where an installation came from (the daemon stores it as an opaque string)."""

    Github = "github"
    Marketplace = "marketplace"
    Package = "package"
    Remote = "remote"

    def __str__(self):
        return self.value


class PluginInstallTaskStatus(str, enum.Enum):
    """Status of an install task and of each plugin in it."""

    Pending = "pending"
    Running = "running"
    Success = "success"
    Failed = "failed"

    def __str__(self):
        return self.value


# =============================================================================
# Entities: validation helpers
# =============================================================================
#
# Each entity is a dataclass whose fields carry a converter in their metadata.
# `from_dict` runs the converters, names the exact path of a missing or mistyped
# field, and keeps keys it does not know in `extra` (daemons are upgraded
# independently of clients, so new fields must not break old clients).


def _type_name(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _path_text(path):
    """Render a field path. Converters get ``(parent, key)`` tuples, which cost less to
    build than strings; only an error message needs the text, e.g. ``data.list[0].name``."""
    keys = []
    while type(path) is tuple:
        path, key = path
        keys.append("[%d]" % key if type(key) is int else "." + key)
    return str(path) + "".join(reversed(keys))


def _invalid(path, expected, value):
    path = _path_text(path)
    return ResponseValidationError(
        "the daemon's response has %s where %s was expected, at %s"
        % (_type_name(value), expected, path), path=path)


def _conv_str(value, path):
    if isinstance(value, str):
        return value
    raise _invalid(path, "a string", value)


def _conv_int(value, path):
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():  # Go may print 1e+21 style numbers
        return int(value)
    raise _invalid(path, "an integer", value)


def _conv_number(value, path):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    raise _invalid(path, "a number", value)


def _conv_bool(value, path):
    if isinstance(value, bool):
        return value
    raise _invalid(path, "a boolean", value)


def _conv_any(value, path):
    return value


def _conv_dict(value, path):
    if isinstance(value, dict):
        return value
    raise _invalid(path, "an object", value)


def _conv_dict_or_empty(value, path):
    """An object; null becomes {} (the daemon stores a missing meta as null)."""
    return {} if value is None else _conv_dict(value, path)


def _optional(conv):
    def convert(value, path):
        return None if value is None else conv(value, path)
    convert.optional = True
    convert.inner = conv
    return convert


def _list_of(conv):
    """An array of items; null becomes [] (Go encodes an empty slice as null)."""
    def convert(value, path):
        if value is None:
            return []
        if not isinstance(value, list):
            raise _invalid(path, "an array", value)
        return [conv(item, (path, index)) for index, item in enumerate(value)]
    convert.optional = True
    return convert


def _entity_conv(cls):
    def convert(value, path):
        return cls.from_dict(value, path)
    return convert


def _enum_conv(enum_cls):
    """A known enum member, or the raw string when the daemon sends a new value."""
    members = {member.value: member for member in enum_cls}

    def convert(value, path):
        if not isinstance(value, str):
            raise _invalid(path, "a string", value)
        return members.get(value, value)
    return convert


_RFC3339_RE = _Regex(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))?\Z")


def _parse_datetime(text):
    """Parse an RFC 3339 timestamp as Go writes it, on every Python from 3.8.

    Accepts ``Z`` or an offset and 1 to 9 fraction digits (cut to microseconds).
    A timestamp without an offset is taken as UTC. Returns None if it does not parse.
    """
    import datetime

    match = _RFC3339_RE.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        if sign:
            offset = datetime.timedelta(hours=int(off_h), minutes=int(off_m))
            tz = datetime.timezone(-offset if sign == "-" else offset)
        else:
            tz = datetime.timezone.utc
        return datetime.datetime(int(year), int(month), int(day), int(hour), int(minute),
                                 int(second), micro, tzinfo=tz)
    except ValueError:  # e.g. month 13, a leap second, an offset of a day or more
        return None


def _format_datetime(value):
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _conv_datetime(value, path):
    if isinstance(value, str):
        parsed = _parse_datetime(value)
        if parsed is not None:
            return parsed
    raise _invalid(path, "an RFC 3339 timestamp", value)


def _field(conv=_conv_any, *, required=False, default=None, factory=None):
    """Declare an entity field with its converter.

    Every field has a Python default, so entities can be built by hand with keyword
    arguments; ``required`` is enforced by ``from_dict`` on what the daemon sends.
    """
    return _FieldSpec(conv, required, default, factory)


def _dump(value):
    """Turn entity values back into JSON-ready data (the daemon's wire form)."""
    if isinstance(value, _Entity):
        return value.to_dict()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list):
        return [_dump(item) for item in value]
    if isinstance(value, dict):
        return {key: _dump(item) for key, item in value.items()}
    if isinstance(value, (bytes, bytearray)):
        return binascii.b2a_base64(bytes(value), newline=False).decode("ascii")
    if hasattr(value, "isoformat"):
        return _format_datetime(value)
    return value


class _Entity(_Deferred):
    """Base of every entity: ``from_dict`` with validation, ``to_dict``, unknown keys kept.

    ``extra`` holds the keys the daemon sent that this client version does not know.
    """

    extra = {}  # replaced per instance by from_dict; never mutated here

    @classmethod
    def _fields_ready(cls):
        import dataclasses

        fields = dataclasses.fields(cls)
        cls._field_names = tuple(field.name for field in fields)
        cls._field_keys = frozenset(cls._field_names)
        cls._build = _compile_builder(cls, fields, dataclasses.MISSING)

    _field_names = None  # set on each entity class when it becomes a dataclass

    @classmethod
    def from_dict(cls, data, path=None):
        """Build the entity from the daemon's JSON object, validating every field."""
        if path is None:
            path = cls.__name__
        if not isinstance(data, dict):
            raise _invalid(path, "an object", data)
        if cls._field_names is None:
            _materialise_dataclasses()
        entity = cls._build(data, path)
        if not cls._field_keys.issuperset(data):
            entity.extra = {key: value for key, value in data.items()
                            if key not in cls._field_keys}
        return entity

    def to_dict(self):
        """The entity as JSON-ready data, unknown keys included."""
        result = {name: _dump(getattr(self, name)) for name in self._field_names}
        result.update(self.extra)
        return result


_entity = _dataclass()  # entities are plain (mutable) dataclasses


def _compile_builder(cls, fields, missing):
    """Write the field loop of ``cls.from_dict`` out as straight-line code, as dataclasses
    does for ``__init__``: a plugin listing builds some eighty entities, and the loop
    (tuple unpacking, a converter call even for a plain string) was most of the time.

    For each field, in order: a missing key (or null, unless the converter takes null)
    is an error if the field is required, else its default; anything else goes through
    the converter, except a value that already has the type a string converter wants.
    """
    names = {"cls": cls, "_UNSET": _UNSET, "_missing": _missing}
    lines = ["def build(data, path):", "    get = data.get"]
    for index, field in enumerate(fields):
        value = "v%d" % index
        conv = field.metadata.get("conv", _conv_any)
        null_ok = getattr(conv, "optional", False)
        names["conv%d" % index] = conv
        lines.append("    %s = get(%r, _UNSET)" % (value, field.name))
        lines.append("    if %s is _UNSET%s:" % (value, "" if null_ok else " or %s is None" % value))
        if field.metadata.get("required", False):
            lines.append("        raise _missing(path, %r, %s)" % (field.name, value))
        elif field.default_factory is not missing:
            names["factory%d" % index] = field.default_factory
            lines.append("        %s = factory%d()" % (value, index))
        else:
            names["default%d" % index] = field.default
            lines.append("        %s = default%d" % (value, index))
        if conv is _conv_any:
            continue
        if conv is _conv_str or getattr(conv, "inner", None) is _conv_str:
            skip = "type(%s) is not str" % value
            if conv is not _conv_str:
                skip += " and %s is not None" % value
            lines.append("    elif %s:" % skip)
        else:
            lines.append("    else:")
        lines.append("        %s = conv%d(%s, (path, %r))" % (value, index, value, field.name))
    lines.append("    return cls(%s)" % ", ".join("v%d" % index for index in range(len(fields))))
    exec("\n".join(lines), names)  # noqa: S102 - our own generated source, no input in it
    return names["build"]


def _missing(path, name, value):
    path = _path_text((path, name))
    return ResponseValidationError(
        "the daemon's response %s the required field %s"
        % ("lacks" if value is _UNSET else "has null for", path), path=path)


# =============================================================================
# Entities: plugins, manifests, install tasks
# =============================================================================


@_entity
class I18nObject(_Entity):
    """A localised text. The daemon always sends en_US and omits empty translations."""

    en_US: str = _field(_conv_str, default="")
    zh_Hans: "Optional[str]" = _field(_optional(_conv_str))
    ja_JP: "Optional[str]" = _field(_optional(_conv_str))
    pt_BR: "Optional[str]" = _field(_optional(_conv_str))

    def get(self, language="en_US"):
        """The text in ``language``, falling back to en_US."""
        return getattr(self, language, None) or self.extra.get(language) or self.en_US

    def __str__(self):
        return self.en_US


_i18n = _entity_conv(I18nObject)
_opt_i18n = _optional(_i18n)


@_entity
class PluginPermissions(_Entity):
    """What a plugin may do; each entry is the daemon's object for it, or None."""

    tool: "Optional[dict]" = _field(_optional(_conv_dict))
    model: "Optional[dict]" = _field(_optional(_conv_dict))
    node: "Optional[dict]" = _field(_optional(_conv_dict))
    endpoint: "Optional[dict]" = _field(_optional(_conv_dict))
    app: "Optional[dict]" = _field(_optional(_conv_dict))
    storage: "Optional[dict]" = _field(_optional(_conv_dict))


@_entity
class PluginResourceRequirements(_Entity):
    """Resources a plugin asks for: memory in bytes and permissions."""

    memory: int = _field(_conv_int, default=0)
    permission: "Optional[PluginPermissions]" = _field(_optional(_entity_conv(PluginPermissions)))


_str_list = _list_of(_conv_str)


@_entity
class PluginExtensions(_Entity):
    """The declaration files a package lists per extension kind."""

    tools: "List[str]" = _field(_str_list, factory=list)
    models: "List[str]" = _field(_str_list, factory=list)
    endpoints: "List[str]" = _field(_str_list, factory=list)
    agent_strategies: "List[str]" = _field(_str_list, factory=list)
    datasources: "List[str]" = _field(_str_list, factory=list)
    triggers: "List[str]" = _field(_str_list, factory=list)


@_entity
class PluginRunner(_Entity):
    """How the daemon runs the plugin (language, interpreter version, entrypoint)."""

    language: str = _field(_conv_str, default="")
    version: str = _field(_conv_str, default="")
    entrypoint: str = _field(_conv_str, default="")


@_entity
class PluginMeta(_Entity):
    """Manifest meta: manifest spec version, architectures, runner."""

    version: str = _field(_conv_str, default="")
    arch: "List[str]" = _field(_str_list, factory=list)
    runner: "Optional[PluginRunner]" = _field(_optional(_entity_conv(PluginRunner)))
    minimum_dify_version: "Optional[str]" = _field(_optional(_conv_str))


# =============================================================================
# Entities: tool providers and tools
# =============================================================================


@_entity
class ToolProviderIdentity(_Entity):
    """Who a tool provider is. After listing, ``name`` is ``plugin_id/provider_name``."""

    name: str = _field(_conv_str, required=True)
    author: str = _field(_conv_str, default="")
    label: "Optional[I18nObject]" = _field(_opt_i18n)
    description: "Optional[I18nObject]" = _field(_opt_i18n)
    icon: str = _field(_conv_str, default="")
    icon_dark: str = _field(_conv_str, default="")
    tags: "List[str]" = _field(_str_list, factory=list)  # any string: the tag set grows


@_entity
class ProviderConfigOption(_Entity):
    """One choice of a select-type credential."""

    value: str = _field(_conv_any, default="")
    label: "Optional[I18nObject]" = _field(_opt_i18n)


@_entity
class ProviderConfig(_Entity):
    """One credential (or OAuth setting) a provider asks for."""

    name: str = _field(_conv_str, required=True)
    type: str = _field(_conv_str, default="")
    scope: "Optional[str]" = _field(_optional(_conv_str))
    required: bool = _field(_conv_bool, default=False)
    default: "Any" = _field(_conv_any)
    options: "List[ProviderConfigOption]" = _field(
        _list_of(_entity_conv(ProviderConfigOption)), factory=list)
    multiple: bool = _field(_conv_bool, default=False)
    label: "Optional[I18nObject]" = _field(_opt_i18n)
    help: "Optional[I18nObject]" = _field(_opt_i18n)
    url: "Optional[str]" = _field(_optional(_conv_str))
    placeholder: "Optional[I18nObject]" = _field(_opt_i18n)


_provider_configs = _list_of(_entity_conv(ProviderConfig))


@_entity
class ToolOAuthSchema(_Entity):
    """OAuth settings of a provider: client settings and the credentials it yields."""

    client_schema: "List[ProviderConfig]" = _field(_provider_configs, factory=list)
    credentials_schema: "List[ProviderConfig]" = _field(_provider_configs, factory=list)


@_entity
class ToolParameterOption(_Entity):
    """One choice of a select parameter. ``value`` is always a string, as in Dify."""

    value: str = _field(_conv_any, default="")
    label: "Optional[I18nObject]" = _field(_opt_i18n)
    icon: str = _field(_optional(_conv_str), default="")

    def __post_init__(self):
        if not isinstance(self.value, str) and self.value is not None:
            self.value = str(self.value)


@_entity
class ToolParameter(_Entity):
    """A tool parameter as declared. ``type`` is kept as sent, so new types still load."""

    name: str = _field(_conv_str, required=True)
    type: str = _field(_conv_str, required=True)
    label: "Optional[I18nObject]" = _field(_opt_i18n)
    human_description: "Optional[I18nObject]" = _field(_opt_i18n)
    scope: "Optional[str]" = _field(_optional(_conv_str))
    form: str = _field(_conv_str, default="llm")
    llm_description: str = _field(_optional(_conv_str), default="")
    required: bool = _field(_conv_bool, default=False)
    auto_generate: "Optional[dict]" = _field(_optional(_conv_dict))
    template: "Optional[dict]" = _field(_optional(_conv_dict))
    default: "Any" = _field(_conv_any)
    min: "Optional[float]" = _field(_optional(_conv_number))
    max: "Optional[float]" = _field(_optional(_conv_number))
    multiple: bool = _field(_conv_bool, default=False)
    precision: "Optional[int]" = _field(_optional(_conv_int))
    options: "List[ToolParameterOption]" = _field(
        _list_of(_entity_conv(ToolParameterOption)), factory=list)
    placeholder: "Optional[I18nObject]" = _field(_opt_i18n)
    input_schema: "Optional[dict]" = _field(_optional(_conv_dict))


@_entity
class ToolIdentity(_Entity):
    """Who a tool is. ``provider`` is filled in by the client (the daemon omits it)."""

    name: str = _field(_conv_str, required=True)
    author: str = _field(_conv_str, default="")
    label: "Optional[I18nObject]" = _field(_opt_i18n)
    provider: str = _field(_conv_str, default="")
    icon: "Optional[str]" = _field(_optional(_conv_str))


@_entity
class ToolDescription(_Entity):
    """A tool's description for people (``human``) and for the model (``llm``)."""

    human: "Optional[I18nObject]" = _field(_opt_i18n)
    llm: str = _field(_conv_str, default="")


@_entity
class ToolDeclaration(_Entity):
    """One tool: identity, description, parameters and output schema ($refs resolved)."""

    identity: ToolIdentity = _field(_entity_conv(ToolIdentity), required=True)
    description: "Optional[ToolDescription]" = _field(_optional(_entity_conv(ToolDescription)))
    parameters: "List[ToolParameter]" = _field(_list_of(_entity_conv(ToolParameter)),
                                               factory=list)
    output_schema: dict = _field(_conv_dict_or_empty, factory=dict)
    has_runtime_parameters: bool = _field(_conv_bool, default=False)

    def parameter(self, name):
        """The declared parameter called ``name``, or None."""
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        return None


@_entity
class ToolProviderDeclaration(_Entity):
    """A tool provider's declaration: identity, credentials and its tools."""

    identity: ToolProviderIdentity = _field(_entity_conv(ToolProviderIdentity), required=True)
    credentials_schema: "List[ProviderConfig]" = _field(_provider_configs, factory=list)
    oauth_schema: "Optional[ToolOAuthSchema]" = _field(_optional(_entity_conv(ToolOAuthSchema)))
    tools: "List[ToolDeclaration]" = _field(_list_of(_entity_conv(ToolDeclaration)),
                                            factory=list)

    def tool(self, name):
        """The tool called ``name``, or None."""
        for tool in self.tools:
            if tool.identity.name == name:
                return tool
        return None


@_entity
class PluginToolProviderEntity(_Entity):
    """A tool provider installed for a tenant.

    ``provider`` is the short provider name; ``declaration.identity.name`` and every
    tool's ``identity.provider`` are ``plugin_id/provider_name``, the form ``invoke``
    takes.
    """

    provider: str = _field(_conv_str, required=True)
    plugin_id: str = _field(_conv_str, required=True)
    plugin_unique_identifier: str = _field(_conv_str, default="")
    declaration: "Optional[ToolProviderDeclaration]" = _field(
        _optional(_entity_conv(ToolProviderDeclaration)))
    id: "Optional[str]" = _field(_optional(_conv_str))
    tenant_id: "Optional[str]" = _field(_optional(_conv_str))
    created_at: "Any" = _field(_optional(_conv_datetime))
    updated_at: "Any" = _field(_optional(_conv_datetime))

    @property
    def full_name(self):
        """``plugin_id/provider_name``: what ``invoke`` takes as ``tool_provider``."""
        return "%s/%s" % (self.plugin_id, self.provider)


# =============================================================================
# Entities: manifests, installations, install tasks
# =============================================================================

_PLUGIN_CATEGORY_ORDER = (("tool", "tool"), ("model", "model"), ("datasource", "datasource"),
                          ("agent_strategy", "agent-strategy"), ("trigger", "trigger"))


@_entity
class PluginDeclaration(_Entity):
    """A plugin's manifest as the daemon returns it.

    ``tool`` is parsed; the other extension declarations (model, endpoint,
    agent_strategy, datasource, trigger) are kept as the daemon's objects.
    """

    name: str = _field(_conv_str, required=True)
    version: str = _field(_conv_str, required=True)
    author: str = _field(_conv_str, default="")
    type: str = _field(_conv_str, default="plugin")
    label: "Optional[I18nObject]" = _field(_opt_i18n)
    description: "Optional[I18nObject]" = _field(_opt_i18n)
    icon: str = _field(_conv_str, default="")
    icon_dark: str = _field(_optional(_conv_str), default="")
    resource: "Optional[PluginResourceRequirements]" = _field(
        _optional(_entity_conv(PluginResourceRequirements)))
    plugins: "Optional[PluginExtensions]" = _field(_optional(_entity_conv(PluginExtensions)))
    meta: "Optional[PluginMeta]" = _field(_optional(_entity_conv(PluginMeta)))
    tags: "List[str]" = _field(_str_list, factory=list)
    created_at: "Any" = _field(_optional(_conv_datetime))
    privacy: "Optional[str]" = _field(_optional(_conv_str))
    repo: "Optional[str]" = _field(_optional(_conv_str))
    verified: bool = _field(_conv_bool, default=False)
    tool: "Optional[ToolProviderDeclaration]" = _field(
        _optional(_entity_conv(ToolProviderDeclaration)))
    model: "Optional[dict]" = _field(_optional(_conv_dict))
    endpoint: "Optional[dict]" = _field(_optional(_conv_dict))
    agent_strategy: "Optional[dict]" = _field(_optional(_conv_dict))
    datasource: "Optional[dict]" = _field(_optional(_conv_dict))
    trigger: "Optional[dict]" = _field(_optional(_conv_dict))

    @property
    def category(self):
        """tool, model, datasource, agent-strategy, trigger or extension (as Dify derives it)."""
        for attribute, category in _PLUGIN_CATEGORY_ORDER:
            if getattr(self, attribute):
                return category
        return "extension"


_declaration = _entity_conv(PluginDeclaration)


@_entity
class PluginVerification(_Entity):
    """Who signed a package: langgenius, partner or community."""

    authorized_category: str = _field(_conv_str, required=True)


@_entity
class PluginDecodeResponse(_Entity):
    """A decoded package: its unique identifier, manifest and signature verification."""

    unique_identifier: str = _field(_conv_str, required=True)
    manifest: PluginDeclaration = _field(_declaration, required=True)
    verification: "Optional[PluginVerification]" = _field(
        _optional(_entity_conv(PluginVerification)))


@_entity
class GithubDependency(_Entity):
    """A bundle dependency released on GitHub."""

    repo: str = _field(_conv_str, default="")
    release: str = _field(_conv_str, default="")
    packages: str = _field(_conv_str, default="")
    repo_address: str = _field(_conv_str, default="")


@_entity
class MarketplaceDependency(_Entity):
    """A bundle dependency from the marketplace."""

    organization: str = _field(_conv_str, default="")
    plugin: str = _field(_conv_str, default="")
    version: str = _field(_conv_str, default="")


@_entity
class PackageDependency(_Entity):
    """A package carried inside the bundle (already uploaded by the daemon)."""

    unique_identifier: str = _field(_conv_str, required=True)
    manifest: "Optional[PluginDeclaration]" = _field(_optional(_declaration))


_BUNDLE_VALUE_TYPES = {"github": GithubDependency, "marketplace": MarketplaceDependency,
                       "package": PackageDependency}


def _conv_bundle_value(value, path):
    return value  # resolved in PluginBundleDependency.from_dict, which knows the type


@_entity
class PluginBundleDependency(_Entity):
    """One dependency of a bundle. ``value`` is typed by ``type``; an unknown type keeps
    the daemon's object."""

    type: str = _field(_conv_str, required=True)
    value: "Any" = _field(_conv_bundle_value, required=True)

    @classmethod
    def from_dict(cls, data, path=None):
        entity = super().from_dict(data, path)
        value_cls = _BUNDLE_VALUE_TYPES.get(entity.type)
        if value_cls is not None:
            entity.value = value_cls.from_dict(entity.value, (path or cls.__name__, "value"))
        return entity


@_entity
class PluginInstallTaskStartResponse(_Entity):
    """Answer to an install or upgrade: either everything was already installed
    (``all_installed`` and an empty ``task_id``) or a task to follow."""

    all_installed: bool = _field(_conv_bool, required=True)
    task_id: str = _field(_optional(_conv_str), default="")


_task_status = _enum_conv(PluginInstallTaskStatus)


@_entity
class PluginInstallTaskPluginStatus(_Entity):
    """One plugin of an install task, with its status and latest progress message."""

    plugin_unique_identifier: str = _field(_conv_str, required=True)
    plugin_id: str = _field(_conv_str, default="")
    status: "Union[PluginInstallTaskStatus, str]" = _field(_task_status, required=True)
    message: str = _field(_optional(_conv_str), default="")
    icon: str = _field(_optional(_conv_str), default="")
    icon_dark: str = _field(_optional(_conv_str), default="")
    labels: "Optional[I18nObject]" = _field(_opt_i18n)
    source: "Optional[str]" = _field(_optional(_conv_str))


@_entity
class PluginInstallTask(_Entity):
    """An install (or upgrade) task and the status of each of its plugins."""

    id: str = _field(_conv_str, required=True)
    status: "Union[PluginInstallTaskStatus, str]" = _field(_task_status, required=True)
    tenant_id: str = _field(_conv_str, default="")
    total_plugins: int = _field(_conv_int, default=0)
    completed_plugins: int = _field(_conv_int, default=0)
    plugins: "List[PluginInstallTaskPluginStatus]" = _field(
        _list_of(_entity_conv(PluginInstallTaskPluginStatus)), factory=list)
    created_at: "Any" = _field(_optional(_conv_datetime))
    updated_at: "Any" = _field(_optional(_conv_datetime))

    @property
    def finished(self):
        return self.status in (PluginInstallTaskStatus.Success, PluginInstallTaskStatus.Failed)


@_entity
class MissingPluginDependency(_Entity):
    """A wanted identifier that is not installed; ``current_identifier`` is the installed
    version of the same plugin, or empty when none is installed."""

    plugin_unique_identifier: str = _field(_conv_str, required=True)
    current_identifier: "Optional[str]" = _field(_optional(_conv_str))


_source = _enum_conv(PluginInstallationSource)


@_entity
class PluginInstallation(_Entity):
    """A plugin installed for a tenant. ``id`` is the installation id ``uninstall`` takes."""

    id: str = _field(_conv_str, required=True)
    plugin_id: str = _field(_conv_str, required=True)
    plugin_unique_identifier: str = _field(_conv_str, required=True)
    tenant_id: str = _field(_conv_str, default="")
    version: str = _field(_conv_str, default="")
    checksum: str = _field(_conv_str, default="")
    runtime_type: str = _field(_conv_str, default="")
    source: "Union[PluginInstallationSource, str]" = _field(_optional(_source), default="")
    meta: dict = _field(_conv_dict_or_empty, factory=dict)
    endpoints_setups: int = _field(_conv_int, default=0)
    endpoints_active: int = _field(_conv_int, default=0)
    declaration: "Optional[PluginDeclaration]" = _field(_optional(_declaration))
    created_at: "Any" = _field(_optional(_conv_datetime))
    updated_at: "Any" = _field(_optional(_conv_datetime))


@_entity
class PluginEntity(PluginInstallation):
    """A plugin as listed: an installation plus its ``name`` and ``installation_id``."""

    name: str = _field(_conv_str, default="")
    installation_id: str = _field(_conv_str, default="")


_builtin_list = list


@_entity
class PluginListResponse(_Entity):
    """One page of installed plugins and the tenant's total count."""

    total: int = _field(_conv_int, required=True)
    list: "List[PluginEntity]" = _field(_list_of(_entity_conv(PluginEntity)),
                                        factory=_builtin_list)


@_entity
class DaemonHealth(_Entity):
    """The daemon's /health/check answer."""

    status: str = _field(_conv_str, required=True)
    version: str = _field(_optional(_conv_str), default="")
    build_time: str = _field(_optional(_conv_str), default="")
    platform: str = _field(_optional(_conv_str), default="")
    pool_status: "Optional[dict]" = _field(_optional(_conv_dict))
    active_requests: "Optional[int]" = _field(_optional(_conv_int))
    active_dispatch_requests: "Optional[int]" = _field(_optional(_conv_int))


# =============================================================================
# Entities: tool invoke messages
# =============================================================================


@_entity
class TextMessage(_Entity):
    """``text``, and the URL of ``link``, ``image``, ``image_link`` and ``binary_link``."""

    text: str = _field(_conv_str, required=True)


@_entity
class JsonMessage(_Entity):
    """A JSON result. ``data`` is the same object as ``json_object``."""

    json_object: "Any" = _field(_conv_any)
    suppress_output: bool = _field(_conv_bool, default=False)

    @property
    def data(self):
        return self.json_object


@_entity
class BlobMessage(_Entity):
    """Binary content, base64-decoded (or merged from ``blob_chunk`` pieces)."""

    blob: bytes = _field(required=True, default=b"")


@_entity
class BlobChunkMessage(_Entity):
    """One piece of a blob: pieces with the same ``id`` end with one whose ``end`` is true."""

    id: str = _field(_conv_str, required=True)
    sequence: int = _field(_conv_int, default=0)
    total_length: int = _field(_conv_int, default=0)
    blob: bytes = _field(default=b"")
    end: bool = _field(_conv_bool, default=False)


@_entity
class VariableMessage(_Entity):
    """A workflow variable; with ``stream`` true the value is one text fragment."""

    variable_name: str = _field(_conv_str, required=True)
    variable_value: "Any" = _field(_conv_any)
    stream: bool = _field(_conv_bool, default=False)


@_entity
class LogMessage(_Entity):
    """A step log of the tool; ``parent_id`` links nested steps."""

    id: str = _field(_conv_str, default="")
    label: str = _field(_conv_str, default="")
    parent_id: "Optional[str]" = _field(_optional(_conv_str))
    error: "Optional[str]" = _field(_optional(_conv_str))
    status: str = _field(_conv_str, default="")
    data: dict = _field(_conv_dict_or_empty, factory=dict)
    metadata: dict = _field(_conv_dict_or_empty, factory=dict)


@_entity
class RetrieverResourceMessage(_Entity):
    """Retrieved knowledge items and the context built from them."""

    retriever_resources: "List[dict]" = _field(_list_of(_conv_dict), factory=list)
    context: str = _field(_optional(_conv_str), default="")


@_entity
class FileMessage(_Entity):
    """A ``file`` message: the daemon passes the plugin's object through, kept in ``data``."""

    data: "Any" = _field(_conv_any)


@_entity
class UnknownMessage(_Entity):
    """A message of a type this client version does not know, kept as sent."""

    data: "Any" = _field(_conv_any)


#: binascii checks base64 strictly itself from Python 3.11 on; before, a regex does.
_STRICT_BASE64 = sys.version_info >= (3, 11)
_BASE64_TEXT = _Regex(r"[A-Za-z0-9+/]*={0,2}\Z")


def _decode_base64(value, path):
    """Strict base64 (no stray characters), like base64.b64decode(validate=True)."""
    if not isinstance(value, str):
        raise _invalid(path, "a base64 string", value)
    try:
        if _STRICT_BASE64:
            return binascii.a2b_base64(value, strict_mode=True)
        if _BASE64_TEXT.match(value):
            return binascii.a2b_base64(value)
    except (binascii.Error, ValueError):  # ValueError: a str that is not ASCII
        pass
    path = _path_text(path)
    raise ResponseValidationError("%s is not valid base64" % path, path=path)


def _text_message(raw, path):
    if type(raw) is dict:
        text = raw.get("text")
        if type(text) is str:
            message = TextMessage(text)
            if len(raw) > 1:
                message.extra = {k: v for k, v in raw.items() if k != "text"}
            return message
    return TextMessage.from_dict(raw, path)


def _json_message(raw, path):
    if not isinstance(raw, dict):
        raise _invalid(path, "an object", raw)
    if "json_object" not in raw:  # as Dify does: a bare object is the JSON itself
        return JsonMessage(json_object=raw)
    return JsonMessage.from_dict(raw, path)


def _blob_message(raw, path):
    if not isinstance(raw, dict):
        raise _invalid(path, "an object", raw)
    message = BlobMessage(blob=_decode_base64(raw.get("blob"), (path, "blob")))
    if len(raw) > 1:
        message.extra = {k: v for k, v in raw.items() if k != "blob"}
    return message


def _blob_chunk_message(raw, path):
    if not isinstance(raw, dict):
        raise _invalid(path, "an object", raw)
    blob = raw.get("blob")
    message = BlobChunkMessage.from_dict({key: value for key, value in raw.items()
                                          if key != "blob"}, path)
    message.blob = b"" if blob in (None, "") else _decode_base64(blob, (path, "blob"))
    return message


def _file_message(raw, path):
    return FileMessage(data=raw)


_MESSAGE_BUILDERS = {
    "text": _text_message, "link": _text_message, "image": _text_message,
    "image_link": _text_message, "binary_link": _text_message,
    "json": _json_message, "blob": _blob_message, "blob_chunk": _blob_chunk_message,
    "variable": VariableMessage.from_dict, "log": LogMessage.from_dict,
    "retriever_resources": RetrieverResourceMessage.from_dict, "file": _file_message,
}


@_entity
class ToolInvokeMessage(_Entity):
    """One message of a tool invoke stream.

    ``type`` is the daemon's string (text, json, blob, blob_chunk, link, image, image_link,
    binary_link, file, variable, log, retriever_resources, or a newer one); ``message`` is
    typed by it (:class:`UnknownMessage` for types this version does not know); ``meta``
    is the plugin's free-form metadata (mime_type, filename, ...).
    """

    type: str = _field(_conv_str, required=True)
    message: "Any" = _field(_conv_any)
    meta: "Optional[dict]" = _field(_optional(_conv_dict))

    @classmethod
    def from_dict(cls, data, path=None):
        path = path or cls.__name__
        if type(data) is not dict:
            raise _invalid(path, "an object", data)
        kind = data.get("type")
        if type(kind) is not str:
            raise _invalid((path, "type"), "a string", kind)
        meta = data.get("meta")
        if meta is not None and type(meta) is not dict:
            raise _invalid((path, "meta"), "an object", meta)
        raw = data.get("message")
        builder = _MESSAGE_BUILDERS.get(kind)
        if builder is None or (raw is None and kind != "file"):
            message = UnknownMessage(data=raw) if builder is None else None
        else:
            message = builder(raw, (path, "message"))
        entity = cls(kind, message, meta)
        if len(data) > 3 or not ("message" in data and "meta" in data):
            unknown = {k: v for k, v in data.items() if k not in ("type", "message", "meta")}
            if unknown:
                entity.extra = unknown
        return entity

    def to_dict(self):
        message = self.message
        if isinstance(message, (FileMessage, UnknownMessage)):
            dumped = _dump(message.data)
        else:
            dumped = _dump(message)
        result = {"type": self.type, "message": dumped, "meta": _dump(self.meta)}
        result.update(self.extra)
        return result


# =============================================================================
# Wire helpers: input checks
# =============================================================================


def _check_tenant(tenant_id, argument="tenant_id"):
    """Tenant ids are UUIDs (a uuid column on the daemon's PostgreSQL)."""
    if not isinstance(tenant_id, str) and type(tenant_id).__name__ == "UUID":
        tenant_id = str(tenant_id)
    if not isinstance(tenant_id, str) or not _UUID_RE.match(tenant_id):
        raise InvalidArgumentError(
            "%s must be a UUID such as 6f1c2d3e-0000-4000-8000-000000000000, got %r"
            % (argument, tenant_id), argument=argument)
    return tenant_id


def _check_uuid(value, argument):
    return _check_tenant(value, argument)


def _check_identifier(value, argument="plugin_unique_identifier"):
    if not isinstance(value, str) or not _IDENTIFIER_RE.match(value):
        raise InvalidArgumentError(
            "%s is not a plugin unique identifier: %r; expected [author/]name:version@checksum "
            "in lower case, e.g. acme/search:0.1.0@<32-64 hex digits> (take it from the upload "
            "response)" % (argument, value), argument=argument)
    return value


def _check_identifiers(values, argument, limit):
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise InvalidArgumentError("%s must be a list of identifiers, got %r"
                                   % (argument, values), argument=argument)
    values = _builtin_list(values)
    if len(values) > limit:
        raise InvalidArgumentError("%s has %d items; the daemon accepts at most %d"
                                   % (argument, len(values), limit), argument=argument)
    for index, value in enumerate(values):
        _check_identifier(value, "%s[%d]" % (argument, index))
    return values


def _check_plugin_id(value, argument="plugin_id"):
    if not isinstance(value, str) or not _PLUGIN_ID_RE.match(value):
        raise InvalidArgumentError(
            "%s is not a plugin id: %r; expected author/name in lower case, e.g. acme/search"
            % (argument, value), argument=argument)
    return value


def _check_page(page, page_size):
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise InvalidArgumentError("page must be an integer >= 1, got %r" % (page,),
                                   argument="page")
    if (isinstance(page_size, bool) or not isinstance(page_size, int)
            or not 1 <= page_size <= MAX_PAGE_SIZE):
        raise InvalidArgumentError("page_size must be an integer from 1 to %d, got %r"
                                   % (MAX_PAGE_SIZE, page_size), argument="page_size")


def _check_text(value, argument, allow_empty=False):
    if not isinstance(value, str) or (not value and not allow_empty):
        raise InvalidArgumentError("%s must be a non-empty string, got %r" % (argument, value),
                                   argument=argument)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: cannot go into a URL or JSON as text
        raise InvalidArgumentError("%s is not valid Unicode text (it has a lone surrogate): %r"
                                   % (argument, value), argument=argument) from None
    return value


def _check_source(source):
    if isinstance(source, PluginInstallationSource):
        return source.value
    if not isinstance(source, str) or not source or len(source) > 63:
        raise InvalidArgumentError(
            "source must be a PluginInstallationSource or a non-empty string of at most 63 "
            "characters, got %r" % (source,), argument="source")
    return source


def _check_meta(meta, argument):
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise InvalidArgumentError("%s must be a dict, got %r" % (argument, meta),
                                   argument=argument)
    return meta


def _quote_segment(value):
    """Percent-encode one path segment so no argument can change the route."""
    from urllib.parse import quote

    return quote(value, safe="")


# =============================================================================
# Wire helpers: multipart/form-data (RFC 7578)
# =============================================================================

_UPLOAD_BLOCK = 256 * 1024


def _multipart_quote(value):
    """Quote a name or filename for a Content-Disposition header, as UTF-8 bytes.

    ", CR and LF are percent-escaped as browsers do; a backslash is doubled, because
    the daemon's parser (Go's mime package) reads a backslash before a special
    character as an escape. Lone surrogates (a file name that is not UTF-8 on disk,
    as os.fsdecode gives it) are sent as "?".
    """
    value = value.replace("\\", "\\\\").replace('"', "%22")
    value = value.replace("\r", "%0D").replace("\n", "%0A")
    return value.encode("utf-8", "replace")


class _MultipartBody:
    """A multipart/form-data body of text fields and one file, sent in blocks.

    The total length is known up front (head + file size + tail), so the body goes
    out with a Content-Length and the file is never held in memory.
    """

    def __init__(self, fields, file_field, filename, source):
        self.boundary = "dify-plugin-client-" + os.urandom(16).hex()
        delimiter = ("--%s\r\n" % self.boundary).encode("ascii")
        head = []
        for name, value in fields:
            head += [delimiter,
                     b'Content-Disposition: form-data; name="',
                     _multipart_quote(name), b'"\r\n\r\n',
                     value.encode("utf-8"), b"\r\n"]
        head += [delimiter,
                 b'Content-Disposition: form-data; name="', _multipart_quote(file_field),
                 b'"; filename="', _multipart_quote(filename),
                 b'"\r\nContent-Type: application/octet-stream\r\n\r\n']
        self.head = b"".join(head)
        self.tail = ("\r\n--%s--\r\n" % self.boundary).encode("ascii")
        self.source = source
        self.length = len(self.head) + source.size + len(self.tail)
        self.content_type = "multipart/form-data; boundary=%s" % self.boundary

    def blocks(self):
        yield self.head
        for block in self.source.blocks():
            yield block
        yield self.tail


class _UploadSource:
    """Package bytes from memory, a path or a binary file object, with a known size."""

    def __init__(self, data=None, path=None, fileobj=None, size=0):
        self.data = data
        self.path = path
        self.fileobj = fileobj
        self.size = size

    @classmethod
    def open(cls, source, argument, limit):
        if isinstance(source, (bytes, bytearray, memoryview)):
            source = cls(data=bytes(source), size=len(source))
        elif isinstance(source, (str, os.PathLike)):
            path = os.fspath(source)
            try:
                info = os.stat(path)
            except OSError as exc:
                raise InvalidArgumentError("cannot read %s %r: %s" % (argument, path,
                                                                      exc.strerror or exc),
                                           argument=argument) from None
            import stat

            if not stat.S_ISREG(info.st_mode):
                raise InvalidArgumentError("%s %r is not a regular file" % (argument, path),
                                           argument=argument)
            source = cls(path=path, size=info.st_size)
        elif hasattr(source, "read"):
            source = cls._from_fileobj(source, argument, limit)
        else:
            raise InvalidArgumentError(
                "%s must be bytes, a path or a binary file object, got %s"
                % (argument, type(source).__name__), argument=argument)
        if source.size > limit:
            raise PackageTooLargeError(
                "%s is %s, over the %s the daemon accepts; nothing was sent"
                % (argument, _format_size(source.size), _format_size(limit)),
                argument=argument,
                hint="raise MAX_PLUGIN_PACKAGE_SIZE (bundles: MAX_BUNDLE_PACKAGE_SIZE) on the "
                     "daemon, then raise max_package_size / max_bundle_size in PluginConfig")
        return source

    @classmethod
    def _from_fileobj(cls, fileobj, argument, limit):
        try:
            seekable = fileobj.seekable()
        except (AttributeError, OSError, ValueError):
            seekable = False
        if seekable:
            start = fileobj.tell()
            end = fileobj.seek(0, os.SEEK_END)
            fileobj.seek(start)
            return cls(fileobj=fileobj, size=end - start)
        # Not seekable (a pipe): the size is unknown until read, so read it, but never
        # more than one byte past the limit.
        data = fileobj.read(limit + 1)
        if not isinstance(data, bytes):
            raise InvalidArgumentError("%s must be opened in binary mode ('rb')" % argument,
                                       argument=argument)
        return cls(data=data, size=len(data))

    def blocks(self):
        if self.data is not None:
            yield self.data
            return
        if self.path is not None:
            with open(self.path, "rb") as handle:
                for block in self._read_exactly(handle):
                    yield block
        else:
            for block in self._read_exactly(self.fileobj):
                yield block

    def _read_exactly(self, handle):
        left = self.size
        while left > 0:
            block = handle.read(min(_UPLOAD_BLOCK, left))
            if not block:
                # The file shrank while being sent; the Content-Length is now a lie.
                raise InvalidArgumentError("the package got shorter while it was being sent",
                                           argument="pkg")
            if not isinstance(block, bytes):
                raise InvalidArgumentError("the package file must be opened in binary mode "
                                           "('rb')", argument="pkg")
            left -= len(block)
            yield block


def _format_size(size):
    if size >= 1024 * 1024:
        return "%.1f MiB" % (size / 1048576.0)
    if size >= 1024:
        return "%.1f KiB" % (size / 1024.0)
    return "%d bytes" % size


# =============================================================================
# Wire helpers: server-sent events (WHATWG HTML, "parsing an event stream")
# =============================================================================


class _SSEEvent:
    __slots__ = ("event", "data", "id")

    def __init__(self, event, data, last_id):
        self.event = event
        self.data = data
        self.id = last_id

    def __repr__(self):
        return "_SSEEvent(event=%r, data=%r, id=%r)" % (self.event, self.data, self.id)


class _SSEParser:
    """Incremental event-stream parser.

    Feed it bytes as they arrive, in any split; it returns the events completed so
    far. Line ends may be LF, CR or CRLF (including a CRLF split between two reads);
    multi-line ``data`` is joined with LF; comments, unknown fields and ``retry`` are
    ignored; a leading BOM is dropped. ``close()`` reports whether the stream ended
    in the middle of an event.

    Work is done per event, not per line or byte: a read is cut at blank lines
    ("\\n\\n") and an event that is one ``data:`` line (all the daemon sends) takes
    a short path; anything else is parsed line by line.
    """

    def __init__(self, max_event_size=DEFAULT_MAX_EVENT_SIZE):
        self.max_event_size = max_event_size
        self._pending = []           # bytes of the unfinished event, line ends made LF
        self._pending_size = 0
        self._pending_cr = False     # the last read ended with CR: a following LF is not a line
        self._head = b""             # the first bytes, until we know if they are a BOM
        self._started = False
        self._last_id = ""

    def feed(self, chunk):
        if not self._started:
            chunk = self._head + chunk
            if len(chunk) < 3 and b"\xef\xbb\xbf".startswith(chunk):
                self._head = chunk  # could still be the start of a BOM
                return []
            self._head = b""
            self._started = True
            if chunk.startswith(b"\xef\xbb\xbf"):
                chunk = chunk[3:]
        if self._pending_cr and chunk[:1] == b"\n":
            chunk = chunk[1:]
        self._pending_cr = chunk[-1:] == b"\r"
        if not chunk:
            return []
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if self._pending:
            if self._pending[-1][-1:] == b"\n" and chunk[:1] == b"\n":
                first = b"".join(self._pending)[:-1]  # the blank line spans the seam
                chunk = chunk[1:]
            else:
                cut = chunk.find(b"\n\n")
                if cut < 0:
                    self._keep(chunk)
                    return []
                first = b"".join(self._pending) + chunk[:cut]
                chunk = chunk[cut + 2:]
            self._pending = []
            self._pending_size = 0
            texts = [first] + _split_blank_lines(chunk)
        else:
            texts = _split_blank_lines(chunk)
        rest = texts.pop()  # an unfinished event, or b""
        events = []
        limit = self.max_event_size
        for text in texts:  # each an event's lines, up to its blank line
            if text[:6] == b"data: " and b"\n" not in text and len(text) <= limit:
                # one data line, the daemon's form: no line-by-line parsing
                events.append(_SSEEvent("message", text[6:].decode("utf-8", "replace"),
                                        self._last_id))
            else:
                self._end_event(text, events)
        if rest:
            self._keep(rest)
        return events

    def _keep(self, data):
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size > self.max_event_size:
            raise self._too_large()

    def _too_large(self):
        return ResponseTooLargeError(
            "a stream event is over the %s limit" % _format_size(self.max_event_size))

    def _end_event(self, text, events):
        """Parse one event line by line (``text`` is everything up to its blank line)."""
        if len(text) > self.max_event_size:
            raise self._too_large()
        data = []
        event = ""
        for line in text.split(b"\n"):
            field, value = _sse_field(line)
            if field == "data":
                data.append(value)
            elif field == "event":
                event = value.decode("utf-8", "replace")
            elif field == "id" and b"\x00" not in value:
                self._last_id = value.decode("utf-8", "replace")
            # blank lines (only at the start), comments, retry and unknown fields: nothing
        if data:
            events.append(_SSEEvent(event or "message",
                                    b"\n".join(data).decode("utf-8", "replace"), self._last_id))

    def close(self):
        """End of stream. Returns True if an event was cut off (data without its blank line)."""
        text = b"".join(self._pending)
        self._pending = []
        self._pending_size = 0
        lines = text.split(b"\n")
        unfinished = lines.pop()  # a line without its line end
        if any(_sse_field(line)[0] == "data" for line in lines):
            return True
        return bool(unfinished) and not unfinished.startswith(b":")


def _split_blank_lines(data):
    """``data.split(b"\\n\\n")``, quicker on long lines such as base64 blob chunks.

    bytes.split scans for a two-byte separator at about a byte per step; find(b"\\n")
    uses memchr, which skips a 10 KiB line many times faster. Short lines (the usual
    small events) stay with split, which does all its work in C.
    """
    if len(data) < 8192 or data.find(b"\n", 0, 1024) >= 0:
        return data.split(b"\n\n")
    parts = []
    start = 0
    find = data.find
    line_end = find(b"\n")
    while line_end >= 0:
        if data[line_end + 1:line_end + 2] == b"\n":
            parts.append(data[start:line_end])
            start = line_end + 2
            line_end = find(b"\n", start)
        else:
            line_end = find(b"\n", line_end + 1)
    parts.append(data[start:])
    return parts


def _sse_field(line):
    """(field name, value bytes) of one event-stream line; ("", b"") for comments and
    blank lines."""
    if not line or line[:1] == b":":
        return "", b""
    colon = line.find(b":")
    if colon < 0:
        return line.decode("utf-8", "replace"), b""
    value = line[colon + 1:]
    if value[:1] == b" ":
        value = value[1:]
    return line[:colon].decode("utf-8", "replace"), value


# =============================================================================
# Wire helpers: the daemon's response envelope
# =============================================================================


def _loads(text):
    """``json.loads``, with nesting too deep for the parser reported as ValueError too."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply to parse") from None


def _unwrap_error_message(text):
    """Peel the JSON-in-JSON layers of a daemon error message.

    Returns a list of ``(error_type, message, args)`` from the outermost layer to the
    innermost. A message that is not JSON ends the peeling as plain text.
    """
    layers = []
    while isinstance(text, str) and len(layers) < 8:
        stripped = text.strip()
        if not stripped.startswith("{"):
            break
        try:
            decoded = _loads(stripped)
        except ValueError:
            break
        if not isinstance(decoded, dict) or ("message" not in decoded
                                             and "error_type" not in decoded):
            break
        error_type = decoded.get("error_type")
        layers.append((error_type if isinstance(error_type, str) else None,
                       decoded.get("message"), decoded.get("args")))
        text = decoded.get("message")
    return layers


def _daemon_error(code, message, http_status, route):
    """Build the typed exception for an error envelope (a negative ``code``)."""
    layers = _unwrap_error_message(message)
    if layers:
        error_type, text, daemon_args = layers[0]
    else:
        error_type, text, daemon_args = None, message, None
    if not isinstance(text, str):
        text = json.dumps(text) if text is not None else ""
    cls = _DAEMON_ERROR_TYPES.get(error_type) or _DAEMON_ERROR_CODES.get(code, PluginDaemonError)
    kwargs = dict(http_status=http_status, code=code, error_type=error_type, route=route,
                  daemon_args=daemon_args)
    if cls is PluginInvokeError:
        inner = layers[1:]
        innermost = inner[-1] if inner else (None, text, None)
        invoke_type, invoke_message, invoke_args = innermost
        invoke_message = invoke_message if isinstance(invoke_message, str) else (
            text if invoke_message is None else json.dumps(invoke_message))
        cls = _INVOKE_ERROR_TYPES.get(invoke_type, PluginInvokeError)
        return cls(invoke_message, invoke_error_type=invoke_type, invoke_message=invoke_message,
                   invoke_args=invoke_args, description=text,
                   hint=_hint_for(invoke_message), **kwargs)
    return cls(text, hint=_hint_for(text), **kwargs)


def _status_error(response, route, message=None):
    response.content = _redact_bytes(response.content)  # the error keeps the response
    snippet = response.text.strip()
    if len(snippet) > 200:
        snippet = snippet[:200] + "..."
    if message is None:
        message = "HTTP %d from the daemon%s" % (
            response.status_code, ": %s" % snippet if snippet else " with an empty body")
    return HTTPStatusError(message, response=response, http_status=response.status_code,
                           route=route, hint=_STATUS_HINTS.get(response.status_code))


def _decode_envelope(response, route):
    """Return ``data`` of a success envelope, or raise the matching typed error.

    Handles HTTP 200 with a negative code, the JSON-in-JSON error message, the 401
    envelope, the route-not-found body whose code is a string, and bodies that are
    not the daemon's at all (a proxy's HTML page, an empty 500).
    """
    body = response.content
    try:
        parsed = _loads(body) if body else None
    except ValueError:  # includes invalid UTF-8
        parsed = None
    status = response.status_code
    if isinstance(parsed, dict) and "code" in parsed:
        code = parsed["code"]
        message = parsed.get("message")
        if isinstance(code, int) and not isinstance(code, bool):
            if code == 0 and 200 <= status < 300:
                return parsed.get("data")
            if code != 0:
                raise _daemon_error(code, message, status, route)
        elif not 200 <= status < 300:
            # e.g. {"code":"not_found","message":"route not found"} for an unknown route
            error = _status_error(response, route, message="%s (HTTP %d)" % (
                message if isinstance(message, str) and message else "HTTP error", status))
            error.code = code
            raise error
    if not 200 <= status < 300:
        raise _status_error(response, route)
    if parsed is None:
        raise InvalidResponseError(
            "the daemon answered HTTP %d with %s instead of its JSON envelope" % (
                status, "an empty body" if not body else "a body that is not JSON"),
            http_status=status, route=route,
            hint="is this URL really the plugin daemon (not Dify's API or a proxy page)?")
    raise InvalidResponseError(
        "the daemon's response is not its {code, message, data} envelope",
        http_status=status, route=route)


# =============================================================================
# Wire helpers: JSON Schema $ref resolution (RFC 6901 pointers, Dify's registry)
# =============================================================================
#
# Tool output schemas may point at local definitions ("#/$defs/x") or at Dify's
# well-known schemas ("https://dify.ai/schemas/v1/file.json"). The resolver inlines
# both, from the document and from a registry inside this module: it never fetches
# anything over the network. Keys next to a $ref are kept and win over the target's.
# A ref that points back into its own chain is left in place and marked
# "$circular_ref": true; nesting deeper than max_depth is left as it is, and so is
# any ref that cannot be resolved. The input is never modified.

_DIFY_SCHEMA_URI = _Regex(r"https://dify\.ai/schemas/(v\d+)/([^/#]+)\.json\Z")
_ARRAY_INDEX = _Regex(r"(?:0|[1-9][0-9]*)\Z")
_BAD_POINTER_ESCAPE = _Regex(r"~(?:[^01]|\Z)")
#: Keywords whose values are data, not schemas: a "$ref" key inside them is not a ref.
_SCHEMA_DATA_KEYWORDS = frozenset(("enum", "const", "default", "examples", "example"))
#: Keywords whose values map names to schemas: their keys are names, never keywords.
_SCHEMA_NAME_MAPS = frozenset(("properties", "patternProperties", "$defs", "definitions",
                               "dependentSchemas"))
_NOT_FOUND = object()
_DIFY_SCHEMAS = {}


def _dify_schema(version, name):
    """Dify's built-in schema ``version/name`` (cleaned of $id, $schema, version), or None."""
    if not _DIFY_SCHEMAS:
        _DIFY_SCHEMAS.update(_build_dify_schemas())
    return _DIFY_SCHEMAS.get((version, name))


def _build_dify_schemas():
    def text(description):
        return {"type": "string", "description": description}

    def strings(description):
        return {"type": "array", "items": {"type": "string"}, "description": description}

    file_properties = {
        "name": text("file name"), "size": {"type": "number", "description": "file size"},
        "extension": text("file extension"), "type": text("file type"),
        "mime_type": text("file mime type"), "transfer_method": text("file transfer method"),
        "url": text("file url"), "related_id": text("file related id")}
    chunk_files = {"type": "array", "description": "List of files",
                   "items": {"type": "object", "properties": file_properties,
                             "required": _builtin_list(file_properties)}}
    return {
        ("v1", "file"): {
            "type": "object", "title": "File", "description": "Schema for file objects (v1)",
            "properties": file_properties, "required": ["name"]},
        ("v1", "general_structure"): {
            "type": "array", "title": "General Structure",
            "description": "Schema for general structure (v1) - array of strings",
            "items": {"type": "string"}},
        ("v1", "qa_structure"): {
            "type": "object", "title": "Q&A Structure",
            "description": "Schema for question-answer structure (v1)",
            "properties": {"qa_chunks": {
                "type": "array", "description": "List of question-answer pairs",
                "items": {"type": "object", "required": ["question", "answer"],
                          "properties": {"question": text("The question"),
                                         "answer": text("The answer")}}}},
            "required": ["qa_chunks"]},
        ("v1", "parent_child_structure"): {
            "type": "object", "title": "Parent-Child Structure",
            "description": "Schema for parent-child structure (v1)",
            "properties": {
                "parent_mode": text("The mode of parent-child relationship"),
                "parent_child_chunks": {
                    "type": "array", "description": "List of parent-child chunk pairs",
                    "items": {"type": "object",
                              "required": ["parent_content", "child_contents"],
                              "properties": {
                                  "parent_content": text("The parent content"),
                                  "child_contents": strings("List of child contents")}}}},
            "required": ["parent_mode", "parent_child_chunks"]},
        ("v1", "multimodal_general_structure"): {
            "type": "array", "title": "Multimodal General Structure",
            "description": "Schema for multimodal general structure (v1) - array of objects",
            "properties": {"general_chunks": {
                "type": "array", "description": "List of content and files",
                "items": {"type": "object", "required": ["content"],
                          "properties": {"content": text("The content"),
                                         "files": dict(chunk_files, items={
                                             "type": "object",
                                             "properties": file_properties})}}}}},
        ("v1", "multimodal_parent_child_structure"): {
            "type": "object", "title": "Multimodal Parent-Child Structure",
            "description": "Schema for multimodal parent-child structure (v1)",
            "properties": {
                "parent_mode": text("The mode of parent-child relationship"),
                "parent_child_chunks": {
                    "type": "array", "description": "List of parent-child chunk pairs",
                    "items": {"type": "object",
                              "required": ["parent_content", "child_contents"],
                              "properties": {
                                  "parent_content": text("The parent content"),
                                  "files": chunk_files,
                                  "child_contents": strings("List of child contents")}}}},
            "required": ["parent_mode", "parent_child_chunks"]},
    }


def _json_pointer(document, pointer):
    """Evaluate an RFC 6901 pointer (already percent-decoded); _NOT_FOUND if it fails."""
    if pointer == "":
        return document
    if not pointer.startswith("/"):
        return _NOT_FOUND
    node = document
    for token in pointer[1:].split("/"):
        if _BAD_POINTER_ESCAPE.search(token):
            return _NOT_FOUND
        token = token.replace("~1", "/").replace("~0", "~")  # this order: RFC 6901 section 4
        if isinstance(node, dict):
            if token not in node:
                return _NOT_FOUND
            node = node[token]
        elif isinstance(node, list):
            if not _ARRAY_INDEX.match(token) or int(token) >= len(node):
                return _NOT_FOUND
            node = node[int(token)]
        else:
            return _NOT_FOUND
    return node


def _copy_json(node):
    """A deep copy of JSON data; iterative, so any nesting depth is copied."""
    if not isinstance(node, (dict, list)):
        return node
    copy = {} if isinstance(node, dict) else []
    stack = [(node, copy)]
    while stack:
        source, target = stack.pop()
        is_dict = isinstance(source, dict)
        for key, value in (source.items() if is_dict else enumerate(source)):
            if isinstance(value, dict):
                child = {}
                stack.append((value, child))
            elif isinstance(value, list):
                child = []
                stack.append((value, child))
            else:
                child = value
            if is_dict:
                target[key] = child
            else:
                target.append(child)
    return copy


def _has_ref(node):
    """True if any object in ``node`` has a string "$ref" (an iterative scan)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("$ref"), str):
                return True
            stack.extend(value for value in item.values() if isinstance(value, (dict, list)))
        elif isinstance(item, list):
            stack.extend(value for value in item if isinstance(value, (dict, list)))
    return False


class _RefResolver:
    """Inline the $refs of one schema document. Use :func:`_resolve_refs`."""

    def __init__(self, root, max_depth):
        self.root = root
        self.max_depth = max_depth
        self.memo = {}      # target key -> resolved copy (only when no cycle was met)
        self.cycles = 0     # count of cycle marks made, to tell if a result depends on the chain

    def walk(self, node, document, chain, depth, scoped, names=False):
        """Resolve ``node``; ``names`` says it maps names to schemas (e.g. properties)."""
        if isinstance(node, dict):
            ref = None if names else node.get("$ref")
            if isinstance(ref, str):
                return self.expand(node, ref, document, chain, depth, scoped)
            if not names and depth > 0 and isinstance(node.get("$id"), str):
                scoped = True  # a nested $id changes what "#..." means: leave those alone
            result = {}
            for key, value in node.items():
                if (not isinstance(value, (dict, list)) or depth + 1 > self.max_depth
                        or (not names and key in _SCHEMA_DATA_KEYWORDS)):
                    result[key] = _copy_json(value)
                else:
                    result[key] = self.walk(value, document, chain, depth + 1, scoped,
                                            not names and key in _SCHEMA_NAME_MAPS)
            return result
        if isinstance(node, list):
            if depth + 1 > self.max_depth:
                return _copy_json(node)
            return [self.walk(value, document, chain, depth + 1, scoped)
                    if isinstance(value, (dict, list)) else value for value in node]
        return node

    def locate(self, ref, document, scoped):
        """(target, its document, a key naming it) or (_NOT_FOUND, None, None)."""
        from urllib.parse import unquote

        uri, _, fragment = ref.partition("#")
        if uri:
            match = _DIFY_SCHEMA_URI.match(uri)
            base = _dify_schema(*match.groups()) if match else None
            if base is None:
                return _NOT_FOUND, None, None  # unknown remote refs are never fetched
        elif scoped:
            return _NOT_FOUND, None, None
        else:
            base = document
        pointer = unquote(fragment)
        target = _json_pointer(base, pointer)
        if target is _NOT_FOUND:
            return _NOT_FOUND, None, None
        return target, base, (uri, pointer)

    def keep_ref(self, node, ref, document, chain, depth, scoped):
        """``node`` with its $ref left in place and the keys beside it resolved."""
        kept = {"$ref": ref}
        kept.update(self.walk({name: value for name, value in node.items() if name != "$ref"},
                              document, chain, depth, scoped))
        return kept

    def expand(self, node, ref, document, chain, depth, scoped):
        if depth + 1 > self.max_depth:
            return _copy_json(node)
        target, target_document, key = self.locate(ref, document, scoped)
        if target is _NOT_FOUND:
            return self.keep_ref(node, ref, document, chain, depth, scoped)
        if key in chain:
            self.cycles += 1
            marked = self.keep_ref(node, ref, document, chain, depth, scoped)
            marked["$circular_ref"] = True
            return marked
        if key in self.memo:
            resolved = _copy_json(self.memo[key])
        else:
            cycles_before = self.cycles
            resolved = self.walk(target, target_document, chain + (key,), depth + 1,
                                 scoped and not key[0])
            if self.cycles == cycles_before:
                self.memo[key] = resolved
                resolved = _copy_json(resolved)
        siblings = {name: value for name, value in node.items() if name != "$ref"}
        if not siblings:
            return resolved
        if not isinstance(resolved, dict):
            return _copy_json(node)  # a sibling cannot be merged into a non-object target
        merged = dict(resolved)
        merged.update(self.walk(siblings, document, chain, depth, scoped))
        return merged


def _resolve_refs(schema, max_depth=64):
    """Return ``schema`` with its local and Dify-registry $refs inlined (see above).

    The input is not modified; a schema without any $ref is returned as it is.
    """
    if not isinstance(schema, (dict, list)) or not _has_ref(schema):
        return schema
    return _RefResolver(schema, max_depth).walk(schema, schema, (), 0, False)


# =============================================================================
# Wire helpers: tool provider ids
# =============================================================================

_PROVIDER_ID_RE = _Regex(r"([a-z0-9_-]+)/([a-z0-9_-]+)/([A-Za-z0-9_-]+)\Z")
_BARE_PROVIDER_RE = _Regex(r"[a-z0-9_-]+\Z")
#: Dify renamed these langgenius tool plugins "<name>_tool" (models/provider_ids.py).
_TOOL_PLUGIN_ALIASES = frozenset(("jina", "siliconflow", "stepfun", "gitee_ai"))
_PROVIDER_FORMS = ("accepted forms: 'organization/plugin_name/provider_name' (the same as "
                   "'plugin_id/provider_name', e.g. acme/search/search) or a bare name, which "
                   "means langgenius/<name>/<name>")


def _parse_provider_id(value, argument="tool_provider", aliases=False):
    """Split a provider id into (plugin_id, provider_name) the way Dify does."""
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError("%s must be a non-empty string; %s" % (argument, _PROVIDER_FORMS),
                                   argument=argument)
    match = _PROVIDER_ID_RE.match(value)
    if match:
        organization, plugin_name, provider_name = match.groups()
    elif _BARE_PROVIDER_RE.match(value):
        organization, plugin_name, provider_name = "langgenius", value, value
    else:
        raise InvalidArgumentError("%s %r is not a tool provider id; %s"
                                   % (argument, value, _PROVIDER_FORMS), argument=argument)
    if aliases and organization == "langgenius" and provider_name in _TOOL_PLUGIN_ALIASES:
        plugin_name = provider_name + "_tool"
    return "%s/%s" % (organization, plugin_name), provider_name


# =============================================================================
# Wire helpers: tool parameter casting
# =============================================================================
#
# Parameters are cast by the tool's declaration before sending, more strictly than
# Dify does: a value that cannot be what the declaration asks for is an error that
# names the parameter, the value and what was expected, instead of being silently
# turned into None, {} or Python's str() of it.

_TRUE_WORDS = frozenset(("true", "yes", "y", "on", "1"))
_FALSE_WORDS = frozenset(("false", "no", "n", "off", "0"))
_INTEGER_TEXT = _Regex(r"[+-]?[0-9]+\Z")
_NUMBER_TEXT = _Regex(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")


class _CastProblem(Exception):
    """Raised by a caster with what was expected; collected into ToolParameterError."""


def _cast_text(value, parameter):
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, (dict, list)):
        try:
            return json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError, RecursionError):  # bytes, sets, cycles, deep nesting
            raise _CastProblem("a string, or a list/dict of JSON data") from None
    raise _CastProblem("a string")


def _cast_number(value, parameter):
    if isinstance(value, bool):
        raise _CastProblem("a number (not a boolean)")
    if isinstance(value, str):
        text = value.strip()
        if _INTEGER_TEXT.match(text):
            try:
                value = int(text)
            except ValueError:  # more digits than Python converts (sys.set_int_max_str_digits)
                raise _CastProblem("a number of at most 4300 digits") from None
        elif _NUMBER_TEXT.match(text):
            value = float(text)
        else:
            raise _CastProblem("a number")
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        raise _CastProblem("a finite number")
    if not isinstance(value, (int, float)):
        raise _CastProblem("a number")
    if parameter.min is not None and value < parameter.min:
        raise _CastProblem("a number >= %s" % _number_text(parameter.min))
    if parameter.max is not None and value > parameter.max:
        raise _CastProblem("a number <= %s" % _number_text(parameter.max))
    return value


def _number_text(number):
    return str(int(number)) if isinstance(number, float) and number.is_integer() else str(number)


def _cast_boolean(value, parameter):
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    raise _CastProblem("a boolean (true/false, yes/no, y/n, on/off, 1/0)")


def _cast_select(value, parameter):
    allowed = [option.value for option in parameter.options]
    if parameter.multiple:
        values = value if isinstance(value, list) else [value]
        return [_select_one(item, allowed) for item in values]
    return _select_one(value, allowed)


def _select_one(value, allowed):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)  # option values are strings; 1 matches option "1"
    if not isinstance(value, str):
        raise _CastProblem("one of %s" % ", ".join(repr(v) for v in allowed))
    if allowed and value not in allowed:
        raise _CastProblem("one of %s" % ", ".join(repr(v) for v in allowed))
    return value


def _cast_file(value, parameter):
    if isinstance(value, list):
        if len(value) != 1:
            raise _CastProblem("one file (got a list of %d)" % len(value))
        value = value[0]
    if not isinstance(value, dict):
        raise _CastProblem("a file object (a dict)")
    return value


def _cast_list(value, parameter):
    if isinstance(value, list):
        return value
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            parsed = _loads(value)
        except ValueError:
            raise _CastProblem("a list or a JSON array") from None
        if isinstance(parsed, list):
            return parsed
    return [value]


def _cast_object(value, parameter):
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = _loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    raise _CastProblem("an object (a dict or a JSON object string)")


_CASTERS = {
    "string": _cast_text, "secret-input": _cast_text, "text-input": _cast_text,
    "number": _cast_number, "boolean": _cast_boolean, "checkbox": _cast_boolean,
    "select": _cast_select, "file": _cast_file, "files": _cast_list, "array": _cast_list,
    "object": _cast_object,
}


def _short_repr(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _cast_parameters(tool, parameters, tool_label):
    """Cast ``parameters`` by ``tool``'s declaration; every problem is reported at once."""
    result = dict(parameters)
    problems = []
    missing = []
    for parameter in tool.parameters:
        name = parameter.name
        value = result.get(name)
        if value is None:
            if parameter.default is not None:
                value = parameter.default
            elif parameter.required:
                missing.append(name)
                continue
            else:
                continue
        caster = _CASTERS.get(parameter.type)
        if caster is None:  # any, selectors, dynamic-select, date, future types
            result[name] = value
            continue
        try:
            result[name] = caster(value, parameter)
        except _CastProblem as problem:
            problems.append((name, value, str(problem)))
    if problems or missing:
        parts = ["%r = %s (expected %s)" % (name, _short_repr(value), expected)
                 for name, value, expected in problems]
        if missing:
            parts.append("missing required: %s" % ", ".join(repr(name) for name in missing))
            problems.extend((name, None, "a value (required, no default)") for name in missing)
        raise ToolParameterError("tool_parameters do not fit %s: %s" % (tool_label,
                                                                      "; ".join(parts)),
                                 problems=problems)
    return result


# =============================================================================
# Wire helpers: blob chunk merging
# =============================================================================


class _BlobMerger:
    """Join ``blob_chunk`` messages into one ``blob`` message per id.

    The merged blob is emitted where its last chunk arrives, with that chunk's meta.
    Chunks must arrive in sequence; sizes are capped per chunk and per blob.
    """

    def __init__(self, max_chunk_size, max_blob_size):
        self.max_chunk_size = max_chunk_size
        self.max_blob_size = max_blob_size
        self.buffers = {}  # id -> [list of chunks, their total size, next sequence]

    def add(self, message):
        chunk = message.message
        size = len(chunk.blob)
        if size > self.max_chunk_size:
            raise BlobTooLargeError(
                "a blob chunk of blob %s is %s, over the %s max_blob_chunk_size"
                % (chunk.id, _format_size(size), _format_size(self.max_chunk_size)))
        entry = self.buffers.get(chunk.id)
        if entry is None:
            if chunk.total_length > self.max_blob_size:
                raise BlobTooLargeError(
                    "blob %s declares %s, over the %s max_blob_size"
                    % (chunk.id, _format_size(chunk.total_length),
                       _format_size(self.max_blob_size)))
            entry = self.buffers[chunk.id] = [[], 0, 0]
        pieces, received, due = entry
        if chunk.sequence != due:
            raise InvalidResponseError("blob %s: chunk %d arrived where chunk %d was due"
                                       % (chunk.id, chunk.sequence, due))
        if received + size > self.max_blob_size:
            del self.buffers[chunk.id]
            raise BlobTooLargeError("blob %s is over the %s max_blob_size"
                                    % (chunk.id, _format_size(self.max_blob_size)))
        pieces.append(chunk.blob)  # joined once at the end: no copying while it grows
        entry[1] = received + size
        entry[2] = due + 1
        if not chunk.end:
            return None
        del self.buffers[chunk.id]
        blob = b"".join(pieces)
        if chunk.total_length and chunk.total_length != len(blob):
            _logger().warning("blob %s: %d bytes received, %d declared", chunk.id,
                              len(blob), chunk.total_length)
        return ToolInvokeMessage(type="blob", message=BlobMessage(blob=blob), meta=message.meta)

    def finish(self):
        if self.buffers:
            raise InvalidResponseError(
                "the stream ended before blob(s) %s were complete"
                % ", ".join(sorted(self.buffers)))


# =============================================================================
# Transport
# =============================================================================
#
# A small keep-alive pool over http.client. Each request goes through explicit
# phases (acquire a connection, connect, send, wait for the response, read the
# body) so that each failure maps to one precise error class:
#
#   pool wait  -> PoolTimeout
#   connect    -> ConnectTimeout / ConnectError
#   send       -> WriteTimeout / RemoteProtocolError
#   response   -> ReadTimeout / RemoteProtocolError
#
# GET requests are retried after connection errors; nothing else is, because a
# POST may already have taken effect. An idle connection the server closed is
# detected before reuse (it polls readable) and replaced.

_REDIRECT_STATUSES = (301, 302, 303, 307, 308)
_MAX_REDIRECTS = 3
_READ_BLOCK = 64 * 1024


def _check_header_value(name, value):
    if not isinstance(value, str) or _HEADER_UNSAFE_RE.search(value):
        raise InvalidArgumentError("header %s must be a string without control characters "
                                   "(CR/LF would inject headers) or characters outside "
                                   "Latin-1" % name, argument=name)
    return value


def _is_dropped(connection):
    """True if an idle connection's socket is readable: the peer closed it (or sent junk)."""
    sock = connection.sock
    if sock is None:
        return False
    import select

    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN | select.POLLERR | select.POLLHUP)
            return bool(poller.poll(0))
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable)
    except (OSError, ValueError):
        return True


class _Phase:
    """Names the step a request was in when it failed."""

    CONNECT = "connect"
    SEND = "send"
    RESPONSE = "response"


class _Transport:
    """HTTP/1.1 keep-alive connections to one daemon, shared safely between threads."""

    def __init__(self, config):
        self.config = config
        self.scheme, self.host, self.port, self.base_path = _split_url(config.url)
        self.origin = "%s://%s:%d" % (self.scheme, self.host, self.port)
        import threading

        self._slots = threading.BoundedSemaphore(config.pool_size)
        self._idle = []
        self._lock = threading.Lock()
        self._ssl_context = None
        self._proxy = _UNSET
        self._log = _logger()
        self.connections_opened = 0  # for tests and diagnostics

    # --- connections -------------------------------------------------------

    def _acquire(self, route):
        wait = self.config.timeout.pool
        if not self._slots.acquire(True, wait):
            raise PoolTimeout("no free connection within %.1f s (pool_size=%d)"
                              % (wait, self.config.pool_size), route=route,
                              hint="raise pool_size or the pool timeout")
        try:
            while True:
                with self._lock:
                    connection = self._idle.pop() if self._idle else None
                if connection is None:
                    return self._new_connection()
                if not _is_dropped(connection):
                    return connection
                connection.close()  # the server closed it while idle: replace it
        except BaseException:
            self._slots.release()
            raise

    def _release(self, connection, reusable):
        try:
            if reusable:
                with self._lock:
                    self._idle.append(connection)
            else:
                connection.close()
        finally:
            self._slots.release()

    def _new_connection(self):
        import http.client

        connect_timeout = self.config.timeout.connect
        proxy = self._proxy_settings()
        if self.scheme == "https":
            context = self._get_ssl_context()
            if proxy is not None:
                connection = http.client.HTTPSConnection(
                    proxy[0], proxy[1], timeout=connect_timeout, context=context)
                connection.set_tunnel(self.host, self.port, headers=proxy[2])
            else:
                connection = http.client.HTTPSConnection(
                    self.host, self.port, timeout=connect_timeout, context=context)
        elif proxy is not None:
            connection = http.client.HTTPConnection(proxy[0], proxy[1], timeout=connect_timeout)
        else:
            connection = http.client.HTTPConnection(self.host, self.port,
                                                    timeout=connect_timeout)
        return connection

    def _get_ssl_context(self):
        if self._ssl_context is None:
            import ssl

            verify = self.config.verify
            if verify is False:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            elif isinstance(verify, str):
                if os.path.isdir(verify):
                    context = ssl.create_default_context(capath=verify)
                else:
                    context = ssl.create_default_context(cafile=verify)
            else:
                context = ssl.create_default_context()
            self._ssl_context = context
        return self._ssl_context

    def _proxy_settings(self):
        """(host, port, tunnel headers) of the proxy to use, or None (the default)."""
        if self._proxy is _UNSET:
            self._proxy = None
            if self.config.trust_env:
                self._proxy = self._proxy_from_environment()
        return self._proxy

    def _proxy_from_environment(self):
        from urllib.parse import unquote, urlsplit
        from urllib.request import getproxies, proxy_bypass

        proxy_url = getproxies().get(self.scheme)
        if not proxy_url or proxy_bypass(self.host):
            return None
        parts = urlsplit(proxy_url if "://" in proxy_url else "http://" + proxy_url)
        if parts.scheme != "http" or not parts.hostname:
            raise InvalidArgumentError("unsupported proxy %r: only http:// proxies are supported"
                                       % (parts.scheme + "://" + (parts.hostname or "")),
                                       argument="trust_env")
        headers = {}
        if parts.username:
            token = "%s:%s" % (unquote(parts.username), unquote(parts.password or ""))
            headers["Proxy-Authorization"] = "Basic " + binascii.b2a_base64(
                token.encode("utf-8"), newline=False).decode("ascii")
        return parts.hostname, parts.port or 80, headers

    def close(self):
        """Close every idle connection. Connections in use go back to the pool when
        released, so the transport stays usable."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    # --- requests ----------------------------------------------------------

    def request(self, method, path, *, query=None, headers=None, body=None, stream=False,
                read_timeout=_UNSET, auth=True):
        """Send one request. Returns a :class:`Response` (body read and capped) or, with
        ``stream=True``, a :class:`_StreamResponse` that owns its connection until closed."""
        from urllib.parse import urlencode

        target = self.base_path + path
        if query:
            target += "?" + urlencode(query, doseq=True)
        route = "%s %s" % (method, self.base_path + path)
        all_headers = self._headers(headers, auth)
        attempts = 1 + (self.config.retries if method in ("GET", "HEAD") else 0)
        redirects = 0
        attempt = 0
        debug = self._log.isEnabledFor(10)  # logging.DEBUG, without importing logging here
        while True:
            began = time.perf_counter() if debug else 0.0
            try:
                response = self._attempt(method, target, route, all_headers, body, stream,
                                         read_timeout)
            except (ConnectError, ConnectTimeout, RemoteProtocolError) as exc:
                attempt += 1
                if attempt >= attempts:
                    raise
                delay = min(0.1 * (2 ** (attempt - 1)), 2.0)
                self._log.info("retrying %s after %s (attempt %d of %d, in %.1f s)",
                               route, type(exc).__name__, attempt + 1, attempts, delay)
                time.sleep(delay)
                continue
            if debug:  # the route and status only: never headers, so never the key
                self._log.debug("%s -> HTTP %d%s in %.1f ms", route, response.status_code,
                                " (stream)" if stream else "",
                                (time.perf_counter() - began) * 1000.0)
            if stream or response.status_code not in _REDIRECT_STATUSES:
                return response
            target = self._redirect_target(response, route, method, redirects)
            redirects += 1

    def _headers(self, extra, auth):
        headers = {"User-Agent": self.config.user_agent, "Accept": "application/json"}
        if auth:
            headers["X-Api-Key"] = self.config.key
        if extra:
            for name, value in extra.items():
                headers[name] = _check_header_value(name, value)
        return headers

    def _redirect_target(self, response, route, method, redirects):
        from urllib.parse import urljoin, urlsplit

        location = response.headers.get("location", "")
        absolute = urljoin(response.url, location)
        parts = urlsplit(absolute)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        same_origin = (parts.scheme, parts.hostname, port) == (self.scheme, self.host, self.port)
        if not same_origin:
            raise _status_error(response, route, message=(
                "the daemon redirected to another host (%s://%s:%s); not followed, so the key "
                "is not sent there" % (parts.scheme, parts.hostname, port)))
        if method != "GET" or redirects >= _MAX_REDIRECTS:
            raise _status_error(response, route, message=(
                "the daemon answered HTTP %d redirecting to %s; not followed"
                % (response.status_code, parts.path)))
        return parts.path + ("?" + parts.query if parts.query else "")

    def _attempt(self, method, target, route, headers, body, stream, read_timeout):
        connection = self._acquire(route)
        reusable = False
        handed_over = False
        try:
            if connection.sock is None:
                self._connect(connection, route)
            early = self._send(connection, method, target, headers, body, route)
            if read_timeout is _UNSET:
                read_timeout = self.config.timeout.read
            response = early or self._get_response(connection, route, read_timeout)
            url = self.origin + target
            if stream:
                handed_over = True
                return _StreamResponse(self, connection, response, method, url, route)
            content = self._read_body(response, route)
            reusable = not response.will_close and early is None
            return Response(response.status, _header_dict(response), content, method, url)
        finally:
            if not handed_over:
                self._release(connection, reusable)

    def _connect(self, connection, route):
        import socket

        try:
            connection.connect()
        except socket.timeout:
            connection.close()
            raise ConnectTimeout("could not connect to %s within %s s"
                                 % (self.origin, self.config.timeout.connect),
                                 route=route) from None
        except OSError as exc:
            connection.close()
            raise ConnectError("cannot connect to %s: %s" % (self.origin, _os_error_text(exc)),
                               route=route, hint=_connect_hint(exc, self)) from None
        self.connections_opened += 1
        try:
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, AttributeError):
            pass

    def _send(self, connection, method, target, headers, body, route):
        """Send the request. Returns a response if the server answered early (e.g. a proxy's
        413 before the whole body arrived), else None."""
        import socket

        if self._proxy_settings() is not None and self.scheme == "http":
            target = self.origin + target  # a plain-HTTP proxy takes the absolute URL
        connection.sock.settimeout(self.config.timeout.write)
        try:
            connection.putrequest(method, target, skip_accept_encoding=True)
            for name, value in headers.items():
                connection.putheader(name, value)
            if body is None:
                if method == "POST":
                    connection.putheader("Content-Length", "0")
                connection.endheaders()
            elif isinstance(body, bytes):
                connection.putheader("Content-Length", str(len(body)))
                connection.endheaders(body)
            else:  # a _MultipartBody: stream it with a precomputed length
                connection.putheader("Content-Length", str(body.length))
                connection.endheaders()
                for block in body.blocks():
                    connection.send(block)
        except socket.timeout:
            raise WriteTimeout("sending the request stalled for %s s"
                               % self.config.timeout.write, route=route) from None
        except (ConnectionError, OSError) as exc:
            if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
                early = self._early_response(connection)
                if early is not None:
                    return early
            raise RemoteProtocolError("the connection broke while sending the request: %s"
                                      % _os_error_text(exc), route=route) from None
        return None

    @staticmethod
    def _early_response(connection):
        """After a send failure, read a response the server may have sent before closing."""
        try:
            connection.sock.settimeout(1.0)
            return connection.getresponse()
        except Exception:
            return None

    def _get_response(self, connection, route, read_timeout):
        import http.client
        import socket

        connection.sock.settimeout(read_timeout)
        try:
            return connection.getresponse()
        except socket.timeout:
            raise ReadTimeout("the daemon sent no response within %s s" % read_timeout,
                              route=route) from None
        except (http.client.HTTPException, OSError) as exc:
            raise RemoteProtocolError("the connection broke before a response arrived: %s"
                                      % _os_error_text(exc), route=route) from None

    def _read_body(self, response, route):
        import http.client
        import socket

        cap = self.config.max_response_size
        declared = response.getheader("content-length")
        expected = int(declared) if declared and declared.isdigit() else None
        if expected is not None and expected > cap:
            raise ResponseTooLargeError(
                "the response is %s, over the %s max_response_size"
                % (_format_size(expected), _format_size(cap)), http_status=response.status,
                route=route)
        blocks = []
        total = 0
        try:
            while True:
                block = response.read(_READ_BLOCK)
                if not block:
                    break
                total += len(block)
                if total > cap:
                    raise ResponseTooLargeError(
                        "the response is over the %s max_response_size" % _format_size(cap),
                        http_status=response.status, route=route)
                blocks.append(block)
        except socket.timeout:
            raise ReadTimeout("the daemon stopped sending the response body for %s s"
                              % self.config.timeout.read, route=route) from None
        except (http.client.HTTPException, OSError) as exc:
            raise RemoteProtocolError("the connection broke while reading the response: %s"
                                      % _os_error_text(exc), route=route) from None
        if expected is not None and total < expected:
            raise RemoteProtocolError(
                "the response was cut off after %d of %d bytes" % (total, expected),
                http_status=response.status, route=route)
        return b"".join(blocks)


def _header_dict(response):
    return {name.lower(): value for name, value in response.getheaders()}


def _os_error_text(exc):
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text


def _connect_hint(exc, transport):
    name = type(exc).__name__
    if "Certificate" in name or "SSL" in name:
        return ("TLS verification failed: pass verify='/path/to/ca.pem', or verify=False for a "
                "test daemon")
    if isinstance(exc, ConnectionRefusedError):
        return "is the daemon running and listening on %s:%d?" % (transport.host, transport.port)
    return None


def _chunk_size(line):
    """The size on a chunk size line (hex digits, maybe ";extensions"), or None."""
    digits = line.split(b";", 1)[0].strip()
    if not digits or len(digits) > 16 or digits.strip(b"0123456789abcdefABCDEF"):
        return None
    return int(digits, 16)


class _StreamResponse:
    """A response whose body is read incrementally. Owns its connection until ``close``."""

    def __init__(self, transport, connection, response, method, url, route):
        self._transport = transport
        self._connection = connection
        self._response = response
        self.status_code = response.status
        self.headers = _header_dict(response)
        self.method = method
        self.url = url
        self.route = route
        self._finished = False

    def iter_raw(self, read_timeout):
        """Yield body bytes as they arrive (one read each); raise on a broken stream."""
        import http.client
        import socket

        response = self._response
        sock = self._connection.sock
        if sock is not None:  # None when the response took over a Connection: close socket
            sock.settimeout(read_timeout)
        try:
            if response.chunked and response.chunk_left is None and response.fp is not None:
                yield from self._iter_chunked(response.fp.read1)
                response.close()  # as http.client does at the end of a chunked body
                self._finished = True
                return
            while True:
                block = response.read1(_READ_BLOCK)
                if not block:
                    break
                yield block
        except socket.timeout:
            raise ReadTimeout("the stream was silent for %s s" % read_timeout,
                              route=self.route,
                              hint="long tool runs send nothing until they finish; raise "
                                   "stream_timeout") from None
        except (http.client.HTTPException, OSError) as exc:
            raise RemoteProtocolError("the stream broke: %s" % _os_error_text(exc),
                                      route=self.route) from None
        declared = self.headers.get("content-length")
        if declared and declared.isdigit() and response.length:
            raise RemoteProtocolError("the stream was cut off before its declared length",
                                      route=self.route)
        self._finished = True

    def _iter_chunked(self, read1):
        """Decode ``Transfer-Encoding: chunked`` from large reads of the socket.

        http.client decodes chunk by chunk in Python, several calls per chunk; the daemon
        sends one chunk per event, so for small events that was most of the cost. Here
        each read (up to 64 KiB) is decoded in one pass and its payload yielded at once;
        a read that ends inside a chunk yields what it has, so events are never delayed.
        """
        raw = b""
        position = 0
        due = 0  # payload bytes still due in the current chunk; -1: its CRLF is due
        while True:
            block = read1(_READ_BLOCK)
            if not block:
                raise RemoteProtocolError("the stream was cut off in the middle of a chunk",
                                          route=self.route)
            raw = raw[position:] + block if position < len(raw) else block
            position = 0
            payload = []
            while True:
                if due > 0:
                    end = min(len(raw), position + due)
                    payload.append(raw[position:end])
                    due -= end - position
                    position = end
                    if due:
                        break
                    due = -1
                if due < 0:
                    if len(raw) - position < 2:
                        break
                    if raw[position:position + 2] != b"\r\n":
                        raise self._bad_chunking("no CRLF after a chunk")
                    position += 2
                    due = 0
                line_end = raw.find(b"\n", position)
                if line_end < 0:
                    if len(raw) - position > 1024:
                        raise self._bad_chunking("a chunk size line is too long")
                    break
                line = raw[position:line_end]
                try:
                    size = int(line, 16)  # the usual "7a\r"; int() ignores the whitespace
                except ValueError:
                    size = _chunk_size(line)  # with ";extensions", or None if broken
                if size is None or size < 0:
                    raise self._bad_chunking("bad chunk size line %r" % line[:40])
                position = line_end + 1
                if size == 0:
                    if payload:
                        yield b"".join(payload)
                    self._skip_trailers(raw[position:], read1)
                    return
                due = size
            if payload:
                yield payload[0] if len(payload) == 1 else b"".join(payload)

    def _skip_trailers(self, raw, read1):
        """Read the trailer section after the last chunk, up to its empty line."""
        while True:
            line_end = raw.find(b"\n")
            if line_end < 0:
                if len(raw) > 64 * 1024:
                    raise self._bad_chunking("the trailer section is too long")
                block = read1(_READ_BLOCK)
                if not block:
                    raise RemoteProtocolError("the stream was cut off in its trailers",
                                              route=self.route)
                raw += block
                continue
            line, raw = raw[:line_end].strip(), raw[line_end + 1:]
            if not line:
                if raw:  # bytes after the response: do not reuse this connection
                    self._response.will_close = True
                return

    def _bad_chunking(self, what):
        return RemoteProtocolError("the stream's chunked encoding is broken: %s" % what,
                                   route=self.route)

    def read_body(self):
        """Read the whole (capped) body, e.g. a JSON error sent instead of a stream."""
        content = self._transport._read_body(self._response, self.route)
        self._finished = True
        return Response(self.status_code, self.headers, content, self.method, self.url)

    def close(self):
        if self._connection is None:
            return
        connection, self._connection = self._connection, None
        reusable = self._finished and not self._response.will_close
        if not reusable:
            self._response.close()  # it may own the socket (Connection: close)
        self._transport._release(connection, reusable)


# =============================================================================
# Client: plumbing
# =============================================================================


def _parse(cls, data, route):
    """Validate ``data`` of a response as ``cls``; the error names the route."""
    try:
        if data is None:
            raise ResponseValidationError("the daemon's response has no data (null)", path="data")
        return cls.from_dict(data, "data")
    except ResponseValidationError as exc:
        exc.route = route
        raise


def _parse_list(cls, data, route):
    if data is None:
        return []
    if not isinstance(data, list):
        raise ResponseValidationError("the daemon's response data is %s, not an array"
                                      % _type_name(data), path="data", route=route)
    try:
        return [cls.from_dict(item, ("data", index)) for index, item in enumerate(data)]
    except ResponseValidationError as exc:
        exc.route = route
        raise


def _expect_bool(data, route):
    if not isinstance(data, bool):
        raise ResponseValidationError("the daemon's response data is %s, not a boolean"
                                      % _type_name(data), path="data", route=route)
    return data


class DifyPluginClient:
    """Client for one Dify Plugin Daemon.

    Thread-safe: share one instance; it keeps connections alive and reuses them.
    Close it (or use it as a context manager) to close idle connections.
    Every method takes the tenant id first; tenant ids are UUIDs.
    """

    def __init__(self, config):
        if not isinstance(config, PluginConfig):
            raise InvalidArgumentError("DifyPluginClient needs a PluginConfig, got %r"
                                       % type(config).__name__, argument="config")
        self.config = config
        self._transport = _Transport(config)
        self._declarations = {}  # (tenant, provider id) -> (expires, PluginToolProviderEntity)
        self._declarations_lock = _thread.allocate_lock()

    def __repr__(self):
        return "DifyPluginClient(%r)" % (self.config,)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        """Close idle connections. The client may still be used; it reconnects."""
        self._transport.close()

    # --- request helpers ---------------------------------------------------

    @staticmethod
    def _management(tenant_id, suffix):
        return "/plugin/%s/management/%s" % (_check_tenant(tenant_id), suffix)

    def _call(self, method, path, *, query=None, payload=None, body=None, headers=None):
        """One request expecting the daemon's JSON envelope; returns its ``data``."""
        if payload is not None:
            body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            headers = dict(headers or (), **{"Content-Type": "application/json"})
        response = self._transport.request(method, path, query=query, headers=headers, body=body)
        return _decode_envelope(response, "%s %s" % (method, path))

    # =========================================================================
    # Install and lifecycle
    # =========================================================================

    def upload_pkg(self, tenant_id, pkg, verify_signature=False):
        """Upload a ``.difypkg`` (bytes, a path or a binary file) and return its decoded
        manifest and unique identifier. Uploading does not install it.

        From a path or file, the package is streamed: memory use does not grow with its
        size. A package over ``config.max_package_size`` is refused before sending.
        """
        return self._upload(tenant_id, pkg, verify_signature, "pkg", "dify_pkg",
                            "install/upload/package", self.config.max_package_size,
                            PluginDecodeResponse)

    def upload_bundle(self, tenant_id, bundle, verify_signature=False):
        """Upload a ``.difybndl`` bundle; returns its dependencies in bundle order.
        Packages inside the bundle are uploaded (not installed) by the daemon."""
        return self._upload(tenant_id, bundle, verify_signature, "bundle", "dify_bundle",
                            "install/upload/bundle", self.config.max_bundle_size,
                            PluginBundleDependency)

    def _upload(self, tenant_id, source, verify_signature, argument, field, suffix, limit, cls):
        path = self._management(tenant_id, suffix)
        if not isinstance(verify_signature, bool):
            raise InvalidArgumentError("verify_signature must be True or False",
                                       argument="verify_signature")
        upload = _UploadSource.open(source, argument, limit)
        filename = os.path.basename(upload.path) if upload.path else field
        body = _MultipartBody([("verify_signature", "true" if verify_signature else "false")],
                              field, filename, upload)
        data = self._call("POST", path, body=body, headers={"Content-Type": body.content_type})
        route = "POST " + path
        if cls is PluginBundleDependency:
            return _parse_list(cls, data, route)
        return _parse(cls, data, route)

    def install_from_identifiers(self, tenant_id, identifiers, source, metas=None):
        """Start installing uploaded packages. ``metas`` has one dict per identifier
        (default: ``{}`` each). Returns ``all_installed`` (nothing to do: the plugins are
        installed, possibly at another version) or the ``task_id`` to follow."""
        path = self._management(tenant_id, "install/identifiers")
        identifiers = _check_identifiers(identifiers, "identifiers", MAX_INSTALL_IDENTIFIERS)
        source = _check_source(source)
        if metas is None:
            metas = [{} for _ in identifiers]
        elif isinstance(metas, dict) or not isinstance(metas, (list, tuple)):
            raise InvalidArgumentError("metas must be a list with one dict per identifier",
                                       argument="metas")
        if len(metas) != len(identifiers):
            raise InvalidArgumentError(
                "metas has %d items for %d identifiers; the daemon needs one dict per "
                "identifier (use {} for local packages)" % (len(metas), len(identifiers)),
                argument="metas")
        metas = [_check_meta(meta, "metas[%d]" % index) for index, meta in enumerate(metas)]
        data = self._call("POST", path, payload={"plugin_unique_identifiers": identifiers,
                                                 "source": source, "metas": metas})
        return _parse(PluginInstallTaskStartResponse, data, "POST " + path)

    def fetch_plugin_installation_task(self, tenant_id, task_id):
        """One install task with the status and latest message of each plugin."""
        path = self._management(tenant_id, "install/tasks/" + _check_uuid(task_id, "task_id"))
        return _parse(PluginInstallTask, self._call("GET", path), "GET " + path)

    def fetch_plugin_installation_tasks(self, tenant_id, page=1, page_size=MAX_PAGE_SIZE):
        """One page of the tenant's install tasks, newest first."""
        _check_page(page, page_size)
        path = self._management(tenant_id, "install/tasks")
        data = self._call("GET", path, query={"page": page, "page_size": page_size})
        return _parse_list(PluginInstallTask, data, "GET " + path)

    def iter_installation_tasks(self, tenant_id, page_size=MAX_PAGE_SIZE):
        """Every install task of the tenant, newest first, fetched page by page."""
        return self._iter_pages(
            lambda page: self.fetch_plugin_installation_tasks(tenant_id, page, page_size),
            page_size)

    def delete_plugin_installation_task(self, tenant_id, task_id):
        """Delete one install task (True even if it did not exist)."""
        path = self._management(
            tenant_id, "install/tasks/%s/delete" % _check_uuid(task_id, "task_id"))
        return _expect_bool(self._call("POST", path), "POST " + path)

    def delete_all_plugin_installation_task_items(self, tenant_id):
        """Delete every install task of the tenant, running ones included."""
        path = self._management(tenant_id, "install/tasks/delete_all")
        return _expect_bool(self._call("POST", path), "POST " + path)

    def delete_plugin_installation_task_item(self, tenant_id, task_id, identifier):
        """Remove one plugin from an install task (the task goes when none is left unfinished)."""
        _check_uuid(task_id, "task_id")
        _check_identifier(identifier, "identifier")
        # The identifier is a catch-all route segment; validated, it holds only
        # [a-z0-9_-/:.@], which need no escaping.
        path = self._management(tenant_id, "install/tasks/%s/delete/%s" % (task_id, identifier))
        return _expect_bool(self._call("POST", path), "POST " + path)

    def fetch_missing_dependencies(self, tenant_id, plugin_unique_identifiers):
        """The identifiers that are not installed exactly; ``current_identifier`` tells
        which version of the plugin is installed instead ("" when none)."""
        path = self._management(tenant_id, "installation/missing")
        identifiers = _check_identifiers(plugin_unique_identifiers, "plugin_unique_identifiers",
                                         MAX_BATCH_IDS)
        data = self._call("POST", path, payload={"plugin_unique_identifiers": identifiers})
        return _parse_list(MissingPluginDependency, data, "POST " + path)

    def uninstall(self, tenant_id, plugin_installation_id):
        """Uninstall by installation id (``PluginEntity.installation_id``). Idempotent."""
        path = self._management(tenant_id, "uninstall")
        _check_uuid(plugin_installation_id, "plugin_installation_id")
        data = self._call("POST", path, payload={"plugin_installation_id": plugin_installation_id})
        return _expect_bool(data, "POST " + path)

    def upgrade_plugin(self, tenant_id, original_plugin_unique_identifier,
                       new_plugin_unique_identifier, source, meta=None):
        """Switch an installed plugin to another uploaded version of the same plugin."""
        path = self._management(tenant_id, "install/upgrade")
        original = _check_identifier(original_plugin_unique_identifier,
                                     "original_plugin_unique_identifier")
        new = _check_identifier(new_plugin_unique_identifier, "new_plugin_unique_identifier")
        if original == new:
            raise InvalidArgumentError("original and new identifiers are the same: %s" % new,
                                       argument="new_plugin_unique_identifier")
        if _plugin_id_of(original) != _plugin_id_of(new):
            raise InvalidArgumentError(
                "an upgrade keeps the plugin id: %s cannot become %s"
                % (_plugin_id_of(original), _plugin_id_of(new)),
                argument="new_plugin_unique_identifier")
        payload = {"original_plugin_unique_identifier": original,
                   "new_plugin_unique_identifier": new,
                   "source": _check_source(source),
                   # the daemon stores an omitted meta as null, which breaks Dify later
                   "meta": _check_meta(meta, "meta")}
        return _parse(PluginInstallTaskStartResponse, self._call("POST", path, payload=payload),
                      "POST " + path)

    def fetch_plugin_installation_by_ids(self, tenant_id, plugin_ids):
        """Installations of the given plugin ids (``author/name``, not installation ids)."""
        path = self._management(tenant_id, "installation/fetch/batch")
        if isinstance(plugin_ids, str) or not hasattr(plugin_ids, "__iter__"):
            raise InvalidArgumentError("plugin_ids must be a list of plugin ids",
                                       argument="plugin_ids")
        plugin_ids = _builtin_list(plugin_ids)
        if len(plugin_ids) > MAX_BATCH_IDS:
            raise InvalidArgumentError("plugin_ids has %d items; the daemon accepts at most %d"
                                       % (len(plugin_ids), MAX_BATCH_IDS), argument="plugin_ids")
        for index, plugin_id in enumerate(plugin_ids):
            _check_plugin_id(plugin_id, "plugin_ids[%d]" % index)
        data = self._call("POST", path, payload={"plugin_ids": plugin_ids})
        return _parse_list(PluginInstallation, data, "POST " + path)

    def wait_for_installation_task(self, tenant_id, task_id, *, timeout=600.0,
                                   poll_interval=0.5, max_poll_interval=5.0, on_progress=None,
                                   identifiers=None):
        """Poll an install task until it succeeds, fails or ``timeout`` seconds pass.

        ``on_progress(task)`` is called whenever a plugin's status or message changes.
        Returns the finished task on success. Raises :class:`PluginInstallError` (with
        every failed plugin's message) on failure and :class:`InstallTimeoutError` at
        the deadline. The daemon deletes successful tasks 60-120 s after they succeed; a
        task that is gone is treated as a success once the installation is confirmed
        (``identifiers`` names what to confirm when the task was never seen).
        """
        _check_tenant(tenant_id)
        _check_uuid(task_id, "task_id")
        _check_seconds(timeout, "timeout")
        _check_seconds(poll_interval, "poll_interval", allow_none=False)
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = poll_interval
        last = None
        last_progress = None
        while True:
            try:
                task = self.fetch_plugin_installation_task(tenant_id, task_id)
            except (PluginDaemonInternalServerError, PluginDaemonNotFoundError) as exc:
                if "not found" not in (exc.message or ""):
                    raise
                return self._task_gone(tenant_id, task_id, last, identifiers, exc)
            progress = _task_progress(task)
            if progress != last_progress:
                last_progress = progress
                interval = poll_interval  # things are moving: look again soon
                if on_progress is not None:
                    on_progress(task)
            last = task
            if task.status == PluginInstallTaskStatus.Success:
                return task
            if task.status == PluginInstallTaskStatus.Failed:
                raise _install_failure(task)
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise InstallTimeoutError(
                    "install task %s is still %s after %.0f s" % (task_id, task.status, timeout),
                    task=task, hint="raise the wait timeout; the task keeps running on the daemon")
            sleep = interval if deadline is None else min(interval, deadline - now)
            time.sleep(max(sleep, 0.0))
            interval = min(interval * 1.5, max_poll_interval)

    def _task_gone(self, tenant_id, task_id, last, identifiers, error):
        """The task vanished: success if the plugins it installs are installed."""
        if last is not None and last.status == PluginInstallTaskStatus.Success:
            return last
        wanted = identifiers or ([item.plugin_unique_identifier for item in last.plugins]
                                 if last is not None else [])
        if not wanted:
            error.hint = ("the task no longer exists; pass identifiers= to confirm the "
                          "installation instead")
            raise error
        plugin_ids = sorted({_plugin_id_of(identifier) for identifier in wanted})
        installed = {installation.plugin_id
                     for installation in self.fetch_plugin_installation_by_ids(tenant_id,
                                                                               plugin_ids)}
        missing = [plugin_id for plugin_id in plugin_ids if plugin_id not in installed]
        if missing:
            raise PluginInstallError(
                "install task %s disappeared and %s %s not installed"
                % (task_id, ", ".join(missing), "is" if len(missing) == 1 else "are"),
                task=last, route=error.route)
        import dataclasses

        task = last or PluginInstallTask(id=task_id, status=PluginInstallTaskStatus.Success,
                                         tenant_id=tenant_id)
        return dataclasses.replace(
            task, status=PluginInstallTaskStatus.Success,
            completed_plugins=max(task.total_plugins, len(task.plugins)),
            plugins=[dataclasses.replace(item, status=PluginInstallTaskStatus.Success,
                                         message="installed (task already cleaned up)")
                     for item in task.plugins])

    # =========================================================================
    # Discovery and metadata
    # =========================================================================

    def list_plugins_with_total(self, tenant_id, page=1, page_size=MAX_PAGE_SIZE):
        """One page of installed plugins (newest first) and the tenant's total."""
        _check_page(page, page_size)
        path = self._management(tenant_id, "list")
        data = self._call("GET", path, query={"page": page, "page_size": page_size})
        if isinstance(data, list):  # daemons before 0.1.1 answered a bare array
            data = {"list": data, "total": len(data)}
        return _parse(PluginListResponse, data, "GET " + path)

    def list_plugins(self, tenant_id):
        """Every installed plugin of the tenant (all pages, not only the first 256)."""
        return _builtin_list(self.iter_plugins(tenant_id))

    def iter_plugins(self, tenant_id, page_size=MAX_PAGE_SIZE):
        """Installed plugins, newest first, fetched page by page as you iterate."""
        return self._iter_pages(
            lambda page: self.list_plugins_with_total(tenant_id, page, page_size).list,
            page_size)

    @staticmethod
    def _iter_pages(fetch_page, page_size):
        seen = set()
        page = 1
        while True:
            items = fetch_page(page)
            fresh = [item for item in items if item.id not in seen]
            for item in fresh:
                seen.add(item.id)
                yield item
            # A short page is the last; a page of nothing new means the daemon ignores
            # paging (or rows shifted): stop rather than loop.
            if len(items) < page_size or not fresh:
                return
            page += 1

    def fetch_plugin_manifest(self, tenant_id, plugin_unique_identifier):
        """The manifest of an uploaded package (icons are asset ids)."""
        path = self._management(tenant_id, "fetch/manifest")
        identifier = _check_identifier(plugin_unique_identifier)
        data = self._call("GET", path, query={"plugin_unique_identifier": identifier})
        return _parse(PluginDeclaration, data, "GET " + path)

    def decode_plugin_from_identifier(self, tenant_id, plugin_unique_identifier):
        """Decode an uploaded package again: manifest (original icon names) and verification."""
        path = self._management(tenant_id, "decode/from_identifier")
        identifier = _check_identifier(plugin_unique_identifier)
        # Daemons up to 0.5.4 bind the Go field name; later ones the snake_case key.
        query = {"plugin_unique_identifier": identifier, "PluginUniqueIdentifier": identifier}
        return _parse(PluginDecodeResponse, self._call("GET", path, query=query), "GET " + path)

    def fetch_plugin_readme(self, tenant_id, plugin_unique_identifier, language="en_US"):
        """The package's README in ``language`` (falling back to en_US), or "" if it has none."""
        path = self._management(tenant_id, "fetch/readme")
        identifier = _check_identifier(plugin_unique_identifier)
        query = {"plugin_unique_identifier": identifier}
        if language:
            query["language"] = _check_text(language, "language")
        try:
            data = self._call("GET", path, query=query)
        except PluginDaemonNotFoundError:
            return ""
        except PluginDaemonInternalServerError as exc:
            # A package without README.md: "failed to get readme from database: ..."
            if "readme" in (exc.message or "").lower():
                return ""
            raise
        except HTTPStatusError as exc:
            if exc.status_code == 404:  # daemons before 0.4.0 have no readme route
                return ""
            raise
        if isinstance(data, dict):
            content = data.get("content")
            if isinstance(content, str):
                return content
        if data is None:
            return ""
        raise ResponseValidationError("the readme response has no string data.content",
                                      path="data.content", route="GET " + path)

    def fetch_plugin_by_identifier(self, tenant_id, identifier):
        """True if some tenant has this exact identifier installed (uploaded is not enough)."""
        path = self._management(tenant_id, "fetch/identifier")
        _check_identifier(identifier, "identifier")
        data = self._call("GET", path, query={"plugin_unique_identifier": identifier})
        return _expect_bool(data, "GET " + path)

    def health(self):
        """The daemon's /health/check (needs no key, so none is sent)."""
        route = "GET /health/check"
        response = self._transport.request("GET", "/health/check", auth=False)
        try:
            data = json.loads(response.content)
        except ValueError:
            data = None
        if response.status_code != 200 or not isinstance(data, dict):
            if 200 <= response.status_code < 300:
                raise InvalidResponseError("the health check did not answer JSON",
                                           http_status=response.status_code, route=route)
            raise _status_error(response, route)
        return _parse(DaemonHealth, data, route)

    # =========================================================================
    # Tools
    # =========================================================================

    def fetch_tool_providers(self, tenant_id):
        """Every tool provider installed for the tenant (all pages, not only 256).

        Provider names come back as ``plugin_id/provider_name`` in
        ``declaration.identity.name`` and in every tool's ``identity.provider``, and the
        tools' output schemas have their $refs resolved.
        """
        path = self._management(tenant_id, "tools")
        route = "GET " + path
        providers = {}
        page = 1
        while True:
            data = self._call("GET", path, query={"page": page, "page_size": MAX_PAGE_SIZE})
            batch = _parse_list(PluginToolProviderEntity, data, route)
            fresh = 0
            for provider in batch:
                key = (provider.plugin_id, provider.provider)
                if key not in providers:
                    fresh += 1
                    providers[key] = self._prepare_provider(tenant_id, provider)
            if len(batch) < MAX_PAGE_SIZE or not fresh:
                return _builtin_list(providers.values())
            page += 1

    def fetch_tool_provider(self, tenant_id, provider):
        """One tool provider, named ``organization/plugin_name/provider_name`` (which is
        ``plugin_id/provider_name``) or by a bare name meaning ``langgenius/<name>/<name>``."""
        plugin_id, provider_name = _parse_provider_id(provider, "provider", aliases=True)
        return self._fetch_tool_provider(tenant_id, plugin_id, provider_name)

    def _fetch_tool_provider(self, tenant_id, plugin_id, provider_name):
        path = self._management(tenant_id, "tool")
        data = self._call("GET", path, query={"plugin_id": plugin_id, "provider": provider_name})
        entity = _parse(PluginToolProviderEntity, data, "GET " + path)
        return self._prepare_provider(tenant_id, entity)

    def _prepare_provider(self, tenant_id, entity):
        """Name the provider in full, tell each tool its provider, resolve schema refs,
        and keep the declaration for parameter casting."""
        full_name = "%s/%s" % (entity.plugin_id, entity.provider)
        declaration = entity.declaration
        if declaration is not None:
            declaration.identity.name = full_name
            for tool in declaration.tools:
                tool.identity.provider = full_name
                tool.output_schema = _resolve_refs(tool.output_schema)
                for parameter in tool.parameters:
                    if parameter.input_schema:
                        parameter.input_schema = _resolve_refs(parameter.input_schema)
        if self.config.declaration_cache_ttl > 0:
            expires = time.monotonic() + self.config.declaration_cache_ttl
            with self._declarations_lock:
                self._declarations[(tenant_id, entity.plugin_id, entity.provider)] = (
                    expires, entity)
        return entity

    def check_tools_existence(self, tenant_id, provider_ids):
        """For each ``{"plugin_id": ..., "provider_name": ...}`` (or provider id string),
        whether the tenant has that tool provider installed; same order as given."""
        path = self._management(tenant_id, "tools/check_existence")
        if isinstance(provider_ids, (str, dict)) or not hasattr(provider_ids, "__iter__"):
            raise InvalidArgumentError("provider_ids must be a list", argument="provider_ids")
        items = [_provider_pair(item, "provider_ids[%d]" % index)
                 for index, item in enumerate(provider_ids)]
        data = self._call("POST", path, payload={"provider_ids": items})
        route = "POST " + path
        if not isinstance(data, list) or len(data) != len(items) or not all(
                isinstance(flag, bool) for flag in data):
            raise ResponseValidationError(
                "expected %d booleans in data, got %s" % (len(items), _short_repr(data)),
                path="data", route=route)
        return data

    def invoke(self, tenant_id, user_id, tool_provider, tool_name, credentials=None,
               tool_parameters=None, *, conversation_id=None, app_id=None, message_id=None,
               credential_type=None, cast_parameters=True, merge_blob_chunks=True):
        """Invoke a tool; returns a generator of :class:`ToolInvokeMessage` as they arrive.

        ``tool_provider`` is ``organization/plugin_name/provider_name`` (the form
        ``fetch_tool_providers`` gives in each tool's ``identity.provider``).
        Parameters are cast by the tool's declaration first (fetched once and cached for
        ``declaration_cache_ttl`` seconds; ``cast_parameters=False`` sends them as given).
        Bad arguments raise here; the request is sent when you start iterating, and a
        daemon or plugin error is raised by the iteration. ``blob_chunk`` pieces are
        merged into one ``blob`` message per blob unless ``merge_blob_chunks=False``.
        Closing the generator early closes the stream.
        """
        tenant_id = _check_tenant(tenant_id)
        _check_text(user_id, "user_id")
        plugin_id, provider_name = _parse_provider_id(tool_provider)
        _check_text(tool_name, "tool_name")
        credentials = _check_meta(credentials, "credentials")
        parameters = _check_meta(tool_parameters, "tool_parameters")
        for name, value in (("conversation_id", conversation_id), ("app_id", app_id),
                            ("message_id", message_id)):
            if value is not None:
                _check_text(value, name)
        if credential_type is not None and credential_type not in _CREDENTIAL_TYPES:
            raise InvalidArgumentError("credential_type must be one of %s, got %r"
                                       % (", ".join(_CREDENTIAL_TYPES), credential_type),
                                       argument="credential_type")
        if cast_parameters:
            tool = self._tool_declaration(tenant_id, plugin_id, provider_name, tool_name)
            parameters = _cast_parameters(tool, parameters, "tool %r of %s/%s" % (
                tool_name, plugin_id, provider_name))
        data = {"provider": provider_name, "tool": tool_name, "credentials": credentials,
                "tool_parameters": parameters}
        if credential_type is not None:
            data["credential_type"] = credential_type
        payload = {"user_id": user_id, "conversation_id": conversation_id, "app_id": app_id,
                   "message_id": message_id, "data": data}
        try:
            body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError("credentials and tool_parameters must be JSON-serialisable: "
                                       "%s" % exc, argument="tool_parameters") from None
        path = "/plugin/%s/dispatch/tool/invoke" % tenant_id
        headers = {"X-Plugin-ID": plugin_id, "Content-Type": "application/json",
                   "Accept": "text/event-stream"}
        return self._stream_messages(path, headers, body, merge_blob_chunks)

    def _tool_declaration(self, tenant_id, plugin_id, provider_name, tool_name):
        """The tool's declaration, from the cache when fresh (one fetch per TTL)."""
        key = (tenant_id, plugin_id, provider_name)
        with self._declarations_lock:
            cached = self._declarations.get(key)
        entity = cached[1] if cached and cached[0] > time.monotonic() else None
        tool = _find_tool(entity, tool_name) if entity is not None else None
        if tool is None:  # not cached, expired, or the cache predates this tool
            entity = self._fetch_tool_provider(tenant_id, plugin_id, provider_name)
            tool = _find_tool(entity, tool_name)
        if tool is None:
            names = [t.identity.name for t in entity.declaration.tools] if entity.declaration \
                else []
            raise InvalidArgumentError(
                "provider %s/%s has no tool %r; its tools: %s"
                % (plugin_id, provider_name, tool_name, ", ".join(names) or "none"),
                argument="tool_name")
        return tool

    def _stream_messages(self, path, headers, body, merge_blob_chunks):
        """Send the invoke request and yield its messages (a generator: runs on iteration)."""
        route = "POST " + path
        stream = self._transport.request("POST", path, headers=headers, body=body, stream=True,
                                         read_timeout=self.config.stream_timeout)
        try:
            content_type = stream.headers.get("content-type", "")
            if stream.status_code != 200 or not content_type.startswith("text/event-stream"):
                # An error before the stream started comes as a plain JSON envelope.
                data = _decode_envelope(stream.read_body(), route)
                if data is not None:
                    yield ToolInvokeMessage.from_dict(data, "data")
                return
            parser = _SSEParser(self.config.max_event_size)
            merger = (_BlobMerger(self.config.max_blob_chunk_size, self.config.max_blob_size)
                      if merge_blob_chunks else None)
            for block in stream.iter_raw(self.config.stream_timeout):
                for event in parser.feed(block):
                    message = _event_message(event.data, route)
                    if merger is not None and message.type == "blob_chunk":
                        message = merger.add(message)
                        if message is None:
                            continue
                    yield message
            if parser.close():
                raise RemoteProtocolError("the stream ended in the middle of an event",
                                          route=route)
            if merger is not None:
                merger.finish()
        finally:
            stream.close()


def _plugin_id_of(identifier):
    """``author/name`` of ``author/name:version@checksum``."""
    return identifier.split(":", 1)[0]


_CREDENTIAL_TYPES = ("api-key", "oauth2", "unauthorized")


def _find_tool(entity, tool_name):
    return entity.declaration.tool(tool_name) if entity.declaration is not None else None


def _provider_pair(item, argument):
    """``{"plugin_id", "provider_name"}`` from a dict, an object or a provider id string."""
    if isinstance(item, str):
        plugin_id, provider_name = _parse_provider_id(item, argument)
    elif isinstance(item, dict):
        plugin_id, provider_name = item.get("plugin_id"), item.get("provider_name")
    else:
        plugin_id = getattr(item, "plugin_id", None)
        provider_name = getattr(item, "provider_name", None)
    _check_plugin_id(plugin_id, argument + ".plugin_id")
    _check_text(provider_name, argument + ".provider_name")
    return {"plugin_id": plugin_id, "provider_name": provider_name}


_json_scan = []  # [the json module's C scanner], looked up on first use


def _scan_json(text):
    """``json.loads(text)`` for one stream event, without its per-call overhead.

    The daemon writes compact JSON, so the C scanner can start at index 0; anything
    else (leading whitespace, trailing bytes, an error) goes through json.loads.
    """
    if not _json_scan:
        _json_scan.append(getattr(json.JSONDecoder(), "scan_once", None))
    scan = _json_scan[0]
    if scan is not None:
        try:
            value, end = scan(text, 0)
            if end == len(text):
                return value
        except (StopIteration, ValueError, RecursionError):
            pass
    return _loads(text)


def _event_message(text, route):
    """One stream event: a daemon envelope holding a tool message, or an error."""
    try:
        envelope = _scan_json(text)
    except ValueError:
        raise InvalidResponseError("a stream event is not JSON: %s" % _short_repr(text, 120),
                                   route=route) from None
    if type(envelope) is not dict:
        raise InvalidResponseError("a stream event is not the daemon's envelope: %s"
                                   % _short_repr(text, 120), route=route)
    code = envelope.get("code")
    if code != 0 or type(code) is not int:
        if isinstance(code, int) and not isinstance(code, bool):
            raise _daemon_error(code, envelope.get("message"), 200, route)
        raise InvalidResponseError("a stream event has no integer code: %s"
                                   % _short_repr(text, 120), route=route)
    try:
        return ToolInvokeMessage.from_dict(envelope.get("data"), "data")
    except ResponseValidationError as exc:
        exc.route = route
        raise


def _task_progress(task):
    return (str(task.status), tuple((item.plugin_unique_identifier, str(item.status),
                                     item.message) for item in task.plugins))


def _install_failure(task):
    failures = [(item.plugin_unique_identifier, item.message or "failed")
                for item in task.plugins if item.status == PluginInstallTaskStatus.Failed]
    detail = "; ".join("%s: %s" % failure for failure in failures) or "no plugin reported why"
    return PluginInstallError("install task %s failed: %s" % (task.id, detail), task=task,
                              failures=failures, hint=_hint_for(detail))


# =============================================================================
# Command line: settings
# =============================================================================
#
# Precedence, per setting: flag > environment variable > config file > default.
# The config file is ~/.dify unless --config names another; it is a JSON object
# with any of url, key, timeout and tenant.

ENV_URL = "DIFY_PLUGIN_DAEMON_URL"
ENV_KEY = "DIFY_PLUGIN_DAEMON_KEY"
ENV_TIMEOUT = "DIFY_PLUGIN_DAEMON_TIMEOUT"
ENV_TENANT = "DIFY_PLUGIN_TENANT_ID"
DEFAULT_CONFIG_FILE = "~/.dify"

#: Exit codes of the CLI.
EXIT_OK = 0
EXIT_FAILED = 1        # the daemon refused, or the operation failed
EXIT_USAGE = 2         # bad usage or input
EXIT_UNREACHABLE = 3   # cannot reach the daemon, or timed out
EXIT_AUTH = 4          # authentication failed
EXIT_INTERRUPTED = 130

_SETTINGS = (  # name, environment variable, type check for the config file
    ("url", ENV_URL, str),
    ("key", ENV_KEY, str),
    ("timeout", ENV_TIMEOUT, (int, float, str)),
    ("tenant", ENV_TENANT, str),
)


class _Settings:
    """Effective CLI settings and where each came from."""

    def __init__(self):
        self.values = {"url": DEFAULT_URL, "key": None, "timeout": DEFAULT_TIMEOUT,
                       "tenant": None}
        self.sources = {name: "default" for name in self.values}
        self.config_file = None

    def __getattr__(self, name):
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None


def _read_config_file(path, explicit, warn):
    """The config file's settings as a dict; {} if the default file does not exist."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(1024 * 1024)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
        if explicit:
            raise ConfigError("config file %s %s" % (path, "does not exist"
                              if isinstance(exc, FileNotFoundError) else "is not a file"))
        return {}
    except OSError as exc:
        raise ConfigError("cannot read config file %s: %s" % (path, _os_error_text(exc)))
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError("config file %s is not UTF-8 text" % path) from None
    except ValueError as exc:
        # json's message gives line and column, never the file's content
        raise ConfigError("config file %s is not valid JSON: %s" % (path, exc)) from None
    if not isinstance(data, dict):
        raise ConfigError("config file %s must hold a JSON object such as "
                          '{"url": "...", "key": "...", "timeout": 60, "tenant": "..."}, '
                          "not %s" % (path, _type_name(data)))
    known = {name: expected for name, _, expected in _SETTINGS}
    for name, value in data.items():
        if name not in known:
            warn("config file %s: unknown setting %r ignored (known: %s)"
                 % (path, name, ", ".join(known)))
        elif isinstance(value, bool) or not isinstance(value, known[name]):
            raise ConfigError("config file %s: %r must be %s, not %s" % (
                path, name, "a number of seconds" if name == "timeout" else "a string",
                _type_name(value)))
    if data.get("key"):
        _warn_if_readable(path, warn)
    return {name: data[name] for name in known if name in data}


def _warn_if_readable(path, warn):
    """Warn, as ssh does, when a file holding the key is readable by other users."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if os.name == "posix" and mode & 0o077:
        warn("config file %s holds the daemon key and is readable by other users; "
             "run: chmod 600 %s" % (path, path))


def _load_settings(args, environ, warn):
    settings = _Settings()
    explicit = getattr(args, "config", None)
    path = explicit or os.path.expanduser(DEFAULT_CONFIG_FILE)
    file_values = _read_config_file(path, bool(explicit), warn)
    if file_values or explicit:
        settings.config_file = path
    for name, env_name, _ in _SETTINGS:
        flag = getattr(args, name, None)
        if flag is not None:
            value, source = flag, "--" + name
        elif environ.get(env_name):
            value, source = environ[env_name], env_name
        elif name in file_values:
            value, source = file_values[name], "config file %s" % path
        else:
            continue
        if name == "timeout":
            value = _parse_timeout(value, source)
        settings.values[name] = value
        settings.sources[name] = source
    return settings


def _parse_timeout(value, source):
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise ConfigError("timeout from %s must be a positive number of seconds, got %r"
                          % (source, value))
    return seconds


# =============================================================================
# Command line: output
# =============================================================================


class _Output:
    """Where the CLI writes: results to stdout, progress and errors to stderr."""

    def __init__(self, stdout, stderr, json_mode, environ):
        self.stdout = stdout
        self.stderr = stderr
        self.json_mode = json_mode
        self.color = (not environ.get("NO_COLOR") and environ.get("TERM") != "dumb"
                      and _isatty(stdout))
        self.stderr_tty = _isatty(stderr)
        self.stderr_color = not environ.get("NO_COLOR") and self.stderr_tty
        self.width = _terminal_width(stdout, environ)

    def write(self, text):
        self.stdout.write(text)

    def line(self, text=""):
        self.stdout.write(text + "\n")

    def info(self, text):
        self.stderr.write(text + "\n")
        self.stderr.flush()

    def json(self, value):
        self.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=_json_default)
                          + "\n")

    def ndjson(self, value):
        self.stdout.write(json.dumps(value, ensure_ascii=False, separators=(",", ":"),
                                     default=_json_default) + "\n")
        self.stdout.flush()

    def paint(self, text, style, stream_color=None):
        use = self.color if stream_color is None else stream_color
        code = _STYLES.get(style)
        return "\x1b[%sm%s\x1b[0m" % (code, text) if use and code else text

    def table(self, headers, rows):
        for text in _format_table(headers, rows, self.width):
            self.line(text)


_STYLES = {"success": "32", "failed": "31", "running": "33", "pending": "90", "bold": "1",
           "dim": "2"}


def _json_default(value):
    if isinstance(value, _Entity):
        return value.to_dict()
    return _dump(value) if not isinstance(value, (str, int, float)) else value


def _isatty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _terminal_width(stream, environ):
    columns = environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 20:
        return int(columns)
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 100


def _format_table(headers, rows, width):
    """Aligned columns that fit ``width``: the widest columns are cut with "..."."""
    rows = [[_cell(value) for value in row] for row in rows]
    widths = [max([len(header)] + [len(row[i]) for row in rows]) for i, header in
              enumerate(headers)]
    gap = 2
    while sum(widths) + gap * (len(widths) - 1) > width:
        widest = max(range(len(widths)), key=lambda i: widths[i])
        if widths[widest] <= max(8, len(headers[widest])):
            break
        widths[widest] -= 1
    lines = []
    for row in [_builtin_list(headers)] + rows:
        cells = [_fit(value, widths[i]) for i, value in enumerate(row)]
        lines.append((" " * gap).join(cells).rstrip())
    return lines


def _cell(value):
    if value is None:
        return "-"
    text = str(value)
    return text.replace("\n", " ").replace("\r", " ")


def _fit(text, width):
    if len(text) > width:
        return text[:max(width - 3, 1)] + "..."
    return text.ljust(width)


class _Progress:
    """Install progress on stderr: live lines on a terminal, plain lines elsewhere."""

    def __init__(self, out):
        self.out = out
        self.live = out.stderr_tty
        self.drawn = 0
        self.seen = {}

    def __call__(self, task):
        if self.live:
            self._redraw(task)
            return
        for item in task.plugins:
            state = (str(item.status), item.message)
            if self.seen.get(item.plugin_unique_identifier) != state:
                self.seen[item.plugin_unique_identifier] = state
                self.out.info("%s  %s  %s" % (item.plugin_id or item.plugin_unique_identifier,
                                              item.status, item.message or ""))

    def _redraw(self, task):
        width = _terminal_width(self.out.stderr, {})
        lines = []
        for item in task.plugins:
            status = str(item.status)
            text = "%-8s %s  %s" % (status, item.plugin_id or item.plugin_unique_identifier,
                                    (item.message or "").replace("\n", " "))
            text = _fit(text, width - 1).rstrip()
            lines.append(self.out.paint(text, status, self.out.stderr_color))
        if self.drawn:
            self.out.stderr.write("\x1b[%dF" % self.drawn)  # back to the first line
        for text in lines:
            self.out.stderr.write("\x1b[2K" + text + "\n")
        self.out.stderr.flush()
        self.drawn = len(lines)


# =============================================================================
# Command line: commands
# =============================================================================


class _Context:
    """What a command needs: settings, output, and a client made on first use."""

    def __init__(self, args, settings, out, stdin):
        self.args = args
        self.settings = settings
        self.out = out
        self.stdin = stdin
        self._client = None

    def client(self, need_key=True):
        if self._client is None:
            key = self.settings.key
            if not key:
                if need_key:
                    raise ConfigError("no daemon key: pass --key, set %s or put \"key\" in %s"
                                      % (ENV_KEY, DEFAULT_CONFIG_FILE))
                key = "unused"  # /health/check needs none and gets none
            try:
                config = PluginConfig(url=self.settings.url, key=key,
                                      timeout=self.settings.timeout)
            except InvalidArgumentError as exc:
                source = self.settings.sources.get(exc.argument or "", "")
                raise ConfigError("%s%s" % (exc.message, " (from %s)" % source if source
                                             else "")) from None
            self._client = DifyPluginClient(config)
        return self._client

    def tenant(self):
        tenant = self.settings.tenant
        if not tenant:
            raise ConfigError("no tenant: pass --tenant, set %s or put \"tenant\" in %s"
                              % (ENV_TENANT, DEFAULT_CONFIG_FILE))
        if not _UUID_RE.match(tenant):
            raise ConfigError("tenant %r (from %s) is not a UUID" % (
                tenant, self.settings.sources["tenant"]))
        return tenant

    def close(self):
        if self._client is not None:
            self._client.close()


def _cmd_config(ctx):
    settings = ctx.settings
    shown = {"url": settings.url, "key": _mask(settings.key), "timeout": settings.timeout,
             "tenant": settings.tenant}
    if ctx.out.json_mode:
        ctx.out.json({name: {"value": value, "source": settings.sources[name]}
                      for name, value in shown.items()})
        return EXIT_OK
    ctx.out.table(["SETTING", "VALUE", "SOURCE"],
                  [[name, value, settings.sources[name]] for name, value in shown.items()])
    return EXIT_OK


def _mask(secret):
    """The key as shown: never any of its characters."""
    return "****" if secret else None


def _cmd_health(ctx):
    health = ctx.client(need_key=False).health()
    if ctx.out.json_mode:
        ctx.out.json(health.to_dict())
        return EXIT_OK
    ctx.out.line("%s  %s  version %s  platform %s" % (
        ctx.out.paint(health.status, "success" if health.status == "ok" else "failed"),
        ctx.settings.url, health.version or "(not set)", health.platform or "?"))
    return EXIT_OK


def _cmd_list(ctx):
    client, tenant, args = ctx.client(), ctx.tenant(), ctx.args
    if args.page is not None:
        page = client.list_plugins_with_total(tenant, args.page, args.page_size)
        plugins, total = page.list, page.total
    else:
        plugins = client.list_plugins(tenant)
        total = len(plugins)
    if ctx.out.json_mode:
        ctx.out.json({"total": total, "plugins": [plugin.to_dict() for plugin in plugins]})
        return EXIT_OK
    ctx.out.table(["PLUGIN", "VERSION", "SOURCE", "RUNTIME", "INSTALLATION ID", "IDENTIFIER"],
                  [[p.plugin_id, p.version, p.source, p.runtime_type, p.installation_id or p.id,
                    p.plugin_unique_identifier] for p in plugins])
    ctx.out.info("%d plugin%s installed" % (total, "" if total == 1 else "s"))
    return EXIT_OK


def _upload(ctx, path, bundle=False):
    client, tenant = ctx.client(), ctx.tenant()
    if bundle:
        return client.upload_bundle(tenant, path, verify_signature=ctx.args.verify_signature)
    return client.upload_pkg(tenant, path, verify_signature=ctx.args.verify_signature)


def _cmd_upload_pkg(ctx):
    decoded = _upload(ctx, ctx.args.file)
    if ctx.out.json_mode:
        ctx.out.json(decoded.to_dict())
        return EXIT_OK
    manifest = decoded.manifest
    ctx.out.line(decoded.unique_identifier)
    ctx.out.info("uploaded %s/%s %s%s (not installed yet)" % (
        manifest.author, manifest.name, manifest.version,
        ", signed by %s" % decoded.verification.authorized_category
        if decoded.verification else ""))
    return EXIT_OK


def _cmd_upload_bundle(ctx):
    dependencies = _upload(ctx, ctx.args.file, bundle=True)
    if ctx.out.json_mode:
        ctx.out.json([dependency.to_dict() for dependency in dependencies])
        return EXIT_OK
    rows = []
    for dependency in dependencies:
        value = dependency.value
        if isinstance(value, PackageDependency):
            detail = value.unique_identifier
        elif isinstance(value, MarketplaceDependency):
            detail = "%s/%s %s" % (value.organization, value.plugin, value.version)
        elif isinstance(value, GithubDependency):
            detail = "%s %s %s" % (value.repo, value.release, value.packages)
        else:
            detail = json.dumps(value)
        rows.append([dependency.type, detail])
    ctx.out.table(["TYPE", "DEPENDENCY"], rows)
    return EXIT_OK


def _cmd_install(ctx):
    client, tenant, args = ctx.client(), ctx.tenant(), ctx.args
    identifiers = _builtin_list(args.identifier or [])
    for path in args.file or []:
        decoded = _upload(ctx, path)
        ctx.out.info("uploaded %s" % decoded.unique_identifier)
        identifiers.append(decoded.unique_identifier)
    if not identifiers:
        raise InvalidArgumentError("install needs --file or --identifier", argument="install")
    start = client.install_from_identifiers(tenant, identifiers, args.source,
                                            [{} for _ in identifiers])
    return _finish_install(ctx, start, identifiers, "install")


def _finish_install(ctx, start, identifiers, action):
    args, out = ctx.args, ctx.out
    if start.all_installed:
        return _report_already_installed(ctx, identifiers, action)
    if args.no_wait:
        if out.json_mode:
            out.json({"task_id": start.task_id, "all_installed": False, "waited": False})
        else:
            out.line(start.task_id)
            out.info("%s task %s started; follow it with: dify-plugin-client tasks wait %s"
                     % (action, start.task_id, start.task_id))
        return EXIT_OK
    return _wait_task(ctx, start.task_id, identifiers)


def _report_already_installed(ctx, identifiers, action):
    """The daemon answers all_installed when any version of each plugin is installed."""
    client, tenant, out = ctx.client(), ctx.tenant(), ctx.out
    installed = {item.plugin_id: item.plugin_unique_identifier
                 for item in client.fetch_plugin_installation_by_ids(
                     tenant, sorted({_plugin_id_of(i) for i in identifiers}))}
    other = [(identifier, installed.get(_plugin_id_of(identifier)))
             for identifier in identifiers
             if installed.get(_plugin_id_of(identifier)) != identifier]
    if out.json_mode:
        out.json({"task_id": "", "all_installed": True, "installed": installed,
                  "other_version_installed": dict(other)})
    elif not other:
        out.info("already installed: %s" % ", ".join(identifiers))
    for identifier, current in other:
        out.info("not %sed: %s is installed%s; use `dify-plugin-client upgrade` to change the "
                 "version" % (action, _plugin_id_of(identifier),
                              " as %s" % current if current else " in another version"))
    return EXIT_FAILED if other else EXIT_OK


def _wait_task(ctx, task_id, identifiers=None):
    client, tenant, out = ctx.client(), ctx.tenant(), ctx.out
    progress = _Progress(out)
    try:
        task = client.wait_for_installation_task(
            tenant, task_id, timeout=ctx.args.wait_timeout, on_progress=progress,
            identifiers=identifiers)
    except PluginInstallError as exc:
        if out.json_mode and exc.task is not None:
            out.json(exc.task.to_dict())
        for identifier, message in exc.failures:
            out.info("failed: %s: %s" % (identifier, message))
        raise
    if out.json_mode:
        out.json(task.to_dict())
    else:
        for item in task.plugins:
            out.line("%s  %s" % (item.plugin_unique_identifier, item.message or item.status))
    return EXIT_OK


def _read_json_argument(value, flag, stdin):
    """--params / --credentials: inline JSON, @file, or - for stdin; must be an object."""
    if value is None:
        return {}
    source = flag
    if value == "-":
        text, source = stdin.read(), "%s (stdin)" % flag
    elif value.startswith("@"):
        path = value[1:]
        try:
            with open(path, "r", encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise InvalidArgumentError("%s: cannot read %s: %s" % (flag, path,
                                                                   _os_error_text(exc)),
                                       argument=flag) from None
        source = "%s (%s)" % (flag, path)
    else:
        text = value
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise InvalidArgumentError("%s is not valid JSON: %s" % (source, exc),
                                   argument=flag) from None
    if not isinstance(parsed, dict):
        raise InvalidArgumentError("%s must be a JSON object, not %s" % (source,
                                                                       _type_name(parsed)),
                                   argument=flag)
    return parsed


def _cmd_invoke(ctx):
    client, tenant, args, out = ctx.client(), ctx.tenant(), ctx.args, ctx.out
    parameters = _read_json_argument(args.params, "--params", ctx.stdin)
    credentials = _read_json_argument(args.credentials, "--credentials", ctx.stdin)
    if args.output_dir and not os.path.isdir(args.output_dir):
        raise InvalidArgumentError("--output-dir %s is not a directory" % args.output_dir,
                                   argument="--output-dir")
    stream = client.invoke(tenant, args.user, args.provider, args.tool, credentials, parameters,
                           conversation_id=args.conversation_id, app_id=args.app_id,
                           message_id=args.message_id, credential_type=args.credential_type,
                           cast_parameters=not args.no_cast)
    printer = _MessagePrinter(out, args.output_dir)
    try:
        for message in stream:
            printer.show(message)
    finally:
        stream.close()
        printer.end()
    return EXIT_OK


class _MessagePrinter:
    """Shows invoke messages as they arrive: text unbuffered, JSON pretty, blobs saved."""

    def __init__(self, out, output_dir):
        self.out = out
        self.output_dir = output_dir
        self.blobs = 0
        self.open_text = False  # the last text written did not end with a newline

    def show(self, message):
        saved = self._save_blob(message) if message.type == "blob" else None
        if self.out.json_mode:
            record = message.to_dict()
            if saved is not None:
                record["message"] = {"path": saved, "size": len(message.message.blob)}
            self.out.ndjson(record)
            return
        kind, body = message.type, message.message
        if kind == "text" and isinstance(body, TextMessage):
            self._text(body.text)
        elif kind == "json" and isinstance(body, JsonMessage):
            self._text_break()
            self.out.line(json.dumps(body.json_object, indent=2, ensure_ascii=False))
        elif isinstance(body, TextMessage):  # link, image, image_link, binary_link
            self._text_break()
            self.out.line("%s: %s" % (kind, body.text))
        elif kind == "blob" and isinstance(body, BlobMessage):
            self._note("blob: %s%s%s" % (_format_size(len(body.blob)), self._mime(message),
                                         " saved to %s" % saved if saved else
                                         " (use --output-dir to save it)"))
        elif isinstance(body, VariableMessage):
            if body.stream:
                self._note("variable %s += %s" % (body.variable_name,
                                                  json.dumps(body.variable_value)))
            else:
                self._note("variable %s = %s" % (body.variable_name,
                                                 json.dumps(body.variable_value,
                                                            ensure_ascii=False)))
        elif isinstance(body, LogMessage):
            self._note("log [%s] %s%s" % (body.status, body.label,
                                          ": %s" % body.error if body.error else ""))
        else:
            self._note("%s message: %s" % (kind, json.dumps(_dump(body), ensure_ascii=False,
                                                            default=str)[:200]))

    def _text(self, text):
        self.out.write(text)
        self.out.stdout.flush()
        if text:
            self.open_text = not text.endswith("\n")

    def _text_break(self):
        if self.open_text:
            self.out.write("\n")
            self.open_text = False

    def _note(self, text):
        self._text_break()
        self.out.stdout.flush()
        self.out.info(text)

    @staticmethod
    def _mime(message):
        mime = (message.meta or {}).get("mime_type")
        return ", %s" % mime if mime else ""

    def _save_blob(self, message):
        if not self.output_dir:
            return None
        self.blobs += 1
        meta = message.meta or {}
        name = os.path.basename(str(meta.get("filename") or "")) or "blob-%d%s" % (
            self.blobs, _extension_for(meta.get("mime_type")))
        path = _unique_path(os.path.join(self.output_dir, name))
        with open(path, "xb") as handle:
            handle.write(message.message.blob)
        return path

    def end(self):
        self._text_break()
        self.out.stdout.flush()


def _extension_for(mime_type):
    if not mime_type:
        return ".bin"
    import mimetypes

    return mimetypes.guess_extension(str(mime_type).split(";")[0].strip()) or ".bin"


def _unique_path(path):
    base, extension = os.path.splitext(path)
    candidate, number = path, 1
    while os.path.exists(candidate):
        number += 1
        candidate = "%s-%d%s" % (base, number, extension)
    return candidate


def _cmd_tasks(ctx):
    client, tenant, args, out = ctx.client(), ctx.tenant(), ctx.args, ctx.out
    action = args.tasks_action or "list"
    if action == "list":
        page = getattr(args, "page", None)
        tasks = (client.fetch_plugin_installation_tasks(tenant, page, args.page_size)
                 if page is not None else _builtin_list(client.iter_installation_tasks(tenant)))
        if out.json_mode:
            out.json([task.to_dict() for task in tasks])
            return EXIT_OK
        out.table(["TASK ID", "STATUS", "DONE", "CREATED", "PLUGINS"],
                  [[t.id, t.status, "%d/%d" % (t.completed_plugins, t.total_plugins),
                    _format_datetime(t.created_at) if t.created_at else None,
                    ", ".join(p.plugin_id or p.plugin_unique_identifier for p in t.plugins)]
                   for t in tasks])
        return EXIT_OK
    if action == "show":
        task = client.fetch_plugin_installation_task(tenant, args.task_id)
        if out.json_mode:
            out.json(task.to_dict())
            return EXIT_OK
        out.line("task %s: %s (%d/%d done)" % (task.id, out.paint(str(task.status),
                                                                   str(task.status)),
                                               task.completed_plugins, task.total_plugins))
        out.table(["STATUS", "PLUGIN", "MESSAGE"],
                  [[p.status, p.plugin_unique_identifier, p.message] for p in task.plugins])
        return EXIT_OK
    if action == "wait":
        return _wait_task(ctx, args.task_id)
    if action == "delete":
        if args.identifier:
            client.delete_plugin_installation_task_item(tenant, args.task_id, args.identifier)
            out.info("removed %s from task %s" % (args.identifier, args.task_id))
        else:
            client.delete_plugin_installation_task(tenant, args.task_id)
            out.info("deleted task %s" % args.task_id)
        return EXIT_OK
    # delete-all
    if args.failed:
        failed = [task.id for task in client.iter_installation_tasks(tenant)
                  if task.status == PluginInstallTaskStatus.Failed]
        for task_id in failed:
            client.delete_plugin_installation_task(tenant, task_id)
        out.info("deleted %d failed task%s" % (len(failed), "" if len(failed) == 1 else "s"))
        return EXIT_OK
    if not args.yes:
        raise InvalidArgumentError("tasks delete-all removes every task of the tenant, running "
                                   "ones included; add --yes to confirm (or --failed to remove "
                                   "only failed ones)", argument="--yes")
    client.delete_all_plugin_installation_task_items(tenant)
    out.info("deleted every install task of tenant %s" % tenant)
    return EXIT_OK


def _find_installation(ctx, target):
    """An installation id from an installation id, a plugin id or a unique identifier."""
    client, tenant = ctx.client(), ctx.tenant()
    if _UUID_RE.match(target):
        return target, None
    if _IDENTIFIER_RE.match(target):
        plugin_id = _plugin_id_of(target)
    elif _PLUGIN_ID_RE.match(target):
        plugin_id = target
    else:
        raise InvalidArgumentError(
            "%r is not an installation id (UUID), a plugin id (author/name) or a plugin unique "
            "identifier (author/name:version@checksum)" % target, argument="target")
    for installation in client.fetch_plugin_installation_by_ids(tenant, [plugin_id]):
        if installation.plugin_id != plugin_id:
            continue
        if target != plugin_id and installation.plugin_unique_identifier != target:
            raise PluginDaemonNotFoundError(
                "%s is installed as %s, not %s" % (plugin_id,
                                                   installation.plugin_unique_identifier, target))
        return installation.id, installation
    raise PluginNotFoundError("%s is not installed for tenant %s" % (plugin_id, tenant))


def _cmd_uninstall(ctx):
    installation_id, installation = _find_installation(ctx, ctx.args.target)
    ctx.client().uninstall(ctx.tenant(), installation_id)
    if ctx.out.json_mode:
        ctx.out.json({"uninstalled": installation_id,
                      "plugin_unique_identifier": installation.plugin_unique_identifier
                      if installation else None})
    else:
        ctx.out.info("uninstalled %s" % (installation.plugin_unique_identifier if installation
                                         else installation_id))
    return EXIT_OK


def _cmd_upgrade(ctx):
    client, tenant, args = ctx.client(), ctx.tenant(), ctx.args
    if args.file:
        new = _upload(ctx, args.file).unique_identifier
        ctx.out.info("uploaded %s" % new)
    else:
        new = _check_identifier(args.identifier, "--identifier")
    if args.original:
        original = _check_identifier(args.original, "--from")
    else:
        _, installation = _find_installation(ctx, _plugin_id_of(new))
        original = installation.plugin_unique_identifier
    if original == new:
        ctx.out.info("%s is already installed" % new)
        return EXIT_OK
    start = client.upgrade_plugin(tenant, original, new, args.source, {})
    ctx.out.info("upgrading %s -> %s" % (original, new))
    if start.all_installed:
        if ctx.out.json_mode:
            ctx.out.json({"task_id": "", "all_installed": True, "upgraded": new})
        else:
            ctx.out.line("%s  upgraded" % new)
        return EXIT_OK
    return _finish_install(ctx, start, [new], "upgrade")


def _cmd_manifest(ctx):
    manifest = ctx.client().fetch_plugin_manifest(ctx.tenant(), ctx.args.identifier)
    if ctx.out.json_mode:
        ctx.out.json(manifest.to_dict())
        return EXIT_OK
    rows = [["name", "%s/%s" % (manifest.author, manifest.name)],
            ["version", manifest.version], ["category", manifest.category],
            ["label", manifest.label], ["description", manifest.description],
            ["tags", ", ".join(manifest.tags)], ["verified", manifest.verified],
            ["created", _format_datetime(manifest.created_at) if manifest.created_at else None]]
    if manifest.meta is not None:
        rows.append(["arch", ", ".join(manifest.meta.arch)])
        if manifest.meta.runner is not None:
            rows.append(["runner", "%s %s (%s)" % (manifest.meta.runner.language,
                                                   manifest.meta.runner.version,
                                                   manifest.meta.runner.entrypoint)])
    if manifest.resource is not None:
        rows.append(["memory", _format_size(manifest.resource.memory)])
    if manifest.tool is not None:
        rows.append(["tools", ", ".join(t.identity.name for t in manifest.tool.tools)])
    ctx.out.table(["FIELD", "VALUE"], rows)
    return EXIT_OK


def _cmd_readme(ctx):
    text = ctx.client().fetch_plugin_readme(ctx.tenant(), ctx.args.identifier,
                                            language=ctx.args.language)
    if ctx.out.json_mode:
        ctx.out.json({"content": text, "language": ctx.args.language})
    elif text:
        ctx.out.write(text if text.endswith("\n") else text + "\n")
    else:
        ctx.out.info("this plugin has no README")
    return EXIT_OK


def _cmd_tools(ctx):
    client, tenant, args, out = ctx.client(), ctx.tenant(), ctx.args, ctx.out
    if not args.provider:
        providers = client.fetch_tool_providers(tenant)
        if out.json_mode:
            out.json([provider.to_dict() for provider in providers])
            return EXIT_OK
        out.table(["PROVIDER", "TOOLS", "PLUGIN"],
                  [[p.full_name, ", ".join(t.identity.name for t in p.declaration.tools)
                    if p.declaration else "", p.plugin_unique_identifier] for p in providers])
        return EXIT_OK
    provider = client.fetch_tool_provider(tenant, args.provider)
    tools = provider.declaration.tools if provider.declaration else []
    if not args.tool:
        if out.json_mode:
            out.json(provider.to_dict())
            return EXIT_OK
        out.table(["TOOL", "PARAMETERS", "DESCRIPTION"],
                  [[t.identity.name, ", ".join(p.name for p in t.parameters),
                    t.description.human if t.description else ""] for t in tools])
        return EXIT_OK
    tool = provider.declaration.tool(args.tool) if provider.declaration else None
    if tool is None:
        raise InvalidArgumentError("provider %s has no tool %r; its tools: %s" % (
            provider.full_name, args.tool, ", ".join(t.identity.name for t in tools) or "none"),
            argument="tool")
    if out.json_mode:
        out.json(tool.to_dict())
        return EXIT_OK
    out.line("%s  (%s)" % (tool.identity.name, provider.full_name))
    if tool.description is not None:
        out.line(str(tool.description.human or tool.description.llm))
    out.line()
    out.table(["PARAMETER", "TYPE", "REQUIRED", "DEFAULT", "FORM", "ALLOWED", "DESCRIPTION"],
              [[p.name, p.type + ("[]" if p.multiple else ""), "yes" if p.required else "no",
                None if p.default is None else json.dumps(p.default), p.form, _allowed(p),
                p.human_description or p.llm_description] for p in tool.parameters])
    if tool.output_schema:
        out.line()
        out.line("output schema:")
        out.line(json.dumps(tool.output_schema, indent=2, ensure_ascii=False))
    return EXIT_OK


def _allowed(parameter):
    if parameter.options:
        return "|".join(option.value for option in parameter.options)
    if parameter.min is not None or parameter.max is not None:
        return "%s..%s" % ("" if parameter.min is None else _number_text(parameter.min),
                           "" if parameter.max is None else _number_text(parameter.max))
    return None


def _cmd_missing_deps(ctx):
    missing = ctx.client().fetch_missing_dependencies(ctx.tenant(), ctx.args.identifiers)
    if ctx.out.json_mode:
        ctx.out.json([item.to_dict() for item in missing])
        return EXIT_OK
    if not missing:
        ctx.out.info("all %d installed" % len(ctx.args.identifiers))
        return EXIT_OK
    ctx.out.table(["WANTED", "INSTALLED"], [[item.plugin_unique_identifier,
                                            item.current_identifier or None]
                                           for item in missing])
    return EXIT_OK


# =============================================================================
# Command line: parser and main
# =============================================================================


def _global_options(parser, suppress):
    """The options accepted before and after the command.

    The copy on each subcommand uses SUPPRESS defaults, so a flag given before the
    command is not reset by the subcommand's parser.
    """
    default = _suppress() if suppress else None
    group = parser.add_argument_group("settings (also accepted after the command)")
    group.add_argument("--url", default=default,
                       help="daemon base URL [env %s, default %s]" % (ENV_URL, DEFAULT_URL))
    group.add_argument("--key", default=default,
                       help="daemon key, its SERVER_KEY [env %s]" % ENV_KEY)
    group.add_argument("--timeout", default=default,
                       help="seconds per request [env %s, default %g]"
                            % (ENV_TIMEOUT, DEFAULT_TIMEOUT))
    group.add_argument("--tenant", default=default, help="tenant id, a UUID [env %s]" % ENV_TENANT)
    group.add_argument("--config", default=default, metavar="PATH",
                       help="JSON config file [default %s]" % DEFAULT_CONFIG_FILE)
    group.add_argument("--json", action="store_true", default=default,
                       help="print machine-readable JSON (NDJSON for invoke)")
    group.add_argument("--debug", action="store_true", default=default,
                       help="log requests and show tracebacks on stderr")
    group.add_argument("--version", action="version",
                       version="dify-plugin-client %s" % __version__)


def _suppress():
    import argparse

    return argparse.SUPPRESS


_EPILOG = """\
settings: flags > environment > config file (~/.dify, JSON) > defaults.
exit codes: 0 ok, 1 the daemon refused or the operation failed, 2 usage or input error,
3 cannot reach the daemon or timed out, 4 authentication failed, 130 interrupted."""


#: The global options that take a value (the token after them is not a command).
_VALUE_OPTIONS = ("--url", "--key", "--timeout", "--tenant", "--config")


def _command_in(argv):
    """The command named in ``argv``; "" if none (e.g. --help), None if not a known one."""
    index = 0
    while index < len(argv):
        token = argv[index]
        if token == "--":
            break
        if token in _VALUE_OPTIONS:
            index += 2
            continue
        if not token.startswith("-"):
            return token if token in _COMMANDS else None
        index += 1
    return ""


def _build_parser(argv=None):
    """The CLI's parser. Given ``argv``, only the command it names gets its options:
    building all of them took most of the time of ``--help``."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="dify-plugin-client", description="Manage and invoke plugins on a Dify Plugin "
        "Daemon.", epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _global_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands",
                                     description=_command_list(),
                                     help="`dify-plugin-client COMMAND --help` shows its "
                                          "options")
    wanted = None if argv is None else _command_in(argv)
    for name, (handler, help_text, add_options) in _COMMANDS.items():
        if wanted is not None and name != wanted:  # unknown names: argparse still refuses
            continue
        sub = commands.add_parser(name, help=help_text, description=help_text, epilog=_EPILOG,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        _global_options(sub, suppress=True)
        sub.set_defaults(handler=handler)
        if add_options is not None:
            add_options(sub)
    return parser


def _command_list():
    """The commands and what they do, for --help (written here: building a parser per
    command only to list them would cost more than the rest of --help)."""
    width = max(len(name) for name in _COMMANDS) + 2
    return "\n".join("%s%s" % (name.ljust(width), help_text)
                     for name, (_, help_text, _) in _COMMANDS.items())


def _paging_options(sub):
    sub.add_argument("--page", type=_positive_int, help="one page only (default: all)")
    sub.add_argument("--page-size", type=_positive_int, default=MAX_PAGE_SIZE,
                     help="items per page, at most %d" % MAX_PAGE_SIZE)


def _waiting_options(sub):
    sub.add_argument("--no-wait", action="store_true", help="print the task id and return")
    sub.add_argument("--wait-timeout", type=_positive_float, default=900.0, metavar="SECONDS",
                     help="give up waiting after this long (default 900)")


def _signature_option(sub):
    sub.add_argument("--verify-signature", action="store_true",
                     help="ask the daemon to refuse unsigned packages")


_SOURCE_HELP = "installation source recorded by the daemon (default: package)"


def _upload_options(what):
    def add(sub):
        sub.add_argument("--file", required=True, help="path of the %s" % what)
        _signature_option(sub)
    return add


def _install_options(sub):
    sub.add_argument("--file", action="append", help="a .difypkg to upload and install "
                     "(repeatable)")
    sub.add_argument("--identifier", action="append", help="an uploaded plugin unique identifier "
                     "(repeatable)")
    sub.add_argument("--source", default="package", help=_SOURCE_HELP)
    _signature_option(sub)
    _waiting_options(sub)


def _invoke_options(sub):
    sub.add_argument("--user", required=True, help="user id passed to the plugin")
    sub.add_argument("--provider", required=True,
                     help="organization/plugin_name/provider_name (see `tools`)")
    sub.add_argument("--tool", required=True, help="tool name")
    sub.add_argument("--params", help="tool parameters: JSON, @file, or - for stdin")
    sub.add_argument("--credentials", help="provider credentials: JSON, @file, or - for stdin")
    sub.add_argument("--credential-type", choices=_CREDENTIAL_TYPES)
    sub.add_argument("--output-dir", help="save blobs into this directory")
    sub.add_argument("--no-cast", action="store_true",
                     help="send parameters as given, without casting by the declaration")
    sub.add_argument("--conversation-id")
    sub.add_argument("--app-id")
    sub.add_argument("--message-id")


def _tasks_options(sub):
    actions = sub.add_subparsers(dest="tasks_action", metavar="ACTION")
    for name, help_text in (("list", "list tasks, newest first"), ("show", "show one task"),
                            ("wait", "wait for a task to finish"),
                            ("delete", "delete a task, or one plugin of it"),
                            ("delete-all", "delete every task of the tenant")):
        action = actions.add_parser(name, help=help_text, description=help_text)
        _global_options(action, suppress=True)
        if name == "list":
            _paging_options(action)
        elif name == "delete-all":
            action.add_argument("--failed", action="store_true", help="only failed tasks")
            action.add_argument("--yes", action="store_true", help="confirm deleting all")
        else:
            action.add_argument("task_id")
            if name == "delete":
                action.add_argument("--identifier", help="remove only this plugin from the task")
            if name == "wait":
                action.add_argument("--wait-timeout", type=_positive_float, default=900.0,
                                    metavar="SECONDS")


def _uninstall_options(sub):
    sub.add_argument("target", help="installation id, plugin id (author/name) or unique identifier")


def _upgrade_options(sub):
    new = sub.add_mutually_exclusive_group(required=True)
    new.add_argument("--file", help="a .difypkg of the new version to upload")
    new.add_argument("--identifier", help="the uploaded new version's unique identifier")
    sub.add_argument("--from", dest="original", help="the installed identifier (default: found "
                     "by plugin id)")
    sub.add_argument("--source", default="package", help=_SOURCE_HELP)
    _signature_option(sub)
    _waiting_options(sub)


def _identifier_argument(sub):
    sub.add_argument("identifier")


def _readme_options(sub):
    sub.add_argument("identifier")
    sub.add_argument("--language", default="en_US", help="en_US, zh_Hans, ja_JP, pt_BR, ...")


def _tools_options(sub):
    sub.add_argument("provider", nargs="?", help="organization/plugin_name/provider_name")
    sub.add_argument("tool", nargs="?", help="a tool of that provider: show its parameters")


def _missing_deps_options(sub):
    sub.add_argument("identifiers", nargs="+")


#: command -> (handler, help, adds its options), in the order --help lists them
_COMMANDS = {
    "config": (_cmd_config, "show the effective settings and where each came from", None),
    "health": (_cmd_health, "check that the daemon is up, and its version", None),
    "list": (_cmd_list, "list installed plugins", _paging_options),
    "upload-pkg": (_cmd_upload_pkg, "upload a .difypkg (does not install it)",
                   _upload_options(".difypkg")),
    "upload-bundle": (_cmd_upload_bundle, "upload a .difybndl bundle",
                      _upload_options("bundle")),
    "install": (_cmd_install, "install packages or uploaded identifiers; wait until done",
                _install_options),
    "invoke": (_cmd_invoke, "invoke a tool and print its messages as they arrive",
               _invoke_options),
    "tasks": (_cmd_tasks, "list, show, wait for and delete install tasks", _tasks_options),
    "uninstall": (_cmd_uninstall, "uninstall a plugin", _uninstall_options),
    "upgrade": (_cmd_upgrade, "switch an installed plugin to another version", _upgrade_options),
    "manifest": (_cmd_manifest, "show an uploaded package's manifest", _identifier_argument),
    "readme": (_cmd_readme, "print an uploaded package's README", _readme_options),
    "tools": (_cmd_tools, "list tool providers, one provider's tools, or one tool",
              _tools_options),
    "missing-deps": (_cmd_missing_deps, "show which of the identifiers are not installed "
                     "exactly", _missing_deps_options),
}


def _positive_int(text):
    import argparse

    if not _ASCII_DIGITS.match(text) or int(text) < 1:
        raise argparse.ArgumentTypeError("must be a positive integer, got %r" % text)
    return int(text)


def _positive_float(text):
    import argparse

    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("must be a positive number, got %r" % text)
    return value


def _exit_code(error):
    if isinstance(error, (PluginDaemonUnauthorizedError,)) or (
            isinstance(error, HTTPStatusError) and error.status_code in (401, 403)):
        return EXIT_AUTH
    if isinstance(error, (TransportError, InstallTimeoutError)):
        return EXIT_UNREACHABLE
    if isinstance(error, (InvalidArgumentError, ConfigError)):
        return EXIT_USAGE
    return EXIT_FAILED


def main(argv=None, *, environ=None, stdin=None, stdout=None, stderr=None):
    """Run the CLI; returns the exit code (see ``--help`` for their meaning)."""
    environ = os.environ if environ is None else environ
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _build_parser(argv)
    import contextlib

    try:
        # argparse prints help, version and usage errors to sys.stdout/sys.stderr
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if not getattr(args, "command", None):
        parser.print_help(stderr)
        return EXIT_USAGE
    debug = bool(getattr(args, "debug", False))
    out = _Output(stdout, stderr, bool(getattr(args, "json", False)), environ)
    handler = None
    if debug:
        handler = _enable_debug_logging(stderr)
    ctx = None
    try:
        settings = _load_settings(args, environ, lambda text: out.info("warning: " + text))
        ctx = _Context(args, settings, out, stdin)
        return args.handler(ctx)
    except KeyboardInterrupt:
        out.info("interrupted")
        return EXIT_INTERRUPTED
    except DifyPluginError as error:
        if debug:
            import traceback

            traceback.print_exc(file=stderr)
        out.info("dify-plugin-client: error: %s" % error)
        return _exit_code(error)
    except BrokenPipeError:
        return EXIT_FAILED  # e.g. piped into `head`
    finally:
        if ctx is not None:
            ctx.close()
        if handler is not None:
            _logger().removeHandler(handler)
        try:
            stdout.flush()
        except (OSError, ValueError):
            pass


def _enable_debug_logging(stream):
    import logging

    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("debug: %(message)s"))
    logger = _logger()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    return handler


if __name__ == "__main__":
    # Run as a script or with -m: make `import dify_plugin_client` elsewhere find this
    # same module instead of loading a second copy with distinct classes.
    sys.modules.setdefault("dify_plugin_client", sys.modules[__name__])
    sys.exit(main())
