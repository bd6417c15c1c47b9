"""``GET /health/check``: no key, reports the daemon version and the request counters."""

from ..server import _HANDLED
from ..wire import go_json
from .common import add_routes


def register(router, daemon):
    add_routes(router, daemon, [("GET", "/health/check", _r_health, False)])


def _r_health(daemon, h):
    with daemon._stats_lock:
        active, dispatch = daemon._active, daemon._active_dispatch
    h.send_body(200, go_json({
        "active_dispatch_requests": dispatch,
        "active_requests": active,
        "build_time": "",
        "platform": "local",
        "pool_status": {"free": 10000, "busy": 0, "total": 10000},
        "status": "ok",
        "version": daemon.version,
    }))
    return _HANDLED
