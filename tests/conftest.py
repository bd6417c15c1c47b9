"""Shared pytest fixtures: a fresh fake daemon and tenant per test."""

import os
import sys
import uuid

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(TESTS_DIR)
for _path in (TESTS_DIR, REPO_DIR):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import io  # noqa: E402
import json  # noqa: E402

import dify_plugin_client as dpc  # noqa: E402
from fake_daemon import FakeDaemon, sample_plugin  # noqa: E402
from helpers import KEY  # noqa: E402


@pytest.fixture
def daemon():
    """A started FakeDaemon (key ``test-key``) on a free loopback port, stopped afterwards."""
    fake = FakeDaemon().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def tenant():
    """A fresh tenant id (a uuid4 string, as the daemon's Postgres columns require)."""
    return str(uuid.uuid4())


# --- the command line, run in process ----------------------------------------------


class Run:
    """The result of one CLI run."""

    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err

    def json(self):
        return json.loads(self.out)

    def __repr__(self):
        return "Run(code=%r, out=%r, err=%r)" % (self.code, self.out[-500:], self.err[-500:])


@pytest.fixture
def cli(daemon, tenant, tmp_path):
    """Run main() in-process with a clean environment pointing at the fake daemon."""
    home = tmp_path / "home"
    home.mkdir()

    def run(*argv, env=None, stdin="", use_env=True):
        environ = {"HOME": str(home)}
        if use_env:
            environ.update({dpc.ENV_URL: daemon.url, dpc.ENV_KEY: KEY, dpc.ENV_TENANT: tenant})
        # installs in these tests take the fake daemon some 50 ms: look again soon
        environ.setdefault("DIFY_PLUGIN_DAEMON_POLL_INTERVAL", "0.02")
        environ.update(env or {})
        out, err = io.StringIO(), io.StringIO()
        old_home = os.environ.get("HOME")
        os.environ["HOME"] = str(home)  # expanduser("~/.dify") follows HOME
        try:
            code = dpc.main(list(argv), environ=environ, stdin=io.StringIO(stdin), stdout=out,
                            stderr=err)
        finally:
            if old_home is not None:
                os.environ["HOME"] = old_home
        return Run(code, out.getvalue(), err.getvalue())

    run.home = home
    return run


@pytest.fixture
def package(tmp_path):
    path = tmp_path / "echo.difypkg"
    path.write_bytes(sample_plugin())
    return path


def pytest_terminal_summary(terminalreporter):
    """How many recorded daemon exchanges the replay tests covered in this run."""
    for name in ("test_transcripts_client", "test_transcripts_fake"):
        report = getattr(sys.modules.get(name), "replay_report", None)
        if report is not None:
            terminalreporter.write_line(report())

