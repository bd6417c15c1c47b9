import time
from collections.abc import Generator, Mapping

from dify_plugin import Endpoint
from werkzeug import Request, Response

DEFAULT_DELAY_MS = 200
MAX_PIECES = 100
MAX_DELAY_MS = 2000


def _int_arg(r: Request, name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(r.args.get(name, str(default)))
    except ValueError:
        value = default
    return max(low, min(value, high))


class StreamEndpoint(Endpoint):
    """GET /stream?n=3&delay_ms=200: status 201, text/plain sent in n pieces
    "piece i of n (<greeting>)\\n", with a pause before every piece after the
    first.

    The pause matters: daemon 0.6.10 can drop every piece after the first when
    the plugin has already ended the stream by the time the daemon starts
    relaying the body (seen 23 times in 30 with no pause)."""

    def _invoke(self, r: Request, values: Mapping, settings: Mapping) -> Response:
        n = _int_arg(r, "n", 3, 0, MAX_PIECES)
        delay = _int_arg(r, "delay_ms", DEFAULT_DELAY_MS, 0, MAX_DELAY_MS) / 1000.0
        greeting = settings.get("greeting") or "hello"

        def pieces() -> Generator[str, None, None]:
            for i in range(1, n + 1):
                if i > 1 and delay:
                    time.sleep(delay)
                yield "piece %d of %d (%s)\n" % (i, n, greeting)

        return Response(pieces(), status=201, headers=[("X-Stream", "yes")], content_type="text/plain")
