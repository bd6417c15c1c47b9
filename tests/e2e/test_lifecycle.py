"""Upgrade, uninstall, and install tasks that do not exist."""

import json
import uuid

import pytest

from e2e_support import (PLUGIN_ID, PROVIDER, UPGRADE_BUILDS_ENVIRONMENT_FROM, dpc,
                         install_and_wait, only)


def _version_seen_by_invoke(client, tenant):
    messages = list(client.invoke(tenant, "e2e-user", PROVIDER, "echo_types", {},
                                  {"text": "v"}))
    return only(messages, "json").message.data["plugin_version"]


# --------------------------------------------------------------------------- upgrade


def _upgrade_builds_environment(real_daemon):
    return real_daemon.at_least(*UPGRADE_BUILDS_ENVIRONMENT_FROM)


@pytest.fixture(scope="module")
def upgraded(client, real_daemon, tenants, installed, pkgs):
    """A tenant upgraded from pkgs.old to pkgs.new through the API, waiting with progress.

    Version-specific: on releases that cannot build an environment inside an upgrade task
    (see UPGRADE_BUILDS_ENVIRONMENT_FROM) pkgs.new is first installed in a scratch tenant,
    which builds its environment and starts it; it stays installed there (until the
    session's cleanup) because a runtime stopped by its last uninstall is not started
    again by such an upgrade ("no proper instance" on invoke, seen on 0.5.4).
    """
    if not _upgrade_builds_environment(real_daemon):
        scratch = tenants.new()
        client.upload_pkg(scratch, pkgs.new.data)
        install_and_wait(client, scratch, pkgs.new.identifier)
    tenant = tenants.new()
    client.upload_pkg(tenant, pkgs.old.data)
    install_and_wait(client, tenant, pkgs.old.identifier)
    before = _version_seen_by_invoke(client, tenant)
    client.upload_pkg(tenant, pkgs.new.path)
    upgrade = client.upgrade_plugin(tenant, pkgs.old.identifier, pkgs.new.identifier,
                                    dpc.PluginInstallationSource.Package, {})
    progress = []
    task = None
    if not upgrade.all_installed:
        task = client.wait_for_installation_task(tenant, upgrade.task_id, timeout=600,
                                                 on_progress=progress.append)
    return tenant, before, upgrade, task, progress


@pytest.mark.version_specific
def test_upgrade_runs_a_task(upgraded, real_daemon, pkgs):
    _, before, upgrade, task, progress = upgraded
    assert before == pkgs.old.version
    if upgrade.all_installed and not _upgrade_builds_environment(real_daemon):
        # the scratch install made the new version known to the daemon: a synchronous
        # upgrade, nothing to wait for
        assert task is None and not upgrade.task_id
        return
    # pkgs.new is installed nowhere: the daemon answers with a task
    assert upgrade.all_installed is False and upgrade.task_id
    assert task.status == dpc.PluginInstallTaskStatus.Success
    assert [p.plugin_unique_identifier for p in task.plugins] == [pkgs.new.identifier]
    assert progress and progress[-1].status == dpc.PluginInstallTaskStatus.Success


def test_after_upgrade_the_new_version_is_installed_and_invoked(client, upgraded, pkgs):
    tenant = upgraded[0]
    plugins = client.list_plugins(tenant)
    assert [(p.plugin_unique_identifier, p.version) for p in plugins] == [
        (pkgs.new.identifier, pkgs.new.version)]
    assert _version_seen_by_invoke(client, tenant) == pkgs.new.version
    installation = client.fetch_plugin_installation_by_ids(tenant, [PLUGIN_ID])
    assert [i.plugin_unique_identifier for i in installation] == [pkgs.new.identifier]
    assert client.fetch_missing_dependencies(tenant, [pkgs.new.identifier]) == []


def test_upgrade_arguments_are_checked_before_sending(client, upgraded, pkgs):
    tenant = upgraded[0]
    with pytest.raises(dpc.InvalidArgumentError):
        client.upgrade_plugin(tenant, pkgs.new.identifier, pkgs.new.identifier, "package")
    with pytest.raises(dpc.InvalidArgumentError):
        client.upgrade_plugin(tenant, pkgs.new.identifier, pkgs.broken.identifier, "package")


def test_cli_upgrade_by_file(cli, client, upgraded, tenant_with_old, pkgs):
    # after `upgraded`: on every release pkgs.new's environment exists by now
    result = cli("upgrade", "--file", pkgs.new.path, tenant=tenant_with_old)
    assert result.rc == 0, result
    assert pkgs.new.identifier in result.out + result.err
    assert [p.plugin_unique_identifier for p in client.list_plugins(tenant_with_old)] == [
        pkgs.new.identifier]
    assert _version_seen_by_invoke(client, tenant_with_old) == pkgs.new.version


# --------------------------------------------------------------------------- uninstall


def test_uninstall_removes_the_installation(client, tenant_with_old, pkgs):
    tenant = tenant_with_old
    (plugin,) = client.list_plugins(tenant)
    assert client.uninstall(tenant, plugin.installation_id) is True
    assert client.list_plugins(tenant) == []
    assert client.fetch_tool_providers(tenant) == []
    assert client.fetch_plugin_installation_by_ids(tenant, [PLUGIN_ID]) == []
    with pytest.raises(dpc.PluginNotFoundError):
        list(client.invoke(tenant, "e2e-user", PROVIDER, "echo_types", {}, {"text": "x"},
                           cast_parameters=False))
    # idempotent: the daemon answers true again
    assert client.uninstall(tenant, plugin.installation_id) is True


def test_uninstall_of_an_unknown_installation_returns_true(client, tenant):
    """Daemon behaviour the API passes on: uninstalling an id nobody has answers true."""
    assert client.uninstall(tenant, str(uuid.uuid4())) is True


def test_uninstall_refuses_a_non_uuid_installation_id(client, tenant):
    with pytest.raises(dpc.InvalidArgumentError):
        client.uninstall(tenant, "e2etest/e2e_tools")


def test_cli_uninstall_by_plugin_id_and_by_identifier(cli, client, tenants, tenant_with_old,
                                                      pkgs):
    result = cli("uninstall", PLUGIN_ID, tenant=tenant_with_old)
    assert result.rc == 0, result
    assert pkgs.old.identifier in result.err
    assert client.list_plugins(tenant_with_old) == []
    other = tenants.new()
    client.upload_pkg(other, pkgs.old.data)
    install_and_wait(client, other, pkgs.old.identifier)
    result = cli("uninstall", pkgs.old.identifier, "--json", tenant=other)
    assert result.rc == 0, result
    assert json.loads(result.out)["plugin_unique_identifier"] == pkgs.old.identifier
    assert client.list_plugins(other) == []


def test_cli_uninstall_by_installation_id(cli, client, tenant_with_old):
    (plugin,) = client.list_plugins(tenant_with_old)
    result = cli("uninstall", plugin.installation_id, tenant=tenant_with_old)
    assert result.rc == 0, result
    assert client.list_plugins(tenant_with_old) == []


def test_cli_uninstall_of_an_unknown_installation_exits_1(cli, tenant):
    result = cli("uninstall", str(uuid.uuid4()), tenant=tenant)
    assert result.rc == 1, result
    assert "no such installation" in result.err, result


def test_cli_uninstall_of_a_plugin_not_installed_exits_1(cli, tenant):
    result = cli("uninstall", "nobody/nothing", tenant=tenant)
    assert result.rc == 1, result
    assert "not installed" in result.err, result


# --------------------------------------------------------------------------- unknown tasks


def test_delete_of_an_unknown_task_returns_true(client, tenant):
    """Daemon behaviour the API passes on: deleting a task nobody has answers true."""
    assert client.delete_plugin_installation_task(tenant, str(uuid.uuid4())) is True


def test_fetch_of_an_unknown_task_is_an_error(client, tenant):
    with pytest.raises(dpc.PluginDaemonError) as missing:
        client.fetch_plugin_installation_task(tenant, str(uuid.uuid4()))
    assert "not found" in missing.value.message


def test_cli_delete_of_an_unknown_task_exits_1(cli, tenant):
    result = cli("tasks", "delete", str(uuid.uuid4()), tenant=tenant)
    assert result.rc == 1, result
    assert "no such task" in result.err, result


def test_cli_tasks_of_a_fresh_tenant(cli, tenant):
    result = cli("tasks", "list", "--json", tenant=tenant)
    assert result.rc == 0, result
    assert json.loads(result.out) == []
    result = cli("tasks", "show", str(uuid.uuid4()), tenant=tenant)
    assert result.rc == 1, result
