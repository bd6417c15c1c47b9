from collections.abc import Mapping

from dify_plugin import Endpoint
from werkzeug import Request, Response

from endpoints.common import echo_response


class EchoPathEndpoint(Endpoint):
    """GET /echo/<path:rest>: same echo; values carries {"rest": ...}."""

    def _invoke(self, r: Request, values: Mapping, settings: Mapping) -> Response:
        return echo_response(r, values, settings)
