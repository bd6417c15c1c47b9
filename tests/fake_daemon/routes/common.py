"""Pieces every route group uses: shared request fields and route-table registration."""

import functools

from ..server import _Field

_TENANT = _Field("TenantID", "uri", "tenant_id", "str", "required")
_PAGE_FIELDS = [
    _TENANT,
    _Field("Page", "form", "page", "int", "required,min=1"),
    _Field("PageSize", "form", "page_size", "int", "required,min=1,max=256"),
]
_UID_QUERY = _Field("PluginUniqueIdentifier", "form", "plugin_unique_identifier", "str",
                    "required,plugin_unique_identifier")


def page_of(rows, values):
    """The slice of ``rows`` that ``Page`` and ``PageSize`` of ``values`` (bound with ``_PAGE_FIELDS``) ask for."""
    start = (values["Page"] - 1) * values["PageSize"]
    return rows[start:start + values["PageSize"]]


def add_routes(router, daemon, table):
    """Add ``(method, pattern, fn, keyed)`` rows; ``fn(daemon, handler)`` serves the route."""
    for method, pattern, fn, keyed in table:
        router.add(method, pattern, functools.partial(fn, daemon), keyed)
