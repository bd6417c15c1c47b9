"""Endpoints: the client and CLI against the fake daemon, and every recorded answer of
tests/transcripts/0.6.10-routes/endpoint/ replayed on loopback."""

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

import dify_plugin_client as dpc
import route_replay as rr
from extensions_support import (Cli, case_id, check_folder, check_route_group, install_echo,
                                 json_answer, recorded_declaration, run_case)
from fake_daemon.routes import endpoints as fake_endpoints
from fake_daemon.wire import _DaemonError

CLAIMED_FOLDERS = ("endpoint",)
PLUGIN = "e2etest/echoendpoint"
SECRET = "secret-value-1"
SETTINGS = {"api_key": SECRET, "greeting": "hi"}


@pytest.fixture
def echo(client, daemon, tenant):
    """The identifier of tests/e2e/plugins/echoendpoint, installed for ``tenant``."""
    return install_echo(client, daemon, tenant, "echoendpoint")


@pytest.fixture
def cli(daemon, tenant, tmp_path):
    return Cli(daemon, tenant, tmp_path)


def _requests(daemon, fragment):
    return [r for r in daemon.requests if fragment in r.path]


def _hook_get(url):
    with urllib.request.urlopen(url) as response:
        return json.loads(response.read())


# =============================================================================
# The client against the fake daemon
# =============================================================================


def test_create_endpoint_returns_the_endpoint_it_made(client, daemon, tenant, echo):
    daemon.reset_stats()
    endpoint = client.create_endpoint(tenant, "u1", echo, "github", SETTINGS)
    sent = [(r.method, r.path, r.query) for r in daemon.requests]
    listing = ("GET", "/plugin/%s/endpoint/list/plugin" % tenant,
               {"plugin_id": [PLUGIN], "page": ["1"], "page_size": ["100"]})
    assert sent == [listing, ("POST", "/plugin/%s/endpoint/setup" % tenant, {}), listing]
    setup = daemon.requests[1]
    assert setup.json() == {"plugin_unique_identifier": echo, "user_id": "u1", "name": "github",
                            "settings": SETTINGS}
    assert setup.headers["Content-Type"] == "application/json"
    [row] = daemon.endpoint_store.rows
    assert (endpoint.id, endpoint.hook_id, endpoint.name) == (row["id"], row["hook_id"], "github")
    assert endpoint.enabled and endpoint.plugin_id == PLUGIN and endpoint.user_id == "u1"
    assert endpoint.settings == {"api_key": "se**********-1", "greeting": "hi"}  # the daemon's mask
    assert endpoint.masked_settings() == {"api_key": "****", "greeting": "hi"}
    declaration = endpoint.declaration
    assert [(e.method, e.path, e.hidden) for e in declaration.endpoints][:2] == [
        ("POST", "/echo", False), ("GET", "/echo/<path:rest>", False)]
    assert declaration.secret_settings() == ["api_key"]
    assert [s.name for s in declaration.settings] == ["api_key", "greeting"]
    assert SECRET not in repr(endpoint)


def test_the_endpoint_url_reaches_the_hook(client, daemon, tenant, echo):
    endpoint = client.create_endpoint(tenant, "u1", echo, "e", SETTINGS)
    url = endpoint.url(daemon.url, "/echo/a b?x=1")
    assert url == "%s/e/%s/echo/a%%20b?x=1" % (daemon.url, endpoint.hook_id)
    seen = _hook_get(url)
    assert seen["path"] == "/echo/a b" and seen["query"] == {"x": ["1"]}
    assert seen["settings"] == SETTINGS  # the plugin gets them unmasked


@pytest.mark.parametrize("base, hook, path, expected", [
    ("http://d:5002", "abc", "", "http://d:5002/e/abc"),
    ("http://d:5002/", "abc", "/echo", "http://d:5002/e/abc/echo"),
    ("https://p.example.com/plugins", "abc", "/x/y", "https://p.example.com/plugins/e/abc/x/y"),
    ("https://dify.example/e/{hook_id}", "abc", "/hook", "https://dify.example/e/abc/hook"),
    ("http://d", "a-b_9", "/q?k=v w&z", "http://d/e/a-b_9/q?k=v%20w&z"),
    ("http://d", "abc", "/caf\u00e9", "http://d/e/abc/caf%C3%A9"),
])
def test_endpoint_url(base, hook, path, expected):
    assert dpc.endpoint_url(base, hook, path) == expected


@pytest.mark.parametrize("base, hook, path, argument", [
    ("", "abc", "", "base_url"), ("ftp://d", "abc", "", "base_url"), ("d:5002", "abc", "", "base_url"),
    ("http://d\n/x", "abc", "", "base_url"), ("http://d", "", "", "hook_id"),
    ("http://d", "a/b", "", "hook_id"), ("http://d", "abc", "echo", "path"),
    ("http://d", None, "", "hook_id"),
])
def test_endpoint_url_refuses(base, hook, path, argument):
    with pytest.raises(dpc.InvalidArgumentError) as info:
        dpc.endpoint_url(base, hook, path)
    assert info.value.argument == argument


def test_list_endpoints_reads_every_page(client, daemon, tenant, echo):
    for index in range(104):
        daemon.endpoint_store.rows.append({
            "id": str(uuid.uuid4()), "created": fake_endpoints._now(), "updated": fake_endpoints._now(),
            "name": "n%d" % index, "hook_id": "h%d" % index, "tenant_id": tenant, "user_id": "u",
            "plugin_id": PLUGIN, "enabled": True, "settings": {"api_key": "k"}})
    daemon.reset_stats()
    endpoints = client.list_endpoints(tenant)
    assert [e.name for e in endpoints] == ["n%d" % i for i in reversed(range(104))]  # newest first
    assert [r.query for r in daemon.requests] == [{"page": [str(p)], "page_size": ["100"]}
                                                   for p in (1, 2)]
    assert len(client.list_endpoints_for_single_plugin(tenant, PLUGIN)) == 104
    assert client.list_endpoints_for_single_plugin(tenant, "e2etest/other") == []
    page = client.fetch_endpoints_page(tenant, 2, 50, plugin_id=PLUGIN)
    assert [e.name for e in page] == ["n%d" % i for i in reversed(range(4, 54))]
    assert daemon.requests[-1].query == {"plugin_id": [PLUGIN], "page": ["2"], "page_size": ["50"]}


@pytest.mark.parametrize("page, size, argument", [(0, 10, "page"), (True, 10, "page"),
                                                  (1, 101, "page_size"), (1, 0, "page_size"),
                                                  ("1", 10, "page")])
def test_page_arguments_are_checked_before_sending(client, daemon, tenant, page, size, argument):
    with pytest.raises(dpc.InvalidArgumentError) as info:
        client.fetch_endpoints_page(tenant, page, size)
    assert info.value.argument == argument and daemon.requests == []
    with pytest.raises(dpc.InvalidArgumentError):
        client.iter_endpoints(tenant, page_size=101)


def test_update_keeps_a_masked_secret_and_replaces_a_new_one(client, daemon, tenant, echo):
    endpoint = client.create_endpoint(tenant, "u1", echo, "e", SETTINGS)
    assert client.update_endpoint(tenant, "u2", endpoint.id, "renamed",
                                  dict(endpoint.settings, greeting="yo")) is True
    assert daemon.requests[-1].json() == {
        "endpoint_id": endpoint.id, "user_id": "u2", "name": "renamed",
        "settings": {"api_key": "se**********-1", "greeting": "yo"}}
    assert daemon.endpoint_store.rows[0]["settings"] == {"api_key": SECRET, "greeting": "yo"}
    client.update_endpoint(tenant, "u2", endpoint.id, "renamed", {"api_key": "new-secret-2"})
    assert daemon.endpoint_store.rows[0]["settings"] == {"api_key": "new-secret-2"}
    assert client.fetch_endpoint(tenant, endpoint.id).name == "renamed"


def test_enable_disable_remove(client, daemon, tenant, echo):
    endpoint = client.create_endpoint(tenant, "u1", echo, "e", SETTINGS)
    url = endpoint.url(daemon.url, "/echo/x")
    assert client.disable_endpoint(tenant, endpoint.id) is True
    assert daemon.requests[-1].json() == {"endpoint_id": endpoint.id}
    assert daemon.requests[-1].path == "/plugin/%s/endpoint/disable" % tenant
    with pytest.raises(urllib.error.HTTPError) as info:
        _hook_get(url)
    assert info.value.code == 404
    assert client.fetch_endpoint(tenant, endpoint.id).enabled is False
    assert client.enable_endpoint(tenant, endpoint.id) is True
    assert _hook_get(url)["path"] == "/echo/x"
    assert client.delete_endpoint(tenant, endpoint.id) is True
    assert daemon.requests[-1].path == "/plugin/%s/endpoint/remove" % tenant
    assert client.list_endpoints(tenant) == []
    with pytest.raises(dpc.PluginDaemonInternalServerError):
        client.delete_endpoint(tenant, endpoint.id)  # the daemon: record not found
    with pytest.raises(dpc.PluginDaemonNotFoundError):
        client.enable_endpoint(tenant, endpoint.id)
    with pytest.raises(dpc.PluginDaemonNotFoundError):
        client.fetch_endpoint(tenant, endpoint.id)


@pytest.mark.parametrize("call, argument", [
    (lambda c, t: c.create_endpoint(t, "", "a/b:0.0.1@" + "0" * 32, "n"), "user_id"),
    (lambda c, t: c.create_endpoint(t, "u", "a/b", "n"), "plugin_unique_identifier"),
    (lambda c, t: c.create_endpoint(t, "u", "a/b:0.0.1@" + "0" * 32, ""), "name"),
    (lambda c, t: c.create_endpoint(t, "u", "a/b:0.0.1@" + "0" * 32, "n", ["x"]), "settings"),
    (lambda c, t: c.create_endpoint(t, "u", "a/b:0.0.1@" + "0" * 32, "n", {"k": object()}),
     "settings"),
    (lambda c, t: c.update_endpoint(t, "u", "not-a-uuid", "n", {}), "endpoint_id"),
    (lambda c, t: c.update_endpoint(t, "u", str(uuid.uuid4()), "n", None), "settings"),
    (lambda c, t: c.enable_endpoint(t, "../../x"), "endpoint_id"),
    (lambda c, t: c.disable_endpoint(t, None), "endpoint_id"),
    (lambda c, t: c.delete_endpoint("tenant-1", str(uuid.uuid4())), "tenant_id"),
    (lambda c, t: c.fetch_endpoints_page(t, plugin_id="Not A Plugin"), "plugin_id"),
])
def test_bad_arguments_send_nothing(client, daemon, tenant, call, argument):
    with pytest.raises(dpc.InvalidArgumentError) as info:
        call(client, tenant)
    assert info.value.argument == argument
    assert daemon.requests == []


def test_setup_errors_are_typed(client, daemon, tenant, echo):
    with pytest.raises(dpc.PluginDaemonBadRequestError) as info:
        client.create_endpoint(tenant, "u", echo, "e", {"greeting": "x"})
    assert "missing required setting: api_key" in info.value.message
    with pytest.raises(dpc.PluginNotFoundError):
        client.create_endpoint(tenant, "u", echo.replace("0.0.1", "9.9.9"), "e", SETTINGS)
    tool = install_echo(client, daemon, tenant, "echotool")
    with pytest.raises(dpc.PluginPermissionDeniedError):
        client.create_endpoint(tenant, "u", tool, "e", {})
    assert daemon.endpoint_store.rows == []


# --- a setup that fails after the daemon made the row --------------------------


def _route_params(h):
    """What the router would have bound for an override (it binds nothing itself)."""
    h.params = {"tenant_id": h.record.path.split("/")[2]}


def _setup_with_dify_down_once(daemon):
    """The daemon's setup while Dify's inner API is unreachable; reachable again after."""
    def handler(h):
        _route_params(h)
        store = daemon.endpoint_store
        store.inner_api_down = True
        try:
            fake_endpoints._r_setup(daemon, h)
        except _DaemonError as exc:
            h.send_body(200, exc.body())
        finally:
            store.inner_api_down = False
    daemon.add_override("POST", r"/endpoint/setup$", handler)


def test_failed_setup_removes_the_row_the_daemon_left(client, daemon, tenant, echo):
    _setup_with_dify_down_once(daemon)
    with pytest.raises(dpc.PluginDaemonInternalServerError) as info:
        client.create_endpoint(tenant, "u1", echo, "e", SETTINGS)
    message = str(info.value)
    assert "failed to encrypt settings" in message and "the client removed it" in message
    assert daemon.endpoint_store.rows == []
    assert _requests(daemon, "/endpoint/remove")
    assert SECRET not in message


def test_failed_setup_with_dify_down_names_the_endpoint_left_behind(client, daemon, tenant, echo):
    daemon.endpoint_store.inner_api_down = True
    with pytest.raises(dpc.EndpointLeftBehindError) as info:
        client.create_endpoint(tenant, "u1", echo, "my-hook", SETTINGS)
    error = info.value
    assert isinstance(error, dpc.PluginDaemonError) and error.code == -500
    assert error.error_type == "PluginDaemonInternalServerError"
    assert isinstance(error.__cause__, dpc.PluginDaemonInternalServerError)
    assert error.name == "my-hook" and error.plugin_id == PLUGIN and error.endpoints == []
    assert "'my-hook'" in error.message and "failed to encrypt settings" in error.message
    assert "endpoints remove" in error.hint and SECRET not in str(error)
    [row] = daemon.endpoint_store.rows
    assert row["settings"] == {} and row["name"] == "my-hook"
    daemon.endpoint_store.inner_api_down = False
    [orphan] = client.list_endpoints(tenant)
    assert orphan.settings == {} and orphan.name == "my-hook"


def test_cleanup_leaves_an_older_endpoint_of_the_same_name_alone(client, daemon, tenant, echo):
    daemon.endpoint_store.inner_api_down = True
    with pytest.raises(dpc.EndpointLeftBehindError):
        client.create_endpoint(tenant, "u1", echo, "same", SETTINGS)
    daemon.endpoint_store.inner_api_down = False
    [older] = daemon.endpoint_store.rows  # an earlier orphan: same name, user, no settings
    _setup_with_dify_down_once(daemon)
    with pytest.raises(dpc.PluginDaemonInternalServerError) as info:
        client.create_endpoint(tenant, "u1", echo, "same", SETTINGS)
    assert "the client removed it" in info.value.message
    assert daemon.endpoint_store.rows == [older]


def test_a_leftover_that_cannot_be_removed_is_named_by_id(client, daemon, tenant, echo):
    _setup_with_dify_down_once(daemon)
    daemon.add_override("POST", r"/endpoint/remove$", lambda h: h.send_body(
        200, _DaemonError(-500, "PluginDaemonInternalServerError", "database is gone").body()))
    with pytest.raises(dpc.EndpointLeftBehindError) as info:
        client.create_endpoint(tenant, "u1", echo, "e", SETTINGS)
    [row] = daemon.endpoint_store.rows
    assert [e.id for e in info.value.endpoints] == [row["id"]]
    assert row["id"] in info.value.message and row["hook_id"] in info.value.message


def test_a_failure_that_leaves_nothing_is_raised_as_is(client, daemon, tenant, echo):
    daemon.add_override("POST", r"/endpoint/setup$", lambda h: h.send_body(
        200, _DaemonError(-500, "PluginDaemonInternalServerError", "failed to setup endpoint: x").body()))
    with pytest.raises(dpc.PluginDaemonInternalServerError) as info:
        client.create_endpoint(tenant, "u1", echo, "e", SETTINGS)
    assert info.value.message == "failed to setup endpoint: x"


def test_two_endpoints_made_at_once_are_not_guessed(client, daemon, tenant, echo):
    def twice(h):
        _route_params(h)
        fake_endpoints._r_setup(daemon, h)
        copy = dict(daemon.endpoint_store.rows[-1], id=str(uuid.uuid4()), hook_id="other")
        daemon.endpoint_store.rows.append(copy)
        h.send_body(200, b'{"code":0,"message":"success","data":true}')
    daemon.add_override("POST", r"/endpoint/setup$", twice)
    with pytest.raises(dpc.EndpointNotIdentifiedError) as info:
        client.create_endpoint(tenant, "u1", echo, "e", SETTINGS)
    assert sorted(e.id for e in info.value.candidates) == sorted(
        r["id"] for r in daemon.endpoint_store.rows)
    assert "it is one of them" in info.value.message


def test_an_endpoint_of_another_name_is_not_taken_for_ours(client, daemon, tenant, echo):
    def other(h):
        _route_params(h)
        fake_endpoints._r_setup(daemon, h)
        daemon.endpoint_store.rows[-1]["name"] = "someone-else"
        h.send_body(200, b'{"code":0,"message":"success","data":true}')
    daemon.add_override("POST", r"/endpoint/setup$", other)
    with pytest.raises(dpc.EndpointNotIdentifiedError) as info:
        client.create_endpoint(tenant, "u1", echo, "e", SETTINGS)
    assert info.value.candidates == [] and "no new endpoint" in info.value.message


def test_an_older_endpoint_of_the_same_name_is_not_taken_for_the_new_one(client, daemon, tenant,
                                                                         echo):
    first = client.create_endpoint(tenant, "u1", echo, "same", SETTINGS)
    second = client.create_endpoint(tenant, "u1", echo, "same", SETTINGS)
    assert first.id != second.id
    assert second.id == sorted(daemon.endpoint_store.rows, key=lambda r: r["created"])[-1]["id"]


# =============================================================================
# The CLI
# =============================================================================


def test_cli_setup_list_show_url(cli, daemon, tenant, echo, tmp_path):
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps(SETTINGS))
    run = cli("endpoints", "setup", "--identifier", echo, "--name", "gh", "--settings",
              "@" + str(settings), "--user", "ops")
    assert run.code == 0, run
    [row] = daemon.endpoint_store.rows
    assert run.out.strip() == "%s/e/%s" % (daemon.url, row["hook_id"])
    assert row["id"] in run.err and row["user_id"] == "ops"
    listed = cli("endpoints", "--json").json()
    assert listed[0]["settings"] == {"api_key": "****", "greeting": "hi"}
    assert listed[0]["url"] == "%s/e/%s" % (daemon.url, row["hook_id"])
    table = cli("endpoints", "list", "--plugin", PLUGIN, "--base-url", "https://p.example")
    assert row["id"] in table.out and "https://p.example/e/%s" % row["hook_id"] in table.out
    shown = cli("endpoints", "show", row["id"])
    assert "/echo" in shown.out and "****" in shown.out and "se**" not in shown.out
    assert cli("endpoints", "show", row["id"], "--json").json()["id"] == row["id"]
    url = cli("endpoints", "url", row["id"], "--path", "/echo", "--base-url",
              "https://dify.example/e/{hook_id}")
    assert url.out.strip() == "https://dify.example/e/%s/echo" % row["hook_id"]
    by_hook = cli("endpoints", "url", row["hook_id"], "--json").json()
    assert by_hook == {"endpoint_id": None, "hook_id": row["hook_id"],
                       "url": "%s/e/%s" % (daemon.url, row["hook_id"])}
    for text in (run.out, run.err, listed, table.out, shown.out):
        assert SECRET not in str(text) and "se**********-1" not in str(text)


def test_cli_update_changes_only_what_is_given(cli, daemon, tenant, echo):
    assert cli("endpoints", "setup", "--identifier", echo, "--name", "gh", "--settings",
               json.dumps(SETTINGS)).code == 0
    endpoint_id = daemon.endpoint_store.rows[0]["id"]
    run = cli("endpoints", "update", endpoint_id, "--settings", "-", "--json",
              stdin='{"greeting": "hello"}')
    assert run.code == 0, run
    assert run.json()["settings"] == {"api_key": "****", "greeting": "hello"}
    assert daemon.endpoint_store.rows[0]["settings"] == {"api_key": SECRET, "greeting": "hello"}
    assert cli("endpoints", "update", endpoint_id, "--name", "renamed").code == 0
    assert daemon.endpoint_store.rows[0]["name"] == "renamed"
    run = cli("endpoints", "update", endpoint_id, "--replace-settings", "--settings",
              '{"greeting": "x"}')
    assert run.code == 1 and "missing required setting: api_key" in run.err


def test_cli_enable_disable_remove(cli, daemon, tenant, echo):
    cli("endpoints", "setup", "--identifier", echo, "--name", "gh", "--settings",
        json.dumps(SETTINGS))
    endpoint_id = daemon.endpoint_store.rows[0]["id"]
    assert cli("endpoints", "disable", endpoint_id, "--json").json() == {
        "endpoint_id": endpoint_id, "disabled": True}
    assert daemon.endpoint_store.rows[0]["enabled"] is False
    run = cli("endpoints", "enable", endpoint_id)
    assert run.code == 0 and "enabled endpoint" in run.err
    assert cli("endpoints", "remove", endpoint_id).code == 0
    assert daemon.endpoint_store.rows == []
    again = cli("endpoints", "remove", endpoint_id)
    assert again.code == 1 and "record not found" in again.err and "Traceback" not in again.err


def test_cli_errors_and_exit_codes(cli, daemon, tenant, echo):
    unknown = str(uuid.uuid4())
    for argv in (("endpoints", "show", unknown), ("endpoints", "url", unknown)):
        run = cli(*argv)
        assert run.code == 1 and "no endpoint %s" % unknown in run.err, run
    run = cli("endpoints", "enable", "not-a-uuid")
    assert run.code == 2 and "endpoint_id" in run.err
    run = cli("endpoints", "setup", "--identifier", echo, "--name", "n", "--settings", "[1]")
    assert run.code == 2 and "--settings must be a JSON object" in run.err
    run = cli("endpoints", "url", "x/y")
    assert run.code == 2 and "hook_id" in run.err
    daemon.endpoint_store.inner_api_down = True
    run = cli("endpoints", "setup", "--identifier", echo, "--name", "n", "--settings",
              json.dumps(SETTINGS))
    assert run.code == 1 and "anyway" in run.err and "endpoints remove" in run.err
    assert SECRET not in run.out + run.err and "Traceback" not in run.err


def test_routes_table_names_real_methods():
    check_route_group("/endpoint/", 7, prefix="/")


# =============================================================================
# The recorded answers (tests/transcripts/0.6.10-routes/endpoint/)
# =============================================================================

cases = rr.Cases()
T, OTHER, USER = rr.TENANT, rr.OTHER_TENANT, rr.USER
ECHO = ("ceocheck/echoendpoint:0.0.1@6def35f1469cc156f41d7abc4e618856d3791284c0619f4ed972fd3d0503ad0f")
ECHO_PLUGIN = "ceocheck/echoendpoint"


def _same_endpoint(entity, raw):
    assert (entity.id, entity.hook_id, entity.name, entity.enabled) == (
        raw["id"], raw["hook_id"], raw["name"], raw["enabled"])
    assert (entity.tenant_id, entity.user_id, entity.plugin_id) == (
        raw["tenant_id"], raw["user_id"], raw["plugin_id"])
    assert entity.settings == raw["settings"]
    assert dpc._format_datetime(entity.created_at).rstrip("0Z") == raw["created_at"].rstrip("0Z")
    assert entity.expired_at.year == 2050
    declaration = raw["declaration"]
    assert [(e.path, e.method, e.hidden) for e in entity.declaration.endpoints] == [
        (e["path"], e["method"], e["hidden"]) for e in declaration["endpoints"]]
    assert [(s.name, s.type, s.required) for s in entity.declaration.settings] == [
        (s["name"], s["type"], s["required"]) for s in declaration["settings"]]


def _query(r):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(r.exchange["request"]["target"]).query))


@cases("endpoint/disable_enable.json", 2)
@cases("endpoint/inner_api_down.json", 1, 9, 11)
@cases("endpoint/list_variants.json", 0, 1, 2, 6)
@cases("endpoint/orphan_after_failed_setup.json", 0, 3)
@cases("endpoint/remove.json", 1)
@cases("endpoint/setup_and_list.json", 1)
@cases("endpoint/update.json", 0, 2)
def check_list(r):
    r.serve()
    request = r.exchange["request"]
    tenant = request["path"].split("/")[2]
    query = _query(r)
    endpoints = r.client().fetch_endpoints_page(tenant, int(query["page"]), int(query["page_size"]),
                                                plugin_id=query.get("plugin_id"))
    r.check_request()
    assert len(endpoints) == len(r.data)
    for entity, raw in zip(endpoints, r.data):
        _same_endpoint(entity, raw)


@cases("endpoint/inner_api_down.json", 2, 3)
def check_list_error(r):
    r.serve()
    query = _query(r)
    with pytest.raises(dpc.PluginDaemonError) as info:
        r.client().fetch_endpoints_page(T, int(query["page"]), int(query["page_size"]),
                                        plugin_id=query.get("plugin_id"))
    r.check_request()
    r.check_error(info.value, dpc.PluginDaemonInternalServerError)
    assert "failed to decrypt settings" in info.value.message


@cases("endpoint/list_variants.json", 3, 4, 5)
def check_list_refused(r):
    """Page 0, page_size 101 and a missing page: the client never sends them; the daemon's
    answer (HTTP 400) is still read as the typed error."""
    query = _query(r)
    client = r.client()
    with pytest.raises(dpc.InvalidArgumentError):
        client.fetch_endpoints_page(T, int(query.get("page", 0)), int(query["page_size"]))
    r.check_nothing_sent()
    r.serve()
    with pytest.raises(dpc.PluginDaemonBadRequestError) as info:
        r.raw_call(client)
    r.check_error(info.value, dpc.PluginDaemonBadRequestError)
    assert info.value.http_status == 400


def _setup_flow(r, before, after, *more):
    """create_endpoint with the recorded setup answer between made-up listings."""
    body = r.body
    r.replay.serve(json_answer(before), r.exchange, *([json_answer(after)] if after is not None
                                                      else []) + list(more))
    call = lambda: r.client().create_endpoint(  # noqa: E731
        T, body["user_id"], body["plugin_unique_identifier"], body.get("name", ""), body["settings"])
    return call


def _check_setup_request(r):
    received = r.replay.received
    assert received[0].path == "/plugin/%s/endpoint/list/plugin" % T
    assert received[0].query["plugin_id"] == [body_plugin(r)]
    assert rr.request_problems(r.exchange, received[1]) == []


def body_plugin(r):
    return r.body["plugin_unique_identifier"].split(":")[0]


@cases("endpoint/setup_and_list.json", 0)
@cases("endpoint/inner_api_down.json", 0)
def check_setup(r):
    listed = [item for item in rr.recording(
        "endpoint", "setup_and_list.json" if r.name.endswith("setup_and_list.json")
        else "inner_api_down.json")["exchanges"][1]["response"]["body"]["data"]
        if item["name"] == r.body["name"]]
    endpoint = _setup_flow(r, [], listed)()
    _check_setup_request(r)
    _same_endpoint(endpoint, listed[0])


@cases("endpoint/setup_errors.json", 0, 1, 2, 5)
def check_setup_error(r):
    classes = {-400: dpc.PluginDaemonBadRequestError, -404: dpc.PluginNotFoundError,
               -403: dpc.PluginPermissionDeniedError}
    cls = classes[r.response["body"]["code"]]
    with pytest.raises(dpc.PluginDaemonError) as info:
        _setup_flow(r, [], None)()
    _check_setup_request(r)
    r.check_error(info.value, cls)
    assert len(r.replay.received) == 2  # no cleanup after a refusal


@cases("endpoint/setup_errors.json", 3, 4)
def check_setup_refused(r):
    """A malformed identifier, a missing name: refused before sending anything."""
    body = r.body
    client = r.client()
    with pytest.raises(dpc.InvalidArgumentError) as info:
        client.create_endpoint(T, body["user_id"], body["plugin_unique_identifier"],
                               body.get("name", ""), body["settings"])
    assert info.value.argument in ("plugin_unique_identifier", "name")
    r.check_nothing_sent()
    r.serve()
    with pytest.raises(dpc.PluginDaemonBadRequestError) as error:
        r.raw_call(client)
    r.check_error(error.value, dpc.PluginDaemonBadRequestError)


@cases("endpoint/inner_api_down.json", 4)
def check_setup_with_dify_down(r):
    """The recorded -500 'failed to encrypt settings'; the listing to clean up fails too
    (the recorded list/plugin answer while Dify was down): the error names the endpoint."""
    while_down = rr.exchange("endpoint", "inner_api_down.json", 3)
    with pytest.raises(dpc.EndpointLeftBehindError) as info:
        _setup_flow(r, [], None, while_down)()
    _check_setup_request(r)
    error = info.value
    assert error.endpoints == [] and error.name == "echo-down-2" and error.plugin_id == ECHO_PLUGIN
    assert isinstance(error.__cause__, dpc.PluginDaemonInternalServerError)
    r.check_error(error.__cause__, dpc.PluginDaemonInternalServerError)
    assert error.message.startswith(error.__cause__.message.split(";")[0])
    assert "'echo-down-2'" in error.message and "failed to decrypt settings" in error.message


@cases("endpoint/orphan_after_failed_setup.json", 2)
def check_orphan_removed(r):
    """The recorded orphan (listed after Dify came back) is found and removed by the
    client after the recorded failed setup."""
    setup = rr.Replayed(r.replay, ("endpoint/inner_api_down.json", 4))
    orphan = rr.exchange("endpoint", "orphan_after_failed_setup.json", 0)["response"]["body"]["data"]
    body = setup.body
    r.replay.serve(json_answer([]), setup.exchange, json_answer(orphan), r.exchange)
    with pytest.raises(dpc.PluginDaemonInternalServerError) as info:
        r.client().create_endpoint(T, body["user_id"], body["plugin_unique_identifier"],
                                   body["name"], body["settings"])
    assert "the client removed it" in info.value.message and orphan[0]["id"] in info.value.message
    received = r.replay.received
    assert len(received) == 4
    assert rr.request_problems(r.exchange, received[3]) == []


def _action(r):
    """(the recorded action: enable, disable or remove; the client method that sends it)."""
    action = r.exchange["request"]["path"].rsplit("/", 1)[1]
    method = {"enable": "enable_endpoint", "disable": "disable_endpoint",
              "remove": "delete_endpoint"}[action]
    return action, getattr(r.client(), method)


@cases("endpoint/disable_enable.json", 0, 3, 4)
@cases("endpoint/inner_api_down.json", 7, 8, 10)
@cases("endpoint/remove.json", 0)
def check_action(r):
    r.serve()
    _, method = _action(r)
    assert method(T, r.body["endpoint_id"]) is True
    r.check_request()


@cases("endpoint/management_errors.json", 0, 1, 2)
@cases("endpoint/remove.json", 3)
def check_action_error(r):
    r.serve()
    action, method = _action(r)
    with pytest.raises(dpc.PluginDaemonError) as info:
        method(T, r.body["endpoint_id"])
    r.check_request()
    r.check_error(info.value, dpc.PluginDaemonNotFoundError if action != "remove"
                  else dpc.PluginDaemonInternalServerError)


@cases("endpoint/management_errors.json", 4, 5)
def check_action_refused(r):
    client = r.client()
    with pytest.raises(dpc.InvalidArgumentError) as info:
        client.enable_endpoint(T, r.body.get("endpoint_id"))
    assert info.value.argument == "endpoint_id"
    r.check_nothing_sent()
    r.serve()
    with pytest.raises(dpc.PluginDaemonError) as error:
        r.raw_call(client)
    r.check_error(error.value, dpc.PluginDaemonInternalServerError if r.response["status"] == 200
                  else dpc.PluginDaemonBadRequestError)


@cases("endpoint/update.json", 1, 4)
@cases("endpoint/management_errors.json", 3)
@cases("endpoint/inner_api_down.json", 5)
def check_update(r):
    r.serve()
    body = r.body
    call = lambda: r.client().update_endpoint(  # noqa: E731
        T, body["user_id"], body["endpoint_id"], body["name"], body["settings"])
    if r.response["body"]["code"] == 0:
        assert call() is True
    else:
        with pytest.raises(dpc.PluginDaemonError) as info:
            call()
        r.check_error(info.value, dpc.PluginDaemonNotFoundError if r.response["body"]["code"] == -404
                      else dpc.PluginDaemonInternalServerError)
    r.check_request()


@cases("endpoint/hook_invoke.json", *range(13))
@cases("endpoint/disable_enable.json", 1, 5)
@cases("endpoint/inner_api_down.json", 6)
@cases("endpoint/orphan_after_failed_setup.json", 1)
@cases("endpoint/remove.json", 2)
@cases("endpoint/update.json", 3, 5)
def check_hook(r):
    """The public hook: the URL endpoint_url builds is the one called, and the answer
    is the plugin's own (or the daemon's error envelope, read as its typed error)."""
    request = r.exchange["request"]
    hook, _, rest = request["path"][len("/e/"):].partition("/")
    query = urllib.parse.urlsplit(request["target"]).query
    url = dpc.endpoint_url(r.replay.url, hook, "/" + rest + ("?" + query if query else ""))
    split = urllib.parse.urlsplit(url)
    body = request.get("body")
    if isinstance(body, dict) and "raw_text" in body:
        payload = body["raw_text"].encode("utf-8")
    else:
        payload = json.dumps(body).encode("utf-8") if body is not None else None
    r.serve()
    connection = http.client.HTTPConnection(split.hostname, split.port, timeout=10)
    connection.request(request["method"], split.path + ("?" + split.query if split.query else ""),
                       body=payload, headers=request["headers"])
    response = connection.getresponse()
    content = response.read()
    connection.close()
    [received] = r.replay.received
    assert (received.method, received.path) == (request["method"], request["path"])
    assert received.query == urllib.parse.parse_qs(query, keep_blank_values=True)
    assert response.status == r.response["status"]
    if r.response["body_kind"] == "json":
        assert json.loads(content) == r.response["body"]
        if r.response["status"] >= 400:
            _check_envelope_error(r, content, response)
    elif request["method"] != "HEAD":
        assert content.decode("utf-8") == r.response["body"]


def _check_envelope_error(r, content, response):
    headers = dict((k.lower(), v) for k, v in response.getheaders())
    answer = dpc.Response(response.status, headers, content, "GET", r.exchange["request"]["path"])
    code = r.response["body"]["code"]
    if isinstance(code, str):
        with pytest.raises(dpc.HTTPStatusError) as info:
            dpc._decode_envelope(answer, "GET /e/...")
        assert info.value.code == code
        return
    with pytest.raises(dpc.PluginDaemonError) as info:
        dpc._decode_envelope(answer, "GET /e/...")
    r.check_error(info.value, {
        "PluginDaemonBadRequestError": dpc.PluginDaemonBadRequestError,
        "PluginDaemonNotFoundError": dpc.PluginDaemonNotFoundError,
        "PluginDaemonInternalServerError": dpc.PluginDaemonInternalServerError,
    }[r.error_layers()[0][0]])


@pytest.mark.parametrize("key", cases.keys(), ids=case_id)
def test_recorded_exchange(replay, key):
    run_case(cases, replay, key)


def test_every_recorded_exchange_is_checked():
    check_folder(cases, CLAIMED_FOLDERS)


def test_recorded_manifest_declaration_parses():
    """The upload answer of the endpoint plugin (0.6.10-routes/management/)."""
    _, declaration = recorded_declaration("install_echoendpoint.json",
                                          dpc.EndpointProviderDeclaration, "endpoint")
    assert [e.path for e in declaration.endpoints][:2] == ["/echo", "/echo/<path:rest>"]
    assert declaration.secret_settings() == ["api_key"]


def test_settings_echoed_in_an_error_are_masked(client, daemon, tenant, echo):
    """A daemon (or proxy) error that quotes the settings never shows their values."""
    def echoing(handler):
        body_file, _ = handler.read_body()
        handler.send_body(200, _DaemonError(-400, "PluginDaemonBadRequestError", "bad settings "
                                            + body_file.read().decode("utf-8")).body())
    daemon.add_override("POST", r"/endpoint/(setup|update)$", echoing)
    with pytest.raises(dpc.PluginDaemonBadRequestError) as info:
        client.create_endpoint(tenant, "u1", echo, "e", SETTINGS)
    shown = "%s %r %r" % (info.value, info.value, info.value.args)
    assert SECRET not in shown and "***" in shown
    with pytest.raises(dpc.PluginDaemonBadRequestError) as info:
        client.update_endpoint(tenant, "u1", str(uuid.uuid4()), "e", {"api_key": "other-secret-3"})
    shown = "%s %r %r" % (info.value, info.value, info.value.args)
    assert "other-secret-3" not in shown and "***" in shown
