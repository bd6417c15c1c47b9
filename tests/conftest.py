"""Shared pytest fixtures: a fresh fake daemon and tenant per test, a client for it, the
CLI run in process, and a route replay server per module (tests/route_replay.py)."""

import os
import sys
import uuid

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(TESTS_DIR)
for _path in (TESTS_DIR, REPO_DIR):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import dify_plugin_client as dpc  # noqa: E402
import route_replay as rr  # noqa: E402
from fake_daemon import FakeDaemon, sample_plugin  # noqa: E402
from helpers import KEY, make_client, run_main  # noqa: E402


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


@pytest.fixture
def client(daemon):
    """A client for ``daemon`` (:func:`helpers.make_client`), closed afterwards."""
    with make_client(daemon) as shared:
        yield shared


@pytest.fixture(scope="module")
def replay():
    """A :class:`route_replay.RouteReplay` server for one test module's recorded exchanges."""
    server = rr.RouteReplay()
    try:
        yield server
    finally:
        server.close()


# --- the command line, run in process ----------------------------------------------


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
        return run_main(argv, environ, home, stdin)

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

