"""What the route-group tests share (endpoints, agent strategies, datasources, triggers,
tool extras, management extras, /v2, models).

* the offline test plugins of tests/e2e/plugins/ (built by tests/e2e/build_plugin.py),
  uploaded and installed on the fake daemon: :func:`install_echo`;
* the CLI run in process against the fake daemon: :class:`Cli`, and :func:`run_cli` (no
  home directory);
* the route table: :func:`check_route_group`;
* the recorded answers of tests/transcripts/0.6.10-routes/ (:mod:`route_replay`, served
  by the ``replay`` fixture of conftest.py): :func:`run_case` runs one exchange's check,
  :func:`check_folder` fails for any recorded exchange of a folder no check claims;
  answers made up from recorded data (:func:`json_answer`), a listing's request as the
  client sends it (:func:`with_page_size`), and the declarations of the recorded
  uploads (:func:`recorded_declaration`).
"""

import copy
import importlib.util
import io
import os
import re

import dify_plugin_client as dpc
import route_replay as rr
from helpers import KEY, run_main

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


class Cli(object):
    """``cli("endpoints", "list", "--json") -> Run`` against ``daemon`` for ``tenant``."""

    def __init__(self, daemon, tenant, home):
        self.daemon, self.tenant, self.home = daemon, tenant, home

    def __call__(self, *argv, stdin=""):
        environ = {"HOME": str(self.home), dpc.ENV_URL: self.daemon.url, dpc.ENV_KEY: KEY,
                   dpc.ENV_TENANT: self.tenant, "NO_COLOR": "1", "COLUMNS": "300"}
        run = run_main(argv, environ, self.home, stdin)
        assert KEY not in run.out + run.err
        return run


def run_cli(daemon, tenant, *argv, stdin=""):
    """``main(argv)`` against ``daemon`` for ``tenant``, HOME set to a directory that does
    not exist: (exit code, stdout, stderr); the key shows in neither."""
    out, err = io.StringIO(), io.StringIO()
    code = dpc.main(list(argv), environ={"DIFY_PLUGIN_DAEMON_URL": daemon.url,
                                         "DIFY_PLUGIN_DAEMON_KEY": KEY,
                                         "DIFY_PLUGIN_TENANT_ID": tenant, "HOME": "/nonexistent"},
                    stdin=io.StringIO(stdin), stdout=out, stderr=err)
    assert KEY not in out.getvalue() + err.getvalue()
    return code, out.getvalue(), err.getvalue()


def check_route_group(fragment, count, prefix="/plugin/"):
    """The route table holds ``count`` routes whose path starts with ``prefix`` and holds
    ``fragment``, and each names a method of the client."""
    mine = [row for row in dpc.ROUTES if fragment in row[1] and row[1].startswith(prefix)]
    assert len(mine) == count
    for _method, _path, name in mine:
        assert callable(getattr(dpc.DifyPluginClient, name))


# --- the recorded answers ----------------------------------------------------------------


def case_id(key):
    """The test id of a recorded exchange: ``folder/file.json[index]``."""
    return "%s[%d]" % key


def run_case(cases, replay, key, tmp_dir=None):
    """Run the check ``cases`` holds for the recorded exchange ``key`` on ``replay`` (reset
    first); every answer the check queued must have been asked for. The check finds
    ``tmp_dir`` (where it may write files) as the exchange's ``tmp_dir``."""
    replay.reset()
    recorded = rr.Replayed(replay, key)
    recorded.tmp_dir = tmp_dir
    cases.table[key](recorded)
    assert replay.pending == 0, "recorded answers left unsent"


def check_folder(cases, folders, elsewhere=()):
    """Every exchange of ``folders`` has a check, but for the files named in ``elsewhere``
    (another test module checks those), and every check a recorded exchange."""
    unchecked, unknown = cases.unchecked(folders, elsewhere)
    assert unchecked == [], "recorded exchanges no test checks: %s" % unchecked
    assert unknown == [], "checks of exchanges that are not recorded: %s" % unknown
    assert cases.keys(), "no checks at all"


def json_answer(data=None, status=200, code=0, message="success"):
    """An exchange whose response is the daemon's envelope (made up from recorded data)."""
    return {"response": {"status": status, "reason": "OK",
                         "headers": [["Content-Type", "application/json; charset=utf-8"]],
                         "body_kind": "json", "body": {"code": code, "message": message,
                                                       "data": data}}}


def with_page_size(exchange, size=256):
    """The recorded listing request as the client makes it: every listing of the client
    reads all pages, 256 a page (the recorder asked for fewer)."""
    changed = copy.deepcopy(exchange)
    changed["request"]["target"] = re.sub(r"page_size=\d+", "page_size=%d" % size,
                                          changed["request"]["target"])
    return changed


def recorded_declaration(file_name, cls, section):
    """(the decoded upload, its ``section`` declaration as ``cls``) of the upload answer
    recorded in 0.6.10-routes/management/``file_name`` (PluginDeclaration keeps a
    declaration as a dict, or types it)."""
    manifest = rr.exchange("management", file_name, 0)["response"]["body"]["data"]
    decoded = dpc.PluginDecodeResponse.from_dict(manifest)
    value = getattr(decoded.manifest, section)
    return decoded, value if isinstance(value, cls) else cls.from_dict(value)
