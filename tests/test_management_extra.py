"""Management additions (plugin ids and pages by category, model bindings), the remote-
debugging key and assets.

Against the fake daemon: each method's exact request and parsing, its errors, and the
``debug-key`` and ``asset`` commands. Against the real daemon's recorded answers
(tests/transcripts/0.6.10-routes/{management,debugging,asset}): every exchange of those
folders is served on loopback and checked, the install flows of the test plugins
included; management/models_list.json belongs to the models group's tests.
"""

import hashlib
import http.client
import json
import os
import urllib.parse

import pytest

import dify_plugin_client as dpc
import route_replay as rr
from extensions_support import case_id, check_folder, run_case, run_cli as run
from fake_daemon import sample_plugin
from helpers import install_sample, last_request, make_client

CLAIMED_FOLDERS = ("management", "debugging", "asset")
#: Files of the claimed folders that another test module checks.
CHECKED_ELSEWHERE = ("management/models_list.json",)


def _model_plugin(name):
    manifest = {"version": "0.0.1", "type": "plugin", "author": "acme", "name": name,
                "label": {"en_US": name}, "description": {"en_US": "models"}, "icon": "icon.svg",
                "resource": {"memory": 1048576}, "plugins": {"models": ["provider/m.yaml"]},
                "meta": {"version": "0.0.1", "arch": ["amd64"],
                         "runner": {"language": "python", "version": "3.12",
                                    "entrypoint": "main"}},
                "created_at": "2024-01-01T00:00:00Z", "tags": ["search"]}
    provider = {"provider": name + "-provider", "label": {"en_US": name},
                "supported_model_types": ["llm"], "configurate_methods": ["predefined-model"]}
    return {"manifest.yaml": json.dumps(manifest), "provider/m.yaml": json.dumps(provider),
            "_assets/icon.svg": "<svg/>", "main.py": "", "requirements.txt": ""}


@pytest.fixture
def mixed(client, daemon, tenant):
    """Three tool plugins (echo, alpha, beta; beta tagged search) and a model plugin."""
    install_sample(client, tenant)
    for name, tags in (("alpha", ("utilities",)), ("beta", ("search",))):
        decoded = client.upload_pkg(tenant, sample_plugin(name=name, label=name.title() + " X",
                                                          tags=tags))
        daemon.install(tenant, decoded.unique_identifier)
    model = daemon.add_package(_model_plugin("mm"))
    daemon.install(tenant, model)
    return model


# =============================================================================
# Against the fake daemon
# =============================================================================


def test_list_installed_plugin_ids(client, daemon, tenant, mixed):
    assert client.list_installed_plugin_ids(tenant, "tool") == ["acme/beta", "acme/alpha",
                                                                "acme/echo"]
    request = last_request(daemon)
    assert request.path == "/plugin/%s/management/installation/ids" % tenant
    assert request.query == {"category": ["tool"]}
    assert client.list_installed_plugin_ids(tenant, "model") == ["acme/mm"]
    assert client.list_installed_plugin_ids(tenant, "trigger") == []
    with pytest.raises(dpc.PluginDaemonBadRequestError, match="invalid plugin category"):
        client.list_installed_plugin_ids(tenant, "bogus")
    before = len(daemon.requests)
    for bad in (None, "", "Tool", "a/b", 3):
        with pytest.raises(dpc.InvalidArgumentError) as caught:
            client.list_installed_plugin_ids(tenant, bad)
        assert caught.value.argument == "category"
    assert len(daemon.requests) == before


def test_list_plugins_by_category_pages_and_filters(client, daemon, tenant, mixed):
    first = client.list_plugins_by_category(tenant, "tool", 1, 2)
    assert isinstance(first, dpc.PluginListWithoutTotalResponse)
    assert [p.plugin_id for p in first.list] == ["acme/beta", "acme/alpha"] and first.has_more
    request = last_request(daemon)
    assert request.path == "/plugin/%s/management/tool/list" % tenant
    assert request.query == {"page": ["1"], "page_size": ["2"]}
    second = client.list_plugins_by_category(tenant, "tool", 2, 2)
    assert [p.plugin_id for p in second.list] == ["acme/echo"] and not second.has_more
    assert second.list[0].declaration.category == "tool"

    found = client.list_plugins_by_category(tenant, "tool", query="ALPHA X", tags=["utilities"],
                                            language="en_US")
    assert [p.plugin_id for p in found.list] == ["acme/alpha"]
    assert last_request(daemon).query == {"page": ["1"], "page_size": ["256"],
                                          "query": ["ALPHA X"], "tags": ["utilities"],
                                          "language": ["en_US"]}
    both = client.list_plugins_by_category(tenant, "tool", tags=["search", "utilities"])
    assert len(both.list) == 3
    assert last_request(daemon).query["tags"] == ["search", "utilities"]
    assert client.list_plugins_by_category(tenant, "model").list[0].plugin_id == "acme/mm"
    with pytest.raises(dpc.PluginDaemonBadRequestError) as caught:
        client.list_plugins_by_category(tenant, "tool", language="fr_FR")
    assert caught.value.http_status == 400 and "Language" in caught.value.message


def test_iter_plugins_by_category(client, daemon, tenant, mixed):
    daemon.reset_stats()
    ids = [p.plugin_id for p in client.iter_plugins_by_category(tenant, "tool", page_size=1)]
    assert ids == ["acme/beta", "acme/alpha", "acme/echo"]
    assert [r.query["page"] for r in daemon.requests] == [["1"], ["2"], ["3"]]
    assert list(client.iter_plugins_by_category(tenant, "trigger")) == []

    entry = client.list_plugins(tenant)[0].to_dict()

    def stuck(handler):  # a daemon that keeps saying has_more with the same page
        handler.send_json(200, {"code": 0, "message": "success", "data": {
            "list": [entry], "has_more": True}})

    daemon.add_override("GET", r"/management/tool/list$", stuck)
    assert len(list(client.iter_plugins_by_category(tenant, "tool"))) == 1


@pytest.mark.parametrize("options, argument", [
    ({"query": "x" * 257}, "query"), ({"query": 5}, "query"), ({"tags": "search"}, "tags"),
    ({"tags": [""]}, "tags[0]"), ({"tags": ["a"] * 129}, "tags"), ({"language": ""}, "language"),
    ({"page": 0}, "page"), ({"page_size": 257}, "page_size"),
])
def test_list_plugins_by_category_arguments(client, daemon, tenant, options, argument):
    before = len(daemon.requests)
    with pytest.raises(dpc.InvalidArgumentError) as caught:
        client.list_plugins_by_category(tenant, "tool", **options)
    assert caught.value.argument == argument
    assert len(daemon.requests) == before


def test_category_routes_on_older_daemons(tenant):
    from fake_daemon import FakeDaemon

    with FakeDaemon(version="0.6.2") as old, make_client(old) as client:
        install_sample(client, tenant)
        page = client.list_plugins_by_category(tenant, "tool", query="nothing matches this")
        assert [p.plugin_id for p in page.list] == ["acme/echo"]  # 0.6.2 ignores the filters
        with pytest.raises(dpc.HTTPStatusError) as caught:
            client.list_installed_plugin_ids(tenant, "tool")
        assert caught.value.status_code == 404
    with FakeDaemon(version="0.5.4") as older, make_client(older) as client:
        with pytest.raises(dpc.HTTPStatusError, match="route not found"):
            client.list_plugins_by_category(tenant, "tool")
        with pytest.raises(dpc.HTTPStatusError):
            client.list_model_plugin_bindings(tenant)


def test_list_model_plugin_bindings(client, daemon, tenant, mixed):
    [binding] = client.list_model_plugin_bindings(tenant)
    assert last_request(daemon).path == "/plugin/%s/management/models/bindings" % tenant
    assert isinstance(binding, dpc.ModelPluginBinding)
    assert (binding.provider, binding.plugin_id, binding.plugin_unique_identifier) == (
        "mm-provider", "acme/mm", mixed)
    assert binding.source == dpc.PluginInstallationSource.Package
    assert (binding.runtime_type, binding.version, binding.verified) == ("local", "0.0.1", False)
    assert binding.installation_id == [p.installation_id for p in client.list_plugins(tenant)
                                       if p.plugin_id == "acme/mm"][0]
    assert client.list_model_plugin_bindings(rr.OTHER_TENANT) == []


def test_get_debugging_key(client, daemon, tenant):
    key = client.get_debugging_key(tenant)
    request = last_request(daemon)
    assert (request.method, request.path, request.body) == (
        "POST", "/plugin/%s/debugging/key" % tenant, b"")
    assert client.get_debugging_key(tenant) == key
    assert client.get_debugging_key(rr.OTHER_TENANT) != key
    daemon.remote_installing = False
    with pytest.raises(dpc.HTTPStatusError) as caught:
        client.get_debugging_key(tenant)
    assert caught.value.status_code == 404
    assert "PLUGIN_REMOTE_INSTALLING_ENABLED" in caught.value.hint
    with pytest.raises(dpc.InvalidArgumentError):
        client.get_debugging_key("tenant-1")


def test_fetch_asset(client, daemon, tenant):
    identifier = install_sample(client, tenant)
    icon = client.list_plugins(tenant)[0].declaration.icon
    data = client.fetch_asset(tenant, icon)
    assert data.startswith(b"<svg") and icon.endswith(".svg")
    assert last_request(daemon).path == "/plugin/%s/asset/%s" % (tenant, icon)
    with pytest.raises(dpc.PluginDaemonNotFoundError, match="no asset 00.svg") as caught:
        client.fetch_asset(tenant, "00.svg")
    assert caught.value.http_status == 200
    for bad in ("", "../x", "a/b", None):
        with pytest.raises(dpc.InvalidArgumentError):
            client.fetch_asset(tenant, bad)

    def broken(handler):
        handler.send_json(500, {"code": -500, "message": json.dumps({
            "message": "disk on fire", "error_type": "PluginDaemonInternalServerError",
            "args": None}), "data": None})

    daemon.add_override("GET", r"/asset/", broken)
    with pytest.raises(dpc.PluginDaemonInternalServerError, match="disk on fire"):
        client.fetch_asset(tenant, icon)
    assert identifier


def _real_extract_asset(daemon):
    """The daemon's extract-asset, as recorded: a path relative to _assets/, an empty 200
    for any other file (the fake's own route reads any package path)."""
    def serve(handler):
        query = handler.record.query
        package = daemon._packages.get(query["plugin_unique_identifier"][0])
        data = package.files.get("_assets/" + query["file_path"][0], b"") if package else None
        if data is None:
            handler.send_json(500, {"code": -500, "data": None, "message": json.dumps({
                "message": "plugin package not found, please upload it firstly",
                "error_type": "PluginDaemonInternalServerError", "args": None})})
        else:
            handler.send_body(200, data, "application/octet-stream")
    daemon.add_override("GET", r"/extract-asset/$", serve)


def test_extract_asset(client, daemon, tenant):
    identifier = client.upload_pkg(tenant, sample_plugin()).unique_identifier
    _real_extract_asset(daemon)
    assert client.extract_asset(tenant, identifier, "icon.svg").startswith(b"<svg")
    request = last_request(daemon)
    assert request.path == "/plugin/%s/extract-asset/" % tenant
    assert request.query == {"plugin_unique_identifier": [identifier], "file_path": ["icon.svg"]}
    with pytest.raises(dpc.PluginDaemonNotFoundError) as caught:
        client.extract_asset(tenant, identifier, "_assets/icon.svg")
    assert "relative to the package's _assets/ folder" in caught.value.hint
    with pytest.raises(dpc.PluginDaemonInternalServerError, match="upload it firstly"):
        client.extract_asset(tenant, "acme/nope:0.0.1@" + "a" * 64, "icon.svg")
    with pytest.raises(dpc.InvalidArgumentError):
        client.extract_asset(tenant, "not-an-identifier", "icon.svg")
    with pytest.raises(dpc.InvalidArgumentError):
        client.extract_asset(tenant, identifier, "")


# --- the command line ---------------------------------------------------------------


def test_cli_debug_key(daemon, client, tenant):
    key = client.get_debugging_key(tenant)
    code, out, err = run(daemon, tenant, "debug-key")
    assert code == 0
    assert out == "INSTALL_METHOD=remote\nREMOTE_INSTALL_URL=127.0.0.1:5003\n" \
                  "REMOTE_INSTALL_KEY=%s\n" % key
    assert tenant in err and "--address" in err
    code, out, _ = run(daemon, tenant, "debug-key", "--address", "debug.example.com:47835")
    assert "REMOTE_INSTALL_URL=debug.example.com:47835\n" in out
    code, out, _ = run(daemon, tenant, "--json", "debug-key")
    assert json.loads(out) == {"install_method": "remote", "remote_install_url": "127.0.0.1:5003",
                               "remote_install_key": key}
    for bad in ("nohost", "host:port", ":80", "host:0", "host:70000"):
        assert run(daemon, tenant, "debug-key", "--address", bad)[0] == 2
    daemon.remote_installing = False
    code, out, err = run(daemon, tenant, "debug-key")
    assert code == 1 and out == "" and "PLUGIN_REMOTE_INSTALLING_ENABLED" in err


def test_cli_asset(daemon, client, tenant, tmp_path, monkeypatch):
    identifier = install_sample(client, tenant)
    icon = client.list_plugins(tenant)[0].declaration.icon
    monkeypatch.chdir(tmp_path)
    code, out, err = run(daemon, tenant, "asset", icon)
    assert code == 0 and out == "" and "saved %s" % icon in err
    assert (tmp_path / icon).read_bytes() == client.fetch_asset(tenant, icon)
    code, _, err = run(daemon, tenant, "asset", icon)
    assert code == 2 and "--force" in err
    assert run(daemon, tenant, "asset", icon, "--force")[0] == 0
    code, out, _ = run(daemon, tenant, "--json", "asset", icon, "--output", "a.svg")
    assert json.loads(out) == {"asset": icon, "path": "a.svg",
                               "size": len((tmp_path / icon).read_bytes())}
    code, _, err = run(daemon, tenant, "asset", "00.svg", "--output", "missing.svg")
    assert code == 1 and "no asset 00.svg" in err and not (tmp_path / "missing.svg").exists()
    _real_extract_asset(daemon)
    code, _, _ = run(daemon, tenant, "asset", "b.svg", "--identifier", identifier,
                     "--output", os.path.join("out.svg"))
    assert code == 0 and (tmp_path / "out.svg").read_bytes().startswith(b"<svg")
    assert last_request(daemon).query["file_path"] == ["b.svg"]


# =============================================================================
# Against the recorded answers (0.6.10-routes/{management,debugging,asset})
# =============================================================================

cases = rr.Cases()


def _query(rec):
    target = rec.exchange["request"]["target"]
    return urllib.parse.parse_qs(urllib.parse.urlsplit(target).query)


def _category(rec):
    return rec.exchange["request"]["path"].split("/")[-2]


@cases("management/category_list.json", *range(10))
def _category_page(rec):
    rec.serve()
    query = _query(rec)
    page = rec.client().list_plugins_by_category(
        rr.TENANT, _category(rec), int(query["page"][0]), int(query["page_size"][0]),
        query=query.get("query", [None])[0], tags=query.get("tags"),
        language=query.get("language", [None])[0])
    recorded = rec.data
    assert page.has_more is recorded["has_more"]
    assert [p.plugin_id for p in page.list] == [item["plugin_id"] for item in recorded["list"]]
    assert [p.installation_id for p in page.list] == [i["installation_id"]
                                                      for i in recorded["list"]]
    assert all(p.declaration.category == _category(rec) for p in page.list)
    rec.check_request()


@cases("management/category_list.json", 10, 11, 12)
def _category_refused(rec):
    rec.serve()
    query = _query(rec)
    with pytest.raises(dpc.PluginDaemonBadRequestError) as caught:
        rec.client().list_plugins_by_category(
            rr.TENANT, _category(rec), 1, 10, tags=query.get("tags"),
            language=query.get("language", [None])[0])
    rec.check_error(caught.value, dpc.PluginDaemonBadRequestError)
    assert caught.value.http_status == rec.response["status"]
    rec.check_request()


@cases("management/category_list.json", 13)
def _category_page_size(rec):
    client = rec.client()
    with pytest.raises(dpc.InvalidArgumentError):  # 257: the client refuses before sending
        client.list_plugins_by_category(rr.TENANT, "tool", 1, 257)
    rec.check_nothing_sent()
    rec.serve()
    with pytest.raises(dpc.PluginDaemonBadRequestError) as caught:
        rec.raw_call(client)
    rec.check_error(caught.value, dpc.PluginDaemonBadRequestError)
    rec.check_request()


@cases("management/installation_ids.json", *range(6))
def _ids(rec):
    rec.serve()
    ids = rec.client().list_installed_plugin_ids(rr.TENANT, _query(rec)["category"][0])
    assert ids == rec.data["plugin_ids"]
    rec.check_request()


@cases("management/installation_ids.json", 6)
def _ids_without_category(rec):
    client = rec.client()
    with pytest.raises(dpc.InvalidArgumentError):
        client.list_installed_plugin_ids(rr.TENANT, None)
    rec.check_nothing_sent()
    rec.serve()
    with pytest.raises(dpc.PluginDaemonBadRequestError) as caught:
        rec.raw_call(client)
    rec.check_error(caught.value, dpc.PluginDaemonBadRequestError)
    assert caught.value.http_status == 400
    rec.check_request()


@cases("management/installation_ids.json", 7)
def _ids_bogus(rec):
    rec.serve()
    with pytest.raises(dpc.PluginDaemonBadRequestError) as caught:
        rec.client().list_installed_plugin_ids(rr.TENANT, "bogus")
    rec.check_error(caught.value, dpc.PluginDaemonBadRequestError)
    assert caught.value.http_status == 200
    rec.check_request()


@cases("management/models_bindings.json", 0, 1)
def _bindings(rec):
    rec.serve()
    tenant = rec.exchange["request"]["path"].split("/")[2]
    bindings = rec.client().list_model_plugin_bindings(tenant)
    assert [b.to_dict() for b in bindings] == rec.data
    rec.check_request()


INSTALL_FILES = sorted(name for name in os.listdir(os.path.join(rr.ROUTES_DIR, "management"))
                       if name.startswith("install_"))


def _install_step(rec, tmp_dir):
    """One step of a recorded install flow: upload, install, or a poll of the task."""
    request = rec.exchange["request"]
    client = rec.client()
    rec.serve()
    if request["path"].endswith("/install/upload/package"):
        form = request["body"]["multipart_form"][0]
        path = os.path.join(tmp_dir, form["filename"])
        with open(path, "wb") as handle:  # only the size and name were recorded
            handle.write(b"\0" * form["size"])
        decoded = client.upload_pkg(rr.TENANT, path)
        assert decoded.unique_identifier == rec.data["unique_identifier"]
        assert decoded.manifest.name == rec.data["manifest"]["name"]
        assert decoded.verification is None
    elif request["path"].endswith("/install/identifiers"):
        body = request["body"]
        start = client.install_from_identifiers(rr.TENANT, body["plugin_unique_identifiers"],
                                                body["source"], body["metas"])
        assert (start.all_installed, start.task_id) == (rec.data["all_installed"],
                                                        rec.data["task_id"])
    else:
        task = client.fetch_plugin_installation_task(rr.TENANT, request["path"].split("/")[-1])
        assert task.status == rec.data["status"]
        assert [(p.plugin_id, p.status, p.message) for p in task.plugins] == [
            (p["plugin_id"], p["status"], p["message"]) for p in rec.data["plugins"]]
    rec.check_request()


for _name in INSTALL_FILES:
    cases("management/" + _name, *range(5))(lambda rec: _install_step(rec, rec.tmp_dir))


@cases("management/list_all.json", 0)
def _list_all(rec):
    rec.serve()
    page = rec.client().list_plugins_with_total(rr.TENANT, 1, 50)
    assert page.total == rec.data["total"] == len(page.list)
    assert [p.plugin_id for p in page.list] == [item["plugin_id"] for item in rec.data["list"]]
    rec.check_request()


@cases("management/decode_and_manifest.json", 0, 1)
def _decode_and_manifest(rec):
    rec.serve()
    identifier = _query(rec)["plugin_unique_identifier"][0]
    client = rec.client()
    if rec.index == 0:
        decoded = client.decode_plugin_from_identifier(rr.TENANT, identifier)
        assert decoded.unique_identifier == identifier and decoded.manifest.category == "model"
        assert decoded.manifest.icon == "icon.svg"  # decoded again: the package's own names
    else:
        manifest = client.fetch_plugin_manifest(rr.TENANT, identifier)
        assert manifest.category == "model" and manifest.model["provider"] == "echomodel"
        assert manifest.icon == rec.data["icon"]
    rec.check_request(extra_query=("PluginUniqueIdentifier",))


@cases("debugging/debugging_key.json", 0, 1, 2)
def _debugging_key(rec):
    rec.serve()
    tenant = rec.exchange["request"]["path"].split("/")[2]
    assert rec.client().get_debugging_key(tenant) == rec.data["key"]
    rec.check_request()


@cases("debugging/debugging_key.json", 3)
def _debugging_key_wrong_key(rec):
    rec.serve()
    with pytest.raises(dpc.PluginDaemonUnauthorizedError) as caught:
        rec.client(key="not-the-daemon-key").get_debugging_key(rr.TENANT)
    rec.check_error(caught.value, dpc.PluginDaemonUnauthorizedError)
    assert caught.value.http_status == 401
    rec.check_request()


@cases("debugging/debugging_key.json", 4)
def _debugging_key_get(rec):
    """The route takes POST only (the client's method); GET is an unknown route."""
    rec.serve()
    with pytest.raises(dpc.HTTPStatusError) as caught:
        rec.raw_call(rec.client())
    assert caught.value.status_code == 404 and caught.value.code == "not_found"
    rec.check_request()


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


@cases("asset/asset_fetch.json", 0, 2)
def _asset(rec):
    rec.serve()
    tenant, asset_id = rec.exchange["request"]["path"].split("/")[2::2]
    data = rec.client().fetch_asset(tenant, asset_id)
    assert _sha256(data) == rec.response["body_sha256"] and len(data) == 112
    rec.check_request()


@cases("asset/asset_fetch.json", 1)
def _asset_missing(rec):
    rec.serve()
    asset_id = rec.exchange["request"]["path"].rsplit("/", 1)[1]
    with pytest.raises(dpc.PluginDaemonNotFoundError, match="empty body"):
        rec.client().fetch_asset(rr.TENANT, asset_id)
    rec.check_request()


@cases("asset/asset_fetch.json", 3, 4, 5, 6, 7)
def _extract_asset(rec):
    rec.serve()
    query = _query(rec)
    client = rec.client()
    arguments = (rr.TENANT, query["plugin_unique_identifier"][0], query["file_path"][0])
    if rec.index == 3:
        assert _sha256(client.extract_asset(*arguments)) == rec.response["body_sha256"]
    elif rec.index == 5:
        with pytest.raises(dpc.PluginDaemonInternalServerError) as caught:
            client.extract_asset(*arguments)
        rec.check_error(caught.value, dpc.PluginDaemonInternalServerError)
    else:
        with pytest.raises(dpc.PluginDaemonNotFoundError, match="empty body"):
            client.extract_asset(*arguments)
    rec.check_request()


@cases("asset/asset_fetch.json", 8)
def _extract_asset_without_slash(rec):
    """The route ends with a slash; without it gin redirects (301) to the path the client
    uses. Sent raw: the client never leaves the slash out."""
    rec.serve()
    host, port = rec.replay.url.split("//")[1].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("GET", rec.exchange["request"]["target"], headers={"X-Api-Key": rr.KEY})
    response = connection.getresponse()
    response.read()
    connection.close()
    location = urllib.parse.urlsplit(response.getheader("Location"))
    assert response.status == 301 and location.path == "/plugin/%s/extract-asset/" % rr.TENANT
    rec.check_request()


@pytest.mark.parametrize("key", cases.keys(), ids=case_id)
def test_recorded_exchange(replay, key, tmp_path):
    run_case(cases, replay, key, str(tmp_path))


def test_every_recorded_exchange_is_checked():
    check_folder(cases, CLAIMED_FOLDERS, elsewhere=CHECKED_ELSEWHERE)
    assert len(INSTALL_FILES) == 8
