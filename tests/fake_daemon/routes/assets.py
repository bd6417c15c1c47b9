"""Asset routes: ``/plugin/:tenant_id/asset/:id`` (icons by asset id) and ``extract-asset`` (a package file)."""

from ..server import _HANDLED, _Field
from ..wire import _internal
from .common import _TENANT, _UID_QUERY, add_routes

_EXTRACT_FIELDS = [_TENANT, _UID_QUERY, _Field("FilePath", "form", "file_path", "str", "required")]


def register(router, daemon):
    add_routes(router, daemon, [
        ("GET", "/plugin/:tenant_id/asset/:id", _r_asset, True),
        ("GET", "/plugin/:tenant_id/extract-asset/", _r_extract_asset, True),
    ])


def _r_asset(daemon, h):
    with daemon._lock:
        data = daemon._assets.get(h.params.get("id", ""))
    if data is None:
        h.send_body(200, b"", None)   # local storage: a missing asset is an empty 200
    else:
        h.send_body(200, data, "application/octet-stream")
    return _HANDLED


def _r_extract_asset(daemon, h):
    values = h.bind(_EXTRACT_FIELDS)
    with daemon._lock:
        package = daemon._packages.get(values["PluginUniqueIdentifier"])
    if package is None or values["FilePath"] not in package.files:
        raise _internal("file not found: %s" % values["FilePath"], status=500)
    h.send_body(200, package.files[values["FilePath"]], "application/octet-stream")
    return _HANDLED
