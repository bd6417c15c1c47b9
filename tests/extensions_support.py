"""What the endpoint, agent strategy, datasource and trigger tests share.

* the offline test plugins of tests/e2e/plugins/ (built by tests/e2e/build_plugin.py),
  uploaded and installed on the fake daemon: :func:`install_echo`;
* the CLI run in process against the fake daemon: :class:`Cli`;
* the recorded answers of tests/transcripts/0.6.10-routes/ (:mod:`route_replay`): the
  ``replay`` fixture, answers made up from recorded data (:func:`json_answer`), and
  :func:`check_folder`, which fails for any recorded exchange of a folder no check claims.
"""

import importlib.util
import io
import json
import os

import pytest

import dify_plugin_client as dpc
import route_replay as rr
from helpers import KEY

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
_BUILDER = []


def build_plugin():
    """tests/e2e/build_plugin.py as a module (loaded by path: tests/e2e is not a package)."""
    if not _BUILDER:
        path = os.path.join(TESTS_DIR, "e2e", "build_plugin.py")
        spec = importlib.util.spec_from_file_location("_ext_build_plugin", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _BUILDER.append(module)
    return _BUILDER[0]


def install_echo(client, daemon, tenant, name):
    """Upload tests/e2e/plugins/<name> and install it for ``tenant``; its identifier."""
    decoded = client.upload_pkg(tenant, build_plugin().build(plugin=name))
    daemon.install(tenant, decoded.unique_identifier)
    return decoded.unique_identifier


class Run(object):
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err

    def json(self):
        return json.loads(self.out)

    def lines(self):
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]

    def __repr__(self):
        return "Run(code=%r, out=%r, err=%r)" % (self.code, self.out[-800:], self.err[-800:])


class Cli(object):
    """``cli("endpoints", "list", "--json") -> Run`` against ``daemon`` for ``tenant``."""

    def __init__(self, daemon, tenant, home):
        self.daemon, self.tenant, self.home = daemon, tenant, home

    def __call__(self, *argv, stdin=""):
        environ = {"HOME": str(self.home), dpc.ENV_URL: self.daemon.url, dpc.ENV_KEY: KEY,
                   dpc.ENV_TENANT: self.tenant, "NO_COLOR": "1", "COLUMNS": "300"}
        out, err = io.StringIO(), io.StringIO()
        old_home = os.environ.get("HOME")
        os.environ["HOME"] = str(self.home)
        try:
            code = dpc.main(list(argv), environ=environ, stdin=io.StringIO(stdin), stdout=out,
                            stderr=err)
        finally:
            if old_home is not None:
                os.environ["HOME"] = old_home
        run = Run(code, out.getvalue(), err.getvalue())
        assert KEY not in run.out + run.err
        return run


@pytest.fixture(scope="module")
def replay():
    server = rr.RouteReplay()
    try:
        yield server
    finally:
        server.close()


def json_answer(data=None, status=200, code=0, message="success"):
    """An exchange whose response is the daemon's envelope (made up from recorded data)."""
    return {"response": {"status": status, "reason": "OK",
                         "headers": [["Content-Type", "application/json; charset=utf-8"]],
                         "body_kind": "json", "body": {"code": code, "message": message,
                                                       "data": data}}}


def replayed(replay, key):
    replay.reset()
    return rr.Replayed(replay, key)


def check_folder(cases, folders):
    """Every exchange of ``folders`` has a check, and every check a recorded exchange."""
    unchecked, unknown = cases.unchecked(folders)
    assert unchecked == [], "recorded exchanges no test checks: %s" % unchecked
    assert unknown == [], "checks of exchanges that are not recorded: %s" % unknown
    assert cases.keys(), "no checks at all"
