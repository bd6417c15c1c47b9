from collections.abc import Mapping

from dify_plugin import Endpoint
from werkzeug import Request, Response


class HiddenEndpoint(Endpoint):
    """DELETE /hidden (declared hidden): 204, empty body."""

    def _invoke(self, r: Request, values: Mapping, settings: Mapping) -> Response:
        return Response(b"", status=204)
