"""Installing: the waited task, what the tenant then has, and installs that must not pass
for successes (another version installed; a broken package)."""

import json

import pytest

import e2e_support as support
from e2e_support import PLUGIN_ID, UNKNOWN_IDENTIFIER, dpc


# --------------------------------------------------------------------------- the shared install


def test_install_runs_a_task_and_reports_progress(installed, pkgs):
    # A fresh identifier: the daemon answers with a task, not all_installed.
    assert installed.start.all_installed is False
    assert installed.start.task_id
    task = installed.task
    assert isinstance(task, dpc.PluginInstallTask)
    assert task.status == dpc.PluginInstallTaskStatus.Success
    assert [p.plugin_unique_identifier for p in task.plugins] == [pkgs.old.identifier]
    assert task.plugins[0].status == dpc.PluginInstallTaskStatus.Success
    # on_progress saw the task at least once, and last as it finished
    assert installed.progress, "on_progress was never called"
    assert all(isinstance(seen, dpc.PluginInstallTask) for seen in installed.progress)
    assert all(seen.id == installed.start.task_id for seen in installed.progress)
    assert installed.progress[-1].status == dpc.PluginInstallTaskStatus.Success


def test_list_and_iter_show_the_installation(client, installed, pkgs):
    plugins = client.list_plugins(installed.tenant)
    assert [p.plugin_unique_identifier for p in plugins] == [pkgs.old.identifier]
    plugin = plugins[0]
    assert isinstance(plugin, dpc.PluginEntity)
    assert (plugin.plugin_id, plugin.version, plugin.name) == (PLUGIN_ID, pkgs.old.version,
                                                               "e2e_tools")
    assert plugin.installation_id and plugin.tenant_id == installed.tenant
    assert plugin.declaration is not None and plugin.declaration.version == pkgs.old.version
    assert [p.installation_id for p in client.iter_plugins(installed.tenant, page_size=1)] == [
        plugin.installation_id]
    page = client.list_plugins_with_total(installed.tenant, page=1, page_size=1)
    assert page.total == 1 and [p.installation_id for p in page.list] == [plugin.installation_id]


def test_a_fresh_tenant_has_nothing(client, tenant):
    assert client.list_plugins(tenant) == []
    assert client.list_plugins_with_total(tenant).total == 0
    assert client.fetch_tool_providers(tenant) == []
    assert list(client.iter_installation_tasks(tenant)) == []


def test_fetch_installation_by_plugin_ids(client, installed, pkgs):
    found = client.fetch_plugin_installation_by_ids(installed.tenant,
                                                    [PLUGIN_ID, "nobody/nothing"])
    assert len(found) == 1
    installation = found[0]
    assert isinstance(installation, dpc.PluginInstallation)
    assert installation.plugin_id == PLUGIN_ID
    assert installation.plugin_unique_identifier == pkgs.old.identifier
    assert installation.id == installed.installation.installation_id
    assert client.fetch_plugin_installation_by_ids(installed.tenant, []) == []


def test_fetch_plugin_by_identifier_tells_installed_from_uploaded(client, installed, pkgs):
    assert client.fetch_plugin_by_identifier(installed.tenant, pkgs.old.identifier) is True
    client.upload_pkg(installed.tenant, pkgs.noreadme.data)   # uploaded, never installed
    assert client.fetch_plugin_by_identifier(installed.tenant, pkgs.noreadme.identifier) is False
    assert client.fetch_plugin_by_identifier(installed.tenant, UNKNOWN_IDENTIFIER) is False


def test_missing_dependencies_name_the_installed_version(client, installed, pkgs):
    missing = client.fetch_missing_dependencies(
        installed.tenant, [pkgs.old.identifier, pkgs.noreadme.identifier, UNKNOWN_IDENTIFIER])
    by_identifier = {item.plugin_unique_identifier: item for item in missing}
    assert set(by_identifier) == {pkgs.noreadme.identifier, UNKNOWN_IDENTIFIER}
    assert by_identifier[pkgs.noreadme.identifier].current_identifier == pkgs.old.identifier
    assert not by_identifier[UNKNOWN_IDENTIFIER].current_identifier


def test_cli_list_and_missing_deps(cli, installed, pkgs):
    result = cli("list", tenant=installed.tenant)
    assert result.rc == 0, result
    assert pkgs.old.identifier in result.out
    assert installed.installation.installation_id in result.out
    result = cli("list", "--json", tenant=installed.tenant)
    assert result.rc == 0, result
    listed = json.loads(result.out)
    assert listed["total"] == 1
    assert [p["plugin_unique_identifier"] for p in listed["plugins"]] == [pkgs.old.identifier]
    result = cli("missing-deps", pkgs.old.identifier, pkgs.noreadme.identifier, "--json",
                 tenant=installed.tenant)
    assert result.rc == 1, result  # something is missing
    assert json.loads(result.out) == [{"plugin_unique_identifier": pkgs.noreadme.identifier,
                                       "current_identifier": pkgs.old.identifier}]


# --------------------------------------------------------------------------- installing again


def test_cli_install_in_a_second_tenant_is_not_reported_as_already_installed(
        cli, client, installed, tenant, pkgs):
    """Tenant B installs the identifier tenant A installed: the daemon, which already runs
    it, installs it for B synchronously and answers all_installed. This very call installed
    it, so the CLI must not say it was already installed."""
    assert client.list_plugins(tenant) == []
    result = cli("install", "--file", pkgs.old.path, tenant=tenant)
    assert result.rc == 0, result
    assert "already installed" not in (result.out + result.err).lower(), result
    assert [p.plugin_unique_identifier for p in client.list_plugins(tenant)] == [
        pkgs.old.identifier]


def test_api_install_in_a_second_tenant_is_synchronous(client, installed, tenant, pkgs):
    """Daemon behaviour the CLI case above rests on: all_installed, and already done."""
    client.upload_pkg(tenant, pkgs.old.data)
    start = client.install_from_identifiers(tenant, [pkgs.old.identifier], "package")
    assert start.all_installed is True and not start.task_id
    assert [p.plugin_unique_identifier for p in client.list_plugins(tenant)] == [
        pkgs.old.identifier]


def test_cli_install_of_what_the_tenant_has_succeeds(cli, client, installed, pkgs):
    result = cli("install", "--file", pkgs.old.path, tenant=installed.tenant)
    assert result.rc == 0, result
    assert [p.plugin_unique_identifier for p in client.list_plugins(installed.tenant)] == [
        pkgs.old.identifier]


def test_api_install_over_another_version_is_not_a_success(client, tenants, tenant_with_old,
                                                           pkgs):
    """Installing ``other`` while ``old`` is installed: the daemon runs a task that ends
    "success" but leaves ``old`` installed. The waiter must not report that as installed:
    it raises, naming the installed version and pointing to upgrade."""
    tenant = tenant_with_old
    client.upload_pkg(tenant, pkgs.other.data)
    tenants.stray_runtimes.add(pkgs.other.identifier)
    start = client.install_from_identifiers(tenant, [pkgs.other.identifier], "package")
    assert start.all_installed is False  # daemon behaviour: a task, which changes nothing
    with pytest.raises(dpc.DifyPluginError) as refused:
        client.wait_for_installation_task(tenant, start.task_id, timeout=600)
    text = str(refused.value)
    assert pkgs.old.version in text, text
    assert "upgrade" in text.lower(), text
    assert [p.plugin_unique_identifier for p in client.list_plugins(tenant)] == [
        pkgs.old.identifier]


def test_cli_install_over_another_version_exits_1(cli, client, tenants, tenant_with_old, pkgs):
    tenants.stray_runtimes.add(pkgs.other.identifier)
    result = cli("install", "--file", pkgs.other.path, tenant=tenant_with_old)
    assert result.rc == 1, result
    assert "upgrade" in result.err.lower(), result
    assert pkgs.old.version in result.err, result
    assert [p.plugin_unique_identifier for p in client.list_plugins(tenant_with_old)] == [
        pkgs.old.identifier]


# --------------------------------------------------------------------------- a broken package


@pytest.fixture(scope="module")
def broken_install(client, tenants, pkgs):
    """pkgs.broken uploaded, installed and waited for, in a tenant of its own."""
    tenant = tenants.new()
    client.upload_pkg(tenant, pkgs.broken.data)
    start = client.install_from_identifiers(tenant, [pkgs.broken.identifier], "package")
    error = None
    try:
        client.wait_for_installation_task(tenant, start.task_id, timeout=600)
    except dpc.DifyPluginError as exc:
        error = exc
    return tenant, start, error


def test_broken_requirements_raise_install_error_with_the_message(broken_install, pkgs):
    tenant, start, error = broken_install
    assert start.all_installed is False
    assert isinstance(error, dpc.PluginInstallError), repr(error)
    assert [identifier for identifier, _ in error.failures] == [pkgs.broken.identifier]
    message = error.failures[0][1]
    # uv's complaint about the requirements file, passed on by the daemon
    assert "requirements.txt" in message, message
    assert "requirements.txt" in str(error)
    assert error.task is not None and error.task.status == dpc.PluginInstallTaskStatus.Failed


def test_failed_task_stays_listed_and_can_be_deleted(client, broken_install, pkgs):
    tenant, start, _ = broken_install
    tasks = client.fetch_plugin_installation_tasks(tenant)
    assert [t.id for t in tasks] == [start.task_id]
    assert [t.id for t in client.iter_installation_tasks(tenant, page_size=1)] == [start.task_id]
    task = client.fetch_plugin_installation_task(tenant, start.task_id)
    assert task.status == dpc.PluginInstallTaskStatus.Failed
    assert task.plugins[0].plugin_id == support.BROKEN_PLUGIN_ID
    assert "requirements.txt" in task.plugins[0].message
    assert client.list_plugins(tenant) == []
    assert client.delete_plugin_installation_task(tenant, start.task_id) is True
    with pytest.raises(dpc.PluginDaemonError):
        client.fetch_plugin_installation_task(tenant, start.task_id)
    assert client.fetch_plugin_installation_tasks(tenant) == []


def test_cli_install_of_broken_package_exits_1_with_the_message(cli, tenant, pkgs):
    result = cli("install", "--file", pkgs.broken.path, tenant=tenant)
    assert result.rc == 1, result
    assert "requirements.txt" in result.err, result
    result = cli("tasks", "list", "--json", tenant=tenant)
    assert result.rc == 0, result
    tasks = json.loads(result.out)
    assert [t["status"] for t in tasks] == ["failed"]
    task_id = tasks[0]["id"]
    result = cli("tasks", "show", task_id, tenant=tenant)
    assert result.rc == 0, result
    assert "failed" in result.out and support.BROKEN_PLUGIN_ID in result.out
    result = cli("tasks", "delete-all", "--failed", tenant=tenant)
    assert result.rc == 0, result
    assert cli("tasks", "list", "--json", tenant=tenant).out.strip() == "[]"
