#!/usr/bin/env python3
# Copyright (c) 2026 The dify_plugin_client authors
# SPDX-License-Identifier: MIT (the text is in the project's LICENSE file)
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

Map of this file (each heading is a banner below; search for its text):

    Imports and typing
    Constants
    Errors                                  the root, transport, input, daemon envelopes
    Configuration                           Timeout, PluginConfig
    Enums
    Entities: how they work                 annotations -> converters -> a compiled from_dict
    Entities: shared pieces                 labels, permissions, runner, meta
    Entities: tool providers and tools
    Entities: manifests, installations, install tasks
    Entities: stream messages               tool (and agent/datasource) message chunks
    Entities: models                        prompts, LLM chunks, embeddings, polling
    Entities: tool extras, OAuth and dynamic select
    Entities: management additions
    Entities: installed providers and their parameters
    Entities: endpoints                     Endpoint, its declaration, endpoint_url
    Entities: agent strategies              providers, AgentInvokeMessage, LogTree
    Entities: datasources                   providers, crawl results, documents, drive files
    Entities: triggers                      subscriptions, dispatch and event answers
    Wire helpers: raw HTTP messages         RawHttpRequest, RawHttpResponse (hex on the wire)
    Wire helpers: input checks
    Wire helpers: multipart/form-data
    Wire helpers: server-sent events
    Wire helpers: the daemon's response envelope
    Wire helpers: JSON Schema $ref resolution
    Wire helpers: tool provider ids
    Wire helpers: tool parameter casting
    Wire helpers: blob chunk merging
    Transport                               keep-alive pool, phases, streamed responses
    Dispatch                                the one path every dispatch route takes; event readers
    Client: core                            what every route group builds on
    Client: install and lifecycle
    Client: discovery and metadata
    Client: tools
    Client: models                          LLM, embeddings, rerank, speech, credentials
    Client: tool credentials and runtime parameters
    Client: OAuth
    Client: dynamic select
    Client: management additions
    Client: remote debugging and assets
    Client: packages by unique identifier   /v2: extract_plugin, by_identifier views
    Client: installed providers             what agent, datasource and trigger lookups share
    Client: endpoints
    Client: agent strategies
    Client: datasources
    Client: triggers
    Client: the client                      DifyPluginClient, made of the route groups above
    Routes                                  the table of every route this module speaks
    Command line: settings
    Command line: output
    Command line: the command registry
    Command line: commands
    Command line: tool extras, remote debugging, assets
    Command line: endpoints, agent strategies, datasources, triggers
    Command line: parser and main
    Import paths of the seed's client
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
    "PluginInstallation", "PluginEntity", "PluginListResponse", "DaemonHealth", "PluginReadme",
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
    "ToolParameterError", "ToolNotFoundError", "ModelNotFoundError", "PackageTooLargeError",
    "PluginInstallError", "InstallTimeoutError", "ConfigError",
    "PluginDaemonError", "PluginDaemonInnerError", "PluginInvokeError",
    "PluginDaemonBadRequestError", "PluginDaemonNotFoundError",
    "PluginUniqueIdentifierError", "PluginPermissionDeniedError",
    "PluginDaemonUnauthorizedError", "PluginDaemonInternalServerError",
    "PluginNotFoundError",
    "InvokeRateLimitError", "InvokeAuthorizationError", "InvokeBadRequestError",
    "InvokeConnectionError", "InvokeServerUnavailableError",
    "CredentialsValidateFailedError", "EndpointSetupFailedError",
    "TriggerProviderCredentialValidationError", "TriggerPluginInvokeError",
    "TriggerInvokeError", "EventIgnoreError", "PluginLLMPollingUnsupportedError",
    "PluginRuntimeError",
    # entities: models
    "ModelType", "ModelFeature", "PromptMessageRole", "ModelPollingStatus", "ProviderHelp",
    "FormShowOnObject", "FormOption", "CredentialFormSchema", "ProviderCredentialSchema",
    "FieldModelSchema", "ModelCredentialSchema", "ParameterRule", "PriceConfig",
    "AIModelEntity", "ModelProviderDeclaration", "PluginModelProviderEntity",
    "PromptMessageContent", "TextPromptMessageContent", "MultiModalPromptMessageContent",
    "ImagePromptMessageContent", "AudioPromptMessageContent", "VideoPromptMessageContent",
    "DocumentPromptMessageContent", "PromptMessageTool", "AssistantToolCallFunction",
    "AssistantToolCall", "PromptMessage", "SystemPromptMessage", "UserPromptMessage",
    "DeveloperPromptMessage", "AssistantPromptMessage", "ToolPromptMessage", "MultimodalInput",
    "LLMUsage", "LLMResultChunkDelta", "LLMResultChunk", "LLMResult", "ModelPollingResult",
    "EmbeddingUsage", "EmbeddingResult", "RerankDocument", "RerankResult", "TTSModelVoice",
    "CredentialsValidationResult",
    # entities: tool extras, OAuth, dynamic select, management
    "PluginOAuthAuthorizationUrlResponse", "PluginOAuthCredentialsResponse",
    "PluginDynamicSelectOptionsResponse", "PluginListWithoutTotalResponse",
    "ModelPluginBinding", "ToolProviderCredentialValidationError", "ToolProviderOAuthError",
    "PLUGIN_CATEGORIES",
    # endpoints, agent strategies, datasources, triggers
    "PluginParameter", "EndpointDeclaration", "EndpointProviderDeclaration", "Endpoint",
    "endpoint_url", "MAX_ENDPOINT_PAGE_SIZE", "EndpointNotIdentifiedError",
    "EndpointLeftBehindError", "AgentStrategyProviderIdentity", "AgentStrategyIdentity",
    "AgentStrategyDeclaration", "AgentStrategyProviderDeclaration", "PluginAgentProviderEntity",
    "AgentInvokeMessage", "LogNode", "LogTree", "DatasourceProviderIdentity",
    "DatasourceIdentity", "DatasourceDeclaration", "DatasourceProviderDeclaration",
    "PluginDatasourceProviderEntity", "DatasourceInvokeMessage", "WebsiteCrawlPage",
    "WebsiteCrawlResult", "OnlineDocumentPage", "OnlineDocumentInfo", "OnlineDriveFile",
    "OnlineDriveFileBucket", "TriggerProviderIdentity", "TriggerEventIdentity",
    "TriggerEventDeclaration", "TriggerSubscriptionConstructor", "TriggerProviderDeclaration",
    "PluginTriggerProviderEntity", "TriggerSubscription", "TriggerUnsubscribeResult",
    "TriggerDispatchResponse", "TriggerInvokeEventResponse", "HttpMessageError",
    "RawHttpRequest", "RawHttpResponse",
    # command line
    "main",
]

# =============================================================================
# Imports and typing
# =============================================================================
#
# Only cheap modules are imported here: `import dify_plugin_client` and
# `dify-plugin-client --help` must stay fast. http.client, ssl, socket, urllib,
# logging, threading and dataclasses are imported where first needed, json and re
# through the stand-ins below. A type checker reads the `if TYPE_CHECKING` block and
# sees the real modules and types; the interpreter never runs it.

import _thread
import enum
import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # pragma: no cover - read by type checkers, never run
    import binascii
    import json
    import re
    from datetime import datetime
    from decimal import Decimal
    from typing import (IO, Any, Callable, ClassVar, Dict, FrozenSet, Generator, Iterable,
                        Iterator, List, Mapping, NoReturn, Optional, Sequence, Set, TextIO, Tuple,
                        Type, TypeVar, Union)

    #: Where a value sits in a response: "data", or (parent, key) pairs built on demand.
    _Path = Union[str, Tuple[Any, Union[str, int]]]
    _E = TypeVar("_E", bound="_Entity")
    _T = TypeVar("_T")
    _MaybeText = TypeVar("_MaybeText", str, Optional[str])
    _MessageT = TypeVar("_MessageT", bound="ToolInvokeMessage")
    #: Turns one wire value (at a path) into its Python value.
    _Converter = Callable[[Any, _Path], Any]
    #: A JSON object as the daemon sends or takes it.
    _JSONObject = Dict[str, Any]
    #: An entity field holding a string; a number the daemon sends is turned into its text.
    _Text = str
    #: An entity field the daemon sends as hex text (TTS audio); the entity holds the bytes.
    _HexBytes = bytes
    #: A stream event's data: text, or the raw bytes of a long ``data:`` line when the
    #: stream's reader takes those (see ``_SSEParser``).
    _EventData = Union[str, memoryview]


class _LazyModule:
    """Stands in for a module until its first use, then puts the real one in its place."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        module = __import__(self._name)
        globals()[self._name] = module  # later lookups get the module itself
        return getattr(module, attribute)


if not TYPE_CHECKING:
    binascii = _LazyModule("binascii")
    json = _LazyModule("json")
    re = _LazyModule("re")


class _Regex:
    """A regular expression compiled on first use (most are never needed by a command)."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern

    if TYPE_CHECKING:
        def match(self, string: str, pos: int = 0) -> Optional[re.Match[str]]: ...
        def search(self, string: str, pos: int = 0) -> Optional[re.Match[str]]: ...
        def fullmatch(self, string: str) -> Optional[re.Match[str]]: ...
        def sub(self, repl: str, string: str) -> str: ...
    else:
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
#: Idle connections kept alive per client for reuse.
DEFAULT_POOL_SIZE = 10
#: Requests in flight at once per client, streams included (httpx's default, which
#: Dify's client also uses).
DEFAULT_MAX_CONNECTIONS = 100
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

#: Marks "no value given" where None is a value.
_UNSET: Any = object()


def _logger() -> Any:
    """The module's logger, created on first use (keeps `import logging` off import time)."""
    import logging

    return logging.getLogger("dify_plugin_client")


# =============================================================================
# Errors
# =============================================================================


#: Every daemon key a PluginConfig of this process holds. Error texts carry what the
#: daemon or a proxy sent back; should that echo the X-Api-Key header, it is masked.
_KEYS_IN_USE: Dict[str, int] = {}  # key -> how many live PluginConfigs hold it
_MIN_REDACTED_KEY = 4  # shorter "keys" (tests, toys) would mask ordinary words


def _redact(text: _MaybeText) -> _MaybeText:
    """``text`` with every configured daemon key replaced by ***."""
    if isinstance(text, str) and _KEYS_IN_USE:
        return _mask_text(text, tuple(_KEYS_IN_USE))
    return text


def _redact_bytes(content: bytes) -> bytes:
    """``content`` with every configured key replaced by ***."""
    return _mask_bytes(content, tuple(_KEYS_IN_USE))


def _secret_forms(secret: str) -> List[str]:
    """How ``secret`` can stand in a text, longest first: as it is; JSON-escaped as
    Python writes it (with and without ASCII escapes) and as Go does (which also
    escapes <, > and &); and each of those as repr() shows it (an error often shows
    a repr of what was sent back)."""
    escaped = json.dumps(secret, ensure_ascii=False)[1:-1]
    forms = {secret, escaped, json.dumps(secret)[1:-1],
             escaped.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")}
    # repr() quotes with ' unless the text holds ' and no "; holding both, it escapes '
    forms.update([repr(form)[1:-1] for form in forms] +
                 [repr(form + "'\"")[1:-4] for form in forms])
    return sorted(forms, key=len, reverse=True)


def _mask_text(text: str, secrets: Sequence[str]) -> str:
    """``text`` with each of ``secrets``, in any of its forms, replaced by ***; also the
    start of one where the text was cut short ("...") in the middle of it."""
    for secret in secrets:
        forms = _secret_forms(secret)
        for form in forms:
            if form in text:
                text = text.replace(form, "***")
        if "..." in text:
            text = _mask_cut_forms(text, forms)
    return text


def _mask_cut_forms(text: str, forms: Sequence[str]) -> str:
    """``text`` without any start of one of ``forms`` (_MIN_REDACTED_KEY characters or
    more) that runs into a "..." (where an error cut a text short); the longest such
    start before each "..." goes. Only where a form's first characters stand is
    looked at."""
    earliest: Dict[int, int] = {}  # where a "..." is -> where the secret running into it starts
    for form in forms:
        head = form[:_MIN_REDACTED_KEY]
        start = text.find(head) if len(form) > _MIN_REDACTED_KEY else -1
        while start >= 0:
            cut = text.find("...", start + _MIN_REDACTED_KEY, start + len(form) + 2)
            if cut >= 0 and form.startswith(text[start:cut]):
                earliest[cut] = min(start, earliest.get(cut, start))
            start = text.find(head, start + 1)
    for cut in sorted(earliest, reverse=True):
        text = text[:earliest[cut]] + "***" + text[cut:]
    return text


def _mask_bytes(content: bytes, secrets: Sequence[str]) -> bytes:
    """``content`` with each of ``secrets`` (its forms as UTF-8, and Latin-1 bytes)
    replaced by ***."""
    for secret in secrets:
        encoded = {form.encode("utf-8") for form in _secret_forms(secret)}
        try:
            encoded.add(secret.encode("latin-1"))
        except UnicodeEncodeError:
            pass
        for form in sorted(encoded, key=len, reverse=True):  # (secrets: 4+ characters)
            if form in content:
                content = content.replace(form, b"***")
    return content


class DifyPluginError(Exception):
    """Root of every error this module raises on purpose.

    Attributes (any may be None): ``message`` (what happened), ``http_status``,
    ``code`` (the daemon's envelope code), ``error_type`` (the daemon's error type),
    ``route`` (method and path of the request) and ``hint`` (what to do about it).
    The daemon key never appears in any of them.
    """

    def __init__(self, message: str = "", *, http_status: Optional[int] = None,
                 code: Any = None, error_type: Optional[str] = None,
                 route: Optional[str] = None, hint: Optional[str] = None) -> None:
        message = _redact(message)
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.code = code
        self.error_type = error_type
        self.route = route
        self.hint = _redact(hint)

    def _details(self) -> List[str]:
        details: List[str] = []
        if self.error_type:
            details.append(str(self.error_type))
        if self.code is not None:
            details.append("code %s" % (self.code,))
        if self.http_status is not None:
            details.append("HTTP %s" % (self.http_status,))
        if self.route:
            details.append(self.route)
        return details

    def __str__(self) -> str:
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

    def __init__(self, status_code: int, headers: Dict[str, str], content: bytes, method: str,
                 url: str) -> None:
        self.status_code = status_code
        self.headers = headers  # dict with lower-case names
        self.content = content
        self.method = method
        self.url = url

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def request(self) -> _RequestInfo:
        return _RequestInfo(self.method, self.url)

    def __repr__(self) -> str:
        return "<Response [%s] %s %s>" % (self.status_code, self.method, self.url)


class _RequestInfo:
    __slots__ = ("method", "url")

    def __init__(self, method: str, url: str) -> None:
        self.method = method
        self.url = url


class HTTPStatusError(DifyPluginError):
    """A non-2xx response that is not a daemon error envelope (proxy page, empty 500, 404 route).

    ``status_code``, ``method``, ``url``, ``text`` and ``response`` mirror httpx.
    """

    def __init__(self, message: str = "", *, response: Optional[Response] = None,
                 **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.response = response

    @property
    def status_code(self) -> Optional[int]:
        return self.response.status_code if self.response is not None else self.http_status

    @property
    def method(self) -> Optional[str]:
        return self.response.method if self.response is not None else None

    @property
    def url(self) -> Optional[str]:
        return self.response.url if self.response is not None else None

    @property
    def text(self) -> str:
        return self.response.text if self.response is not None else ""


class InvalidResponseError(DifyPluginError):
    """The daemon answered 2xx but the body is not what its API promises."""


class ResponseValidationError(InvalidResponseError):
    """A field of the response is missing or has the wrong type. ``path`` names it."""

    def __init__(self, message: str = "", *, path: Optional[str] = None,
                 **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.path = path


class ResponseTooLargeError(InvalidResponseError):
    """A response, event or blob is larger than the configured cap."""


class BlobTooLargeError(ResponseTooLargeError):
    """A streamed blob (or one of its chunks) is larger than the configured cap."""


# --- caller input -------------------------------------------------------------


class InvalidArgumentError(DifyPluginError, ValueError):
    """An argument was rejected before any request was sent. ``argument`` names it."""

    def __init__(self, message: str = "", *, argument: Optional[str] = None,
                 **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.argument = argument


class ToolNotFoundError(InvalidArgumentError):
    """The tool provider exists but has no tool of that name (checked before sending)."""


class ModelNotFoundError(InvalidArgumentError):
    """No model provider of the tenant has the model (or provider) named: the command
    line's lookup of a short name, done before any model call."""


class ToolParameterError(InvalidArgumentError):
    """Tool parameters do not fit the tool's declaration.

    ``problems`` lists ``(parameter, value, expected)`` for every parameter at fault.
    """

    def __init__(self, message: str = "", *,
                 problems: Iterable[Tuple[str, Any, str]] = (), **kwargs: Any) -> None:
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

    def __init__(self, message: str = "", *, task: Optional[PluginInstallTask] = None,
                 failures: Iterable[Tuple[str, str]] = (), **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.task = task
        self.failures = list(failures)


class InstallTimeoutError(DifyPluginError):
    """An install task did not finish before the deadline. ``task`` is the last one seen."""

    def __init__(self, message: str = "", *, task: Optional[PluginInstallTask] = None,
                 **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.task = task


# --- daemon error envelopes ---------------------------------------------------


class PluginDaemonError(DifyPluginError):
    """The daemon answered with an error envelope (a negative ``code``).

    ``daemon_args`` holds the envelope's ``args`` (the daemon always sends null).
    Subclasses are chosen by the daemon's ``error_type`` string.
    """

    def __init__(self, message: str = "", *, daemon_args: Any = None, **kwargs: Any) -> None:
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

    def __init__(self, message: str = "", *, invoke_error_type: Optional[str] = None,
                 invoke_message: Optional[str] = None, invoke_args: Any = None,
                 description: Optional[str] = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.invoke_error_type = invoke_error_type
        self.invoke_message = _redact(invoke_message)
        self.invoke_args = invoke_args
        self.description = _redact(description)

    def _details(self) -> List[str]:
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


class EndpointSetupFailedError(PluginInvokeError):
    """The plugin reported EndpointSetupFailedError (its endpoint settings are unusable)."""


class TriggerProviderCredentialValidationError(PluginInvokeError):
    """The plugin reported TriggerProviderCredentialValidationError."""


class TriggerPluginInvokeError(PluginInvokeError):
    """The plugin reported TriggerPluginInvokeError."""


class TriggerInvokeError(PluginInvokeError):
    """The plugin reported TriggerInvokeError."""


class EventIgnoreError(PluginInvokeError):
    """The plugin reported EventIgnoreError: the trigger event is not for this subscription."""


class PluginLLMPollingUnsupportedError(PluginInvokeError):
    """The plugin reported PluginLLMPollingUnsupportedError: the model cannot be polled."""


class ToolProviderCredentialValidationError(PluginInvokeError):
    """The plugin reported ToolProviderCredentialValidationError: the tool provider's
    credentials are not valid."""


class DatasourceCredentialValidationError(PluginInvokeError):
    """The plugin reported DatasourceCredentialValidationError: the datasource
    provider's credentials are not valid."""


class ToolProviderOAuthError(PluginInvokeError):
    """The plugin reported ToolProviderOAuthError: an OAuth step failed in the plugin
    (e.g. the callback request has no code, or the client secret is wrong)."""


class PluginRuntimeError(PluginInvokeError):
    """The plugin's runtime failed (PluginRuntimeError); ``request_id`` names the run
    (for a serverless runtime, its request id), or is None."""

    @property
    def request_id(self) -> Optional[str]:
        args = self.invoke_args
        value = args.get("request_id") if isinstance(args, dict) else None
        return value if isinstance(value, str) else None


# --- endpoints and raw HTTP messages --------------------------------------------


class HttpMessageError(DifyPluginError, ValueError):
    """A raw HTTP message could not be built or read; the message says what is wrong."""


class EndpointNotIdentifiedError(DifyPluginError):
    """The daemon set up an endpoint (it answers only ``true``) but the client could not
    tell which of the plugin's endpoints it is. ``candidates`` lists the endpoints that
    appeared meanwhile and fit (none, or several made at the same moment)."""

    def __init__(self, message: str = "", *, candidates: Sequence[Endpoint] = (),
                 **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.candidates = list(candidates)


class EndpointLeftBehindError(PluginDaemonError):
    """Setting up an endpoint failed, but the daemon had already created its row (with
    empty settings, and a live hook), and the client could not remove it.

    ``endpoints`` holds the rows found (empty when they could not be listed), ``name``
    and ``plugin_id`` say what to look for; ``__cause__`` is the daemon's error.
    """

    def __init__(self, message: str = "", *, endpoints: Sequence[Endpoint] = (),
                 name: str = "", plugin_id: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.endpoints = list(endpoints)
        self.name = name
        self.plugin_id = plugin_id


#: Daemon ``error_type`` -> class. Looked up by string, so renaming a class never
#: changes which errors it catches.
_DAEMON_ERROR_TYPES: Dict[str, Type[PluginDaemonError]] = {
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
_INVOKE_ERROR_TYPES: Dict[str, Type[PluginInvokeError]] = {
    "InvokeRateLimitError": InvokeRateLimitError,
    "InvokeAuthorizationError": InvokeAuthorizationError,
    "InvokeBadRequestError": InvokeBadRequestError,
    "InvokeConnectionError": InvokeConnectionError,
    "InvokeServerUnavailableError": InvokeServerUnavailableError,
    "CredentialsValidateFailedError": CredentialsValidateFailedError,
    "EndpointSetupFailedError": EndpointSetupFailedError,
    "TriggerProviderCredentialValidationError": TriggerProviderCredentialValidationError,
    "TriggerPluginInvokeError": TriggerPluginInvokeError,
    "TriggerInvokeError": TriggerInvokeError,
    "EventIgnoreError": EventIgnoreError,
    "PluginLLMPollingUnsupportedError": PluginLLMPollingUnsupportedError,
    "PluginRuntimeError": PluginRuntimeError,
    "ToolProviderCredentialValidationError": ToolProviderCredentialValidationError,
    "DatasourceCredentialValidationError": DatasourceCredentialValidationError,
    "ToolProviderOAuthError": ToolProviderOAuthError,
}

#: When an envelope carries no usable error_type, its code picks the class.
_DAEMON_ERROR_CODES: Dict[int, Type[PluginDaemonError]] = {
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


_NO_V2_RUNTIME = ("no daemon node runs this package: /v2 runs only a package that has a "
                  "runtime, so install it first (in any tenant)")
#: Hints for /v2 routes (they run a package by identifier), checked before the others.
_V2_MESSAGE_HINTS = (("no available node", _NO_V2_RUNTIME), ("plugin runtime", _NO_V2_RUNTIME))

#: Hints by error class, where the daemon's message alone says too little.
_CLASS_HINTS: Dict[type, str] = {
    PluginDaemonUnauthorizedError:
        "check the daemon key: it must be the daemon's SERVER_KEY (CLI: --key-file or "
        "DIFY_PLUGIN_DAEMON_KEY_FILE)",
}


def _hint_for(message: Optional[str], route: Optional[str] = None) -> Optional[str]:
    if message:
        tables = (_V2_MESSAGE_HINTS, _MESSAGE_HINTS) if route and " /v2/" in route else (
            _MESSAGE_HINTS,)
        for table in tables:
            for needle, hint in table:
                if needle in message:
                    return hint
    return None


# =============================================================================
# Configuration
# =============================================================================


#: The longest timeout taken (about 31 years): sockets and clocks cannot count much
#: further (an infinite one is None).
_MAX_SECONDS = 1e9


def _check_seconds(value: Any, name: str, allow_none: bool = True) -> Optional[float]:
    """A timeout in seconds: a positive number (at most _MAX_SECONDS), or None for no
    limit."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
            or value > _MAX_SECONDS:
        raise InvalidArgumentError(
            "%s must be a positive number of seconds, at most %g%s, got %r"
            % (name, _MAX_SECONDS, " (None: no limit)" if allow_none else "", value),
            argument=name)
    return float(value)


class Timeout:
    """Timeouts in seconds for the four phases of a request (None means no limit).

    ``Timeout(10.0)`` sets all four; ``Timeout(10.0, connect=2.0)`` overrides one;
    ``Timeout(connect=2.0, read=30.0, write=30.0, pool=5.0)`` sets each explicitly.
    ``read`` and ``write`` bound each socket operation, not the whole request.
    An ``httpx.Timeout`` (any object with those four attributes) converts too.
    """

    __slots__ = ("connect", "read", "write", "pool")

    def __init__(self, timeout: Any = _UNSET, *, connect: Any = _UNSET, read: Any = _UNSET,
                 write: Any = _UNSET, pool: Any = _UNSET) -> None:
        if isinstance(timeout, Timeout) or _is_timeout_like(timeout):
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
        self.connect: Optional[float] = _check_seconds(connect, "timeout.connect")
        self.read: Optional[float] = _check_seconds(read, "timeout.read")
        self.write: Optional[float] = _check_seconds(write, "timeout.write")
        self.pool: Optional[float] = _check_seconds(pool, "timeout.pool")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Timeout) and self._tuple() == other._tuple()

    def __hash__(self) -> int:
        return hash(self._tuple())

    def _tuple(self) -> Tuple[Optional[float], ...]:
        return (self.connect, self.read, self.write, self.pool)

    def __repr__(self) -> str:
        values = set(self._tuple())
        if len(values) == 1:
            return "Timeout(%r)" % (self.connect,)
        return "Timeout(connect=%r, read=%r, write=%r, pool=%r)" % self._tuple()


def _is_timeout_like(value: Any) -> bool:
    """An object with connect/read/write/pool, such as ``httpx.Timeout``."""
    return (not isinstance(value, (int, float, str, bytes)) and value is not None
            and value is not _UNSET
            and all(hasattr(value, name) for name in ("connect", "read", "write", "pool")))


def _split_url(url: Any) -> Tuple[str, str, int, str]:
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


def _check_key(key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise InvalidArgumentError(
            "key must be a non-empty string (the daemon's SERVER_KEY)", argument="key")
    if _HEADER_UNSAFE_RE.search(key):
        # CR/LF would let the key inject headers; no real key contains controls.
        raise InvalidArgumentError("key contains control characters (CR, LF or others) or "
                                   "characters a header cannot carry", argument="key")
    return key


def _remember_key(config: PluginConfig, key: str) -> None:
    """Mask ``key`` in error texts while ``config`` lives (a key of a config that is
    gone no longer masks words in other clients' errors)."""
    if len(key) < _MIN_REDACTED_KEY:
        return
    import weakref

    with _KEYS_LOCK:
        _KEYS_IN_USE[key] = _KEYS_IN_USE.get(key, 0) + 1
    weakref.finalize(config, _forget_key, key)


def _forget_key(key: str) -> None:
    with _KEYS_LOCK:
        left = _KEYS_IN_USE.get(key, 0) - 1
        if left > 0:
            _KEYS_IN_USE[key] = left
        else:
            _KEYS_IN_USE.pop(key, None)


# re-entrant: _forget_key runs from a finalizer, which a garbage collection inside
# _remember_key's locked block can call on the same thread
_KEYS_LOCK = _thread.RLock()


def _check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgumentError("%s must be an integer >= %d, got %r" % (name, minimum, value),
                                   argument=name)
    return value


class PluginConfig:
    """How to reach the daemon. Immutable once built.

    ``url`` is the daemon's base URL, ``key`` its SERVER_KEY (sent as ``X-Api-Key``),
    ``timeout`` a number of seconds or a :class:`Timeout`. The rest have safe defaults:

    - ``verify``: TLS certificate checking; True (system CAs), a CA bundle path, or False.
    - ``trust_env``: honour HTTP(S)_PROXY / NO_PROXY. Off by default, because the daemon
      is an internal service and proxies meant for the internet break it (as in Dify).
    - ``retries``: automatic retries of GET requests after connection errors.
    - ``pool_size``: idle connections kept alive for reuse.
    - ``max_connections``: requests in flight at once (streams included); past it a
      request waits up to the pool timeout. Hung streams take connections of this
      budget only, so short calls go on while a few plugins hang.
    - ``stream_timeout``: read timeout between events of a tool invoke stream.
    - ``first_token_timeout``: how long an LLM stream may wait for its first chunk
      (the daemon sends nothing, not even headers, before it); None: the stream timeout.
    - ``max_package_size`` / ``max_bundle_size``: refuse larger uploads before sending;
      match them to the daemon's MAX_PLUGIN_PACKAGE_SIZE / MAX_BUNDLE_PACKAGE_SIZE.
    - ``max_response_size``, ``max_event_size``, ``max_blob_size``,
      ``max_blob_chunk_size``: caps on what the client accepts from the daemon.
    - ``declaration_cache_ttl``: seconds a tool declaration is reused for casting.

    ``repr(config)`` never shows the key.
    """

    __slots__ = ("url", "key", "timeout", "verify", "trust_env", "retries", "pool_size",
                 "stream_timeout", "user_agent", "max_package_size", "max_bundle_size",
                 "max_response_size", "max_event_size", "max_blob_size",
                 "max_blob_chunk_size", "declaration_cache_ttl", "max_connections",
                 "first_token_timeout",
                 "__weakref__")  # a weak reference tells when to forget the key (see above)
    _names = __slots__[:-1]

    url: str
    key: str
    timeout: Timeout
    verify: Union[bool, str]
    trust_env: bool
    retries: int
    pool_size: int
    stream_timeout: Optional[float]
    user_agent: str
    max_package_size: int
    max_bundle_size: int
    max_response_size: int
    max_event_size: int
    max_blob_size: int
    max_blob_chunk_size: int
    declaration_cache_ttl: float
    max_connections: int
    first_token_timeout: Optional[float]

    def __init__(self, url: str = DEFAULT_URL, key: str = "",
                 timeout: Union[float, Timeout, None, Any] = DEFAULT_TIMEOUT,
                 verify: Union[bool, str] = True, trust_env: bool = False,
                 retries: int = DEFAULT_RETRIES, pool_size: int = DEFAULT_POOL_SIZE,
                 stream_timeout: Optional[float] = DEFAULT_STREAM_TIMEOUT,
                 user_agent: Optional[str] = None,
                 max_package_size: int = DEFAULT_MAX_PACKAGE_SIZE,
                 max_bundle_size: int = DEFAULT_MAX_BUNDLE_SIZE,
                 max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
                 max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
                 max_blob_size: int = DEFAULT_MAX_BLOB_SIZE,
                 max_blob_chunk_size: int = DEFAULT_MAX_BLOB_CHUNK_SIZE,
                 declaration_cache_ttl: float = DEFAULT_DECLARATION_CACHE_TTL,
                 max_connections: int = DEFAULT_MAX_CONNECTIONS,
                 first_token_timeout: Optional[float] = None) -> None:
        set_ = object.__setattr__  # the instance is immutable: set through object
        _split_url(url)
        set_(self, "key", _check_key(key))
        _remember_key(self, key)
        set_(self, "url", url.strip().rstrip("/"))
        set_(self, "timeout", timeout if isinstance(timeout, Timeout) else Timeout(timeout))
        if not isinstance(verify, (bool, str)) or verify == "":
            raise InvalidArgumentError(
                "verify must be True, False or the path of a CA bundle", argument="verify")
        if isinstance(verify, str) and not os.path.exists(verify):
            raise InvalidArgumentError("CA bundle %r does not exist" % (verify,),
                                       argument="verify")
        set_(self, "verify", verify)
        set_(self, "trust_env", _check_bool(trust_env, "trust_env"))
        set_(self, "retries", _check_positive_int(retries, "retries", minimum=0))
        set_(self, "pool_size", _check_positive_int(pool_size, "pool_size"))
        set_(self, "max_connections", _check_positive_int(max_connections, "max_connections"))
        set_(self, "stream_timeout", _check_seconds(stream_timeout, "stream_timeout"))
        set_(self, "first_token_timeout",
             _check_seconds(first_token_timeout, "first_token_timeout"))
        for name, value in (("max_package_size", max_package_size),
                            ("max_bundle_size", max_bundle_size),
                            ("max_response_size", max_response_size),
                            ("max_event_size", max_event_size),
                            ("max_blob_size", max_blob_size),
                            ("max_blob_chunk_size", max_blob_chunk_size)):
            set_(self, name, _check_positive_int(value, name))
        if isinstance(declaration_cache_ttl, bool) or not isinstance(
                declaration_cache_ttl, (int, float)) or declaration_cache_ttl < 0:
            raise InvalidArgumentError("declaration_cache_ttl must be a number >= 0",
                                       argument="declaration_cache_ttl")
        set_(self, "declaration_cache_ttl", declaration_cache_ttl)
        if user_agent is None:
            user_agent = "dify-plugin-client/%s (Python %d.%d)" % (
                __version__, sys.version_info[0], sys.version_info[1])
        elif not isinstance(user_agent, str) or _HEADER_UNSAFE_RE.search(user_agent):
            raise InvalidArgumentError("user_agent must be a string without control characters "
                                       "or characters outside Latin-1",
                                       argument="user_agent")
        set_(self, "user_agent", user_agent)

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError("PluginConfig is immutable: build a new one with "
                             "config.replace(%s=...)" % name)

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("PluginConfig is immutable")

    def _values(self) -> Tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._names)

    def replace(self, **changes: Any) -> PluginConfig:
        """A copy with some settings changed, e.g. ``config.replace(timeout=5.0)``."""
        values = dict(zip(self._names, self._values()))
        unknown = set(changes) - set(values)
        if unknown:
            raise InvalidArgumentError("PluginConfig has no setting %s"
                                       % ", ".join(sorted(unknown)), argument="changes")
        values.update(changes)
        return PluginConfig(**values)

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None,
                 config_file: Union[str, None, bool] = None, **overrides: Any) -> PluginConfig:
        """The config the CLI would use: its environment variables (``DIFY_PLUGIN_DAEMON_URL``,
        ``DIFY_PLUGIN_DAEMON_KEY_FILE`` or ``DIFY_PLUGIN_DAEMON_KEY``, ``..._TIMEOUT``,
        ``..._CACERT``, ...) over its config file (``config_file``; None: ``~/.dify`` if
        it exists; False: none). Keyword arguments (any of PluginConfig's) override both,
        e.g. ``from_env(timeout=5.0)``. ``environ`` defaults to ``os.environ``. Raises
        :class:`ConfigError` naming the setting that is wrong or missing, and where it
        came from (never the key's value); a bad keyword argument raises as PluginConfig
        does."""
        _check_setting_names(overrides)
        replaced = {setting.env for setting in _SETTINGS if setting.name in overrides
                    or setting.name in _CLI_ONLY_SETTINGS
                    or _SETTING_OVERRIDDEN_BY.get(setting.name) in overrides}
        environment = os.environ if environ is None else environ
        warn = _logger().warning
        settings = _load_settings(
            _NoFlags(config=config_file if isinstance(config_file, str) and config_file
                     else None, no_config=config_file is False),
            {name: value for name, value in environment.items() if name not in replaced},
            warn)
        if "key" not in overrides and settings.values["key_file"] == "-" and \
                settings.ranks["key_file"] >= settings.ranks["key"]:
            raise ConfigError("the key file - (standard input) is for the command line; "
                              "give PluginConfig.from_env the key (key=...) or a key file "
                              "path (from %s)" % settings.sources["key_file"])
        key = None if "key" in overrides else settings.key(sys.stdin)
        return _config_from_settings(settings, key, True, warn, overrides)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PluginConfig) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        return "PluginConfig(%s)" % ", ".join(
            "%s=%s" % (name, "'***'" if name == "key" else repr(getattr(self, name)))
            for name in self._names)

    __str__ = __repr__


# =============================================================================
# Enums
# =============================================================================


class _StrEnum(str, enum.Enum):
    """An enum of the daemon's strings; str() gives the string itself."""

    def __str__(self) -> str:
        return str(self.value)


class PluginInstallationSource(_StrEnum):
    """Where an installation came from (the daemon stores it as an opaque string)."""

    Github = "github"
    Marketplace = "marketplace"
    Package = "package"
    Remote = "remote"


class PluginInstallTaskStatus(_StrEnum):
    """Status of an install task and of each plugin in it."""

    Pending = "pending"
    Running = "running"
    Success = "success"
    Failed = "failed"


# =============================================================================
# Entities: how they work
# =============================================================================
#
# An entity is a dataclass declared by its annotations alone:
#
#     @_entity
#     class PluginInstallTask(_Entity):
#         id: str = _REQUIRED
#         status: Union[PluginInstallTaskStatus, str] = _REQUIRED
#         total_plugins: int = 0
#         plugins: List[PluginInstallTaskPluginStatus] = []
#         created_at: Optional[datetime] = None
#
# The annotation is the one declaration of a field; `from_dict` derives the field's
# converter from it (`_converter_for`): str, int, float, bool, bytes (base64), dict,
# Dict[str, X], List[X], Optional[X], Any, Decimal (from decimal strings), datetime
# (RFC 3339), an entity class, Union[SomeEnum, str] (an enum that keeps values it does
# not know), and a tagged union registered in `_TAGGED_UNIONS` (variants chosen by a
# `type` or `role` key). `_REQUIRED` makes `from_dict` refuse a missing or null value
# (only a missing one if the type is Optional; `_required_or(d)` does the same, and gives
# an instance built by hand `d` instead of the type's zero value);
# any other default is what a missing value becomes, and null too unless the type is
# Optional (Go writes an empty list as null). List and dict defaults are copied per
# instance. Keys the daemon sends that a class does not declare are kept in `extra`
# (daemons are upgraded independently of clients).
#
# Nothing of this runs at import: a class becomes a real dataclass with a compiled
# `from_dict` (straight-line code, as dataclasses writes `__init__`) the first time it
# is built, parsed or inspected, so start-up cost follows the classes actually used.


class _Marker:
    """A named sentinel (shows by its name in help() and reprs)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: The default of a field ``from_dict`` requires. Typed Any so a checker accepts it as
#: the default of a field of any type; built by hand, such a field starts at its
#: type's zero value.
_REQUIRED: Any = _Marker("<required>")


class _RequiredOr(_Marker):
    """``_REQUIRED`` for ``from_dict``, with a default other than the zero value for an
    instance built by hand (made by ``_required_or``)."""

    def __init__(self, default: Any) -> None:
        super().__init__("<required>")
        self.default = default


def _required_or(default: Any) -> Any:
    """A field ``from_dict`` requires, that starts at ``default`` when built by hand."""
    return _RequiredOr(default)


_FACTORY = _Marker("<factory>")


def _type_name(value: Any) -> str:
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


def _path_text(path: _Path) -> str:
    """Render a field path. Converters get ``(parent, key)`` tuples, which cost less to
    build than strings; only an error message needs the text, e.g. ``data.list[0].name``."""
    keys = []
    while type(path) is tuple:
        path, key = path
        keys.append("[%d]" % key if type(key) is int else "." + str(key))
    return str(path) + "".join(reversed(keys))


def _invalid(path: _Path, expected: str, value: Any) -> ResponseValidationError:
    text = _path_text(path)
    return ResponseValidationError(
        "the daemon's response has %s where %s was expected, at %s"
        % (_type_name(value), expected, text), path=text)


def _missing(path: _Path, name: str, value: Any) -> ResponseValidationError:
    text = _path_text((path, name))
    return ResponseValidationError(
        "the daemon's response %s the required field %s"
        % ("lacks" if value is _UNSET else "has null for", text), path=text)


# --- converters: (wire value, path) -> Python value ---------------------------


def _conv_str(value: Any, path: _Path) -> str:
    if isinstance(value, str):
        return value
    raise _invalid(path, "a string", value)


def _conv_text(value: Any, path: _Path) -> str:
    """A string; a number becomes its text (option values written as numbers in YAML)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise _invalid(path, "a string", value)


def _conv_int(value: Any, path: _Path) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():  # Go may print 1e+21 style numbers
        return int(value)
    raise _invalid(path, "an integer", value)


def _conv_number(value: Any, path: _Path) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    raise _invalid(path, "a number", value)


def _conv_bool(value: Any, path: _Path) -> bool:
    if isinstance(value, bool):
        return value
    raise _invalid(path, "a boolean", value)


def _conv_dict(value: Any, path: _Path) -> Dict[str, Any]:
    if isinstance(value, dict):
        return value
    raise _invalid(path, "an object", value)


def _conv_decimal(value: Any, path: _Path) -> Decimal:
    """A price: the daemon writes decimals as strings ("0.0010"); numbers are taken too."""
    from decimal import Decimal, InvalidOperation

    if isinstance(value, str) or (isinstance(value, (int, float))
                                  and not isinstance(value, bool)):
        try:
            number = Decimal(value if not isinstance(value, float) else repr(value))
        except (InvalidOperation, ValueError):
            number = None
        if number is not None and number.is_finite():
            return number
    raise _invalid(path, "a decimal number (as a string)", value)


#: binascii checks base64 strictly itself from Python 3.11 on; before, a regex does.
_STRICT_BASE64 = sys.version_info >= (3, 11)
_BASE64_TEXT = _Regex(r"[A-Za-z0-9+/]*={0,2}\Z")


def _decode_base64(value: Any, path: _Path) -> bytes:
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
    text = _path_text(path)
    raise ResponseValidationError("%s is not valid base64" % text, path=text)


def _decode_hex(value: Any, path: _Path) -> bytes:
    """Hex text (two digits a byte, either case, nothing else), decoded."""
    if not isinstance(value, str):
        raise _invalid(path, "a hex string", value)
    try:
        return binascii.a2b_hex(value)
    except (binascii.Error, ValueError):  # ValueError: a str that is not ASCII
        text = _path_text(path)
        raise ResponseValidationError("%s is not hex: %s" % (text, _short_repr(value, 40)),
                                      path=text) from None


#: Converters and the exact types of the values they return as they are: such a value
#: needs no converter call (a compiled from_dict checks its type), and a list holding
#: only such values is kept whole (its item types checked in one pass in C).
_KEPT_AS_IS: Dict[_Converter, FrozenSet[type]] = {
    _conv_str: frozenset([str]), _conv_text: frozenset([str]), _conv_int: frozenset([int]),
    _conv_number: frozenset([int, float]), _conv_bool: frozenset([bool]),
}


#: Entity converters (and Optional ones) and their class: a compiled from_dict calls the
#: class's from_dict itself, one Python call fewer per nested entity.
_ENTITY_OF: Dict[_Converter, Type[_Entity]] = {}


def _optional(conv: _Converter) -> _Converter:
    def convert(value: Any, path: _Path) -> Any:
        return None if value is None else conv(value, path)
    _KEPT_AS_IS[convert] = _KEPT_AS_IS.get(conv, frozenset()) | {type(None)}
    if conv in _ENTITY_OF:
        _ENTITY_OF[convert] = _ENTITY_OF[conv]
    return convert


def _list_of(conv: Optional[_Converter]) -> _Converter:
    """An array of items; null becomes [] (Go encodes an empty slice as null)."""
    kept = _KEPT_AS_IS.get(conv) if conv is not None else None

    def convert(value: Any, path: _Path) -> List[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise _invalid(path, "an array", value)
        if conv is None:
            return value
        if kept is not None and kept.issuperset(map(type, value)):
            return value
        return [conv(item, (path, index)) for index, item in enumerate(value)]
    return convert


def _dict_of(conv: _Converter) -> _Converter:
    """An object whose values are converted; null becomes {}."""
    def convert(value: Any, path: _Path) -> Dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise _invalid(path, "an object", value)
        return {key: conv(item, (path, key)) for key, item in value.items()}
    return convert


def _entity_conv(cls: Type[_Entity]) -> _Converter:
    def convert(value: Any, path: _Path) -> Any:
        return cls.from_dict(value, path)
    _ENTITY_OF[convert] = cls
    return convert


#: Enum converters and their {value: member} (a compiled from_dict looks a str up itself).
_ENUM_MEMBERS: Dict[_Converter, Dict[Any, Any]] = {}


def _enum_conv(enum_cls: Type[enum.Enum]) -> _Converter:
    """A known enum member, or the raw string when the daemon sends a new value."""
    members = {member.value: member for member in enum_cls}

    def convert(value: Any, path: _Path) -> Any:
        if not isinstance(value, str):
            raise _invalid(path, "a string", value)
        return members.get(value, value)
    _ENUM_MEMBERS[convert] = members
    return convert


_RFC3339_RE = _Regex(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))?\Z")


def _parse_datetime(text: str) -> Optional[datetime]:
    """Parse an RFC 3339 timestamp as Go writes it, on every Python from 3.8.

    Accepts ``Z`` or an offset and 1 to 9 fraction digits (cut to microseconds).
    A timestamp without an offset is taken as UTC. Returns None if it does not parse.
    """
    import datetime as dt

    match = _RFC3339_RE.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        if sign:
            offset = dt.timedelta(hours=int(off_h), minutes=int(off_m))
            tz = dt.timezone(-offset if sign == "-" else offset)
        else:
            tz = dt.timezone.utc
        return dt.datetime(int(year), int(month), int(day), int(hour), int(minute),
                           int(second), micro, tzinfo=tz)
    except ValueError:  # e.g. month 13, a leap second, an offset of a day or more
        return None


def _format_datetime(value: datetime) -> str:
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _conv_datetime(value: Any, path: _Path) -> datetime:
    if isinstance(value, str):
        parsed = _parse_datetime(value)
        if parsed is not None:
            return parsed
    raise _invalid(path, "an RFC 3339 timestamp", value)


class _TaggedUnion:
    """A value whose shape is chosen by a tag: ``variants`` maps tag values to entity
    classes or builders ``(value, path) -> object``.

    With ``sibling`` the tag is a key beside the field (``{"type": "text", "message":
    {...}}``); otherwise it is a key of the value itself (``{"role": "user", ...}``).
    A tag this version does not know gives ``unknown(value, path)`` (by default the
    value as sent). Null stays None, except for tags listed in ``null_ok``.
    """

    def __init__(self, tag: str, variants: Mapping[str, Any], *, sibling: bool = False,
                 unknown: Optional[_Converter] = None, null_ok: Iterable[str] = ()) -> None:
        self.tag = tag
        self.sibling = sibling
        self.builders: Dict[str, _Converter] = {
            name: _entity_conv(variant) if isinstance(variant, type) else variant
            for name, variant in variants.items()}
        self.unknown = unknown
        self.null_ok = frozenset(null_ok)

    def convert(self, value: Any, path: _Path, tag: Any = _UNSET) -> Any:
        if not self.sibling:
            if type(value) is not dict:
                if value is None:
                    return None
                raise _invalid(path, "an object", value)
            tag = value.get(self.tag)
        builder = self.builders.get(tag) if type(tag) is str else None
        if builder is None:
            return value if self.unknown is None else self.unknown(value, path)
        if value is None and tag not in self.null_ok:
            return None
        return builder(value, path)


#: Tagged unions by the name entity annotations use for them (filled in where the
#: variants are declared; a type checker sees each name as a Union alias).
_TAGGED_UNIONS: Dict[str, _TaggedUnion] = {}


# --- from annotations to converters -------------------------------------------

_ANNOTATION_TOKEN = _Regex(r"\s*([A-Za-z_][A-Za-z0-9_.]*|[\[\],]|\Z)")
_SIMPLE_CONVERTERS: Dict[str, Optional[_Converter]] = {
    "str": _conv_str, "_Text": _conv_text, "int": _conv_int, "float": _conv_number,
    "bool": _conv_bool, "bytes": _decode_base64, "_HexBytes": _decode_hex, "dict": _conv_dict,
    "Decimal": _conv_decimal, "datetime": _conv_datetime, "Any": None, "object": None,
}
_ZERO_VALUES: Dict[str, Any] = {"str": "", "_Text": "", "int": 0, "float": 0.0, "bool": False,
                                "bytes": b"", "_HexBytes": b""}


class _FieldSpec:
    """How ``from_dict`` treats one field, derived from its annotation and default."""

    __slots__ = ("name", "conv", "null_ok", "required", "default", "factory", "kind",
                 "sibling_tag")

    def __init__(self, name: str, conv: Optional[_Converter], null_ok: bool, required: bool,
                 default: Any, factory: Optional[Callable[[], Any]], kind: str,
                 sibling_tag: Optional[str]) -> None:
        self.name = name
        self.conv = conv
        self.null_ok = null_ok
        self.required = required
        self.default = default
        self.factory = factory
        self.kind = kind
        self.sibling_tag = sibling_tag


def _parse_annotation(text: str) -> Tuple[str, List[Any]]:
    """``"Optional[List[str]]"`` -> ``("Optional", [("List", [("str", [])])])``."""
    tokens = [token for token in _tokens(text)]
    position = 0

    def parse() -> Tuple[str, List[Any]]:
        nonlocal position
        name = tokens[position]
        position += 1
        arguments: List[Any] = []
        if position < len(tokens) and tokens[position] == "[":
            position += 1
            while True:
                arguments.append(parse())
                separator = tokens[position]
                position += 1
                if separator == "]":
                    break
        return name.rpartition(".")[2], arguments  # typing.List -> List

    tree = parse()
    if position != len(tokens):
        raise TypeError("cannot read the annotation %r" % text)
    return tree


def _tokens(text: str) -> Iterator[str]:
    position = 0
    while position < len(text):
        match = _ANNOTATION_TOKEN.match(text, position)
        if match is None or not match.group(1):
            if text[position:].strip():
                raise TypeError("cannot read the annotation %r" % text)
            return
        yield match.group(1)
        position = match.end()


def _converter_for(tree: Tuple[str, List[Any]], where: str
                   ) -> Tuple[Optional[_Converter], bool, str]:
    """(converter, takes null, kind) for an annotation tree. ``kind`` is the outer
    type's name (``str`` allows the builder's fast path; ``list``/``dict`` get
    per-instance defaults)."""
    name, arguments = tree
    if name in _SIMPLE_CONVERTERS:
        return _SIMPLE_CONVERTERS[name], name in ("Any", "object"), name
    if name in ("List", "list", "Sequence"):
        inner = _converter_for(arguments[0], where)[0] if arguments else None
        return _list_of(inner), True, "list"
    if name in ("Dict", "Mapping"):
        if len(arguments) == 2 and arguments[1][0] not in ("Any", "object"):
            return _dict_of(_required_conv(arguments[1], where)), True, "dict"
        return _conv_dict, False, "dict"
    if name == "Optional":
        inner_conv = _converter_for(arguments[0], where)[0]
        return (_optional(inner_conv) if inner_conv else None), True, "optional"
    if name == "Union":
        names = [argument[0] for argument in arguments]
        optional = "None" in names
        rest = [argument for argument in arguments if argument[0] != "None"]
        enum_cls = globals().get(rest[0][0]) if rest else None
        if (len(rest) == 2 and rest[1][0] == "str" and isinstance(enum_cls, type)
                and issubclass(enum_cls, enum.Enum)):
            conv = _enum_conv(enum_cls)
        elif len(rest) == 1:
            conv = _required_conv(rest[0], where)
        else:
            raise TypeError("%s: a Union must be Optional[X] or Union[SomeEnum, str]; "
                            "use a tagged union for alternatives" % where)
        return (_optional(conv) if optional else conv), optional, "union"
    union = _TAGGED_UNIONS.get(name)
    if union is not None:
        return union.convert, True, "tagged"
    target = globals().get(name)
    if isinstance(target, type) and issubclass(target, _Entity):
        return _entity_conv(target), False, "entity"
    if isinstance(target, type) and issubclass(target, enum.Enum):
        return _enum_conv(target), False, "enum"
    raise TypeError("%s: no converter for the annotation %r" % (where, name))


def _required_conv(tree: Tuple[str, List[Any]], where: str) -> _Converter:
    conv = _converter_for(tree, where)[0]
    return conv if conv is not None else (lambda value, path: value)


def _zero_value(tree: Tuple[str, List[Any]]) -> Any:
    """What a field the caller leaves out starts as, when it has no declared default."""
    name = tree[0]
    if name in ("List", "list", "Sequence"):
        return []
    if name in ("Dict", "Mapping", "dict"):
        return {}
    return _ZERO_VALUES.get(name)


# --- preparing a class on first use -------------------------------------------

_prepare_lock = _thread.RLock()


def _prepare(cls: Type[_Entity]) -> None:
    """Make ``cls`` a dataclass with a compiled ``__init__`` and ``from_dict``."""
    with _prepare_lock:
        if cls.__dict__.get("_prepared"):
            return
        import dataclasses

        for base in cls.__bases__:
            if base is not _Entity and issubclass(base, _Entity):
                _prepare(base)
        inherited: List[_FieldSpec] = list(getattr(cls, "_specs", ()))
        own = cls.__dict__.get("__annotations__")
        if own is None:  # no annotations of its own (3.8 would show a base's)
            own = {}
            cls.__annotations__ = own
        specs = [spec for spec in inherited if spec.name not in own]
        if not inherited:  # a root entity: it declares `extra` for the whole family
            own["extra"] = "Dict[str, Any]"
            setattr(cls, "extra", dataclasses.field(default_factory=dict, repr=False,
                                                    compare=False))
        for name, annotation in own.items():
            if name == "extra":
                continue
            spec = _field_spec(cls, name, annotation)
            specs.append(spec)
            setattr(cls, name, dataclasses.field(default_factory=spec.factory)
                    if spec.factory is not None else dataclasses.field(default=spec.default))
        if cls.__dict__.get("__doc__") is None:  # else dataclasses asks inspect for the
            cls.__doc__ = "%s(%s)" % (cls.__name__,  # signature, which prepares: a loop
                                      ", ".join(spec.name for spec in specs))
        dataclasses.dataclass(cls, init=False)
        order = list(getattr(cls, "__dataclass_fields__"))  # fields in definition order
        by_name = {spec.name: spec for spec in specs}
        specs = [by_name[name] for name in order if name != "extra"]
        cls._specs = tuple(specs)
        cls._field_names = tuple(spec.name for spec in specs)
        cls._field_keys = frozenset(cls._field_names)
        init, from_dict = _compile(cls, specs, order)
        init.__annotations__ = {name: own.get(name) or _annotation_of(cls, name)
                                for name in order}
        init.__annotations__["return"] = "None"
        setattr(cls, "__init__", init)
        setattr(cls, "from_dict", classmethod(from_dict))
        cls._prepared = True


def _annotation_of(cls: type, name: str) -> Any:
    for klass in cls.__mro__:
        annotation = klass.__dict__.get("__annotations__", {}).get(name)
        if annotation is not None:
            return annotation
    return "Any"


def _field_spec(cls: type, name: str, annotation: Any) -> _FieldSpec:
    where = "%s.%s" % (cls.__name__, name)
    tree = _parse_annotation(str(annotation))
    conv, null_ok, kind = _converter_for(tree, where)
    declared = cls.__dict__.get(name, _UNSET)
    if isinstance(declared, _RequiredOr):
        required, default = True, declared.default
    else:
        required = declared is _REQUIRED
        default = _zero_value(tree) if declared is _UNSET or required else declared
    factory: Optional[Callable[[], Any]] = None
    if isinstance(default, (list, dict)):
        factory = _copier(default)
        default = _FACTORY
    sibling = None
    if kind == "tagged":
        union = _TAGGED_UNIONS[tree[0]]
        sibling = union.tag if union.sibling else None
        null_ok = not required
    if conv is _conv_str:
        kind = "str"
    elif tree == ("Optional", [("str", [])]):
        kind = "optional str"
    return _FieldSpec(name, conv, null_ok, required, default, factory, kind, sibling)


def _copier(default: Any) -> Callable[[], Any]:
    if not default:
        return list if isinstance(default, list) else dict
    return lambda: _copy_json(default)


def _compile(cls: type, specs: Sequence[_FieldSpec], order: Sequence[str]
             ) -> Tuple[Callable[..., None], Callable[..., Any]]:
    """Write ``__init__`` and ``from_dict`` of ``cls`` out as straight-line code.

    ``from_dict``: for each field, a missing key (or null, unless the type takes
    null) is an error if the field is required, else the default; anything else goes
    through the converter, except a value that already is the str a field wants.
    """
    names: Dict[str, Any] = {"cls": cls, "_UNSET": _UNSET, "_FACTORY": _FACTORY,
                             "_missing": _missing, "_invalid": _invalid,
                             "_new": object.__new__}
    positions = {spec.name: index for index, spec in enumerate(specs)}
    init = ["def __init__(self, %s):" % ", ".join(
        "%s=default%d" % (name, positions[name]) if name != "extra" else "extra=None"
        for name in order)]
    build = ["def from_dict(cls, data, path=None):",
             "    if path is None:",
             "        path = %r" % cls.__name__,
             "    if type(data) is not dict and not isinstance(data, dict):",
             "        raise _invalid(path, 'an object', data)",
             "    get = data.get"]
    for index, spec in enumerate(specs):
        names["default%d" % index] = spec.default
        value = "v%d" % index
        if spec.factory is not None:
            names["factory%d" % index] = spec.factory
            init.append("    self.%s = factory%d() if %s is _FACTORY else %s"
                        % (spec.name, index, spec.name, spec.name))
        else:
            init.append("    self.%s = %s" % (spec.name, spec.name))
        if spec.kind == "tagged" and not spec.required:  # the union decides about null
            names["conv%d" % index] = spec.conv
            tag = ", get(%r)" % spec.sibling_tag if spec.sibling_tag else ""
            build.append("    %s = conv%d(get(%r), (path, %r)%s)"
                         % (value, index, spec.name, spec.name, tag))
            continue
        build.append("    %s = get(%r, _UNSET)" % (value, spec.name))
        build.append("    if %s is _UNSET%s:" % (
            value, "" if spec.null_ok else " or %s is None" % value))
        if spec.required:
            build.append("        raise _missing(path, %r, %s)" % (spec.name, value))
        elif spec.factory is not None:
            build.append("        %s = factory%d()" % (value, index))
        else:
            build.append("        %s = default%d" % (value, index))
        if spec.conv is None:
            continue
        names["conv%d" % index] = spec.conv
        if spec.kind == "str":  # already a str: nothing to convert
            build.append("    elif type(%s) is not str:" % value)
        elif spec.kind == "optional str":
            build.append("    elif type(%s) is not str and %s is not None:" % (value, value))
        elif spec.conv in _KEPT_AS_IS:  # a value of these types is kept as it is
            names["kept%d" % index] = _KEPT_AS_IS[spec.conv]
            build.append("    elif type(%s) not in kept%d:" % (value, index))
        elif spec.kind == "list":  # an empty list needs no converter
            build.append("    elif type(%s) is not list or %s:" % (value, value))
        elif spec.conv in _ENUM_MEMBERS:  # a str: its member, or the str itself
            names["members%d" % index] = _ENUM_MEMBERS[spec.conv]
            build.append("    elif type(%s) is str:" % value)
            build.append("        %s = members%d.get(%s, %s)" % (value, index, value, value))
            build.append("    else:")
        else:
            build.append("    else:")
        tag = ", get(%r)" % spec.sibling_tag if spec.sibling_tag else ""
        if spec.conv in _ENTITY_OF and not tag:  # the nested entity's own from_dict
            names["entity%d" % index] = _ENTITY_OF[spec.conv]
            build.append("        %s = entity%d.from_dict(%s, (path, %r))"
                         % (value, index, value, spec.name))
        else:
            build.append("        %s = conv%d(%s, (path, %r)%s)"
                         % (value, index, value, spec.name, tag))
    init.append("    self.extra = {} if extra is None else extra")
    build.append("    extra = {} if keys.issuperset(data) else {key: item for key, item in "
                 "data.items() if key not in keys}")
    build.append("    self = _new(cls)")  # what __init__ would do, without calling it
    for name in order:
        build.append("    self.%s = %s" % (name, "v%d" % positions[name] if name != "extra"
                                           else "extra"))
    build.append("    return self")
    names["keys"] = frozenset(spec.name for spec in specs)
    exec("\n".join(init), names)  # noqa: S102 - our own generated source, no input in it
    exec("\n".join(build), names)  # noqa: S102
    return names["__init__"], names["from_dict"]


class _PrepareOnFirstUse:
    """Stands as ``__init__`` and ``from_dict`` of an entity class until its first use;
    then prepares the class (which replaces it) and hands over."""

    def __init__(self, attribute: str) -> None:
        self.attribute = attribute

    def __get__(self, instance: Any, owner: Type[_Entity]) -> Any:
        _prepare(owner)
        return getattr(instance if instance is not None else owner, self.attribute)


class _EntityMeta(type):
    """Lets ``dataclasses.fields(cls)`` and friends prepare a class not used yet."""

    if not TYPE_CHECKING:
        def __getattr__(cls, name):
            if name.startswith("__dataclass_") or name == "__match_args__":
                if issubclass(cls, _Entity) and "_prepared" not in cls.__dict__ \
                        and "__init__" in cls.__dict__:
                    _prepare(cls)
                    return type.__getattribute__(cls, name)
            raise AttributeError("type object %r has no attribute %r" % (cls.__name__, name))


class _Entity(metaclass=_EntityMeta):
    """Base of every entity: ``from_dict`` with validation, ``to_dict``, unknown keys kept.

    ``extra`` holds the keys the daemon sent that this client version does not know.
    """

    if TYPE_CHECKING:
        extra: Dict[str, Any]
        _specs: ClassVar[Tuple[_FieldSpec, ...]]
        _field_names: ClassVar[Tuple[str, ...]]
        _field_keys: ClassVar[FrozenSet[str]]
        _prepared: ClassVar[bool]

        @classmethod
        def from_dict(cls: Type[_E], data: Any, path: Optional[_Path] = None) -> _E:
            """Build the entity from the daemon's JSON object, validating every field."""
            raise NotImplementedError

    def to_dict(self) -> Dict[str, Any]:
        """The entity as JSON-ready data (the daemon's wire form), unknown keys included."""
        result = {name: _dump(getattr(self, name)) for name in self._field_names}
        result.update(self.extra)
        return result


if TYPE_CHECKING:
    from dataclasses import dataclass as _entity
else:
    def _entity(cls):
        """Class decorator: declare an entity (prepared on first use, see above)."""
        cls.__init__ = _PrepareOnFirstUse("__init__")
        cls.from_dict = _PrepareOnFirstUse("from_dict")
        return cls


def _dump(value: Any) -> Any:
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
    if type(value).__name__ == "Decimal":
        return format(value, "f")  # str() would give "5E-7" for 0.0000005
    return value


def _parse(cls: Type[_E], data: Any, route: str) -> _E:
    """Validate ``data`` of a response as ``cls``; the error names the route."""
    try:
        if data is None:
            raise ResponseValidationError("the daemon's response has no data (null)", path="data")
        return cls.from_dict(data, "data")
    except ResponseValidationError as exc:
        exc.route = route
        raise


def _task_started(data: Any, route: str) -> PluginInstallTaskStartResponse:
    """An install or upgrade start: a task to follow unless all is installed already."""
    started = _parse(PluginInstallTaskStartResponse, data, route)
    if not started.all_installed and not started.task_id:
        raise ResponseValidationError("the daemon started an install without a task_id to "
                                      "follow (and all_installed is false)",
                                      path="data.task_id", route=route)
    return started


def _parse_list(cls: Type[_E], data: Any, route: str) -> List[_E]:
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


def _expect_bool(data: Any, route: str) -> bool:
    if not isinstance(data, bool):
        raise ResponseValidationError("the daemon's response data is %s, not a boolean"
                                      % _type_name(data), path="data", route=route)
    return data


# =============================================================================
# Entities: shared pieces (labels, permissions, runner, meta)
# =============================================================================


@_entity
class I18nObject(_Entity):
    """A localised text. The daemon always sends en_US and omits empty translations."""

    en_US: str = ""
    zh_Hans: Optional[str] = None
    ja_JP: Optional[str] = None
    pt_BR: Optional[str] = None

    def get(self, language: str = "en_US") -> str:
        """The text in ``language``, falling back to en_US."""
        text = getattr(self, language, None) or self.extra.get(language)
        return text if isinstance(text, str) and text else self.en_US

    def __str__(self) -> str:
        return self.en_US


@_entity
class PluginPermissions(_Entity):
    """What a plugin may do; each entry is the daemon's object for it, or None."""

    tool: Optional[Dict[str, Any]] = None
    model: Optional[Dict[str, Any]] = None
    node: Optional[Dict[str, Any]] = None
    endpoint: Optional[Dict[str, Any]] = None
    app: Optional[Dict[str, Any]] = None
    storage: Optional[Dict[str, Any]] = None


@_entity
class PluginResourceRequirements(_Entity):
    """Resources a plugin asks for: memory in bytes and permissions."""

    memory: int = 0
    permission: Optional[PluginPermissions] = None


@_entity
class PluginExtensions(_Entity):
    """The declaration files a package lists per extension kind."""

    tools: List[str] = []
    models: List[str] = []
    endpoints: List[str] = []
    agent_strategies: List[str] = []
    datasources: List[str] = []
    triggers: List[str] = []


@_entity
class PluginRunner(_Entity):
    """How the daemon runs the plugin (language, interpreter version, entrypoint)."""

    language: str = ""
    version: str = ""
    entrypoint: str = ""


@_entity
class PluginMeta(_Entity):
    """Manifest meta: manifest spec version, architectures, runner."""

    version: str = ""
    arch: List[str] = []
    runner: Optional[PluginRunner] = None
    minimum_dify_version: Optional[str] = None


@_entity
class _BoolResult(_Entity):
    """``{result}``: a yes or no (credential checks, moderation)."""

    result: bool = _REQUIRED


@_entity
class _StringResult(_Entity):
    """``{result}``: a text (speech to text)."""

    result: str = _REQUIRED


# =============================================================================
# Entities: tool providers and tools
# =============================================================================


@_entity
class ToolProviderIdentity(_Entity):
    """Who a tool provider is. After listing, ``name`` is ``plugin_id/provider_name``."""

    name: str = _REQUIRED
    author: str = ""
    label: Optional[I18nObject] = None
    description: Optional[I18nObject] = None
    icon: str = ""
    icon_dark: str = ""
    tags: List[str] = []  # any string: the tag set grows


@_entity
class ProviderConfigOption(_Entity):
    """One choice of a select-type credential."""

    value: _Text = ""
    label: Optional[I18nObject] = None


@_entity
class ProviderConfig(_Entity):
    """One credential (or OAuth setting) a provider asks for."""

    name: str = _REQUIRED
    type: str = ""
    scope: Optional[str] = None
    required: bool = False
    default: Any = None
    options: List[ProviderConfigOption] = []
    multiple: bool = False
    label: Optional[I18nObject] = None
    help: Optional[I18nObject] = None
    url: Optional[str] = None
    placeholder: Optional[I18nObject] = None


@_entity
class ToolOAuthSchema(_Entity):
    """OAuth settings of a provider: client settings and the credentials it yields."""

    client_schema: List[ProviderConfig] = []
    credentials_schema: List[ProviderConfig] = []


@_entity
class ToolParameterOption(_Entity):
    """One choice of a select parameter. ``value`` is a string (a number is made one)."""

    value: _Text = ""
    label: Optional[I18nObject] = None
    icon: str = ""


@_entity
class ToolParameter(_Entity):
    """A tool parameter as declared. ``type`` is kept as sent, so new types still load."""

    name: str = _REQUIRED
    type: str = _REQUIRED
    label: Optional[I18nObject] = None
    human_description: Optional[I18nObject] = None
    scope: Optional[str] = None
    form: str = "llm"
    llm_description: str = ""
    required: bool = False
    auto_generate: Optional[Dict[str, Any]] = None
    template: Optional[Dict[str, Any]] = None
    default: Any = None
    min: Optional[float] = None
    max: Optional[float] = None
    multiple: bool = False
    precision: Optional[int] = None
    options: List[ToolParameterOption] = []
    placeholder: Optional[I18nObject] = None
    input_schema: Optional[Dict[str, Any]] = None


@_entity
class ToolIdentity(_Entity):
    """Who a tool is. ``provider`` is filled in by the client (the daemon omits it)."""

    name: str = _REQUIRED
    author: str = ""
    label: Optional[I18nObject] = None
    provider: str = ""
    icon: Optional[str] = None


@_entity
class ToolDescription(_Entity):
    """A tool's description for people (``human``) and for the model (``llm``)."""

    human: Optional[I18nObject] = None
    llm: str = ""


@_entity
class ToolDeclaration(_Entity):
    """One tool: identity, description, parameters and output schema ($refs resolved)."""

    identity: ToolIdentity = _REQUIRED
    description: Optional[ToolDescription] = None
    parameters: List[ToolParameter] = []
    output_schema: Dict[str, Any] = {}
    has_runtime_parameters: bool = False

    def parameter(self, name: str) -> Optional[ToolParameter]:
        """The declared parameter called ``name``, or None."""
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        return None


@_entity
class ToolProviderDeclaration(_Entity):
    """A tool provider's declaration: identity, credentials and its tools."""

    identity: ToolProviderIdentity = _REQUIRED
    credentials_schema: List[ProviderConfig] = []
    oauth_schema: Optional[ToolOAuthSchema] = None
    tools: List[ToolDeclaration] = []

    def tool(self, name: str) -> Optional[ToolDeclaration]:
        """The tool called ``name``, or None."""
        return _named(self.tools, name)

    def members(self) -> List[ToolDeclaration]:
        return self.tools


class _ProviderNaming:
    """``full_name`` of an installed provider entity (one with ``plugin_id`` and
    ``provider``), and the naming of its declaration's members by it. No fields: the
    entities keep their own, in their own order."""

    if TYPE_CHECKING:
        plugin_id: str
        provider: str

    @property
    def full_name(self) -> str:
        """``plugin_id/provider``, e.g. ``acme/search/search``: the form the client's
        methods take (``invoke`` as ``tool_provider``)."""
        return "%s/%s" % (self.plugin_id, self.provider)

    def _name_members(self) -> None:
        """Write the full name into ``declaration.identity.name`` and into each
        member's ``identity.provider``."""
        declaration: Any = getattr(self, "declaration", None)
        if declaration is None:
            return
        declaration.identity.name = self.full_name
        for member in declaration.members():
            member.identity.provider = self.full_name


@_entity
class PluginToolProviderEntity(_ProviderNaming, _Entity):
    """A tool provider installed for a tenant.

    ``provider`` is the short provider name; ``declaration.identity.name`` and every
    tool's ``identity.provider`` are ``full_name`` (``plugin_id/provider``), the form
    ``invoke`` takes. (The fields are in the seed's order: positional construction
    keeps working.)
    """

    provider: str = _REQUIRED
    plugin_id: str = _REQUIRED
    plugin_unique_identifier: str = ""
    declaration: Optional[ToolProviderDeclaration] = None
    id: Optional[str] = None
    tenant_id: Optional[str] = None
    created_at: Optional[datetime] = None
    updated_at: Optional[datetime] = None


@_entity
class _InstalledProvider(_ProviderNaming, _Entity):
    """What the daemon lists for every installed provider of the other kinds (agent
    strategies, datasources, triggers): the installation row; each kind adds its
    ``declaration``."""

    provider: str = _REQUIRED
    plugin_id: str = _REQUIRED
    plugin_unique_identifier: str = ""
    id: Optional[str] = None
    tenant_id: Optional[str] = None
    created_at: Optional[datetime] = None
    updated_at: Optional[datetime] = None


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

    name: str = _REQUIRED
    version: str = _REQUIRED
    author: str = ""
    type: str = "plugin"
    label: Optional[I18nObject] = None
    description: Optional[I18nObject] = None
    icon: str = ""
    icon_dark: str = ""
    resource: Optional[PluginResourceRequirements] = None
    plugins: Optional[PluginExtensions] = None
    meta: Optional[PluginMeta] = None
    tags: List[str] = []
    created_at: Optional[datetime] = None
    privacy: Optional[str] = None
    repo: Optional[str] = None
    verified: bool = False
    tool: Optional[ToolProviderDeclaration] = None
    model: Optional[Dict[str, Any]] = None
    endpoint: Optional[Dict[str, Any]] = None
    agent_strategy: Optional[Dict[str, Any]] = None
    datasource: Optional[Dict[str, Any]] = None
    trigger: Optional[Dict[str, Any]] = None

    @property
    def category(self) -> str:
        """tool, model, datasource, agent-strategy, trigger or extension (as Dify derives it)."""
        for attribute, category in _PLUGIN_CATEGORY_ORDER:
            if getattr(self, attribute):
                return category
        return "extension"


@_entity
class PluginReadme(_Entity):
    """A package's README: ``content`` (markdown) and the ``language`` the daemon
    answered with (it falls back to en_US when the asked one is missing)."""

    content: str = ""
    language: Optional[str] = None


@_entity
class PluginVerification(_Entity):
    """Who signed a package: langgenius, partner or community."""

    authorized_category: str = _REQUIRED


@_entity
class PluginDecodeResponse(_Entity):
    """A decoded package: its unique identifier, manifest and signature verification."""

    unique_identifier: str = _REQUIRED
    manifest: PluginDeclaration = _REQUIRED
    verification: Optional[PluginVerification] = None


@_entity
class GithubDependency(_Entity):
    """A bundle dependency released on GitHub."""

    repo: str = ""
    release: str = ""
    packages: str = ""
    repo_address: str = ""


@_entity
class MarketplaceDependency(_Entity):
    """A bundle dependency from the marketplace."""

    organization: str = ""
    plugin: str = ""
    version: str = ""


@_entity
class PackageDependency(_Entity):
    """A package carried inside the bundle (already uploaded by the daemon)."""

    unique_identifier: str = _REQUIRED
    manifest: Optional[PluginDeclaration] = None


_TAGGED_UNIONS["BundleDependencyValue"] = _TaggedUnion(
    "type", {"github": GithubDependency, "marketplace": MarketplaceDependency,
             "package": PackageDependency}, sibling=True)
if TYPE_CHECKING:
    #: What a bundle dependency holds, by its ``type``; another type keeps the raw object.
    BundleDependencyValue = Union[GithubDependency, MarketplaceDependency, PackageDependency,
                                  Dict[str, Any]]


@_entity
class PluginBundleDependency(_Entity):
    """One dependency of a bundle. ``value`` is typed by ``type`` (github, marketplace,
    package); an unknown type keeps the daemon's object."""

    type: str = _REQUIRED
    value: BundleDependencyValue = _REQUIRED


@_entity
class PluginInstallTaskStartResponse(_Entity):
    """Answer to an install or upgrade.

    ``all_installed`` true means the daemon had nothing to wait for: the exact
    packages already ran on the daemon (for any tenant), and it has just installed
    them for this tenant, synchronously. Otherwise ``task_id`` names the task to follow.
    """

    all_installed: bool = _REQUIRED
    task_id: str = ""


@_entity
class PluginInstallTaskPluginStatus(_Entity):
    """One plugin of an install task, with its status and latest progress message."""

    plugin_unique_identifier: str = _REQUIRED
    plugin_id: str = ""
    status: Union[PluginInstallTaskStatus, str] = _REQUIRED
    message: str = ""
    icon: str = ""
    icon_dark: str = ""
    labels: Optional[I18nObject] = None
    source: Optional[str] = None


@_entity
class PluginInstallTask(_Entity):
    """An install (or upgrade) task and the status of each of its plugins."""

    id: str = _REQUIRED
    status: Union[PluginInstallTaskStatus, str] = _REQUIRED
    tenant_id: str = ""
    total_plugins: int = 0
    completed_plugins: int = 0
    plugins: List[PluginInstallTaskPluginStatus] = []
    created_at: Optional[datetime] = None
    updated_at: Optional[datetime] = None

    @property
    def finished(self) -> bool:
        return self.status in (PluginInstallTaskStatus.Success, PluginInstallTaskStatus.Failed)


@_entity
class MissingPluginDependency(_Entity):
    """A wanted identifier that is not installed; ``current_identifier`` is the installed
    version of the same plugin, or empty when none is installed."""

    plugin_unique_identifier: str = _REQUIRED
    current_identifier: Optional[str] = None


@_entity
class PluginInstallation(_Entity):
    """A plugin installed for a tenant. ``id`` is the installation id ``uninstall`` takes."""

    id: str = _REQUIRED
    plugin_id: str = _REQUIRED
    plugin_unique_identifier: str = _REQUIRED
    tenant_id: str = ""
    version: str = ""
    checksum: str = ""
    runtime_type: str = ""
    source: Union[PluginInstallationSource, str] = ""
    meta: Dict[str, Any] = {}
    endpoints_setups: int = 0
    endpoints_active: int = 0
    declaration: Optional[PluginDeclaration] = None
    created_at: Optional[datetime] = None
    updated_at: Optional[datetime] = None


@_entity
class PluginEntity(PluginInstallation):
    """A plugin as listed: an installation plus its ``name`` and ``installation_id``."""

    name: str = ""
    installation_id: str = ""


@_entity
class PluginListResponse(_Entity):
    """One page of installed plugins and the tenant's total count."""

    total: int = _REQUIRED
    list: List[PluginEntity] = []


@_entity
class DaemonHealth(_Entity):
    """The daemon's /health/check answer."""

    status: str = _REQUIRED
    version: str = ""
    build_time: str = ""
    platform: str = ""
    pool_status: Optional[Dict[str, Any]] = None
    active_requests: Optional[int] = None
    active_dispatch_requests: Optional[int] = None


# =============================================================================
# Entities: stream messages
# =============================================================================
#
# Tool invocations (and agent strategies and datasources, which share the shape)
# stream messages {type, message, meta}; `message` is typed by `type`.


@_entity
class TextMessage(_Entity):
    """``text``, and the URL of ``link``, ``image``, ``image_link`` and ``binary_link``."""

    text: str = _REQUIRED


@_entity
class JsonMessage(_Entity):
    """A JSON result. ``data`` is the same object as ``json_object``."""

    json_object: Any = None
    suppress_output: bool = False

    @property
    def data(self) -> Any:
        return self.json_object


@_entity
class BlobMessage(_Entity):
    """Binary content, base64-decoded (or merged from ``blob_chunk`` pieces)."""

    blob: bytes = _REQUIRED


@_entity
class BlobChunkMessage(_Entity):
    """One piece of a blob: pieces with the same ``id`` end with one whose ``end`` is true."""

    id: str = _REQUIRED
    sequence: int = 0
    total_length: int = 0
    blob: bytes = b""
    end: bool = False


@_entity
class VariableMessage(_Entity):
    """A workflow variable; with ``stream`` true the value is one text fragment."""

    variable_name: str = _REQUIRED
    variable_value: Any = None
    stream: bool = False


@_entity
class LogMessage(_Entity):
    """A step log of the tool; ``parent_id`` links nested steps."""

    id: str = ""
    label: str = ""
    parent_id: Optional[str] = None
    error: Optional[str] = None
    status: str = ""
    data: Dict[str, Any] = {}
    metadata: Dict[str, Any] = {}


@_entity
class RetrieverResourceMessage(_Entity):
    """Retrieved knowledge items and the context built from them."""

    retriever_resources: List[Dict[str, Any]] = []
    context: str = ""


@_entity
class FileMessage(_Entity):
    """A ``file`` message: the daemon passes the plugin's object through, kept in ``data``."""

    data: Any = None

    def to_dict(self) -> Any:
        return _dump(self.data)


@_entity
class UnknownMessage(_Entity):
    """A message of a type this client version does not know, kept as sent."""

    data: Any = None

    def to_dict(self) -> Any:
        return _dump(self.data)


def _text_message(raw: Any, path: _Path) -> TextMessage:
    """The common case on its own short path: a dict with one string ``text``."""
    if type(raw) is dict and len(raw) == 1:
        text = raw.get("text")
        if type(text) is str:
            return TextMessage(text)
    return TextMessage.from_dict(raw, path)


def _json_message(raw: Any, path: _Path) -> JsonMessage:
    if not isinstance(raw, dict):
        raise _invalid(path, "an object", raw)
    if "json_object" not in raw:  # as Dify does: a bare object is the JSON itself
        return JsonMessage(json_object=raw)
    return JsonMessage.from_dict(raw, path)


_TAGGED_UNIONS["ToolMessagePayload"] = _TaggedUnion(
    "type", {"text": _text_message, "link": _text_message, "image": _text_message,
             "image_link": _text_message, "binary_link": _text_message,
             "json": _json_message, "blob": BlobMessage, "blob_chunk": BlobChunkMessage,
             "variable": VariableMessage, "log": LogMessage,
             "retriever_resources": RetrieverResourceMessage,
             "file": lambda raw, path: FileMessage(data=raw)},
    sibling=True, unknown=lambda raw, path: UnknownMessage(data=raw), null_ok=("file",))
if TYPE_CHECKING:
    #: The ``message`` of a stream message, by its ``type``.
    ToolMessagePayload = Union[TextMessage, JsonMessage, BlobMessage, BlobChunkMessage,
                               VariableMessage, LogMessage, RetrieverResourceMessage,
                               FileMessage, UnknownMessage, None]


@_entity
class ToolInvokeMessage(_Entity):
    """One message of a tool invoke stream.

    ``type`` is the daemon's string (text, json, blob, blob_chunk, link, image, image_link,
    binary_link, file, variable, log, retriever_resources, or a newer one); ``message`` is
    typed by it (:class:`UnknownMessage` for types this version does not know); ``meta``
    is the plugin's free-form metadata (mime_type, filename, ...).
    """

    type: str = _REQUIRED
    message: ToolMessagePayload = None
    meta: Optional[Dict[str, Any]] = None


# =============================================================================
# Entities: models
# =============================================================================
#
# Model providers as the daemon lists them (a provider declaration with its predefined
# models), what model calls send (prompt messages, content parts, tools) and what they
# answer (LLM chunks and results, embeddings, rerank, voices, polling). Prices travel as
# decimal strings and are Decimal here. Enum fields keep values this version does not
# know as plain strings. Member names follow Dify's (ModelType.LLM, ...).


class ModelType(_StrEnum):
    """What a model does: the ``model_type`` strings of the daemon and of Dify."""

    LLM = "llm"
    TEXT_EMBEDDING = "text-embedding"
    RERANK = "rerank"
    SPEECH2TEXT = "speech2text"
    MODERATION = "moderation"
    TTS = "tts"
    TEXT2IMG = "text2img"


class ModelFeature(_StrEnum):
    """A capability a model declares (``features``)."""

    TOOL_CALL = "tool-call"
    MULTI_TOOL_CALL = "multi-tool-call"
    AGENT_THOUGHT = "agent-thought"
    VISION = "vision"
    STREAM_TOOL_CALL = "stream-tool-call"
    DOCUMENT = "document"
    VIDEO = "video"
    AUDIO = "audio"
    STRUCTURED_OUTPUT = "structured-output"
    POLLING = "polling"


class PromptMessageRole(_StrEnum):
    """Who speaks in a prompt message."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"
    DEVELOPER = "developer"


class ModelPollingStatus(_StrEnum):
    """Where a polled LLM call stands."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


# --- provider declarations ------------------------------------------------------


@_entity
class ProviderHelp(_Entity):
    """Where a provider sends people for help: a title and a URL, both localised."""

    title: Optional[I18nObject] = None
    url: Optional[I18nObject] = None


@_entity
class FormShowOnObject(_Entity):
    """Show a form field only while ``variable`` has ``value``."""

    variable: str = ""
    value: _Text = ""


@_entity
class FormOption(_Entity):
    """One choice of a select or radio credential field."""

    label: Optional[I18nObject] = None
    value: _Text = ""
    show_on: List[FormShowOnObject] = []


@_entity
class CredentialFormSchema(_Entity):
    """One credential field a provider (or a customizable model) asks for."""

    variable: str = _REQUIRED
    label: Optional[I18nObject] = None
    type: str = ""  # text-input, secret-input, select, radio, switch, ...
    required: bool = False
    default: Any = None
    options: List[FormOption] = []
    placeholder: Optional[I18nObject] = None
    max_length: int = 0
    show_on: List[FormShowOnObject] = []
    help: Optional[I18nObject] = None
    url: Optional[str] = None


@_entity
class ProviderCredentialSchema(_Entity):
    """The credential fields of a provider."""

    credential_form_schemas: List[CredentialFormSchema] = []


@_entity
class FieldModelSchema(_Entity):
    """How the model name field of a customizable model is shown."""

    label: Optional[I18nObject] = None
    placeholder: Optional[I18nObject] = None


@_entity
class ModelCredentialSchema(_Entity):
    """The fields a customizable model asks for: its name and its credentials."""

    model: Optional[FieldModelSchema] = None
    credential_form_schemas: List[CredentialFormSchema] = []


@_entity
class ParameterRule(_Entity):
    """One parameter a model takes (``model_parameters``), with its bounds and default."""

    name: str = _REQUIRED
    use_template: Optional[str] = None
    label: Optional[I18nObject] = None
    type: str = ""  # float, int, string, boolean, text, ...
    help: Optional[I18nObject] = None
    required: bool = False
    default: Any = None
    min: Optional[float] = None
    max: Optional[float] = None
    precision: Optional[int] = None
    options: List[_Text] = []


@_entity
class PriceConfig(_Entity):
    """A model's prices: ``input`` (and ``output``) per ``unit`` tokens, in ``currency``."""

    input: Decimal = _REQUIRED
    output: Optional[Decimal] = None
    unit: Decimal = _REQUIRED
    currency: str = ""


@_entity
class AIModelEntity(_Entity):
    """A model's declaration (the daemon's ModelDeclaration, Dify's AIModelEntity)."""

    model: str = _REQUIRED
    label: Optional[I18nObject] = None
    model_type: Union[ModelType, str] = _REQUIRED
    features: List[Union[ModelFeature, str]] = []
    fetch_from: str = ""  # predefined-model or customizable-model
    model_properties: Dict[str, Any] = {}
    deprecated: bool = False
    parameter_rules: List[ParameterRule] = []
    pricing: Optional[PriceConfig] = None

    def parameter_rule(self, name: str) -> Optional[ParameterRule]:
        """The parameter rule called ``name``, or None."""
        return _named(self.parameter_rules, name)

    def has_feature(self, feature: Union[ModelFeature, str]) -> bool:
        return str(feature) in [str(item) for item in self.features]


@_entity
class ModelProviderDeclaration(_Entity):
    """A model provider's declaration: who it is, its credentials and its models."""

    provider: str = _REQUIRED
    label: Optional[I18nObject] = None
    description: Optional[I18nObject] = None
    icon_small: Optional[I18nObject] = None
    icon_large: Optional[I18nObject] = None
    icon_small_dark: Optional[I18nObject] = None
    icon_large_dark: Optional[I18nObject] = None
    background: Optional[str] = None
    help: Optional[ProviderHelp] = None
    supported_model_types: List[Union[ModelType, str]] = []
    configurate_methods: List[str] = []  # predefined-model, customizable-model
    provider_credential_schema: Optional[ProviderCredentialSchema] = None
    model_credential_schema: Optional[ModelCredentialSchema] = None
    position: Dict[str, Any] = {}
    models: List[AIModelEntity] = []

    def model(self, name: str, model_type: Union[ModelType, str, None] = None
              ) -> Optional[AIModelEntity]:
        """The predefined model called ``name`` (of ``model_type``, if given), or None."""
        for entity in self.models:
            if entity.model == name and (model_type is None
                                         or str(entity.model_type) == str(model_type)):
                return entity
        return None

    def models_by_type(self) -> Dict[str, List[AIModelEntity]]:
        """The predefined models grouped by model type, in declaration order."""
        groups: Dict[str, List[AIModelEntity]] = {}
        for entity in self.models:
            groups.setdefault(str(entity.model_type), []).append(entity)
        return groups


@_entity
class PluginModelProviderEntity(_Entity):
    """A model provider installed for a tenant, with its declaration.

    ``plugin_id`` and ``provider`` are what the model calls take; ``full_name`` is
    ``plugin_id/provider`` (the form the CLI takes).
    """

    id: Optional[str] = None
    created_at: Optional[datetime] = None
    updated_at: Optional[datetime] = None
    provider: str = _REQUIRED
    tenant_id: Optional[str] = None
    plugin_unique_identifier: str = ""
    plugin_id: str = _REQUIRED
    declaration: Optional[ModelProviderDeclaration] = None

    @property
    def full_name(self) -> str:
        return "%s/%s" % (self.plugin_id, self.provider)


# --- prompt messages: what an LLM call sends ---------------------------------------


@_entity
class PromptMessageContent(_Entity):
    """Base of the content parts of a prompt message (``type`` says which)."""

    type: str = _REQUIRED
    opaque_body: Any = None


@_entity
class TextPromptMessageContent(PromptMessageContent):
    """A text part: ``TextPromptMessageContent(data="describe this")``."""

    type: str = "text"
    data: str = ""


@_entity
class MultiModalPromptMessageContent(PromptMessageContent):
    """A file part, by ``url`` or by ``base64_data``; plugins need ``format`` (e.g. "png")
    and ``mime_type``."""

    format: str = ""
    base64_data: str = ""
    url: str = ""
    mime_type: str = ""
    filename: str = ""


@_entity
class ImagePromptMessageContent(MultiModalPromptMessageContent):
    """An image part; ``detail`` is "low" or "high" (sent as "low" when not given)."""

    type: str = "image"
    detail: Optional[str] = None


@_entity
class AudioPromptMessageContent(MultiModalPromptMessageContent):
    """An audio part."""

    type: str = "audio"


@_entity
class VideoPromptMessageContent(MultiModalPromptMessageContent):
    """A video part."""

    type: str = "video"


@_entity
class DocumentPromptMessageContent(MultiModalPromptMessageContent):
    """A document part (a PDF, ...)."""

    type: str = "document"


_TAGGED_UNIONS["PromptMessageContentUnion"] = _TaggedUnion(
    "type", {"text": TextPromptMessageContent, "image": ImagePromptMessageContent,
             "audio": AudioPromptMessageContent, "video": VideoPromptMessageContent,
             "document": DocumentPromptMessageContent})
if TYPE_CHECKING:
    #: A content part, by its ``type``; another type keeps the daemon's object.
    PromptMessageContentUnion = Union[TextPromptMessageContent, ImagePromptMessageContent,
                                      AudioPromptMessageContent, VideoPromptMessageContent,
                                      DocumentPromptMessageContent, Dict[str, Any]]
    #: What a prompt message holds: a text, a list of content parts, or nothing.
    PromptMessageContentValue = Union[str, List[PromptMessageContentUnion], None]


def _conv_prompt_content(value: Any, path: _Path) -> Any:
    """A message's ``content``: a string, a list of typed content parts, or null."""
    if value is None or type(value) is str:
        return value
    if type(value) is list:
        union = _TAGGED_UNIONS["PromptMessageContentUnion"]
        return [union.convert(part, (path, index)) for index, part in enumerate(value)]
    raise _invalid(path, "a string or an array of content parts", value)


_SIMPLE_CONVERTERS["PromptMessageContentValue"] = _conv_prompt_content
_KEPT_AS_IS[_conv_prompt_content] = frozenset([str])  # a text content needs no conversion


def _content_text(content: Any) -> str:
    """The text of a message's content: the string, or its text parts joined."""
    if isinstance(content, str):
        return content
    if not content:
        return ""
    return "".join(part.data for part in content if isinstance(part, TextPromptMessageContent))


@_entity
class PromptMessageTool(_Entity):
    """A tool the model may call: a name, a description and a JSON Schema of its
    parameters."""

    name: str = _REQUIRED
    description: str = ""
    parameters: Dict[str, Any] = {}


@_entity
class AssistantToolCallFunction(_Entity):
    """The function of a tool call: its name and its ``arguments`` as JSON text."""

    name: str = ""
    arguments: str = ""

    def parsed_arguments(self) -> Any:
        """``arguments`` decoded from JSON (ValueError if it is not JSON)."""
        return _loads(self.arguments) if self.arguments else {}


@_entity
class AssistantToolCall(_Entity):
    """A tool call the model made (Dify's AssistantPromptMessage.ToolCall)."""

    id: _Text = ""
    type: str = "function"
    function: Optional[AssistantToolCallFunction] = None


@_entity
class PromptMessage(_Entity):
    """A message of a prompt. Build the typed ones: ``SystemPromptMessage(content=...)``,
    ``UserPromptMessage``, ``AssistantPromptMessage``, ``ToolPromptMessage``.

    ``content`` is a string, a list of content parts, or None.
    """

    role: Union[PromptMessageRole, str] = _REQUIRED
    content: PromptMessageContentValue = None
    name: Optional[str] = None

    @property
    def text(self) -> str:
        """The text of the content (a list's text parts, joined)."""
        return _content_text(self.content)


@_entity
class SystemPromptMessage(PromptMessage):
    """``SystemPromptMessage(content="You are terse.")``."""

    role: Union[PromptMessageRole, str] = PromptMessageRole.SYSTEM


@_entity
class UserPromptMessage(PromptMessage):
    """``UserPromptMessage(content="hello")`` or with a list of content parts."""

    role: Union[PromptMessageRole, str] = PromptMessageRole.USER


@_entity
class DeveloperPromptMessage(PromptMessage):
    """``DeveloperPromptMessage(content=...)`` (models that take developer messages)."""

    role: Union[PromptMessageRole, str] = PromptMessageRole.DEVELOPER


@_entity
class AssistantPromptMessage(PromptMessage):
    """What the model said: ``content`` and the ``tool_calls`` it made."""

    role: Union[PromptMessageRole, str] = PromptMessageRole.ASSISTANT
    tool_calls: List[AssistantToolCall] = []
    tool_call_id: str = ""  # the daemon writes it ("") on every message it re-encodes
    opaque_body: Any = None


@_entity
class ToolPromptMessage(PromptMessage):
    """A tool's answer to the call ``tool_call_id``."""

    role: Union[PromptMessageRole, str] = PromptMessageRole.TOOL
    tool_call_id: str = ""


_TAGGED_UNIONS["PromptMessageUnion"] = _TaggedUnion(
    "role", {"system": SystemPromptMessage, "user": UserPromptMessage,
             "assistant": AssistantPromptMessage, "tool": ToolPromptMessage,
             "developer": DeveloperPromptMessage},
    unknown=lambda value, path: PromptMessage.from_dict(value, path))
if TYPE_CHECKING:
    #: A prompt message, by its ``role``.
    PromptMessageUnion = Union[SystemPromptMessage, UserPromptMessage, AssistantPromptMessage,
                               ToolPromptMessage, DeveloperPromptMessage, PromptMessage]


@_entity
class MultimodalInput(_Entity):
    """A query or document of multimodal embedding and rerank (Dify's
    MultimodalRerankInput): ``content`` (text, or base64 for an image) and its
    ``content_type`` ("text" or "image")."""

    content: str = ""
    content_type: str = "text"


# --- model answers --------------------------------------------------------------


@_entity
class LLMUsage(_Entity):
    """Tokens and prices of an LLM call (prices are Decimal; ``latency`` in seconds)."""

    prompt_tokens: int = 0
    prompt_unit_price: Decimal = _REQUIRED
    prompt_price_unit: Decimal = _REQUIRED
    prompt_price: Decimal = _REQUIRED
    completion_tokens: int = 0
    completion_unit_price: Decimal = _REQUIRED
    completion_price_unit: Decimal = _REQUIRED
    completion_price: Decimal = _REQUIRED
    total_tokens: int = 0
    total_price: Decimal = _REQUIRED
    currency: str = ""
    latency: float = 0.0


@_entity
class LLMResultChunkDelta(_Entity):
    """What one chunk adds: a piece of the message; ``usage`` and ``finish_reason``
    come with the last chunk."""

    index: int = 0
    message: AssistantPromptMessage = _REQUIRED
    usage: Optional[LLMUsage] = None
    finish_reason: Optional[str] = None


@_entity
class LLMResultChunk(_Entity):
    """One chunk of a streamed LLM answer. ``text`` is the piece of text it adds."""

    model: str = ""
    system_fingerprint: Optional[str] = None
    delta: LLMResultChunkDelta = _REQUIRED
    prompt_messages: List[PromptMessageUnion] = []

    @property
    def text(self) -> str:
        return _content_text(self.delta.message.content)


@_entity
class LLMResult(_Entity):
    """A whole LLM answer: the message, its usage and (assembled from chunks) the
    finish reason."""

    model: str = ""
    prompt_messages: List[PromptMessageUnion] = []
    message: AssistantPromptMessage = _REQUIRED
    usage: Optional[LLMUsage] = None
    system_fingerprint: Optional[str] = None
    finish_reason: Optional[str] = None

    @property
    def text(self) -> str:
        return _content_text(self.message.content)


@_entity
class ModelPollingResult(_Entity):
    """Where a polled LLM call stands: ``running`` (pass ``plugin_state`` to the next
    check, after ``next_check_after_seconds``), ``succeeded`` (``result``) or
    ``failed`` (``error``)."""

    status: Union[ModelPollingStatus, str] = _REQUIRED
    plugin_state: Optional[Dict[str, Any]] = None
    result: Optional[LLMResult] = None
    error: Optional[str] = None
    next_check_after_seconds: Optional[float] = None
    expires_after_seconds: Optional[float] = None
    max_attempts: Optional[int] = None

    @property
    def finished(self) -> bool:
        return self.status in (ModelPollingStatus.SUCCEEDED, ModelPollingStatus.FAILED)


@_entity
class EmbeddingUsage(_Entity):
    """Tokens and prices of an embedding call."""

    tokens: int = 0
    total_tokens: int = 0
    unit_price: Decimal = _REQUIRED
    price_unit: Decimal = _REQUIRED
    total_price: Decimal = _REQUIRED
    currency: str = ""
    latency: float = 0.0


@_entity
class EmbeddingResult(_Entity):
    """Embeddings, one vector per text (or document), in the order given."""

    model: str = ""
    embeddings: List[List[float]] = _REQUIRED
    usage: Optional[EmbeddingUsage] = None


@_entity
class RerankDocument(_Entity):
    """A ranked document: its ``index`` in the docs given, its text and score."""

    index: int = _REQUIRED
    text: str = ""
    score: float = _REQUIRED


@_entity
class RerankResult(_Entity):
    """Documents ranked best first (filtered by score_threshold and top_n)."""

    model: str = ""
    docs: List[RerankDocument] = []


@_entity
class TTSModelVoice(_Entity):
    """A voice a TTS model offers: ``name`` to show, ``value`` to pass as ``voice``."""

    name: str = ""
    value: str = ""


@_entity
class CredentialsValidationResult(_Entity):
    """A credential check that passed: ``result`` and the credentials the plugin hands
    back (a plugin may fill in or normalise some). True in a boolean context when
    ``result`` is; a failed check raises instead. Its repr never shows the credentials.
    """

    result: bool = _REQUIRED
    credentials: Dict[str, Any] = {}

    def __bool__(self) -> bool:
        return bool(self.result)

    def __repr__(self) -> str:
        return "CredentialsValidationResult(result=%r, credentials=<%d hidden>)" % (
            self.result, len(self.credentials))


# The daemon's chunk of each single-answer model route (internal: methods return the
# value inside).


@_entity
class _LLMNumTokens(_Entity):
    """llm/num_tokens: ``{num_tokens}``."""

    num_tokens: int = _REQUIRED


@_entity
class _TextEmbeddingNumTokens(_Entity):
    """text_embedding/num_tokens: ``{num_tokens: [...]}``."""

    num_tokens: List[int] = _REQUIRED


@_entity
class _TTSChunk(_Entity):
    """One piece of TTS audio: ``result`` is the audio (hex on the wire, decoded)."""

    result: _HexBytes = _REQUIRED
    mime_type: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        """As the daemon sends it: the audio in hex."""
        data = super().to_dict()
        data["result"] = self.result.hex()
        return data


@_entity
class _TTSVoices(_Entity):
    """tts/model/voices: ``{voices}``."""

    voices: List[TTSModelVoice] = []


@_entity
class _ModelSchema(_Entity):
    """model/schema: ``{model_schema}`` (null for a model the plugin does not know)."""

    model_schema: Optional[AIModelEntity] = _REQUIRED  # null is an answer; missing is not


# =============================================================================
# Entities: tool extras, OAuth and dynamic select
# =============================================================================


@_entity
class _RuntimeParameters(_Entity):
    """``{parameters}``: a tool's parameters as its plugin computes them at run time."""

    parameters: List[ToolParameter] = _REQUIRED


@_entity
class PluginOAuthAuthorizationUrlResponse(_Entity):
    """Where to send the user to authorize: the provider's authorization URL."""

    authorization_url: str = _REQUIRED


@_entity
class PluginOAuthCredentialsResponse(_Entity):
    """Credentials an OAuth flow produced (or refreshed).

    ``expires_at`` is a Unix time in seconds, -1 when they do not expire; ``metadata``
    is what the plugin tells about the account (name, avatar...), often empty. The repr
    never shows the credentials' values.
    """

    credentials: Dict[str, Any] = _REQUIRED
    expires_at: int = -1
    metadata: Dict[str, Any] = {}

    def __repr__(self) -> str:
        return "PluginOAuthCredentialsResponse(credentials=<%s hidden>, expires_at=%r)" % (
            ", ".join(sorted(self.credentials)) or "none", self.expires_at)


@_entity
class PluginDynamicSelectOptionsResponse(_Entity):
    """The choices a plugin offers for a dynamic-select parameter."""

    options: List[ToolParameterOption] = _REQUIRED


# =============================================================================
# Entities: management additions
# =============================================================================

#: The daemon's plugin categories (PluginDeclaration.category gives one of these).
PLUGIN_CATEGORIES = ("tool", "model", "extension", "agent-strategy", "datasource", "trigger")
_CATEGORY_RE = _Regex(r"[a-z][a-z_-]{0,31}\Z")


@_entity
class PluginListWithoutTotalResponse(_Entity):
    """One page of a category's installed plugins. The daemon tells no total, only
    whether another page follows (``has_more``)."""

    list: List[PluginEntity] = []
    has_more: bool = _REQUIRED


@_entity
class ModelPluginBinding(_Entity):
    """One model provider installed for a tenant, and the plugin installation behind it."""

    provider: str = _REQUIRED
    plugin_id: str = _REQUIRED
    plugin_unique_identifier: str = ""
    installation_id: str = ""
    runtime_type: str = ""
    source: Union[PluginInstallationSource, str] = ""
    version: str = ""
    verified: bool = False


@_entity
class _InstalledPluginIds(_Entity):
    """``{plugin_ids}``: installed plugin ids of one category."""

    plugin_ids: List[str] = []


@_entity
class _DebuggingKey(_Entity):
    """``{key}``: a tenant's remote-debugging key."""

    key: str = _REQUIRED


# =============================================================================
# Entities: installed providers and their parameters
# =============================================================================
#
# Agent strategy, datasource and trigger providers are listed by the daemon the way
# tool providers are: the installation row (plugin id, provider name) plus the
# provider's declaration. Their parameters share one shape (Dify's PluginParameter).

if TYPE_CHECKING:
    _N = TypeVar("_N")
    _P = TypeVar("_P", bound="_InstalledProvider")


@_entity
class PluginParameter(_Entity):
    """A parameter of an agent strategy, a datasource, a trigger event or a trigger
    subscription. ``type`` is kept as sent (string, number, select, model-selector,
    array[tools], dynamic-select, ...)."""

    name: str = _REQUIRED
    type: str = ""
    label: Optional[I18nObject] = None
    help: Optional[I18nObject] = None
    description: Optional[I18nObject] = None
    placeholder: Optional[I18nObject] = None
    scope: Optional[str] = None
    required: bool = False
    default: Any = None
    min: Optional[float] = None
    max: Optional[float] = None
    precision: Optional[int] = None
    multiple: bool = False
    options: List[ToolParameterOption] = []
    auto_generate: Optional[Dict[str, Any]] = None
    template: Optional[Dict[str, Any]] = None


def _named(items: Sequence[_N], name: str) -> Optional[_N]:
    """The item whose ``identity.name`` (or ``name``) is ``name``, or None."""
    for item in items:
        identity = getattr(item, "identity", None)
        if getattr(identity if identity is not None else item, "name", None) == name:
            return item
    return None


# =============================================================================
# Entities: endpoints
# =============================================================================


@_entity
class EndpointDeclaration(_Entity):
    """One route of an endpoint group: ``method`` and ``path`` (werkzeug rule syntax,
    e.g. ``/items/<path:rest>``); ``hidden`` routes are not shown in Dify's UI."""

    path: str = _REQUIRED
    method: str = ""
    hidden: bool = False


@_entity
class EndpointProviderDeclaration(_Entity):
    """A plugin's endpoint group: the settings an endpoint needs and its routes."""

    settings: List[ProviderConfig] = []
    endpoints: List[EndpointDeclaration] = []

    def secret_settings(self) -> List[str]:
        """Names of the settings of type secret-input (masked in listings)."""
        return [config.name for config in self.settings if config.type == "secret-input"]


@_entity
class Endpoint(_Entity):
    """An endpoint set up for a tenant (the daemon's endpoint row).

    The daemon serves it publicly under ``/e/{hook_id}/...``; :meth:`url` builds that
    URL from a base URL you give (the daemon returns none). ``settings`` come as the
    daemon lists them: secret-input values masked (``se************23``); sending a
    masked value back in :meth:`DifyPluginClient.update_endpoint` keeps the stored
    secret. An endpoint whose plugin is no longer installed lists with empty
    settings and an empty declaration.
    """

    id: str = _REQUIRED
    hook_id: str = _REQUIRED
    name: str = ""
    plugin_id: str = ""
    tenant_id: str = ""
    user_id: str = ""
    enabled: bool = False
    settings: Dict[str, Any] = {}
    declaration: Optional[EndpointProviderDeclaration] = None
    expired_at: Optional[datetime] = None
    created_at: Optional[datetime] = None
    updated_at: Optional[datetime] = None

    def url(self, base_url: str, path: str = "") -> str:
        """This endpoint's public URL (see :func:`endpoint_url`)."""
        return endpoint_url(base_url, self.hook_id, path)

    def masked_settings(self, mask: str = "****") -> Dict[str, Any]:
        """``settings`` with every secret-input value replaced by ``mask`` (the daemon's
        own masking keeps the first and last two characters of longer secrets)."""
        secret = set(self.declaration.secret_settings()) if self.declaration else set()
        return {name: mask if name in secret and value not in (None, "") else value
                for name, value in self.settings.items()}


_HOOK_ID_RE = _Regex(r"[A-Za-z0-9_-]{1,128}\Z")


def endpoint_url(base_url: str, hook_id: str, path: str = "") -> str:
    """The public URL of an endpoint: the daemon serves every endpoint under
    ``/e/{hook_id}/...`` and never returns a URL itself.

    ``base_url`` is where callers reach the daemon's ``/e/`` routes: the daemon's own
    URL (``http://daemon:5002``), the public address a proxy gives it, or a template
    holding ``{hook_id}`` as Dify's ``ENDPOINT_URL_TEMPLATE`` does
    (``https://dify.example.com/e/{hook_id}``). ``path`` is a route of the endpoint
    group (``/echo``, optionally with ``?query``); it is percent-encoded where needed.
    """
    import urllib.parse

    if not isinstance(base_url, str) or not base_url.strip():
        raise InvalidArgumentError("base_url must be a non-empty URL, got %r" % (base_url,),
                                   argument="base_url")
    if not isinstance(hook_id, str) or not _HOOK_ID_RE.match(hook_id):
        raise InvalidArgumentError("hook_id must be the endpoint's hook id (letters, digits, "
                                   "- and _), got %r" % (hook_id,), argument="hook_id")
    base = base_url.strip()
    parts = urllib.parse.urlsplit(base.replace("{hook_id}", "hook"))
    if parts.scheme not in ("http", "https") or not parts.netloc or _CONTROL_CHARS_RE.search(
            base) or " " in base:
        raise InvalidArgumentError("base_url must be an http(s) URL such as "
                                   "https://plugins.example.com, got %r" % (base_url,),
                                   argument="base_url")
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise InvalidArgumentError("path must be empty or start with /, got %r" % (path,),
                                   argument="path")
    route, mark, query = path.partition("?")
    suffix = urllib.parse.quote(route, safe="/:@!$&'()*+,;=-._~%") + mark + (
        urllib.parse.quote(query, safe="/:@!$&'()*+,;=-._~%?") if mark else "")
    if "{hook_id}" in base:
        return base.replace("{hook_id}", hook_id).rstrip("/") + suffix
    return "%s/e/%s%s" % (base.rstrip("/"), hook_id, suffix)


# =============================================================================
# Entities: agent strategies
# =============================================================================


@_entity
class AgentStrategyProviderIdentity(ToolProviderIdentity):
    """Who an agent strategy provider is (``name`` becomes ``plugin_id/provider``)."""


@_entity
class AgentStrategyIdentity(ToolIdentity):
    """Who a strategy is; ``provider`` is filled in by the client."""


@_entity
class AgentStrategyDeclaration(_Entity):
    """One agent strategy: identity, parameters, output schema and features."""

    identity: AgentStrategyIdentity = _REQUIRED
    description: Optional[I18nObject] = None
    parameters: List[PluginParameter] = []
    output_schema: Optional[Dict[str, Any]] = None
    features: List[str] = []

    def parameter(self, name: str) -> Optional[PluginParameter]:
        """The declared parameter called ``name``, or None."""
        return _named(self.parameters, name)


@_entity
class AgentStrategyProviderDeclaration(_Entity):
    """An agent strategy provider's declaration and its strategies."""

    identity: AgentStrategyProviderIdentity = _REQUIRED
    strategies: List[AgentStrategyDeclaration] = []

    def strategy(self, name: str) -> Optional[AgentStrategyDeclaration]:
        """The strategy called ``name``, or None."""
        return _named(self.strategies, name)

    def members(self) -> List[AgentStrategyDeclaration]:
        return self.strategies


@_entity
class PluginAgentProviderEntity(_InstalledProvider):
    """An agent strategy provider installed for a tenant, with the plugin's ``meta``."""

    declaration: Optional[AgentStrategyProviderDeclaration] = None
    meta: Optional[PluginMeta] = None


@_entity
class AgentInvokeMessage(ToolInvokeMessage):
    """One message of an agent strategy stream: the tool message shape. ``log``
    messages carry the strategy's rounds and steps as a tree (see :class:`LogTree`);
    the daemon merges ``blob_chunk`` pieces into ``blob`` messages itself."""


class LogNode:
    """One step of a log tree: its latest ``log`` message, ``children`` and ``parent``."""

    __slots__ = ("log", "children", "parent")

    def __init__(self, log: LogMessage, parent: Optional[LogNode] = None) -> None:
        self.log = log
        self.children: List[LogNode] = []
        self.parent = parent

    @property
    def depth(self) -> int:
        """0 for a root, 1 for its children, ..."""
        depth, node = 0, self.parent
        while node is not None:
            depth, node = depth + 1, node.parent
        return depth

    def __repr__(self) -> str:
        return "<LogNode %s [%s] %d children>" % (self.log.label, self.log.status,
                                                  len(self.children))


class LogTree:
    """The ``log`` messages of a stream as a tree (agent strategies report their rounds
    and steps so: a step names its parent by ``parent_id``; a later message with the same
    ``id`` updates the step, e.g. from status start to success)::

        tree = LogTree()
        for message in client.invoke_agent_strategy(...):
            tree.add(message)
        for root in tree.roots: ...
    """

    def __init__(self) -> None:
        self.roots: List[LogNode] = []
        self.nodes: Dict[str, LogNode] = {}

    def add(self, message: Union[ToolInvokeMessage, LogMessage]) -> Optional[LogNode]:
        """Take one message; returns its node, or None when it is not a log message."""
        log = message.message if isinstance(message, ToolInvokeMessage) else message
        if not isinstance(log, LogMessage):
            return None
        node = self.nodes.get(log.id) if log.id else None
        if node is not None:
            node.log = log
            return node
        parent = self.nodes.get(log.parent_id or "")
        node = LogNode(log, parent)
        (parent.children if parent is not None else self.roots).append(node)
        if log.id:
            self.nodes[log.id] = node
        return node


# =============================================================================
# Entities: datasources
# =============================================================================


@_entity
class DatasourceProviderIdentity(ToolProviderIdentity):
    """Who a datasource provider is (``name`` becomes ``plugin_id/provider``)."""


@_entity
class DatasourceIdentity(ToolIdentity):
    """Who a datasource is; ``provider`` is filled in by the client."""


@_entity
class DatasourceDeclaration(_Entity):
    """One datasource of a provider and its parameters."""

    identity: DatasourceIdentity = _REQUIRED
    description: Optional[I18nObject] = None
    parameters: List[PluginParameter] = []
    output_schema: Optional[Dict[str, Any]] = None


@_entity
class DatasourceProviderDeclaration(_Entity):
    """A datasource provider: ``provider_type`` (online_document, online_drive,
    website_crawl, ...), its credentials and datasources."""

    identity: DatasourceProviderIdentity = _REQUIRED
    provider_type: str = ""
    credentials_schema: List[ProviderConfig] = []
    oauth_schema: Optional[ToolOAuthSchema] = None
    datasources: List[DatasourceDeclaration] = []

    def datasource(self, name: str) -> Optional[DatasourceDeclaration]:
        """The datasource called ``name``, or None."""
        return _named(self.datasources, name)

    def members(self) -> List[DatasourceDeclaration]:
        return self.datasources


@_entity
class PluginDatasourceProviderEntity(_InstalledProvider):
    """A datasource provider installed for a tenant."""

    declaration: Optional[DatasourceProviderDeclaration] = None


@_entity
class DatasourceInvokeMessage(ToolInvokeMessage):
    """One message of an online document's content or an online drive download: the
    tool message shape (text, json, blob, variable, ...)."""


@_entity
class WebsiteCrawlPage(_Entity):
    """One crawled page."""

    source_url: str = ""
    title: str = ""
    description: str = ""
    content: str = ""


@_entity
class WebsiteCrawlResult(_Entity):
    """Progress of a website crawl: ``status`` (processing, completed), ``completed``
    of ``total`` pages, and the pages crawled so far."""

    status: str = ""
    web_info_list: List[WebsiteCrawlPage] = []
    total: int = 0
    completed: int = 0


@_entity
class _WebsiteCrawlChunk(_Entity):
    """One event of get_website_crawl."""

    result: WebsiteCrawlResult = _REQUIRED


@_entity
class OnlineDocumentPage(_Entity):
    """A page of an online document workspace; ``page_icon`` is the plugin's object."""

    page_id: str = _REQUIRED
    page_name: str = ""
    page_icon: Any = None
    type: str = ""
    parent_id: Optional[str] = None
    last_edited_time: Optional[str] = None


@_entity
class OnlineDocumentInfo(_Entity):
    """One workspace and its pages."""

    workspace_id: Optional[str] = None
    workspace_name: Optional[str] = None
    workspace_icon: Optional[str] = None
    total: int = 0
    pages: List[OnlineDocumentPage] = []


@_entity
class _OnlineDocumentPagesChunk(_Entity):
    """One event of get_online_document_pages."""

    result: List[OnlineDocumentInfo] = _REQUIRED


@_entity
class OnlineDriveFile(_Entity):
    """A file or folder (``type``) of an online drive; ``id`` is what download takes."""

    id: str = _REQUIRED
    name: str = ""
    size: int = 0
    type: str = ""


@_entity
class OnlineDriveFileBucket(_Entity):
    """One bucket's listing; when ``is_truncated``, pass ``next_page_parameters`` back
    to get the rest."""

    bucket: Optional[str] = None
    files: List[OnlineDriveFile] = []
    is_truncated: bool = _REQUIRED  # (the daemon's struct always writes it)
    next_page_parameters: Optional[Dict[str, Any]] = None


@_entity
class _OnlineDriveFilesChunk(_Entity):
    """One event of online_drive_browse_files."""

    result: List[OnlineDriveFileBucket] = _REQUIRED


# =============================================================================
# Entities: triggers
# =============================================================================


@_entity
class TriggerProviderIdentity(ToolProviderIdentity):
    """Who a trigger provider is (``name`` becomes ``plugin_id/provider``)."""


@_entity
class TriggerEventIdentity(ToolIdentity):
    """Who a trigger event is; ``provider`` is filled in by the client."""


@_entity
class TriggerEventDeclaration(_Entity):
    """One event a trigger provider emits: parameters and the variables' schema."""

    identity: TriggerEventIdentity = _REQUIRED
    description: Optional[I18nObject] = None
    parameters: List[PluginParameter] = []
    output_schema: Optional[Dict[str, Any]] = None


@_entity
class TriggerSubscriptionConstructor(_Entity):
    """How a subscription is made: its parameters, credentials and OAuth settings."""

    parameters: List[PluginParameter] = []
    credentials_schema: List[ProviderConfig] = []
    oauth_schema: Optional[ToolOAuthSchema] = None


@_entity
class TriggerProviderDeclaration(_Entity):
    """A trigger provider: the subscription's properties (``subscription_schema``),
    its constructor and the events."""

    identity: TriggerProviderIdentity = _REQUIRED
    subscription_schema: List[ProviderConfig] = []
    subscription_constructor: Optional[TriggerSubscriptionConstructor] = None
    events: List[TriggerEventDeclaration] = []

    def event(self, name: str) -> Optional[TriggerEventDeclaration]:
        """The event called ``name``, or None."""
        return _named(self.events, name)

    def members(self) -> List[TriggerEventDeclaration]:
        return self.events


@_entity
class PluginTriggerProviderEntity(_InstalledProvider):
    """A trigger provider installed for a tenant."""

    declaration: Optional[TriggerProviderDeclaration] = None


@_entity
class TriggerSubscription(_Entity):
    """A subscription as the plugin made it: where events come (``endpoint``), when it
    expires (Unix seconds; -1 never), and what the plugin keeps in ``properties``.
    Pass it (or its ``to_dict()``) back to refresh, unsubscribe, dispatch and invoke."""

    endpoint: str = _REQUIRED  # (the SDK's Subscription.model_dump() always writes
    expires_at: int = _required_or(-1)  # these three; parameters may be null)
    parameters: Dict[str, Any] = {}
    properties: Dict[str, Any] = _REQUIRED

    def __repr__(self) -> str:  # parameters and properties may hold webhook secrets
        return ("TriggerSubscription(endpoint=%r, expires_at=%r, parameters=<%s>, "
                "properties=<%s>)" % (self.endpoint, self.expires_at,
                                      ", ".join(sorted(self.parameters)) or "none",
                                      ", ".join(sorted(self.properties)) or "none"))


@_entity
class TriggerUnsubscribeResult(_Entity):
    """Whether the plugin removed the subscription, and its message."""

    success: bool = _REQUIRED
    message: Optional[str] = None


@_entity
class _TriggerSubscriptionChunk(_Entity):
    """The answer of trigger subscribe and refresh."""

    subscription: TriggerSubscription = _REQUIRED


@_entity
class _TriggerUnsubscribeChunk(_Entity):
    """The answer of trigger unsubscribe (its result under the key subscription)."""

    subscription: TriggerUnsubscribeResult = _REQUIRED


@_entity
class TriggerDispatchResponse(_Entity):
    """What the plugin made of an incoming webhook: the ``events`` to fire, the
    ``user_id`` it acts for, the ``payload`` events get, and ``response``: the hex of
    the HTTP response for the webhook's caller (read it with :meth:`http_response`)."""

    user_id: str = _REQUIRED  # (the daemon's struct always writes these three)
    events: List[str] = _REQUIRED
    payload: Dict[str, Any] = {}
    response: str = _REQUIRED

    def http_response(self) -> RawHttpResponse:
        """``response`` decoded: status, reason, headers and body. Raises
        :class:`HttpMessageError` when the plugin sent something that is not HTTP."""
        return RawHttpResponse.parse(self.response)


@_entity
class TriggerInvokeEventResponse(_Entity):
    """An event's variables, or ``cancelled`` when the plugin ignored the event
    (its EventIgnoreError)."""

    variables: Dict[str, Any] = _REQUIRED  # (the daemon's struct always writes both)
    cancelled: bool = _REQUIRED


# =============================================================================
# Wire helpers: raw HTTP messages (the hex trigger routes carry)
# =============================================================================
#
# dispatch_event and invoke_event take the webhook's HTTP/1.1 request as the hex of its
# bytes (request line, headers, blank line, body), and dispatch_event answers with the
# hex of the HTTP response to send back. RawHttpRequest and RawHttpResponse build and
# read such messages (RFC 9112 syntax). What cannot be built or read raises
# HttpMessageError saying what and where.

_HTTP_TOKEN_RE = _Regex(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
_HTTP_VERSION_RE = _Regex(r"HTTP/[0-9]\.[0-9]\Z")
_HTTP_TARGET_RE = _Regex(r"[\x21-\x7e]+\Z")
_HTTP_STATUS_RE = _Regex(r"HTTP/[0-9]\.[0-9] ([0-9]{3})(?: (.*))?\Z")
_HEX_TEXT_RE = _Regex(r"(?:[0-9A-Fa-f][0-9A-Fa-f])*\Z")
_HEADER_VALUE_BAD_RE = _Regex(r"[\x00-\x08\x0a-\x1f\x7f]")


def _message_bytes(data: Any, what: str) -> bytes:
    """Bytes as given, or the bytes of hex text."""
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    if isinstance(data, str):
        text = data.strip()
        if not _HEX_TEXT_RE.match(text):
            raise HttpMessageError("%s is not hex text (pairs of 0-9a-f): %s"
                                   % (what, _short_repr(text, 40)))
        return binascii.unhexlify(text)
    raise HttpMessageError("%s must be bytes or hex text, not %s" % (what, type(data).__name__))


def _checked_headers(headers: Any, what: str) -> List[Tuple[str, str]]:
    """(name, value) pairs from a mapping or pairs; names are tokens, values one line."""
    if headers is None:
        return []
    items = list(headers.items()) if hasattr(headers, "items") else list(headers)
    pairs: List[Tuple[str, str]] = []
    for item in items:
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise HttpMessageError("%s headers must be a mapping or (name, value) pairs, "
                                   "got %s" % (what, _short_repr(item)))
        name, value = item
        if not isinstance(name, str) or not _HTTP_TOKEN_RE.match(name):
            raise HttpMessageError("%s header name %s is not an HTTP token"
                                   % (what, _short_repr(name)))
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or _HEADER_VALUE_BAD_RE.search(value):
            raise HttpMessageError("%s header %s must be one line of text (no CR, LF or "
                                   "other control characters)" % (what, name))
        pairs.append((name, value.strip(" \t")))
    return pairs


def _header_of(headers: Sequence[Tuple[str, str]], name: str) -> Optional[str]:
    lowered = name.lower()
    for key, value in headers:
        if key.lower() == lowered:
            return value
    return None


def _body_bytes(body: Any, what: str) -> bytes:
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if body is None:
        return b""
    raise HttpMessageError("%s body must be bytes or text, not %s" % (what,
                                                                      type(body).__name__))


def _framed_headers(headers: List[Tuple[str, str]], body: bytes, what: str
                    ) -> List[Tuple[str, str]]:
    """The headers with Content-Length added for a body; a wrong one is an error."""
    if _header_of(headers, "transfer-encoding") is not None:
        raise HttpMessageError("%s: give the body whole, without Transfer-Encoding (its "
                               "Content-Length is set for you)" % what)
    length = _header_of(headers, "content-length")
    if length is None:
        return headers + [("Content-Length", str(len(body)))] if body else headers
    if not _ASCII_DIGITS.match(length.strip()) or int(length) != len(body):
        raise HttpMessageError("%s: Content-Length %s does not match the %d-byte body"
                               % (what, _short_repr(length), len(body)))
    return headers


def _head_and_body(data: bytes, what: str) -> Tuple[str, List[Tuple[str, str]], bytes]:
    """Split a message into its start line, headers and the bytes after the head."""
    if not data:
        raise HttpMessageError("%s is empty" % what)
    end, gap = data.find(b"\r\n\r\n"), 4
    bare = data.find(b"\n\n")
    if bare >= 0 and (end < 0 or bare < end):  # a head of bare LF lines ends first
        end, gap = bare, 2
    head, rest = (data, b"") if end < 0 else (data[:end], data[end + gap:])
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = head.decode("latin-1")
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    headers: List[Tuple[str, str]] = []
    for number, line in enumerate(lines[1:], 2):
        if not line:
            continue
        if line[0] in " \t" and headers:  # an obsolete folded continuation line
            name, value = headers[-1]
            headers[-1] = (name, (value + " " + line.strip()).strip())
            continue
        name, colon, value = line.partition(":")
        if not colon or not _HTTP_TOKEN_RE.match(name):
            raise HttpMessageError("%s: line %d of its head is not 'Name: value': %s"
                                   % (what, number, _short_repr(line, 60)))
        headers.append((name, value.strip(" \t")))
    return lines[0], headers, rest


def _unframed_body(headers: List[Tuple[str, str]], rest: bytes, what: str) -> bytes:
    """The body as its headers frame it (Content-Length, chunked, or the rest)."""
    encoding = _header_of(headers, "transfer-encoding")
    if encoding is not None:
        if encoding.strip().lower() != "chunked":
            raise HttpMessageError("%s uses Transfer-Encoding %s; only chunked is read"
                                   % (what, _short_repr(encoding)))
        return _dechunked(rest, what)
    length = _header_of(headers, "content-length")
    if length is None:
        return rest
    if not _ASCII_DIGITS.match(length.strip()):
        raise HttpMessageError("%s has a Content-Length that is not a number: %s"
                               % (what, _short_repr(length)))
    if int(length) != len(rest):
        raise HttpMessageError("%s declares Content-Length %s but its body is %d bytes"
                               % (what, length.strip(), len(rest)))
    return rest


def _dechunked(data: bytes, what: str) -> bytes:
    pieces: List[bytes] = []
    position = 0
    while True:
        line_end = data.find(b"\r\n", position)
        if line_end < 0:
            raise HttpMessageError("%s: its chunked body ends without the last chunk" % what)
        size = _chunk_size(data[position:line_end])
        if size is None:
            raise HttpMessageError("%s: chunk size %s is not hex" % (
                what, _short_repr(data[position:line_end].decode("latin-1"))))
        position = line_end + 2
        if size == 0:
            return b"".join(pieces)
        if data[position + size:position + size + 2] != b"\r\n":
            raise HttpMessageError("%s: its chunked body is cut short" % what)
        pieces.append(data[position:position + size])
        position += size + 2


class RawHttpRequest:
    """An HTTP/1.1 request, as trigger routes carry it (``raw_http_request``: the hex
    of its bytes)::

        request = RawHttpRequest("POST", "/webhook?src=github",
                                 {"Content-Type": "application/json"}, b'{"kind": "push"}')
        client.dispatch_trigger_event(tenant, user, provider, subscription, request)

    ``target`` is the path the webhook was called on, with its query. ``headers`` is a
    mapping or (name, value) pairs (order and repeats kept). HTTP/1.1 requires a Host
    header, and the plugin SDK refuses a request without one: when none is given, the
    host of an absolute ``target`` or ``localhost`` is put first. A body gets its
    Content-Length unless one is given; a wrong one is an error (the SDK refuses a body
    that does not match it). :meth:`parse` reads bytes or hex text back as sent.
    """

    __slots__ = ("method", "target", "headers", "body", "version")

    def __init__(self, method: str, target: str, headers: Any = None, body: Any = b"",
                 version: str = "HTTP/1.1") -> None:
        what = "the HTTP request"
        if not isinstance(method, str) or not _HTTP_TOKEN_RE.match(method):
            raise HttpMessageError("%s method must be a token such as POST, got %s"
                                   % (what, _short_repr(method)))
        if not isinstance(target, str) or not _HTTP_TARGET_RE.match(target) or not (
                target.startswith("/") or target == "*" or "://" in target):
            raise HttpMessageError("%s target must be a path such as /hook?x=1 (ASCII, no "
                                   "spaces; percent-encode the rest), got %s"
                                   % (what, _short_repr(target)))
        if not isinstance(version, str) or not _HTTP_VERSION_RE.match(version):
            raise HttpMessageError("%s version must look like HTTP/1.1, got %s"
                                   % (what, _short_repr(version)))
        self.method = method
        self.target = target
        self.version = version
        self.body = _body_bytes(body, what)
        checked = _checked_headers(headers, what)
        if _header_of(checked, "host") is None and version != "HTTP/1.0":
            host = target.split("://", 1)[1].split("/", 1)[0] if "://" in target else ""
            checked.insert(0, ("Host", host or "localhost"))
        self.headers = _framed_headers(checked, self.body, what)

    def header(self, name: str) -> Optional[str]:
        """The first value of header ``name`` (any case), or None."""
        return _header_of(self.headers, name)

    def to_bytes(self) -> bytes:
        lines = ["%s %s %s" % (self.method, self.target, self.version)]
        lines.extend("%s: %s" % pair for pair in self.headers)
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body

    def to_hex(self) -> str:
        """The form ``raw_http_request`` takes."""
        return binascii.hexlify(self.to_bytes()).decode("ascii")

    @classmethod
    def parse(cls, data: Union[bytes, str]) -> RawHttpRequest:
        """Read a request from its bytes or from hex text."""
        what = "the HTTP request"
        raw = _message_bytes(data, what)
        start, headers, rest = _head_and_body(raw, what)
        parts = start.split(" ")
        if len(parts) != 3 or not (_HTTP_TOKEN_RE.match(parts[0])
                                   and _HTTP_TARGET_RE.match(parts[1])
                                   and _HTTP_VERSION_RE.match(parts[2])):
            raise HttpMessageError("%s does not start with 'METHOD /path HTTP/1.1': %s"
                                   % (what, _short_repr(start, 60)))
        request = cls.__new__(cls)
        request.method, request.target, request.version = parts
        request.headers = headers
        request.body = _unframed_body(headers, rest, what)
        return request

    def __repr__(self) -> str:
        return "<RawHttpRequest %s %s, %d headers, %d bytes>" % (
            self.method, self.target, len(self.headers), len(self.body))


class RawHttpResponse:
    """An HTTP/1.1 response: ``status``, ``reason``, ``headers`` ((name, value) pairs)
    and ``body``. A trigger's dispatch answer holds one as hex
    (:meth:`TriggerDispatchResponse.http_response`)."""

    __slots__ = ("status", "reason", "headers", "body")

    def __init__(self, status: int, headers: Any = None, body: Any = b"",
                 reason: Optional[str] = None) -> None:
        what = "the HTTP response"
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 999:
            raise HttpMessageError("%s status must be a number from 100 to 999, got %s"
                                   % (what, _short_repr(status)))
        if reason is None:
            from http import HTTPStatus

            try:
                reason = HTTPStatus(status).phrase
            except ValueError:
                reason = ""
        if not isinstance(reason, str) or _CONTROL_CHARS_RE.search(reason):
            raise HttpMessageError("%s reason must be one line of text" % what)
        self.status = status
        self.reason = reason
        self.body = _body_bytes(body, what)
        self.headers = _framed_headers(_checked_headers(headers, what), self.body, what)

    def header(self, name: str) -> Optional[str]:
        """The first value of header ``name`` (any case), or None."""
        return _header_of(self.headers, name)

    @property
    def text(self) -> str:
        """The body as text (UTF-8, undecodable bytes replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return _loads(self.body)

    def to_bytes(self) -> bytes:
        lines = ["HTTP/1.1 %d %s" % (self.status, self.reason)]
        lines.extend("%s: %s" % pair for pair in self.headers)
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body

    def to_hex(self) -> str:
        return binascii.hexlify(self.to_bytes()).decode("ascii")

    @classmethod
    def parse(cls, data: Union[bytes, str]) -> RawHttpResponse:
        """Read a response from its bytes or from hex text."""
        what = "the HTTP response"
        raw = _message_bytes(data, what)
        start, headers, rest = _head_and_body(raw, what)
        match = _HTTP_STATUS_RE.match(start.rstrip("\r"))
        if match is None:
            raise HttpMessageError("%s does not start with 'HTTP/1.1 <status> <reason>': %s"
                                   % (what, _short_repr(start, 60)))
        response = cls.__new__(cls)
        response.status = int(match.group(1))
        response.reason = (match.group(2) or "").strip()
        response.headers = headers
        response.body = _unframed_body(headers, rest, what)
        return response

    def __repr__(self) -> str:
        return "<RawHttpResponse %d %s, %d headers, %d bytes>" % (
            self.status, self.reason, len(self.headers), len(self.body))


def _raw_request_hex(value: Any, argument: str = "raw_http_request") -> str:
    """The hex a trigger route takes, from a RawHttpRequest, its bytes or hex text;
    anything that does not read as an HTTP request is refused before sending."""
    if isinstance(value, RawHttpRequest):
        return value.to_hex()
    try:
        raw = _message_bytes(value, argument)
        RawHttpRequest.parse(raw)
    except HttpMessageError as exc:
        raise InvalidArgumentError("%s: %s" % (argument, exc.message),
                                   argument=argument) from None
    return binascii.hexlify(raw).decode("ascii")


# =============================================================================
# Wire helpers: input checks
# =============================================================================


def _check_tenant(tenant_id: Any, argument: str = "tenant_id") -> str:
    """Tenant ids are UUIDs (a uuid column on the daemon's PostgreSQL)."""
    if not isinstance(tenant_id, str) and type(tenant_id).__name__ == "UUID":
        tenant_id = str(tenant_id)
    if not isinstance(tenant_id, str) or not _UUID_RE.match(tenant_id):
        raise InvalidArgumentError(
            "%s must be a UUID such as 6f1c2d3e-0000-4000-8000-000000000000, got %r"
            % (argument, tenant_id), argument=argument)
    return tenant_id


def _check_uuid(value: Any, argument: str) -> str:
    return _check_tenant(value, argument)


def _check_identifier(value: Any, argument: str = "plugin_unique_identifier") -> str:
    if not isinstance(value, str) or not _IDENTIFIER_RE.match(value):
        raise InvalidArgumentError(
            "%s is not a plugin unique identifier: %r; expected [author/]name:version@checksum "
            "in lower case, e.g. acme/search:0.1.0@<32-64 hex digits> (take it from the upload "
            "response)" % (argument, value), argument=argument)
    return value


def _check_identifiers(values: Any, argument: str, limit: int) -> List[str]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise InvalidArgumentError("%s must be a list of identifiers, got %r"
                                   % (argument, values), argument=argument)
    items: List[str] = list(values)
    if len(items) > limit:
        raise InvalidArgumentError("%s has %d items; the daemon accepts at most %d"
                                   % (argument, len(items), limit), argument=argument)
    for index, value in enumerate(items):
        _check_identifier(value, "%s[%d]" % (argument, index))
    return items


def _check_plugin_id(value: Any, argument: str = "plugin_id") -> str:
    if not isinstance(value, str) or not _PLUGIN_ID_RE.match(value):
        raise InvalidArgumentError(
            "%s is not a plugin id: %r; expected author/name in lower case, e.g. acme/search"
            % (argument, value), argument=argument)
    return value


def _check_page(page: Any, page_size: Any, limit: int = MAX_PAGE_SIZE,
                whose: str = "") -> None:
    """A page number from 1 and a page size from 1 to ``limit`` (``whose`` limit it is,
    said in the error when it is not the usual one)."""
    _check_positive_int(page, "page")
    if (isinstance(page_size, bool) or not isinstance(page_size, int)
            or not 1 <= page_size <= limit):
        raise InvalidArgumentError("page_size must be an integer from 1 to %d%s, got %r"
                                   % (limit, whose, page_size), argument="page_size")


def _full_page(items: List[_T], page_size: int) -> Tuple[List[_T], bool]:
    """A page's items, and whether another may follow (a short page is the last)."""
    return items, len(items) >= page_size


def _check_bool(value: Any, argument: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgumentError("%s must be True or False, got %r" % (argument, value),
                                   argument=argument)
    return value


def _check_list(values: Any, argument: str) -> List[Any]:
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
        raise InvalidArgumentError("%s must be a list, got %s" % (argument,
                                                                  type(values).__name__),
                                   argument=argument)
    return list(values)


def _check_texts(values: Any, argument: str) -> List[str]:
    """A list of strings (empty strings and an empty list allowed)."""
    texts = _check_list(values, argument)
    for index, text in enumerate(texts):
        _check_text(text, "%s[%d]" % (argument, index), allow_empty=True)
    return texts


def _check_text(value: Any, argument: str, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not allow_empty):
        raise InvalidArgumentError("%s must be a non-empty string, got %r" % (argument, value),
                                   argument=argument)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: cannot go into a URL or JSON as text
        raise InvalidArgumentError("%s is not valid Unicode text (it has a lone surrogate): %r"
                                   % (argument, value), argument=argument) from None
    return value


def _check_source(source: Any) -> str:
    if isinstance(source, PluginInstallationSource):
        return source.value
    if not isinstance(source, str) or not source or len(source) > 63:
        raise InvalidArgumentError(
            "source must be a PluginInstallationSource or a non-empty string of at most 63 "
            "characters, got %r" % (source,), argument="source")
    return source


def _check_meta(meta: Any, argument: str) -> Dict[str, Any]:
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        # the type only: the value may be a secret (credentials are checked here)
        raise InvalidArgumentError("%s must be a dict, got %s" % (argument, _type_name(meta)),
                                   argument=argument)
    return meta


# =============================================================================
# Wire helpers: multipart/form-data (RFC 7578)
# =============================================================================

_UPLOAD_BLOCK = 256 * 1024


def _multipart_quote(value: str) -> bytes:
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

    def __init__(self, fields: Sequence[Tuple[str, str]], file_field: str, filename: str,
                 source: _UploadSource) -> None:
        self.boundary = "dify-plugin-client-" + os.urandom(16).hex()
        delimiter = ("--%s\r\n" % self.boundary).encode("ascii")
        head: List[bytes] = []
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

    def blocks(self) -> Iterator[bytes]:
        yield self.head
        for block in self.source.blocks():
            yield block
        yield self.tail


class _UploadSource:
    """Package bytes from memory, a path or a binary file object, with a known size."""

    def __init__(self, data: Optional[bytes] = None, path: Optional[str] = None,
                 fileobj: Optional[IO[bytes]] = None, size: int = 0) -> None:
        self.data = data
        self.path = path
        self.fileobj = fileobj
        self.size = size

    @classmethod
    def open(cls, source: Any, argument: str, limit: int) -> _UploadSource:
        if isinstance(source, (bytes, bytearray, memoryview)):
            upload = cls(data=bytes(source), size=len(source))
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
            upload = cls(path=path, size=info.st_size)
        elif hasattr(source, "read"):
            upload = cls._from_fileobj(source, argument, limit)
        else:
            raise InvalidArgumentError(
                "%s must be bytes, a path or a binary file object, got %s"
                % (argument, type(source).__name__), argument=argument)
        if upload.size > limit:
            raise PackageTooLargeError(
                "%s is %s, over the %s the daemon accepts; nothing was sent"
                % (argument, _format_size(upload.size), _format_size(limit)),
                argument=argument,
                hint="raise MAX_PLUGIN_PACKAGE_SIZE (bundles: MAX_BUNDLE_PACKAGE_SIZE) on the "
                     "daemon, then raise max_package_size / max_bundle_size in PluginConfig")
        return upload

    @classmethod
    def _from_fileobj(cls, fileobj: Any, argument: str, limit: int) -> _UploadSource:
        _check_open(fileobj, argument)
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

    def blocks(self) -> Iterator[bytes]:
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

    def _read_exactly(self, handle: Any) -> Iterator[bytes]:
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


def _format_size(size: int) -> str:
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

    def __init__(self, event: str, data: _EventData, last_id: str) -> None:
        self.event = event
        self.data = data
        self.id = last_id

    def __repr__(self) -> str:
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

    With ``raw_long_lines``, a read of such events that begins with one over 1 KiB
    hands their data over undecoded, as memoryviews of the read (TTS audio: its reader
    cuts the hex out of the bytes and decodes only that).

    With ``strict``, a line that is not a field of the format (data, event, id, retry)
    nor a comment raises RemoteProtocolError instead of being skipped: the daemon
    writes data lines only, so such a line is a damaged event, not one to do without.
    Data that is not UTF-8 then raises UnicodeDecodeError instead of being replaced.
    """

    def __init__(self, max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
                 raw_long_lines: bool = False, strict: bool = False) -> None:
        self.max_event_size = max_event_size
        self.raw_long_lines = raw_long_lines
        self.strict = strict
        self.errors = "strict" if strict else "replace"  # decoding data that is not UTF-8
        self._pending: List[bytes] = []           # bytes of the unfinished event, line ends made LF
        self._pending_size = 0
        self._pending_cr = False     # the last read ended with CR: a following LF is not a line
        self._head = b""             # the first bytes, until we know if they are a BOM
        self._started = False
        self._last_id = ""

    def feed(self, chunk: bytes) -> List[_SSEEvent]:
        if not chunk:
            return []  # (nor forgets a CR that ended the last read)
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
                cut = _find_blank_line(chunk)
                if cut < 0:
                    self._keep(chunk)
                    return []
                self._pending.append(chunk[:cut])
                first = b"".join(self._pending)  # (one copy of a long event, not two)
                chunk = chunk[cut + 2:]
            self._pending = []
            self._pending_size = 0
            events = self._events([first, b""])
        else:
            events = []
        end = chunk.rfind(b"\n\n")
        if end < 0:
            if chunk:
                self._keep(chunk)
            return events
        if end > self.max_event_size or not self._data_lines(chunk, end, events):
            texts = _split_blank_lines(chunk)
            rest = texts[-1]  # an unfinished event, or b""
            events.extend(self._events(texts))
        else:
            rest = chunk[end + 2:]
        if rest:
            self._keep(rest)
        return events

    def _data_lines(self, chunk: bytes, end: int, events: List[_SSEEvent]) -> bool:
        """The daemon's form, taken in one pass: ``chunk[:end]`` is events of one
        ``data: `` line each, separated by blank lines (False, nothing done, if not).

        Decoding, splitting and checking a whole read at once, in C, instead of event
        by event: most of the parser's time on streams of many small events.
        """
        if end > 1024 and chunk.find(b"\n", 0, 1024) < 0:
            return self._long_data_lines(chunk, end, events)
        text = str(memoryview(chunk)[:end], "utf-8", self.errors)
        separators = text.count("\n\ndata: ")
        if text.count("\n") != 2 * separators or not text.startswith("data: "):
            return False  # other fields, multi-line data or extra blank lines
        last_id = self._last_id
        events.extend([_SSEEvent("message", line[6:], last_id) for line in text.split("\n\n")])
        return True

    def _long_data_lines(self, chunk: bytes, end: int, events: List[_SSEEvent]) -> bool:
        """``_data_lines`` for lines of over 1 KiB (audio, large results): counting would
        read them twice, so they are walked, each line checked and decoded on its own
        (or, with ``raw_long_lines``, handed over as it is)."""
        last_id = self._last_id
        raw = self.raw_long_lines
        found = []
        view = memoryview(chunk)
        position = 0
        find, startswith = chunk.find, chunk.startswith
        while startswith(b"data: ", position):
            line_end = find(b"\n", position, end)
            if line_end < 0:
                line_end = end
            elif chunk[line_end + 1:line_end + 2] != b"\n":
                return False  # a multi-line event
            data = view[position + 6:line_end]
            found.append(_SSEEvent("message", data if raw else str(data, "utf-8", self.errors),
                                   last_id))
            if line_end == end:
                events.extend(found)
                return True
            position = line_end + 2
        return False  # another field, or extra blank lines

    def _events(self, texts: List[bytes]) -> List[_SSEEvent]:
        """The events of ``texts[:-1]`` (each an event's lines, up to its blank line)."""
        events: List[_SSEEvent] = []
        limit = self.max_event_size
        for text in texts[:-1]:
            if text[:6] == b"data: " and b"\n" not in text and len(text) <= limit:
                # one data line, the daemon's form: no line-by-line parsing (decoded
                # from a view: a long event is not copied before it is decoded)
                data = str(memoryview(text)[6:], "utf-8", self.errors)
                events.append(_SSEEvent("message", data, self._last_id))
            else:
                self._end_event(text, events)
        return events

    def _keep(self, data: bytes) -> None:
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size > self.max_event_size:
            raise self._too_large()

    def _too_large(self) -> ResponseTooLargeError:
        return ResponseTooLargeError(
            "a stream event is over the %s limit" % _format_size(self.max_event_size))

    def _end_event(self, text: bytes, events: List[_SSEEvent]) -> None:
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
            elif self.strict and field not in _SSE_OTHER_FIELDS:
                raise RemoteProtocolError("the daemon's event stream has a line that is not "
                                          "an event field: %s" % _short_repr(line, 80))
            # blank lines (only at the start), comments, retry and unknown fields: nothing
        if data:
            events.append(_SSEEvent(event or "message",
                                    b"\n".join(data).decode("utf-8", self.errors), self._last_id))

    def close(self) -> bool:
        """End of stream. Returns True if an event was cut off (data without its blank line)."""
        text = b"".join(self._pending)
        self._pending = []
        self._pending_size = 0
        lines = text.split(b"\n")
        unfinished = lines.pop()  # a line without its line end
        if any(_sse_field(line)[0] == "data" for line in lines):
            return True
        return bool(unfinished) and not unfinished.startswith(b":")


def _find_blank_line(data: bytes) -> int:
    """``data.find(b"\\n\\n")``, quicker on the reads of an event longer than a read
    (a large result): bytes.find walks a two-byte separator about a byte per step,
    find(b"\\n") uses memchr. After a few lone line ends, bytes.find takes over."""
    find = data.find
    line_end = find(b"\n")
    for _ in range(8):
        if line_end < 0 or data[line_end + 1:line_end + 2] == b"\n":
            return line_end
        line_end = find(b"\n", line_end + 1)
    return line_end if line_end < 0 else find(b"\n\n", line_end)


def _split_blank_lines(data: bytes) -> List[bytes]:
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


#: Lines of an event stream that carry no data: comments and blank lines (""), retry,
#: and the fields read apart (id, event).
_SSE_OTHER_FIELDS = frozenset(("", "retry", "id", "event"))


def _sse_field(line: bytes) -> Tuple[str, bytes]:
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


def _not_json_constant(name: str) -> Any:
    """json's ``parse_constant``: NaN and Infinity are not JSON (Python would take them;
    Go, the daemon, never writes them)."""
    raise ValueError("%s is not a JSON number" % name)


def _loads(text: Union[str, bytes]) -> Any:
    """``json.loads`` of standard JSON (no NaN or Infinity), with nesting too deep for the
    parser reported as ValueError too."""
    try:
        return json.loads(text, parse_constant=_not_json_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply to parse") from None


def _unwrap_error_message(text: Any) -> List[Tuple[Optional[str], Any, Any]]:
    """Peel the JSON-in-JSON layers of a daemon error message.

    Returns a list of ``(error_type, message, args)`` from the outermost layer to the
    innermost. A message that is not JSON ends the peeling as plain text.
    """
    layers: List[Tuple[Optional[str], Any, Any]] = []
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


def _daemon_error(code: int, message: Any, http_status: Optional[int], route: str
                  ) -> PluginDaemonError:
    """Build the typed exception for an error envelope (a negative ``code``)."""
    layers = _unwrap_error_message(message)
    if layers:
        error_type, text, daemon_args = layers[0]
    else:
        error_type, text, daemon_args = None, message, None
    if not isinstance(text, str):
        text = json.dumps(text) if text is not None else ""
    if not text.strip():
        text = "the daemon sent error code %d without a message" % code
    cls = (_DAEMON_ERROR_TYPES.get(error_type or "")
           or _DAEMON_ERROR_CODES.get(code, PluginDaemonError))
    kwargs = dict(http_status=http_status, code=code, error_type=error_type, route=route,
                  daemon_args=daemon_args)
    if cls is PluginInvokeError:
        inner = layers[1:]
        innermost = inner[-1] if inner else (None, text, None)
        invoke_type, invoke_message, invoke_args = innermost
        invoke_message = invoke_message if isinstance(invoke_message, str) else (
            text if invoke_message is None else json.dumps(invoke_message))
        cls = _INVOKE_ERROR_TYPES.get(invoke_type or "", PluginInvokeError)
        return cls(invoke_message, invoke_error_type=invoke_type, invoke_message=invoke_message,
                   invoke_args=invoke_args, description=text,
                   hint=_hint_for(invoke_message, route), **kwargs)
    return cls(text, hint=_hint_for(text, route) or _CLASS_HINTS.get(cls), **kwargs)


def _status_error(response: Response, route: str, message: Optional[str] = None
                  ) -> HTTPStatusError:
    response.content = _redact_bytes(response.content)  # the error keeps the response
    snippet = response.text.strip()
    if len(snippet) > 200:
        snippet = snippet[:200] + "..."
    if message is None:
        message = "HTTP %d from the daemon%s" % (
            response.status_code, ": %s" % snippet if snippet else " with an empty body")
    return HTTPStatusError(message, response=response, http_status=response.status_code,
                           route=route, hint=_STATUS_HINTS.get(response.status_code))


def _decode_envelope(response: Response, route: str) -> Any:
    """Return ``data`` of a success envelope, or raise the matching typed error.

    Handles HTTP 200 with a negative code, the JSON-in-JSON error message, the 401
    envelope, the route-not-found body whose code is a string, and bodies that are
    not the daemon's at all (a proxy's HTML page, an empty 500).
    """
    body = response.content
    problem = "a body that is not JSON" if body else "an empty body"
    try:
        parsed = _loads(body) if body else None
    except ValueError as exc:  # includes invalid UTF-8
        parsed, problem = None, "a body that is not JSON (%s)" % exc
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
                status, problem),
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
_DIFY_SCHEMAS: Dict[Tuple[str, str], Any] = {}


def _dify_schema(version: str, name: str) -> Any:
    """Dify's built-in schema ``version/name`` (cleaned of $id, $schema, version), or None."""
    if not _DIFY_SCHEMAS:
        _DIFY_SCHEMAS.update(_build_dify_schemas())
    return _DIFY_SCHEMAS.get((version, name))


def _build_dify_schemas() -> Dict[Tuple[str, str], Any]:
    def text(description: str) -> Dict[str, Any]:
        return {"type": "string", "description": description}

    def strings(description: str) -> Dict[str, Any]:
        return {"type": "array", "items": {"type": "string"}, "description": description}

    file_properties = {
        "name": text("file name"), "size": {"type": "number", "description": "file size"},
        "extension": text("file extension"), "type": text("file type"),
        "mime_type": text("file mime type"), "transfer_method": text("file transfer method"),
        "url": text("file url"), "related_id": text("file related id")}
    chunk_files = {"type": "array", "description": "List of files",
                   "items": {"type": "object", "properties": file_properties,
                             "required": list(file_properties)}}
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


def _json_pointer(document: Any, pointer: str) -> Any:
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


def _copy_json(node: _T) -> _T:
    """A deep copy of JSON data; iterative, so any nesting depth is copied."""
    if not isinstance(node, (dict, list)):
        return node
    copy: Any = {} if isinstance(node, dict) else []
    stack: List[Tuple[Any, Any]] = [(node, copy)]
    while stack:
        source, target = stack.pop()
        is_dict = isinstance(source, dict)
        for key, value in (source.items() if is_dict else enumerate(source)):
            child: Any
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
    result: _T = copy
    return result


def _has_ref(node: Any) -> bool:
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

    def __init__(self, root: Any, max_depth: int) -> None:
        self.root = root
        self.max_depth = max_depth
        # target key -> resolved copy (only when no cycle was met)
        self.memo: Dict[Any, Any] = {}
        self.cycles = 0     # count of cycle marks made, to tell if a result depends on the chain

    def walk(self, node: Any, document: Any, chain: Tuple[Any, ...], depth: int, scoped: bool,
             names: bool = False) -> Any:
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

    def locate(self, ref: str, document: Any, scoped: bool) -> Tuple[Any, Any, Any]:
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

    def keep_ref(self, node: Dict[str, Any], ref: str, document: Any, chain: Tuple[Any, ...],
                 depth: int, scoped: bool) -> Dict[str, Any]:
        """``node`` with its $ref left in place and the keys beside it resolved."""
        kept = {"$ref": ref}
        kept.update(self.walk({name: value for name, value in node.items() if name != "$ref"},
                              document, chain, depth, scoped))
        return kept

    def expand(self, node: Dict[str, Any], ref: str, document: Any, chain: Tuple[Any, ...],
               depth: int, scoped: bool) -> Any:
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


def _resolve_refs(schema: _T, max_depth: int = 64) -> _T:
    """Return ``schema`` with its local and Dify-registry $refs inlined (see above).

    The input is not modified; a schema without any $ref is returned as it is.
    """
    if not isinstance(schema, (dict, list)) or not _has_ref(schema):
        return schema
    resolved: _T = _RefResolver(schema, max_depth).walk(schema, schema, (), 0, False)
    return resolved


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


def _parse_provider_id(value: Any, argument: str = "tool_provider", aliases: bool = False
                       ) -> Tuple[str, str]:
    """Split a provider id into (plugin_id, provider_name) the way Dify does."""
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError("%s must be a non-empty string; %s"
                                   % (argument, _PROVIDER_FORMS), argument=argument)
    match = _PROVIDER_ID_RE.match(value)
    if match:
        organization, plugin_name, provider_name = match.groups()
    elif _BARE_PROVIDER_RE.match(value):
        organization, plugin_name, provider_name = "langgenius", value, value
    else:
        raise InvalidArgumentError("%s %r is not a provider id; %s"
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


def _cast_text(value: Any, parameter: ToolParameter) -> Any:
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


def _cast_number(value: Any, parameter: ToolParameter) -> Any:
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


def _number_text(number: float) -> str:
    return str(int(number)) if isinstance(number, float) and number.is_integer() else str(number)


def _cast_boolean(value: Any, parameter: ToolParameter) -> Any:
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


def _cast_select(value: Any, parameter: ToolParameter) -> Any:
    allowed = [option.value for option in parameter.options]
    if parameter.multiple:
        values = value if isinstance(value, list) else [value]
        return [_select_one(item, allowed) for item in values]
    return _select_one(value, allowed)


def _select_one(value: Any, allowed: List[str]) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)  # option values are strings; 1 matches option "1"
    if not isinstance(value, str):
        raise _CastProblem("one of %s" % ", ".join(repr(v) for v in allowed))
    if allowed and value not in allowed:
        raise _CastProblem("one of %s" % ", ".join(repr(v) for v in allowed))
    return value


def _cast_file(value: Any, parameter: ToolParameter) -> Any:
    if isinstance(value, list):
        if len(value) != 1:
            raise _CastProblem("one file (got a list of %d)" % len(value))
        value = value[0]
    if not isinstance(value, dict):
        raise _CastProblem("a file object (a dict)")
    return value


def _cast_list(value: Any, parameter: ToolParameter) -> Any:
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


def _cast_object(value: Any, parameter: ToolParameter) -> Any:
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


_CASTERS: Dict[str, Callable[[Any, ToolParameter], Any]] = {
    "string": _cast_text, "secret-input": _cast_text, "text-input": _cast_text,
    "number": _cast_number, "boolean": _cast_boolean, "checkbox": _cast_boolean,
    "select": _cast_select, "file": _cast_file, "files": _cast_list, "array": _cast_list,
    "object": _cast_object,
}


def _short_repr(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _cast_parameters(tool: ToolDeclaration, parameters: Dict[str, Any], tool_label: str
                     ) -> Dict[str, Any]:
    """Cast ``parameters`` by ``tool``'s declaration; every problem is reported at once."""
    result = dict(parameters)
    problems: List[Tuple[str, Any, str]] = []
    shown: Dict[str, str] = {}  # how a problem's value is shown, where not by its repr
    missing: List[str] = []
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
            if parameter.type == "secret-input":  # a secret: its type is shown, not it
                shown[name] = "a hidden %s" % type(value).__name__
                value = None
            problems.append((name, value, str(problem)))
    if problems or missing:
        parts = ["%r = %s (expected %s)" % (name, shown.get(name) or _short_repr(value),
                                             expected)
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
    Chunks are joined in arrival order whatever their ``sequence`` says (as the daemon
    and Dify do: a runtime other than the Python SDK may not number them); sizes are
    capped per chunk and per blob, and a blob that never ends is an error.
    """

    def __init__(self, max_chunk_size: int, max_blob_size: int) -> None:
        self.max_chunk_size = max_chunk_size
        self.max_blob_size = max_blob_size
        self.buffers: Dict[str, List[Any]] = {}  # id -> [list of chunks, their total size]

    def add(self, message: _MessageT) -> Optional[_MessageT]:
        chunk = message.message
        if not isinstance(chunk, BlobChunkMessage):
            raise InvalidResponseError("a blob_chunk message without its chunk")
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
            entry = self.buffers[chunk.id] = [[], 0]
        pieces, received = entry
        if received + size > self.max_blob_size:
            del self.buffers[chunk.id]
            raise BlobTooLargeError("blob %s is over the %s max_blob_size"
                                    % (chunk.id, _format_size(self.max_blob_size)))
        pieces.append(chunk.blob)  # joined once at the end: no copying while it grows
        entry[1] = received + size
        if not chunk.end:
            return None
        del self.buffers[chunk.id]
        blob = b"".join(pieces)
        if chunk.total_length and chunk.total_length != len(blob):
            _logger().warning("blob %s: %d bytes received, %d declared", chunk.id,
                              len(blob), chunk.total_length)
        return type(message)(type="blob", message=BlobMessage(blob=blob), meta=message.meta)

    def finish(self) -> None:
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
_READ_BLOCK = 256 * 1024


def _check_header_value(name: str, value: Any) -> str:
    if not isinstance(value, str) or _HEADER_UNSAFE_RE.search(value):
        raise InvalidArgumentError("header %s must be a string without control characters "
                                   "(CR/LF would inject headers) or characters outside "
                                   "Latin-1" % name, argument=name)
    return value


def _is_dropped(connection: Any) -> bool:
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


#: The transports of this process, told after os.fork() in the child (see _Transport).
_FORK_WATCHED: Any = None
_FORK_WATCH_LOCK = _thread.allocate_lock()


def _after_fork_in_child(transport: _Transport) -> None:
    """Have ``transport`` drop its pool in a child process made by os.fork()."""
    global _FORK_WATCHED
    with _FORK_WATCH_LOCK:
        if _FORK_WATCHED is None:
            import weakref

            _FORK_WATCHED = weakref.WeakSet()
            if hasattr(os, "register_at_fork"):  # POSIX; Windows has no fork
                os.register_at_fork(after_in_child=_reset_pools_after_fork)
        _FORK_WATCHED.add(transport)


def _reset_pools_after_fork() -> None:
    for transport in list(_FORK_WATCHED or ()):
        transport._forked()


class _Transport:
    """HTTP/1.1 keep-alive connections to one daemon, shared safely between threads."""

    def __init__(self, config: PluginConfig) -> None:
        self.config = config
        self.scheme, self.host, self.port, self.base_path = _split_url(config.url)
        self.origin = "%s://%s:%d" % (self.scheme, "[%s]" % self.host if ":" in self.host
                                      else self.host, self.port)  # an IPv6 literal: [::1]
        # in-flight requests (streams included) are capped by max_connections; idle
        # connections kept for reuse by pool_size (the two are apart, as in httpx, so
        # streams a hung plugin holds open do not starve short calls)
        self._start_pool()
        _after_fork_in_child(self)
        self._ssl_context: Any = None
        self._proxy: Any = _UNSET
        self._log = _logger()
        self.connections_opened = 0  # for tests and diagnostics

    # --- connections -------------------------------------------------------

    def _start_pool(self) -> None:
        """An empty pool with every slot free. Also run in a child process after
        os.fork(): the parent's connections are the parent's (a request on one from both
        processes would get the other's answer), and its locks may be held by threads
        the child does not have."""
        import queue
        import threading

        # free slots as tokens in a queue: taking and giving back one is one C call, so
        # an exception a signal handler raises (Ctrl-C, a task runner's timeout) cannot
        # leave a half-taken slot or a lock held, as it could in threading's semaphore
        self._slots: Any = queue.SimpleQueue()
        self._no_slot = queue.Empty
        for _ in range(self.config.max_connections):
            self._slots.put(None)
        self._idle: List[Any] = []
        self._lock = threading.Lock()
        self._generation = object()  # marks the connections this pool handed out

    def _forked(self) -> None:
        """In a child after os.fork() (one thread runs): let go of the parent's pool."""
        inherited = self._idle
        self._start_pool()
        for connection in inherited:
            try:  # closes the child's copy of the socket only; the parent's stays open
                connection.close()
            except Exception:  # noqa: BLE001 - nothing of the parent's may stop the child
                pass

    def _acquire(self, route: str) -> Any:
        wait = self.config.timeout.pool
        try:
            self._slots.get(True, wait)
        except self._no_slot:
            raise PoolTimeout("no free connection within %.1f s (max_connections=%d, all "
                              "in use)" % (wait or 0.0, self.config.max_connections),
                              route=route, hint="raise max_connections or the pool timeout"
                              ) from None
        try:
            while True:
                with self._lock:
                    connection = self._idle.pop() if self._idle else None
                if connection is None:
                    connection = self._new_connection()
                elif _is_dropped(connection):
                    connection.close()  # the server closed it while idle: replace it
                    continue
                connection.dpc_generation = self._generation
                return connection
        except BaseException:
            self._slots.put(None)
            raise

    def _release(self, connection: Any, reusable: bool) -> None:
        if getattr(connection, "dpc_generation", None) is not self._generation:
            connection.close()  # taken before a fork: neither its slot nor it is ours
            return
        try:
            if reusable:
                with self._lock:
                    reusable = len(self._idle) < self.config.pool_size
                    if reusable:
                        self._idle.append(connection)
            if not reusable:
                connection.close()
        finally:
            self._slots.put(None)

    def _new_connection(self) -> Any:
        import http.client

        connection: http.client.HTTPConnection
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

    def _get_ssl_context(self) -> Any:
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

    def _proxy_settings(self) -> Optional[Tuple[str, int, Dict[str, str]]]:
        """(host, port, tunnel headers) of the proxy to use, or None (the default)."""
        if self._proxy is _UNSET:
            self._proxy = None
            if self.config.trust_env:
                self._proxy = self._proxy_from_environment()
        proxy: Optional[Tuple[str, int, Dict[str, str]]] = self._proxy
        return proxy

    def _proxy_from_environment(self) -> Optional[Tuple[str, int, Dict[str, str]]]:
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
        headers: Dict[str, str] = {}
        if parts.username:
            token = "%s:%s" % (unquote(parts.username), unquote(parts.password or ""))
            headers["Proxy-Authorization"] = "Basic " + binascii.b2a_base64(
                token.encode("utf-8"), newline=False).decode("ascii")
        return parts.hostname, parts.port or 80, headers

    def close(self) -> None:
        """Close every idle connection. Connections in use go back to the pool when
        released, so the transport stays usable."""
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    # --- requests ----------------------------------------------------------

    def request(self, method: str, path: str, *, query: Optional[Mapping[str, Any]] = None,
                headers: Optional[Mapping[str, str]] = None, body: Any = None,
                stream: bool = False, read_timeout: Any = _UNSET, auth: bool = True) -> Any:
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

    def _headers(self, extra: Optional[Mapping[str, str]], auth: bool) -> Dict[str, str]:
        headers = {"User-Agent": self.config.user_agent, "Accept": "application/json"}
        if auth:
            headers["X-Api-Key"] = self.config.key
        if extra:
            for name, value in extra.items():
                headers[name] = _check_header_value(name, value)
        return headers

    def _redirect_target(self, response: Response, route: str, method: str,
                         redirects: int) -> str:
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

    def _attempt(self, method: str, target: str, route: str, headers: Dict[str, str], body: Any,
                 stream: bool, read_timeout: Any) -> Any:
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
                streamed = _StreamResponse(self, connection, response, method, url, route)
                handed_over = True  # (only once it exists: it releases the connection)
                return streamed
            content = self._read_body(response, route)
            reusable = not response.will_close and early is None
            return Response(response.status, _header_dict(response), content, method, url)
        finally:
            if not handed_over:
                self._release(connection, reusable)

    def _connect(self, connection: Any, route: str) -> None:
        import socket

        proxy = self._proxy_settings()
        where = self.origin if proxy is None else "the proxy %s:%d (for %s)" % (
            proxy[0], proxy[1], self.origin)
        try:
            connection.connect()
        except socket.timeout:
            connection.close()
            raise ConnectTimeout("could not connect to %s within %s s"
                                 % (where, self.config.timeout.connect),
                                 route=route) from None
        except OSError as exc:
            connection.close()
            hint = _connect_hint(exc, self) if proxy is None else (
                "the proxy comes from HTTP(S)_PROXY because trust_env is on; check it, or "
                "leave trust_env off to connect directly")
            raise ConnectError("cannot connect to %s: %s" % (where, _os_error_text(exc)),
                               route=route, hint=hint) from None
        self.connections_opened += 1
        try:
            connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, AttributeError):
            pass

    def _send(self, connection: Any, method: str, target: str, headers: Dict[str, str],
              body: Any, route: str) -> Any:
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
    def _early_response(connection: Any) -> Any:
        """After a send failure, read a response the server may have sent before closing."""
        try:
            connection.sock.settimeout(1.0)
            return connection.getresponse()
        except Exception:
            return None

    def _get_response(self, connection: Any, route: str, read_timeout: Optional[float]) -> Any:
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

    def _read_body(self, response: Any, route: str) -> bytes:
        import http.client
        import socket

        cap = self.config.max_response_size
        declared = response.getheader("content-length")
        expected = int(declared) if declared and _ASCII_DIGITS.match(declared) else None
        if expected is not None and expected > cap:
            raise ResponseTooLargeError(
                "the response is %s, over the %s max_response_size"
                % (_format_size(expected), _format_size(cap)), http_status=response.status,
                route=route)
        blocks: List[bytes] = []
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


def _header_dict(response: Any) -> Dict[str, str]:
    return {name.lower(): value for name, value in response.getheaders()}


def _os_error_text(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text)


def _connect_hint(exc: BaseException, transport: _Transport) -> Optional[str]:
    name = type(exc).__name__
    if "Certificate" in name or "SSL" in name:
        return ("TLS verification failed: pass verify='/path/to/ca.pem', or verify=False for a "
                "test daemon")
    if isinstance(exc, ConnectionRefusedError):
        return "is the daemon running and listening on %s:%d?" % (transport.host, transport.port)
    return None


_HEX_DIGITS = b"0123456789abcdefABCDEF"


def _chunk_size(line: bytes) -> Optional[int]:
    """The size on a chunk size line (hex digits, maybe ";extensions"), or None."""
    digits = line.split(b";", 1)[0].strip()
    if not digits or len(digits) > 16 or digits.strip(_HEX_DIGITS):
        return None
    return int(digits, 16)


class _StreamResponse:
    """A response whose body is read incrementally. Owns its connection until ``close``."""

    def __init__(self, transport: _Transport, connection: Any, response: Any, method: str,
                 url: str, route: str) -> None:
        self._transport = transport
        self._connection = connection
        self._response = response
        self.status_code = response.status
        self.headers = _header_dict(response)
        self.method = method
        self.url = url
        self.route = route
        self._finished = False
        self.read_timeout: Optional[float] = None

    def set_read_timeout(self, read_timeout: Optional[float]) -> None:
        """Bound each read of the body from now on."""
        self.read_timeout = read_timeout
        sock = self._connection.sock if self._connection is not None else None
        if sock is None:  # the response took over the socket (Connection: close)
            sock = getattr(getattr(self._response.fp, "raw", None), "_sock", None)
        if sock is not None:
            sock.settimeout(read_timeout)

    def iter_raw(self, read_timeout: Optional[float]) -> Iterator[bytes]:
        """Yield body bytes as they arrive (one read each); raise on a broken stream."""
        import http.client
        import socket

        response = self._response
        self.set_read_timeout(read_timeout)
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
            raise ReadTimeout("the stream was silent for %s s" % self.read_timeout,
                              route=self.route,
                              hint="long tool runs send nothing until they finish; raise "
                                   "stream_timeout") from None
        except (http.client.HTTPException, OSError) as exc:
            raise RemoteProtocolError("the stream broke: %s" % _os_error_text(exc),
                                      route=self.route) from None
        declared = self.headers.get("content-length")
        if declared and _ASCII_DIGITS.match(declared) and response.length:
            raise RemoteProtocolError("the stream was cut off before its declared length",
                                      route=self.route)
        # read1() does not close a response whose Content-Length is used up (read()
        # does); closed, it leaves the connection free for the next request
        response.close()
        self._finished = True

    def _iter_chunked(self, read1: Callable[[int], bytes]) -> Iterator[bytes]:
        """Decode ``Transfer-Encoding: chunked`` from large reads of the socket.

        http.client decodes chunk by chunk in Python, several calls per chunk; the daemon
        sends one chunk per event, so for small events that was most of the cost. Here
        each read (up to ``_READ_BLOCK``) is decoded in one pass and its payload yielded at
        once (copied once: the pieces are views of the read); a read that ends inside a
        chunk yields what it has, so events are never delayed.
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
            view = memoryview(raw)
            payload: List[memoryview] = []
            find = raw.find
            while True:
                if due:  # a chunk that began in an earlier read, or its CRLF, is due
                    if due > 0:
                        end = min(len(raw), position + due)
                        payload.append(view[position:end])
                        due -= end - position
                        position = end
                        if due:
                            break
                    if len(raw) - position < 2:
                        due = -1
                        break
                    if raw[position:position + 2] != b"\r\n":
                        raise self._bad_chunking("no CRLF after a chunk")
                    position += 2
                    due = 0
                line_end = find(b"\n", position)
                if line_end < 0:
                    if len(raw) - position > 1024:
                        raise self._bad_chunking("a chunk size line is too long")
                    break
                line = raw[position:line_end]
                if 1 < len(line) <= 17 and not line.rstrip(b"\r").strip(_HEX_DIGITS):
                    size: Optional[int] = int(line, 16)  # the usual "7a\r"
                else:
                    size = _chunk_size(line)  # with ";extensions", or None if broken
                if size is None:
                    raise self._bad_chunking("bad chunk size line %r" % line[:40])
                position = line_end + 1
                if size == 0:
                    if payload:
                        yield b"".join(payload)
                    self._skip_trailers(raw[position:], read1)
                    return
                end = position + size
                if raw[end:end + 2] == b"\r\n":  # the whole chunk is here: the usual case
                    payload.append(view[position:end])
                    position = end + 2
                else:  # it goes on in the next read (or its CRLF is missing: checked above)
                    due = size
            if payload:
                yield b"".join(payload)

    def _skip_trailers(self, raw: bytes, read1: Callable[[int], bytes]) -> None:
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

    def _bad_chunking(self, what: str) -> RemoteProtocolError:
        return RemoteProtocolError("the stream's chunked encoding is broken: %s" % what,
                                   route=self.route)

    def read_body(self) -> Response:
        """Read the whole (capped) body, e.g. a JSON error sent instead of a stream."""
        content = self._transport._read_body(self._response, self.route)
        self._finished = True
        return Response(self.status_code, self.headers, content, self.method, self.url)

    def close(self) -> None:
        if self._connection is None:
            return
        connection, self._connection = self._connection, None
        reusable = self._finished and not self._response.will_close
        if not reusable:
            self._response.close()  # it may own the socket (Connection: close)
        self._transport._release(connection, reusable)


# =============================================================================
# Dispatch
# =============================================================================
#
# Every dispatch route (tool/invoke, llm/invoke, oauth/..., 36 of them) is one POST
# of {"user_id", ..., "data": {...}} answered by an event stream of envelopes
# {code, message, data}, one per chunk. A plugin is addressed in one of two ways:
#
#   /plugin/{tenant}/dispatch/{route}   X-Plugin-ID: author/name   (installed for the tenant)
#   /v2/invoke/dispatch/{route}          X-Plugin-Unique-Identifier  (any uploaded package;
#                                        the tenant goes in the body)
#
# `_DispatchTarget` holds which; `_Dispatcher.stream` builds the request at once (so
# bad arguments raise at the call) and returns a generator that sends it when
# iterated, yields each chunk typed as the caller names, merges blob chunks if asked,
# and raises the typed error of an error event, with the request's credential values
# masked in it. `_Dispatcher.result` is for routes that answer one chunk: a stream
# that ends without one is an error.


# --- credentials never leave in an error ----------------------------------------


def _secret_values(credentials: Any) -> List[str]:
    """Every string in the credentials long enough to mask, longest first."""
    found: Set[str] = set()
    pending = [credentials]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if len(value) >= _MIN_REDACTED_KEY:
                found.add(value)
        elif isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, (list, tuple)):
            pending.extend(value)
    return sorted(found, key=len, reverse=True)


def _masked(value: Any, secrets: Sequence[str]) -> Any:
    """A copy of ``value`` (a text, or JSON data nested to any depth) with ``secrets``
    masked in every string in it."""
    holder: List[Any] = [None]
    pending: List[Tuple[Any, Any, Any]] = [(holder, 0, value)]
    while pending:
        parent, key, item = pending.pop()
        if isinstance(item, str):
            item = _mask_text(item, secrets)
        elif isinstance(item, dict):
            copy: Any = dict.fromkeys(item)
            pending.extend((copy, name, inner) for name, inner in item.items())
            item = copy
        elif isinstance(item, list):
            copy = [None] * len(item)
            pending.extend((copy, index, inner) for index, inner in enumerate(item))
            item = copy
        parent[key] = item
    return holder[0]


def _mask_credentials(error: DifyPluginError, secrets: Sequence[str]) -> None:
    """Replace every credential value in the error's texts with ***."""
    if not secrets:
        return
    for name in ("message", "hint", "invoke_message", "description", "invoke_args",
                 "daemon_args"):
        if hasattr(error, name):
            setattr(error, name, _masked(getattr(error, name), secrets))
    error.args = tuple(_masked(list(error.args), secrets))
    response = getattr(error, "response", None)
    if response is not None and isinstance(response.content, bytes):
        response.content = _mask_bytes(response.content, secrets)


class _MaskedErrors:
    """``with _MaskedErrors(secrets):`` masks ``secrets`` in a DifyPluginError raised
    inside (dispatch streams, polling, endpoint settings)."""

    def __init__(self, secrets: Sequence[str]) -> None:
        self.secrets = secrets

    def __enter__(self) -> "_MaskedErrors":
        return self

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        if isinstance(error, DifyPluginError):
            _mask_credentials(error, self.secrets)


def _masking_credentials(chunks: Generator[_E, None, None], secrets: Sequence[str]
                         ) -> Generator[_E, None, None]:
    """``chunks``, with credentials masked in any error the stream raises."""
    with _MaskedErrors(secrets):
        yield from chunks


def _at_least_one(chunks: Generator[_E, None, None], route: str, full_route: str
                  ) -> Generator[_E, None, None]:
    """``chunks``; a stream that ends without any is an error (the plugin answered
    nothing where a result was due). Closing it closes the stream."""
    empty = True
    try:
        for chunk in chunks:
            empty = False
            yield chunk
    finally:
        chunks.close()
    if empty:
        raise InvalidResponseError(
            "the daemon's stream ended without a result (zero events); the plugin answered "
            "nothing for %s" % route, route=full_route)


def _request_secrets(data: Dict[str, Any], top_level: Optional[Dict[str, Any]]) -> List[str]:
    """The credential values a dispatch request carries: ``credentials`` and OAuth's
    ``system_credentials`` in its data, and an agent context's ``credentials``."""
    context = (top_level or {}).get("context")
    return _secret_values([data.get("credentials"), data.get("system_credentials"),
                           context.get("credentials") if isinstance(context, dict) else None])


class _DispatchTarget:
    """Where a dispatch request goes: an installed plugin of a tenant, or a package."""

    __slots__ = ("tenant_id", "plugin_id", "unique_identifier")

    def __init__(self, tenant_id: str, plugin_id: Optional[str] = None,
                 unique_identifier: Optional[str] = None) -> None:
        self.tenant_id = _check_tenant(tenant_id)
        if (plugin_id is None) == (unique_identifier is None):
            raise InvalidArgumentError("name the plugin by plugin_id (installed) or by "
                                       "unique_identifier (uploaded), not both",
                                       argument="plugin_id")
        self.plugin_id = None if plugin_id is None else _check_plugin_id(plugin_id)
        self.unique_identifier = (None if unique_identifier is None
                                  else _check_identifier(unique_identifier,
                                                         "unique_identifier"))

    def path(self, route: str) -> str:
        if self.plugin_id is not None:
            return "/plugin/%s/dispatch/%s" % (self.tenant_id, route)
        return "/v2/invoke/dispatch/%s" % route

    def headers(self) -> Dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self.plugin_id is not None:
            headers["X-Plugin-ID"] = self.plugin_id
        else:
            headers["X-Plugin-Unique-Identifier"] = str(self.unique_identifier)
        return headers

    def body(self, fields: Dict[str, Any]) -> Dict[str, Any]:
        if self.plugin_id is None:  # /v2 reads the tenant from the body
            return dict(fields, tenant_id=self.tenant_id)
        return fields


def _first_event_timeout(seconds: Optional[float], route: str) -> ReadTimeout:
    return ReadTimeout("no first chunk within first_token_timeout=%s s (the daemon sends "
                       "nothing before the plugin's first chunk)" % seconds, route=route,
                       hint="raise first_token_timeout (per call, or in PluginConfig)")


def _json_body(payload: Any, what: str, argument: str) -> bytes:
    """A request body: compact JSON in UTF-8. NaN and Infinity are refused here, as the
    daemon's JSON parser would refuse them (with a message naming none of the input)."""
    try:
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":"),
                          allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        problem = str(exc)
        if problem.startswith("Out of range float"):
            problem = "it holds NaN or Infinity, which JSON cannot carry"
        raise InvalidArgumentError("%s must be JSON-serialisable: %s" % (what, problem),
                                   argument=argument) from None


_json_scan: List[Callable[[str, int], Tuple[Any, int]]] = []  # the C scanner, once looked up


def _json_scanner() -> Callable[[str, int], Tuple[Any, int]]:
    """``scan(text, 0) -> (value, end)``: the json module's C scanner, without the
    per-call overhead of json.loads (the daemon writes compact JSON, so it can start
    at index 0)."""
    if not _json_scan:
        decoder = json.JSONDecoder(parse_constant=_not_json_constant)
        _json_scan.append(getattr(decoder, "scan_once"))  # (not in typeshed)
    return _json_scan[0]


def _event_reader(chunk_type: Type[_E]) -> Callable[[str, str], _E]:
    """``read(text, route)``: one stream event (a daemon envelope) as a ``chunk_type``;
    an error event raises its typed error.

    The hot path of every stream: one call per event, the JSON scanned in place.
    """
    scan = _json_scanner()
    from_dict = chunk_type.from_dict

    def read(text: str, route: str) -> _E:
        try:
            envelope, end = scan(text, 0)
        except (StopIteration, ValueError, RecursionError):
            end = -1
        if end != len(text):
            envelope = _event_json(text, route)
        if type(envelope) is dict:
            code = envelope.get("code")
            if code == 0 and type(code) is int:
                try:
                    return from_dict(envelope.get("data"), "data")
                except ResponseValidationError as exc:
                    exc.route = route
                    raise
        raise _event_error(envelope, text, route)
    return read


def _default_reader(chunk_type: Type[_E]) -> Callable[[str, str], _E]:
    """The event reader of a stream of ``chunk_type``."""
    if issubclass(chunk_type, ToolInvokeMessage):
        return _message_event_reader(chunk_type)
    return _event_reader(chunk_type)


def _plain_string_at(text: str, match_head: Callable[[str], Any], key: str
                     ) -> Optional[Tuple[int, int]]:
    """Where the string value that ``match_head`` matches up to starts and ends in an
    event, if it can be cut out and the rest read apart (None if not): a closing quote,
    no escape inside it, and ``key`` (its key, quoted) not again after it (a repeated
    key would win over it)."""
    match = match_head(text)
    if match is None:
        return None
    start = match.end()
    end = text.find('"', start)
    if end < 0 or text.find("\\", start, end) >= 0 or text.find(key, end) >= 0:
        return None
    return start, end


#: The start of a blob or blob_chunk message event as the daemon writes it, up to the
#: base64 (Go writes keys sorted, so "blob" comes first).
_BLOB_EVENT_HEAD = _Regex(r'\{"code":0,"message":"[^"\\]*","data":\{"type":"blob(?:_chunk)?",'
                          r'"message":\{"blob":"')


def _message_event_reader(chunk_type: Type[_E]) -> Callable[[str, str], _E]:
    """The event reader of message streams (tools, agents, datasources): blob pieces
    are read without JSON-scanning their base64, which is most of every such event.

    In the daemon's form (``_BLOB_EVENT_HEAD``) the base64 is cut out, the rest read as
    any event is, and the base64 decoded as the usual reader would decode it; any other
    form, or any error, takes the usual way (so errors name the whole event).
    """
    read = _event_reader(chunk_type)
    match_head = _BLOB_EVENT_HEAD.match

    def read_message(text: str, route: str) -> _E:
        if len(text) > 512:
            cut = _plain_string_at(text, match_head, '"blob"')
            if cut is not None:
                start, end = cut
                try:
                    chunk = read(text[:start] + text[end:], route)
                    message = getattr(chunk, "message", None)
                    if isinstance(message, (BlobMessage, BlobChunkMessage)) \
                            and message.blob == b"":
                        message.blob = _decode_base64(text[start:end], "data.message.blob")
                        return chunk
                except DifyPluginError:
                    pass
        return read(text, route)
    return read_message


def _event_json(text: str, route: str) -> Any:
    """An event's JSON that the quick scan did not take whole: json.loads, or a clear error."""
    try:
        return _loads(text)
    except ValueError as exc:
        raise InvalidResponseError("a stream event is not JSON (%s): %s"
                                   % (exc, _short_repr(text, 120)), route=route) from None


def _event_error(envelope: Any, text: str, route: str) -> DifyPluginError:
    """What a stream event that is not a success envelope means."""
    if type(envelope) is not dict:
        return InvalidResponseError("a stream event is not the daemon's envelope: %s"
                                    % _short_repr(text, 120), route=route)
    code = envelope.get("code")
    if isinstance(code, int) and not isinstance(code, bool):
        return _daemon_error(code, envelope.get("message"), 200, route)
    return InvalidResponseError("a stream event has no integer code: %s"
                                % _short_repr(text, 120), route=route)


def _chunk(chunk_type: Type[_E], data: Any, route: str) -> _E:
    try:
        return chunk_type.from_dict(data, "data")
    except ResponseValidationError as exc:
        exc.route = route
        raise


class _Dispatcher:
    """Sends dispatch requests over a transport; see the banner above.

    With ``package`` (a unique identifier), every request goes to that package through
    /v2 instead of to the plugin installed for the tenant (see ``by_identifier``); a
    request must then name the package's own plugin.
    """

    def __init__(self, transport: _Transport, config: PluginConfig,
                 package: Optional[str] = None) -> None:
        self._transport = transport
        self._config = config
        self.package = package

    def _retarget(self, target: _DispatchTarget) -> _DispatchTarget:
        package = self.package
        if package is None or target.unique_identifier is not None:
            return target
        plugin_id = _plugin_id_of(package)
        if target.plugin_id != plugin_id:
            raise InvalidArgumentError(
                "this client view runs the package %s (plugin %s); the call names plugin %s"
                % (package, plugin_id, target.plugin_id), argument="plugin_id")
        return _DispatchTarget(target.tenant_id, unique_identifier=package)

    def stream(self, target: _DispatchTarget, route: str, data: Dict[str, Any], *,
               user_id: str, chunk_type: Type[_E], top_level: Optional[Dict[str, Any]] = None,
               merge_blob_chunks: bool = False, what: str = "the request data",
               argument: str = "data",
               encode: Optional[Callable[[Dict[str, Any]], Any]] = None,
               first_event_timeout: Optional[float] = None,
               max_event_size: Optional[int] = None,
               reader: Optional[Callable[[_EventData, str], _E]] = None,
               at_least_one: bool = False
               ) -> Generator[_E, None, None]:
        """Check and encode the request now; return the generator of its chunks.

        ``encode(payload)`` makes the body instead of compact JSON (an object with
        ``length`` and ``blocks()`` is streamed: speech-to-text sends its audio so).
        ``first_event_timeout`` bounds the wait for the response head and the first
        event (the daemon sends neither before the plugin's first chunk); None: the
        stream timeout. ``max_event_size`` replaces ``config.max_event_size``.
        ``reader(data, route)`` makes each event's chunk instead of
        ``_event_reader(chunk_type)``; it is also handed the undecoded bytes of long
        events (``_SSEParser``'s ``raw_long_lines``: TTS audio takes a quicker way).
        With ``at_least_one``, a stream that ends without a chunk is an error.
        """
        _check_text(user_id, "user_id")
        target = self._retarget(target)
        fields: Dict[str, Any] = {"user_id": user_id}
        fields.update(top_level or {})
        fields["data"] = data
        payload = target.body(fields)
        body = _json_body(payload, what, argument) if encode is None else encode(payload)
        chunks = self._chunks(target.path(route), target.headers(), body, chunk_type,
                              merge_blob_chunks, first_event_timeout,
                              max_event_size or self._config.max_event_size,
                              reader or _default_reader(chunk_type), reader is not None)
        if at_least_one:
            chunks = _at_least_one(chunks, route, "POST " + target.path(route))
        secrets = _request_secrets(data, top_level)
        return _masking_credentials(chunks, secrets) if secrets else chunks

    def result(self, target: _DispatchTarget, route: str, data: Dict[str, Any], *,
               user_id: str, chunk_type: Type[_E], **options: Any) -> _E:
        """The one chunk a route answers with. A stream without any is an error.

        That one event is the whole answer: it may be as large as a response
        (max_response_size), not only as an event of a long stream (max_event_size).
        """
        config = self._config
        options.setdefault("max_event_size",
                           max(config.max_event_size, config.max_response_size))
        stream = self.stream(target, route, data, user_id=user_id, chunk_type=chunk_type,
                             at_least_one=True, **options)
        try:
            answer = next(stream)
            self._read_to_the_end(stream, route)
            return answer
        finally:
            stream.close()

    def _read_to_the_end(self, stream: Iterator[Any], route: str) -> None:
        """Read what follows a route's one answer: the stream's end, which the daemon
        sends at once. Read, it lets the connection go back to the pool; closed before
        it, the connection could not be reused (a new one for every call). What else may
        follow changes nothing: the first answer is the answer (as in Dify)."""
        try:
            if next(stream, None) is not None:
                _logger().debug("%s: more than one answer; the first is used", route)
        except DifyPluginError as exc:  # (its text is not logged: it may quote secrets)
            _logger().debug("%s: %s after the answer", route, type(exc).__name__)

    def _chunks(self, path: str, headers: Dict[str, str], body: Any, chunk_type: Type[_E],
                merge_blob_chunks: bool, first_event_timeout: Optional[float],
                max_event_size: int, read: Callable[[Any, str], _E],
                raw_long_lines: bool = False
                ) -> Generator[_E, None, None]:
        """Send the request and yield its chunks (a generator: runs on iteration).
        ``read(data, route)`` makes each event's chunk (with ``raw_long_lines`` it takes
        memoryviews too)."""
        route = "POST " + path
        config = self._config
        waiting = first_event_timeout is not None  # the first event has its own bound
        first_wait = first_event_timeout if waiting else config.stream_timeout
        try:
            stream = self._transport.request("POST", path, headers=headers, body=body,
                                             stream=True, read_timeout=first_wait)
        except ReadTimeout:
            if not waiting:
                raise
            raise _first_event_timeout(first_wait, route) from None
        try:
            content_type = stream.headers.get("content-type", "").lower()  # any case
            if stream.status_code != 200 or not content_type.startswith("text/event-stream"):
                # An error before the stream started comes as a plain JSON envelope.
                data = _decode_envelope(stream.read_body(), route)
                if data is not None:
                    yield _chunk(chunk_type, data, route)
                return
            parser = _SSEParser(max_event_size, raw_long_lines, strict=True)
            merger = (_BlobMerger(config.max_blob_chunk_size, config.max_blob_size)
                      if merge_blob_chunks else None)
            try:
                for block in stream.iter_raw(first_wait):
                    for event in parser.feed(block):
                        if waiting:
                            waiting = False
                            stream.set_read_timeout(config.stream_timeout)
                        chunk = read(event.data, route)
                        if merger is not None and getattr(chunk, "type", None) == "blob_chunk":
                            merged = merger.add(chunk)  # type: ignore[type-var]
                            if merged is None:
                                continue
                            chunk = merged
                        yield chunk
            except ReadTimeout:
                if not waiting:
                    raise
                raise _first_event_timeout(first_wait, route) from None
            except UnicodeDecodeError as exc:  # from the parser or a reader
                raise InvalidResponseError("a stream event is not UTF-8 text (byte %r)"
                                           % exc.object[exc.start:exc.start + 1],
                                           route=route) from None
            if parser.close():
                raise RemoteProtocolError("the stream ended in the middle of an event",
                                          route=route)
            if merger is not None:
                merger.finish()
        finally:
            stream.close()


# =============================================================================
# Client: core
# =============================================================================
#
# DifyPluginClient is put together from one class per route group (install and
# lifecycle, discovery, tools, ...), each under its own banner below, over this core:
# the configuration, the transport, the dispatcher and the JSON call every management
# route makes. help(DifyPluginClient) lists the methods by group.


class _ClientCore:
    """What every route group's methods build on."""

    config: PluginConfig
    _transport: _Transport
    _dispatcher: _Dispatcher
    # tool declarations kept for casting: (tenant, plugin id, provider) -> (expires, entity)
    _declarations: Dict[Tuple[str, str, str], Tuple[float, PluginToolProviderEntity]]
    _declarations_lock: Any

    @staticmethod
    def _management(tenant_id: Any, suffix: str) -> str:
        return "/plugin/%s/management/%s" % (_check_tenant(tenant_id), suffix)

    def _call(self, method: str, path: str, *, query: Optional[Mapping[str, Any]] = None,
              payload: Any = None, body: Any = None,
              headers: Optional[Mapping[str, str]] = None,
              what: str = "the request body", argument: str = "payload") -> Any:
        """One request expecting the daemon's JSON envelope; returns its ``data``.
        ``payload`` is sent as JSON (``what`` and ``argument`` name it if it cannot be)."""
        if payload is not None:
            body = _json_body(payload, what, argument)
            headers = dict(headers or (), **{"Content-Type": "application/json"})
        response = self._transport.request(method, path, query=query, headers=headers, body=body)
        return _decode_envelope(response, "%s %s" % (method, path))

    @staticmethod
    def _iter_pages(fetch_page: Callable[[int], Tuple[Sequence[_T], bool]],
                    key: Callable[[Any], Any] = lambda item: item.id) -> Iterator[_T]:
        """Every item of a paged listing, each once (by ``key``), page by page.
        ``fetch_page(n)`` gives page n's items and whether another page may follow."""
        seen: Set[Any] = set()
        page = 1
        while True:
            items, more = fetch_page(page)
            fresh = [item for item in items if key(item) not in seen]
            for item in fresh:
                seen.add(key(item))
                yield item
            # A page of nothing new means the daemon ignores paging (or rows shifted):
            # stop rather than loop.
            if not more or not fresh:
                return
            page += 1

    def _all_providers(self, tenant_id: str, suffix: str, cls: Type[_E]) -> List[_E]:
        """Every provider of one kind installed for the tenant (management/tools, models,
        ...), all pages, each once."""
        path = self._management(tenant_id, suffix)

        def page_of(page: int) -> Tuple[List[_E], bool]:
            data = self._call("GET", path, query={"page": page, "page_size": MAX_PAGE_SIZE})
            return _full_page(_parse_list(cls, data, "GET " + path), MAX_PAGE_SIZE)

        return list(self._iter_pages(page_of,
                                     key=lambda item: (item.plugin_id, item.provider)))

    def _one_provider(self, tenant_id: str, suffix: str, plugin_id: str, provider_name: str,
                      cls: Type[_E], what: str) -> _E:
        """One installed provider of a kind (management/tool, agent_strategy, ...) by
        its plugin and short name; the error for a missing one names it."""
        path = self._management(tenant_id, suffix)
        try:
            data = self._call("GET", path, query={"plugin_id": plugin_id,
                                                  "provider": provider_name})
        except (PluginNotFoundError, PluginDaemonNotFoundError) as exc:
            exc.message = "no %s provider %s/%s for this tenant (the daemon: %s)" % (
                what, plugin_id, provider_name, exc.message)
            exc.args = (exc.message,)
            raise
        return _parse(cls, data, "GET " + path)


# =============================================================================
# Client: install and lifecycle
# =============================================================================


class _InstallAndLifecycle(_ClientCore):
    """Upload packages and bundles, install, follow and clean up tasks, upgrade, uninstall."""

    def upload_pkg(self, tenant_id: str, pkg: Union[bytes, str, os.PathLike[str], IO[bytes]],
                   verify_signature: bool = False) -> PluginDecodeResponse:
        """Upload a ``.difypkg`` (bytes, a path or a binary file) and return its decoded
        manifest and unique identifier. Uploading does not install it.

        From a path or file, the package is streamed: memory use does not grow with its
        size. A package over ``config.max_package_size`` is refused before sending.
        """
        data, route = self._upload(tenant_id, pkg, verify_signature, "pkg", "dify_pkg",
                                   "install/upload/package", self.config.max_package_size)
        return _parse(PluginDecodeResponse, data, route)

    def upload_bundle(self, tenant_id: str,
                      bundle: Union[bytes, str, os.PathLike[str], IO[bytes]],
                      verify_signature: bool = False) -> List[PluginBundleDependency]:
        """Upload a ``.difybndl`` bundle; returns its dependencies in bundle order.
        Packages inside the bundle are uploaded (not installed) by the daemon."""
        data, route = self._upload(tenant_id, bundle, verify_signature, "bundle", "dify_bundle",
                                   "install/upload/bundle", self.config.max_bundle_size)
        return _parse_list(PluginBundleDependency, data, route)

    def _upload(self, tenant_id: str, source: Any, verify_signature: bool, argument: str,
                field: str, suffix: str, limit: int) -> Tuple[Any, str]:
        path = self._management(tenant_id, suffix)
        _check_bool(verify_signature, "verify_signature")
        upload = _UploadSource.open(source, argument, limit)
        filename = os.path.basename(upload.path) if upload.path else field
        body = _MultipartBody([("verify_signature", "true" if verify_signature else "false")],
                              field, filename, upload)
        data = self._call("POST", path, body=body, headers={"Content-Type": body.content_type})
        return data, "POST " + path

    def install_from_identifiers(self, tenant_id: str, identifiers: Sequence[str],
                                 source: Union[PluginInstallationSource, str],
                                 metas: Optional[Sequence[Dict[str, Any]]] = None
                                 ) -> PluginInstallTaskStartResponse:
        """Start installing uploaded packages. ``metas`` has one dict per identifier
        (default: ``{}`` each).

        Returns ``all_installed`` true when the daemon had nothing to wait for: every
        package already ran on the daemon (for some tenant) and the daemon has just
        installed it for this tenant, synchronously. Otherwise ``task_id`` names the
        task to follow (see :meth:`wait_for_installation_task`)."""
        path = self._management(tenant_id, "install/identifiers")
        identifiers = _check_identifiers(identifiers, "identifiers", MAX_INSTALL_IDENTIFIERS)
        source_text = _check_source(source)
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
        checked = [_check_meta(meta, "metas[%d]" % index) for index, meta in enumerate(metas)]
        data = self._call("POST", path, payload={"plugin_unique_identifiers": identifiers,
                                                 "source": source_text, "metas": checked},
                          what="metas", argument="metas")
        return _task_started(data, "POST " + path)

    def fetch_plugin_installation_task(self, tenant_id: str, task_id: str) -> PluginInstallTask:
        """One install task with the status and latest message of each plugin."""
        path = self._management(tenant_id, "install/tasks/" + _check_uuid(task_id, "task_id"))
        return _parse(PluginInstallTask, self._call("GET", path), "GET " + path)

    def fetch_plugin_installation_tasks(self, tenant_id: str, page: int = 1,
                                        page_size: int = MAX_PAGE_SIZE
                                        ) -> List[PluginInstallTask]:
        """One page of the tenant's install tasks, newest first."""
        _check_page(page, page_size)
        path = self._management(tenant_id, "install/tasks")
        data = self._call("GET", path, query={"page": page, "page_size": page_size})
        return _parse_list(PluginInstallTask, data, "GET " + path)

    def iter_installation_tasks(self, tenant_id: str, page_size: int = MAX_PAGE_SIZE
                                ) -> Iterator[PluginInstallTask]:
        """Every install task of the tenant, newest first, fetched page by page."""
        return self._iter_pages(lambda page: _full_page(
            self.fetch_plugin_installation_tasks(tenant_id, page, page_size), page_size))

    def delete_plugin_installation_task(self, tenant_id: str, task_id: str) -> bool:
        """Delete one install task (True even if it did not exist)."""
        path = self._management(
            tenant_id, "install/tasks/%s/delete" % _check_uuid(task_id, "task_id"))
        return _expect_bool(self._call("POST", path), "POST " + path)

    def delete_all_plugin_installation_task_items(self, tenant_id: str) -> bool:
        """Delete every install task of the tenant, running ones included."""
        path = self._management(tenant_id, "install/tasks/delete_all")
        return _expect_bool(self._call("POST", path), "POST " + path)

    def delete_plugin_installation_task_item(self, tenant_id: str, task_id: str,
                                             identifier: str) -> bool:
        """Remove one plugin from an install task (the task goes when none is left unfinished)."""
        _check_uuid(task_id, "task_id")
        _check_identifier(identifier, "identifier")
        # The identifier is a catch-all route segment; validated, it holds only
        # [a-z0-9_-/:.@], which need no escaping.
        path = self._management(tenant_id, "install/tasks/%s/delete/%s" % (task_id, identifier))
        return _expect_bool(self._call("POST", path), "POST " + path)

    def fetch_missing_dependencies(self, tenant_id: str, plugin_unique_identifiers: Sequence[str]
                                   ) -> List[MissingPluginDependency]:
        """The identifiers that are not installed exactly; ``current_identifier`` tells
        which version of the plugin is installed instead ("" when none)."""
        path = self._management(tenant_id, "installation/missing")
        identifiers = _check_identifiers(plugin_unique_identifiers, "plugin_unique_identifiers",
                                         MAX_BATCH_IDS)
        data = self._call("POST", path, payload={"plugin_unique_identifiers": identifiers})
        return _parse_list(MissingPluginDependency, data, "POST " + path)

    def uninstall(self, tenant_id: str, plugin_installation_id: str) -> bool:
        """Uninstall by installation id (``PluginEntity.installation_id``). Idempotent."""
        path = self._management(tenant_id, "uninstall")
        _check_uuid(plugin_installation_id, "plugin_installation_id")
        data = self._call("POST", path, payload={"plugin_installation_id": plugin_installation_id})
        return _expect_bool(data, "POST " + path)

    def upgrade_plugin(self, tenant_id: str, original_plugin_unique_identifier: str,
                       new_plugin_unique_identifier: str,
                       source: Union[PluginInstallationSource, str],
                       meta: Optional[Dict[str, Any]] = None) -> PluginInstallTaskStartResponse:
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
        return _task_started(self._call("POST", path, payload=payload), "POST " + path)

    def fetch_plugin_installation_by_ids(self, tenant_id: str, plugin_ids: Sequence[str]
                                         ) -> List[PluginInstallation]:
        """Installations of the given plugin ids (``author/name``, not installation ids)."""
        path = self._management(tenant_id, "installation/fetch/batch")
        if isinstance(plugin_ids, str) or not hasattr(plugin_ids, "__iter__"):
            raise InvalidArgumentError("plugin_ids must be a list of plugin ids",
                                       argument="plugin_ids")
        plugin_ids = list(plugin_ids)
        if len(plugin_ids) > MAX_BATCH_IDS:
            raise InvalidArgumentError("plugin_ids has %d items; the daemon accepts at most %d"
                                       % (len(plugin_ids), MAX_BATCH_IDS), argument="plugin_ids")
        for index, plugin_id in enumerate(plugin_ids):
            _check_plugin_id(plugin_id, "plugin_ids[%d]" % index)
        data = self._call("POST", path, payload={"plugin_ids": plugin_ids})
        return _parse_list(PluginInstallation, data, "POST " + path)

    def wait_for_installation_task(
            self, tenant_id: str, task_id: str, *, timeout: Optional[float] = 600.0,
            poll_interval: float = 0.5, max_poll_interval: float = 5.0,
            on_progress: Optional[Callable[[PluginInstallTask], Any]] = None,
            identifiers: Optional[Sequence[str]] = None) -> PluginInstallTask:
        """Poll an install task until it succeeds, fails or ``timeout`` seconds pass.

        ``on_progress(task)`` is called whenever a plugin's status or message changes.
        Returns the finished task on success. Raises :class:`PluginInstallError` (with
        every failed plugin's message) on failure and :class:`InstallTimeoutError` at
        the deadline.

        A task that ends ``success`` is checked against the tenant's installations: the
        daemon also reports success for a package of a plugin the tenant has in another
        version, and changes nothing; that raises :class:`PluginInstallError` naming the
        installed version (switch versions with :meth:`upgrade_plugin`). The daemon
        deletes successful tasks 60-120 s after they succeed; a task that was seen and
        is gone counts as a success once the installation is confirmed
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
                self._confirm_installed(tenant_id, task_id, task,
                                        [item.plugin_unique_identifier for item in task.plugins])
                return task
            if task.status == PluginInstallTaskStatus.Failed:
                raise _install_failure(task)
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise InstallTimeoutError(
                    "install task %s is still %s after %.0f s"
                    % (task_id, task.status, timeout or 0.0),
                    task=task, hint="wait longer (timeout=); the task keeps running on the daemon")
            sleep = interval if deadline is None else min(interval, deadline - now)
            time.sleep(max(sleep, 0.0))
            interval = min(interval * 1.5, max_poll_interval)

    def _task_gone(self, tenant_id: str, task_id: str, last: Optional[PluginInstallTask],
                   identifiers: Optional[Sequence[str]], error: PluginDaemonError
                   ) -> PluginInstallTask:
        """The task vanished: success if the plugins it installs are installed."""
        wanted = list(identifiers or ([item.plugin_unique_identifier for item in last.plugins]
                                      if last is not None else []))
        if not wanted:
            error.message = "no install task %s for this tenant (%s)" % (task_id, error.message)
            error.args = (error.message,)
            error.hint = "check the task id; tasks lists the tenant's tasks"
            raise error
        if last is not None:  # seen running, then gone: the daemon cleans up after success
            error.hint = ("the daemon deletes install tasks 60-120 s after they succeed; the "
                          "installation was checked instead")
        self._confirm_installed(tenant_id, task_id, last, wanted, error)
        import dataclasses

        task = last or PluginInstallTask(id=task_id, status=PluginInstallTaskStatus.Success,
                                         tenant_id=tenant_id)
        return dataclasses.replace(
            task, status=PluginInstallTaskStatus.Success,
            completed_plugins=max(task.total_plugins, len(task.plugins)),
            plugins=[dataclasses.replace(item, status=PluginInstallTaskStatus.Success,
                                         message="installed (task already cleaned up)")
                     for item in task.plugins])

    def _confirm_installed(self, tenant_id: str, task_id: str,
                           task: Optional[PluginInstallTask], wanted: Sequence[str],
                           gone: Optional[PluginDaemonError] = None) -> None:
        """Raise PluginInstallError unless each wanted identifier is what the tenant has
        installed now (the daemon reports success for a task that changed nothing)."""
        plugin_ids = sorted({_plugin_id_of(identifier) for identifier in wanted})
        installed = {installation.plugin_id: installation.plugin_unique_identifier
                     for installation in self.fetch_plugin_installation_by_ids(tenant_id,
                                                                               plugin_ids)}
        failures = []
        other_version = False
        for identifier in wanted:
            plugin_id = _plugin_id_of(identifier)
            current = installed.get(plugin_id)
            if current == identifier:
                continue
            if current is None:
                failures.append((identifier, "%s is not installed" % plugin_id))
            else:
                other_version = True
                failures.append((identifier, "%s is installed as %s, not as %s; install does "
                                 "not switch versions, upgrade does" % (plugin_id, current,
                                                                       identifier)))
        if not failures:
            return
        how = ("disappeared" if gone is not None
               else "ended %s but changed nothing" % (task.status if task else "success"))
        raise PluginInstallError(
            "install task %s %s: %s" % (task_id, how, "; ".join(text for _, text in failures)),
            task=task, failures=failures, route=gone.route if gone is not None else None,
            hint=("switch versions with upgrade_plugin(original, new, source)" if other_version
                  else gone.hint if gone is not None else None))


# =============================================================================
# Client: discovery and metadata
# =============================================================================


class _DiscoveryAndMetadata(_ClientCore):
    """List installed plugins, read manifests and READMEs, check the daemon's health."""

    def list_plugins_with_total(self, tenant_id: str, page: int = 1,
                                page_size: int = MAX_PAGE_SIZE) -> PluginListResponse:
        """One page of installed plugins (newest first) and the tenant's total."""
        _check_page(page, page_size)
        path = self._management(tenant_id, "list")
        data = self._call("GET", path, query={"page": page, "page_size": page_size})
        if isinstance(data, list):  # daemons before 0.1.1 answered a bare array
            data = {"list": data, "total": len(data)}
        return _parse(PluginListResponse, data, "GET " + path)

    def list_plugins(self, tenant_id: str) -> List[PluginEntity]:
        """Every installed plugin of the tenant (all pages, not only the first 256)."""
        return list(self.iter_plugins(tenant_id))

    def iter_plugins(self, tenant_id: str, page_size: int = MAX_PAGE_SIZE
                     ) -> Iterator[PluginEntity]:
        """Installed plugins, newest first, fetched page by page as you iterate."""
        return self._iter_pages(lambda page: _full_page(
            self.list_plugins_with_total(tenant_id, page, page_size).list, page_size))

    def fetch_plugin_manifest(self, tenant_id: str, plugin_unique_identifier: str
                              ) -> PluginDeclaration:
        """The manifest of an uploaded package (icons are asset ids)."""
        path = self._management(tenant_id, "fetch/manifest")
        identifier = _check_identifier(plugin_unique_identifier)
        data = self._call("GET", path, query={"plugin_unique_identifier": identifier})
        return _parse(PluginDeclaration, data, "GET " + path)

    def decode_plugin_from_identifier(self, tenant_id: str, plugin_unique_identifier: str
                                      ) -> PluginDecodeResponse:
        """Decode an uploaded package again: manifest (original icon names) and verification."""
        path = self._management(tenant_id, "decode/from_identifier")
        identifier = _check_identifier(plugin_unique_identifier)
        # Daemons up to 0.5.4 bind the Go field name; later ones the snake_case key.
        query = {"plugin_unique_identifier": identifier, "PluginUniqueIdentifier": identifier}
        return _parse(PluginDecodeResponse, self._call("GET", path, query=query), "GET " + path)

    def fetch_plugin_readme(self, tenant_id: str, plugin_unique_identifier: str,
                            language: str = "en_US") -> str:
        """The package's README in ``language`` (the daemon falls back to en_US), or ""
        if the package has none. An unknown (never uploaded) package raises
        :class:`PluginDaemonInternalServerError`. :meth:`fetch_plugin_readme_info` also
        tells which language the daemon answered with."""
        return self.fetch_plugin_readme_info(tenant_id, plugin_unique_identifier,
                                             language).content

    def fetch_plugin_readme_info(self, tenant_id: str, plugin_unique_identifier: str,
                                 language: str = "en_US") -> PluginReadme:
        """The README as :class:`PluginReadme`: its ``content`` and the ``language`` the
        daemon answered with (``content`` is "" and ``language`` None when the package
        has no README)."""
        path = self._management(tenant_id, "fetch/readme")
        identifier = _check_identifier(plugin_unique_identifier)
        query = {"plugin_unique_identifier": identifier}
        if language:
            query["language"] = _check_text(language, "language")
        try:
            data = self._call("GET", path, query=query)
        except PluginDaemonError as exc:
            # a package without README.md: "...: open README.md: file does not exist\n
            # en_US readme not found"; an unknown package is an error like any other
            if "readme not found" in (exc.message or "").lower():
                return PluginReadme()
            raise
        except HTTPStatusError as exc:
            if exc.status_code == 404:  # daemons before 0.4.0 have no readme route
                return PluginReadme()
            raise
        if data is None:
            return PluginReadme()
        return _parse(PluginReadme, data, "GET " + path)

    def fetch_plugin_by_identifier(self, tenant_id: str, identifier: str) -> bool:
        """True if some tenant has this exact identifier installed (uploaded is not enough)."""
        path = self._management(tenant_id, "fetch/identifier")
        _check_identifier(identifier, "identifier")
        data = self._call("GET", path, query={"plugin_unique_identifier": identifier})
        return _expect_bool(data, "GET " + path)

    def health(self) -> DaemonHealth:
        """The daemon's /health/check (needs no key, so none is sent)."""
        route = "GET /health/check"
        response = self._transport.request("GET", "/health/check", auth=False)
        try:
            data = _loads(response.content)
        except ValueError:  # not JSON, not UTF-8, or nested too deeply
            data = None
        if response.status_code != 200 or not isinstance(data, dict):
            if 200 <= response.status_code < 300:
                raise InvalidResponseError("the health check did not answer JSON",
                                           http_status=response.status_code, route=route)
            raise _status_error(response, route)
        return _parse(DaemonHealth, data, route)


# =============================================================================
# Client: tools
# =============================================================================


class _Tools(_ClientCore):
    """Tool providers with resolved schemas, existence checks, and streamed invoke."""

    def fetch_tool_providers(self, tenant_id: str) -> List[PluginToolProviderEntity]:
        """Every tool provider installed for the tenant (all pages, not only 256).

        Provider names come back as ``plugin_id/provider_name`` in
        ``declaration.identity.name`` and in every tool's ``identity.provider``, and the
        tools' output schemas have their $refs resolved.
        """
        return [self._prepare_provider(tenant_id, provider) for provider in
                self._all_providers(tenant_id, "tools", PluginToolProviderEntity)]

    def fetch_tool_provider(self, tenant_id: str, provider: str) -> PluginToolProviderEntity:
        """One tool provider, named ``organization/plugin_name/provider_name`` (which is
        ``plugin_id/provider_name``) or by a bare name meaning ``langgenius/<name>/<name>``."""
        plugin_id, provider_name = _parse_provider_id(provider, "provider", aliases=True)
        return self._fetch_tool_provider(tenant_id, plugin_id, provider_name)

    def _fetch_tool_provider(self, tenant_id: str, plugin_id: str, provider_name: str
                             ) -> PluginToolProviderEntity:
        entity = self._one_provider(tenant_id, "tool", plugin_id, provider_name,
                                    PluginToolProviderEntity, "tool")
        return self._prepare_provider(tenant_id, entity)

    def _prepare_provider(self, tenant_id: str, entity: PluginToolProviderEntity
                          ) -> PluginToolProviderEntity:
        """Name the provider in full, tell each tool its provider, resolve schema refs,
        and keep the declaration for parameter casting."""
        entity._name_members()
        declaration = entity.declaration
        if declaration is not None:
            for tool in declaration.tools:
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

    def check_tools_existence(self, tenant_id: str, provider_ids: Sequence[Any]) -> List[bool]:
        """For each ``{"plugin_id": ..., "provider_name": ...}`` (or provider id string),
        whether the tenant has that tool provider installed; same order as given."""
        path = self._management(tenant_id, "tools/check_existence")
        items = [_provider_pair(item, "provider_ids[%d]" % index)
                 for index, item in enumerate(_check_list(provider_ids, "provider_ids"))]
        data = self._call("POST", path, payload={"provider_ids": items})
        route = "POST " + path
        if not isinstance(data, list) or len(data) != len(items) or not all(
                isinstance(flag, bool) for flag in data):
            raise ResponseValidationError(
                "expected %d booleans in data, got %s" % (len(items), _short_repr(data)),
                path="data", route=route)
        return data

    def invoke(self, tenant_id: str, user_id: str, tool_provider: str, tool_name: str,
               credentials: Optional[Dict[str, Any]] = None,
               tool_parameters: Optional[Dict[str, Any]] = None, *,
               conversation_id: Optional[str] = None, app_id: Optional[str] = None,
               message_id: Optional[str] = None, credential_type: Optional[str] = None,
               cast_parameters: bool = True, merge_blob_chunks: bool = True
               ) -> Generator[ToolInvokeMessage, None, None]:
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
        context = {"conversation_id": conversation_id, "app_id": app_id,
                   "message_id": message_id}  # sent as they are, None as null (as Dify does)
        _context_fields(**context)
        _check_credential_type(credential_type)
        if cast_parameters:
            tool = self._tool_declaration(tenant_id, plugin_id, provider_name, tool_name)
            parameters = _cast_parameters(tool, parameters, "tool %r of %s/%s" % (
                tool_name, plugin_id, provider_name))
        data = {"provider": provider_name, "tool": tool_name, "credentials": credentials,
                "tool_parameters": parameters}
        if credential_type is not None:
            data["credential_type"] = credential_type
        return self._dispatcher.stream(
            _DispatchTarget(tenant_id, plugin_id=plugin_id), "tool/invoke", data,
            user_id=user_id, chunk_type=ToolInvokeMessage, top_level=context,
            merge_blob_chunks=merge_blob_chunks, what="credentials and tool_parameters",
            argument="tool_parameters")

    def _tool_declaration(self, tenant_id: str, plugin_id: str, provider_name: str,
                          tool_name: str) -> ToolDeclaration:
        """The tool's declaration, from the cache when fresh (one fetch per TTL)."""
        key = (tenant_id, plugin_id, provider_name)
        with self._declarations_lock:
            cached = self._declarations.get(key)
        fresh = cached[1] if cached and cached[0] > time.monotonic() else None
        tool = _find_tool(fresh, tool_name) if fresh is not None else None
        if tool is not None:
            return tool
        # not cached, expired, or the cache predates this tool
        entity = self._fetch_tool_provider(tenant_id, plugin_id, provider_name)
        tool = _find_tool(entity, tool_name)
        if tool is None:
            names = [t.identity.name for t in entity.declaration.tools] if entity.declaration \
                else []
            raise ToolNotFoundError(
                "provider %s/%s has no tool %r; its tools: %s"
                % (plugin_id, provider_name, tool_name, ", ".join(names) or "none"),
                argument="tool_name")
        return tool


# =============================================================================
# Client: models
# =============================================================================
#
# Model providers (discovery) and every model dispatch route, with the method and
# parameter names of Dify's PluginModelClient. A call checks its arguments before it
# sends anything, then goes through the dispatcher like any dispatch route. Prompt
# messages, content parts and tools are taken as the typed entities above or as plain
# dicts (the daemon's shape, or OpenAI's, which is converted). Credentials go to the
# plugin and nowhere else: an error a plugin raises has their values masked before it
# reaches the caller (plugins have been seen quoting a wrong key back).

if TYPE_CHECKING:
    from typing import Literal, overload

#: poll_llm waits this long between checks when the plugin does not say, and keeps a
#: plugin's own figure within these bounds (seconds).
_POLL_DEFAULT_INTERVAL = 1.0
_POLL_MIN_INTERVAL = 0.05
_POLL_MAX_INTERVAL = 30.0
#: Speech-to-text audio is read and hex-encoded this many bytes at a time, up to this size.
_HEX_BLOCK = 128 * 1024
_MAX_AUDIO_SIZE = 1 << 30


class _Models(_ClientCore):
    """Model providers; LLM (streamed or polled), embeddings, rerank, TTS, speech to
    text, moderation, credential checks and model schemas."""

    # --- discovery -------------------------------------------------------------

    def fetch_model_providers(self, tenant_id: str) -> List[PluginModelProviderEntity]:
        """Every model provider installed for the tenant (all pages), each with its
        declaration: credentials, supported model types and predefined models."""
        return self._all_providers(tenant_id, "models", PluginModelProviderEntity)

    # --- LLM -------------------------------------------------------------------

    if TYPE_CHECKING:
        @overload
        def invoke_llm(self, tenant_id: str, user_id: str, plugin_id: str, provider: str,
                       model: str, credentials: Optional[Dict[str, Any]],
                       prompt_messages: Sequence[Any],
                       model_parameters: Optional[Dict[str, Any]] = None,
                       tools: Optional[Sequence[Any]] = None,
                       stop: Optional[Sequence[str]] = None, stream: Literal[True] = True, *,
                       json_schema: Any = None, first_token_timeout: Any = _UNSET
                       ) -> Generator[LLMResultChunk, None, None]: ...

        @overload
        def invoke_llm(self, tenant_id: str, user_id: str, plugin_id: str, provider: str,
                       model: str, credentials: Optional[Dict[str, Any]],
                       prompt_messages: Sequence[Any],
                       model_parameters: Optional[Dict[str, Any]] = None,
                       tools: Optional[Sequence[Any]] = None,
                       stop: Optional[Sequence[str]] = None, *, stream: Literal[False],
                       json_schema: Any = None, first_token_timeout: Any = _UNSET
                       ) -> LLMResult: ...

        @overload
        def invoke_llm(self, tenant_id: str, user_id: str, plugin_id: str, provider: str,
                       model: str, credentials: Optional[Dict[str, Any]],
                       prompt_messages: Sequence[Any],
                       model_parameters: Optional[Dict[str, Any]] = None,
                       tools: Optional[Sequence[Any]] = None,
                       stop: Optional[Sequence[str]] = None, stream: bool = True, *,
                       json_schema: Any = None, first_token_timeout: Any = _UNSET
                       ) -> Union[Generator[LLMResultChunk, None, None], LLMResult]: ...

    def invoke_llm(self, tenant_id: str, user_id: str, plugin_id: str, provider: str,
                   model: str, credentials: Optional[Dict[str, Any]],
                   prompt_messages: Sequence[Any],
                   model_parameters: Optional[Dict[str, Any]] = None,
                   tools: Optional[Sequence[Any]] = None, stop: Optional[Sequence[str]] = None,
                   stream: bool = True, *, json_schema: Any = None,
                   first_token_timeout: Any = _UNSET
                   ) -> Union[Generator[LLMResultChunk, None, None], LLMResult]:
        """Call an LLM. With ``stream=True`` (the default) returns a generator of
        :class:`LLMResultChunk` as they arrive: each adds a piece of the message
        (``chunk.text``, tool calls); the last carries ``usage`` and ``finish_reason``.
        With ``stream=False`` returns one :class:`LLMResult` assembled from the chunks.

        ``prompt_messages``: :class:`PromptMessage` entities (``SystemPromptMessage``,
        ``UserPromptMessage``, ...) or dicts, in the daemon's shape or OpenAI's.
        ``tools``: :class:`PromptMessageTool` or dicts (OpenAI's ``{"type": "function",
        "function": {...}}`` too). ``json_schema``: a JSON Schema (dict or JSON text) the
        answer must follow (daemon 0.6.2+).

        ``first_token_timeout`` (seconds, or None for no bound) limits the wait for the
        first chunk, separately from the stream timeout between chunks; the daemon
        sends nothing, not even headers, before it. It defaults to
        ``config.first_token_timeout``. Past it, :class:`ReadTimeout` names it.
        Bad arguments raise here; a streamed call sends its request when iteration
        starts. A plugin's error raises its typed class (InvokeRateLimitError, ...).
        """
        target = _DispatchTarget(tenant_id, plugin_id=plugin_id)
        data = _llm_request(provider, model, credentials, prompt_messages, model_parameters,
                            tools, stop, _check_bool(stream, "stream"), json_schema)
        chunks = self._model_stream(target, user_id, "llm/invoke", data, LLMResultChunk,
                                    first_token_timeout=self._first_token_wait(
                                        first_token_timeout))
        if stream:
            return chunks
        return _assemble_llm_result(chunks, "POST " + target.path("llm/invoke"))

    def get_llm_num_tokens(self, tenant_id: str, user_id: str, plugin_id: str, provider: str,
                           model_type: Union[ModelType, str], model: str,
                           credentials: Optional[Dict[str, Any]],
                           prompt_messages: Sequence[Any],
                           tools: Optional[Sequence[Any]] = None) -> int:
        """How many tokens the prompt (and tools) take for this model."""
        data = _model_request(provider, _model_type_text(model_type), model, credentials)
        data["prompt_messages"] = _prompt_messages_wire(prompt_messages)
        data["tools"] = _tools_wire(tools)
        return self._model_result(tenant_id, user_id, plugin_id, "llm/num_tokens", data,
                                  _LLMNumTokens).num_tokens

    # --- polling (daemon 0.6.2+: plain JSON answers, not streams) ----------------

    def start_model_polling(self, tenant_id: str, user_id: str, plugin_id: str,
                            provider: str, model: str, credentials: Optional[Dict[str, Any]],
                            prompt_messages: Sequence[Any],
                            model_parameters: Optional[Dict[str, Any]] = None,
                            tools: Optional[Sequence[Any]] = None,
                            stop: Optional[Sequence[str]] = None, *,
                            json_schema: Any = None) -> ModelPollingResult:
        """Start an LLM call the plugin runs in the background (models with the
        ``polling`` feature). Usually ``running``: pass its ``plugin_state`` to
        :meth:`check_model_polling`, or let :meth:`poll_llm` do it all."""
        target = _DispatchTarget(tenant_id, plugin_id=plugin_id)
        data = _llm_request(provider, model, credentials, prompt_messages, model_parameters,
                            tools, stop, False, json_schema)
        return self._polling_call(target, user_id, "model/polling/start", data)

    def check_model_polling(self, tenant_id: str, user_id: str, plugin_id: str,
                            provider: str, model: str, credentials: Optional[Dict[str, Any]],
                            plugin_state: Dict[str, Any]) -> ModelPollingResult:
        """Ask how a polled call stands, by the ``plugin_state`` of the last answer."""
        target = _DispatchTarget(tenant_id, plugin_id=plugin_id)
        data = _model_request(provider, ModelType.LLM.value, model, credentials)
        if not isinstance(plugin_state, dict) or not plugin_state:
            raise InvalidArgumentError("plugin_state must be the non-empty dict the last "
                                       "polling answer gave", argument="plugin_state")
        data["plugin_state"] = plugin_state
        return self._polling_call(target, user_id, "model/polling/check", data)

    def poll_llm(self, tenant_id: str, user_id: str, plugin_id: str, provider: str,
                 model: str, credentials: Optional[Dict[str, Any]],
                 prompt_messages: Sequence[Any],
                 model_parameters: Optional[Dict[str, Any]] = None,
                 tools: Optional[Sequence[Any]] = None, stop: Optional[Sequence[str]] = None,
                 *, json_schema: Any = None, timeout: Optional[float] = 600.0,
                 on_progress: Optional[Callable[[ModelPollingResult], Any]] = None
                 ) -> LLMResult:
        """Start a polled LLM call and check it until it ends; returns its result.

        Waits ``next_check_after_seconds`` between checks (as the plugin says, within
        0.05-30 s; 1 s if it does not say). ``on_progress(answer)`` sees every answer.
        A ``failed`` call raises :class:`PluginInvokeError` with the plugin's error;
        running past ``timeout`` seconds, the plugin's ``max_attempts`` or
        ``expires_after_seconds`` raises :class:`TimeoutException`.
        """
        timeout = _check_seconds(timeout, "timeout")
        started = time.monotonic()
        answer = self.start_model_polling(tenant_id, user_id, plugin_id, provider, model,
                                          credentials, prompt_messages, model_parameters,
                                          tools, stop, json_schema=json_schema)
        route = "POST " + _DispatchTarget(tenant_id, plugin_id=plugin_id).path(
            "model/polling/check")
        limits = _PollingLimits(started, timeout, answer)
        while True:
            if on_progress is not None:
                on_progress(answer)
            result = _polling_outcome(answer, route)
            if result is not None:
                return result
            state = answer.plugin_state or {}
            time.sleep(limits.next_wait(answer, route))
            answer = self.check_model_polling(tenant_id, user_id, plugin_id, provider, model,
                                              credentials, state)
            limits.checked(answer)

    # --- embeddings and rerank -------------------------------------------------

    def invoke_text_embedding(self, tenant_id: str, user_id: str, plugin_id: str,
                              provider: str, model: str, credentials: Optional[Dict[str, Any]],
                              texts: Sequence[str], input_type: str = "document"
                              ) -> EmbeddingResult:
        """One vector per text, in order. ``input_type``: "document" or "query"."""
        data = _model_request(provider, ModelType.TEXT_EMBEDDING.value, model, credentials)
        data["texts"] = _check_texts(texts, "texts")
        data["input_type"] = _check_text(input_type, "input_type")
        return self._model_result(tenant_id, user_id, plugin_id, "text_embedding/invoke",
                                  data, EmbeddingResult,
                                  check=_vector_per_input(len(data["texts"]), "texts"))

    def invoke_multimodal_embedding(self, tenant_id: str, user_id: str, plugin_id: str,
                                    provider: str, model: str,
                                    credentials: Optional[Dict[str, Any]],
                                    documents: Sequence[Any], input_type: str = "document"
                                    ) -> EmbeddingResult:
        """One vector per document: :class:`MultimodalInput` or ``{"content",
        "content_type"}`` dicts (text, or an image as base64). Daemon 0.6.7+."""
        data = _model_request(provider, ModelType.TEXT_EMBEDDING.value, model, credentials)
        data["documents"] = [_multimodal_input(document, "documents[%d]" % index)
                             for index, document in enumerate(_check_list(documents,
                                                                          "documents"))]
        data["input_type"] = _check_text(input_type, "input_type")
        return self._model_result(tenant_id, user_id, plugin_id,
                                  "multimodal_embedding/invoke", data, EmbeddingResult,
                                  check=_vector_per_input(len(data["documents"]), "documents"))

    def get_text_embedding_num_tokens(self, tenant_id: str, user_id: str, plugin_id: str,
                                      provider: str, model: str,
                                      credentials: Optional[Dict[str, Any]],
                                      texts: Sequence[str]) -> List[int]:
        """Tokens of each text, in order."""
        data = _model_request(provider, ModelType.TEXT_EMBEDDING.value, model, credentials)
        data["texts"] = _check_texts(texts, "texts")
        return self._model_result(tenant_id, user_id, plugin_id, "text_embedding/num_tokens",
                                  data, _TextEmbeddingNumTokens,
                                  check=_count_per_text(len(data["texts"]))).num_tokens

    def invoke_rerank(self, tenant_id: str, user_id: str, plugin_id: str, provider: str,
                      model: str, credentials: Optional[Dict[str, Any]], query: str,
                      docs: Sequence[str], score_threshold: Optional[float] = None,
                      top_n: Optional[int] = None) -> RerankResult:
        """Rank ``docs`` by relevance to ``query``, best first; each keeps its index.
        Without ``top_n`` every document that passes ``score_threshold`` comes back."""
        data = _model_request(provider, ModelType.RERANK.value, model, credentials)
        data["query"] = _check_text(query, "query")
        data["docs"] = _check_texts(docs, "docs")
        data.update(_rerank_limits(score_threshold, top_n, data["docs"]))
        return self._model_result(tenant_id, user_id, plugin_id, "rerank/invoke", data,
                                  RerankResult, check=_ranks_of(len(data["docs"])))

    def invoke_multimodal_rerank(self, tenant_id: str, user_id: str, plugin_id: str,
                                 provider: str, model: str,
                                 credentials: Optional[Dict[str, Any]], query: Any,
                                 docs: Sequence[Any], score_threshold: Optional[float] = None,
                                 top_n: Optional[int] = None) -> RerankResult:
        """Rerank with a :class:`MultimodalInput` query and documents (or their dicts)."""
        data = _model_request(provider, ModelType.RERANK.value, model, credentials)
        data["query"] = _multimodal_input(query, "query")
        data["docs"] = [_multimodal_input(doc, "docs[%d]" % index)
                        for index, doc in enumerate(_check_list(docs, "docs"))]
        data.update(_rerank_limits(score_threshold, top_n, data["docs"]))
        return self._model_result(tenant_id, user_id, plugin_id, "multimodal_rerank/invoke",
                                  data, RerankResult, check=_ranks_of(len(data["docs"])))

    # --- audio and moderation -----------------------------------------------------

    def invoke_tts(self, tenant_id: str, user_id: str, plugin_id: str, provider: str,
                   model: str, credentials: Optional[Dict[str, Any]], content_text: str,
                   voice: str) -> Generator[bytes, None, None]:
        """Speak ``content_text``: a generator of audio bytes as they arrive (join them,
        or write each to a file). The wire carries hex; this decodes it."""
        target = _DispatchTarget(tenant_id, plugin_id=plugin_id)
        data = _model_request(provider, ModelType.TTS.value, model, credentials)
        data["content_text"] = _check_text(content_text, "content_text")
        data["voice"] = _check_text(voice, "voice")
        data["tenant_id"] = target.tenant_id  # the daemon wants it in data too
        chunks = self._model_stream(target, user_id, "tts/invoke", data, _TTSChunk,
                                    reader=_tts_chunk_reader())
        return _mapped(chunks, lambda chunk: chunk.result)  # decoded as each was read

    def get_tts_model_voices(self, tenant_id: str, user_id: str, plugin_id: str,
                             provider: str, model: str, credentials: Optional[Dict[str, Any]],
                             language: Optional[str] = None) -> List[TTSModelVoice]:
        """The voices of a TTS model (those for ``language``, e.g. "de-DE", if given)."""
        data = _model_request(provider, ModelType.TTS.value, model, credentials)
        if language is not None:
            data["language"] = _check_text(language, "language")
        return self._model_result(tenant_id, user_id, plugin_id, "tts/model/voices", data,
                                  _TTSVoices).voices

    def invoke_speech_to_text(self, tenant_id: str, user_id: str, plugin_id: str,
                              provider: str, model: str,
                              credentials: Optional[Dict[str, Any]],
                              file: Union[bytes, str, os.PathLike[str], IO[bytes]]) -> str:
        """The text of an audio file: bytes, a path or a binary file object.

        The daemon takes the audio as hex inside the JSON body; from a path or a file
        the body is streamed (read and hex-encoded block by block), so memory does not
        grow with the audio.
        """
        _DispatchTarget(tenant_id, plugin_id=plugin_id)  # checked before the file is opened
        _check_text(user_id, "user_id")
        data = _model_request(provider, ModelType.SPEECH2TEXT.value, model, credentials)
        source = _audio_source(file)
        return self._model_result(tenant_id, user_id, plugin_id, "speech2text/invoke", data,
                                  _StringResult,
                                  encode=lambda payload: _HexFileJSONBody(payload, "file",
                                                                          source)).result

    def invoke_moderation(self, tenant_id: str, user_id: str, plugin_id: str, provider: str,
                          model: str, credentials: Optional[Dict[str, Any]], text: str
                          ) -> bool:
        """True if the moderation model flags ``text``."""
        data = _model_request(provider, ModelType.MODERATION.value, model, credentials)
        data["text"] = _check_text(text, "text")
        return self._model_result(tenant_id, user_id, plugin_id, "moderation/invoke", data,
                                  _BoolResult).result

    # --- credentials and schemas ---------------------------------------------------

    def validate_provider_credentials(self, tenant_id: str, user_id: str, plugin_id: str,
                                      provider: str, credentials: Optional[Dict[str, Any]]
                                      ) -> CredentialsValidationResult:
        """Check a provider's credentials. Returns the result and the credentials the
        plugin hands back (true in a boolean context); credentials the plugin refuses
        raise :class:`CredentialsValidateFailedError`."""
        data = {"provider": _check_text(provider, "provider"),
                "credentials": _check_meta(credentials, "credentials")}
        return self._model_result(tenant_id, user_id, plugin_id,
                                  "model/validate_provider_credentials", data,
                                  CredentialsValidationResult)

    def validate_model_credentials(self, tenant_id: str, user_id: str, plugin_id: str,
                                   provider: str, model_type: Union[ModelType, str],
                                   model: str, credentials: Optional[Dict[str, Any]]
                                   ) -> CredentialsValidationResult:
        """Check the credentials of one model, as :meth:`validate_provider_credentials`."""
        data = _model_request(provider, _model_type_text(model_type), model, credentials)
        return self._model_result(tenant_id, user_id, plugin_id,
                                  "model/validate_model_credentials", data,
                                  CredentialsValidationResult)

    def get_model_schema(self, tenant_id: str, user_id: str, plugin_id: str, provider: str,
                         model_type: Union[ModelType, str], model: str,
                         credentials: Optional[Dict[str, Any]]) -> Optional[AIModelEntity]:
        """A model's declaration as the plugin gives it (customizable models included),
        or None when the plugin does not know the model."""
        data = _model_request(provider, _model_type_text(model_type), model, credentials)
        return self._model_result(tenant_id, user_id, plugin_id, "model/schema", data,
                                  _ModelSchema).model_schema

    # --- shared ------------------------------------------------------------------

    def _model_stream(self, target: _DispatchTarget, user_id: str, route: str,
                      data: Dict[str, Any], chunk_type: Type[_E],
                      first_token_timeout: Optional[float] = None,
                      reader: Optional[Callable[[_EventData, str], _E]] = None
                      ) -> Generator[_E, None, None]:
        """The chunks of a model route (plugin errors come with credentials masked, as
        on every dispatch route); a stream without any is an error."""
        return self._dispatcher.stream(target, route, data, user_id=user_id,
                                       chunk_type=chunk_type,
                                       what="the %s request" % route, argument="data",
                                       first_event_timeout=first_token_timeout,
                                       reader=reader, at_least_one=True)

    def _model_result(self, tenant_id: str, user_id: str, plugin_id: str, route: str,
                      data: Dict[str, Any], chunk_type: Type[_E],
                      encode: Optional[Callable[[Dict[str, Any]], Any]] = None,
                      check: Optional[Callable[[Any], Optional[str]]] = None) -> _E:
        """The one answer of a model route (an empty stream is an error). ``check(answer)``
        says what is wrong with an answer that parsed but does not fit the request (None
        if nothing)."""
        target = _DispatchTarget(tenant_id, plugin_id=plugin_id)
        options: Dict[str, Any] = {} if encode is None else {"encode": encode}
        answer = self._dispatcher.result(target, route, data, user_id=user_id,
                                         chunk_type=chunk_type,
                                         what="the %s request" % route, argument="data",
                                         **options)
        problem = check(answer) if check is not None else None
        if problem:
            raise ResponseValidationError("the plugin's answer does not fit the request: "
                                          + problem, path="data",
                                          route="POST " + target.path(route))
        return answer

    def _polling_call(self, target: _DispatchTarget, user_id: str, route: str,
                      data: Dict[str, Any]) -> ModelPollingResult:
        """A polling route: a dispatch request answered by one JSON envelope."""
        _check_text(user_id, "user_id")
        if self._dispatcher.package is not None:
            raise InvalidArgumentError("the daemon does not serve %s by unique identifier "
                                       "(/v2 has no polling); call it on the client, for "
                                       "an installed plugin" % route, argument="plugin_id")
        path = target.path(route)
        body = _json_body(target.body({"user_id": user_id, "data": data}),
                          "the %s request" % route, "data")
        headers = target.headers()
        headers["Accept"] = "application/json"
        with _MaskedErrors(_secret_values(data.get("credentials"))):
            answer = self._call("POST", path, body=body, headers=headers)
        return _parse(ModelPollingResult, answer, "POST " + path)

    def _first_token_wait(self, value: Any) -> Optional[float]:
        if value is _UNSET:
            return self.config.first_token_timeout
        return _check_seconds(value, "first_token_timeout")


# --- requests: checking and shaping what model calls send ---------------------------


def _model_request(provider: Any, model_type: str, model: Any, credentials: Any
                   ) -> Dict[str, Any]:
    """The fields every model route's ``data`` starts with."""
    return {"provider": _check_text(provider, "provider"), "model": _check_text(model, "model"),
            "model_type": model_type, "credentials": _check_meta(credentials, "credentials")}


def _model_type_text(model_type: Any) -> str:
    if isinstance(model_type, ModelType):
        return model_type.value
    return _check_text(model_type, "model_type")


def _llm_request(provider: Any, model: Any, credentials: Any, prompt_messages: Any,
                 model_parameters: Any, tools: Any, stop: Any, stream: bool,
                 json_schema: Any) -> Dict[str, Any]:
    """``data`` of llm/invoke and model/polling/start."""
    data = _model_request(provider, ModelType.LLM.value, model, credentials)
    data["prompt_messages"] = _prompt_messages_wire(prompt_messages)
    data["model_parameters"] = _check_meta(model_parameters, "model_parameters")
    data["tools"] = _tools_wire(tools)
    data["stop"] = [] if stop is None else _check_texts(stop, "stop")
    data["stream"] = stream
    if json_schema is not None:
        data["json_schema"] = _json_schema(json_schema)
    return data


def _json_schema(value: Any) -> Dict[str, Any]:
    if isinstance(value, str):
        try:
            value = _loads(value)
        except ValueError as exc:
            raise InvalidArgumentError("json_schema is not valid JSON: %s" % exc,
                                       argument="json_schema") from None
    if not isinstance(value, dict):
        raise InvalidArgumentError("json_schema must be a JSON Schema object (a dict or its "
                                   "JSON text)", argument="json_schema")
    return value


# What a model answer must hold to fit its request (the checks of ``_model_result``):
# a problem named, or None.


def _vector_per_input(count: int, inputs: str) -> Callable[[EmbeddingResult], Optional[str]]:
    def check(result: EmbeddingResult) -> Optional[str]:
        vectors = result.embeddings
        if len(vectors) != count:
            return "%d vectors for %d %s" % (len(vectors), count, inputs)
        empty = next((index for index, vector in enumerate(vectors) if not vector), None)
        return None if empty is None else "embeddings[%d] is empty" % empty
    return check


def _count_per_text(count: int) -> Callable[[_TextEmbeddingNumTokens], Optional[str]]:
    def check(result: _TextEmbeddingNumTokens) -> Optional[str]:
        found = len(result.num_tokens)
        return None if found == count else "%d token counts for %d texts" % (found, count)
    return check


def _ranks_of(count: int) -> Callable[[RerankResult], Optional[str]]:
    def check(result: RerankResult) -> Optional[str]:
        wrong = next((doc.index for doc in result.docs if not 0 <= doc.index < count), None)
        return None if wrong is None else "a document index %d, of %d documents" % (wrong,
                                                                                   count)
    return check


def _rerank_limits(score_threshold: Any, top_n: Any, docs: Sequence[Any]) -> Dict[str, Any]:
    """``score_threshold`` and ``top_n`` as the daemon needs them. Its request struct holds
    top_n as an int, so a null arrives at the plugin as 0, which plugins read as "keep
    none": no top_n is sent as the number of documents."""
    if score_threshold is not None and (isinstance(score_threshold, bool) or not isinstance(
            score_threshold, (int, float))):
        raise InvalidArgumentError("score_threshold must be a number or None, got %r"
                                   % (score_threshold,), argument="score_threshold")
    if score_threshold is not None and score_threshold - score_threshold != 0:
        raise InvalidArgumentError("score_threshold must be a finite number, got %r"
                                   % (score_threshold,), argument="score_threshold")
    if top_n is not None:
        _check_positive_int(top_n, "top_n")
    return {"score_threshold": score_threshold,
            "top_n": len(docs) if top_n is None else top_n}


def _multimodal_input(value: Any, argument: str) -> Dict[str, Any]:
    """``{"content", "content_type"}`` from a :class:`MultimodalInput` or a dict."""
    if isinstance(value, MultimodalInput):
        value = {"content": value.content, "content_type": value.content_type}
    if not isinstance(value, dict):
        raise InvalidArgumentError("%s must be a MultimodalInput or a dict with content and "
                                   "content_type, got %s" % (argument, type(value).__name__),
                                   argument=argument)
    _check_text(value.get("content"), argument + ".content", allow_empty=True)
    _check_text(value.get("content_type"), argument + ".content_type")
    return dict(value)


#: The role each typed prompt message must have on the wire.
_FIXED_ROLES = ((SystemPromptMessage, "system"), (UserPromptMessage, "user"),
                (AssistantPromptMessage, "assistant"), (ToolPromptMessage, "tool"),
                (DeveloperPromptMessage, "developer"))


def _prompt_messages_wire(messages: Any) -> List[Dict[str, Any]]:
    items = _check_list(messages, "prompt_messages")
    return [_prompt_message_wire(message, "prompt_messages[%d]" % index)
            for index, message in enumerate(items)]


def _prompt_message_wire(message: Any, argument: str) -> Dict[str, Any]:
    """One prompt message in the daemon's shape, from an entity or a dict."""
    if isinstance(message, PromptMessage):
        for cls, fixed_role in _FIXED_ROLES:
            if isinstance(message, cls) and str(message.role) != fixed_role:
                raise InvalidArgumentError(
                    "%s is a %s with role %r: pass its content by keyword, e.g. "
                    "%s(content=...)" % (argument, cls.__name__, str(message.role),
                                         cls.__name__), argument=argument)
        raw = message.to_dict()
    elif isinstance(message, dict):
        raw = dict(message)
    else:
        raise InvalidArgumentError("%s must be a PromptMessage or a dict, got %s"
                                   % (argument, type(message).__name__), argument=argument)
    role = raw.get("role")
    raw["role"] = role = role.value if isinstance(role, enum.Enum) else role
    if not isinstance(role, str) or not role:
        raise InvalidArgumentError("%s needs a role (system, user, assistant or tool)"
                                   % argument, argument=argument)
    # No content (an assistant turn of tool calls) goes as "": the daemon would fill in
    # a broken message for a missing or null one.
    raw["content"] = _content_wire(raw.get("content"), argument + ".content")
    if raw.get("tool_calls") is not None:
        raw["tool_calls"] = [_tool_call_wire(call, "%s.tool_calls[%d]" % (argument, index))
                             for index, call in enumerate(_check_list(
                                 raw["tool_calls"], argument + ".tool_calls"))]
    return _without_nulls(raw)


def _without_nulls(values: Dict[str, Any]) -> Dict[str, Any]:
    """The keys whose value is not None (what the daemon and the SDK take as unset)."""
    return {key: value for key, value in values.items() if value is not None}


def _content_wire(content: Any, argument: str) -> Any:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, (list, tuple)):
        raise InvalidArgumentError("%s must be a string or a list of content parts, got %s"
                                   % (argument, type(content).__name__), argument=argument)
    return [_content_part_wire(part, "%s[%d]" % (argument, index))
            for index, part in enumerate(content)]


def _content_part_wire(part: Any, argument: str) -> Dict[str, Any]:
    """One content part in the daemon's shape (OpenAI's text, image_url, input_audio
    and file parts are converted)."""
    if isinstance(part, PromptMessageContent):
        raw = part.to_dict()
    elif isinstance(part, dict):
        raw = _openai_part(part, argument)
    else:
        raise InvalidArgumentError("%s must be a content part (TextPromptMessageContent, ...) "
                                   "or a dict, got %s" % (argument, type(part).__name__),
                                   argument=argument)
    if not isinstance(raw.get("type"), str) or not raw["type"]:
        raise InvalidArgumentError("%s needs a type (text, image, audio, video or document)"
                                   % argument, argument=argument)
    if raw["type"] == "image" and not raw.get("detail"):
        raw["detail"] = "low"  # Dify's default; the plugin refuses the "" the daemon fills in
    return _without_nulls(raw)


def _openai_part(part: Dict[str, Any], argument: str) -> Dict[str, Any]:
    kind = part.get("type")
    if kind == "text" and "data" not in part and "text" in part:
        rest = {key: value for key, value in part.items() if key not in ("type", "text")}
        return dict({"type": "text", "data": part["text"]}, **rest)
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        converted = _file_part("image", url, argument)
        if isinstance(image, dict) and image.get("detail") in ("low", "high"):
            converted["detail"] = image["detail"]  # (OpenAI's "auto": the default, low)
        return converted
    if kind == "input_audio":
        audio = part.get("input_audio")
        audio = audio if isinstance(audio, dict) else {}
        audio_format = str(audio.get("format") or "")
        return {"type": "audio", "base64_data": audio.get("data") or "", "format": audio_format,
                "mime_type": _mime_type_for("x." + audio_format) if audio_format else ""}
    if kind == "file":
        file = part.get("file")
        file = file if isinstance(file, dict) else {}
        converted = _file_part("document", file.get("file_data") or file.get("url"), argument)
        if file.get("filename"):
            converted["filename"] = file["filename"]
        return converted
    return dict(part)


def _file_part(kind: str, url: Any, argument: str) -> Dict[str, Any]:
    """A file part from a URL, or from a ``data:<mime>;base64,...`` URL."""
    if not isinstance(url, str) or not url:
        raise InvalidArgumentError("%s has no URL or data URL" % argument, argument=argument)
    if url.startswith("data:"):
        header, _, payload = url[5:].partition(",")
        mime_type = header.split(";")[0]
        if not header.endswith(";base64"):
            raise InvalidArgumentError("%s: only base64 data URLs are supported" % argument,
                                       argument=argument)
        return {"type": kind, "base64_data": payload, "mime_type": mime_type,
                "format": mime_type.rpartition("/")[2]}
    from urllib.parse import urlsplit

    extension = os.path.splitext(urlsplit(url).path)[1]
    return {"type": kind, "url": url, "format": extension.lstrip(".").lower(),
            "mime_type": _mime_type_for(url)}


def _mime_type_for(name: str) -> str:
    import mimetypes

    return mimetypes.guess_type(name)[0] or ""


def _tool_call_wire(call: Any, argument: str) -> Dict[str, Any]:
    if isinstance(call, AssistantToolCall):
        raw = call.to_dict()
    elif isinstance(call, dict):
        raw = dict(call)
    else:
        raise InvalidArgumentError("%s must be an AssistantToolCall or a dict, got %s"
                                   % (argument, type(call).__name__), argument=argument)
    function = raw.get("function")
    if isinstance(function, AssistantToolCallFunction):
        function = function.to_dict()
    if not isinstance(function, dict):
        raise InvalidArgumentError("%s needs a function {name, arguments}" % argument,
                                   argument=argument)
    arguments = function.get("arguments")
    if arguments is not None and not isinstance(arguments, str):  # OpenAI-like objects
        arguments = _json_body(arguments, argument + ".function.arguments",
                               argument).decode("utf-8")
    raw["function"] = dict(function, arguments=arguments or "")
    raw.setdefault("type", "function")
    return raw


def _tools_wire(tools: Any) -> List[Dict[str, Any]]:
    """``{name, description, parameters}`` per tool; OpenAI's ``{"type": "function",
    "function": {...}}`` is unwrapped."""
    if tools is None:
        return []
    result = []
    for index, tool in enumerate(_check_list(tools, "tools")):
        argument = "tools[%d]" % index
        if isinstance(tool, PromptMessageTool):
            tool = {"name": tool.name, "description": tool.description,
                    "parameters": tool.parameters}
        if isinstance(tool, dict) and isinstance(tool.get("function"), dict):
            tool = tool["function"]
        if not isinstance(tool, dict):
            raise InvalidArgumentError("%s must be a PromptMessageTool or a dict" % argument,
                                       argument=argument)
        parameters = tool.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise InvalidArgumentError("%s.parameters must be a JSON Schema object" % argument,
                                       argument=argument)
        result.append({"name": _check_text(tool.get("name"), argument + ".name"),
                       "description": _check_text(tool.get("description") or "",
                                                  argument + ".description",
                                                  allow_empty=True),
                       "parameters": parameters or {}})
    return result


class _HexFileJSONBody:
    """A JSON request body one of whose ``data`` values is the hex of a file, sent as it
    is read: the text around the value is encoded at once, the file block by block, so
    memory does not grow with the file. ``length`` (for Content-Length) is known up
    front: two hex digits per byte."""

    def __init__(self, payload: Dict[str, Any], key: str, source: _UploadSource) -> None:
        marker = "dify-plugin-client-hex-" + os.urandom(16).hex()
        data = payload["data"]
        data[key] = marker
        try:
            encoded = _json_body(payload, "the request data", "data")
        finally:
            data[key] = "<hex of %s>" % _format_size(source.size)
        self.head, _, self.tail = encoded.partition(marker.encode("ascii"))
        self.source = source
        self.argument = key
        self.length = len(self.head) + 2 * source.size + len(self.tail)

    def blocks(self) -> Iterator[bytes]:
        yield self.head
        for block in _file_blocks(self.source, self.argument):
            yield binascii.b2a_hex(block)
        yield self.tail


def _check_open(file: Any, argument: str) -> None:
    if getattr(file, "closed", False) is True:
        raise InvalidArgumentError("%s is a closed file" % argument, argument=argument)


def _audio_source(file: Any) -> _UploadSource:
    """The audio to send, of a known size: from a path or a seekable file it is read while
    it is sent; a pipe is read first (its size is needed for the Content-Length)."""
    if hasattr(file, "read"):
        _check_open(file, "file")
    if hasattr(file, "read") and not _seekable(file):
        blocks: List[bytes] = []
        size = 0
        while True:
            block = file.read(_HEX_BLOCK)
            if not isinstance(block, bytes):
                raise InvalidArgumentError("file must be opened in binary mode ('rb')",
                                           argument="file")
            if not block:
                break
            size += len(block)
            blocks.append(block)
            if size > _MAX_AUDIO_SIZE:
                break
        source = _UploadSource(data=b"".join(blocks), size=size)
    else:
        source = _UploadSource.open(file, "file", sys.maxsize)  # nothing is read here
    if source.size > _MAX_AUDIO_SIZE:
        raise InvalidArgumentError("file is over %s; nothing was sent"
                                   % _format_size(_MAX_AUDIO_SIZE), argument="file")
    if source.size == 0:
        raise InvalidArgumentError("file is empty: there is no audio to send", argument="file")
    return source


def _seekable(file: Any) -> bool:
    try:
        return bool(file.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _file_blocks(source: _UploadSource, argument: str) -> Iterator[Any]:
    """The bytes of an upload source in blocks of _HEX_BLOCK."""
    if source.data is not None:
        view = memoryview(source.data)
        for start in range(0, len(view), _HEX_BLOCK):
            yield view[start:start + _HEX_BLOCK]
        return
    handle = open(source.path, "rb") if source.path is not None else source.fileobj
    try:
        left = source.size
        while left > 0:
            block = handle.read(min(_HEX_BLOCK, left))  # type: ignore[union-attr]
            if not isinstance(block, bytes):
                raise InvalidArgumentError("%s must be opened in binary mode ('rb')"
                                           % argument, argument=argument)
            if not block:
                raise InvalidArgumentError("%s got shorter while it was being sent"
                                           % argument, argument=argument)
            left -= len(block)
            yield block
    finally:
        if source.path is not None:
            handle.close()  # type: ignore[union-attr]


# --- answers ------------------------------------------------------------------------


def _assemble_llm_result(chunks: Iterator[LLMResultChunk], route: str) -> LLMResult:
    """One LLMResult from a stream of chunks: the content joined, tool calls merged
    (pieces of one call by its id), the last usage, finish reason and fingerprint."""
    texts: List[str] = []
    parts: List[Any] = []
    tool_calls: List[AssistantToolCall] = []
    first = last = None
    usage = finish_reason = fingerprint = opaque_body = None
    for chunk in chunks:
        first = first or chunk
        last = chunk
        message = chunk.delta.message
        if isinstance(message.content, str):
            texts.append(message.content)
        elif message.content:
            parts.extend(_text_parts(texts))
            texts = []
            parts.extend(message.content)
        _merge_tool_calls(tool_calls, message.tool_calls)
        usage = chunk.delta.usage or usage
        finish_reason = chunk.delta.finish_reason or finish_reason
        fingerprint = chunk.system_fingerprint or fingerprint
        opaque_body = message.opaque_body if message.opaque_body is not None else opaque_body
    if first is None or last is None:
        raise InvalidResponseError("the daemon's stream ended without a result (zero chunks); "
                                   "the plugin answered nothing", route=route)
    content: Any = "".join(texts) if not parts else parts + _text_parts(texts)
    message = AssistantPromptMessage(content=content, tool_calls=tool_calls,
                                     opaque_body=opaque_body)
    return LLMResult(model=first.model or last.model, message=message, usage=usage,
                     system_fingerprint=fingerprint, finish_reason=finish_reason)


def _text_parts(texts: List[str]) -> List[Any]:
    text = "".join(texts)
    return [TextPromptMessageContent(data=text)] if text else []


def _merge_tool_calls(merged: List[AssistantToolCall], calls: List[AssistantToolCall]
                      ) -> None:
    """Add streamed tool calls to ``merged``: a piece with the id of a call seen continues
    that call, as does a piece with neither id nor function name (the last call); any
    other piece starts a call (as Dify merges them: a name without an id is a new call).
    Arguments arrive in pieces and are joined."""
    for call in calls:
        target = None
        function = call.function or AssistantToolCallFunction()
        if call.id:
            target = next((seen for seen in merged if seen.id == call.id), None)
        elif merged and not function.name:
            target = merged[-1]
        if target is None:
            merged.append(AssistantToolCall(id=call.id, type=call.type or "function",
                                            function=AssistantToolCallFunction(
                                                name=function.name,
                                                arguments=function.arguments)))
            continue
        if target.function is None:
            target.function = AssistantToolCallFunction()
        target.function.name = target.function.name or function.name
        target.function.arguments += function.arguments


#: The start of a TTS event as the daemon writes it, up to the audio's hex.
_TTS_EVENT_HEAD = _Regex(r'\{"code":0,"message":"[^"\\]*","data":\{"result":"')


def _tts_chunk_reader() -> Callable[[_EventData, str], _TTSChunk]:
    """An event reader for tts/invoke that does not JSON-scan the audio.

    The hex is most of every event, and the JSON scanner reads strings a character at
    a time. In the daemon's form (``_TTS_EVENT_HEAD``, the hex up to its closing quote
    with no escape in it, then the rest) the hex is cut out, the rest, now small, read
    as any event is, and the hex decoded. The events after it that differ only in their
    hex (all of them, as the daemon writes a stream) are made from the known head and
    tail and the hex between them, decoded where it lies: in the read's own bytes when
    the parser hands those over (``_SSEParser``'s ``raw_long_lines``). a2b_hex takes
    hex digits only, so no quote or escape can hide in what it decoded. Any other form,
    or any error, takes the usual way (so errors name the whole event).
    """
    read = _event_reader(_TTSChunk)
    match_head = _TTS_EVENT_HEAD.match
    a2b_hex = binascii.a2b_hex
    known: List[Any] = []  # [head, tail, head bytes, tail bytes, mime_type] once read

    def read_tts(data: _EventData, route: str) -> _TTSChunk:
        if known:
            head, tail, raw_head, raw_tail, mime_type = known
            if type(data) is memoryview:
                start, end = len(raw_head), len(data) - len(raw_tail)
                plain = start <= end and bytes(data[:start]) == raw_head \
                    and data[end:] == raw_tail
            else:
                start, end = len(head), len(data) - len(tail)
                plain = start <= end and data.startswith(head) and data.endswith(tail)
            if plain:
                try:
                    return _TTSChunk(result=a2b_hex(data[start:end]), mime_type=mime_type)
                except (binascii.Error, ValueError):
                    pass
        text = data if isinstance(data, str) else str(data, "utf-8")
        cut = _plain_string_at(text, match_head, '"result"')
        if cut is None:
            return read(text, route)
        start, end = cut
        head, tail = text[:start], text[end:]
        try:
            chunk = read(head + tail, route)
            chunk.result = a2b_hex(text[start:end])
        except (DifyPluginError, binascii.Error, ValueError):
            return read(text, route)  # the usual way: its error names the whole event
        if not chunk.extra and (chunk.mime_type is None or type(chunk.mime_type) is str):
            known[:] = [head, tail, head.encode("utf-8"), tail.encode("utf-8"),
                        chunk.mime_type]
        return chunk
    return read_tts


class _PollingLimits:
    """When poll_llm must stop: the caller's timeout, and the plugin's max_attempts and
    expires_after_seconds (the latest answer that gives them counts)."""

    def __init__(self, started: float, timeout: Optional[float],
                 answer: ModelPollingResult) -> None:
        self.started = started
        self.deadline = None if timeout is None else started + timeout
        self.timeout = timeout
        self.checks = 0
        self.max_attempts: Optional[int] = None
        self.expires: Optional[float] = None
        self._take(answer)

    def _take(self, answer: ModelPollingResult) -> None:
        if answer.max_attempts:
            self.max_attempts = answer.max_attempts
        if answer.expires_after_seconds:
            self.expires = self.started + answer.expires_after_seconds

    def checked(self, answer: ModelPollingResult) -> None:
        self.checks += 1
        self._take(answer)

    def next_wait(self, answer: ModelPollingResult, route: str) -> float:
        wait = answer.next_check_after_seconds
        wait = _POLL_DEFAULT_INTERVAL if not wait else min(max(float(wait),
                                                               _POLL_MIN_INTERVAL),
                                                           _POLL_MAX_INTERVAL)
        due = time.monotonic() + wait
        if self.max_attempts is not None and self.checks >= self.max_attempts:
            raise TimeoutException("the polled LLM call is still running after %d checks "
                                   "(the plugin's max_attempts)" % self.checks, route=route)
        if self.expires is not None and due > self.expires:
            raise TimeoutException("the polled LLM call is still running and its state "
                                   "expires before the next check (expires_after_seconds)",
                                   route=route)
        if self.deadline is not None and due > self.deadline:
            raise TimeoutException("the polled LLM call is still running after %.0f s"
                                   % (self.timeout or 0.0), route=route,
                                   hint="raise poll_llm's timeout")
        return wait


def _polling_outcome(answer: ModelPollingResult, route: str) -> Optional[LLMResult]:
    """The result of a finished polled call, None while it runs; a failure raises."""
    status = answer.status
    if status == ModelPollingStatus.SUCCEEDED:
        if answer.result is None:
            raise InvalidResponseError("the polled LLM call succeeded without a result",
                                       route=route)
        return answer.result
    if status == ModelPollingStatus.FAILED:
        text = answer.error or "the plugin reported no reason"
        raise PluginInvokeError("the polled LLM call failed: %s" % text, invoke_message=text,
                                route=route)
    if status != ModelPollingStatus.RUNNING:
        raise InvalidResponseError("the polled LLM call has an unknown status %r" % status,
                                   route=route)
    if not answer.plugin_state:
        raise InvalidResponseError("the polled LLM call is running without a plugin_state "
                                   "to check it with", route=route)
    return None


# =============================================================================
# Client: tool credentials and runtime parameters
# =============================================================================


def _context_fields(**values: Optional[str]) -> Dict[str, str]:
    """The optional top-level ids of a dispatch request (conversation_id, app_id,
    message_id): checked, and left out when None."""
    return {name: _check_text(value, name) for name, value in values.items()
            if value is not None}


def _check_credential_type(value: Any) -> Optional[str]:
    if value is None:
        return None
    if value not in _CREDENTIAL_TYPES:
        raise InvalidArgumentError("credential_type must be one of %s, got %r"
                                   % (", ".join(_CREDENTIAL_TYPES), value),
                                   argument="credential_type")
    return str(value)


def _plugin_provider(plugin_id: Any, provider: Any) -> Tuple[str, str]:
    """(plugin id, provider name) for the methods that take both, as Dify's do: the
    provider is its short name or the full ``plugin_id/provider_name``."""
    plugin_id = _check_plugin_id(plugin_id)
    if isinstance(provider, str) and "/" in provider:
        owner, name = _parse_provider_id(provider, "provider")
        if owner != plugin_id:
            raise InvalidArgumentError("provider %r is a provider of %s, not of %s"
                                       % (provider, owner, plugin_id), argument="provider")
        return plugin_id, name
    return plugin_id, _check_text(provider, "provider")


class _ToolCredentials(_ClientCore):
    """Check a tool provider's credentials; read a tool's runtime parameters."""

    def validate_tool_credentials(self, tenant_id: str, user_id: str, provider: str,
                                  credentials: Optional[Dict[str, Any]]) -> bool:
        """Ask the plugin whether ``credentials`` work for the tool ``provider``
        (``organization/plugin_name/provider_name``).

        True when they do. Plugins usually refuse bad credentials by raising
        :class:`ToolProviderCredentialValidationError` (a :class:`PluginInvokeError`)
        rather than answering False; both mean "not valid". (Dify calls this
        ``validate_provider_credentials``; that name is left to the model providers.)
        """
        plugin_id, provider_name = _parse_provider_id(provider, "provider")
        data = {"provider": provider_name,
                "credentials": _check_meta(credentials, "credentials")}
        answer = self._dispatcher.result(
            _DispatchTarget(tenant_id, plugin_id=plugin_id), "tool/validate_credentials", data,
            user_id=user_id, chunk_type=_BoolResult, what="credentials",
            argument="credentials")
        return answer.result

    def get_runtime_parameters(self, tenant_id: str, user_id: str, provider: str,
                               credentials: Optional[Dict[str, Any]], tool: str,
                               conversation_id: Optional[str] = None,
                               app_id: Optional[str] = None,
                               message_id: Optional[str] = None) -> List[ToolParameter]:
        """The parameters the plugin computes at run time for a tool that declares
        ``has_runtime_parameters``.

        A plugin that answers nothing is an :class:`InvalidResponseError`: plugins
        built on dify_plugin 0.10.2 answer every such request with an empty stream.
        """
        plugin_id, provider_name = _parse_provider_id(provider, "provider")
        data = {"provider": provider_name, "tool": _check_text(tool, "tool"),
                "credentials": _check_meta(credentials, "credentials")}
        context = _context_fields(conversation_id=conversation_id, app_id=app_id,
                                  message_id=message_id)
        try:
            answer = self._dispatcher.result(
                _DispatchTarget(tenant_id, plugin_id=plugin_id),
                "tool/get_runtime_parameters", data, user_id=user_id,
                chunk_type=_RuntimeParameters, top_level=context, what="credentials",
                argument="credentials")
        except InvalidResponseError as exc:
            if type(exc) is InvalidResponseError and exc.hint is None:
                exc.hint = ("plugins built on dify_plugin 0.10.2 do not answer this request "
                            "(the SDK has no handler for it)")
            raise
        return answer.parameters


# =============================================================================
# Client: OAuth
# =============================================================================
#
# The three OAuth steps of a tool provider or a trigger provider that declares an
# oauth_schema. The plugin is named as Dify names it: plugin_id, then the provider.


def _callback_request_hex(request: Any) -> str:
    """raw_http_request of an OAuth callback: a :class:`RawHttpRequest`, the raw request
    as received (bytes, or hex text), or the callback URL the browser came back to (a
    GET of it is made up)."""
    if isinstance(request, str) and "://" in request:
        from urllib.parse import urlsplit

        parts = urlsplit(_check_text(request, "request"))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidArgumentError("request must be the raw HTTP request or the callback "
                                       "URL (http or https), got %s" % _short_repr(request),
                                       argument="request")
        target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        try:
            request = RawHttpRequest("GET", target, [("Host", parts.netloc)])
        except HttpMessageError as exc:
            raise InvalidArgumentError("request: %s" % exc.message, argument="request") from None
    return _raw_request_hex(request, "request")


class _OAuth(_ClientCore):
    """OAuth of tool and trigger providers: the authorization URL, the credentials from
    the callback request, and their refresh."""

    def get_authorization_url(self, tenant_id: str, user_id: str, plugin_id: str,
                              provider: str, redirect_uri: str,
                              system_credentials: Optional[Dict[str, Any]]
                              ) -> PluginOAuthAuthorizationUrlResponse:
        """The URL to send the user to; ``system_credentials`` are the OAuth client's
        settings (``oauth_schema.client_schema``: client id, secret...)."""
        target, data = self._oauth_request(tenant_id, plugin_id, provider, redirect_uri,
                                           system_credentials)
        return self._dispatcher.result(
            target, "oauth/get_authorization_url", data, user_id=user_id,
            chunk_type=PluginOAuthAuthorizationUrlResponse, what="system_credentials",
            argument="system_credentials")

    def get_credentials(self, tenant_id: str, user_id: str, plugin_id: str, provider: str,
                        redirect_uri: str, system_credentials: Optional[Dict[str, Any]],
                        request: Union[bytes, str]) -> PluginOAuthCredentialsResponse:
        """The credentials the provider grants, read by the plugin from the callback
        ``request``: the raw HTTP request as received (bytes: request line, headers,
        blank line, body), or the callback URL (a plain GET of it is sent, with only a
        Host header; most plugins read just ``?code=``)."""
        target, data = self._oauth_request(tenant_id, plugin_id, provider, redirect_uri,
                                           system_credentials)
        data["raw_http_request"] = _callback_request_hex(request)
        return self._dispatcher.result(
            target, "oauth/get_credentials", data, user_id=user_id,
            chunk_type=PluginOAuthCredentialsResponse, what="system_credentials",
            argument="system_credentials")

    def refresh_credentials(self, tenant_id: str, user_id: str, plugin_id: str,
                            provider: str, redirect_uri: str,
                            system_credentials: Optional[Dict[str, Any]],
                            credentials: Dict[str, Any]) -> PluginOAuthCredentialsResponse:
        """New credentials for expiring ones (``credentials`` as get_credentials gave)."""
        target, data = self._oauth_request(tenant_id, plugin_id, provider, redirect_uri,
                                           system_credentials)
        if not isinstance(credentials, dict):
            raise InvalidArgumentError("credentials must be a dict, got %s"
                                       % _type_name(credentials), argument="credentials")
        data["credentials"] = credentials
        return self._dispatcher.result(
            target, "oauth/refresh_credentials", data, user_id=user_id,
            chunk_type=PluginOAuthCredentialsResponse, what="credentials",
            argument="credentials")

    @staticmethod
    def _oauth_request(tenant_id: str, plugin_id: str, provider: str, redirect_uri: str,
                       system_credentials: Optional[Dict[str, Any]]
                       ) -> Tuple[_DispatchTarget, Dict[str, Any]]:
        plugin_id, provider_name = _plugin_provider(plugin_id, provider)
        data = {"provider": provider_name,
                "redirect_uri": _check_text(redirect_uri, "redirect_uri"),
                "system_credentials": _check_meta(system_credentials, "system_credentials")}
        return _DispatchTarget(tenant_id, plugin_id=plugin_id), data


# =============================================================================
# Client: dynamic select
# =============================================================================


class _DynamicSelect(_ClientCore):
    """The options of dynamic-select parameters (tools, trigger subscriptions, events)."""

    def fetch_dynamic_select_options(self, tenant_id: str, user_id: str, plugin_id: str,
                                     provider: str, action: str,
                                     credentials: Optional[Dict[str, Any]], parameter: str,
                                     *, credential_type: Optional[str] = None
                                     ) -> PluginDynamicSelectOptionsResponse:
        """The options the plugin offers for ``parameter``.

        ``action`` (the daemon's provider_action) says whose parameter it is: a tool's
        name, ``"provider"`` for a trigger provider's subscription constructor, or a
        trigger event's name. ``credential_type`` (api-key, oauth2, unauthorized) tells
        the plugin which kind of ``credentials`` it gets.
        """
        plugin_id, provider_name = _plugin_provider(plugin_id, provider)
        data: Dict[str, Any] = {
            "provider": provider_name, "provider_action": _check_text(action, "action"),
            "parameter": _check_text(parameter, "parameter"),
            "credentials": _check_meta(credentials, "credentials")}
        if _check_credential_type(credential_type) is not None:
            data["credential_type"] = credential_type
        return self._dispatcher.result(
            _DispatchTarget(tenant_id, plugin_id=plugin_id),
            "dynamic_select/fetch_parameter_options", data, user_id=user_id,
            chunk_type=PluginDynamicSelectOptionsResponse, what="credentials",
            argument="credentials")


# =============================================================================
# Client: management additions
# =============================================================================


def _check_category(category: Any) -> str:
    value = getattr(category, "value", category)  # an enum of categories works too
    if not isinstance(value, str) or not _CATEGORY_RE.match(value):
        raise InvalidArgumentError("category must be one of %s, got %r"
                                   % (", ".join(PLUGIN_CATEGORIES), category),
                                   argument="category")
    return value


def _category_filters(query: Optional[str], tags: Optional[Sequence[str]],
                      language: Optional[str]) -> Dict[str, Any]:
    """The optional filters of /:category/list, checked as the daemon bounds them."""
    filters: Dict[str, Any] = {}
    if query is not None:
        if not isinstance(query, str) or len(query) > 256:
            raise InvalidArgumentError("query must be a string of at most 256 characters",
                                       argument="query")
        if query:
            filters["query"] = _check_text(query, "query")
    if tags is not None:
        if isinstance(tags, (str, bytes)) or not hasattr(tags, "__iter__"):
            raise InvalidArgumentError("tags must be a list of tag names, got %r" % (tags,),
                                       argument="tags")
        tag_list = [_check_text(tag, "tags[%d]" % index) for index, tag in enumerate(tags)]
        if len(tag_list) > 128:
            raise InvalidArgumentError("tags has %d items; the daemon accepts at most 128"
                                       % len(tag_list), argument="tags")
        if tag_list:
            filters["tags"] = tag_list
    if language is not None:
        filters["language"] = _check_text(language, "language")
    return filters


class _ManagementAdditions(_ClientCore):
    """Installed plugins by category (ids, filtered pages) and model provider bindings."""

    def list_installed_plugin_ids(self, tenant_id: str, category: str) -> List[str]:
        """The ids (``author/name``) of the tenant's installed plugins of ``category``
        (tool, model, extension, agent-strategy, datasource, trigger), newest first.
        Daemon 0.6.10 and later."""
        path = self._management(tenant_id, "installation/ids")
        data = self._call("GET", path, query={"category": _check_category(category)})
        return _parse(_InstalledPluginIds, data, "GET " + path).plugin_ids

    def list_plugins_by_category(self, tenant_id: str, category: str, page: int = 1,
                                 page_size: int = MAX_PAGE_SIZE, *,
                                 query: Optional[str] = None,
                                 tags: Optional[Sequence[str]] = None,
                                 language: Optional[str] = None
                                 ) -> PluginListWithoutTotalResponse:
        """One page of the tenant's installed plugins of ``category``, newest first,
        filtered by the daemon: ``query`` (a case-insensitive substring of the plugin
        id, name, label or description, the last two in ``language``: en_US, zh_Hans,
        ja_JP or pt_BR) and ``tags`` (plugins with any of these manifest tags).

        Daemon 0.6.2 and later; the filters need 0.6.10 (earlier daemons ignore them).
        """
        _check_page(page, page_size)
        path = self._management(tenant_id, "%s/list" % _check_category(category))
        params: Dict[str, Any] = {"page": page, "page_size": page_size}
        params.update(_category_filters(query, tags, language))
        data = self._call("GET", path, query=params)
        return _parse(PluginListWithoutTotalResponse, data, "GET " + path)

    def iter_plugins_by_category(self, tenant_id: str, category: str, *,
                                 query: Optional[str] = None,
                                 tags: Optional[Sequence[str]] = None,
                                 language: Optional[str] = None,
                                 page_size: int = MAX_PAGE_SIZE) -> Iterator[PluginEntity]:
        """Every plugin :meth:`list_plugins_by_category` lists, page after page while
        the daemon says ``has_more``."""
        def page_of(page: int) -> Tuple[List[PluginEntity], bool]:
            answer = self.list_plugins_by_category(tenant_id, category, page, page_size,
                                                   query=query, tags=tags, language=language)
            return answer.list, answer.has_more

        return self._iter_pages(page_of)

    def list_model_plugin_bindings(self, tenant_id: str) -> List[ModelPluginBinding]:
        """One row per model provider the tenant has installed: which plugin (id,
        identifier, installation, version, source, runtime) provides it. Daemon 0.6.10
        and later."""
        path = self._management(tenant_id, "models/bindings")
        return _parse_list(ModelPluginBinding, self._call("GET", path), "GET " + path)


# =============================================================================
# Client: remote debugging and assets
# =============================================================================


class _DebuggingAndAssets(_ClientCore):
    """The tenant's remote-debugging key; plugin assets (icons) and package files."""

    def get_debugging_key(self, tenant_id: str) -> str:
        """The key a plugin under development uses to connect to this daemon for the
        tenant (its REMOTE_INSTALL_KEY). The same key each time for a tenant. Only
        daemons started with PLUGIN_REMOTE_INSTALLING_ENABLED=true serve it."""
        path = "/plugin/%s/debugging/key" % _check_tenant(tenant_id)
        try:
            data = self._call("POST", path)
        except HTTPStatusError as exc:
            if exc.status_code == 404:
                exc.hint = ("this daemon does not serve remote debugging: it needs "
                            "PLUGIN_REMOTE_INSTALLING_ENABLED=true")
            raise
        return _parse(_DebuggingKey, data, "POST " + path).key

    def fetch_asset(self, tenant_id: str, id: str) -> bytes:
        """An asset's bytes by its id: the ``icon`` (or ``icon_dark``) value of an
        installed plugin's declaration. A missing asset is a
        :class:`PluginDaemonNotFoundError` (the daemon answers it with an empty body)."""
        asset_id = _check_text(id, "id")
        if "/" in asset_id or asset_id in (".", ".."):
            raise InvalidArgumentError("id is an asset id such as <sha256>.svg, got %r"
                                       % asset_id, argument="id")
        path = "/plugin/%s/asset/%s" % (_check_tenant(tenant_id), asset_id)
        return self._fetch_bytes(path, None, "no asset %s on the daemon" % asset_id, None)

    def extract_asset(self, tenant_id: str, plugin_unique_identifier: str,
                      file_path: str) -> bytes:
        """A file of an uploaded package's ``_assets/`` folder; ``file_path`` is relative
        to that folder (``icon.svg``, not ``_assets/icon.svg``). A file that is not
        there is a :class:`PluginDaemonNotFoundError`."""
        path = "/plugin/%s/extract-asset/" % _check_tenant(tenant_id)
        identifier = _check_identifier(plugin_unique_identifier)
        name = _check_text(file_path, "file_path")
        query = {"plugin_unique_identifier": identifier, "file_path": name}
        return self._fetch_bytes(
            path, query, "no file %s in the _assets/ folder of %s" % (name, identifier),
            "file_path is relative to the package's _assets/ folder (e.g. icon.svg); other "
            "files of the package cannot be read this way")

    def _fetch_bytes(self, path: str, query: Optional[Dict[str, str]], missing: str,
                     hint: Optional[str]) -> bytes:
        route = "GET " + path
        response = self._transport.request("GET", path, query=query)
        content_type = response.headers.get("content-type", "").lower()  # any case
        if response.status_code != 200 or content_type.startswith("application/json"):
            data = _decode_envelope(response, route)  # an error envelope raises
            raise InvalidResponseError("the daemon answered JSON instead of the file: %s"
                                       % _short_repr(data), route=route)
        if not response.content:
            raise PluginDaemonNotFoundError("%s (the daemon answered an empty body)" % missing,
                                            http_status=200, route=route, hint=hint)
        content: bytes = response.content
        return content


# =============================================================================
# Client: packages by unique identifier (/v2)
# =============================================================================
#
# /v2/invoke addresses a package by its unique identifier instead of a tenant's
# installation: dispatch routes under /v2/invoke/dispatch/ (X-Plugin-Unique-Identifier,
# tenant_id in the body) and the manifest at /v2/invoke/extract. `by_identifier` gives
# a view of the client whose dispatcher sends every dispatch request there: each
# dispatch method of every route group works on it unchanged. The daemon runs the
# package only if some runtime of it is up (installed for any tenant, or connected for
# remote debugging); an uploaded-only package can be read (extract) but not run.

if TYPE_CHECKING:
    _ClientT = TypeVar("_ClientT", bound="_V2")


class _V2(_Tools):
    """Run and read packages by unique identifier (/v2), without a tenant installation.

    A subclass of the tools group: on a package view, tool declarations (for casting
    invoke parameters, and fetch_tool_provider) come from the package's manifest.
    """

    #: The package a view made by :meth:`by_identifier` runs; None on the client itself.
    _package_identifier: Optional[str] = None

    @property
    def package_identifier(self) -> Optional[str]:
        """The unique identifier this view sends dispatch requests for (None: the
        tenant's installed plugins, as usual)."""
        return self._package_identifier

    def extract_plugin(self, plugin_unique_identifier: str) -> PluginDecodeResponse:
        """An uploaded package's manifest (original icon names), unique identifier and
        signature verification, read from the stored package; no tenant involved.
        Daemon 0.6.1 and later."""
        identifier = _check_identifier(plugin_unique_identifier)
        data = self._call("GET", "/v2/invoke/extract",
                          headers={"X-Plugin-Unique-Identifier": identifier})
        return _parse(PluginDecodeResponse, data, "GET /v2/invoke/extract")

    def by_identifier(self: _ClientT, plugin_unique_identifier: str) -> _ClientT:
        """A view of this client whose dispatch methods run the package
        ``plugin_unique_identifier`` through /v2 instead of the plugin installed for the
        tenant: ``client.by_identifier(uid).invoke(tenant, user, provider, tool, ...)``,
        and the same for every other dispatch method (the tenant id is still given; the
        daemon does not check it against installations). Calls must name the package's
        own plugin. Other methods behave as on the client, except tool declarations,
        which come from the package's manifest.

        The view shares the client's connections and settings; closing either closes
        idle connections only. Daemon 0.5.5 and later (tool declarations: 0.6.1). The
        daemon answers "plugin runtime not found" unless a runtime of the package is up
        (it is installed for some tenant, or connected for remote debugging).
        """
        identifier = _check_identifier(plugin_unique_identifier)
        view = object.__new__(type(self))  # a shallow copy (without importing copy)
        view.__dict__.update(self.__dict__)
        view._dispatcher = _Dispatcher(self._transport, self.config, package=identifier)
        view._package_identifier = identifier
        view._declarations = {}  # the view's own: another version than the installed one
        view._declarations_lock = _thread.allocate_lock()
        return view

    def _fetch_tool_provider(self, tenant_id: str, plugin_id: str, provider_name: str
                             ) -> PluginToolProviderEntity:
        identifier = self._package_identifier
        if identifier is None:
            return super()._fetch_tool_provider(tenant_id, plugin_id, provider_name)
        _check_tenant(tenant_id)
        if _plugin_id_of(identifier) != plugin_id:
            raise InvalidArgumentError("this client view runs the package %s; the provider "
                                       "belongs to %s" % (identifier, plugin_id),
                                       argument="provider")
        declaration = self.extract_plugin(identifier).manifest.tool
        if declaration is None or declaration.identity.name != provider_name:
            raise PluginNotFoundError("package %s has no tool provider %s" % (identifier,
                                                                             provider_name),
                                      route="GET /v2/invoke/extract")
        entity = PluginToolProviderEntity(provider=provider_name, plugin_id=plugin_id,
                                          plugin_unique_identifier=identifier,
                                          declaration=declaration, tenant_id=tenant_id)
        return self._prepare_provider(tenant_id, entity)


# =============================================================================
# Client: installed providers (agent strategies, datasources, triggers)
# =============================================================================


class _InstalledProviders(_ClientCore):
    """Listing and fetching one kind of installed provider, named in full."""

    def _fetch_providers(self, tenant_id: str, suffix: str, cls: Type[_P]) -> List[_P]:
        """Every provider of the kind (all pages), their members named in full."""
        providers = self._all_providers(tenant_id, suffix, cls)
        for provider in providers:
            provider._name_members()
        return providers

    def _fetch_provider(self, tenant_id: str, suffix: str, provider: str, cls: Type[_P],
                        what: str) -> _P:
        """One provider named ``plugin_id/provider`` (or a bare langgenius name)."""
        _check_tenant(tenant_id)
        plugin_id, provider_name = _parse_provider_id(provider, "provider")
        entity = self._one_provider(tenant_id, suffix, plugin_id, provider_name, cls, what)
        entity._name_members()
        return entity


def _target_of(tenant_id: str, provider: str, argument: str = "provider"
               ) -> Tuple[_DispatchTarget, str]:
    """The dispatch target of ``plugin_id/provider`` and the short provider name."""
    tenant_id = _check_tenant(tenant_id)
    plugin_id, provider_name = _parse_provider_id(provider, argument)
    return _DispatchTarget(tenant_id, plugin_id=plugin_id), provider_name


def _credentials_fields(credentials: Optional[Mapping[str, Any]],
                        credential_type: Optional[str], default_type: bool = False
                        ) -> Dict[str, Any]:
    """``credentials`` and ``credential_type`` of a dispatch body.

    With ``default_type`` a missing type is sent anyway (the plugin SDK requires it on
    trigger routes): api-key when there are credentials, unauthorized when not.
    """
    checked = _check_meta(credentials, "credentials")
    fields: Dict[str, Any] = {"credentials": checked}
    if credential_type is None and default_type:
        credential_type = "api-key" if checked else "unauthorized"
    if credential_type is not None:
        fields["credential_type"] = _check_credential_type(credential_type)
    return fields


def _mapped(stream: Generator[_E, None, None], pick: Callable[[_E], _T]
            ) -> Generator[_T, None, None]:
    """The stream's chunks passed through ``pick``; closing it closes the stream."""
    try:
        for chunk in stream:
            yield pick(chunk)
    finally:
        stream.close()


# =============================================================================
# Client: endpoints
# =============================================================================

#: Endpoint listings accept at most this many per page (the other lists: 256).
MAX_ENDPOINT_PAGE_SIZE = 100


def _check_endpoint_page(page: Any, page_size: Any) -> None:
    _check_page(page, page_size, MAX_ENDPOINT_PAGE_SIZE, " (the daemon's limit for endpoints)")


class _Endpoints(_ClientCore):
    """Endpoints: set up, list, update, enable, disable and remove; their public URL."""

    @staticmethod
    def _endpoint_path(tenant_id: Any, suffix: str) -> str:
        return "/plugin/%s/endpoint/%s" % (_check_tenant(tenant_id), suffix)

    def fetch_endpoints_page(self, tenant_id: str, page: int = 1,
                             page_size: int = MAX_ENDPOINT_PAGE_SIZE,
                             plugin_id: Optional[str] = None) -> List[Endpoint]:
        """One page of the tenant's endpoints (of one plugin if ``plugin_id`` is given),
        newest first; at most 100 per page."""
        _check_endpoint_page(page, page_size)
        query: Dict[str, Any] = {"page": page, "page_size": page_size}
        if plugin_id is None:
            path = self._endpoint_path(tenant_id, "list")
        else:
            path = self._endpoint_path(tenant_id, "list/plugin")
            query = dict(plugin_id=_check_plugin_id(plugin_id), **query)
        return _parse_list(Endpoint, self._call("GET", path, query=query), "GET " + path)

    def iter_endpoints(self, tenant_id: str, plugin_id: Optional[str] = None,
                       page_size: int = MAX_ENDPOINT_PAGE_SIZE) -> Iterator[Endpoint]:
        """The tenant's endpoints (or one plugin's), fetched page by page as you iterate."""
        _check_tenant(tenant_id)
        _check_endpoint_page(1, page_size)
        if plugin_id is not None:
            _check_plugin_id(plugin_id)
        return self._iter_pages(lambda page: _full_page(
            self.fetch_endpoints_page(tenant_id, page, page_size, plugin_id), page_size))

    def list_endpoints(self, tenant_id: str) -> List[Endpoint]:
        """Every endpoint of the tenant (all pages), newest first."""
        return list(self.iter_endpoints(tenant_id))

    def list_endpoints_for_single_plugin(self, tenant_id: str, plugin_id: str
                                         ) -> List[Endpoint]:
        """Every endpoint of one plugin (``author/name``), newest first. A plugin with
        endpoints that is no longer installed gives a not-found error."""
        return list(self.iter_endpoints(tenant_id, _check_plugin_id(plugin_id)))

    def fetch_endpoint(self, tenant_id: str, endpoint_id: str) -> Endpoint:
        """One endpoint by id (the daemon has no route for one: the list is searched)."""
        _check_uuid(endpoint_id, "endpoint_id")
        for endpoint in self.iter_endpoints(tenant_id):
            if endpoint.id == endpoint_id:
                return endpoint
        raise PluginDaemonNotFoundError("no endpoint %s for tenant %s" % (endpoint_id,
                                                                          tenant_id))

    def create_endpoint(self, tenant_id: str, user_id: str, plugin_unique_identifier: str,
                        name: str, settings: Optional[Dict[str, Any]] = None) -> Endpoint:
        """Set up an endpoint of an installed plugin and return it (id, hook id, ...).

        ``settings`` are checked by the daemon against the plugin's endpoint settings
        (secret values are encrypted through Dify's inner API, which the daemon must
        reach). The daemon answers only ``true``, so the client lists the plugin's
        endpoints before and after and returns the one that appeared, matched by name,
        user and the non-secret settings. If another client sets up an endpoint of the
        same plugin with the same name, user and settings at the same moment, the two
        cannot be told apart: :class:`EndpointNotIdentifiedError` lists both (the
        endpoint was created).

        A setup that fails after the daemon created the row (it cannot reach Dify's
        inner API: "failed to encrypt settings") leaves an endpoint with empty settings
        and a live hook behind. The client removes it and raises the daemon's error,
        which then says so; when it cannot (the listing needs Dify's inner API too), it
        raises :class:`EndpointLeftBehindError` naming the endpoint.
        """
        tenant_id = _check_tenant(tenant_id)
        _check_text(user_id, "user_id")
        identifier = _check_identifier(plugin_unique_identifier)
        _check_text(name, "name")
        settings = _check_meta(settings, "settings")
        path = self._endpoint_path(tenant_id, "setup")
        body = _json_body({"plugin_unique_identifier": identifier, "user_id": user_id,
                           "name": name, "settings": settings}, "settings", "settings")
        plugin_id = _plugin_id_of(identifier)
        before = {endpoint.id for endpoint in self.iter_endpoints(tenant_id, plugin_id)}
        try:
            with _MaskedErrors(_secret_values(settings)):
                data = self._call("POST", path, body=body,
                                  headers={"Content-Type": "application/json"})
        except PluginDaemonInternalServerError as exc:
            self._clean_up_failed_setup(tenant_id, plugin_id, before, name, user_id, exc)
            raise
        _expect_bool(data, "POST " + path)
        appeared = [endpoint for endpoint in self.iter_endpoints(tenant_id, plugin_id)
                    if endpoint.id not in before]
        fitting = [endpoint for endpoint in appeared
                   if _endpoint_fits(endpoint, name, user_id, settings)]
        if len(fitting) == 1:
            return fitting[0]
        raise EndpointNotIdentifiedError(
            "the daemon set up endpoint %r of %s, but %s" % (
                name, plugin_id,
                "no new endpoint of that name appeared in its list" if not fitting else
                "%d endpoints of that name, user and settings appeared at the same time "
                "(ids %s); it is one of them" % (len(fitting), ", ".join(
                    endpoint.id for endpoint in fitting))),
            candidates=fitting, route="POST " + path)

    def _clean_up_failed_setup(self, tenant_id: str, plugin_id: str, before: Set[str],
                               name: str, user_id: str, error: PluginDaemonError) -> None:
        """After a failed setup: remove the row the daemon may have left, or raise
        EndpointLeftBehindError; returns when nothing was left (or it was removed)."""
        def leftovers() -> List[Endpoint]:
            return [endpoint for endpoint in self.iter_endpoints(tenant_id, plugin_id)
                    if endpoint.id not in before and endpoint.name == name
                    and endpoint.user_id == user_id and not endpoint.settings]

        try:
            found = leftovers()
        except DifyPluginError as exc:
            raise _left_behind(error, [], name, plugin_id, "the endpoints could not be "
                               "listed to remove it (%s)" % exc.message) from error
        if not found:
            return
        failed = False
        for endpoint in found:
            try:
                self.delete_endpoint(tenant_id, endpoint.id)
            except DifyPluginError:
                failed = True  # the daemon deletes the row before telling Dify: look again
        if failed:
            try:
                remaining = {endpoint.id for endpoint in leftovers()}
            except DifyPluginError:
                remaining = {endpoint.id for endpoint in found}
            still = [endpoint for endpoint in found if endpoint.id in remaining]
            if still:
                raise _left_behind(error, still, name, plugin_id,
                                   "removing it failed") from error
        error.message = "%s; the daemon had created endpoint %s anyway (empty settings): " \
                        "the client removed it" % (error.message,
                                                   ", ".join(e.id for e in found))
        error.args = (error.message,)

    def update_endpoint(self, tenant_id: str, user_id: str, endpoint_id: str, name: str,
                        settings: Dict[str, Any]) -> bool:
        """Rename an endpoint and replace its settings. A secret-input value sent back as
        the listing masked it keeps the stored secret; any other value replaces it."""
        _check_text(user_id, "user_id")
        _check_uuid(endpoint_id, "endpoint_id")
        _check_text(name, "name")
        if not isinstance(settings, dict):
            raise InvalidArgumentError("settings must be a dict", argument="settings")
        with _MaskedErrors(_secret_values(settings)):
            return self._endpoint_action(tenant_id, "update", endpoint_id,
                                         {"user_id": user_id, "name": name,
                                          "settings": settings})

    def delete_endpoint(self, tenant_id: str, endpoint_id: str) -> bool:
        """Remove an endpoint; its hook stops answering. An unknown id is an error."""
        return self._endpoint_action(tenant_id, "remove", endpoint_id)

    def enable_endpoint(self, tenant_id: str, endpoint_id: str) -> bool:
        """Let the endpoint's hook answer again."""
        return self._endpoint_action(tenant_id, "enable", endpoint_id)

    def disable_endpoint(self, tenant_id: str, endpoint_id: str) -> bool:
        """Make the endpoint's hook answer 404 until it is enabled (idempotent)."""
        return self._endpoint_action(tenant_id, "disable", endpoint_id)

    def _endpoint_action(self, tenant_id: str, action: str, endpoint_id: str,
                         fields: Optional[Dict[str, Any]] = None) -> bool:
        path = self._endpoint_path(tenant_id, action)
        payload = {"endpoint_id": _check_uuid(endpoint_id, "endpoint_id")}
        payload.update(fields or {})
        body = _json_body(payload, "settings", "settings")
        data = self._call("POST", path, body=body, headers={"Content-Type": "application/json"})
        return _expect_bool(data, "POST " + path)


def _endpoint_fits(endpoint: Endpoint, name: str, user_id: str,
                   settings: Dict[str, Any]) -> bool:
    """Whether a listed endpoint can be the one set up with these values (secret
    values are masked in the listing, so only the others are compared)."""
    if endpoint.name != name or endpoint.user_id != user_id:
        return False
    secret = set(endpoint.declaration.secret_settings()) if endpoint.declaration else set()
    return all(endpoint.settings.get(key) == value for key, value in settings.items()
               if key not in secret)


def _left_behind(error: PluginDaemonError, endpoints: List[Endpoint], name: str,
                 plugin_id: str, why: str) -> EndpointLeftBehindError:
    named = ", ".join("%s (hook %s)" % (e.id, e.hook_id) for e in endpoints) or (
        "named %r" % name)
    return EndpointLeftBehindError(
        "%s; the daemon created endpoint %s of %s anyway, with empty settings and a live "
        "hook, and %s: remove it once the daemon can reach Dify's inner API"
        % (error.message, named, plugin_id, why),
        endpoints=endpoints, name=name, plugin_id=plugin_id, http_status=error.http_status,
        code=error.code, error_type=error.error_type, route=error.route,
        hint="list the plugin's endpoints and remove this one (CLI: endpoints list --plugin "
             "%s, endpoints remove ID)" % plugin_id)


# =============================================================================
# Client: agent strategies
# =============================================================================


class _AgentStrategies(_InstalledProviders):
    """Agent strategy providers and streamed strategy invocation."""

    def fetch_agent_strategy_providers(self, tenant_id: str
                                       ) -> List[PluginAgentProviderEntity]:
        """Every agent strategy provider of the tenant (all pages), named in full."""
        return self._fetch_providers(tenant_id, "agent_strategies", PluginAgentProviderEntity)

    def fetch_agent_strategy_provider(self, tenant_id: str, provider: str
                                      ) -> PluginAgentProviderEntity:
        """One agent strategy provider, named ``plugin_id/provider``."""
        return self._fetch_provider(tenant_id, "agent_strategy", provider,
                                    PluginAgentProviderEntity, "agent strategy")

    def invoke_agent_strategy(self, tenant_id: str, user_id: str, agent_provider: str,
                              agent_strategy: str,
                              agent_params: Optional[Dict[str, Any]] = None, *,
                              conversation_id: Optional[str] = None,
                              app_id: Optional[str] = None,
                              message_id: Optional[str] = None,
                              context: Optional[Dict[str, Any]] = None,
                              merge_blob_chunks: bool = True
                              ) -> Generator[AgentInvokeMessage, None, None]:
        """Run an agent strategy; returns a generator of :class:`AgentInvokeMessage`.

        ``agent_provider`` is ``plugin_id/provider`` (``fetch_agent_strategy_providers``
        gives it as ``full_name``); ``agent_params`` are the strategy's parameters as
        its declaration describes them (sent as given). ``context`` is passed to the
        plugin as is (Dify sends ``{"credentials": {"tool_credentials": {...}}}``).
        Bad arguments raise here; the request is sent when you start iterating. The
        daemon merges blob chunks itself; the client would merge any left.
        """
        target, provider_name = _target_of(tenant_id, agent_provider, "agent_provider")
        _check_text(user_id, "user_id")
        _check_text(agent_strategy, "agent_strategy")
        params = _check_meta(agent_params, "agent_params")
        top_level: Dict[str, Any] = _context_fields(
            conversation_id=conversation_id, app_id=app_id, message_id=message_id)
        if context is not None:
            top_level["context"] = _check_meta(context, "context")
        data = {"agent_strategy_provider": provider_name, "agent_strategy": agent_strategy,
                "agent_strategy_params": params}
        return self._dispatcher.stream(
            target, "agent_strategy/invoke", data, user_id=user_id,
            chunk_type=AgentInvokeMessage, top_level=top_level,
            merge_blob_chunks=merge_blob_chunks, what="agent_params and context",
            argument="agent_params")


# =============================================================================
# Client: datasources
# =============================================================================


class _Datasources(_InstalledProviders):
    """Datasource providers: credentials, website crawls, online documents and drives."""

    def fetch_datasource_providers(self, tenant_id: str
                                   ) -> List[PluginDatasourceProviderEntity]:
        """Every datasource provider of the tenant (all pages), named in full. (Dify adds
        its own local-file provider to this list; the daemon knows nothing of it.)"""
        return self._fetch_providers(tenant_id, "datasources", PluginDatasourceProviderEntity)

    def fetch_datasource_provider(self, tenant_id: str, provider: str
                                  ) -> PluginDatasourceProviderEntity:
        """One datasource provider, named ``plugin_id/provider``."""
        return self._fetch_provider(tenant_id, "datasource", provider,
                                    PluginDatasourceProviderEntity, "datasource")

    def validate_datasource_credentials(self, tenant_id: str, user_id: str, provider: str,
                                        credentials: Dict[str, Any]) -> bool:
        """True when the plugin accepts the credentials; a refusal is raised as the
        plugin's error (:class:`PluginInvokeError`, ``invoke_error_type`` e.g.
        DatasourceCredentialValidationError)."""
        target, provider_name = _target_of(tenant_id, provider)
        data = {"provider": provider_name,
                "credentials": _check_meta(credentials, "credentials")}
        return self._dispatcher.result(target, "datasource/validate_credentials", data,
                                       user_id=user_id, chunk_type=_BoolResult,
                                       what="credentials", argument="credentials").result

    def _datasource_call(self, tenant_id: str, user_id: str, datasource_provider: str,
                         datasource_name: str, credentials: Optional[Dict[str, Any]],
                         credential_type: Optional[str], route: str, fields: Dict[str, Any],
                         chunk_type: Type[_E], merge_blob_chunks: bool = False,
                         at_least_one: bool = False) -> Generator[_E, None, None]:
        target, provider_name = _target_of(tenant_id, datasource_provider,
                                           "datasource_provider")
        _check_text(datasource_name, "datasource_name")
        data: Dict[str, Any] = {"provider": provider_name, "datasource": datasource_name}
        data.update(_credentials_fields(credentials, credential_type))
        data.update(fields)
        return self._dispatcher.stream(target, "datasource/" + route, data, user_id=user_id,
                                       chunk_type=chunk_type,
                                       merge_blob_chunks=merge_blob_chunks,
                                       what="credentials and parameters",
                                       argument="datasource_parameters",
                                       at_least_one=at_least_one)

    def get_website_crawl(self, tenant_id: str, user_id: str, datasource_provider: str,
                          datasource_name: str, credentials: Optional[Dict[str, Any]],
                          datasource_parameters: Optional[Dict[str, Any]] = None, *,
                          credential_type: Optional[str] = None
                          ) -> Generator[WebsiteCrawlResult, None, None]:
        """Crawl a website; yields the crawl's progress as it goes (``status``
        processing, then completed, with ``completed`` of ``total`` pages)."""
        stream = self._datasource_call(
            tenant_id, user_id, datasource_provider, datasource_name, credentials,
            credential_type, "get_website_crawl",
            {"datasource_parameters": _check_meta(datasource_parameters,
                                                  "datasource_parameters")},
            _WebsiteCrawlChunk, at_least_one=True)
        return _mapped(stream, lambda chunk: chunk.result)

    def get_online_document_pages(self, tenant_id: str, user_id: str,
                                  datasource_provider: str, datasource_name: str,
                                  credentials: Optional[Dict[str, Any]],
                                  datasource_parameters: Optional[Dict[str, Any]] = None, *,
                                  credential_type: Optional[str] = None
                                  ) -> List[OnlineDocumentInfo]:
        """The workspaces of an online document source and their pages."""
        chunks = self._datasource_call(
            tenant_id, user_id, datasource_provider, datasource_name, credentials,
            credential_type, "get_online_document_pages",
            {"datasource_parameters": _check_meta(datasource_parameters,
                                                  "datasource_parameters")},
            _OnlineDocumentPagesChunk, at_least_one=True)
        return [info for chunk in chunks for info in chunk.result]

    def get_online_document_page_content(self, tenant_id: str, user_id: str,
                                         datasource_provider: str, datasource_name: str,
                                         credentials: Optional[Dict[str, Any]],
                                         page: Dict[str, Any], *,
                                         credential_type: Optional[str] = None,
                                         merge_blob_chunks: bool = True
                                         ) -> Generator[DatasourceInvokeMessage, None, None]:
        """One page's content as a stream of messages. ``page`` names it as the pages
        listing does: ``{"workspace_id", "page_id", "type"}``."""
        if not isinstance(page, dict) or not page.get("page_id"):
            raise InvalidArgumentError("page must be a dict with at least page_id (and "
                                       "workspace_id and type), got %r" % (page,),
                                       argument="page")
        return self._datasource_call(
            tenant_id, user_id, datasource_provider, datasource_name, credentials,
            credential_type, "get_online_document_page_content", {"page": page},
            DatasourceInvokeMessage, merge_blob_chunks, at_least_one=True)

    def online_drive_browse_files(self, tenant_id: str, user_id: str,
                                  datasource_provider: str, datasource_name: str,
                                  credentials: Optional[Dict[str, Any]], *,
                                  prefix: str = "", max_keys: int = 100,
                                  bucket: Optional[str] = None,
                                  next_page_parameters: Optional[Dict[str, Any]] = None,
                                  credential_type: Optional[str] = None
                                  ) -> List[OnlineDriveFileBucket]:
        """Files and folders under ``prefix`` (a folder id), ``max_keys`` at most; a
        bucket that ``is_truncated`` has ``next_page_parameters`` to pass back."""
        request: Dict[str, Any] = {"prefix": _check_text(prefix, "prefix", allow_empty=True),
                                   "max_keys": _check_positive_int(max_keys, "max_keys")}
        if bucket is not None:
            request["bucket"] = _check_text(bucket, "bucket")
        if next_page_parameters is not None:
            request["next_page_parameters"] = _check_meta(next_page_parameters,
                                                          "next_page_parameters")
        chunks = self._datasource_call(
            tenant_id, user_id, datasource_provider, datasource_name, credentials,
            credential_type, "online_drive_browse_files", {"request": request},
            _OnlineDriveFilesChunk, at_least_one=True)
        return [bucket_ for chunk in chunks for bucket_ in chunk.result]

    def online_drive_download_file(self, tenant_id: str, user_id: str,
                                   datasource_provider: str, datasource_name: str,
                                   credentials: Optional[Dict[str, Any]], file_id: str, *,
                                   bucket: Optional[str] = None,
                                   credential_type: Optional[str] = None,
                                   merge_blob_chunks: bool = True
                                   ) -> Generator[DatasourceInvokeMessage, None, None]:
        """Download one file (its ``id`` from browsing): a stream of messages, the
        content as ``blob`` (``blob_chunk`` pieces merged unless told not to)."""
        request: Dict[str, Any] = {}
        if bucket is not None:
            request["bucket"] = _check_text(bucket, "bucket")
        request["id"] = _check_text(file_id, "file_id")
        return self._datasource_call(
            tenant_id, user_id, datasource_provider, datasource_name, credentials,
            credential_type, "online_drive_download_file", {"request": request},
            DatasourceInvokeMessage, merge_blob_chunks, at_least_one=True)


# =============================================================================
# Client: triggers
# =============================================================================


def _subscription_dict(subscription: Any) -> Dict[str, Any]:
    if isinstance(subscription, TriggerSubscription):
        return subscription.to_dict()
    if not isinstance(subscription, dict) or not subscription:
        raise InvalidArgumentError("subscription must be a TriggerSubscription or the "
                                   "non-empty dict subscribe gave, got %s"
                                   % _type_name(subscription), argument="subscription")
    return subscription


class _Triggers(_InstalledProviders):
    """Trigger providers: credentials, subscriptions, webhook dispatch and events."""

    def fetch_trigger_providers(self, tenant_id: str) -> List[PluginTriggerProviderEntity]:
        """Every trigger provider of the tenant (all pages), named in full."""
        return self._fetch_providers(tenant_id, "triggers", PluginTriggerProviderEntity)

    def fetch_trigger_provider(self, tenant_id: str, provider: str
                               ) -> PluginTriggerProviderEntity:
        """One trigger provider, named ``plugin_id/provider``."""
        return self._fetch_provider(tenant_id, "trigger", provider,
                                    PluginTriggerProviderEntity, "trigger")

    def _trigger_result(self, tenant_id: str, user_id: str, provider: str, route: str,
                        fields: Dict[str, Any], chunk_type: Type[_E]) -> _E:
        target, provider_name = _target_of(tenant_id, provider)
        data: Dict[str, Any] = {"provider": provider_name}
        data.update(fields)
        return self._dispatcher.result(target, "trigger/" + route, data, user_id=user_id,
                                       chunk_type=chunk_type, what="the request data",
                                       argument="parameters")

    def validate_trigger_credentials(self, tenant_id: str, user_id: str, provider: str,
                                     credentials: Dict[str, Any]) -> bool:
        """True when the plugin accepts the subscription constructor's credentials; a
        refusal is raised as the plugin's error (TriggerProviderCredentialValidationError)."""
        return self._trigger_result(tenant_id, user_id, provider, "validate_credentials",
                                    {"credentials": _check_meta(credentials, "credentials")},
                                    _BoolResult).result

    def subscribe_trigger(self, tenant_id: str, user_id: str, provider: str, endpoint: str,
                          parameters: Optional[Dict[str, Any]] = None,
                          credentials: Optional[Dict[str, Any]] = None,
                          credential_type: Optional[str] = None) -> TriggerSubscription:
        """Ask the plugin to subscribe to its service's events, delivered to
        ``endpoint`` (the URL your webhook receiver listens on)."""
        fields: Dict[str, Any] = {"endpoint": _check_text(endpoint, "endpoint"),
                                  "parameters": _check_meta(parameters, "parameters")}
        fields.update(_credentials_fields(credentials, credential_type, default_type=True))
        return self._trigger_result(tenant_id, user_id, provider, "subscribe", fields,
                                    _TriggerSubscriptionChunk).subscription

    def unsubscribe_trigger(self, tenant_id: str, user_id: str, provider: str,
                            subscription: Union[TriggerSubscription, Dict[str, Any]],
                            credentials: Optional[Dict[str, Any]] = None,
                            credential_type: Optional[str] = None) -> TriggerUnsubscribeResult:
        """Ask the plugin to remove a subscription; ``success`` false is the plugin's
        own answer (with its ``message``), not an error."""
        fields = {"subscription": _subscription_dict(subscription)}
        fields.update(_credentials_fields(credentials, credential_type, default_type=True))
        return self._trigger_result(tenant_id, user_id, provider, "unsubscribe", fields,
                                    _TriggerUnsubscribeChunk).subscription

    def refresh_trigger(self, tenant_id: str, user_id: str, provider: str,
                        subscription: Union[TriggerSubscription, Dict[str, Any]],
                        credentials: Optional[Dict[str, Any]] = None,
                        credential_type: Optional[str] = None) -> TriggerSubscription:
        """Renew a subscription before it expires; returns the renewed one."""
        fields = {"subscription": _subscription_dict(subscription)}
        fields.update(_credentials_fields(credentials, credential_type, default_type=True))
        return self._trigger_result(tenant_id, user_id, provider, "refresh", fields,
                                    _TriggerSubscriptionChunk).subscription

    def dispatch_trigger_event(self, tenant_id: str, user_id: str, provider: str,
                               subscription: Union[TriggerSubscription, Dict[str, Any]],
                               raw_http_request: Union[RawHttpRequest, bytes, str],
                               credentials: Optional[Dict[str, Any]] = None,
                               credential_type: Optional[str] = None
                               ) -> TriggerDispatchResponse:
        """Hand an incoming webhook request to the plugin: which events it fires, with
        what payload, and the HTTP response for the caller (``http_response()``).

        ``raw_http_request`` is a :class:`RawHttpRequest`, its bytes or their hex; it is
        checked before sending (the plugin refuses a body that does not match its
        Content-Length). ``credential_type`` defaults to api-key with credentials and
        unauthorized without (the plugin SDK needs one).
        """
        fields = {"subscription": _subscription_dict(subscription),
                  "raw_http_request": _raw_request_hex(raw_http_request)}
        fields.update(_credentials_fields(credentials, credential_type, default_type=True))
        return self._trigger_result(tenant_id, user_id, provider, "dispatch_event", fields,
                                    TriggerDispatchResponse)

    def invoke_trigger_event(self, tenant_id: str, user_id: str, provider: str,
                             event_name: str,
                             subscription: Union[TriggerSubscription, Dict[str, Any]],
                             raw_http_request: Union[RawHttpRequest, bytes, str],
                             parameters: Optional[Dict[str, Any]] = None,
                             payload: Optional[Dict[str, Any]] = None,
                             credentials: Optional[Dict[str, Any]] = None,
                             credential_type: Optional[str] = None
                             ) -> TriggerInvokeEventResponse:
        """Turn a dispatched webhook into one event's variables (``cancelled`` when the
        plugin ignores it for these ``parameters``). ``payload`` is what dispatch
        returned; ``parameters`` and ``payload`` are sent as {} when not given (the
        plugin SDK needs objects)."""
        fields = {"event": _check_text(event_name, "event_name"),
                  "subscription": _subscription_dict(subscription),
                  "raw_http_request": _raw_request_hex(raw_http_request),
                  "parameters": _check_meta(parameters, "parameters"),
                  "payload": _check_meta(payload, "payload")}
        fields.update(_credentials_fields(credentials, credential_type, default_type=True))
        return self._trigger_result(tenant_id, user_id, provider, "invoke_event", fields,
                                    TriggerInvokeEventResponse)


# =============================================================================
# Client: the client
# =============================================================================


class DifyPluginClient(_V2, _Models, _ToolCredentials, _OAuth, _DynamicSelect, _Endpoints,
                       _AgentStrategies, _Datasources, _Triggers, _ManagementAdditions,
                       _DebuggingAndAssets, _Tools, _DiscoveryAndMetadata, _InstallAndLifecycle):
    """Client for one Dify Plugin Daemon.

    Thread-safe: share one instance; it keeps connections alive and reuses them.
    Close it (or use it as a context manager) to close idle connections.
    Every method takes the tenant id first; tenant ids are UUIDs.
    """

    def __init__(self, config: PluginConfig) -> None:
        if not isinstance(config, PluginConfig):
            raise InvalidArgumentError("DifyPluginClient needs a PluginConfig, got %r"
                                       % type(config).__name__, argument="config")
        self.config = config
        self._transport = _Transport(config)
        self._dispatcher = _Dispatcher(self._transport, config)
        self._declarations = {}
        self._declarations_lock = _thread.allocate_lock()

    def __repr__(self) -> str:
        return "DifyPluginClient(%r)" % (self.config,)

    def __enter__(self) -> DifyPluginClient:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close idle connections. The client may still be used; it reconnects."""
        self._transport.close()


def _plugin_id_of(identifier: str) -> str:
    """``author/name`` of ``author/name:version@checksum``."""
    return identifier.split(":", 1)[0]


_CREDENTIAL_TYPES = ("api-key", "oauth2", "unauthorized")


def _find_tool(entity: PluginToolProviderEntity, tool_name: str) -> Optional[ToolDeclaration]:
    return entity.declaration.tool(tool_name) if entity.declaration is not None else None


def _provider_pair(item: Any, argument: str) -> Dict[str, str]:
    """``{"plugin_id", "provider_name"}`` from a dict, an object or a provider id string."""
    plugin_id: Any
    provider_name: Any
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


def _task_progress(task: PluginInstallTask) -> Tuple[Any, ...]:
    return (str(task.status), tuple((item.plugin_unique_identifier, str(item.status),
                                     item.message) for item in task.plugins))


def _install_failure(task: PluginInstallTask) -> PluginInstallError:
    failures = [(item.plugin_unique_identifier, item.message or "failed")
                for item in task.plugins if item.status == PluginInstallTaskStatus.Failed]
    detail = "; ".join("%s: %s" % failure for failure in failures) or "no plugin reported why"
    return PluginInstallError("install task %s failed: %s" % (task.id, detail), task=task,
                              failures=failures, hint=_hint_for(detail))


# =============================================================================
# Routes
# =============================================================================
#
# Every route of the daemon this module speaks, and the method that speaks it. Tests
# check the table against the client (each method exists and sends that request).
# Paths are the daemon's own patterns (gin syntax).

#: (HTTP method, path pattern, DifyPluginClient method) of the routes under /plugin and
#: /health and /v2/invoke/extract
_TENANT_ROUTES: Tuple[Tuple[str, str, str], ...] = (
    ("GET", "/health/check", "health"),
    # install and lifecycle
    ("POST", "/plugin/:tenant_id/management/install/upload/package", "upload_pkg"),
    ("POST", "/plugin/:tenant_id/management/install/upload/bundle", "upload_bundle"),
    ("POST", "/plugin/:tenant_id/management/install/identifiers", "install_from_identifiers"),
    ("POST", "/plugin/:tenant_id/management/install/upgrade", "upgrade_plugin"),
    ("GET", "/plugin/:tenant_id/management/install/tasks", "fetch_plugin_installation_tasks"),
    ("GET", "/plugin/:tenant_id/management/install/tasks/:id",
     "fetch_plugin_installation_task"),
    ("POST", "/plugin/:tenant_id/management/install/tasks/delete_all",
     "delete_all_plugin_installation_task_items"),
    ("POST", "/plugin/:tenant_id/management/install/tasks/:id/delete",
     "delete_plugin_installation_task"),
    ("POST", "/plugin/:tenant_id/management/install/tasks/:id/delete/*identifier",
     "delete_plugin_installation_task_item"),
    ("POST", "/plugin/:tenant_id/management/uninstall", "uninstall"),
    ("POST", "/plugin/:tenant_id/management/installation/fetch/batch",
     "fetch_plugin_installation_by_ids"),
    ("POST", "/plugin/:tenant_id/management/installation/missing", "fetch_missing_dependencies"),
    # discovery and metadata
    ("GET", "/plugin/:tenant_id/management/list", "list_plugins_with_total"),
    ("GET", "/plugin/:tenant_id/management/fetch/manifest", "fetch_plugin_manifest"),
    ("GET", "/plugin/:tenant_id/management/decode/from_identifier",
     "decode_plugin_from_identifier"),
    ("GET", "/plugin/:tenant_id/management/fetch/readme", "fetch_plugin_readme"),
    ("GET", "/plugin/:tenant_id/management/fetch/identifier", "fetch_plugin_by_identifier"),
    # tools
    ("GET", "/plugin/:tenant_id/management/tools", "fetch_tool_providers"),
    ("GET", "/plugin/:tenant_id/management/tool", "fetch_tool_provider"),
    ("POST", "/plugin/:tenant_id/management/tools/check_existence", "check_tools_existence"),
    ("POST", "/plugin/:tenant_id/dispatch/tool/invoke", "invoke"),
    # models
    ("GET", "/plugin/:tenant_id/management/models", "fetch_model_providers"),
    ("POST", "/plugin/:tenant_id/dispatch/llm/invoke", "invoke_llm"),
    ("POST", "/plugin/:tenant_id/dispatch/llm/num_tokens", "get_llm_num_tokens"),
    ("POST", "/plugin/:tenant_id/dispatch/text_embedding/invoke", "invoke_text_embedding"),
    ("POST", "/plugin/:tenant_id/dispatch/multimodal_embedding/invoke",
     "invoke_multimodal_embedding"),
    ("POST", "/plugin/:tenant_id/dispatch/text_embedding/num_tokens",
     "get_text_embedding_num_tokens"),
    ("POST", "/plugin/:tenant_id/dispatch/rerank/invoke", "invoke_rerank"),
    ("POST", "/plugin/:tenant_id/dispatch/multimodal_rerank/invoke", "invoke_multimodal_rerank"),
    ("POST", "/plugin/:tenant_id/dispatch/tts/invoke", "invoke_tts"),
    ("POST", "/plugin/:tenant_id/dispatch/tts/model/voices", "get_tts_model_voices"),
    ("POST", "/plugin/:tenant_id/dispatch/speech2text/invoke", "invoke_speech_to_text"),
    ("POST", "/plugin/:tenant_id/dispatch/moderation/invoke", "invoke_moderation"),
    ("POST", "/plugin/:tenant_id/dispatch/model/validate_provider_credentials",
     "validate_provider_credentials"),
    ("POST", "/plugin/:tenant_id/dispatch/model/validate_model_credentials",
     "validate_model_credentials"),
    ("POST", "/plugin/:tenant_id/dispatch/model/schema", "get_model_schema"),
    ("POST", "/plugin/:tenant_id/dispatch/model/polling/start", "start_model_polling"),
    ("POST", "/plugin/:tenant_id/dispatch/model/polling/check", "check_model_polling"),
    # tool extras, OAuth, dynamic select
    ("POST", "/plugin/:tenant_id/dispatch/tool/validate_credentials",
     "validate_tool_credentials"),
    ("POST", "/plugin/:tenant_id/dispatch/tool/get_runtime_parameters",
     "get_runtime_parameters"),
    ("POST", "/plugin/:tenant_id/dispatch/oauth/get_authorization_url", "get_authorization_url"),
    ("POST", "/plugin/:tenant_id/dispatch/oauth/get_credentials", "get_credentials"),
    ("POST", "/plugin/:tenant_id/dispatch/oauth/refresh_credentials", "refresh_credentials"),
    ("POST", "/plugin/:tenant_id/dispatch/dynamic_select/fetch_parameter_options",
     "fetch_dynamic_select_options"),
    # management additions, remote debugging, assets
    ("GET", "/plugin/:tenant_id/management/installation/ids", "list_installed_plugin_ids"),
    ("GET", "/plugin/:tenant_id/management/:category/list", "list_plugins_by_category"),
    ("GET", "/plugin/:tenant_id/management/models/bindings", "list_model_plugin_bindings"),
    ("POST", "/plugin/:tenant_id/debugging/key", "get_debugging_key"),
    ("GET", "/plugin/:tenant_id/asset/:id", "fetch_asset"),
    ("GET", "/plugin/:tenant_id/extract-asset/", "extract_asset"),
    # /v2: the package's manifest (the dispatch mirrors are added below)
    ("GET", "/v2/invoke/extract", "extract_plugin"),
    # endpoints
    ("POST", "/plugin/:tenant_id/endpoint/setup", "create_endpoint"),
    ("GET", "/plugin/:tenant_id/endpoint/list", "fetch_endpoints_page"),
    ("GET", "/plugin/:tenant_id/endpoint/list/plugin", "list_endpoints_for_single_plugin"),
    ("POST", "/plugin/:tenant_id/endpoint/update", "update_endpoint"),
    ("POST", "/plugin/:tenant_id/endpoint/enable", "enable_endpoint"),
    ("POST", "/plugin/:tenant_id/endpoint/disable", "disable_endpoint"),
    ("POST", "/plugin/:tenant_id/endpoint/remove", "delete_endpoint"),
    # agent strategies
    ("GET", "/plugin/:tenant_id/management/agent_strategies", "fetch_agent_strategy_providers"),
    ("GET", "/plugin/:tenant_id/management/agent_strategy", "fetch_agent_strategy_provider"),
    ("POST", "/plugin/:tenant_id/dispatch/agent_strategy/invoke", "invoke_agent_strategy"),
    # datasources
    ("GET", "/plugin/:tenant_id/management/datasources", "fetch_datasource_providers"),
    ("GET", "/plugin/:tenant_id/management/datasource", "fetch_datasource_provider"),
    ("POST", "/plugin/:tenant_id/dispatch/datasource/validate_credentials",
     "validate_datasource_credentials"),
    ("POST", "/plugin/:tenant_id/dispatch/datasource/get_website_crawl", "get_website_crawl"),
    ("POST", "/plugin/:tenant_id/dispatch/datasource/get_online_document_pages",
     "get_online_document_pages"),
    ("POST", "/plugin/:tenant_id/dispatch/datasource/get_online_document_page_content",
     "get_online_document_page_content"),
    ("POST", "/plugin/:tenant_id/dispatch/datasource/online_drive_browse_files",
     "online_drive_browse_files"),
    ("POST", "/plugin/:tenant_id/dispatch/datasource/online_drive_download_file",
     "online_drive_download_file"),
    # triggers
    ("GET", "/plugin/:tenant_id/management/triggers", "fetch_trigger_providers"),
    ("GET", "/plugin/:tenant_id/management/trigger", "fetch_trigger_provider"),
    ("POST", "/plugin/:tenant_id/dispatch/trigger/validate_credentials",
     "validate_trigger_credentials"),
    ("POST", "/plugin/:tenant_id/dispatch/trigger/subscribe", "subscribe_trigger"),
    ("POST", "/plugin/:tenant_id/dispatch/trigger/unsubscribe", "unsubscribe_trigger"),
    ("POST", "/plugin/:tenant_id/dispatch/trigger/refresh", "refresh_trigger"),
    ("POST", "/plugin/:tenant_id/dispatch/trigger/dispatch_event", "dispatch_trigger_event"),
    ("POST", "/plugin/:tenant_id/dispatch/trigger/invoke_event", "invoke_trigger_event"),
)

#: Routes /v2 does not mirror (model polling is tenant-only).
_NOT_ON_V2 = ("model/polling/start", "model/polling/check")

#: (HTTP method, path pattern, DifyPluginClient method): every route, the /v2 mirrors of
#: the dispatch routes included (spoken by the same methods on a by_identifier() view).
ROUTES: Tuple[Tuple[str, str, str], ...] = _TENANT_ROUTES + tuple(
    (method, "/v2/invoke/dispatch/" + path.split("/dispatch/", 1)[1], name)
    for method, path, name in _TENANT_ROUTES
    if "/dispatch/" in path and path.split("/dispatch/", 1)[1] not in _NOT_ON_V2)


# =============================================================================
# Command line: settings
# =============================================================================
#
# Every setting can come from a flag, an environment variable or the config file
# (~/.dify, or the file --config names: a JSON object keyed by the setting names).
# Precedence, per setting: flag > environment variable > config file > default; the
# `config` command shows each setting's value and where it came from. The key can
# also come from a file (--key-file PATH, or - for standard input), since a --key on
# the command line shows in `ps`.

ENV_URL = "DIFY_PLUGIN_DAEMON_URL"
ENV_KEY = "DIFY_PLUGIN_DAEMON_KEY"
ENV_KEY_FILE = "DIFY_PLUGIN_DAEMON_KEY_FILE"
ENV_TIMEOUT = "DIFY_PLUGIN_DAEMON_TIMEOUT"
ENV_TENANT = "DIFY_PLUGIN_TENANT_ID"
DEFAULT_CONFIG_FILE = "~/.dify"
DEFAULT_POLL_INTERVAL = 0.5

#: Exit codes of the CLI.
EXIT_OK = 0
EXIT_FAILED = 1        # the daemon refused, or the operation failed
EXIT_USAGE = 2         # bad usage or input
EXIT_UNREACHABLE = 3   # cannot reach the daemon, or timed out
EXIT_AUTH = 4          # authentication failed
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # SIGTERM (128 + 15)

_SIZE_TEXT = _Regex(r"\s*([0-9]+)\s*(|b|k|kb|kib|m|mb|mib|g|gb|gib)\s*\Z")
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024 ** 2,
               "mb": 1024 ** 2, "mib": 1024 ** 2, "g": 1024 ** 3, "gb": 1024 ** 3,
               "gib": 1024 ** 3}
_TRUE_TEXT = ("1", "true", "yes", "on")
_FALSE_TEXT = ("0", "false", "no", "off", "")


def _parse_text(value: Any, source: str) -> str:
    if not isinstance(value, str) or isinstance(value, bool):
        raise ConfigError("%s must be a string, not %s" % (source, _type_name(value)))
    return value


def _parse_seconds(value: Any, source: str) -> float:
    try:
        seconds = float(value) if not isinstance(value, bool) else float("nan")
    except (TypeError, ValueError):
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise ConfigError("%s must be a positive number of seconds, got %r" % (source, value))
    return seconds


def _parse_size(value: Any, source: str) -> int:
    """Bytes: a number, or a number with a unit (K, KiB, M, MiB, G, GiB; powers of 1024)."""
    match = _SIZE_TEXT.match(value.lower()) if isinstance(value, str) else None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if match and int(match.group(1)) > 0:
        return int(match.group(1)) * _SIZE_UNITS[match.group(2)]
    raise ConfigError("%s must be a size in bytes such as 62914560 or 60MiB, got %r"
                      % (source, value))


def _parse_flag(value: Any, source: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE_TEXT + _FALSE_TEXT:
        return value.strip().lower() in _TRUE_TEXT
    raise ConfigError("%s must be true or false, got %r" % (source, value))


def _parse_path(value: Any, source: str) -> str:
    text = _parse_text(value, source)
    return text if text == "-" else os.path.expanduser(text)


class _Setting:
    """One CLI setting: its flag, environment variable, config key, parser and default."""

    __slots__ = ("name", "flag", "env", "parse", "default", "help", "metavar", "boolean")

    def __init__(self, name: str, env: str, parse: Callable[[Any, str], Any], default: Any,
                 help_text: str, metavar: Optional[str] = None, boolean: bool = False) -> None:
        self.name = name
        self.flag = "--" + name.replace("_", "-")
        self.env = env
        self.parse = parse
        self.default = default
        self.help = help_text
        self.metavar = metavar
        self.boolean = boolean


_SETTINGS = (
    _Setting("url", ENV_URL, _parse_text, DEFAULT_URL, "daemon base URL"),
    _Setting("key", ENV_KEY, _parse_text, None,
             "daemon key, its SERVER_KEY (shows in ps: prefer --key-file)"),
    _Setting("key_file", ENV_KEY_FILE, _parse_path, None,
             "read the daemon key from this file, or - for standard input", "PATH"),
    _Setting("timeout", ENV_TIMEOUT, _parse_seconds, DEFAULT_TIMEOUT, "seconds per request",
             "SECONDS"),
    _Setting("tenant", ENV_TENANT, _parse_text, None, "tenant id, a UUID"),
    _Setting("cacert", "DIFY_PLUGIN_DAEMON_CACERT", _parse_path, None,
             "CA bundle (PEM file or directory) to verify the daemon's TLS certificate",
             "PATH"),
    _Setting("insecure", "DIFY_PLUGIN_DAEMON_INSECURE", _parse_flag, False,
             "do not verify the daemon's TLS certificate (test daemons only)", boolean=True),
    _Setting("trust_env", "DIFY_PLUGIN_DAEMON_TRUST_ENV", _parse_flag, False,
             "use HTTP(S)_PROXY and NO_PROXY from the environment (off: the daemon is "
             "internal)", boolean=True),
    _Setting("max_package_size", "DIFY_PLUGIN_DAEMON_MAX_PACKAGE_SIZE", _parse_size,
             DEFAULT_MAX_PACKAGE_SIZE, "largest package to upload (match the daemon's "
             "MAX_PLUGIN_PACKAGE_SIZE)", "SIZE"),
    _Setting("max_bundle_size", "DIFY_PLUGIN_DAEMON_MAX_BUNDLE_SIZE", _parse_size,
             DEFAULT_MAX_BUNDLE_SIZE, "largest bundle to upload (match the daemon's "
             "MAX_BUNDLE_PACKAGE_SIZE)", "SIZE"),
    _Setting("poll_interval", "DIFY_PLUGIN_DAEMON_POLL_INTERVAL", _parse_seconds,
             DEFAULT_POLL_INTERVAL, "seconds between looks at an install task", "SECONDS"),
)
_SETTINGS_BY_NAME = {setting.name: setting for setting in _SETTINGS}
#: the rank of each kind of source; a higher one wins
_RANK = {"flag": 3, "environment": 2, "config file": 1, "default": 0}


class _Settings:
    """Effective CLI settings and where each came from."""

    def __init__(self) -> None:
        self.values: Dict[str, Any] = {setting.name: setting.default for setting in _SETTINGS}
        self.sources: Dict[str, str] = {setting.name: "default" for setting in _SETTINGS}
        self.ranks: Dict[str, int] = {setting.name: 0 for setting in _SETTINGS}
        self._key_read: Optional[str] = None

    def _set(self, name: str, value: Any, source: str, rank: int) -> None:
        self.values[name] = value
        self.sources[name] = source
        self.ranks[name] = rank

    @property
    def url(self) -> str:
        return str(self.values["url"])

    @property
    def timeout(self) -> float:
        return float(self.values["timeout"])

    @property
    def tenant(self) -> Optional[str]:
        tenant: Optional[str] = self.values["tenant"]
        return tenant

    @property
    def key_source(self) -> str:
        """Where the key comes from: the key itself or the key file, whichever ranks
        higher (at the same rank the key itself)."""
        if self.values["key_file"] is not None and (
                self.values["key"] is None or self.ranks["key_file"] > self.ranks["key"]):
            return self.sources["key_file"] + " (key file %s)" % self.values["key_file"]
        return self.sources["key"]

    def key(self, stdin: TextIO) -> Optional[str]:
        """The daemon key, read from the key file when that is where it comes from."""
        path = self.values["key_file"]
        if path is None or (self.values["key"] is not None
                            and self.ranks["key"] >= self.ranks["key_file"]):
            key: Optional[str] = self.values["key"]
            return key
        if self._key_read is None:
            self._key_read = _read_key_file(path, stdin)
        return self._key_read


def _read_key_file(path: str, stdin: TextIO) -> str:
    try:
        if path == "-":
            text = stdin.readline()
        else:
            with open(path, "r", encoding="utf-8") as handle:
                text = handle.read(64 * 1024)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("cannot read the key file %s: %s" % (
            path, _os_error_text(exc) if isinstance(exc, OSError) else "not UTF-8 text"))
    key = text.strip()
    if not key:
        raise ConfigError("the key file %s is empty" % ("(standard input)" if path == "-"
                                                        else path))
    return key


def _read_config_file(path: str, explicit: bool, warn: Callable[[str], None]
                      ) -> Dict[str, Any]:
    """The config file's settings, checked (every bad one is named); {} if the
    default file does not exist."""
    if os.path.isdir(path):
        raise ConfigError("config file %s is a directory, not a file" % path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(1024 * 1024)
    except (FileNotFoundError, NotADirectoryError):
        if explicit:
            raise ConfigError("config file %s does not exist" % path) from None
        return {}
    except OSError as exc:
        raise ConfigError("cannot read config file %s: %s" % (path, _os_error_text(exc)))
    try:
        data = _loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError("config file %s is not UTF-8 text" % path) from None
    except ValueError as exc:
        # json's message gives line and column, never the file's content
        raise ConfigError("config file %s is not valid JSON: %s" % (path, exc)) from None
    if not isinstance(data, dict):
        raise ConfigError("config file %s must hold a JSON object such as "
                          '{"url": "...", "key": "...", "timeout": 60, "tenant": "..."}, '
                          "not %s" % (path, _type_name(data)))
    values: Dict[str, Any] = {}
    problems = []
    for name, value in data.items():
        setting = _SETTINGS_BY_NAME.get(name)
        if setting is None:
            warn("config file %s: unknown setting %r ignored (known: %s)"
                 % (path, name, ", ".join(_SETTINGS_BY_NAME)))
            continue
        try:
            values[name] = setting.parse(value, repr(name))
        except ConfigError as exc:
            problems.append(exc.message)
    if problems:
        raise ConfigError("config file %s: %s" % (path, "; ".join(problems)))
    if values.get("key"):
        _warn_if_readable(path, warn)
    return values


def _warn_if_readable(path: str, warn: Callable[[str], None]) -> None:
    """Warn, as ssh does, when a file holding the key is readable by other users."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if os.name == "posix" and mode & 0o077:
        warn("config file %s holds the daemon key and is readable by other users; "
             "run: chmod 600 %s" % (path, path))


def _load_settings(args: Any, environ: Mapping[str, str], warn: Callable[[str], None]
                   ) -> _Settings:
    settings = _Settings()
    explicit = getattr(args, "config", None)
    path = explicit or os.path.expanduser(DEFAULT_CONFIG_FILE)
    file_values = {} if getattr(args, "no_config", False) else _read_config_file(
        path, bool(explicit), warn)
    if getattr(args, "key", None) is not None and getattr(args, "key_file", None) is not None:
        raise ConfigError("give --key or --key-file, not both")
    for setting in _SETTINGS:
        flag = getattr(args, setting.name, None)
        if flag is not None and flag is not False:
            value, source, rank = flag, setting.flag, _RANK["flag"]
        elif environ.get(setting.env):
            value, source, rank = environ[setting.env], setting.env, _RANK["environment"]
        elif setting.name in file_values:
            value, source = file_values[setting.name], "config file %s" % path
            rank = _RANK["config file"]
        else:
            continue
        settings._set(setting.name, setting.parse(value, source), source, rank)
    return settings


class _NoFlags:
    """The parsed arguments of no command line: every setting left to the environment and
    the config file (``config``: the file to read, None for the default one; with
    ``no_config``, none)."""

    def __init__(self, config: Optional[str], no_config: bool = False) -> None:
        self.config = config
        self.no_config = no_config


#: Settings of the CLI alone (PluginConfig has none of them).
_CLI_ONLY_SETTINGS = ("tenant", "poll_interval")
#: The PluginConfig argument that stands for a setting of another name.
_SETTING_OVERRIDDEN_BY = {"key_file": "key", "cacert": "verify", "insecure": "verify"}


def _check_setting_names(overrides: Mapping[str, Any]) -> None:
    unknown = sorted(set(overrides) - set(PluginConfig._names))
    if unknown:
        raise InvalidArgumentError("PluginConfig has no setting %s" % ", ".join(unknown),
                                   argument="overrides")


def _config_from_settings(settings: _Settings, key: Optional[str], need_key: bool,
                          warn: Callable[[str], None],
                          overrides: Optional[Dict[str, Any]] = None) -> PluginConfig:
    """The PluginConfig of resolved settings (the CLI's and ``PluginConfig.from_env``'s);
    a bad value is a ConfigError that names where it came from (one given in
    ``overrides`` raises as PluginConfig raises it)."""
    overrides = dict(overrides or ())  # (their names checked by from_env)
    given = set(overrides)
    key = overrides.pop("key", key)
    if not key:
        if need_key:
            raise ConfigError("no daemon key: pass --key-file (or --key), set %s or %s, or "
                              "put \"key\" in %s" % (ENV_KEY_FILE, ENV_KEY, DEFAULT_CONFIG_FILE))
        key = "unused"  # /health/check needs none and gets none
    verify: Union[bool, str] = True
    if settings.values["insecure"]:
        verify = False
        if "verify" not in overrides:
            warn("TLS certificate verification is off (%s): use it only with a test daemon"
                 % settings.sources["insecure"])
    elif settings.values["cacert"]:
        verify = settings.values["cacert"]
    values: Dict[str, Any] = dict(
        url=settings.url, key=key, timeout=settings.timeout, verify=verify,
        trust_env=settings.values["trust_env"],
        max_package_size=settings.values["max_package_size"],
        max_bundle_size=settings.values["max_bundle_size"])
    values.update(overrides)
    try:
        return PluginConfig(**values)
    except InvalidArgumentError as exc:
        if exc.argument in given:
            raise
        name = "cacert" if exc.argument == "verify" else exc.argument or ""
        source = settings.sources.get(name, "")
        raise ConfigError("%s%s" % (exc.message, " (from %s)" % source if source
                                     else "")) from None


# =============================================================================
# Command line: output
# =============================================================================


class _Output:
    """Where the CLI writes: results to stdout, progress and errors to stderr."""

    def __init__(self, stdout: TextIO, stderr: TextIO, json_mode: bool,
                 environ: Mapping[str, str], wide: bool = False) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.json_mode = json_mode
        smart = environ.get("TERM", "") not in ("", "dumb")  # cursor moves and colours work
        self.color = not environ.get("NO_COLOR") and smart and _isatty(stdout)
        self.stderr_tty = _isatty(stderr)
        self.stderr_color = not environ.get("NO_COLOR") and smart and self.stderr_tty
        # progress redraws in place only on a terminal that says how wide it is
        self.live_progress = (self.stderr_tty and smart
                              and _terminal_width(stderr, environ) is not None)
        # tables are cut to fit a terminal; piped or --wide, nothing is cut
        self.width = None if wide or not _isatty(stdout) else (
            _terminal_width(stdout, environ) or 100)

    def write(self, text: str) -> None:
        self.stdout.write(text)

    def line(self, text: str = "") -> None:
        self.stdout.write(text + "\n")

    def info(self, text: str) -> None:
        self.stderr.write(text + "\n")
        self.stderr.flush()

    def json(self, value: Any) -> None:
        self.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=_json_default)
                          + "\n")

    def ndjson(self, value: Any) -> None:
        self.stdout.write(json.dumps(value, ensure_ascii=False, separators=(",", ":"),
                                     default=_json_default) + "\n")
        self.stdout.flush()

    def paint(self, text: str, style: str, stream_color: Optional[bool] = None) -> str:
        use = self.color if stream_color is None else stream_color
        code = _STYLES.get(style)
        return "\x1b[%sm%s\x1b[0m" % (code, text) if use and code else text

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        for text in _format_table(headers, rows, self.width):
            self.line(text)


_STYLES = {"success": "32", "failed": "31", "running": "33", "pending": "90", "bold": "1",
           "dim": "2"}


def _json_default(value: Any) -> Any:
    if isinstance(value, _Entity):
        return value.to_dict()
    return _dump(value) if not isinstance(value, (str, int, float)) else value


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _terminal_width(stream: Any, environ: Mapping[str, str]) -> Optional[int]:
    """The terminal's width, or None when unknown (a pty that reports 0 columns, as
    under `script`, or not a terminal)."""
    columns = environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 20:
        return int(columns)
    try:
        width = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return None
    return width if width > 20 else None


def _format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]],
                  width: Optional[int]) -> List[str]:
    """Aligned columns that fit ``width`` (None: any width): the widest columns are cut
    with "..."."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max([len(header)] + [len(row[i]) for row in cells]) for i, header in
              enumerate(headers)]
    gap = 2
    while width is not None and sum(widths) + gap * (len(widths) - 1) > width:
        widest = max(range(len(widths)), key=lambda i: widths[i])
        if widths[widest] <= max(8, len(headers[widest])):
            break
        widths[widest] -= 1
    lines = []
    for row in [list(headers)] + cells:
        fitted = [_fit(value, widths[i]) for i, value in enumerate(row)]
        lines.append((" " * gap).join(fitted).rstrip())
    return lines


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    text = str(value)
    return text.replace("\n", " ").replace("\r", " ")


def _fit(text: str, width: int) -> str:
    if len(text) > width:
        return text[:max(width - 3, 1)] + "..."
    return text.ljust(width)


class _Progress:
    """Install progress on stderr: live lines on a terminal, plain lines elsewhere."""

    def __init__(self, out: _Output) -> None:
        self.out = out
        self.live = out.live_progress
        self.drawn = 0
        self.seen: Dict[str, Tuple[str, str]] = {}

    def __call__(self, task: PluginInstallTask) -> None:
        if self.live:
            self._redraw(task)
            return
        for item in task.plugins:
            state = (str(item.status), _progress_message(item))
            if self.seen.get(item.plugin_unique_identifier) != state:
                self.seen[item.plugin_unique_identifier] = state
                self.out.info("%s  %s  %s" % (item.plugin_id or item.plugin_unique_identifier,
                                              state[0], state[1]))

    def _redraw(self, task: PluginInstallTask) -> None:
        width = _terminal_width(self.out.stderr, {}) or 100
        lines = []
        for item in task.plugins:
            status = str(item.status)
            text = "%-8s %s  %s" % (status, item.plugin_id or item.plugin_unique_identifier,
                                    _progress_message(item).replace("\n", " "))
            text = _fit(text, width - 1).rstrip()
            lines.append(self.out.paint(text, status, self.out.stderr_color))
        if self.drawn:
            self.out.stderr.write("\x1b[%dF" % self.drawn)  # back to the first line
        for text in lines:
            self.out.stderr.write("\x1b[2K" + text + "\n")
        self.out.stderr.flush()
        self.drawn = len(lines)


def _progress_message(item: PluginInstallTaskPluginStatus) -> str:
    """What progress shows of a plugin's message: a failure's message (uv's output, up
    to 1 KiB) is left to the error printed at the end, so it is shown once."""
    return "" if item.status == PluginInstallTaskStatus.Failed else (item.message or "")


# =============================================================================
# Command line: the command registry
# =============================================================================
#
# A command lives in one place: the `@_command(...)` line above its handler names it
# and holds its help, its arguments, the shape of its --json output and examples.
# A command with actions (`tasks list`, `tasks wait`, ...) registers each action's
# handler the same way with `@_action(...)`. The parser is built from this registry,
# and only for the command a command line names: `--help` stays cheap.


class _Argument:
    """One argparse argument, kept until a parser needs it."""

    __slots__ = ("flags", "options")

    def __init__(self, *flags: str, **options: Any) -> None:
        self.flags = flags
        self.options = options

    def but(self, **changes: Any) -> "_Argument":
        """The same argument with some options changed (e.g. ``required=True``)."""
        return _Argument(*self.flags, **dict(self.options, **changes))


class _Command:
    """A CLI command or one action of it."""

    __slots__ = ("name", "help", "arguments", "handler", "json_shape", "examples", "actions")

    def __init__(self, name: str, help_text: str, arguments: Sequence[_Argument],
                 handler: Optional[Callable[[_Context], int]], json_shape: Optional[str],
                 examples: Sequence[str]) -> None:
        self.name = name
        self.help = help_text
        self.arguments = arguments
        self.handler = handler
        self.json_shape = json_shape
        self.examples = examples
        self.actions: Dict[str, _Command] = {}

    def epilog(self, prog: str) -> str:
        """Examples (``prog`` is the command as typed, e.g. "dify-plugin-client tasks"),
        the --json shape, the settings and the exit codes."""
        parts = []
        program = _program_name() if prog.startswith(_program_name()) else prog.split(" ")[0]
        if self.examples:  # "{prog}" stands where an example does not start with it
            parts.append("examples:\n" + "\n".join(
                "  " + (example.replace("{prog}", program) if "{prog}" in example
                        else "%s %s" % (program, example)) for example in self.examples))
        if self.json_shape:
            parts.append("with --json: " + self.json_shape)
        parts.append("settings (also accepted before the command):\n" + _options_list())
        parts.append(_EPILOG)
        return "\n\n".join(parts)


#: command name -> command, in the order --help lists them
_COMMANDS: Dict[str, _Command] = {}


def _command(name: str, help_text: str, *arguments: _Argument, json_shape: Optional[str] = None,
             examples: Sequence[str] = ()) -> Callable[[_Handler], _Handler]:
    """Register the decorated function as the handler of command ``name``."""
    def register(handler: _Handler) -> _Handler:
        _COMMANDS[name] = _Command(name, help_text, arguments, handler, json_shape, examples)
        return handler
    return register


def _action(command: str, name: str, help_text: str, *arguments: _Argument,
            json_shape: Optional[str] = None, examples: Sequence[str] = ()
            ) -> Callable[[_Handler], _Handler]:
    """Register the decorated function as action ``name`` of ``command``."""
    def register(handler: _Handler) -> _Handler:
        _COMMANDS[command].actions[name] = _Command(name, help_text, arguments, handler,
                                                    json_shape, examples)
        return handler
    return register


def _positive_int(text: str) -> int:
    import argparse

    if not _ASCII_DIGITS.match(text) or int(text) < 1:
        raise argparse.ArgumentTypeError("must be a positive integer, got %r" % text)
    return int(text)


def _float_or_nan(text: str) -> float:
    """``float(text)``; NaN (which the argument types refuse) for what is not a number."""
    try:
        return float(text)
    except ValueError:
        return float("nan")


def _positive_float(text: str) -> float:
    import argparse

    value = _float_or_nan(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("must be a positive number, got %r" % text)
    return value


def _finite_float(text: str) -> float:
    import argparse

    value = _float_or_nan(text)
    if value - value != 0:  # not a number, or infinite
        raise argparse.ArgumentTypeError("must be a number, got %r" % text)
    return value


def _page_size(text: str) -> int:
    import argparse

    size = _positive_int(text)
    if size > MAX_PAGE_SIZE:
        raise argparse.ArgumentTypeError("must be at most %d (the daemon's limit), got %s"
                                         % (MAX_PAGE_SIZE, text))
    return size


_PAGING = (
    _Argument("--page", type=_positive_int, help="one page only (default: all)"),
    _Argument("--page-size", type=_page_size, default=MAX_PAGE_SIZE,
              help="items per page, 1 to %d" % MAX_PAGE_SIZE),
)
_WAIT_TIMEOUT = _Argument("--wait-timeout", type=_positive_float, default=900.0,
                          metavar="SECONDS", help="give up waiting after this long "
                          "(default 900)")
_WAITING = (
    _Argument("--no-wait", action="store_true", help="print the task id and return"),
    _WAIT_TIMEOUT,
)
_SIGNATURE = _Argument("--verify-signature", action="store_true",
                       help="ask the daemon to refuse unsigned packages")
_SOURCE = _Argument("--source", default="package",
                    help="installation source recorded by the daemon (default: package)")
_TASK_JSON = ("the task: {id, status, total_plugins, completed_plugins, "
              "plugins: [{plugin_unique_identifier, plugin_id, status, message, ...}], ...}")
_USER_DEFAULT = "dify-plugin-client"
_USER = _Argument("--user", default=_USER_DEFAULT,
                  help="user id passed to the daemon and the plugin (default %s)"
                       % _USER_DEFAULT)
_CREDENTIALS = _Argument("--credentials",
                         help="provider credentials: JSON, @file, or - for stdin")
_CREDENTIAL_TYPE = _Argument("--credential-type", choices=_CREDENTIAL_TYPES)
_OUTPUT_DIR = _Argument("--output-dir", help="save blobs into this directory")
#: What a secret value shows as (config, endpoint settings, credentials).
_MASK = "****"


# =============================================================================
# Command line: commands
# =============================================================================

if TYPE_CHECKING:
    _Handler = Callable[["_Context"], int]


class _Context:
    """What a command needs: settings, output, and a client made on first use."""

    def __init__(self, args: Any, settings: _Settings, out: _Output, stdin: TextIO) -> None:
        self.args = args
        self.settings = settings
        self.out = out
        self.stdin = stdin
        self._client: Optional[DifyPluginClient] = None

    def client(self, need_key: bool = True) -> DifyPluginClient:
        if self._client is None:
            config = _config_from_settings(self.settings, self.settings.key(self.stdin),
                                           need_key, lambda text: self.out.info(
                                               "warning: " + text))
            self._client = DifyPluginClient(config)
        return self._client

    def tenant(self) -> str:
        tenant = self.settings.tenant
        if not tenant:
            raise ConfigError("no tenant: pass --tenant, set %s or put \"tenant\" in %s"
                              % (ENV_TENANT, DEFAULT_CONFIG_FILE))
        if not _UUID_RE.match(tenant):
            raise ConfigError("tenant %r (from %s) is not a UUID" % (
                tenant, self.settings.sources["tenant"]))
        return tenant

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


#: How the user runs the CLI, for the commands hints suggest.
_INVOCATION = ["dify-plugin-client"]


def _program_name() -> str:
    return _INVOCATION[0]


def _script_invocation(path: str) -> str:
    """How help and examples name the CLI when this file is run as a script (a copy of
    the module in a project): ``python PATH`` as it was run."""
    return "python " + _shell_word(path)


#: A word a shell takes as it is (no quoting needed).
_PLAIN_WORD_RE = _Regex(r"[A-Za-z0-9_@%+=:,./-]+\Z")


def _shell_word(word: str) -> str:
    """``word`` as a shell reads it back: as it is, or quoted when it must be."""
    return word if _PLAIN_WORD_RE.match(word) else _shell_quote(word)


@_command("config", "show the effective settings and where each came from",
          json_shape="{SETTING: {value, source}} for every setting (the key is masked)",
          examples=("config", "--url http://daemon:5002 config --json"))
def _cmd_config(ctx: _Context) -> int:
    settings = ctx.settings
    shown: Dict[str, Tuple[Any, str]] = {}
    for setting in _SETTINGS:
        if setting.name == "key":
            has_key = settings.values["key"] is not None or settings.values["key_file"] is not None
            shown["key"] = (_MASK if has_key else None, settings.key_source)
        else:
            shown[setting.name] = (settings.values[setting.name], settings.sources[setting.name])
    if ctx.out.json_mode:
        ctx.out.json({name: {"value": value, "source": source}
                      for name, (value, source) in shown.items()})
        return EXIT_OK
    ctx.out.table(["SETTING", "VALUE", "SOURCE"],
                  [[name, value, source] for name, (value, source) in shown.items()])
    return EXIT_OK


@_command("health", "check that the daemon is up, and its version",
          json_shape="the daemon's /health/check answer: {status, version, platform, ...}",
          examples=("health", "--url http://daemon:5002 health --json"))
def _cmd_health(ctx: _Context) -> int:
    health = ctx.client(need_key=False).health()
    if ctx.out.json_mode:
        ctx.out.json(health.to_dict())
        return EXIT_OK
    ctx.out.line("%s  %s  version %s  platform %s" % (
        ctx.out.paint(health.status, "success" if health.status == "ok" else "failed"),
        ctx.settings.url, health.version or "(not set)", health.platform or "?"))
    return EXIT_OK


@_command("list", "list installed plugins", *_PAGING,
          _Argument("--full", action="store_true",
                    help="with --json, include each plugin's whole declaration"),
          json_shape="{total, plugins: [{plugin_id, version, installation_id, "
                     "plugin_unique_identifier, source, ...}]}; the declaration only with --full",
          examples=("list", "list --json", "list --json --full"))
def _cmd_list(ctx: _Context) -> int:
    client, tenant, args = ctx.client(), ctx.tenant(), ctx.args
    if args.page is not None:
        page = client.list_plugins_with_total(tenant, args.page, args.page_size)
        plugins, total = page.list, page.total
    else:
        plugins = client.list_plugins(tenant)
        total = len(plugins)
    if ctx.out.json_mode:
        records = [plugin.to_dict() for plugin in plugins]
        if not args.full:
            for record in records:
                record.pop("declaration", None)
        ctx.out.json({"total": total, "plugins": records})
        return EXIT_OK
    if not plugins:
        ctx.out.info("no plugins installed for tenant %s" % tenant)
        return EXIT_OK
    ctx.out.table(["PLUGIN", "VERSION", "SOURCE", "RUNTIME", "INSTALLATION ID", "IDENTIFIER"],
                  [[p.plugin_id, p.version, p.source, p.runtime_type, p.installation_id or p.id,
                    p.plugin_unique_identifier] for p in plugins])
    ctx.out.info("%d plugin%s installed" % (total, "" if total == 1 else "s"))
    return EXIT_OK


def _upload_package(ctx: _Context, path: str) -> PluginDecodeResponse:
    return ctx.client().upload_pkg(ctx.tenant(), path,
                                   verify_signature=ctx.args.verify_signature)


@_command("upload-pkg", "upload a .difypkg (does not install it)",
          _Argument("--file", required=True, help="path of the .difypkg"), _SIGNATURE,
          json_shape="{unique_identifier, manifest, verification}",
          examples=("upload-pkg --file my_plugin.difypkg",))
def _cmd_upload_pkg(ctx: _Context) -> int:
    decoded = _upload_package(ctx, ctx.args.file)
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


@_command("upload-bundle", "upload a .difybndl bundle",
          _Argument("--file", required=True, help="path of the bundle"), _SIGNATURE,
          json_shape="[{type, value}] per dependency (github, marketplace or package)",
          examples=("upload-bundle --file tools.difybndl",))
def _cmd_upload_bundle(ctx: _Context) -> int:
    dependencies = ctx.client().upload_bundle(ctx.tenant(), ctx.args.file,
                                              verify_signature=ctx.args.verify_signature)
    if ctx.out.json_mode:
        ctx.out.json([dependency.to_dict() for dependency in dependencies])
        return EXIT_OK
    ctx.out.table(["TYPE", "DEPENDENCY"], [[dependency.type, _dependency_text(dependency.value)]
                                           for dependency in dependencies])
    return EXIT_OK


def _dependency_text(value: Any) -> str:
    """A bundle dependency in a few words: the package's identifier, the marketplace
    plugin and version, or the GitHub repository, release and packages."""
    if isinstance(value, PackageDependency):
        return value.unique_identifier
    if isinstance(value, MarketplaceDependency):
        named = value.organization or value.plugin
        text = "%s/%s %s" % (value.organization, value.plugin, value.version)
    elif isinstance(value, GithubDependency):
        named, text = value.repo, "%s %s %s" % (value.repo, value.release, value.packages)
    else:
        return json.dumps(value, default=str)
    return text.strip() if named else "(no plugin named: check the bundle's manifest)"


_INSTALL_JSON = ("{action, status: success|failed|running, task_id, all_installed, waited, "
                 "plugins: [{plugin_unique_identifier, plugin_id, status, message}], skipped: "
                 "[bundle dependencies not installable offline], task: the task or null}")


@_command("install", "install packages, bundles or uploaded identifiers; wait until done",
          _Argument("--file", action="append",
                    help="a .difypkg, or a .difybndl whose packages are installed "
                         "(repeatable)"),
          _Argument("--identifier", action="append",
                    help="an uploaded plugin unique identifier (repeatable)"),
          _SOURCE, _SIGNATURE, *_WAITING,
          json_shape=_INSTALL_JSON,
          examples=("install --file my_plugin.difypkg",
                    "install --file tools.difybndl",
                    "install --identifier acme/echo:0.0.1@<checksum> --no-wait"))
def _cmd_install(ctx: _Context) -> int:
    client, tenant, args = ctx.client(), ctx.tenant(), ctx.args
    identifiers = list(args.identifier or [])
    skipped: List[str] = []
    for path in args.file or []:
        if path.lower().endswith(".difybndl"):
            identifiers += _bundle_packages(ctx, path, skipped)
            continue
        decoded = _upload_package(ctx, path)
        ctx.out.info("uploaded %s" % decoded.unique_identifier)
        identifiers.append(decoded.unique_identifier)
    if not identifiers:
        if skipped:
            raise PluginInstallError("nothing to install offline: the bundle's dependencies "
                                     "need the marketplace or GitHub: %s" % "; ".join(skipped))
        raise InvalidArgumentError("install needs --file or --identifier", argument="install")
    before = _installed_versions(ctx, identifiers)
    conflicts = ["%s is installed as %s" % (_plugin_id_of(identifier),
                                            before[_plugin_id_of(identifier)])
                 for identifier in identifiers
                 if before.get(_plugin_id_of(identifier)) not in (None, identifier)]
    if conflicts:
        # the daemon would run a task that ends "success" and changes nothing
        raise PluginInstallError(
            "not installed: %s; install does not switch versions" % "; ".join(conflicts),
            hint="switch versions with: %s upgrade --identifier NEW_IDENTIFIER"
                 % _program_name())
    start = client.install_from_identifiers(tenant, identifiers, args.source,
                                            [{} for _ in identifiers])
    return _finish_install(ctx, start, _InstallRun("install", identifiers, before, skipped))


def _bundle_packages(ctx: _Context, path: str, skipped: List[str]) -> List[str]:
    """Upload a bundle; its packages' identifiers. What needs the network (marketplace,
    GitHub) is told and listed in ``skipped``."""
    dependencies = ctx.client().upload_bundle(ctx.tenant(), path,
                                              verify_signature=ctx.args.verify_signature)
    identifiers = []
    for dependency in dependencies:
        value = dependency.value
        if isinstance(value, PackageDependency):
            identifiers.append(value.unique_identifier)
            continue
        text = "%s %s" % (dependency.type, _dependency_text(value))
        skipped.append(text)
        ctx.out.info("not installed offline (needs the network): %s" % text)
    ctx.out.info("bundle %s: %d package%s to install, %d skipped" % (
        os.path.basename(path), len(identifiers), "" if len(identifiers) == 1 else "s",
        len(dependencies) - len(identifiers)))
    return identifiers


def _installed_versions(ctx: _Context, identifiers: Sequence[str]) -> Dict[str, str]:
    """plugin id -> the identifier the tenant has installed, for these identifiers' plugins."""
    plugin_ids = sorted({_plugin_id_of(identifier) for identifier in identifiers})
    return {item.plugin_id: item.plugin_unique_identifier
            for item in ctx.client().fetch_plugin_installation_by_ids(ctx.tenant(), plugin_ids)}


class _InstallRun:
    """What an install or upgrade command is doing, for its output."""

    def __init__(self, action: str, identifiers: List[str], before: Dict[str, str],
                 skipped: Sequence[str] = ()) -> None:
        self.action = action
        self.identifiers = identifiers
        self.before = before
        self.skipped = list(skipped)

    def record(self, status: str, task_id: str = "", all_installed: bool = False,
               waited: bool = False, task: Optional[PluginInstallTask] = None,
               plugins: Optional[List[Dict[str, str]]] = None) -> Dict[str, Any]:
        """The one --json shape of install and upgrade."""
        if plugins is None and task is not None:
            plugins = [{"plugin_unique_identifier": item.plugin_unique_identifier,
                        "plugin_id": item.plugin_id, "status": str(item.status),
                        "message": item.message} for item in task.plugins]
        return {"action": self.action, "status": status, "task_id": task_id,
                "all_installed": all_installed, "waited": waited,
                "plugins": plugins or [], "skipped": self.skipped,
                "task": task.to_dict() if task is not None else None}


def _finish_install(ctx: _Context, start: PluginInstallTaskStartResponse, run: _InstallRun
                    ) -> int:
    args, out = ctx.args, ctx.out
    if start.all_installed:
        return _report_all_installed(ctx, run)
    if args.no_wait:
        if out.json_mode:
            out.json(run.record("running", start.task_id))
        else:
            out.line(start.task_id)
            out.info("%s task %s started; follow it with: %s tasks wait %s"
                     % (run.action, start.task_id, _program_name(), start.task_id))
        return EXIT_OK
    return _wait_task(ctx, start.task_id, run.identifiers, run)


def _report_all_installed(ctx: _Context, run: _InstallRun) -> int:
    """all_installed: the daemon had already run these exact packages (for some tenant)
    and installed them for this one at once; those the tenant had before were
    already installed."""
    out = ctx.out
    already = [i for i in run.identifiers if run.before.get(_plugin_id_of(i)) == i]
    installed = [i for i in run.identifiers if i not in already]
    if out.json_mode:
        out.json(run.record("success", all_installed=True, plugins=[
            {"plugin_unique_identifier": identifier, "plugin_id": _plugin_id_of(identifier),
             "status": "success",
             "message": "already installed" if identifier in already else "installed"}
            for identifier in run.identifiers]))
        return EXIT_OK
    for identifier in installed:
        out.line("%s  installed" % identifier)
    if already:
        out.info("already installed: %s" % ", ".join(already))
    return EXIT_OK


def _wait_task(ctx: _Context, task_id: str, identifiers: Optional[List[str]] = None,
               run: Optional[_InstallRun] = None) -> int:
    """Wait with progress. ``run`` (install, upgrade) prints the install record in --json
    mode, else the task itself is printed."""
    client, tenant, out = ctx.client(), ctx.tenant(), ctx.out
    progress = _Progress(out)
    resume = "%s tasks wait %s" % (_program_name(), task_id)

    def show(status: str, task: Optional[PluginInstallTask]) -> None:
        if out.json_mode and run is not None:
            out.json(run.record(status, task_id, waited=True, task=task))
        elif out.json_mode and task is not None:
            out.json(task.to_dict())

    try:
        poll = ctx.settings.values["poll_interval"]
        task = client.wait_for_installation_task(
            tenant, task_id, timeout=ctx.args.wait_timeout, on_progress=progress,
            identifiers=identifiers, poll_interval=poll, max_poll_interval=max(poll, 5.0))
    except PluginInstallError as exc:  # its message names each failure, once
        show("failed", exc.task)
        raise
    except InstallTimeoutError as exc:
        show("running", exc.task)
        exc.hint = "the task keeps running on the daemon; wait again with: %s --wait-timeout " \
                   "SECONDS" % resume
        raise
    except KeyboardInterrupt:
        out.info("stopped waiting; task %s keeps running on the daemon; wait again with: %s"
                 % (task_id, resume))
        raise
    if out.json_mode:
        show("success", task)
    else:
        for item in task.plugins:
            out.line("%s  %s" % (item.plugin_unique_identifier, item.message or item.status))
    return EXIT_OK


def _read_stdin(stdin: TextIO, what: str, argument: str) -> str:
    """All of standard input. A stdin that decodes strictly raises on bytes that are not
    UTF-8: a usage error, as they are under surrogateescape (told apart later)."""
    try:
        return stdin.read()
    except UnicodeDecodeError:
        raise InvalidArgumentError("%s is not UTF-8 text" % what, argument=argument) from None


def _argument_bytes(value: str, flag: str, stdin: TextIO) -> Tuple[bytes, str]:
    """An option's value given inline, as @file, or as - (standard input): its bytes,
    and where they came from (named in errors)."""
    # surrogateescape: bytes that were not UTF-8 come back as they were (POSIX decodes
    # arguments, and stdin under PYTHONUTF8, that way), and are then told apart
    if value == "-":
        text = _read_stdin(stdin, "%s (stdin)" % flag, flag)
        return text.encode("utf-8", "surrogateescape"), "%s (stdin)" % flag
    if value.startswith("@"):
        path = value[1:]
        try:
            with open(path, "rb") as handle:
                return handle.read(), "%s (%s)" % (flag, path)
        except OSError as exc:
            raise InvalidArgumentError("%s: cannot read %s: %s" % (flag, path,
                                                                   _os_error_text(exc)),
                                       argument=flag) from None
    return value.encode("utf-8", "surrogateescape"), flag


def _read_json_argument(value: Optional[str], flag: str, stdin: TextIO) -> Dict[str, Any]:
    """--params / --credentials: inline JSON, @file, or - for stdin; must be an object."""
    if value is None:
        return {}
    text, source = _argument_bytes(value, flag, stdin)
    try:
        parsed = _loads(text)
    except ValueError as exc:
        raise InvalidArgumentError("%s is not valid JSON: %s" % (source, exc),
                                   argument=flag) from None
    if not isinstance(parsed, dict):
        raise InvalidArgumentError("%s must be a JSON object, not %s" % (source,
                                                                       _type_name(parsed)),
                                   argument=flag)
    return parsed


@_command("invoke", "invoke a tool and print its messages as they arrive",
          _USER.but(required=True, default=None, help="user id passed to the plugin"),
          _Argument("--provider", required=True,
                    help="organization/plugin_name/provider_name (see `tools`)"),
          _Argument("--tool", required=True, help="tool name"),
          _Argument("--params", help="tool parameters: JSON, @file, or - for stdin"),
          _CREDENTIALS, _CREDENTIAL_TYPE, _OUTPUT_DIR,
          _Argument("--no-cast", action="store_true",
                    help="send parameters as given, without casting by the declaration"),
          _Argument("--conversation-id"), _Argument("--app-id"), _Argument("--message-id"),
          _Argument("--identifier",
                    help="run this package (a unique identifier) through /v2 instead of the "
                         "plugin installed for the tenant; some runtime of it must be up"),
          json_shape="NDJSON: one {type, message, meta} per message as it arrives; a saved "
                     "blob's message is {path, size}",
          examples=("invoke --user u1 --provider acme/echo/echo --tool echo "
                    "--params '{\"text\": \"hi\"}'",
                    "invoke --user u1 --provider acme/echo/echo --tool draw --params @p.json "
                    "--output-dir out/"))
def _cmd_invoke(ctx: _Context) -> int:
    client, tenant, args, out = ctx.client(), ctx.tenant(), ctx.args, ctx.out
    if args.identifier:  # an uploaded package, through /v2
        client = client.by_identifier(args.identifier)
    parameters = _read_json_argument(args.params, "--params", ctx.stdin)
    credentials = _read_json_argument(args.credentials, "--credentials", ctx.stdin)
    _make_output_dir(args.output_dir)
    if not args.no_cast:
        _refuse_unknown_parameters(client, tenant, args.provider, args.tool, parameters)
    stream = client.invoke(tenant, args.user, args.provider, args.tool, credentials, parameters,
                           conversation_id=args.conversation_id, app_id=args.app_id,
                           message_id=args.message_id, credential_type=args.credential_type,
                           cast_parameters=not args.no_cast)
    return _print_stream(ctx, stream, _MessagePrinter(out, args.output_dir))


def _refuse_unknown_parameters(client: DifyPluginClient, tenant: str, provider: str, tool_name: str,
                               parameters: Dict[str, Any]) -> None:
    """A parameter the tool does not declare is a typo more often than not: refuse it
    before sending (--no-cast sends parameters as given)."""
    plugin_id, provider_name = _parse_provider_id(provider, "--provider")
    tool = client._tool_declaration(tenant, plugin_id, provider_name, tool_name)
    declared = [parameter.name for parameter in tool.parameters]
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise ToolParameterError(
            "tool %r has no parameter %s; its parameters: %s (--no-cast sends them anyway)"
            % (tool_name, ", ".join(repr(name) for name in unknown),
               ", ".join(declared) or "none"),
            problems=[(name, parameters[name], "a declared parameter") for name in unknown])


class _MessagePrinter:
    """Shows invoke messages as they arrive: text unbuffered, JSON pretty, blobs saved."""

    #: The meta keys a saved blob's file name is taken from, the first one set.
    name_keys: Tuple[str, ...] = ("filename",)

    def __init__(self, out: _Output, output_dir: Optional[str]) -> None:
        self.out = out
        self.output_dir = output_dir
        self.blobs = 0
        self.open_text = False  # the last text written did not end with a newline

    def show(self, message: ToolInvokeMessage) -> None:
        body = message.message
        saved = (self._save_blob(message, body.blob) if isinstance(body, BlobMessage)
                 and message.type == "blob" else None)
        if self.out.json_mode:
            record = message.to_dict()
            if saved is not None and isinstance(body, BlobMessage):
                record["message"] = {"path": saved, "size": len(body.blob)}
            self.out.ndjson(record)
            return
        kind = message.type
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

    def _text(self, text: str) -> None:
        self.out.write(text)
        self.out.stdout.flush()
        if text:
            self.open_text = not text.endswith("\n")

    def _text_break(self) -> None:
        if self.open_text:
            self.out.write("\n")
            self.open_text = False

    def _note(self, text: str) -> None:
        self._text_break()
        self.out.stdout.flush()
        self.out.info(text)

    @staticmethod
    def _mime(message: ToolInvokeMessage) -> str:
        mime = (message.meta or {}).get("mime_type")
        return ", %s" % mime if mime else ""

    def _save_blob(self, message: ToolInvokeMessage, blob: bytes) -> Optional[str]:
        if not self.output_dir:
            return None
        self.blobs += 1
        meta = message.meta or {}
        given = next((meta[key] for key in self.name_keys if meta.get(key)), None)
        name = _safe_file_name(given) or "blob-%d%s" % (
            self.blobs, _extension_for(meta.get("mime_type")))
        path = _unique_path(os.path.join(self.output_dir, name))
        with open(path, "xb") as handle:
            handle.write(blob)
        return path


    def end(self) -> None:
        self._text_break()
        self.out.stdout.flush()


def _safe_file_name(name: Any) -> str:
    """A plugin-given file name made safe to create: its last path part, without NUL
    and control characters (the plugin is not trusted to name files); "" if nothing
    usable is left."""
    text = _CONTROL_CHARS_RE.sub("", str(name or "")).replace("\\", "/")
    text = os.path.basename(text)
    return "" if text in ("", ".", "..") else text


def _extension_for(mime_type: Any) -> str:
    if not mime_type:
        return ".bin"
    import mimetypes

    return mimetypes.guess_extension(str(mime_type).split(";")[0].strip()) or ".bin"


def _unique_path(path: str) -> str:
    base, extension = os.path.splitext(path)
    candidate, number = path, 1
    while os.path.exists(candidate):
        number += 1
        candidate = "%s-%d%s" % (base, number, extension)
    return candidate


@_command("tasks", "list, show, wait for and delete install tasks",
          examples=("tasks", "tasks wait <task-id>", "tasks delete-all --failed"))
def _cmd_tasks(ctx: _Context) -> int:
    """Without an action: list."""
    return _tasks_list(ctx)


@_action("tasks", "list", "list tasks, newest first", *_PAGING,
         json_shape="[task, ...], newest first; a task is " + _TASK_JSON)
def _tasks_list(ctx: _Context) -> int:
    client, tenant, out = ctx.client(), ctx.tenant(), ctx.out
    page = getattr(ctx.args, "page", None)
    tasks = (client.fetch_plugin_installation_tasks(tenant, page, ctx.args.page_size)
             if page is not None else list(client.iter_installation_tasks(tenant)))
    if out.json_mode:
        out.json([task.to_dict() for task in tasks])
        return EXIT_OK
    if not tasks:
        out.info("no install tasks for tenant %s" % tenant)
        return EXIT_OK
    out.table(["TASK ID", "STATUS", "DONE", "CREATED", "PLUGINS"],
              [[t.id, t.status, "%d/%d" % (t.completed_plugins, t.total_plugins),
                _format_datetime(t.created_at) if t.created_at else None,
                ", ".join(p.plugin_id or p.plugin_unique_identifier for p in t.plugins)]
               for t in tasks])
    return EXIT_OK


@_action("tasks", "show", "show one task", _Argument("task_id"), json_shape=_TASK_JSON)
def _tasks_show(ctx: _Context) -> int:
    task = ctx.client().fetch_plugin_installation_task(ctx.tenant(), ctx.args.task_id)
    out = ctx.out
    if out.json_mode:
        out.json(task.to_dict())
        return EXIT_OK
    out.line("task %s: %s (%d/%d done)" % (task.id, out.paint(str(task.status),
                                                               str(task.status)),
                                           task.completed_plugins, task.total_plugins))
    out.table(["STATUS", "PLUGIN", "MESSAGE"],
              [[p.status, p.plugin_unique_identifier, p.message] for p in task.plugins])
    return EXIT_OK


@_action("tasks", "wait", "wait for a task to finish", _Argument("task_id"), _WAIT_TIMEOUT,
         json_shape=_TASK_JSON)
def _tasks_wait(ctx: _Context) -> int:
    return _wait_task(ctx, ctx.args.task_id)


@_action("tasks", "delete", "delete a task, or one plugin of it", _Argument("task_id"),
         _Argument("--identifier", help="remove only this plugin from the task"),
         json_shape="{deleted: [task id] or [], task_id, removed_plugin: identifier or null}")
def _tasks_delete(ctx: _Context) -> int:
    client, tenant, args = ctx.client(), ctx.tenant(), ctx.args
    task = _existing_task(ctx, args.task_id)  # the daemon answers true for unknown tasks
    if args.identifier and args.identifier not in [item.plugin_unique_identifier
                                                   for item in task.plugins]:
        raise PluginDaemonNotFoundError("task %s has no plugin %s" % (task.id, args.identifier))
    if args.identifier:
        client.delete_plugin_installation_task_item(tenant, args.task_id, args.identifier)
        ctx.out.info("removed %s from task %s" % (args.identifier, args.task_id))
    else:
        client.delete_plugin_installation_task(tenant, args.task_id)
        ctx.out.info("deleted task %s" % args.task_id)
    if ctx.out.json_mode:
        ctx.out.json({"deleted": [args.task_id] if not args.identifier else [],
                      "task_id": args.task_id, "removed_plugin": args.identifier})
    return EXIT_OK


def _existing_task(ctx: _Context, task_id: str) -> PluginInstallTask:
    try:
        return ctx.client().fetch_plugin_installation_task(ctx.tenant(), task_id)
    except PluginDaemonError as exc:
        if "not found" not in (exc.message or ""):
            raise
        exc.message = "no such task %s for this tenant (the daemon: %s)" % (task_id,
                                                                            exc.message)
        exc.args = (exc.message,)
        exc.hint = "%s tasks lists the tenant's tasks" % _program_name()
        raise


@_action("tasks", "delete-all", "delete every task of the tenant",
         _Argument("--failed", action="store_true", help="only failed tasks"),
         _Argument("--yes", action="store_true", help="confirm deleting all"),
         json_shape="{deleted: [task ids] (--failed) or null, all: true without --failed}")
def _tasks_delete_all(ctx: _Context) -> int:
    client, tenant, args = ctx.client(), ctx.tenant(), ctx.args
    if args.failed:
        failed = [task.id for task in client.iter_installation_tasks(tenant)
                  if task.status == PluginInstallTaskStatus.Failed]
        for task_id in failed:
            client.delete_plugin_installation_task(tenant, task_id)
        ctx.out.info("deleted %d failed task%s" % (len(failed), "" if len(failed) == 1 else "s"))
        if ctx.out.json_mode:
            ctx.out.json({"deleted": failed, "all": False})
        return EXIT_OK
    if not args.yes:
        raise InvalidArgumentError("tasks delete-all removes every task of the tenant, running "
                                   "ones included; add --yes to confirm (or --failed to remove "
                                   "only failed ones)", argument="--yes")
    client.delete_all_plugin_installation_task_items(tenant)
    ctx.out.info("deleted every install task of tenant %s" % tenant)
    if ctx.out.json_mode:
        ctx.out.json({"deleted": None, "all": True})  # the daemon does not say which
    return EXIT_OK


def _find_installation(ctx: _Context, target: str) -> Tuple[str, PluginInstallation]:
    """The installation named by an installation id, a plugin id or a unique identifier,
    and its id; one that is not there is an error."""
    client, tenant = ctx.client(), ctx.tenant()
    if _UUID_RE.match(target):
        # the daemon answers true to uninstalling an id it does not know: look first
        for plugin in client.iter_plugins(tenant):
            if target in (plugin.id, plugin.installation_id):
                return target, plugin
        raise PluginNotFoundError("no such installation %s for this tenant (%s)" % (target,
                                                                                   tenant),
                                  hint="%s list shows the installation ids" % _program_name())
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


@_command("uninstall", "uninstall a plugin",
          _Argument("target", help="installation id, plugin id (author/name) or unique "
                                   "identifier"),
          json_shape="{uninstalled: installation id, plugin_unique_identifier}",
          examples=("uninstall acme/echo", "uninstall acme/echo:0.0.1@<checksum>"))
def _cmd_uninstall(ctx: _Context) -> int:
    installation_id, installation = _find_installation(ctx, ctx.args.target)
    ctx.client().uninstall(ctx.tenant(), installation_id)
    if ctx.out.json_mode:
        ctx.out.json({"uninstalled": installation_id,
                      "plugin_unique_identifier": installation.plugin_unique_identifier})
    else:
        ctx.out.info("uninstalled %s" % installation.plugin_unique_identifier)
    return EXIT_OK


@_command("upgrade", "switch an installed plugin to another version",
          _Argument("--file", help="a .difypkg of the new version to upload",
                    group="new version"),
          _Argument("--identifier", help="the uploaded new version's unique identifier",
                    group="new version"),
          _Argument("--from", dest="original",
                    help="the installed identifier (default: found by plugin id)"),
          _SOURCE, _SIGNATURE, *_WAITING,
          json_shape=_INSTALL_JSON,
          examples=("upgrade --file my_plugin-0.0.2.difypkg",))
def _cmd_upgrade(ctx: _Context) -> int:
    client, tenant, args = ctx.client(), ctx.tenant(), ctx.args
    if args.file:
        new = _upload_package(ctx, args.file).unique_identifier
        ctx.out.info("uploaded %s" % new)
    else:
        new = _check_identifier(args.identifier, "--identifier")
    if args.original:
        original = _check_identifier(args.original, "--from")
    else:
        original = _find_installation(ctx, _plugin_id_of(new))[1].plugin_unique_identifier
    run = _InstallRun("upgrade", [new], {_plugin_id_of(new): original})
    done = [{"plugin_unique_identifier": new, "plugin_id": _plugin_id_of(new),
             "status": "success", "message": "already installed"}]
    if original == new:
        if ctx.out.json_mode:
            ctx.out.json(run.record("success", plugins=done))
        ctx.out.info("%s is already installed: nothing to upgrade" % new)
        return EXIT_OK
    start = client.upgrade_plugin(tenant, original, new, args.source, {})
    ctx.out.info("upgrading %s -> %s" % (original, new))
    if start.all_installed:
        done[0]["message"] = "upgraded"
        if ctx.out.json_mode:
            ctx.out.json(run.record("success", all_installed=True, plugins=done))
        else:
            ctx.out.line("%s  upgraded" % new)
        return EXIT_OK
    return _finish_install(ctx, start, run)


_PACKAGE_ARGUMENT = _Argument(
    "identifier", help="an uploaded package's unique identifier, or the plugin id "
                       "(author/name) of an installed plugin")


def _package_identifier(ctx: _Context, target: str) -> str:
    """A unique identifier as given, or the installed one of a plugin id."""
    if _IDENTIFIER_RE.match(target) or not _PLUGIN_ID_RE.match(target):
        return target  # the client checks it and names what is wrong
    return _find_installation(ctx, target)[1].plugin_unique_identifier


@_command("manifest", "show a package's manifest (uploaded, or installed by plugin id)",
          _PACKAGE_ARGUMENT,
          json_shape="the manifest (PluginDeclaration) as the daemon stores it",
          examples=("manifest acme/echo:0.0.1@<checksum>", "manifest acme/echo"))
def _cmd_manifest(ctx: _Context) -> int:
    identifier = _package_identifier(ctx, ctx.args.identifier)
    manifest = ctx.client().fetch_plugin_manifest(ctx.tenant(), identifier)
    if ctx.out.json_mode:
        ctx.out.json(manifest.to_dict())
        return EXIT_OK
    rows: List[List[Any]] = [
        ["name", "%s/%s" % (manifest.author, manifest.name)],
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


@_command("readme", "print a package's README (uploaded, or installed by plugin id)",
          _PACKAGE_ARGUMENT,
          _Argument("--language", default="en_US", help="en_US, zh_Hans, ja_JP, pt_BR, ..."),
          json_shape="{content, language}: the language the daemon answered with (it falls "
                     "back to en_US), null when there is no README",
          examples=("readme acme/echo:0.0.1@<checksum> --language zh_Hans", "readme acme/echo"))
def _cmd_readme(ctx: _Context) -> int:
    identifier = _package_identifier(ctx, ctx.args.identifier)
    readme = ctx.client().fetch_plugin_readme_info(ctx.tenant(), identifier,
                                                   language=ctx.args.language)
    text = readme.content
    if ctx.out.json_mode:
        ctx.out.json({"content": text, "language": readme.language})
    elif text:
        ctx.out.write(text if text.endswith("\n") else text + "\n")
    else:
        ctx.out.info("this plugin has no README")
    return EXIT_OK


@_command("tools", "list tool providers, one provider's tools, or one tool",
          _Argument("provider", nargs="?", help="organization/plugin_name/provider_name"),
          _Argument("tool", nargs="?", help="a tool of that provider: show its parameters"),
          json_shape="[provider, ...]; with PROVIDER the provider; with TOOL the tool's "
                     "declaration",
          examples=("tools", "tools acme/echo/echo", "tools acme/echo/echo echo --json"))
def _cmd_tools(ctx: _Context) -> int:
    client, tenant, args, out = ctx.client(), ctx.tenant(), ctx.args, ctx.out
    if not args.provider:
        providers = client.fetch_tool_providers(tenant)
        if out.json_mode:
            out.json([provider.to_dict() for provider in providers])
            return EXIT_OK
        if not providers:
            out.info("no tool providers installed for tenant %s" % tenant)
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
        raise ToolNotFoundError("provider %s has no tool %r; its tools: %s" % (
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


def _allowed(parameter: ToolParameter) -> Optional[str]:
    if parameter.options:
        return "|".join(option.value for option in parameter.options)
    if parameter.min is not None or parameter.max is not None:
        return "%s..%s" % ("" if parameter.min is None else _number_text(parameter.min),
                           "" if parameter.max is None else _number_text(parameter.max))
    return None


@_command("missing-deps", "show which of the identifiers are not installed exactly",
          _Argument("identifiers", nargs="+"),
          json_shape="[{plugin_unique_identifier, current_identifier}] for each one missing "
                     "(exit 1 when any is)",
          examples=("missing-deps acme/echo:0.0.1@<checksum> acme/other:1.0.0@<checksum>",))
def _cmd_missing_deps(ctx: _Context) -> int:
    missing = ctx.client().fetch_missing_dependencies(ctx.tenant(), ctx.args.identifiers)
    if ctx.out.json_mode:
        ctx.out.json([item.to_dict() for item in missing])
    elif not missing:
        ctx.out.info("all %d installed" % len(ctx.args.identifiers))
    else:
        ctx.out.table(["WANTED", "INSTALLED"], [[item.plugin_unique_identifier,
                                                item.current_identifier or None]
                                               for item in missing])
    return EXIT_FAILED if missing else EXIT_OK  # scripts can test it


@_command("completion", "print a shell completion script (bash or zsh)",
          _Argument("shell", choices=("bash", "zsh")),
          examples=("completion bash > /etc/bash_completion.d/dify-plugin-client",
                    "completion zsh > \"${fpath[1]}/_dify-plugin-client\""))
def _cmd_completion(ctx: _Context) -> int:
    script = _bash_completion()
    if ctx.args.shell == "zsh":  # zsh runs the bash function through bashcompinit
        script = ("#compdef dify-plugin-client\nautoload -U +X bashcompinit && bashcompinit\n"
                  + script)
    if _program_name() != "dify-plugin-client":  # a copied file, or python -m
        script += ("# The completion is for the command dify-plugin-client; without the "
                   "installed one, make\n# it an alias: alias dify-plugin-client=%s\n"
                   % _shell_quote(_alias_target()))
    ctx.out.write(script)
    return EXIT_OK


def _alias_target() -> str:
    """What an alias named dify-plugin-client would run: this interpreter and file."""
    return " ".join(_shell_word(word) for word in (sys.executable or "python3",
                                                   os.path.abspath(__file__)))


_PATH_OPTIONS = ("--file", "--key-file", "--cacert", "--config", "--output-dir", "-o",
                 "--output")


def _bash_completion() -> str:
    """A bash completion function, written from the command registry."""
    global_flags = [setting.flag for setting in _SETTINGS] + [
        "--config", "--json", "--wide", "--debug", "--version", "--help"]
    cases = []
    for name, command in _COMMANDS.items():
        words = [flag for argument in command.arguments for flag in argument.flags
                 if flag.startswith("-")] + list(command.actions)
        cases.append("        %s) words=%s ;;" % (name, _shell_quote(" ".join(words))))
    return "\n".join([
        "# bash completion for dify-plugin-client (from `dify-plugin-client completion bash`)",
        "_dify_plugin_client() {",
        "    local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"${COMP_WORDS[COMP_CWORD-1]}\"",
        "    local command=\"\" i words",
        "    case \"$prev\" in",
        "        %s) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;"
        % "|".join(_PATH_OPTIONS),
        "    esac",
        "    for ((i = 1; i < COMP_CWORD; i++)); do",
        "        case \"${COMP_WORDS[i]}\" in",
        "            %s) ((i++)) ;;" % "|".join(_VALUE_OPTIONS),
        "            -*) ;;",
        "            *) command=\"${COMP_WORDS[i]}\"; break ;;",
        "        esac",
        "    done",
        "    case \"$command\" in",
        "        \"\") words=%s ;;" % _shell_quote(" ".join(list(_COMMANDS) + global_flags)),
    ] + cases + [
        "    esac",
        "    [[ -n \"$command\" ]] && words=\"$words %s\"" % " ".join(global_flags),
        "    COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))",
        "}",
        "complete -o default -F _dify_plugin_client dify-plugin-client",
        ""])


def _shell_quote(text: str) -> str:
    return "'%s'" % text.replace("'", "'\\''")


@_command("package", "build a .difypkg from a plugin folder (as `dify plugin package` does)",
          _Argument("folder", help="the plugin's folder (it holds manifest.yaml)"),
          _Argument("-o", "--output", help="the package to write (default: "
                                           "<name>-<version>.difypkg here)"),
          json_shape="{path, size, files}",
          examples=("package ./my_plugin", "package ./my_plugin -o dist/my_plugin.difypkg"))
def _cmd_package(ctx: _Context) -> int:
    folder = ctx.args.folder
    manifest = os.path.join(folder, "manifest.yaml")
    if not os.path.isfile(manifest):
        raise InvalidArgumentError("%s has no manifest.yaml: not a plugin folder" % folder,
                                   argument="folder")
    files = _package_files(folder)
    output = ctx.args.output or "%s.difypkg" % _package_name(manifest, folder)
    size = _write_package(folder, files, output, ctx.settings.values["max_package_size"])
    if ctx.out.json_mode:
        ctx.out.json({"path": output, "size": size, "files": len(files)})
    else:
        ctx.out.line(output)
        ctx.out.info("packaged %d files, %s" % (len(files), _format_size(size)))
    return EXIT_OK


#: What a package leaves out, as the official packager does, plus .difyignore's patterns.
_PACKAGE_SKIPS = (".git", ".github", "__pycache__", ".venv", "venv", ".idea", ".vscode",
                  ".DS_Store", "*.pyc", "*.difypkg", ".env")


def _package_files(folder: str) -> List[str]:
    import fnmatch

    patterns = list(_PACKAGE_SKIPS)
    ignore = os.path.join(folder, ".difyignore")
    if os.path.isfile(ignore):
        with open(ignore, encoding="utf-8") as handle:
            patterns += [line.strip().rstrip("/") for line in handle
                         if line.strip() and not line.startswith("#")]

    def skipped(relative: str) -> bool:
        parts = relative.split("/")
        return any(fnmatch.fnmatch(part, pattern) or fnmatch.fnmatch(relative, pattern)
                   for pattern in patterns for part in parts)

    found = []
    for root, directories, names in os.walk(folder):
        directories.sort()
        for name in sorted(names):
            relative = os.path.relpath(os.path.join(root, name), folder).replace(os.sep, "/")
            if not skipped(relative):
                found.append(relative)
    return found


def _package_name(manifest: str, folder: str) -> str:
    """<name>-<version> from the manifest's top-level keys (no YAML parser needed)."""
    values = {}
    with open(manifest, encoding="utf-8") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if key in ("name", "version") and value.strip():
                values[key] = value.strip().strip("'\"")
    name = values.get("name") or os.path.basename(os.path.abspath(folder))
    return "%s-%s" % (name, values["version"]) if "version" in values else name


def _write_package(folder: str, files: Sequence[str], output: str, limit: int) -> int:
    import zipfile

    with _ReplacedFile(output, "--output") as target:
        with zipfile.ZipFile(target.handle, "w", zipfile.ZIP_DEFLATED) as archive:
            for relative in files:
                info = zipfile.ZipInfo(relative, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                with open(os.path.join(folder, relative), "rb") as handle:
                    archive.writestr(info, handle.read())
        size = target.handle.tell()
        if size > limit:
            raise PackageTooLargeError("the package would be %s, over the %s limit; nothing "
                                       "was written" % (_format_size(size), _format_size(limit)),
                                       argument="folder")
        target.commit()
    return size


class _ReplacedFile:
    """A file written by way of a new file beside it (``.NAME.<random>.part``, so no
    file of the user's is touched), which takes the place of ``path`` only on
    ``commit()``. Leaving the ``with`` block without it removes the new file: the old
    ``path`` stays as it was. Problems with ``path`` show up when this is made, before
    anything is fetched for it. A symbolic link stays: the file it leads to is the one
    replaced. A file that was there keeps its permission bits."""

    def __init__(self, path: str, flag: str, private: bool = False) -> None:
        import stat

        self.path, self.flag = path, flag
        self.target = os.path.realpath(path)
        try:
            existing: Optional[int] = os.lstat(self.target).st_mode
        except OSError:
            existing = None  # a new file
        if path.endswith(("/", os.sep)) or (existing is not None and stat.S_ISDIR(existing)):
            raise InvalidArgumentError("%s %s is a directory" % (flag, path), argument=flag)
        if existing is not None and stat.S_ISLNK(existing):  # what realpath could not follow
            raise InvalidArgumentError("%s %s: its symbolic links go round in a loop"
                                       % (flag, path), argument=flag)
        if existing is not None and not os.access(self.target, os.W_OK):
            raise InvalidArgumentError("%s %s is not writable" % (flag, path), argument=flag)
        # a file that was there keeps its mode (the umask decides a new one's); a private
        # file stays readable by its owner only
        self.mode = None if private or existing is None else existing & 0o7777
        folder, name = os.path.split(self.target)
        short = name.encode("utf-8", "surrogateescape")[:64].decode("utf-8", "ignore")
        self.partial = os.path.join(folder, ".%s.%s.part" % (short, os.urandom(4).hex()))
        # never more readable while written than the file it replaces (or than 0600)
        start_mode = 0o600 if private else (0o666 if self.mode is None else self.mode & 0o666)
        try:
            descriptor = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                                 | getattr(os, "O_BINARY", 0), start_mode)
            self.handle: IO[bytes] = os.fdopen(descriptor, "wb")
        except OSError as exc:
            raise InvalidArgumentError("%s %s: cannot write %s: %s" % (
                flag, path, folder or os.getcwd(), _os_error_text(exc)), argument=flag) from None
        self.committed = False

    def __enter__(self) -> "_ReplacedFile":
        return self

    def write(self, data: bytes) -> None:
        try:
            self.handle.write(data)
        except OSError as exc:
            raise InvalidArgumentError("%s %s: cannot write: %s" % (
                self.flag, self.path, _os_error_text(exc)), argument=self.flag) from None

    def commit(self) -> None:
        try:
            self.handle.close()
            if self.mode is not None:
                os.chmod(self.partial, self.mode)
            os.replace(self.partial, self.target)
        except OSError as exc:
            raise InvalidArgumentError("%s %s: cannot write: %s" % (
                self.flag, self.path, _os_error_text(exc)), argument=self.flag) from None
        self.committed = True

    def __exit__(self, *exc_info: Any) -> None:
        try:
            self.handle.close()
        except OSError:  # (a disk full on the last flush: the new file goes anyway)
            if self.committed:
                raise
        if not self.committed:
            try:
                os.unlink(self.partial)
            except OSError:
                pass


# --- models: providers and their models; model calls from the shell ---------------------
#
# A model is named by --plugin author/name --provider PROVIDER --model MODEL, by
# --provider author/name/provider --model MODEL, or in one flag: --model
# author/name/provider/model. With only --model MODEL, the tenant's providers are listed
# and the one that declares a model of that name (and of the command's type) is used.

_MODEL_HELP = ("the model: MODEL with --provider (and --plugin), or author/name/provider/model; "
               "a MODEL alone is looked up among the tenant's providers")
_MODEL_ARGUMENTS = (
    _Argument("--model", "-m", required=True, metavar="MODEL", help=_MODEL_HELP),
    _Argument("--provider", metavar="PROVIDER",
              help="author/name/provider (as `models` lists it), or a provider name with "
                   "--plugin"),
    _Argument("--plugin", metavar="AUTHOR/NAME", help="the plugin that serves the provider"),
    _CREDENTIALS.but(metavar="JSON|@FILE|-", help="the provider's credentials: JSON, @file, "
                                                  "or - for stdin (never printed)"),
    _USER,
)
_MODEL_JSON = "; the model is named as in `models`"
_MODEL_TYPE_LIST = ", ".join(kind.value for kind in ModelType)


def _model_type_argument(text: str) -> str:
    """--type / --model-type: one of the model types (typed wrong, it matches nothing)."""
    import argparse

    if text not in {kind.value for kind in ModelType}:
        raise argparse.ArgumentTypeError("must be one of %s, got %r" % (_MODEL_TYPE_LIST, text))
    return text


def _model_target(ctx: _Context, model_type: Optional[str]) -> Tuple[str, str, str]:
    """(plugin id, provider, model) from --plugin, --provider and --model."""
    args = ctx.args
    plugin, provider, model = args.plugin, args.provider, args.model
    if provider and provider.count("/") >= 2 and not plugin:
        plugin, _, provider = provider.rpartition("/")
    if not plugin and not provider and model.count("/") >= 3:
        author, name, provider, model = model.split("/", 3)
        plugin = "%s/%s" % (author, name)
    if plugin and provider:
        return plugin, provider, model
    return _find_model(ctx, plugin, provider, model, model_type)


def _find_model(ctx: _Context, plugin: Optional[str], provider: Optional[str], model: str,
                model_type: Optional[str]) -> Tuple[str, str, str]:
    """The one installed provider that declares ``model`` (of ``model_type``)."""
    found = []
    for entity in ctx.client().fetch_model_providers(ctx.tenant()):
        if (plugin and entity.plugin_id != plugin) or (provider and entity.provider != provider):
            continue
        if entity.declaration is not None and entity.declaration.model(model, model_type):
            found.append(entity.full_name)
    if len(found) == 1:
        plugin, _, provider = found[0].rpartition("/")
        return plugin, provider, model
    what = "%s model %r" % (model_type or "a", model)
    if not found:
        raise ModelNotFoundError(
            "no installed model provider declares %s; name it with --provider "
            "author/name/provider (see `%s models`)" % (what, _program_name()),
            argument="--model")
    raise InvalidArgumentError("%s is declared by %s; choose one with --provider"
                               % (what, ", ".join(sorted(found))), argument="--provider")


def _credentials_argument(ctx: _Context) -> Dict[str, Any]:
    return _read_json_argument(ctx.args.credentials, "--credentials", ctx.stdin)


def _text_argument(ctx: _Context, value: Optional[str], what: str) -> str:
    """A text from the command line, or from standard input when it is - or absent (its
    one final line end dropped, as `echo` adds one). It must be UTF-8, and not blank."""
    source = "the %s" % what
    if value is None or value == "-":
        if ctx.args.credentials == "-":
            raise InvalidArgumentError("%s and --credentials cannot both come from standard "
                                       "input" % what, argument=what)
        source = "the %s on standard input" % what
        if value is None and _isatty(ctx.stdin):  # else it would seem to hang
            ctx.out.info("reading the %s from standard input (end it with Ctrl-D)" % what)
        value = _read_stdin(ctx.stdin, source, what)
        value = value[:-1] if value.endswith("\n") else value
        value = value[:-1] if value.endswith("\r") else value
    if not value.strip():
        raise InvalidArgumentError("%s is empty: give it as an argument or on standard input"
                                   % source, argument=what)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes, kept by surrogateescape
        raise InvalidArgumentError("%s is not UTF-8 text" % source, argument=what) from None
    return value


def _parameter_values(items: Optional[Sequence[str]]) -> Dict[str, Any]:
    """--param name=value: the value as JSON when it is JSON (0.2, true, [..]), else text."""
    parameters: Dict[str, Any] = {}
    for item in items or []:
        name, equals, text = item.partition("=")
        if not equals or not name.strip():
            raise InvalidArgumentError("--param takes name=value, got %r" % item,
                                       argument="--param")
        try:
            parameters[name.strip()] = _loads(text)
        except ValueError as exc:
            if "is not a JSON number" in str(exc):  # NaN or Infinity, bare or inside
                raise InvalidArgumentError("--param %s: %s" % (name.strip(), exc),
                                           argument="--param") from None
            parameters[name.strip()] = text
    return parameters


def _usage_line(usage: Optional[LLMUsage], seconds: float) -> str:
    if usage is None:
        return "no usage reported (%.2f s)" % seconds
    return "tokens: %d prompt + %d completion = %d; cost %s %s; %.2f s" % (
        usage.prompt_tokens, usage.completion_tokens, usage.total_tokens,
        format(usage.total_price, "f"), usage.currency or "", seconds)


@_command("models", "list model providers, or the models of one provider",
          _Argument("provider", nargs="?", help="author/name/provider: list its models"),
          _Argument("--type", dest="model_type", metavar="TYPE", type=_model_type_argument,
                    help="only models (and providers) of this type: %s" % _MODEL_TYPE_LIST),
          json_shape="[provider, ...] with its declaration; with PROVIDER [model, ...]",
          examples=("models", "models acme/openai/openai --type llm --json"))
def _cmd_models(ctx: _Context) -> int:
    client, tenant, args, out = ctx.client(), ctx.tenant(), ctx.args, ctx.out
    providers = client.fetch_model_providers(tenant)
    if not args.provider:
        if args.model_type:
            providers = [provider for provider in providers
                         if _offers_type(provider, args.model_type)]
        if out.json_mode:
            out.json([provider.to_dict() for provider in providers])
            return EXIT_OK
        rows = []
        for provider in providers:
            groups = provider.declaration.models_by_type() if provider.declaration else {}
            rows.append([provider.full_name, ", ".join(
                "%s (%d)" % (kind, len(models)) for kind, models in groups.items()
                if not args.model_type or kind == args.model_type),
                provider.plugin_unique_identifier])
        out.table(["PROVIDER", "MODELS BY TYPE", "PLUGIN"], rows)
        return EXIT_OK
    return _show_provider_models(ctx, providers)


def _offers_type(provider: PluginModelProviderEntity, model_type: str) -> bool:
    """Whether the provider supports models of ``model_type`` (or declares one)."""
    declaration = provider.declaration
    if declaration is None:
        return False
    return (model_type in [str(kind) for kind in declaration.supported_model_types]
            or any(str(model.model_type) == model_type for model in declaration.models))


def _show_provider_models(ctx: _Context, providers: List[PluginModelProviderEntity]) -> int:
    args, out = ctx.args, ctx.out
    chosen = [p for p in providers if args.provider in (p.full_name, p.provider)]
    if len(chosen) != 1:
        error = ModelNotFoundError if not chosen else InvalidArgumentError
        raise error("%s model provider %r for this tenant; its providers: %s"
                    % ("no" if not chosen else "more than one", args.provider,
                       ", ".join(p.full_name for p in providers) or "none"), argument="provider")
    declaration = chosen[0].declaration
    models = [m for m in (declaration.models if declaration else [])
              if not args.model_type or str(m.model_type) == args.model_type]
    if out.json_mode:
        out.json([model.to_dict() for model in models])
        return EXIT_OK
    out.table(["MODEL", "TYPE", "FEATURES", "CONTEXT", "PRICE (input/output per unit)"],
              [[m.model + (" (deprecated)" if m.deprecated else ""), m.model_type,
                ", ".join(str(f) for f in m.features), m.model_properties.get("context_size"),
                _price_text(m.pricing)] for m in models])
    return EXIT_OK


def _price_text(pricing: Optional[PriceConfig]) -> Optional[str]:
    if pricing is None:
        return None
    output = "/" + format(pricing.output, "f") if pricing.output is not None else ""
    return "%s%s per %s %s" % (format(pricing.input, "f"), output, format(pricing.unit, "f"),
                               pricing.currency)


@_command("llm", "ask an LLM; the answer streams to stdout, usage and cost to stderr",
          _Argument("prompt", nargs="?", help="the prompt (default: read from stdin)"),
          *_MODEL_ARGUMENTS,
          _Argument("--system", metavar="TEXT", help="a system message before the prompt"),
          _Argument("--param", action="append", metavar="NAME=VALUE",
                    help="a model parameter (repeatable); the value is read as JSON when it "
                         "is JSON: --param temperature=0.2 --param stop_words='[\"x\"]'"),
          _Argument("--no-stream", action="store_true",
                    help="ask for the whole answer at once (stream=false)"),
          _Argument("--poll", action="store_true",
                    help="run it as a polled call (models with the polling feature)"),
          _Argument("--first-token-timeout", type=_positive_float, metavar="SECONDS",
                    help="give up when the first token takes longer than this"),
          json_shape="NDJSON: one LLMResultChunk {model, delta: {index, message, usage, "
                     "finish_reason}, ...} per chunk as it arrives (with --no-stream or --poll "
                     "one LLMResult)" + _MODEL_JSON,
          examples=("llm 'Say hello' --model acme/openai/openai/gpt-4o --credentials @key.json",
                    "echo 'Summarise this' | {prog} llm --model gpt-4o --system 'Be brief' "
                    "--param temperature=0.2 --credentials '{\"api_key\": \"...\"}'"))
def _cmd_llm(ctx: _Context) -> int:
    client, tenant, args, out = ctx.client(), ctx.tenant(), ctx.args, ctx.out
    if args.poll and args.first_token_timeout is not None:
        raise InvalidArgumentError("--first-token-timeout bounds a streamed or --no-stream "
                                   "call, not --poll", argument="--first-token-timeout")
    prompt = _text_argument(ctx, args.prompt, "prompt")
    credentials = _credentials_argument(ctx)
    parameters = _parameter_values(args.param)
    plugin, provider, model = _model_target(ctx, ModelType.LLM.value)
    messages: List[PromptMessage] = []
    if args.system:
        messages.append(SystemPromptMessage(content=args.system))
    messages.append(UserPromptMessage(content=prompt))
    started = time.monotonic()
    if args.poll or args.no_stream:
        if args.poll:
            result = client.poll_llm(tenant, args.user, plugin, provider, model, credentials,
                                     messages, parameters)
        else:
            result = client.invoke_llm(tenant, args.user, plugin, provider, model, credentials,
                                       messages, parameters, stream=False,
                                       first_token_timeout=args.first_token_timeout)
        if out.json_mode:
            out.ndjson(result.to_dict())
        else:
            out.line(result.text)
            _note_tool_calls(out, result.message.tool_calls)
            out.info(_usage_line(result.usage, time.monotonic() - started))
        return EXIT_OK
    stream = client.invoke_llm(tenant, args.user, plugin, provider, model, credentials,
                               messages, parameters, stream=True,
                               first_token_timeout=args.first_token_timeout)
    usage = None
    open_line = False
    try:
        for chunk in stream:
            usage = chunk.delta.usage or usage
            if out.json_mode:
                out.ndjson(chunk.to_dict())
                continue
            text = chunk.text
            if text:
                out.write(text)
                out.stdout.flush()
                open_line = not text.endswith("\n")
            _note_tool_calls(out, chunk.delta.message.tool_calls)
    finally:
        stream.close()
        if open_line:
            out.line()
    if not out.json_mode:
        out.info(_usage_line(usage, time.monotonic() - started))
    return EXIT_OK


def _note_tool_calls(out: _Output, calls: List[AssistantToolCall]) -> None:
    for call in calls:
        function = call.function or AssistantToolCallFunction()
        out.info("tool call %s: %s(%s)" % (call.id or "-", function.name, function.arguments))


@_command("embed", "embed texts; one vector per text",
          _Argument("texts", nargs="*", metavar="TEXT",
                    help="the texts (- or none: one text from stdin)"),
          *_MODEL_ARGUMENTS,
          _Argument("--input-type", choices=("document", "query"), default="document",
                    help="what the texts are (default document)"),
          json_shape="{model, embeddings: [[float, ...], ...], usage}" + _MODEL_JSON,
          examples=("embed 'first text' 'second text' --model acme/openai/openai/"
                    "text-embedding-3-small --credentials @key.json --json",))
def _cmd_embed(ctx: _Context) -> int:
    client, tenant, args, out = ctx.client(), ctx.tenant(), ctx.args, ctx.out
    texts = [_text_argument(ctx, text, "text") for text in args.texts or [None]]
    credentials = _credentials_argument(ctx)
    plugin, provider, model = _model_target(ctx, ModelType.TEXT_EMBEDDING.value)
    result = client.invoke_text_embedding(tenant, args.user, plugin, provider, model,
                                          credentials, texts, args.input_type)
    if out.json_mode:
        out.json(result.to_dict())
        return EXIT_OK
    out.table(["TEXT", "DIMENSIONS", "VECTOR"],
              [[index, len(vector), ", ".join("%.6g" % value for value in vector[:4])
                + (", ..." if len(vector) > 4 else "")]
               for index, vector in enumerate(result.embeddings)])
    if result.usage is not None:
        out.info("tokens: %d; cost %s %s" % (result.usage.total_tokens,
                                             format(result.usage.total_price, "f"),
                                             result.usage.currency))
    return EXIT_OK


@_command("rerank", "rank documents by relevance to a query",
          _Argument("docs", nargs="+", metavar="DOC", help="the documents"),
          _Argument("--query", "-q", required=True, help="the query"), *_MODEL_ARGUMENTS,
          _Argument("--top-n", type=_positive_int, metavar="N", help="keep the N best"),
          _Argument("--score-threshold", type=_finite_float, metavar="SCORE",
                    help="drop documents scoring below this"),
          json_shape="{model, docs: [{index, text, score}, ...]} best first" + _MODEL_JSON,
          examples=("rerank --query 'red apple' 'green apple' 'blue car' --model "
                    "acme/cohere/cohere/rerank-v3 --credentials @key.json --top-n 1",))
def _cmd_rerank(ctx: _Context) -> int:
    client, tenant, args, out = ctx.client(), ctx.tenant(), ctx.args, ctx.out
    credentials = _credentials_argument(ctx)
    plugin, provider, model = _model_target(ctx, ModelType.RERANK.value)
    result = client.invoke_rerank(tenant, args.user, plugin, provider, model, credentials,
                                  args.query, args.docs, args.score_threshold, args.top_n)
    if out.json_mode:
        out.json(result.to_dict())
        return EXIT_OK
    out.table(["RANK", "DOC", "SCORE", "TEXT"],
              [[rank, doc.index, "%.4f" % doc.score, doc.text]
               for rank, doc in enumerate(result.docs, 1)])
    return EXIT_OK


@_command("tts", "turn text into speech, written to a file as it arrives",
          _Argument("text", nargs="?", help="the text (default: read from stdin)"),
          *_MODEL_ARGUMENTS, _Argument("--voice", required=True, help="a voice of the model"),
          _Argument("--output", "-o", required=True, metavar="FILE",
                    help="the audio file to write (replaced only when the audio is complete), "
                         "or - for stdout (not a terminal)"),
          json_shape="{path, size}" + _MODEL_JSON,
          examples=("tts 'Hello there' --model acme/openai/openai/tts-1 --voice alloy "
                    "--credentials @key.json -o hello.mp3",))
def _cmd_tts(ctx: _Context) -> int:
    client, tenant, args, out = ctx.client(), ctx.tenant(), ctx.args, ctx.out
    text = _text_argument(ctx, args.text, "text")
    credentials = _credentials_argument(ctx)
    plugin, provider, model = _model_target(ctx, ModelType.TTS.value)
    audio = client.invoke_tts(tenant, args.user, plugin, provider, model, credentials, text,
                              args.voice)
    size = 0
    try:
        if args.output == "-":
            size = _audio_to_stdout(out, audio)
        else:
            with _ReplacedFile(args.output, "--output") as target:  # checked before the call
                for piece in audio:
                    target.write(piece)
                    size += len(piece)
                target.commit()
    finally:
        audio.close()
    if out.json_mode:
        out.json({"path": args.output, "size": size})
    else:
        out.info("wrote %s of audio to %s" % (_format_size(size), "stdout" if args.output == "-"
                                              else args.output))
    return EXIT_OK


def _audio_to_stdout(out: _Output, audio: Iterator[bytes]) -> int:
    """Write the audio to stdout as it arrives (a pipe or a file: never a terminal, nor
    mixed with --json); returns its size. Checked before the call is made."""
    stream = getattr(out.stdout, "buffer", None)
    if out.json_mode:
        raise InvalidArgumentError("--output - (audio on stdout) and --json cannot go "
                                   "together", argument="--output")
    if stream is None or _isatty(out.stdout):
        raise InvalidArgumentError("--output - writes the audio to stdout, which must then "
                                   "be a pipe or a file, not a terminal", argument="--output")
    out.stdout.flush()
    size = 0
    for piece in audio:
        stream.write(piece)
        size += len(piece)
    stream.flush()
    return size


@_command("stt", "transcribe an audio file (speech to text)",
          _Argument("file", help="the audio file (sent streamed; - reads stdin)"),
          *_MODEL_ARGUMENTS,
          json_shape="{text}" + _MODEL_JSON,
          examples=("stt meeting.mp3 --model acme/openai/openai/whisper-1 --credentials "
                    "@key.json",))
def _cmd_stt(ctx: _Context) -> int:
    client, tenant, args, out = ctx.client(), ctx.tenant(), ctx.args, ctx.out
    audio: Any = args.file
    if audio == "-":
        if args.credentials == "-":
            raise InvalidArgumentError("the audio and --credentials cannot both come from "
                                       "standard input", argument="file")
        audio = getattr(ctx.stdin, "buffer", None)
        if audio is None:
            raise InvalidArgumentError("the audio cannot come from this standard input (it "
                                       "is not a byte stream)", argument="file")
    credentials = _credentials_argument(ctx)
    plugin, provider, model = _model_target(ctx, ModelType.SPEECH2TEXT.value)
    text = client.invoke_speech_to_text(tenant, args.user, plugin, provider, model,
                                        credentials, audio)
    if out.json_mode:
        out.json({"text": text})
    else:
        out.line(text)
    return EXIT_OK


@_command("moderate", "ask a moderation model whether a text is flagged",
          _Argument("text", nargs="?", help="the text (default: read from stdin)"),
          *_MODEL_ARGUMENTS,
          json_shape="{flagged: bool}" + _MODEL_JSON,
          examples=("moderate 'some text' --model acme/openai/openai/omni-moderation-latest "
                    "--credentials @key.json",))
def _cmd_moderate(ctx: _Context) -> int:
    client, tenant, args, out = ctx.client(), ctx.tenant(), ctx.args, ctx.out
    text = _text_argument(ctx, args.text, "text")
    credentials = _credentials_argument(ctx)
    plugin, provider, model = _model_target(ctx, ModelType.MODERATION.value)
    flagged = client.invoke_moderation(tenant, args.user, plugin, provider, model, credentials,
                                       text)
    if out.json_mode:
        out.json({"flagged": flagged})
    else:
        out.line("flagged" if flagged else "not flagged")
    return EXIT_OK


@_command("validate-credentials", "check a model provider's (or one model's) credentials",
          _Argument("--provider", required=True, metavar="PROVIDER",
                    help="author/name/provider, or a provider name with --plugin"),
          _Argument("--plugin", metavar="AUTHOR/NAME", help="the plugin that serves it"),
          _Argument("--model", "-m", metavar="MODEL",
                    help="check the credentials of this model (with --model-type)"),
          _Argument("--model-type", metavar="TYPE", type=_model_type_argument,
                    help="the model's type, with --model: %s (default llm)" % _MODEL_TYPE_LIST),
          _CREDENTIALS.but(required=True, metavar="JSON|@FILE|-",
                           help="the credentials: JSON, @file, or - for stdin (never printed)"),
          _USER,
          json_shape="{result, error, credentials: {name: \"***\"}} (values never shown); "
                     "credentials the plugin refuses: result false, error its reason, exit 1",
          examples=("validate-credentials --provider acme/openai/openai --credentials "
                    "@key.json",
                    "validate-credentials --provider acme/openai/openai --model gpt-4o "
                    "--credentials -"))
def _cmd_validate_credentials(ctx: _Context) -> int:
    client, tenant, args, out = ctx.client(), ctx.tenant(), ctx.args, ctx.out
    if args.model_type and not args.model:
        raise InvalidArgumentError("--model-type goes with --model (the model whose "
                                   "credentials to check)", argument="--model-type")
    credentials = _credentials_argument(ctx)
    plugin, provider = args.plugin, args.provider
    if provider.count("/") >= 2 and not plugin:
        plugin, _, provider = provider.rpartition("/")
    if not plugin:
        plugin, provider, _ = _find_provider(ctx, provider)
    error: Optional[str] = None
    try:
        if args.model:
            checked = client.validate_model_credentials(tenant, args.user, plugin, provider,
                                                        args.model_type or ModelType.LLM.value,
                                                        args.model, credentials)
        else:
            checked = client.validate_provider_credentials(tenant, args.user, plugin, provider,
                                                           credentials)
    except CredentialsValidateFailedError as exc:  # the plugin refused them
        checked = CredentialsValidationResult(result=False)
        error = exc.message or str(exc)  # credential values masked by the client
    names = sorted(checked.credentials)
    if out.json_mode:
        out.json({"result": checked.result, "error": error,
                  "credentials": {name: "***" for name in names}})
    else:
        out.line("valid" if checked.result else "not valid" + (": %s" % error if error else ""))
        if names:
            out.info("the plugin returned credentials: %s (values not shown)" % ", ".join(names))
    return EXIT_OK if checked.result else EXIT_FAILED


def _find_provider(ctx: _Context, provider: str) -> Tuple[str, str, str]:
    found = [entity.full_name for entity in ctx.client().fetch_model_providers(ctx.tenant())
             if entity.provider == provider]
    if len(found) != 1:
        error = ModelNotFoundError if not found else InvalidArgumentError
        raise error("%s model provider named %r for this tenant%s; name it as "
                    "author/name/provider" % ("no" if not found else "more than one", provider,
                                              " (%s)" % ", ".join(found) if found else ""),
                    argument="--provider")
    plugin, _, name = found[0].rpartition("/")
    return plugin, name, ""


# =============================================================================
# Command line: tool extras, remote debugging, assets
# =============================================================================

#: The remote-debugging port of the docker setup (EXPOSE_PLUGIN_DEBUGGING_PORT); the
#: daemon itself has no default for PLUGIN_REMOTE_INSTALLING_PORT.
_DEFAULT_DEBUGGING_PORT = 5003


_VALIDATE_JSON = "{provider, valid, error}; exit status 1 when not valid"


@_command("tools-validate", "check a tool provider's credentials with its plugin",
          _Argument("provider", help="organization/plugin_name/provider_name (see `tools`)"),
          _CREDENTIALS.but(required=True, help="the credentials: JSON, @file, or - for stdin"),
          _USER,
          json_shape=_VALIDATE_JSON,
          examples=("tools-validate acme/search/search --credentials '{\"api_key\": \"...\"}'",
                    "tools-validate acme/search/search --credentials @creds.json --json"))
def _cmd_tools_validate(ctx: _Context) -> int:
    return _check_credentials_command(ctx, ctx.client().validate_tool_credentials)


def _refused_credentials(error: PluginInvokeError) -> bool:
    """Whether a plugin's error says the credentials are wrong (its
    ...CredentialValidationError, or the models' CredentialsValidateFailedError)."""
    return isinstance(error, CredentialsValidateFailedError) or (
        error.invoke_error_type or "").endswith("CredentialValidationError")


def _check_credentials_command(ctx: _Context, validate: Callable[..., bool]) -> int:
    """tools-validate, datasources validate, triggers validate: "valid", or "not valid:
    REASON" with exit status 1, whether the plugin answers false or raises its
    credential error."""
    args, out = ctx.args, ctx.out
    credentials = _read_json_argument(args.credentials, "--credentials", ctx.stdin)
    error: Optional[str] = None
    try:
        valid = validate(ctx.tenant(), args.user, args.provider, credentials)
    except PluginInvokeError as exc:
        if not _refused_credentials(exc):
            raise
        valid, error = False, exc.message or str(exc)  # credentials masked by the client
    if out.json_mode:
        out.json({"provider": args.provider, "valid": valid, "error": error})
    elif valid:
        out.line("valid")
    else:
        out.line("not valid" + (": %s" % error if error else ""))
    return EXIT_OK if valid else EXIT_FAILED


def _remote_address(value: Optional[str], url: str) -> str:
    """host:port for REMOTE_INSTALL_URL: the one given, else the daemon URL's host with
    the usual port."""
    from urllib.parse import urlsplit

    if value is None:
        host = urlsplit(url).hostname or "localhost"
        return "%s:%d" % ("[%s]" % host if ":" in host else host, _DEFAULT_DEBUGGING_PORT)
    host, _, port = value.rpartition(":")
    if not host or not _ASCII_DIGITS.match(port) or not 0 < int(port) < 65536 \
            or _CONTROL_CHARS_RE.search(value) or " " in value:
        raise InvalidArgumentError("--address must be HOST:PORT, got %r" % value,
                                   argument="--address")
    return value


@_command("debug-key", "print the .env lines that connect a plugin under development to "
                       "this daemon (remote debugging)",
          _Argument("--address", metavar="HOST:PORT",
                    help="where the daemon listens for plugins (its PLUGIN_REMOTE_INSTALLING_"
                         "HOST and _PORT; default: the --url host, port %d)"
                         % _DEFAULT_DEBUGGING_PORT),
          json_shape="{install_method, remote_install_url, remote_install_key}",
          examples=("debug-key >> my_plugin/.env", "debug-key --address debug.example.com:5003"))
def _cmd_debug_key(ctx: _Context) -> int:
    key = ctx.client().get_debugging_key(ctx.tenant())
    address = _remote_address(ctx.args.address, ctx.settings.url)
    if ctx.out.json_mode:
        ctx.out.json({"install_method": "remote", "remote_install_url": address,
                      "remote_install_key": key})
        return EXIT_OK
    ctx.out.line("INSTALL_METHOD=remote")
    ctx.out.line("REMOTE_INSTALL_URL=%s" % address)
    ctx.out.line("REMOTE_INSTALL_KEY=%s" % key)
    ctx.out.info("put these lines in the plugin's .env, then run it (python -m main); the key "
                 "connects it to tenant %s%s" % (ctx.tenant(), "" if ctx.args.address else
                                                 "; the address is a guess, see --address"))
    return EXIT_OK


@_command("asset", "save a plugin asset (an icon) to a file",
          _Argument("asset", metavar="ID",
                    help="asset id: the icon value in an installed plugin's declaration "
                         "(list --json --full); with --identifier, a file name in the "
                         "package's _assets/ folder"),
          _Argument("--identifier", help="read ID from this uploaded package's _assets/ folder"),
          _Argument("--output", metavar="PATH",
                    help="file to write (default: ID's file name in the current directory)"),
          _Argument("--force", action="store_true", help="overwrite PATH if it exists"),
          json_shape="{asset, path, size}",
          examples=("asset 88125ff0...7c26.svg",
                    "asset icon.svg --identifier acme/echo:0.0.1@<checksum> --output echo.svg"))
def _cmd_asset(ctx: _Context) -> int:
    client, tenant, args = ctx.client(), ctx.tenant(), ctx.args
    path = args.output or _safe_file_name(args.asset)
    if not path:
        raise InvalidArgumentError("%r is no file name: give --output" % args.asset,
                                   argument="--output")
    if args.identifier:
        data = client.extract_asset(tenant, args.identifier, args.asset)
    else:
        data = client.fetch_asset(tenant, args.asset)
    try:
        with open(path, "wb" if args.force else "xb") as handle:
            handle.write(data)
    except FileExistsError:
        raise InvalidArgumentError("%s exists; add --force to overwrite it" % path,
                                   argument="--output") from None
    except OSError as exc:
        raise InvalidArgumentError("cannot write %s: %s" % (path, _os_error_text(exc)),
                                   argument="--output") from None
    if ctx.out.json_mode:
        ctx.out.json({"asset": args.asset, "path": path, "size": len(data)})
    else:
        ctx.out.info("saved %s (%s) to %s" % (args.asset, _format_size(len(data)), path))
    return EXIT_OK


# =============================================================================
# Command line: endpoints, agent strategies, datasources, triggers
# =============================================================================

_BASE_URL = _Argument("--base-url", metavar="URL",
                      help="where callers reach the daemon's /e/ routes, or a template "
                           "with {hook_id} (default: the daemon URL)")
_ENDPOINT_JSON = ("{id, name, plugin_id, hook_id, enabled, url, settings (secret values "
                  "masked), declaration: {settings, endpoints}, user_id, created_at, ...}")


def _json_option(ctx: _Context, value: Optional[str], flag: str) -> Dict[str, Any]:
    return _read_json_argument(value, flag, ctx.stdin)


def _make_output_dir(path: Optional[str]) -> None:
    """--output-dir: made (with its parents) if it is not there yet; a file in its place,
    or a directory that cannot be made, is a usage error."""
    if not path:
        return
    if os.path.exists(path) and not os.path.isdir(path):
        raise InvalidArgumentError("--output-dir %s is not a directory" % path,
                                   argument="--output-dir")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise InvalidArgumentError("--output-dir %s cannot be made: %s"
                                   % (path, _os_error_text(exc)),
                                   argument="--output-dir") from None


def _print_stream(ctx: _Context, stream: Generator[ToolInvokeMessage, None, None],
                  printer: _MessagePrinter) -> int:
    try:
        for message in stream:
            printer.show(message)
    finally:
        stream.close()
        printer.end()
    return EXIT_OK


def _show_json_or_lines(ctx: _Context, value: Any, text: str) -> int:
    if ctx.out.json_mode:
        ctx.out.json(value)
    else:
        ctx.out.line(text)
    return EXIT_OK


def _label(value: Optional[I18nObject]) -> str:
    return value.get() if value is not None else ""


def _parameter_rows(parameters: Sequence[PluginParameter]) -> List[List[Any]]:
    return [[p.name, p.type, "yes" if p.required else "no",
             None if p.default is None else json.dumps(p.default),
             _label(p.description or p.help or p.label)] for p in parameters]


def _show_parameters(ctx: _Context, title: str, parameters: Sequence[PluginParameter]) -> None:
    ctx.out.line(title)
    ctx.out.table(["PARAMETER", "TYPE", "REQUIRED", "DEFAULT", "DESCRIPTION"],
                  _parameter_rows(parameters))


# --- endpoints ---------------------------------------------------------------


def _base_url(ctx: _Context) -> str:
    return getattr(ctx.args, "base_url", None) or ctx.settings.url


def _endpoint_record(endpoint: Endpoint, base_url: str) -> Dict[str, Any]:
    """An endpoint as the CLI shows it: every secret value masked, and its URL."""
    record = endpoint.to_dict()
    record["settings"] = endpoint.masked_settings(_MASK)
    record["url"] = endpoint.url(base_url)
    return record


def _endpoint_table(ctx: _Context, endpoints: Sequence[Endpoint]) -> None:
    base = _base_url(ctx)
    ctx.out.table(["ENDPOINT ID", "NAME", "PLUGIN", "ENABLED", "URL"],
                  [[e.id, e.name, e.plugin_id, "yes" if e.enabled else "no", e.url(base)]
                   for e in endpoints])


@_command("endpoints", "list, set up, update, enable, disable and remove endpoints",
          examples=("endpoints", "endpoints setup --identifier acme/hooks:0.0.1@<checksum> "
                    "--name github --settings @settings.json",
                    "endpoints url <endpoint-id> --path /webhook --base-url "
                    "https://plugins.example.com"))
def _cmd_endpoints(ctx: _Context) -> int:
    """Without an action: list."""
    return _endpoints_list(ctx)


@_action("endpoints", "list", "list endpoints, newest first",
         _Argument("--plugin", help="only this plugin's (author/name)"), _BASE_URL,
         json_shape="[endpoint, ...]; an endpoint is " + _ENDPOINT_JSON)
def _endpoints_list(ctx: _Context) -> int:
    client, tenant = ctx.client(), ctx.tenant()
    plugin = getattr(ctx.args, "plugin", None)
    endpoints = (client.list_endpoints_for_single_plugin(tenant, plugin) if plugin
                 else client.list_endpoints(tenant))
    if ctx.out.json_mode:
        ctx.out.json([_endpoint_record(e, _base_url(ctx)) for e in endpoints])
        return EXIT_OK
    _endpoint_table(ctx, endpoints)
    return EXIT_OK


@_action("endpoints", "show", "show an endpoint: settings (secrets masked) and route URLs",
         _Argument("endpoint_id"), _BASE_URL, json_shape=_ENDPOINT_JSON)
def _endpoints_show(ctx: _Context) -> int:
    endpoint = ctx.client().fetch_endpoint(ctx.tenant(), ctx.args.endpoint_id)
    base = _base_url(ctx)
    if ctx.out.json_mode:
        ctx.out.json(_endpoint_record(endpoint, base))
        return EXIT_OK
    rows: List[List[Any]] = [["id", endpoint.id], ["name", endpoint.name],
                             ["plugin", endpoint.plugin_id], ["hook id", endpoint.hook_id],
                             ["enabled", "yes" if endpoint.enabled else "no"],
                             ["user", endpoint.user_id], ["url", endpoint.url(base)]]
    rows.extend(["setting %s" % name, json.dumps(value, ensure_ascii=False)]
                for name, value in endpoint.masked_settings(_MASK).items())
    ctx.out.table(["FIELD", "VALUE"], rows)
    routes = endpoint.declaration.endpoints if endpoint.declaration else []
    if routes:
        ctx.out.line()
        ctx.out.table(["METHOD", "PATH", "URL", "HIDDEN"],
                      [[r.method, r.path, endpoint.url(base, r.path.split("<", 1)[0]),
                        "yes" if r.hidden else ""] for r in routes])
    return EXIT_OK


@_action("endpoints", "setup", "set up an endpoint of an installed plugin",
         _Argument("--identifier", required=True,
                   help="the installed plugin's unique identifier"),
         _Argument("--name", required=True, help="a name for the endpoint"),
         _Argument("--settings", help="its settings: JSON, @file, or - for stdin"),
         _USER, _BASE_URL, json_shape=_ENDPOINT_JSON,
         examples=("endpoints setup --identifier acme/hooks:0.0.1@<checksum> --name github "
                   "--settings '{\"api_key\": \"...\"}'",))
def _endpoints_setup(ctx: _Context) -> int:
    args = ctx.args
    settings = _json_option(ctx, args.settings, "--settings")
    endpoint = ctx.client().create_endpoint(ctx.tenant(), args.user, args.identifier,
                                            args.name, settings)
    record = _endpoint_record(endpoint, _base_url(ctx))
    if ctx.out.json_mode:
        ctx.out.json(record)
        return EXIT_OK
    ctx.out.line(record["url"])
    ctx.out.info("set up endpoint %s (hook %s) of %s" % (endpoint.id, endpoint.hook_id,
                                                       endpoint.plugin_id))
    return EXIT_OK


@_action("endpoints", "update", "rename an endpoint or change some of its settings",
         _Argument("endpoint_id"), _Argument("--name", help="the new name"),
         _Argument("--settings", help="settings to change, the others are kept: JSON, "
                                      "@file, or - for stdin"),
         _Argument("--replace-settings", action="store_true",
                   help="send --settings as the whole settings"),
         _USER, _BASE_URL, json_shape="the endpoint after the update: " + _ENDPOINT_JSON)
def _endpoints_update(ctx: _Context) -> int:
    client, tenant, args = ctx.client(), ctx.tenant(), ctx.args
    given = _json_option(ctx, args.settings, "--settings")
    current = client.fetch_endpoint(tenant, args.endpoint_id)
    # the listing's masked secrets, sent back unchanged, keep the stored ones
    settings = given if args.replace_settings else dict(current.settings, **given)
    client.update_endpoint(tenant, args.user, current.id, args.name or current.name,
                           settings)
    updated = client.fetch_endpoint(tenant, current.id)
    if ctx.out.json_mode:
        ctx.out.json(_endpoint_record(updated, _base_url(ctx)))
    else:
        ctx.out.info("updated endpoint %s (%s)" % (updated.id, updated.name))
    return EXIT_OK


def _endpoint_switch(ctx: _Context, action: str) -> int:
    client, tenant, endpoint_id = ctx.client(), ctx.tenant(), ctx.args.endpoint_id
    method = {"enable": client.enable_endpoint, "disable": client.disable_endpoint,
              "remove": client.delete_endpoint}[action]
    method(tenant, endpoint_id)
    past = {"enable": "enabled", "disable": "disabled", "remove": "removed"}[action]
    if ctx.out.json_mode:
        ctx.out.json({"endpoint_id": endpoint_id, past: True})
    else:
        ctx.out.info("%s endpoint %s" % (past, endpoint_id))
    return EXIT_OK


@_action("endpoints", "enable", "let an endpoint answer again", _Argument("endpoint_id"),
         json_shape="{endpoint_id, enabled: true}")
def _endpoints_enable(ctx: _Context) -> int:
    return _endpoint_switch(ctx, "enable")


@_action("endpoints", "disable", "make an endpoint answer 404 until enabled",
         _Argument("endpoint_id"), json_shape="{endpoint_id, disabled: true}")
def _endpoints_disable(ctx: _Context) -> int:
    return _endpoint_switch(ctx, "disable")


@_action("endpoints", "remove", "remove an endpoint", _Argument("endpoint_id"),
         json_shape="{endpoint_id, removed: true}")
def _endpoints_remove(ctx: _Context) -> int:
    return _endpoint_switch(ctx, "remove")


@_action("endpoints", "url", "print the public URL of an endpoint",
         _Argument("endpoint", help="endpoint id, or its hook id"),
         _Argument("--path", default="", help="a route of the endpoint, e.g. /webhook"),
         _BASE_URL, json_shape="{endpoint_id, hook_id, url}",
         examples=("endpoints url <endpoint-id> --path /webhook --base-url "
                   "https://plugins.example.com",))
def _endpoints_url(ctx: _Context) -> int:
    target = ctx.args.endpoint
    endpoint_id = None
    hook_id = target
    if _UUID_RE.match(target):
        endpoint = ctx.client().fetch_endpoint(ctx.tenant(), target)
        endpoint_id, hook_id = endpoint.id, endpoint.hook_id
    url = endpoint_url(_base_url(ctx), hook_id, ctx.args.path)
    return _show_json_or_lines(ctx, {"endpoint_id": endpoint_id, "hook_id": hook_id,
                                     "url": url}, url)


# --- agent strategies --------------------------------------------------------


class _AgentMessagePrinter(_MessagePrinter):
    """Invoke output with log messages indented by their place in the log tree."""

    def __init__(self, out: _Output, output_dir: Optional[str]) -> None:
        super().__init__(out, output_dir)
        self.logs = LogTree()

    def show(self, message: ToolInvokeMessage) -> None:
        node = self.logs.add(message)
        if node is None or self.out.json_mode:
            super().show(message)
            return
        log = node.log
        self._note("%slog [%s] %s%s" % ("  " * node.depth, log.status, log.label,
                                        ": %s" % log.error if log.error else ""))


@_command("agents", "list agent strategy providers and run a strategy",
          examples=("agents", "agents show acme/agent/agent react",
                    "agents invoke --provider acme/agent/agent --strategy react "
                    "--params '{\"query\": \"hi\"}'"))
def _cmd_agents(ctx: _Context) -> int:
    """Without an action: list."""
    return _agents_list(ctx)


@_action("agents", "list", "list agent strategy providers and their strategies",
         json_shape="[{provider, plugin_id, plugin_unique_identifier, declaration: "
                    "{identity, strategies}, meta, ...}, ...]")
def _agents_list(ctx: _Context) -> int:
    return _show_providers(ctx, ctx.client().fetch_agent_strategy_providers(ctx.tenant()),
                           "agent strategy", ["STRATEGIES"], lambda declaration: [
                               ", ".join(s.identity.name for s in declaration.strategies)])


def _show_providers(ctx: _Context, providers: Sequence[Any], kind: str, columns: List[str],
                    cells: Callable[[Any], List[Any]]) -> int:
    """A listing of installed providers: JSON, a note when there are none, or a table
    of each provider's name, ``columns`` (from its declaration) and plugin."""
    if ctx.out.json_mode:
        ctx.out.json([provider.to_dict() for provider in providers])
    elif not providers:
        ctx.out.info("no %s providers installed for tenant %s" % (kind, ctx.tenant()))
    else:
        ctx.out.table(["PROVIDER"] + columns + ["PLUGIN"], [
            [p.full_name] + (cells(p.declaration) if p.declaration else [""] * len(columns))
            + [p.plugin_unique_identifier] for p in providers])
    return EXIT_OK


@_action("agents", "show", "show a provider's strategies, or one strategy's parameters",
         _Argument("provider", help="plugin_id/provider"),
         _Argument("strategy", nargs="?", help="a strategy of that provider"),
         json_shape="the provider; with STRATEGY the strategy's declaration")
def _agents_show(ctx: _Context) -> int:
    provider = ctx.client().fetch_agent_strategy_provider(ctx.tenant(), ctx.args.provider)
    strategies = provider.declaration.strategies if provider.declaration else []
    if ctx.args.strategy:
        return _show_member(ctx, provider.full_name, strategies, ctx.args.strategy,
                            "strategy", "strategies")
    if ctx.out.json_mode:
        ctx.out.json(provider.to_dict())
        return EXIT_OK
    _members_table(ctx, "STRATEGY", strategies)
    return EXIT_OK


def _show_member(ctx: _Context, provider_name: str, members: Sequence[Any], wanted: str,
                 kind: str, plural: str) -> int:
    """One strategy, datasource or event of a provider: its declaration (--json) or its
    parameters. An unknown name is a usage error that lists the known ones."""
    member = _named(members, wanted)
    if member is None:
        raise InvalidArgumentError("provider %s has no %s %r; its %s: %s" % (
            provider_name, kind, wanted, plural,
            ", ".join(m.identity.name for m in members) or "none"), argument=kind)
    if ctx.out.json_mode:
        ctx.out.json(member.to_dict())
        return EXIT_OK
    _show_parameters(ctx, "%s  (%s)" % (member.identity.name, provider_name),
                     member.parameters)
    return EXIT_OK


def _members_table(ctx: _Context, column: str, members: Sequence[Any]) -> None:
    """A provider's strategies, datasources or events: name, parameters, description."""
    ctx.out.table([column, "PARAMETERS", "DESCRIPTION"],
                  [[m.identity.name, ", ".join(p.name for p in m.parameters),
                    _label(m.description)] for m in members])


@_action("agents", "invoke", "run an agent strategy and print its messages as they arrive",
         _Argument("--provider", required=True, help="plugin_id/provider (see agents list)"),
         _Argument("--strategy", required=True, help="strategy name"),
         _Argument("--params", help="strategy parameters: JSON, @file, or - for stdin"),
         _Argument("--context", help="invoke context for the plugin: JSON or @file"),
         _USER, _OUTPUT_DIR, _Argument("--conversation-id"), _Argument("--app-id"),
         _Argument("--message-id"),
         json_shape="NDJSON: one {type, message, meta} per message as it arrives; a saved "
                    "blob's message is {path, size}",
         examples=("agents invoke --provider acme/agent/agent --strategy react "
                   "--params @params.json --output-dir out/",))
def _agents_invoke(ctx: _Context) -> int:
    args = ctx.args
    params = _json_option(ctx, args.params, "--params")
    context = _json_option(ctx, args.context, "--context") if args.context else None
    _make_output_dir(args.output_dir)
    stream = ctx.client().invoke_agent_strategy(
        ctx.tenant(), args.user, args.provider, args.strategy, params,
        conversation_id=args.conversation_id, app_id=args.app_id,
        message_id=args.message_id, context=context)
    return _print_stream(ctx, stream, _AgentMessagePrinter(ctx.out, args.output_dir))


# --- datasources -------------------------------------------------------------


class _DatasourcePrinter(_MessagePrinter):
    """Datasource messages: a blob is saved under the ``file_name`` its meta gives."""

    name_keys = ("filename", "file_name")


_DATASOURCE = _Argument("--datasource", required=True, help="the datasource's name")
_DATASOURCE_PROVIDER = _Argument("--provider", required=True,
                                 help="plugin_id/provider (see datasources list)")


@_command("datasources", "list datasource providers and read from them",
          examples=("datasources", "datasources validate --provider acme/notion/notion "
                    "--credentials @creds.json",
                    "datasources pages --provider acme/notion/notion --datasource pages "
                    "--credentials @creds.json"))
def _cmd_datasources(ctx: _Context) -> int:
    """Without an action: list."""
    return _datasources_list(ctx)


@_action("datasources", "list", "list datasource providers",
         json_shape="[{provider, plugin_id, plugin_unique_identifier, declaration: "
                    "{identity, provider_type, credentials_schema, datasources}, ...}, ...]")
def _datasources_list(ctx: _Context) -> int:
    return _show_providers(ctx, ctx.client().fetch_datasource_providers(ctx.tenant()),
                           "datasource", ["TYPE", "DATASOURCES"], lambda declaration: [
                               declaration.provider_type,
                               ", ".join(d.identity.name for d in declaration.datasources)])


@_action("datasources", "show", "show a provider's datasources, or one's parameters",
         _Argument("provider", help="plugin_id/provider"),
         _Argument("datasource", nargs="?", help="a datasource of that provider"),
         json_shape="the provider; with DATASOURCE the datasource's declaration")
def _datasources_show(ctx: _Context) -> int:
    provider = ctx.client().fetch_datasource_provider(ctx.tenant(), ctx.args.provider)
    declaration = provider.declaration
    datasources = declaration.datasources if declaration else []
    if ctx.args.datasource:
        return _show_member(ctx, provider.full_name, datasources, ctx.args.datasource,
                            "datasource", "datasources")
    if ctx.out.json_mode:
        ctx.out.json(provider.to_dict())
        return EXIT_OK
    ctx.out.line("%s  (%s)" % (provider.full_name,
                               declaration.provider_type if declaration else "?"))
    _members_table(ctx, "DATASOURCE", datasources)
    if declaration is not None and declaration.credentials_schema:
        ctx.out.info("credentials: %s" % ", ".join(
            c.name + (" (required)" if c.required else "")
            for c in declaration.credentials_schema))
    return EXIT_OK


@_action("datasources", "validate", "check credentials with the datasource provider",
         _DATASOURCE_PROVIDER, _CREDENTIALS, _USER,
         json_shape=_VALIDATE_JSON)
def _datasources_validate(ctx: _Context) -> int:
    return _check_credentials_command(ctx, ctx.client().validate_datasource_credentials)


def _datasource_arguments(ctx: _Context) -> Tuple[str, str, str, str, Dict[str, Any]]:
    args = ctx.args
    return (ctx.tenant(), args.user, args.provider, args.datasource,
            _json_option(ctx, args.credentials, "--credentials"))


@_action("datasources", "crawl", "crawl a website, showing progress",
         _DATASOURCE_PROVIDER, _DATASOURCE,
         _Argument("--params", help="datasource parameters: JSON, @file, or - for stdin"),
         _CREDENTIALS, _CREDENTIAL_TYPE, _USER,
         json_shape="NDJSON: one {status, completed, total, web_info_list: [{source_url, "
                    "title, description, content}]} per progress report")
def _datasources_crawl(ctx: _Context) -> int:
    tenant, user, provider, datasource, credentials = _datasource_arguments(ctx)
    params = _json_option(ctx, ctx.args.params, "--params")
    last: Optional[WebsiteCrawlResult] = None
    stream = ctx.client().get_website_crawl(tenant, user, provider, datasource, credentials,
                                            params, credential_type=ctx.args.credential_type)
    try:
        for progress in stream:
            last = progress
            if ctx.out.json_mode:
                ctx.out.ndjson(progress.to_dict())
            else:
                ctx.out.info("%s %d/%d" % (progress.status, progress.completed,
                                           progress.total))
    finally:
        stream.close()
    if last is not None and not ctx.out.json_mode:
        ctx.out.table(["URL", "TITLE", "DESCRIPTION"],
                      [[page.source_url, page.title, page.description]
                       for page in last.web_info_list])
    return EXIT_OK


@_action("datasources", "pages", "list the pages of an online document source",
         _DATASOURCE_PROVIDER, _DATASOURCE,
         _Argument("--params", help="datasource parameters: JSON, @file, or - for stdin"),
         _CREDENTIALS, _CREDENTIAL_TYPE, _USER,
         json_shape="[{workspace_id, workspace_name, workspace_icon, total, pages: "
                    "[{page_id, page_name, type, parent_id, last_edited_time, ...}]}]")
def _datasources_pages(ctx: _Context) -> int:
    tenant, user, provider, datasource, credentials = _datasource_arguments(ctx)
    params = _json_option(ctx, ctx.args.params, "--params")
    workspaces = ctx.client().get_online_document_pages(
        tenant, user, provider, datasource, credentials, params,
        credential_type=ctx.args.credential_type)
    if ctx.out.json_mode:
        ctx.out.json([workspace.to_dict() for workspace in workspaces])
        return EXIT_OK
    ctx.out.table(["WORKSPACE", "PAGE ID", "NAME", "TYPE", "PARENT"],
                  [[w.workspace_id, p.page_id, p.page_name, p.type, p.parent_id]
                   for w in workspaces for p in w.pages])
    return EXIT_OK


@_action("datasources", "page-content", "print one online document page's content",
         _DATASOURCE_PROVIDER, _DATASOURCE, _Argument("--page-id", required=True),
         _Argument("--workspace-id", help="the page's workspace (see pages)"),
         _Argument("--type", default="page", help="the page's type (default page)"),
         _CREDENTIALS, _CREDENTIAL_TYPE, _USER, _OUTPUT_DIR,
         json_shape="NDJSON: one {type, message, meta} per message; a saved blob's message "
                    "is {path, size}")
def _datasources_page_content(ctx: _Context) -> int:
    tenant, user, provider, datasource, credentials = _datasource_arguments(ctx)
    args = ctx.args
    _make_output_dir(args.output_dir)
    page = {"workspace_id": args.workspace_id or "", "page_id": args.page_id,
            "type": args.type}
    stream = ctx.client().get_online_document_page_content(
        tenant, user, provider, datasource, credentials, page,
        credential_type=args.credential_type)
    return _print_stream(ctx, stream, _DatasourcePrinter(ctx.out, args.output_dir))


@_action("datasources", "browse", "list files and folders of an online drive",
         _DATASOURCE_PROVIDER, _DATASOURCE,
         _Argument("--prefix", default="", help="the folder to list (its id; default: top)"),
         _Argument("--bucket"), _Argument("--max-keys", type=_positive_int, default=100),
         _Argument("--next-page", help="next_page_parameters from a truncated listing: JSON"),
         _CREDENTIALS, _CREDENTIAL_TYPE, _USER,
         json_shape="[{bucket, files: [{id, name, size, type}], is_truncated, "
                    "next_page_parameters}]")
def _datasources_browse(ctx: _Context) -> int:
    tenant, user, provider, datasource, credentials = _datasource_arguments(ctx)
    args = ctx.args
    next_page = _json_option(ctx, args.next_page, "--next-page") if args.next_page else None
    buckets = ctx.client().online_drive_browse_files(
        tenant, user, provider, datasource, credentials, prefix=args.prefix,
        max_keys=args.max_keys, bucket=args.bucket, next_page_parameters=next_page,
        credential_type=args.credential_type)
    if ctx.out.json_mode:
        ctx.out.json([bucket.to_dict() for bucket in buckets])
        return EXIT_OK
    ctx.out.table(["BUCKET", "ID", "NAME", "TYPE", "SIZE"],
                  [[b.bucket, f.id, f.name, f.type, f.size] for b in buckets for f in b.files])
    for bucket in buckets:
        if bucket.is_truncated:
            ctx.out.info("more files: add --next-page '%s'" % json.dumps(
                bucket.next_page_parameters or {}))
    return EXIT_OK


@_action("datasources", "download", "download a file of an online drive",
         _DATASOURCE_PROVIDER, _DATASOURCE,
         _Argument("--file-id", required=True, help="the file's id (see browse)"),
         _Argument("--bucket"), _CREDENTIALS, _CREDENTIAL_TYPE, _USER, _OUTPUT_DIR,
         json_shape="NDJSON: one {type, message, meta} per message; a saved blob's message "
                    "is {path, size}")
def _datasources_download(ctx: _Context) -> int:
    tenant, user, provider, datasource, credentials = _datasource_arguments(ctx)
    args = ctx.args
    _make_output_dir(args.output_dir)
    stream = ctx.client().online_drive_download_file(
        tenant, user, provider, datasource, credentials, args.file_id, bucket=args.bucket,
        credential_type=args.credential_type)
    return _print_stream(ctx, stream, _DatasourcePrinter(ctx.out, args.output_dir))


# --- triggers ----------------------------------------------------------------

_TRIGGER_PROVIDER = _Argument("--provider", required=True,
                              help="plugin_id/provider (see triggers list)")
_SUBSCRIPTION = _Argument("--subscription", required=True,
                          help="the subscription subscribe gave: JSON, @file, or - for stdin")
_SAVE = _Argument("--save", metavar="PATH",
                  help="write the whole subscription (secret properties included) to PATH, "
                       "readable by you only (subscribe: a new file; refresh may replace "
                       "the one it read)")
_REQUEST = (
    _Argument("--method", default="POST", help="the webhook request's method (default POST)"),
    _Argument("--path", default="/", help="its path and query (default /)"),
    _Argument("--header", action="append", default=[], metavar="'NAME: VALUE'",
              help="a header of it (repeatable)"),
    _Argument("--body", help="its body: text, @file, or - for stdin"),
)
_SUBSCRIPTION_JSON = "{endpoint, expires_at, parameters, properties (secret ones masked)}"


def _webhook_request(ctx: _Context) -> RawHttpRequest:
    """The webhook request the --method/--path/--header/--body options describe."""
    args = ctx.args
    headers = []
    for text in args.header:
        name, colon, value = text.partition(":")
        if not colon:
            raise InvalidArgumentError("--header must be 'Name: value', got %r" % text,
                                       argument="--header")
        headers.append((name.strip(), value.strip()))
    body = _argument_bytes(args.body, "--body", ctx.stdin)[0] if args.body else b""
    try:
        return RawHttpRequest(args.method, args.path, headers, body)
    except HttpMessageError as exc:
        raise InvalidArgumentError(exc.message, argument="--header") from None


def _secret_properties(ctx: _Context, provider: str) -> Set[str]:
    declaration = ctx.client().fetch_trigger_provider(ctx.tenant(), provider).declaration
    return {config.name for config in (declaration.subscription_schema if declaration else [])
            if config.type == "secret-input"}


def _subscription_command(ctx: _Context, call: Callable[[], TriggerSubscription],
                          replacing: bool) -> int:
    """subscribe and refresh: print the subscription with its secret properties masked;
    --save keeps it whole, in a file readable by its owner only. The file is checked, and
    its new version begun, before the call, so an answer is never lost to a path that
    cannot be written; ``replacing`` (refresh) may replace a file that is there."""
    path = ctx.args.save
    if path == "-":
        raise InvalidArgumentError("--save takes a file (the subscription, secrets masked, "
                                   "is printed on stdout anyway)", argument="--save")
    if path and not replacing and os.path.lexists(path):
        raise InvalidArgumentError(
            "--save %s already exists: it may hold another subscription, whose properties "
            "unsubscribe needs; remove it or choose another path" % path, argument="--save")
    if not path:
        return _show_subscription(ctx, call())
    with _ReplacedFile(path, "--save", private=True) as saved:
        subscription = call()
        text = json.dumps(subscription.to_dict(), indent=2, ensure_ascii=False) + "\n"
        try:
            saved.write(text.encode("utf-8"))
            saved.commit()
        except InvalidArgumentError as exc:  # (a disk that filled up meanwhile, say)
            raise _unsaved_subscription(exc.message, text, subscription) from None
    ctx.out.info("subscription saved to %s" % path)
    return _show_subscription(ctx, subscription)


def _unsaved_subscription(problem: str, text: str,
                          subscription: TriggerSubscription) -> DifyPluginError:
    """The error for a subscription made but not saved where asked: it is kept in a
    private file of the temporary folder if it can be, since unsubscribe needs it."""
    import tempfile

    try:
        descriptor, kept = tempfile.mkstemp(prefix="dify-subscription-", suffix=".json")
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:  # (mkstemp: 0600)
            handle.write(text)
    except OSError:
        return DifyPluginError("the subscription was made, but %s, and it could not be kept "
                               "anywhere else: remove it at the provider (endpoint %s)"
                               % (problem, subscription.endpoint))
    return DifyPluginError("the subscription was made, but %s; it is kept in %s instead "
                           "(unsubscribe needs it)" % (problem, kept))


def _show_subscription(ctx: _Context, subscription: TriggerSubscription) -> int:
    record = subscription.to_dict()
    secret = _secret_properties(ctx, ctx.args.provider)
    shown = dict(record, properties={
        name: _MASK if name in secret and value not in (None, "") else value
        for name, value in subscription.properties.items()})
    if secret & set(subscription.properties) and not ctx.args.save:
        ctx.out.info("secret properties are masked; --save PATH keeps the whole subscription")
    ctx.out.json(shown)
    return EXIT_OK


@_command("triggers", "list trigger providers, manage subscriptions, dispatch webhooks",
          examples=("triggers", "triggers subscribe --provider acme/gh/gh --endpoint "
                    "https://hooks.example.com/gh --credentials @creds.json --save sub.json",
                    "triggers dispatch --provider acme/gh/gh --subscription @sub.json "
                    "--path /gh --header 'Content-Type: application/json' --body @push.json"))
def _cmd_triggers(ctx: _Context) -> int:
    """Without an action: list."""
    return _triggers_list(ctx)


@_action("triggers", "list", "list trigger providers and their events",
         json_shape="[{provider, plugin_id, plugin_unique_identifier, declaration: "
                    "{identity, subscription_schema, subscription_constructor, events}}, ...]")
def _triggers_list(ctx: _Context) -> int:
    return _show_providers(ctx, ctx.client().fetch_trigger_providers(ctx.tenant()), "trigger",
                           ["EVENTS"], lambda declaration: [
                               ", ".join(e.identity.name for e in declaration.events)])


@_action("triggers", "show", "show a provider's events, or one event's parameters",
         _Argument("provider", help="plugin_id/provider"),
         _Argument("event", nargs="?", help="an event of that provider"),
         json_shape="the provider; with EVENT the event's declaration")
def _triggers_show(ctx: _Context) -> int:
    provider = ctx.client().fetch_trigger_provider(ctx.tenant(), ctx.args.provider)
    declaration = provider.declaration
    events = declaration.events if declaration else []
    if ctx.args.event:
        return _show_member(ctx, provider.full_name, events, ctx.args.event, "event", "events")
    if ctx.out.json_mode:
        ctx.out.json(provider.to_dict())
        return EXIT_OK
    _members_table(ctx, "EVENT", events)
    constructor = declaration.subscription_constructor if declaration else None
    if constructor is not None:
        ctx.out.info("subscription parameters: %s; credentials: %s" % (
            ", ".join(p.name for p in constructor.parameters) or "none",
            ", ".join(c.name for c in constructor.credentials_schema) or "none"))
    return EXIT_OK


@_action("triggers", "validate", "check credentials with the trigger provider",
         _TRIGGER_PROVIDER, _CREDENTIALS, _USER,
         json_shape=_VALIDATE_JSON)
def _triggers_validate(ctx: _Context) -> int:
    return _check_credentials_command(ctx, ctx.client().validate_trigger_credentials)


@_action("triggers", "subscribe", "subscribe to the provider's events at an endpoint URL",
         _TRIGGER_PROVIDER,
         _Argument("--endpoint", required=True, help="the URL events are to be sent to"),
         _Argument("--params", help="subscription parameters: JSON, @file, or - for stdin"),
         _CREDENTIALS, _CREDENTIAL_TYPE, _USER, _SAVE, json_shape=_SUBSCRIPTION_JSON)
def _triggers_subscribe(ctx: _Context) -> int:
    args = ctx.args
    return _subscription_command(ctx, lambda: ctx.client().subscribe_trigger(
        ctx.tenant(), args.user, args.provider, args.endpoint,
        _json_option(ctx, args.params, "--params"),
        _json_option(ctx, args.credentials, "--credentials"), args.credential_type), False)


@_action("triggers", "refresh", "renew a subscription", _TRIGGER_PROVIDER, _SUBSCRIPTION,
         _CREDENTIALS, _CREDENTIAL_TYPE, _USER, _SAVE, json_shape=_SUBSCRIPTION_JSON)
def _triggers_refresh(ctx: _Context) -> int:
    args = ctx.args
    return _subscription_command(ctx, lambda: ctx.client().refresh_trigger(
        ctx.tenant(), args.user, args.provider,
        _json_option(ctx, args.subscription, "--subscription"),
        _json_option(ctx, args.credentials, "--credentials"), args.credential_type), True)


@_action("triggers", "unsubscribe", "remove a subscription", _TRIGGER_PROVIDER,
         _SUBSCRIPTION, _CREDENTIALS, _CREDENTIAL_TYPE, _USER,
         json_shape="{success, message}; success false exits 1")
def _triggers_unsubscribe(ctx: _Context) -> int:
    args = ctx.args
    result = ctx.client().unsubscribe_trigger(
        ctx.tenant(), args.user, args.provider,
        _json_option(ctx, args.subscription, "--subscription"),
        _json_option(ctx, args.credentials, "--credentials"), args.credential_type)
    if ctx.out.json_mode:
        ctx.out.json(result.to_dict())
    else:
        ctx.out.info("%s: %s" % ("unsubscribed" if result.success else "not unsubscribed",
                                 result.message or "(no message)"))
    return EXIT_OK if result.success else EXIT_FAILED


@_action("triggers", "dispatch", "hand a webhook request to the plugin: events and response",
         _TRIGGER_PROVIDER, _SUBSCRIPTION, *_REQUEST, _CREDENTIALS, _CREDENTIAL_TYPE, _USER,
         json_shape="{user_id, events, payload, response: {status, reason, headers, body}}")
def _triggers_dispatch(ctx: _Context) -> int:
    args = ctx.args
    result = ctx.client().dispatch_trigger_event(
        ctx.tenant(), args.user, args.provider,
        _json_option(ctx, args.subscription, "--subscription"), _webhook_request(ctx),
        _json_option(ctx, args.credentials, "--credentials"), args.credential_type)
    response = result.http_response()
    if ctx.out.json_mode:
        ctx.out.json({"user_id": result.user_id, "events": result.events,
                      "payload": result.payload,
                      "response": {"status": response.status, "reason": response.reason,
                                   "headers": [list(pair) for pair in response.headers],
                                   "body": response.text}})
        return EXIT_OK
    ctx.out.line("events: %s" % (", ".join(result.events) or "none"))
    if result.user_id:
        ctx.out.line("user: %s" % result.user_id)
    ctx.out.line("payload: %s" % json.dumps(result.payload, ensure_ascii=False))
    ctx.out.line("response: %d %s" % (response.status, response.reason))
    for name, value in response.headers:
        ctx.out.line("  %s: %s" % (name, value))
    if response.body:
        ctx.out.line(response.text)
    return EXIT_OK


@_action("triggers", "invoke-event", "turn a webhook into one event's variables",
         _TRIGGER_PROVIDER, _Argument("--event", required=True, help="the event's name"),
         _SUBSCRIPTION, *_REQUEST,
         _Argument("--params", help="event parameters: JSON, @file, or - for stdin"),
         _Argument("--payload", help="the payload dispatch returned: JSON or @file"),
         _CREDENTIALS, _CREDENTIAL_TYPE, _USER,
         json_shape="{variables, cancelled}")
def _triggers_invoke_event(ctx: _Context) -> int:
    args = ctx.args
    result = ctx.client().invoke_trigger_event(
        ctx.tenant(), args.user, args.provider, args.event,
        _json_option(ctx, args.subscription, "--subscription"), _webhook_request(ctx),
        _json_option(ctx, args.params, "--params"), _json_option(ctx, args.payload, "--payload"),
        _json_option(ctx, args.credentials, "--credentials"), args.credential_type)
    if ctx.out.json_mode:
        ctx.out.json(result.to_dict())
    elif result.cancelled:
        ctx.out.info("the plugin ignored this event (cancelled)")
    else:
        ctx.out.line(json.dumps(result.variables, indent=2, ensure_ascii=False))
    return EXIT_OK


# =============================================================================
# Command line: parser and main
# =============================================================================


#: The options that are not settings: (flag, metavar, help).
_OTHER_OPTIONS = (
    ("--config", "PATH", "JSON config file [default %s]" % DEFAULT_CONFIG_FILE),
    ("--json", None, "print machine-readable JSON (NDJSON for streams); errors too, as one "
                     "JSON object on stderr"),
    ("--wide", None, "never cut table columns to the terminal's width"),
    ("--debug", None, "log requests and show tracebacks on stderr"),
)


def _global_options(parser: Any, suppress: bool, listed: bool = True) -> None:
    """The options accepted before and after the command: one per setting, and these.

    The copy on each subcommand uses SUPPRESS defaults, so a flag given before the
    command is not reset by the subcommand's parser. Unless ``listed``, argparse does
    not list them (the top-level --help shows them from :func:`_options_list`, which
    costs far less than argparse's formatting of each).
    """
    import argparse

    default = argparse.SUPPRESS if suppress else None
    group = parser.add_argument_group("settings (also accepted after the command)")
    for flag, metavar, text, boolean, name in _option_rows():
        shown = text if listed else argparse.SUPPRESS
        if boolean:
            group.add_argument(flag, action="store_true", default=default, help=shown)
        else:
            group.add_argument(flag, default=default, help=shown, metavar=metavar, dest=name)
    group.add_argument("--version", action="version",
                       version="dify-plugin-client %s" % __version__,
                       help="show the version and exit" if listed else argparse.SUPPRESS)


def _option_rows() -> List[Tuple[str, Optional[str], str, bool, str]]:
    """(flag, metavar, help, takes no value, dest) of each global option."""
    rows: List[Tuple[str, Optional[str], str, bool, str]] = []
    for setting in _SETTINGS:
        shown = setting.default if setting.default not in (None, False) else None
        text = "%s\n[env %s%s]" % (setting.help, setting.env,
                                   ", default %s" % shown if shown is not None else "")
        rows.append((setting.flag, setting.metavar or setting.name.upper(), text,
                     setting.boolean, setting.name))
    for flag, metavar, text in _OTHER_OPTIONS:
        rows.append((flag, metavar, text, metavar is None, flag[2:]))
    return rows


def _options_list() -> str:
    """The global options and what they do, for the top-level --help."""
    lines = []
    for flag, metavar, text, boolean, _ in _option_rows():
        left = flag if boolean else "%s %s" % (flag, metavar)
        lines.append("  %s %s" % (left.ljust(24), text.replace("\n", "\n" + " " * 27)))
    lines.append("  %s %s" % ("--version".ljust(24), "show the version and exit"))
    return "\n".join(lines)


_EPILOG = """\
settings: flags > environment > config file (~/.dify, JSON; keys as the flags, e.g.
"max_package_size") > defaults; `config` shows each one's source.
exit codes: 0 ok, 1 the daemon refused or the operation failed, 2 usage or input error,
3 cannot reach the daemon or timed out, 4 the daemon refused the key, 130 interrupted,
143 terminated."""


#: The global options that take a value (the token after them is not a command).
_VALUE_OPTIONS = tuple(setting.flag for setting in _SETTINGS
                       if not setting.boolean) + ("--config",)


def _command_in(argv: Sequence[str]) -> Optional[str]:
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


def _build_parser(argv: Optional[Sequence[str]] = None) -> Any:
    """The CLI's parser. Given ``argv``, only the command it names gets its options:
    building all of them took most of the time of ``--help``."""
    import argparse

    program = _program_name()
    parser = argparse.ArgumentParser(
        prog=program, description="Manage and invoke plugins on a Dify Plugin Daemon.",
        epilog="settings (also accepted after the command):\n%s\n\n%s"
               % (_options_list(), _EPILOG),
        usage="%s [SETTINGS] COMMAND ..." % program,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _global_options(parser, suppress=False, listed=False)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands",
                                       description=_command_list(),
                                       help="`%s COMMAND --help` shows its options"
                                            % program)
    wanted = None if argv is None else _command_in(argv)
    for name, command in _COMMANDS.items():
        if wanted is not None and name != wanted:  # unknown names: argparse still refuses
            continue
        sub = _add_command(subparsers, command, program, "handler")
        if command.actions:
            actions = sub.add_subparsers(dest="action", metavar="ACTION")
            for action in command.actions.values():
                _add_command(actions, action, "%s %s" % (program, name), "action_handler")
    return parser


def _add_command(subparsers: Any, command: _Command, program: str, handler_name: str) -> Any:
    import argparse

    prog = "%s %s" % (program, command.name)
    sub = subparsers.add_parser(command.name, help=command.help, description=command.help,
                                prog=prog, epilog=command.epilog(prog),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    _global_options(sub, suppress=True, listed=False)  # listed in the epilog
    sub.set_defaults(**{handler_name: command.handler})
    groups: Dict[str, Any] = {}
    for argument in command.arguments:
        options = dict(argument.options)
        group_name = options.pop("group", None)
        target = sub
        if group_name is not None:
            if group_name not in groups:
                groups[group_name] = sub.add_mutually_exclusive_group(required=True)
            target = groups[group_name]
        target.add_argument(*argument.flags, **options)
    return sub


def _overview() -> str:
    """The top-level --help: what argparse would print, written here, for speed."""
    program = _program_name()
    return ("usage: %s [SETTINGS] COMMAND ...\n\n"
            "Manage and invoke plugins on a Dify Plugin Daemon.\n\n"
            "commands:\n%s\n\n  `%s COMMAND --help` shows its options\n\n"
            "settings (also accepted after the command):\n%s\n\n%s\n"
            % (program, "\n".join("  " + line for line in _command_list().splitlines()),
               program, _options_list(), _EPILOG))


def _command_list() -> str:
    """The commands and what they do, for --help (written here: building a parser per
    command only to list them would cost more than the rest of --help)."""
    width = max(len(name) for name in _COMMANDS) + 2
    return "\n".join("%s%s" % (name.ljust(width), command.help)
                     for name, command in _COMMANDS.items())


def _mistyped_command(argv: Sequence[str]) -> Optional[str]:
    """A message for a command name that is not one ("did you mean ...?"), else None."""
    if _command_in(argv) is not None:
        return None
    word = next((token for index, token in enumerate(argv) if not token.startswith("-")
                 and (index == 0 or argv[index - 1] not in _VALUE_OPTIONS)), "")
    import difflib

    close = difflib.get_close_matches(word, list(_COMMANDS), n=3, cutoff=0.6)
    return "%s: unknown command %r%s; `%s --help` lists the commands" % (
        _program_name(), word, "; did you mean %s?" % " or ".join(close) if close else "",
        _program_name())


class _Terminated(KeyboardInterrupt):
    """SIGTERM, while a CLI command runs: unwinds it as Ctrl-C does."""


def _sigterm_unwinds() -> Callable[[], None]:
    """Make SIGTERM stop the command as Ctrl-C does, so what it was writing is removed
    (a half-written file, a partial package); returns what puts the old handler back.
    Only where signals can be handled (the main thread, a platform with SIGTERM)."""
    import signal

    def stop(signum: int, frame: Any) -> None:
        raise _Terminated()
    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except (ValueError, AttributeError, OSError):  # not the main thread, or no SIGTERM
        return lambda: None

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)
    return restore


def _cli_hint(error: DifyPluginError, args: Any = None) -> None:
    """Say in a hint what a CLI user does (flags, commands), where the API's names Python
    settings and methods. (A wait that timed out gets its resume command where it waited.)"""
    hint = error.hint or ""
    provider = getattr(args, "provider", None)
    if isinstance(error, PluginNotFoundError) and not hint and isinstance(provider, str) \
            and "/" not in provider:
        error.hint = ("a provider without '/' stands for langgenius/%s/%s, as in Dify; give "
                      "author/plugin/provider as the list commands show it" % (provider,
                                                                              provider))
    elif isinstance(error, PackageTooLargeError):
        error.hint = ("raise the daemon's MAX_PLUGIN_PACKAGE_SIZE (MAX_BUNDLE_PACKAGE_SIZE for "
                      "bundles), then pass --max-package-size SIZE (--max-bundle-size SIZE)")
    elif "verify=" in hint:
        error.hint = ("TLS verification failed: pass --cacert PATH (the CA that signed the "
                      "daemon's certificate), or --insecure for a test daemon")
    elif "upgrade_plugin" in hint:
        error.hint = "switch versions with: %s upgrade --identifier NEW_IDENTIFIER" % (
            _program_name())
    elif "first_token_timeout" in hint:
        error.hint = "raise --first-token-timeout SECONDS"


def _usage_failure(stderr: TextIO, json_mode: bool, message: str) -> int:
    """A usage error found before a command runs; with --json as an error object."""
    if json_mode:
        stderr.write(_error_json(InvalidArgumentError(message), EXIT_USAGE) + "\n")
    else:
        stderr.write(message + "\n")
    return EXIT_USAGE


def _argparse_message(printed: str) -> str:
    """The message of a usage error argparse printed ("PROG: error: MESSAGE" after the
    usage lines), with the program named."""
    lines = [line for line in printed.splitlines() if line.strip()]
    return lines[-1] if lines else "bad usage; see --help"


def _error_json(error: DifyPluginError, exit_code: int, name: Optional[str] = None) -> str:
    """An error as --json prints it on stderr: one JSON object (``name`` in place of its
    class name, for what is not a DifyPluginError)."""
    return json.dumps({"error": name or type(error).__name__, "message": error.message,
                       "route": error.route, "http_status": error.http_status,
                       "code": error.code, "error_type": error.error_type,
                       "hint": error.hint, "exit_code": exit_code}, ensure_ascii=False)


def _exit_code(error: BaseException) -> int:
    if isinstance(error, (PluginDaemonUnauthorizedError,)) or (
            isinstance(error, HTTPStatusError) and error.status_code in (401, 403)):
        return EXIT_AUTH
    if isinstance(error, (TransportError, InstallTimeoutError)):
        return EXIT_UNREACHABLE
    if isinstance(error, (ToolNotFoundError, ModelNotFoundError)):  # not found, as the
        return EXIT_FAILED                                            # daemon would say
    if isinstance(error, (InvalidArgumentError, ConfigError)):
        return EXIT_USAGE
    return EXIT_FAILED


def main(argv: Optional[Sequence[str]] = None, *, environ: Optional[Mapping[str, str]] = None,
         stdin: Optional[TextIO] = None, stdout: Optional[TextIO] = None,
         stderr: Optional[TextIO] = None) -> int:
    """Run the CLI; returns the exit code (see ``--help`` for their meaning)."""
    environ = os.environ if environ is None else environ
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv in ([], ["-h"], ["--help"]):  # the overview, written without building a parser
        (stdout if argv else stderr).write(_overview())
        return EXIT_OK if argv else EXIT_USAGE
    json_mode = any(token.startswith("--j") and "--json".startswith(token)  # (abbreviated)
                    for token in (argv[:argv.index("--")] if "--" in argv else argv))
    mistyped = _mistyped_command(argv)
    if mistyped:
        return _usage_failure(stderr, json_mode, mistyped)
    parser = _build_parser(argv)
    import contextlib
    import io

    captured = io.StringIO() if json_mode else None  # with --json: as one JSON object
    try:
        # argparse prints help, version and usage errors to sys.stdout/sys.stderr
        with contextlib.redirect_stdout(stdout), \
                contextlib.redirect_stderr(captured if captured is not None else stderr):
            args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed
        code = exc.code if isinstance(exc.code, int) else EXIT_USAGE
        if captured is not None and code != EXIT_OK:
            return _usage_failure(stderr, True, _argparse_message(captured.getvalue()))
        return code
    if not getattr(args, "command", None):
        if json_mode:
            return _usage_failure(stderr, True, "no command given; `%s --help` lists them"
                                  % _program_name())
        parser.print_help(stderr)
        return EXIT_USAGE
    debug = bool(getattr(args, "debug", False))
    out = _Output(stdout, stderr, bool(getattr(args, "json", False)), environ,
                  wide=bool(getattr(args, "wide", False)))
    handler = None
    if debug:
        handler = _enable_debug_logging(stderr)
    ctx = None
    restore_sigterm = _sigterm_unwinds()
    try:
        settings = _load_settings(args, environ, lambda text: out.info("warning: " + text))
        ctx = _Context(args, settings, out, stdin)
        handler_of = getattr(args, "action_handler", None) or args.handler
        return int(handler_of(ctx))
    except KeyboardInterrupt as stop:
        terminated = isinstance(stop, _Terminated)
        code = EXIT_TERMINATED if terminated else EXIT_INTERRUPTED
        word = "terminated" if terminated else "interrupted"
        if out.json_mode:
            out.info(_error_json(DifyPluginError(word), code, "KeyboardInterrupt"))
        else:
            out.info(word)
        return code
    except DifyPluginError as error:
        if debug:
            import traceback

            traceback.print_exc(file=stderr)
        _cli_hint(error, args)
        code = _exit_code(error)
        if out.json_mode:
            out.info(_error_json(error, code))
        else:
            out.info("%s: error: %s" % (_program_name(), error))
        return code
    except BrokenPipeError:
        return EXIT_FAILED  # e.g. piped into `head`
    finally:
        restore_sigterm()
        if ctx is not None:
            ctx.close()
        if handler is not None:
            _logger().removeHandler(handler)
        try:
            stdout.flush()
        except (OSError, ValueError):
            pass


def _enable_debug_logging(stream: TextIO) -> Any:
    import logging

    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("debug: %(message)s"))
    logger = _logger()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    return handler


# =============================================================================
# Import paths of the seed's client
# =============================================================================
#
# Code written for the seed's client imports entities from package paths such as
# `dify_plugin_client.entities.plugin`. This is one module, so those paths are
# registered as views of it: every public name resolves to the same object.

_SEED_PATHS = ("entities", "entities.plugin", "entities.plugin_daemon", "entities.bundle",
               "entities.tool", "errors")


class _ModuleView(type(sys)):  # type: ignore[misc]
    """A submodule path whose names are this module's public names."""

    __all__ = __all__

    def __getattr__(self, name: str) -> Any:
        if name in __all__:
            return globals()[name]
        raise AttributeError("module %r has no attribute %r" % (self.__name__, name))


def _register_seed_paths(base: str) -> None:
    for path in _SEED_PATHS:
        name = "%s.%s" % (base, path)
        if name not in sys.modules:
            view = _ModuleView(name, "a view of %s (one module; see its docstring)" % base)
            sys.modules[name] = view
            parent, _, child = name.rpartition(".")
            if parent in sys.modules:
                setattr(sys.modules[parent], child, view)


_register_seed_paths("dify_plugin_client" if __name__ == "__main__" else __name__)


if __name__ == "__main__":
    # Run as a script or with -m: make `import dify_plugin_client` elsewhere find this
    # same module instead of loading a second copy with distinct classes.
    sys.modules.setdefault("dify_plugin_client", sys.modules[__name__])
    _INVOCATION[0] = "python -m " + __spec__.name if __spec__ is not None else (
        _script_invocation(sys.argv[0]))
    sys.exit(main())
