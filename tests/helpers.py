"""Shared test helpers: a client for the fake daemon, an installed sample plugin, and the
command line run in process."""

import io
import json
import os

import dify_plugin_client as dpc
from fake_daemon import sample_plugin

KEY = "test-key"


def make_client(target, key=None, **options):
    """The one way tests make a client: for ``target`` (the fake daemon, a replay server,
    or a base URL), with ``key`` (default: the target's own key, else KEY) and a 10 s
    timeout unless ``options`` say otherwise."""
    url = target if isinstance(target, str) else target.url
    if key is None:
        key = getattr(target, "key", KEY)
    options.setdefault("timeout", 10.0)
    return dpc.DifyPluginClient(dpc.PluginConfig(url=url, key=key, **options))


def install_sample(client, tenant, **plugin_kwargs):
    """Upload and install the sample plugin; returns its unique identifier."""
    decoded = client.upload_pkg(tenant, sample_plugin(**plugin_kwargs))
    start = client.install_from_identifiers(tenant, [decoded.unique_identifier],
                                            dpc.PluginInstallationSource.Package, [{}])
    if not start.all_installed:
        client.wait_for_installation_task(tenant, start.task_id, timeout=10, poll_interval=0.05)
    return decoded.unique_identifier


def last_request(daemon, path_suffix=None):
    for request in reversed(daemon.requests):
        if path_suffix is None or request.path.endswith(path_suffix):
            return request
    raise AssertionError("no request to %s" % path_suffix)


class Run(object):
    """The result of one CLI run: exit code, stdout and stderr."""

    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err

    def json(self):
        return json.loads(self.out)

    def lines(self):
        """stdout as JSON lines (``--json`` of a streaming command)."""
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]

    def __repr__(self):
        return "Run(code=%r, out=%r, err=%r)" % (self.code, self.out[-800:], self.err[-800:])


def run_main(argv, environ, home, stdin=""):
    """``main(argv)`` in process with ``environ``; HOME is ``home`` during the run, since
    expanduser("~/.dify") follows HOME whatever ``environ`` says. A :class:`Run`."""
    out, err = io.StringIO(), io.StringIO()
    old_home = os.environ.get("HOME")
    os.environ["HOME"] = str(home)
    try:
        code = dpc.main(list(argv), environ=environ, stdin=io.StringIO(stdin), stdout=out,
                        stderr=err)
    finally:
        if old_home is not None:
            os.environ["HOME"] = old_home
    return Run(code, out.getvalue(), err.getvalue())
