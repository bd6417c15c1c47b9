"""Shared helper (no Endpoint class here): the JSON echo of a request."""

import json
from collections.abc import Mapping

from werkzeug import Request, Response

PLUGIN_HEADER = ("X-Echo-Plugin", "echoendpoint")


def echo_response(r: Request, values: Mapping, settings: Mapping) -> Response:
    raw = r.get_data()
    body_text = raw.decode("utf-8", errors="replace")
    try:
        body_json = json.loads(body_text) if body_text else None
    except ValueError:
        body_json = None
    payload = {
        "method": r.method,
        "path": r.path,
        "full_path": r.full_path,
        "url": r.url,
        "query": {key: r.args.getlist(key) for key in r.args.keys()},
        "headers": dict(r.headers.items()),
        "body_text": body_text,
        "body_json": body_json,
        "values": dict(values),
        "settings": dict(settings),
    }
    return Response(
        json.dumps(payload, sort_keys=True),
        status=200,
        headers=[PLUGIN_HEADER],
        content_type="application/json",
    )
