from collections.abc import Mapping

from dify_plugin import Endpoint
from werkzeug import Request, Response

from endpoints.common import echo_response


class EchoEndpoint(Endpoint):
    """POST /echo: the request (method, path, query, headers, body, settings) as JSON."""

    def _invoke(self, r: Request, values: Mapping, settings: Mapping) -> Response:
        return echo_response(r, values, settings)
