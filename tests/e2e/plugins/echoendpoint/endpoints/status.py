from collections.abc import Mapping

from dify_plugin import Endpoint
from werkzeug import Request, Response

# A code above this makes the endpoint raise (the SDK answers 500).
MAX_CODE = 598


class StatusEndpoint(Endpoint):
    """PUT /status/<int:code>: answers with that status and a short text body;
    a code above 598 raises RuntimeError instead."""

    def _invoke(self, r: Request, values: Mapping, settings: Mapping) -> Response:
        code = int(values["code"])
        if code > MAX_CODE or code < 100:
            # Not a ValueError: the SDK turns ValueError into 404.
            raise RuntimeError("endpoint raised on purpose")
        return Response("status %d from plugin" % code, status=code)
