"""Fixtures of the end-to-end suite, which runs against a RUNNING real Dify Plugin Daemon.

The daemon is named by the environment; nothing has a default:

    DIFY_E2E_URL      its base URL, e.g. http://127.0.0.1:5002
    DIFY_E2E_KEY      its SERVER_KEY
    DIFY_E2E_VERSION  its release, x.y.z (e.g. 0.6.10 or 0.5.4), for version-specific expectations

Without them the run stops with a usage error (pytest exit status 4); nothing is skipped.
Run: ``python -m pytest tests/e2e -q`` (the default run ignores tests/e2e).

Each session builds its own packages of the test plugin (tests/e2e/plugin) with random
versions, installs each once and shares it; tests use fresh tenants; at the end of the
session everything it installed is uninstalled.
"""

import os
import socket
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import e2e_support as support  # noqa: E402
from e2e_support import dpc  # noqa: E402


def pytest_configure(config):
    missing = support.missing_settings(os.environ)
    if missing:
        raise pytest.UsageError(
            "the end-to-end suite needs a running Dify Plugin Daemon; set %s.\n"
            "  For example: DIFY_E2E_URL=http://127.0.0.1:5002 DIFY_E2E_KEY=<its SERVER_KEY> "
            "DIFY_E2E_VERSION=0.6.10 python -m pytest tests/e2e -q\n"
            "  (scripts/real-daemon up starts one and prints the first two; "
            "see tests/e2e/NOTES.md)"
            % "; ".join("%s (%s)" % pair for pair in missing))
    version = os.environ["DIFY_E2E_VERSION"].strip()
    if not support.VERSION_RE.match(version):
        raise pytest.UsageError("DIFY_E2E_VERSION must be the daemon's release as x.y.z "
                                "(no leading v), got %r" % version)
    config.addinivalue_line(
        "markers", "version_specific: the expectation depends on DIFY_E2E_VERSION")


def pytest_report_header(config):
    return "e2e daemon: %s, release %s" % (os.environ.get("DIFY_E2E_URL"),
                                           os.environ.get("DIFY_E2E_VERSION"))


@pytest.fixture(scope="session")
def real_daemon():
    return support.RealDaemon(os.environ["DIFY_E2E_URL"].strip(), os.environ["DIFY_E2E_KEY"],
                              os.environ["DIFY_E2E_VERSION"].strip())


@pytest.fixture(scope="session")
def client(real_daemon):
    """One client shared by the session (the client is thread-safe and reconnects)."""
    with support.make_client(real_daemon.url, real_daemon.key) as shared:
        yield shared


@pytest.fixture(scope="session")
def closed_url():
    """A loopback URL nothing listens on (its port was free a moment ago)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return "http://127.0.0.1:%d" % port


@pytest.fixture(scope="session")
def tenants(client):
    pool = support.Tenants(client)
    yield pool
    problems = pool.cleanup()
    if problems:
        sys.stderr.write("\ne2e cleanup could not remove:\n  %s\n" % "\n  ".join(problems))


@pytest.fixture
def tenant(tenants):
    """A fresh tenant id, nothing installed."""
    return tenants.new()


@pytest.fixture(scope="session")
def pkgs(tmp_path_factory):
    return support.Packages(str(tmp_path_factory.mktemp("pkgs")))


@pytest.fixture(scope="session")
def installed(client, tenants, pkgs):
    """The session's shared installation: pkgs.old for one tenant, through a real task.

    Upload from a path, install, wait with progress. Tests that check this flow look at
    the recorded answers; the others just use the installed plugin.
    """
    tenant = tenants.new()
    decoded = client.upload_pkg(tenant, pkgs.old.path)
    start = client.install_from_identifiers(tenant, [decoded.unique_identifier],
                                            dpc.PluginInstallationSource.Package)
    progress = []
    task = None
    if not start.all_installed:
        task = client.wait_for_installation_task(tenant, start.task_id, timeout=600,
                                                 on_progress=progress.append)
    found = [p for p in client.list_plugins(tenant) if p.plugin_id == support.PLUGIN_ID]
    return support.Installed(tenant, decoded, start, task, progress, found[0] if found else None)


@pytest.fixture
def tenant_with_old(client, tenants, installed, pkgs):
    """A fresh tenant with pkgs.old installed (synchronously: the daemon already runs it)."""
    tenant = tenants.new()
    client.upload_pkg(tenant, pkgs.old.data)
    support.install_and_wait(client, tenant, pkgs.old.identifier)
    return tenant


@pytest.fixture
def cli(real_daemon, monkeypatch, tmp_path):
    """Runs the CLI in process: ``cli("list", "--json", tenant=...) -> (rc, out, err)``."""
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.dify of whoever runs the suite
    return support.Cli(real_daemon)
