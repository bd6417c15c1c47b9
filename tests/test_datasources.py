"""Datasources: discovery, credentials, website crawls, online documents and drives, the
CLI, and every recorded answer of tests/transcripts/0.6.10-routes/datasource/."""

import base64
import copy
import json

import pytest

import dify_plugin_client as dpc
import route_replay as rr
from extensions_support import (Cli, case_id, check_folder, check_route_group, install_echo,
                                 json_answer, recorded_declaration, run_case, with_page_size)
from fake_daemon import FakePluginError, blob_chunks

CLAIMED_FOLDERS = ("datasource",)
DOCS, DRIVE, CRAWL = ("e2etest/echodocs/echodocs", "e2etest/echodrive/echodrive",
                      "e2etest/echocrawl/echocrawl")
GOOD = {"api_key": "good"}


@pytest.fixture
def sources(client, daemon, tenant):
    return [install_echo(client, daemon, tenant, name)
            for name in ("echodocs", "echodrive", "echocrawl")]


@pytest.fixture
def cli(daemon, tenant, tmp_path):
    return Cli(daemon, tenant, tmp_path)


def _dispatch(daemon, route):
    return [r for r in daemon.requests if r.path.endswith("/dispatch/datasource/" + route)][-1]


def _handler(daemon, provider, route, fn):
    daemon.set_dispatch_handler(provider.rsplit("/", 1)[0], "datasource/" + route, fn)


# =============================================================================
# Discovery and credentials
# =============================================================================


def test_fetch_datasource_providers(client, daemon, tenant, sources):
    daemon.reset_stats()
    providers = client.fetch_datasource_providers(tenant)
    assert daemon.requests[-1].path == "/plugin/%s/management/datasources" % tenant
    assert daemon.requests[-1].query == {"page": ["1"], "page_size": ["256"]}
    assert [(p.full_name, p.declaration.provider_type) for p in providers] == [
        (DOCS, "online_document"), (DRIVE, "online_drive"), (CRAWL, "website_crawl")]
    docs = providers[0].declaration
    assert isinstance(providers[0], dpc.PluginDatasourceProviderEntity)
    assert docs.identity.name == DOCS and docs.datasource("docs").identity.provider == DOCS
    assert [c.name for c in docs.credentials_schema] == ["api_key"]
    topic = docs.datasource("docs").parameters[0]
    assert (topic.name, topic.type, topic.required) == ("topic", "string", False)
    assert topic.description.en_US == "Free text echoed back"
    one = client.fetch_datasource_provider(tenant, DRIVE)
    assert daemon.requests[-1].query == {"plugin_id": ["e2etest/echodrive"],
                                         "provider": ["echodrive"]}
    assert one.declaration.datasource("drive").identity.provider == DRIVE
    with pytest.raises(dpc.PluginNotFoundError) as info:
        client.fetch_datasource_provider(tenant, "e2etest/echodrive/nope")
    assert "no datasource provider" in info.value.message


def test_validate_datasource_credentials(client, daemon, tenant, sources):
    assert client.validate_datasource_credentials(tenant, "u", DOCS, GOOD) is True
    request = _dispatch(daemon, "validate_credentials")
    assert request.headers["X-Plugin-ID"] == "e2etest/echodocs"
    assert request.json() == {"user_id": "u", "data": {"provider": "echodocs",
                                                       "credentials": GOOD}}

    def refuse(call):
        raise FakePluginError("DatasourceCredentialValidationError", "api_key must be 'good'")
        yield  # pragma: no cover
    _handler(daemon, DOCS, "validate_credentials", refuse)
    with pytest.raises(dpc.PluginInvokeError) as info:
        client.validate_datasource_credentials(tenant, "u", DOCS, {"api_key": "wrong-secret"})
    assert info.value.invoke_error_type == "DatasourceCredentialValidationError"
    assert isinstance(info.value, dpc.DatasourceCredentialValidationError)  # as README says
    assert "wrong-secret" not in str(info.value)
    _handler(daemon, DOCS, "validate_credentials", lambda call: iter(()))
    with pytest.raises(dpc.InvalidResponseError):
        client.validate_datasource_credentials(tenant, "u", DOCS, GOOD)


# =============================================================================
# Website crawl, online documents, online drives
# =============================================================================


def _progress(call):
    assert call.data["datasource_parameters"] == {"url": "https://x"}
    yield {"result": {"status": "processing", "web_info_list": [], "total": 2, "completed": 0}}
    yield {"result": {"status": "completed", "total": 2, "completed": 2, "web_info_list": [
        {"source_url": "https://x/1", "title": "One", "description": "d", "content": "c1"}]}}


def test_website_crawl_streams_progress(client, daemon, tenant, sources):
    _handler(daemon, CRAWL, "get_website_crawl", _progress)
    stream = client.get_website_crawl(tenant, "u", CRAWL, "crawl", GOOD, {"url": "https://x"},
                                      credential_type="api-key")
    first = next(stream)
    assert isinstance(first, dpc.WebsiteCrawlResult)
    assert (first.status, first.completed, first.total) == ("processing", 0, 2)
    last = next(stream)
    assert last.status == "completed" and last.web_info_list[0].source_url == "https://x/1"
    assert list(stream) == []
    assert _dispatch(daemon, "get_website_crawl").json() == {"user_id": "u", "data": {
        "provider": "echocrawl", "datasource": "crawl", "credentials": GOOD,
        "credential_type": "api-key", "datasource_parameters": {"url": "https://x"}}}
    closed = client.get_website_crawl(tenant, "u", CRAWL, "crawl", GOOD, {"url": "https://x"})
    next(closed)
    closed.close()  # ends the stream early, without error


def test_online_document_pages_and_content(client, daemon, tenant, sources):
    def pages(call):
        yield {"result": [{"workspace_id": "w1", "workspace_name": "W", "workspace_icon": None,
                           "total": 1, "pages": [{"page_id": "p1", "page_name": "P", "type": "page",
                                                  "page_icon": {"type": "emoji"},
                                                  "parent_id": None,
                                                  "last_edited_time": "2026-01-01"}]}]}
        yield {"result": [{"workspace_id": "w2", "total": 0, "pages": []}]}
    _handler(daemon, DOCS, "get_online_document_pages", pages)
    workspaces = client.get_online_document_pages(tenant, "u", DOCS, "docs", GOOD)
    assert [w.workspace_id for w in workspaces] == ["w1", "w2"]  # every chunk's result
    page = workspaces[0].pages[0]
    assert (page.page_id, page.page_icon, page.last_edited_time) == ("p1", {"type": "emoji"},
                                                                     "2026-01-01")
    assert _dispatch(daemon, "get_online_document_pages").json()["data"][
        "datasource_parameters"] == {}  # always sent: the daemon requires it

    def content(call):
        yield {"type": "text", "message": {"text": "hello"}, "meta": None}
        for chunk in blob_chunks(b"z" * 9000, meta={"file_name": "p1.bin"}):
            yield chunk
    _handler(daemon, DOCS, "get_online_document_page_content", content)
    target = {"workspace_id": "w1", "page_id": "p1", "type": "page"}
    messages = list(client.get_online_document_page_content(tenant, "u", DOCS, "docs", GOOD,
                                                            target))
    assert [m.type for m in messages] == ["text", "blob"]
    assert all(isinstance(m, dpc.DatasourceInvokeMessage) for m in messages)
    assert messages[1].message.blob == b"z" * 9000  # merged by the client
    assert _dispatch(daemon, "get_online_document_page_content").json()["data"]["page"] == target
    unmerged = list(client.get_online_document_page_content(
        tenant, "u", DOCS, "docs", GOOD, target, merge_blob_chunks=False))
    assert [m.type for m in unmerged] == ["text", "blob_chunk", "blob_chunk", "blob_chunk"]
    _handler(daemon, DOCS, "get_online_document_pages", lambda call: iter(()))
    with pytest.raises(dpc.InvalidResponseError) as info:
        client.get_online_document_pages(tenant, "u", DOCS, "docs", GOOD)
    assert "answered nothing" in str(info.value)
    assert info.value.route == ("POST /plugin/%s/dispatch/datasource/get_online_document_pages"
                                % tenant)
    _handler(daemon, DRIVE, "online_drive_browse_files", lambda call: iter(()))
    with pytest.raises(dpc.InvalidResponseError) as info:
        client.online_drive_browse_files(tenant, "u", DRIVE, "drive", GOOD)
    assert "answered nothing for datasource/online_drive_browse_files" in str(info.value)
    assert info.value.route.endswith("/dispatch/datasource/online_drive_browse_files")


def test_online_drive_browse_and_download(client, daemon, tenant, sources):
    def browse(call):
        yield {"result": [{"bucket": "b1", "is_truncated": True,
                           "next_page_parameters": {"offset": 1},
                           "files": [{"id": "f/", "name": "f", "size": 0, "type": "folder"}]}]}
    _handler(daemon, DRIVE, "online_drive_browse_files", browse)
    [bucket] = client.online_drive_browse_files(tenant, "u", DRIVE, "drive", GOOD, prefix="f/",
                                                max_keys=1, bucket="b1",
                                                next_page_parameters={"offset": 0})
    assert bucket.is_truncated and bucket.next_page_parameters == {"offset": 1}
    assert (bucket.files[0].id, bucket.files[0].type) == ("f/", "folder")
    assert _dispatch(daemon, "online_drive_browse_files").json()["data"]["request"] == {
        "prefix": "f/", "max_keys": 1, "bucket": "b1", "next_page_parameters": {"offset": 0}}
    client.online_drive_browse_files(tenant, "u", DRIVE, "drive", GOOD)
    assert _dispatch(daemon, "online_drive_browse_files").json()["data"]["request"] == {
        "prefix": "", "max_keys": 100}
    [blob] = list(client.online_drive_download_file(tenant, "u", DRIVE, "drive", GOOD, "f/a.txt",
                                                    bucket="b1"))
    assert blob.type == "blob" and blob.message.blob == b"f/a.txt"
    assert _dispatch(daemon, "online_drive_download_file").json()["data"]["request"] == {
        "bucket": "b1", "id": "f/a.txt"}


@pytest.mark.parametrize("call, argument", [
    (lambda c, t: c.validate_datasource_credentials(t, "u", "a/b", GOOD), "provider"),
    (lambda c, t: c.validate_datasource_credentials(t, "u", DOCS, []), "credentials"),
    (lambda c, t: c.get_website_crawl(t, "u", DOCS, "", GOOD), "datasource_name"),
    (lambda c, t: c.get_website_crawl(t, "u", DOCS, "d", GOOD, "x"), "datasource_parameters"),
    (lambda c, t: c.get_online_document_pages(t, "u", DOCS, "d", GOOD, credential_type="x"),
     "credential_type"),
    (lambda c, t: c.get_online_document_page_content(t, "u", DOCS, "d", GOOD, {}), "page"),
    (lambda c, t: c.get_online_document_page_content(t, "u", DOCS, "d", "k", {"page_id": "p"}),
     "credentials"),
    (lambda c, t: c.online_drive_browse_files(t, "u", DRIVE, "d", GOOD, max_keys=0), "max_keys"),
    (lambda c, t: c.online_drive_browse_files(t, "u", DRIVE, "d", GOOD, bucket=""), "bucket"),
    (lambda c, t: c.online_drive_browse_files(t, "u", DRIVE, "d", GOOD, prefix=None), "prefix"),
    (lambda c, t: c.online_drive_download_file(t, "u", DRIVE, "d", GOOD, ""), "file_id"),
    (lambda c, t: c.online_drive_download_file(t, "", DRIVE, "d", GOOD, "f"), "user_id"),
])
def test_bad_arguments_send_nothing(client, daemon, tenant, call, argument):
    with pytest.raises(dpc.InvalidArgumentError) as info:
        result = call(client, tenant)
        list(result) if not isinstance(result, bool) else None
    assert info.value.argument == argument and daemon.requests == []


# =============================================================================
# The CLI
# =============================================================================


def test_cli_list_show_validate(cli, daemon, tenant, sources):
    run = cli("datasources")
    assert run.code == 0 and DOCS in run.out and "online_drive" in run.out, run
    assert [p["provider"] for p in cli("datasources", "list", "--json").json()] == [
        "echodocs", "echodrive", "echocrawl"]
    shown = cli("datasources", "show", DOCS)
    assert "docs" in shown.out and "online_document" in shown.out and "api_key" in shown.err
    assert "topic" in cli("datasources", "show", DOCS, "docs").out
    missing = cli("datasources", "show", DOCS, "nope")
    assert missing.code == 2 and "its datasources: docs" in missing.err
    ok = cli("datasources", "validate", "--provider", DOCS, "--credentials", json.dumps(GOOD),
             "--json")
    assert ok.code == 0 and ok.json() == {"provider": DOCS, "valid": True, "error": None}
    _handler(daemon, DOCS, "validate_credentials", lambda call: (_ for _ in ()).throw(
        FakePluginError("DatasourceCredentialValidationError", "api_key must be 'good'")))
    bad = cli("datasources", "validate", "--provider", DOCS, "--credentials", "-",
              stdin='{"api_key": "s3cr3t-value"}')
    assert (bad.code, bad.out) == (1, "not valid: api_key must be 'good'\n")  # as tools-validate
    assert "s3cr3t-value" not in bad.out + bad.err
    _handler(daemon, DOCS, "validate_credentials", lambda call: iter([{"result": False}]))
    false = cli("datasources", "validate", "--provider", DOCS, "--credentials", "{}", "--json")
    assert false.code == 1 and false.json() == {"provider": DOCS, "valid": False, "error": None}
    _handler(daemon, DOCS, "validate_credentials", lambda call: (_ for _ in ()).throw(
        FakePluginError("InvokeServerUnavailableError", "down")))  # not a refusal: an error
    down = cli("datasources", "validate", "--provider", DOCS, "--credentials", "{}")
    assert down.code == 1 and down.out == "" and "down" in down.err


def test_cli_crawl_pages_content(cli, daemon, tenant, sources, tmp_path):
    _handler(daemon, CRAWL, "get_website_crawl", _progress)
    run = cli("datasources", "crawl", "--provider", CRAWL, "--datasource", "crawl", "--params",
              '{"url": "https://x"}')
    assert run.code == 0, run
    assert "processing 0/2" in run.err and "completed 2/2" in run.err and "https://x/1" in run.out
    lines = cli("datasources", "crawl", "--provider", CRAWL, "--datasource", "crawl",
                "--params", '{"url": "https://x"}', "--json").lines()
    assert [line["status"] for line in lines] == ["processing", "completed"]
    pages = cli("datasources", "pages", "--provider", DOCS, "--datasource", "docs", "--json")
    assert pages.code == 0 and pages.json() == []
    run = cli("datasources", "page-content", "--provider", DOCS, "--datasource", "docs",
              "--page-id", "p1", "--workspace-id", "w1")
    assert run.code == 0 and run.out.strip() == "content of p1"
    assert _dispatch(daemon, "get_online_document_page_content").json()["data"]["page"] == {
        "workspace_id": "w1", "page_id": "p1", "type": "page"}


def test_cli_browse_and_download(cli, daemon, tenant, sources, tmp_path):
    def browse(call):
        yield {"result": [{"bucket": None, "is_truncated": True,
                           "next_page_parameters": {"offset": 2},
                           "files": [{"id": "a.txt", "name": "a.txt", "size": 3, "type": "file"}]}]}
    _handler(daemon, DRIVE, "online_drive_browse_files", browse)
    run = cli("datasources", "browse", "--provider", DRIVE, "--datasource", "drive",
              "--max-keys", "1", "--next-page", '{"offset": 1}')
    assert run.code == 0 and "a.txt" in run.out and '--next-page \'{"offset": 2}\'' in run.err
    request = _dispatch(daemon, "online_drive_browse_files").json()["data"]["request"]
    assert request == {"prefix": "", "max_keys": 1, "next_page_parameters": {"offset": 1}}
    out = tmp_path / "out"
    out.mkdir()
    run = cli("datasources", "download", "--provider", DRIVE, "--datasource", "drive",
              "--file-id", "docs/a.txt", "--output-dir", str(out))
    assert run.code == 0, run
    assert (out / "a.txt").read_bytes() == b"docs/a.txt"  # named by the meta's file_name
    run = cli("datasources", "browse", "--provider", DRIVE, "--datasource", "drive",
              "--max-keys", "0")
    assert run.code == 2


def test_routes_table_names_real_methods():
    check_route_group("datasource", 8)


# =============================================================================
# The recorded answers (tests/transcripts/0.6.10-routes/datasource/)
# =============================================================================

cases = rr.Cases()
T = rr.TENANT


def _provider_of(r):
    return "%s/%s" % (r.exchange["request"]["headers"]["X-Plugin-ID"], r.body["data"]["provider"])


def _call(r, client):
    """The client method for the recorded dispatch request, with its recorded arguments."""
    data = r.body["data"]
    route = r.exchange["request"]["path"].rsplit("/", 1)[1]
    args = (T, r.body["user_id"], _provider_of(r))
    if route == "validate_credentials":
        return client.validate_datasource_credentials(*args, data["credentials"])
    args = args + (data["datasource"], data["credentials"])
    if route == "get_website_crawl":
        return list(client.get_website_crawl(*args, data.get("datasource_parameters")))
    if route == "get_online_document_pages":
        return client.get_online_document_pages(*args, data.get("datasource_parameters"))
    if route == "get_online_document_page_content":
        return list(client.get_online_document_page_content(*args, data.get("page")))
    request = data["request"]
    if route == "online_drive_download_file":
        return list(client.online_drive_download_file(*args, request["id"],
                                                      bucket=request.get("bucket")))
    return client.online_drive_browse_files(*args, prefix=request.get("prefix", ""),
                                            max_keys=request.get("max_keys", 0),
                                            bucket=request.get("bucket"),
                                            next_page_parameters=request.get(
                                                "next_page_parameters"))


@cases("datasource/validate_credentials.json", 0)
def check_validate(r):
    r.serve()
    assert _call(r, r.client()) is True
    r.check_request()


@cases("datasource/website_crawl.json", 0)
def check_crawl(r):
    r.serve()
    results = _call(r, r.client())
    r.check_request()
    assert [result.to_dict() for result in results] == [event["result"] for event in r.events]


@cases("datasource/online_document.json", 0)
def check_pages(r):
    r.serve()
    workspaces = _call(r, r.client())
    r.check_request()
    assert [w.to_dict() for w in workspaces] == r.events[0]["result"]


@cases("datasource/online_document.json", 1)
@cases("datasource/online_drive.json", 2)
def check_messages(r):
    r.serve()
    messages = _call(r, r.client())
    r.check_request()
    assert [m.type for m in messages] == [e["type"] for e in r.events]
    for message, event in zip(messages, r.events):
        assert isinstance(message, dpc.DatasourceInvokeMessage) and message.meta == event["meta"]
        raw = event["message"]
        if event["type"] == "blob":
            assert message.message.blob == base64.b64decode(raw["blob"])
        elif event["type"] == "json":
            assert message.message.json_object == raw["json_object"]
        else:
            assert message.message.to_dict() == raw


@cases("datasource/online_drive.json", 0, 1)
def check_browse(r):
    r.serve()
    buckets = _call(r, r.client())
    r.check_request()
    assert [b.to_dict() for b in buckets] == r.events[0]["result"]


@cases("datasource/validate_credentials.json", 1, 2)
@cases("datasource/online_document.json", 2)
@cases("datasource/website_crawl.json", 1)
def check_plugin_error(r):
    r.serve()
    with pytest.raises(dpc.PluginInvokeError) as info:
        _call(r, r.client())
    r.check_request()  # the plugin's own error type, where the module has a class for it
    r.check_error(info.value, dpc._INVOKE_ERROR_TYPES.get(r.error_layers()[-1][0],
                                                          dpc.PluginInvokeError))


@cases("datasource/online_document.json", 3)
@cases("datasource/online_drive.json", 3)
def check_refused(r):
    """The older page-content body and a browse without max_keys: the client cannot
    send them (``page`` and ``max_keys`` are checked); the daemon's 400 reads as typed."""
    client = r.client()
    with pytest.raises(dpc.InvalidArgumentError) as info:
        _call(r, client)
    assert info.value.argument in ("page", "max_keys")
    r.check_nothing_sent()
    r.serve()
    with pytest.raises(dpc.PluginDaemonBadRequestError) as error:
        r.raw_dispatch(client, dpc.DatasourceInvokeMessage)
    r.check_error(error.value, dpc.PluginDaemonBadRequestError)


@cases("datasource/online_document.json", 4)
def check_parameters_always_sent(r):
    """Recorded without datasource_parameters (HTTP 400): the client always sends them
    ({} when none are given), so the daemon would accept its request; the recorded 400
    still reads as the typed error."""
    client = r.client()
    made_up = json_answer(None)
    made_up["response"]["body_kind"] = "sse"
    made_up["response"]["headers"] = [["Content-Type", "text/event-stream"]]
    made_up["response"]["body_raw"] = 'data: {"code":0,"message":"success","data":{"result":[]}}\n\n'
    r.replay.serve(made_up)
    assert _call(r, client) == []
    expected = copy.deepcopy(r.exchange)
    expected["request"]["body"]["data"]["datasource_parameters"] = {}
    assert rr.request_problems(expected, r.replay.received[0]) == []
    r.serve()
    with pytest.raises(dpc.PluginDaemonBadRequestError) as error:
        r.raw_dispatch(client, dpc.DatasourceInvokeMessage)
    r.check_error(error.value, dpc.PluginDaemonBadRequestError)


def _same_provider(entity, raw):
    full = "%s/%s" % (raw["plugin_id"], raw["provider"])
    declaration = raw["declaration"]
    assert (entity.id, entity.full_name, entity.plugin_unique_identifier) == (
        raw["id"], full, raw["plugin_unique_identifier"])
    assert entity.declaration.identity.name == full
    assert entity.declaration.provider_type == declaration["provider_type"]
    assert entity.declaration.oauth_schema is None
    assert [c.name for c in entity.declaration.credentials_schema] == [
        c["name"] for c in declaration["credentials_schema"]]
    for datasource, raw_datasource in zip(entity.declaration.datasources,
                                          declaration["datasources"]):
        assert datasource.identity.name == raw_datasource["identity"]["name"]
        assert datasource.identity.provider == full
        assert [(p.name, p.type, p.description.en_US) for p in datasource.parameters] == [
            (p["name"], p["type"], p["description"]["en_US"]) for p in raw_datasource["parameters"]]


@cases("datasource/discovery.json", 0)
def check_list(r):
    r.serve()
    providers = r.client().fetch_datasource_providers(T)
    assert rr.request_problems(with_page_size(r.exchange), r.replay.received[0]) == []
    assert len(providers) == len(r.data) == 3
    for entity, raw in zip(providers, r.data):
        _same_provider(entity, raw)


@cases("datasource/discovery.json", 1)
def check_get(r):
    r.serve()
    provider = r.client().fetch_datasource_provider(T, "ceocheck/echodocs/echodocs")
    r.check_request()
    _same_provider(provider, r.data)


@cases("datasource/discovery.json", 2)
def check_get_unknown(r):
    r.serve()
    with pytest.raises(dpc.PluginNotFoundError) as info:
        r.client().fetch_datasource_provider(T, "ceocheck/echodocs/nope")
    r.check_request()
    r.check_not_found(info.value)


@pytest.mark.parametrize("key", cases.keys(), ids=case_id)
def test_recorded_exchange(replay, key):
    run_case(cases, replay, key)


def test_every_recorded_exchange_is_checked():
    check_folder(cases, CLAIMED_FOLDERS)


@pytest.mark.parametrize("name", ["install_echodocs.json", "install_echodrive.json",
                                  "install_echocrawl.json"])
def test_recorded_manifest_declaration_parses(name):
    """The upload answers of the datasource plugins (0.6.10-routes/management/)."""
    decoded, declaration = recorded_declaration(name, dpc.DatasourceProviderDeclaration,
                                                "datasource")
    assert declaration.provider_type in ("online_document", "online_drive", "website_crawl")
    assert declaration.datasources[0].parameters[0].name == "topic"
    assert decoded.manifest.category == "datasource"


def test_wrong_credentials_are_not_repeated(client, daemon, tenant):
    for call in (lambda: client.validate_datasource_credentials(tenant, "u", DOCS, "sk-secret-1"),
                 lambda: client.get_website_crawl(tenant, "u", CRAWL, "crawl", ["sk-secret-1"]),
                 lambda: client.validate_trigger_credentials(tenant, "u", DOCS, "sk-secret-1"),
                 lambda: client.create_endpoint(tenant, "u", "a/b:0.0.1@" + "0" * 32, "n",
                                                "sk-secret-1"),
                 lambda: client.refresh_trigger(tenant, "u", DOCS, "sk-secret-1")):
        with pytest.raises(dpc.InvalidArgumentError) as info:
            call()
        assert "sk-secret-1" not in str(info.value)
    assert daemon.requests == []


@pytest.mark.parametrize("provider, route, call", [
    (CRAWL, "get_website_crawl", lambda c, t: list(c.get_website_crawl(
        t, "u", CRAWL, "crawl", GOOD, {"url": "https://x"}))),
    (DOCS, "get_online_document_page_content", lambda c, t: list(
        c.get_online_document_page_content(t, "u", DOCS, "docs", GOOD,
                                           {"workspace_id": "w", "page_id": "p", "type": "page"}))),
    (DRIVE, "online_drive_download_file", lambda c, t: list(c.online_drive_download_file(
        t, "u", DRIVE, "drive", GOOD, "f1"))),
])
def test_a_stream_that_must_deliver_something_and_is_empty(client, daemon, tenant, sources,
                                                            provider, route, call):
    """A crawl, a page's content and a download each owe at least one event."""
    _handler(daemon, provider, route, lambda request: iter(()))
    with pytest.raises(dpc.InvalidResponseError) as caught:
        call(client, tenant)
    assert "zero events" in caught.value.message and route in caught.value.message


def test_a_drive_bucket_without_is_truncated_is_a_broken_answer(client, daemon, tenant, sources):
    """The daemon's bucket struct always writes is_truncated: a listing without it must
    not read as complete."""
    _handler(daemon, DRIVE, "online_drive_browse_files", lambda call: iter([
        {"result": [{"bucket": None, "files": [], "next_page_parameters": None}]}]))
    with pytest.raises(dpc.ResponseValidationError) as caught:
        client.online_drive_browse_files(tenant, "u", DRIVE, "drive", GOOD)
    assert caught.value.path == "data.result[0].is_truncated"


def test_cli_a_bare_provider_not_found_says_what_it_stood_for(cli, daemon, tenant, sources):
    """--provider echodocs means langgenius/echodocs/echodocs (Dify's rule): the daemon's
    "plugin not found" alone does not say so."""
    run = cli("datasources", "validate", "--provider", "echodocs", "--credentials", "{}")
    assert run.code == 1 and "plugin not found" in run.err
    assert "stands for langgenius/echodocs/echodocs" in run.err
    assert "stands for" not in cli("datasources", "validate", "--provider",
                                   "nobody/nothing/nothing", "--credentials", "{}").err
