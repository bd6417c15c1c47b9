"""Lifecycle and discovery methods against the fake daemon: the exact request on the
wire and the parsing of success and error answers."""

import io
import json
import threading
import time
import uuid

import pytest

import dify_plugin_client as dpc
from fake_daemon import sample_plugin
from helpers import KEY, install_sample, last_request, make_client

PROVIDER = "acme/echo/echo"
MISSING_ID = "acme/missing:1.0.0@" + "f" * 64


def _mgmt(tenant, suffix):
    return "/plugin/%s/management/%s" % (tenant, suffix)


def _assert_common_headers(request):
    assert request.headers["X-Api-Key"] == KEY
    assert request.headers["User-Agent"].startswith("dify-plugin-client/")
    assert "Accept-Encoding" not in request.headers


# --- install and lifecycle ----------------------------------------------------


@pytest.mark.parametrize("kind", ["bytes", "path", "file"])
def test_upload_pkg_wire_and_result(client, daemon, tenant, tmp_path, kind):
    package = sample_plugin()
    source = {"bytes": package, "path": tmp_path / "echo.difypkg", "file": io.BytesIO(package)}[kind]
    if kind == "path":
        source.write_bytes(package)
    decoded = client.upload_pkg(tenant, source)
    request = last_request(daemon)
    assert (request.method, request.path) == ("POST", _mgmt(tenant, "install/upload/package"))
    _assert_common_headers(request)
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert int(request.headers["Content-Length"]) == request.body_size
    assert "Transfer-Encoding" not in request.headers
    assert request.form["verify_signature"] == "false"
    filename, size, _ = request.form["dify_pkg"]
    assert size == len(package) and filename == ("echo.difypkg" if kind == "path" else "dify_pkg")
    assert decoded.unique_identifier.startswith("acme/echo:0.0.1@")
    assert decoded.manifest.name == "echo" and decoded.manifest.icon.endswith(".svg")
    assert decoded.verification is None


def test_upload_pkg_verify_signature_and_its_hint(client, daemon, tenant):
    with pytest.raises(dpc.PluginDaemonBadRequestError) as info:
        client.upload_pkg(tenant, sample_plugin(), verify_signature=True)
    assert last_request(daemon).form["verify_signature"] == "true"
    assert "FORCE_VERIFYING_SIGNATURE" in info.value.hint
    with pytest.raises(dpc.InvalidArgumentError):
        client.upload_pkg(tenant, sample_plugin(), verify_signature="yes")


def test_upload_pkg_size_limit_is_checked_before_sending(daemon, tenant):
    with make_client(daemon, max_package_size=1000) as client:
        daemon.reset_stats()
        with pytest.raises(dpc.PackageTooLargeError) as info:
            client.upload_pkg(tenant, b"x" * 1001)
    assert daemon.requests == [] and "MAX_PLUGIN_PACKAGE_SIZE" in str(info.value)


def test_upload_pkg_over_the_daemon_limit(tenant):
    from fake_daemon import FakeDaemon

    with FakeDaemon(max_package_size=1000) as daemon, make_client(daemon) as client:
        with pytest.raises(dpc.PluginDaemonBadRequestError) as info:
            client.upload_pkg(tenant, sample_plugin())
    assert "file size exceeds the maximum limit" in info.value.message
    assert "MAX_PLUGIN_PACKAGE_SIZE" in info.value.hint


def test_upload_broken_package(client, tenant):
    with pytest.raises(dpc.PluginDaemonBadRequestError):
        client.upload_pkg(tenant, b"not a zip at all")


def test_upload_bundle(client, daemon, tenant):
    import zipfile

    import yaml

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("manifest.yaml", yaml.safe_dump({
            "version": "0.0.1", "author": "acme", "name": "set", "type": "bundle",
            "dependencies": [
                {"type": "marketplace", "value": {"marketplace_plugin_unique_identifier":
                                                  "langgenius/openai:0.2.1@" + "a" * 64}},
                {"type": "package", "value": {"path": "echo.difypkg"}}]}))
        bundle.writestr("_assets/echo.difypkg", sample_plugin())
    dependencies = client.upload_bundle(tenant, buffer.getvalue())
    request = last_request(daemon)
    assert request.path == _mgmt(tenant, "install/upload/bundle")
    assert request.form["dify_bundle"][0] == "dify_bundle"
    kinds = [dependency.type for dependency in dependencies]
    assert "package" in kinds
    package = dependencies[kinds.index("package")].value
    assert isinstance(package, dpc.PackageDependency)
    assert package.unique_identifier.startswith("acme/echo:")


def test_install_wait_and_task_lifecycle(client, daemon, tenant):
    identifier = client.upload_pkg(tenant, sample_plugin()).unique_identifier
    start = client.install_from_identifiers(tenant, [identifier],
                                            dpc.PluginInstallationSource.Package, [{}])
    request = last_request(daemon)
    assert (request.method, request.path) == ("POST", _mgmt(tenant, "install/identifiers"))
    assert request.headers["Content-Type"] == "application/json"
    assert request.json() == {"plugin_unique_identifiers": [identifier], "source": "package",
                              "metas": [{}]}
    assert start.all_installed is False and uuid.UUID(start.task_id)
    seen = []
    task = client.wait_for_installation_task(tenant, start.task_id, on_progress=seen.append)
    assert task.status == "success" and task.plugins[0].message == "installed"
    assert seen and seen[-1].status == "success"
    fetched = client.fetch_plugin_installation_task(tenant, start.task_id)
    assert last_request(daemon).path == _mgmt(tenant, "install/tasks/" + start.task_id)
    assert fetched.id == start.task_id and fetched.completed_plugins == 1
    tasks = client.fetch_plugin_installation_tasks(tenant, 1, 10)
    request = last_request(daemon)
    assert request.query == {"page": ["1"], "page_size": ["10"]}
    assert "Content-Type" not in request.headers  # or the daemon ignores the query
    assert [t.id for t in tasks] == [start.task_id]
    assert [t.id for t in client.iter_installation_tasks(tenant)] == [start.task_id]
    # installing again: any version present means all_installed, no task
    again = client.install_from_identifiers(tenant, [identifier], "package")
    assert again.all_installed is True and again.task_id == ""
    assert last_request(daemon).json()["metas"] == [{}]


def test_install_failure_reports_each_plugin(client, daemon, tenant):
    daemon.fail_install["acme/echo"] = "uv sync failed: no network"
    identifier = client.upload_pkg(tenant, sample_plugin()).unique_identifier
    start = client.install_from_identifiers(tenant, [identifier], "package", [{}])
    with pytest.raises(dpc.PluginInstallError) as info:
        client.wait_for_installation_task(tenant, start.task_id)
    assert info.value.failures == [(identifier, "uv sync failed: no network")]
    assert "uv sync failed" in str(info.value) and info.value.task.status == "failed"


def test_wait_deadline(daemon, tenant):
    from fake_daemon import FakeDaemon

    with FakeDaemon(install_delay=5.0) as slow, make_client(slow) as client:
        identifier = client.upload_pkg(tenant, sample_plugin()).unique_identifier
        start = client.install_from_identifiers(tenant, [identifier], "package", [{}])
        began = time.monotonic()
        with pytest.raises(dpc.InstallTimeoutError) as info:
            client.wait_for_installation_task(tenant, start.task_id, timeout=0.5,
                                              poll_interval=0.1)
        assert time.monotonic() - began < 2.0
        assert info.value.task.status == "running"


def test_wait_treats_a_cleaned_up_successful_task_as_success(tenant):
    from fake_daemon import FakeDaemon

    with FakeDaemon(install_delay=0.05, task_success_ttl=0.0) as daemon, \
            make_client(daemon) as client:
        identifier = client.upload_pkg(tenant, sample_plugin()).unique_identifier
        start = client.install_from_identifiers(tenant, [identifier], "package", [{}])
        time.sleep(0.5)  # the task succeeded and is gone before we look
        with pytest.raises(dpc.PluginDaemonInternalServerError):
            client.fetch_plugin_installation_task(tenant, start.task_id)
        task = client.wait_for_installation_task(tenant, start.task_id,
                                                 identifiers=[identifier])
        assert task.status == "success"
        assert last_request(daemon).path == _mgmt(tenant, "installation/fetch/batch")
        # without identifiers and never seen, there is nothing to confirm
        with pytest.raises(dpc.PluginDaemonInternalServerError) as info:
            client.wait_for_installation_task(tenant, start.task_id)
        assert "no install task %s for this tenant" % start.task_id in info.value.message
        assert "60-120" not in info.value.hint  # never seen running: no clean-up hint
        # a vanished task whose plugin is not installed is a failure
        other = str(uuid.uuid4())
        with pytest.raises(dpc.PluginInstallError) as failed:
            client.wait_for_installation_task(other, start.task_id, identifiers=[identifier])
        assert "disappeared" in failed.value.message and "is not installed" in failed.value.message


def test_install_argument_checks_send_nothing(client, daemon, tenant):
    good = "acme/echo:0.0.1@" + "a" * 32
    daemon.reset_stats()
    cases = [
        dict(identifiers=["plugin-a@1.0.0"], source="package", metas=[{}]),
        dict(identifiers=[good], source="package", metas=[{}, {}]),
        dict(identifiers=[good], source="package", metas={}),
        dict(identifiers=[good], source="package", metas=["x"]),
        dict(identifiers=[good] * 65, source="package", metas=None),
        dict(identifiers=good, source="package", metas=None),
        dict(identifiers=[good], source="", metas=None),
        dict(identifiers=[good.upper()], source="package", metas=None),
    ]
    for case in cases:
        with pytest.raises(dpc.InvalidArgumentError) as info:
            client.install_from_identifiers(tenant, **case)
        assert info.value.argument
    with pytest.raises(dpc.InvalidArgumentError) as info:
        client.install_from_identifiers("not-a-uuid", [good], "package")
    assert info.value.argument == "tenant_id"
    assert daemon.requests == []


def test_delete_tasks(client, daemon, tenant):
    daemon.fail_install["acme/echo"] = "broken"
    identifier = client.upload_pkg(tenant, sample_plugin()).unique_identifier
    start = client.install_from_identifiers(tenant, [identifier], "package", [{}])
    with pytest.raises(dpc.PluginInstallError):
        client.wait_for_installation_task(tenant, start.task_id)
    assert client.delete_plugin_installation_task_item(tenant, start.task_id, identifier) is True
    request = last_request(daemon)
    assert request.method == "POST"
    assert request.path == _mgmt(tenant, "install/tasks/%s/delete/%s" % (start.task_id,
                                                                          identifier))
    assert client.delete_plugin_installation_task(tenant, start.task_id) is True
    assert last_request(daemon).path == _mgmt(tenant, "install/tasks/%s/delete"
                                               % start.task_id)
    assert client.delete_all_plugin_installation_task_items(tenant) is True
    assert last_request(daemon).path == _mgmt(tenant, "install/tasks/delete_all")
    assert client.fetch_plugin_installation_tasks(tenant) == []
    with pytest.raises(dpc.InvalidArgumentError):
        client.delete_plugin_installation_task(tenant, "../delete_all")
    with pytest.raises(dpc.InvalidArgumentError):
        client.delete_plugin_installation_task_item(tenant, start.task_id, "../../uninstall")


def test_missing_task_is_a_typed_error_with_a_hint(client, tenant):
    with pytest.raises(dpc.PluginDaemonInternalServerError) as info:
        client.fetch_plugin_installation_task(tenant, str(uuid.uuid4()))
    # a task never seen running: no hint about the daemon's clean-up of finished tasks
    assert info.value.message == "record not found" and info.value.hint is None


def test_missing_dependencies(client, daemon, tenant):
    identifier = install_sample(client, tenant)
    newer = identifier.replace("0.0.1@", "0.0.2@")
    missing = client.fetch_missing_dependencies(tenant, [identifier, newer, MISSING_ID])
    request = last_request(daemon)
    assert request.path == _mgmt(tenant, "installation/missing")
    assert request.json() == {"plugin_unique_identifiers": [identifier, newer, MISSING_ID]}
    assert [(m.plugin_unique_identifier, m.current_identifier) for m in missing] == [
        (newer, identifier), (MISSING_ID, "")]


def test_uninstall_upgrade_and_installation_lookup(client, daemon, tenant):
    first = install_sample(client, tenant)
    second = client.upload_pkg(tenant, sample_plugin(version="0.0.2")).unique_identifier
    [installation] = client.fetch_plugin_installation_by_ids(tenant, ["acme/echo", "acme/nope"])
    request = last_request(daemon)
    assert request.path == _mgmt(tenant, "installation/fetch/batch")
    assert request.json() == {"plugin_ids": ["acme/echo", "acme/nope"]}
    assert installation.plugin_unique_identifier == first
    assert installation.declaration.version == "0.0.1"
    start = client.upgrade_plugin(tenant, first, second, dpc.PluginInstallationSource.Package,
                                  {"note": "x"})
    assert last_request(daemon).json() == {
        "original_plugin_unique_identifier": first, "new_plugin_unique_identifier": second,
        "source": "package", "meta": {"note": "x"}}
    if not start.all_installed:
        task = client.wait_for_installation_task(tenant, start.task_id)
        assert task.plugins[0].message == "upgraded"
    [plugin] = client.list_plugins(tenant)
    assert plugin.plugin_unique_identifier == second and plugin.version == "0.0.2"
    with pytest.raises(dpc.InvalidArgumentError):
        client.upgrade_plugin(tenant, second, second, "package")
    with pytest.raises(dpc.InvalidArgumentError):
        client.upgrade_plugin(tenant, second, MISSING_ID, "package")
    with pytest.raises(dpc.PluginDaemonNotFoundError):
        client.upgrade_plugin(tenant, first, second, "package")  # first is no longer installed
    assert client.uninstall(tenant, plugin.installation_id) is True
    assert last_request(daemon).json() == {"plugin_installation_id": plugin.installation_id}
    assert client.uninstall(tenant, plugin.installation_id) is True  # idempotent
    assert client.list_plugins(tenant) == []
    with pytest.raises(dpc.InvalidArgumentError):
        client.uninstall(tenant, "abc123")


# --- discovery and metadata ---------------------------------------------------


def test_list_plugins_pages_past_256(client, daemon, tenant):
    install_sample(client, tenant)
    template = client.list_plugins_with_total(tenant).list[0].to_dict()
    entries = []
    for index in range(300):
        entry = dict(template, id=str(uuid.uuid4()), plugin_id="acme/p%03d" % index)
        entry["installation_id"] = entry["id"]
        entries.append(entry)

    def paged_list(handler):  # the daemon's OFFSET/LIMIT paging over 300 installations
        page = int(handler.record.query["page"][0])
        size = int(handler.record.query["page_size"][0])
        chunk = entries[(page - 1) * size:page * size]
        handler.send_json(200, {"code": 0, "message": "success",
                                "data": {"list": chunk, "total": len(entries)}})

    daemon.add_override("GET", r".*/management/list$", paged_list)
    page = client.list_plugins_with_total(tenant, page=2, page_size=256)
    request = last_request(daemon)
    assert request.path == _mgmt(tenant, "list")
    assert request.query == {"page": ["2"], "page_size": ["256"]}
    assert page.total == 300 and len(page.list) == 44
    daemon.reset_stats()
    plugins = client.list_plugins(tenant)
    assert [p.plugin_id for p in plugins] == [e["plugin_id"] for e in entries]
    assert [r.query["page"] for r in daemon.requests] == [["1"], ["2"]]
    assert len(list(client.iter_plugins(tenant, page_size=100))) == 300
    for page, size in ((0, 10), (1, 0), (1, 257), ("1", 10), (True, 10)):
        with pytest.raises(dpc.InvalidArgumentError):
            client.list_plugins_with_total(tenant, page, size)


def test_manifest_decode_readme_and_identifier(client, daemon, tenant):
    identifier = client.upload_pkg(tenant, sample_plugin(
        readmes={"zh_Hans": "# 回声\n"})).unique_identifier
    manifest = client.fetch_plugin_manifest(tenant, identifier)
    request = last_request(daemon)
    assert (request.method, request.path) == ("GET", _mgmt(tenant, "fetch/manifest"))
    assert request.query == {"plugin_unique_identifier": [identifier]}
    assert manifest.name == "echo" and manifest.category == "tool"
    assert manifest.tool.tools[0].identity.name == "echo"
    decoded = client.decode_plugin_from_identifier(tenant, identifier)
    request = last_request(daemon)
    assert request.path == _mgmt(tenant, "decode/from_identifier")
    assert request.query == {"plugin_unique_identifier": [identifier],
                             "PluginUniqueIdentifier": [identifier]}
    assert decoded.manifest.icon == "icon.svg"  # original names here, asset ids elsewhere
    assert client.fetch_plugin_readme(tenant, identifier, "en_US").startswith("# Echo")
    assert last_request(daemon).query == {"plugin_unique_identifier": [identifier],
                                          "language": ["en_US"]}
    assert client.fetch_plugin_readme(tenant, identifier, language="zh_Hans") == "# 回声\n"
    assert client.fetch_plugin_by_identifier(tenant, identifier) is False  # uploaded only
    start = client.install_from_identifiers(tenant, [identifier], "package")
    client.wait_for_installation_task(tenant, start.task_id)
    assert client.fetch_plugin_by_identifier(tenant, identifier) is True
    assert last_request(daemon).path == _mgmt(tenant, "fetch/identifier")


def test_readme_missing_is_empty_string(client, tenant):
    identifier = client.upload_pkg(tenant, sample_plugin(readme=None)).unique_identifier
    assert client.fetch_plugin_readme(tenant, identifier) == ""


def test_readme_on_a_daemon_without_the_route(client, daemon, tenant):
    daemon.add_override("GET", r".*/fetch/readme$", lambda h: h.send_body(
        404, b'{"code":"not_found","message":"route not found"}'))
    assert client.fetch_plugin_readme(tenant, MISSING_ID) == ""


def test_manifest_of_unknown_package(client, tenant):
    with pytest.raises(dpc.PluginDaemonBadRequestError) as info:
        client.fetch_plugin_manifest(tenant, MISSING_ID)
    assert info.value.message == "plugin not found" and info.value.code == -400


def test_health_needs_no_key(client, daemon):
    health = client.health()
    request = last_request(daemon)
    assert request.path == "/health/check" and "X-Api-Key" not in request.headers
    assert health.status == "ok" and health.version == "0.6.10"


def test_wrong_key(daemon, tenant):
    client = dpc.DifyPluginClient(dpc.PluginConfig(url=daemon.url, key="wrong-key"))
    with pytest.raises(dpc.PluginDaemonUnauthorizedError) as info:
        client.list_plugins(tenant)
    assert info.value.http_status == 401 and "wrong-key" not in str(info.value)


def test_unknown_tenant_is_an_empty_workspace(client, tenant):
    assert client.list_plugins(tenant) == []
    assert client.fetch_tool_providers(tenant) == []


# --- transport --------------------------------------------------------------


def test_one_client_shared_by_threads_reuses_connections(daemon, tenant):
    install_sample(make_client(daemon), tenant)
    daemon.reset_stats()
    client = make_client(daemon, pool_size=4, max_connections=4)
    errors = []

    def work():
        try:
            for _ in range(50):
                assert client.list_plugins_with_total(tenant).total == 1
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(daemon.requests) == 400
    assert daemon.connections_opened <= 4  # far fewer connections than requests
    assert daemon.max_open_connections <= 4


def test_hung_streams_do_not_starve_short_calls(daemon, tenant):
    """A crashed plugin leaves invokes in flight hanging until the daemon's execution
    timeout. Streams take connections of max_connections, not of the kept-alive pool,
    so with pool_size streams hung, plain calls are still answered at once."""
    import threading

    client = make_client(daemon, pool_size=4, timeout=dpc.Timeout(5.0, pool=0.5))
    install_sample(client, tenant)
    release = threading.Event()
    started = threading.Semaphore(0)

    def hang(request):
        started.release()
        release.wait(30)
        return [{"type": "text", "message": {"text": "late"}, "meta": None}]

    daemon.set_tool_handler("acme/echo", "echo", "ping", hang)
    results = []

    def invoke():
        results.append([m.message.text for m in client.invoke(tenant, "u", PROVIDER, "ping",
                                                               {}, {})])

    threads = [threading.Thread(target=invoke) for _ in range(10)]
    try:
        for thread in threads:
            thread.start()
        for _ in threads:
            assert started.acquire(timeout=10)  # all ten streams are in flight and hung
        began = time.monotonic()
        for _ in range(20):
            assert client.list_plugins_with_total(tenant).total == 1
        assert time.monotonic() - began < 3.0
    finally:
        release.set()
        for thread in threads:
            thread.join(30)
    assert results == [["late"]] * 10
    assert len(client._transport._idle) <= 4  # pool_size bounds what is kept alive


def test_max_connections_bounds_requests_in_flight(daemon, tenant):
    client = make_client(daemon, max_connections=2, timeout=dpc.Timeout(5.0, pool=0.3))
    install_sample(client, tenant)
    first = client.invoke(tenant, "u", PROVIDER, "echo", {}, {"text": "a"})
    second = client.invoke(tenant, "u", PROVIDER, "echo", {}, {"text": "b"})
    next(first), next(second)  # both hold their connections
    with pytest.raises(dpc.PoolTimeout) as info:
        client.list_plugins_with_total(tenant)
    assert "max_connections" in str(info.value)
    first.close()
    assert client.list_plugins_with_total(tenant).total == 1
    second.close()


def test_connection_closed_by_server_is_replaced(client, daemon, tenant):
    client.list_plugins(tenant)
    assert daemon.connections_opened == 1
    daemon.add_override("GET", r".*/management/list$", _close_after_answer)
    client.list_plugins(tenant)  # the server closes after answering
    daemon.remove_overrides()
    time.sleep(0.05)
    client.list_plugins(tenant)
    client.install_from_identifiers(tenant, [], "package")  # a POST on a fresh connection
    assert daemon.connections_opened == 2


def _close_after_answer(handler):
    body = json.dumps({"code": 0, "message": "success", "data": {"list": [], "total": 0}})
    handler.send_body(200, body.encode())
    handler.wfile.flush()
    handler.close_connection = True
    import socket

    handler.connection.shutdown(socket.SHUT_RDWR)


def test_connect_error_is_typed_and_retried_for_get(tenant):
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    client = dpc.DifyPluginClient(dpc.PluginConfig(url="http://127.0.0.1:%d" % port, key=KEY,
                                                   retries=2))
    began = time.monotonic()
    with pytest.raises(dpc.ConnectError) as info:
        client.list_plugins(tenant)
    assert time.monotonic() - began >= 0.3  # two retries with backoff (0.1 s + 0.2 s)
    assert "is the daemon running" in info.value.hint
    began = time.monotonic()
    with pytest.raises(dpc.ConnectError):
        client.uninstall(tenant, str(uuid.uuid4()))  # POST: no retry
    assert time.monotonic() - began < 0.3


def test_readme_info_tells_the_language_the_daemon_answered_with(client, daemon, tenant):
    identifier = client.upload_pkg(tenant, sample_plugin(readme="# Echo")).unique_identifier
    info = client.fetch_plugin_readme_info(tenant, identifier, language="ja_JP")
    assert info.content == "# Echo" and info.language == "en_US"  # fell back to en_US
    assert client.fetch_plugin_readme(tenant, identifier, "ja_JP") == "# Echo"
    with pytest.raises(dpc.PluginDaemonInternalServerError):  # not "": no such package
        client.fetch_plugin_readme(tenant, MISSING_ID)


def test_install_metas_that_are_not_json_are_refused_before_sending(client, daemon, tenant):
    identifier = client.upload_pkg(tenant, sample_plugin()).unique_identifier
    before = len(daemon.requests)
    with pytest.raises(dpc.InvalidArgumentError) as info:
        client.install_from_identifiers(tenant, [identifier], "package", [{"x": {1, 2}}])
    assert info.value.argument == "metas" and "JSON-serialisable" in str(info.value)
    assert len(daemon.requests) == before  # nothing sent


def test_an_install_start_without_a_task_to_follow_is_an_error(client, daemon, tenant):
    daemon.add_override("POST", r"/install/identifiers$", lambda h: h.send_body(
        200, b'{"code":0,"message":"success","data":{"all_installed":false}}'))
    identifier = "acme/echo:0.0.1@" + "a" * 64
    with pytest.raises(dpc.ResponseValidationError) as caught:
        client.install_from_identifiers(tenant, [identifier], "package")
    assert caught.value.path == "data.task_id" and "install/identifiers" in caught.value.route
