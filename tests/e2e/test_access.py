"""Health, keys, reachability and checks the client makes before any request."""

import json

import pytest

from e2e_support import dpc, make_client


def test_health_answers_ok_and_names_the_release(client, real_daemon):
    health = client.health()
    assert isinstance(health, dpc.DaemonHealth)
    assert health.status == "ok"
    # Binaries linked without the release's flags report "" (then there is nothing to
    # compare); a reported version must be the one the run was told.
    assert health.version in ("", real_daemon.version_text)


def test_health_needs_no_key(real_daemon):
    with make_client(real_daemon.url, "not-the-key") as wrong:
        assert wrong.health().status == "ok"


def test_wrong_key_raises_unauthorized_on_every_kind_of_call(real_daemon, tenant, pkgs):
    with make_client(real_daemon.url, "not-the-key-%s" % tenant[:8]) as wrong:
        with pytest.raises(dpc.PluginDaemonUnauthorizedError) as listed:
            wrong.list_plugins(tenant)
        assert listed.value.http_status == 401
        with pytest.raises(dpc.PluginDaemonUnauthorizedError):
            wrong.upload_pkg(tenant, pkgs.old.data)
        with pytest.raises(dpc.PluginDaemonUnauthorizedError):
            list(wrong.invoke(tenant, "e2e-user", "e2etest/e2e_tools/e2e_tools", "echo_types",
                              {}, {"text": "x"}, cast_parameters=False))
    assert real_daemon.key not in str(listed.value)


def test_cli_wrong_key_exits_4(cli, tenant):
    result = cli("list", tenant=tenant, key="not-the-key-%s" % tenant[:8])
    assert result.rc == 4, result
    assert "unauthorized" in result.err.lower()


def test_unreachable_daemon_is_a_connect_error(closed_url, tenant):
    with make_client(closed_url, "any-key", timeout=5.0, retries=0) as nowhere:
        with pytest.raises(dpc.ConnectError):
            nowhere.list_plugins(tenant)
        with pytest.raises(dpc.TransportError):
            nowhere.health()


def test_cli_unreachable_daemon_exits_3(cli, closed_url, tenant):
    result = cli("--timeout", "5", "list", tenant=tenant, url=closed_url)
    assert result.rc == 3, result
    assert "error" in result.err
    result = cli("health", url=closed_url)
    assert result.rc == 3, result


def test_non_uuid_tenant_is_refused_before_sending(closed_url):
    # Against a closed port: an InvalidArgumentError (not a ConnectError) shows that no
    # connection was attempted.
    with make_client(closed_url, "any-key", retries=0) as nowhere:
        for call in (lambda: nowhere.list_plugins("tenant-1"),
                     lambda: nowhere.upload_pkg("tenant-1", b"PK"),
                     lambda: nowhere.invoke("tenant-1", "u", "a/b/c", "t", {}, {})):
            with pytest.raises(dpc.InvalidArgumentError) as refused:
                call()
            assert refused.value.argument == "tenant_id"


def test_non_uuid_tenant_is_refused_by_the_real_client_too(client):
    with pytest.raises(dpc.InvalidArgumentError):
        client.list_plugins("tenant-1")


def test_cli_non_uuid_tenant_exits_2(cli):
    result = cli("list", tenant="tenant-1")
    assert result.rc == 2, result
    assert "tenant-1" in result.err and "UUID" in result.err


def test_cli_health_text_and_json(cli, real_daemon):
    result = cli("health")
    assert result.rc == 0, result
    assert result.out.split()[0] == "ok"
    assert real_daemon.url in result.out
    result = cli("health", "--json")
    assert result.rc == 0, result
    answer = json.loads(result.out)
    assert answer["status"] == "ok"
    assert answer.get("version", "") in ("", real_daemon.version_text)


def test_the_suite_refuses_to_run_without_its_settings(tmp_path):
    """Run without DIFY_E2E_*, the suite stops with a usage error, not skips."""
    import os
    import subprocess
    import sys

    from e2e_support import E2E_DIR, REPO_DIR

    env = {name: value for name, value in os.environ.items() if not name.startswith("DIFY_E2E_")}
    done = subprocess.run([sys.executable, "-m", "pytest", E2E_DIR, "-q", "--collect-only",
                           "-p", "no:cacheprovider"], cwd=REPO_DIR, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    output = done.stdout.decode("utf-8", "replace")
    assert done.returncode != 0, output
    for name in ("DIFY_E2E_URL", "DIFY_E2E_KEY", "DIFY_E2E_VERSION"):
        assert name in output, output
