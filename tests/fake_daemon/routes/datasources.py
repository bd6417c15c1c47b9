"""Datasource routes: discovery and the six ``datasource/*`` dispatch routes.

* ``GET .../management/datasources`` and ``.../datasource?plugin_id&provider``;
* dispatch (tenant and ``/v2``): ``validate_credentials`` ``{provider, credentials}`` ->
  ``{result}``; ``get_website_crawl`` and ``get_online_document_pages``
  ``{provider, datasource, credentials, datasource_parameters (required)}`` ->
  ``{result: {...}}`` per progress report / ``{result: [workspace, ...]}``;
  ``get_online_document_page_content`` ``{..., page (required)}`` and
  ``online_drive_download_file`` ``{..., request: {bucket?, id}}`` -> tool-shaped
  messages ``{type, message, meta}`` (not merged: the daemon passes blob chunks through
  here); ``online_drive_browse_files`` ``{..., request: {bucket?, prefix, max_keys
  (required), next_page_parameters?}}`` -> ``{result: [bucket, ...]}``.

The plugin side is the handler a test sets, else a small default: every credential is
accepted, a crawl completes at once with no pages, a workspace has no pages, a page's
content is one text message, a drive is empty, a download is one blob of the file id.
An unknown provider or datasource fails as the SDK does.  Recorded ground truth:
tests/transcripts/0.6.10-routes/datasource/.
"""

import base64

from ..dispatch import DispatchRoute, encode_chunk, register_dispatch_route
from ..server import _Field
from ..wire import _go_value, go_json
from .providers import member_names, register_listing
from .tools import _chunk_event

_PROVIDER = _Field("Provider", "json", "provider", "str", "required")
_BASE = [
    _Field("Provider", "json", "provider", "str", "required", ns="BaseRequestInvokeDatasource.Provider"),
    _Field("Datasource", "json", "datasource", "str", "required", ns="BaseRequestInvokeDatasource.Datasource"),
]
_PARAMETERS = _Field("DatasourceParameters", "json", "datasource_parameters", "map", "required")


def _check(call, kind):
    """The SDK's not-found errors for the provider and datasource named in ``data``."""
    provider, names = member_names(call, "datasource")
    if call.data.get("provider") != provider:
        raise ValueError("Datasource provider %s not found" % call.data.get("provider"))
    if kind is not None and call.data.get("datasource") not in names:
        raise ValueError("%s datasource %s not found for provider %s" % (kind, call.data.get("datasource"),
                                                                         provider))


def _validate(call):
    _check(call, None)
    yield {"result": True}


def _crawl(call):
    _check(call, "Website crawl")
    yield {"result": {"status": "completed", "web_info_list": [], "total": 0, "completed": 0}}


def _pages(call):
    _check(call, "Online document")
    yield {"result": []}


def _content(call):
    _check(call, "Online document")
    page = call.data.get("page") or {}
    yield {"type": "text", "message": {"text": "content of %s" % page.get("page_id")}, "meta": None}


def _browse(call):
    _check(call, "Online drive")
    request = call.data.get("request") or {}
    yield {"result": [{"bucket": request.get("bucket"), "files": [], "is_truncated": False,
                       "next_page_parameters": None}]}


def _download(call):
    _check(call, "Online drive")
    request = call.data.get("request") or {}
    blob = base64.b64encode(str(request.get("id")).encode("utf-8")).decode("ascii")
    yield {"type": "blob", "message": {"blob": blob}, "meta": {"file_name": request.get("id")}}


def _result_event(chunk):
    """A ``{result: ...}`` chunk: the result is a Go map (keys sorted) or a list of them."""
    if isinstance(chunk, dict) and set(chunk) == {"result"}:
        return go_json({"code": 0, "message": "success", "data": {"result": _go_value(chunk["result"])}})
    return encode_chunk(chunk)


ROUTES = [
    DispatchRoute("datasource/validate_credentials", "RequestValidateDatasourceCredentials",
                  [_PROVIDER, _Field("Credentials", "json", "credentials", "map")], handler=_validate),
    DispatchRoute("datasource/get_website_crawl", "RequestDatasourceGetWebsiteCrawl", _BASE + [_PARAMETERS],
                  handler=_crawl, encode=_result_event),
    DispatchRoute("datasource/get_online_document_pages", "RequestDatasourceGetOnlineDocumentPages",
                  _BASE + [_PARAMETERS], handler=_pages, encode=_result_event),
    DispatchRoute("datasource/get_online_document_page_content",
                  "RequestInvokeOnlineDocumentDatasourceGetContent",
                  _BASE + [_Field("Page", "json", "page", "map", "required")], handler=_content,
                  encode=_chunk_event),
    DispatchRoute("datasource/online_drive_browse_files", "DatasourceOnlineDriveBrowseFilesRequest", _BASE + [
        _Field("Request", "json", "request", "struct", "required", sub=[
            _Field("Bucket", "json", "bucket", "str"),
            _Field("Prefix", "json", "prefix", "str"),
            _Field("MaxKeys", "json", "max_keys", "int", "required"),
            _Field("NextPageParameters", "json", "next_page_parameters", "map"),
        ]),
    ], handler=_browse, encode=_result_event),
    DispatchRoute("datasource/online_drive_download_file", "DatasourceOnlineDriveDownloadFileRequest", _BASE + [
        _Field("Request", "json", "request", "struct", "required", sub=[
            _Field("Bucket", "json", "bucket", "str"),
            _Field("ID", "json", "id", "str", "required"),
        ]),
    ], handler=_download, encode=_chunk_event),
]


def register(router, daemon):
    register_listing(router, daemon, "datasources", "datasource", "datasource")
    for route in ROUTES:
        register_dispatch_route(router, daemon, route)
