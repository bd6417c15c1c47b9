"""Endpoints against the real daemon: set up, list, the public hook, update, enable, disable,
remove, and the CLI (tests/e2e/plugins/echoendpoint).

The harness starts the daemon with its fake of Dify's inner API (DIFY_INNER_API_URL), so
settings are "encrypted" and setup and update work. What happens when that API is down
(the orphan a failed setup leaves) cannot be played here without stopping the shared
harness; tests/test_endpoints.py replays the recorded answers of it.
"""

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

import build_plugin
from e2e_support import USER, dpc, install_and_wait

PLUGIN = "e2etest/echoendpoint"
SECRET = "secret-value-123"
SETTINGS = {"api_key": SECRET, "greeting": "hi"}


@pytest.fixture(scope="module")
def echo(client, tenants):
    """(tenant, identifier) with tests/e2e/plugins/echoendpoint installed."""
    tenant = tenants.new()
    decoded = client.upload_pkg(tenant, build_plugin.build(plugin="echoendpoint"))
    install_and_wait(client, tenant, decoded.unique_identifier)
    return tenant, decoded.unique_identifier


@pytest.fixture
def endpoints(client, echo):
    """Makes endpoints (name -> Endpoint) and removes them afterwards."""
    tenant, identifier = echo
    made = []

    def make(name=None, settings=None):
        endpoint = client.create_endpoint(tenant, USER, identifier, name or "e2e-%s" % uuid.uuid4().hex[:8],
                                          dict(SETTINGS) if settings is None else settings)
        made.append(endpoint)
        return endpoint
    yield make
    for endpoint in made:
        try:
            client.delete_endpoint(tenant, endpoint.id)
        except dpc.PluginDaemonError:
            pass  # removed by the test


def _hook(url, method="GET", body=None, headers=None):
    """(status, headers, body bytes) of a call to the endpoint's public URL."""
    split = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(split.hostname, split.port, timeout=60)
    try:
        connection.request(method, split.path + ("?" + split.query if split.query else ""),
                           body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_setup_returns_the_endpoint_and_lists_it(client, echo, endpoints, real_daemon):
    tenant, _identifier = echo
    endpoint = endpoints("setup-test")
    assert isinstance(endpoint, dpc.Endpoint) and endpoint.enabled
    assert endpoint.name == "setup-test" and endpoint.plugin_id == PLUGIN
    assert endpoint.user_id == USER and len(endpoint.hook_id) == 16
    assert endpoint.settings == {"api_key": "se************23", "greeting": "hi"}
    assert endpoint.masked_settings() == {"api_key": "****", "greeting": "hi"}
    assert [(e.method, e.path, e.hidden) for e in endpoint.declaration.endpoints] == [
        ("POST", "/echo", False), ("GET", "/echo/<path:rest>", False), ("GET", "/stream", False),
        ("PUT", "/status/<int:code>", False), ("DELETE", "/hidden", True)]
    assert endpoint.id in [e.id for e in client.list_endpoints(tenant)]
    assert endpoint.id in [e.id for e in client.list_endpoints_for_single_plugin(tenant, PLUGIN)]
    assert client.fetch_endpoint(tenant, endpoint.id).hook_id == endpoint.hook_id


def test_the_public_url_reaches_the_plugin(echo, endpoints, real_daemon):
    endpoint = endpoints()
    status, headers, body = _hook(endpoint.url(real_daemon.url, "/echo/some/deep path?x=y"))
    assert status == 200 and headers["X-Echo-Plugin"] == "echoendpoint"
    seen = json.loads(body)
    assert seen["path"] == "/echo/some/deep path" and seen["query"] == {"x": ["y"]}
    assert seen["values"] == {"rest": "some/deep path"}
    assert seen["settings"] == SETTINGS  # the plugin gets the decrypted settings
    assert seen["headers"]["Dify-Hook-Id"] == endpoint.hook_id
    status, _headers, body = _hook(endpoint.url(real_daemon.url, "/echo?q=1"), "POST",
                                   b'{"hello": "world"}', {"Content-Type": "application/json"})
    assert status == 200 and json.loads(body)["body_json"] == {"hello": "world"}
    status, _headers, body = _hook(endpoint.url(real_daemon.url, "/status/418"), "PUT", b"x")
    assert (status, body) == (418, b"status 418 from plugin")
    template = "%s/e/{hook_id}" % real_daemon.url
    assert dpc.endpoint_url(template, endpoint.hook_id, "/x") == endpoint.url(real_daemon.url,
                                                                               "/x")


def test_update_keeps_a_masked_secret(client, echo, endpoints, real_daemon):
    tenant, _identifier = echo
    endpoint = endpoints()
    assert client.update_endpoint(tenant, USER, endpoint.id, "renamed",
                                  dict(endpoint.settings, greeting="updated")) is True
    updated = client.fetch_endpoint(tenant, endpoint.id)
    assert updated.name == "renamed" and updated.settings["greeting"] == "updated"
    seen = json.loads(_hook(endpoint.url(real_daemon.url, "/echo/a"))[2])
    assert seen["settings"] == {"api_key": SECRET, "greeting": "updated"}
    client.update_endpoint(tenant, USER, endpoint.id, "renamed", {"api_key": "new-secret-456"})
    seen = json.loads(_hook(endpoint.url(real_daemon.url, "/echo/b"))[2])
    assert seen["settings"] == {"api_key": "new-secret-456"}


def test_disable_enable_remove(client, echo, endpoints, real_daemon):
    tenant, _identifier = echo
    endpoint = endpoints()
    url = endpoint.url(real_daemon.url, "/echo/x")
    assert client.disable_endpoint(tenant, endpoint.id) is True
    assert client.disable_endpoint(tenant, endpoint.id) is True  # idempotent
    status, _headers, body = _hook(url)
    assert status == 404 and json.loads(body)["code"] == -404
    assert client.fetch_endpoint(tenant, endpoint.id).enabled is False
    assert client.enable_endpoint(tenant, endpoint.id) is True
    assert _hook(url)[0] == 200
    assert client.delete_endpoint(tenant, endpoint.id) is True
    status, _headers, body = _hook(url)
    assert status == 404 and json.loads(body)["code"] == -400
    with pytest.raises(dpc.PluginDaemonInternalServerError) as info:
        client.delete_endpoint(tenant, endpoint.id)
    assert "record not found" in info.value.message
    with pytest.raises(dpc.PluginDaemonNotFoundError):
        client.enable_endpoint(tenant, endpoint.id)
    with pytest.raises(dpc.PluginDaemonNotFoundError):
        client.update_endpoint(tenant, USER, endpoint.id, "x", {"api_key": "a"})


def test_listing_pages(client, echo, endpoints):
    tenant, _identifier = echo
    made = [endpoints("page-%d" % index) for index in range(3)]
    first = client.fetch_endpoints_page(tenant, 1, 2, plugin_id=PLUGIN)
    second = client.fetch_endpoints_page(tenant, 2, 2, plugin_id=PLUGIN)
    ids = [e.id for e in first + second]
    assert len(first) == 2 and len(set(ids)) == len(ids)
    assert {e.id for e in made} <= set(ids) | {e.id for e in client.list_endpoints(tenant)}
    newest_first = [e.id for e in client.list_endpoints_for_single_plugin(tenant, PLUGIN)]
    assert newest_first.index(made[2].id) < newest_first.index(made[0].id)
    with pytest.raises(dpc.InvalidArgumentError):
        client.fetch_endpoints_page(tenant, 1, 101)
    assert client.list_endpoints(str(uuid.uuid4())) == []


def test_setup_errors(client, echo, tenants):
    tenant, identifier = echo
    with pytest.raises(dpc.PluginDaemonBadRequestError) as info:
        client.create_endpoint(tenant, USER, identifier, "bad", {"greeting": "x"})
    assert "missing required setting: api_key" in info.value.message
    with pytest.raises(dpc.PluginDaemonBadRequestError) as info:
        client.create_endpoint(tenant, USER, identifier, "bad", {"api_key": 12345})
    assert "is not a string" in info.value.message
    with pytest.raises(dpc.PluginNotFoundError):
        client.create_endpoint(tenant, USER, identifier.replace("0.0.1", "9.9.9"), "bad",
                               {"api_key": "x"})
    other = tenants.new()
    decoded = client.upload_pkg(other, build_plugin.build(plugin="echoagent"))
    install_and_wait(client, other, decoded.unique_identifier)
    with pytest.raises(dpc.PluginPermissionDeniedError):
        client.create_endpoint(other, USER, decoded.unique_identifier, "bad", {})
    assert [e.name for e in client.list_endpoints(tenant) if e.name == "bad"] == []


def test_cli(cli, client, echo, real_daemon, tmp_path):
    tenant, identifier = echo
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps(SETTINGS))
    run = cli("endpoints", "setup", "--identifier", identifier, "--name", "cli-e2e",
              "--settings", "@" + str(settings), "--json", tenant=tenant)
    assert run.rc == 0, run
    record = json.loads(run.out)
    try:
        assert record["settings"] == {"api_key": "****", "greeting": "hi"}
        assert record["url"] == "%s/e/%s" % (real_daemon.url, record["hook_id"])
        listed = cli("endpoints", "list", "--plugin", PLUGIN, tenant=tenant)
        assert record["id"] in listed.out and SECRET not in listed.out
        url = cli("endpoints", "url", record["id"], "--path", "/echo/cli", tenant=tenant)
        assert json.loads(urllib.request.urlopen(url.out.strip()).read())["path"] == "/echo/cli"
        assert cli("endpoints", "disable", record["id"], tenant=tenant).rc == 0
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(url.out.strip())
        assert cli("endpoints", "enable", record["id"], tenant=tenant).rc == 0
        updated = cli("endpoints", "update", record["id"], "--settings", '{"greeting": "yo"}',
                      "--json", tenant=tenant)
        assert json.loads(updated.out)["settings"] == {"api_key": "****", "greeting": "yo"}
        seen = json.loads(urllib.request.urlopen(url.out.strip()).read())
        assert seen["settings"] == {"api_key": SECRET, "greeting": "yo"}
    finally:
        removed = cli("endpoints", "remove", record["id"], tenant=tenant)
    assert removed.rc == 0, removed
    again = cli("endpoints", "remove", record["id"], tenant=tenant)
    assert again.rc == 1 and "record not found" in again.err
    for text in (run.out, run.err):
        assert SECRET not in text
