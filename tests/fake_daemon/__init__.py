"""A fake Dify Plugin Daemon for hermetic tests.

It speaks the daemon's HTTP API the way the Go service does (gin routing, the
``{"code","message","data"}`` envelope, JSON-in-JSON error messages, Go JSON
encoding, chunked ``text/event-stream`` dispatch streams) and keeps all state in
memory.  The contract it follows is ``shared/reference/daemon-api.md``,
``tools.md`` and ``real-daemon.md`` §7.

In-process use::

    with FakeDaemon(key="k") as daemon:
        pkg = sample_plugin()
        uid = daemon.add_package({...})          # or upload over HTTP
        ...  # point the client at daemon.url

As a separate process (benchmarks, memory tests)::

    python tests/fake_daemon --host 127.0.0.1 --port 0 --key K
    # prints "URL http://127.0.0.1:PORT" and serves until SIGTERM / SIGINT

Layout:

* ``wire``: Go-style JSON, times, ids, error envelopes;
* ``server``: HTTP server and handler, request recording, gin-like binding and
  validation, the router;
* ``multipart``: multipart/form-data over a spooled body;
* ``packages``: .difypkg / .difybndl decoding, declarations, identifiers;
* ``state``: :class:`FakeDaemon` (lifecycle, observation, scenario knobs, state);
* ``dispatch``: the generic dispatch mechanism (:class:`DispatchRoute`);
* ``routes/``: one module per route group;
* ``builders``: :func:`build_package`, :func:`sample_plugin`, :func:`blob_chunks`;
* ``cli`` / ``__main__``: the standalone command.

Standard library only, plus PyYAML for the YAML files inside packages.
Works on Python 3.8 through 3.13.
"""

from .builders import blob_chunks, build_package, sample_plugin
from .cli import main  # noqa: F401  (as in the former single module)
from .dispatch import DispatchCall, DispatchRoute, encode_chunk
from .packages import package_identifier
from .routes.tools import _chunk_event  # noqa: F401  (bench/fixtures.py)
from .server import _Field as Field
from .server import RecordedRequest
from .state import FakeDaemon
from .wire import FakePluginError, go_json

__all__ = [
    "DispatchCall",
    "DispatchRoute",
    "FakeDaemon",
    "FakePluginError",
    "Field",
    "RecordedRequest",
    "blob_chunks",
    "build_package",
    "encode_chunk",
    "go_json",
    "package_identifier",
    "sample_plugin",
]

# Also importable from here, as from the former single module: ``main`` (the
# command line) and ``_chunk_event`` (bench/fixtures.py frames tool chunks with it).
# ``Field`` is the binding spec a DispatchRoute's ``data_fields`` are made of.
