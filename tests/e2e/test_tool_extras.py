"""Tool extras, OAuth, dynamic select, management additions, remote debugging, assets and
/v2 against the real daemon, with the offline test plugins echotool, echotrigger and
echomodel (tests/e2e/plugins/).

Routes a release lacks (0.5.4: /v2, /:category/list, installation/ids, models/bindings;
see shared/reference/daemon-routes.md §2) are checked to answer the daemon's 404. The
remote-debugging key needs a daemon started with remote installing on (the harness's
DIFY_E2E_REMOTE_INSTALL=1).
"""

import os
import uuid

import pytest

import build_plugin
import e2e_support as support
from e2e_support import OAUTH_CALLBACK, OAUTH_CLIENT, USER, dpc

ECHOTOOL, ECHOTRIGGER, ECHOMODEL = "e2etest/echotool", "e2etest/echotrigger", "e2etest/echomodel"
TOOL_PROVIDER = ECHOTOOL + "/echotool"


class Plugins(support.BuiltPlugins):
    """This session's builds of the test plugins (random versions: see
    e2e_support.random_release)."""

    def __init__(self):
        base = support.random_release()
        support.BuiltPlugins.__init__(self, ("echotool", "echotrigger", "echomodel"), base + ".1")
        #: a version of echotool that is only uploaded, never installed
        self.spare, self.spare_identifier = support.build_test_plugin("echotool", base + ".2")


@pytest.fixture(scope="module")
def plugins():
    return Plugins()


@pytest.fixture(scope="module")
def extras(client, tenants, plugins, pkgs, installed):
    """A tenant with echotool, echotrigger, echomodel and e2e_tools installed."""
    tenant = tenants.new()
    for name in ("echotool", "echotrigger", "echomodel"):
        identifier = client.upload_pkg(tenant, plugins.data[name]).unique_identifier
        assert identifier == plugins.identifiers[name]
        support.install_and_wait(client, tenant, identifier)
    client.upload_pkg(tenant, pkgs.old.data)
    support.install_and_wait(client, tenant, pkgs.old.identifier)
    return tenant


def _icon():
    with open(os.path.join(build_plugin.plugin_dir("echotool"), "_assets", "icon.svg"), "rb") as f:
        return f.read()


# --------------------------------------------------------------------------- tool extras


def test_validate_tool_credentials(client, extras):
    assert client.validate_tool_credentials(extras, USER, TOOL_PROVIDER, {"api_key": "good"})
    with pytest.raises(dpc.ToolProviderCredentialValidationError) as caught:
        client.validate_tool_credentials(extras, USER, TOOL_PROVIDER, {"api_key": "bad"})
    assert caught.value.message == "api_key must be 'good'"
    with pytest.raises(dpc.PluginInvokeError, match="Provider `nope` not found"):
        client.validate_tool_credentials(extras, USER, ECHOTOOL + "/nope", {})
    with pytest.raises(dpc.PluginNotFoundError):
        client.validate_tool_credentials(str(uuid.uuid4()), USER, TOOL_PROVIDER, {})


def test_runtime_parameters_answer_nothing(client, extras):
    """dify_plugin 0.10.2 has no handler for it: the daemon closes an empty stream."""
    with pytest.raises(dpc.InvalidResponseError) as caught:
        client.get_runtime_parameters(extras, USER, TOOL_PROVIDER, {"api_key": "good"},
                                      "runtime")
    assert type(caught.value) is dpc.InvalidResponseError
    assert "zero events" in caught.value.message and caught.value.hint


def test_declaration_shows_oauth_and_dynamic_select(client, extras):
    declaration = client.fetch_tool_provider(extras, TOOL_PROVIDER).declaration
    assert [c.name for c in declaration.oauth_schema.client_schema] == ["client_id",
                                                                        "client_secret"]
    assert declaration.tool("pick").parameter("channel").type == "dynamic-select"
    assert declaration.tool("runtime").has_runtime_parameters is True


# --------------------------------------------------------------------------- OAuth


def test_tool_oauth_flow(client, extras):
    url = client.get_authorization_url(extras, USER, ECHOTOOL, "echotool", OAUTH_CALLBACK,
                                       OAUTH_CLIENT)
    assert url.authorization_url.startswith("https://auth.example.invalid/authorize?")
    assert "client_id=my-client" in url.authorization_url and "state=echo-state" in \
        url.authorization_url
    granted = client.get_credentials(extras, USER, ECHOTOOL, TOOL_PROVIDER, OAUTH_CALLBACK,
                                     OAUTH_CLIENT, OAUTH_CALLBACK + "?code=abc123&state=echo-state")
    assert granted.credentials["access_token"] == "at-abc123"
    assert granted.credentials["refresh_token"] == "rt-abc123"
    assert granted.credentials["callback_method"] == "GET"
    assert granted.credentials["callback_path"] == OAUTH_CALLBACK.split("example", 1)[1]
    assert granted.expires_at > 0 and "at-abc123" not in repr(granted)
    raw = (b"POST /cb?code=raw1 HTTP/1.1\r\nHost: dify.example\r\nUser-Agent: browser\r\n"
           b"Content-Length: 0\r\n\r\n")
    from_raw = client.get_credentials(extras, USER, ECHOTOOL, "echotool", OAUTH_CALLBACK,
                                      OAUTH_CLIENT, raw)
    assert from_raw.credentials["access_token"] == "at-raw1"
    assert from_raw.credentials["callback_method"] == "POST"
    refreshed = client.refresh_credentials(extras, USER, ECHOTOOL, "echotool", OAUTH_CALLBACK,
                                           OAUTH_CLIENT, granted.credentials)
    assert refreshed.credentials["access_token"] == "at-refreshed-rt-abc123"
    assert refreshed.expires_at > granted.expires_at


def test_tool_oauth_errors(client, extras):
    with pytest.raises(dpc.ToolProviderOAuthError, match=r"no \?code="):
        client.get_credentials(extras, USER, ECHOTOOL, "echotool", OAUTH_CALLBACK, OAUTH_CLIENT,
                               OAUTH_CALLBACK + "?state=x")
    with pytest.raises(dpc.ToolProviderOAuthError, match="client_secret must be 's3cret'"):
        client.get_credentials(extras, USER, ECHOTOOL, "echotool", OAUTH_CALLBACK,
                               dict(OAUTH_CLIENT, client_secret="wrong"),
                               OAUTH_CALLBACK + "?code=1")
    with pytest.raises(dpc.PluginInvokeError, match="does not support OAuth") as caught:
        client.get_authorization_url(extras, USER, support.PLUGIN_ID, "e2e_tools",
                                     OAUTH_CALLBACK, {})
    assert caught.value.invoke_error_type == "ValueError"


def test_trigger_oauth_flow(client, extras):
    url = client.get_authorization_url(extras, USER, ECHOTRIGGER, "echotrigger", OAUTH_CALLBACK,
                                       {"client_id": "tc"})
    assert url.authorization_url.startswith("https://auth.example.invalid/trigger?client_id=tc")
    granted = client.get_credentials(extras, USER, ECHOTRIGGER, "echotrigger", OAUTH_CALLBACK,
                                     {"client_id": "tc"}, OAUTH_CALLBACK + "?code=abc")
    assert granted.credentials == {"access_token": "trig-abc"} and granted.expires_at == -1
    refreshed = client.refresh_credentials(extras, USER, ECHOTRIGGER, "echotrigger", OAUTH_CALLBACK,
                                           {}, granted.credentials)
    assert refreshed.credentials == {"access_token": "trig-refreshed"}


# --------------------------------------------------------------------------- dynamic select


def test_dynamic_select_options(client, extras):
    tool = client.fetch_dynamic_select_options(extras, USER, ECHOTOOL, "echotool", "pick",
                                               {"api_key": "good"}, "channel",
                                               credential_type="api-key")
    assert [o.value for o in tool.options] == ["general", "random", "token-good"]
    assert tool.options[0].label.get("zh_Hans") == "#常规" and tool.options[1].icon == ""
    constructor = client.fetch_dynamic_select_options(
        extras, USER, ECHOTRIGGER, ECHOTRIGGER + "/echotrigger", "provider", {"api_key": "good"},
        "channel", credential_type="api-key")
    assert [o.value for o in constructor.options] == ["c1", "c2"]
    assert "API_KEY" in constructor.options[1].label.get()
    event = client.fetch_dynamic_select_options(extras, USER, ECHOTRIGGER, "echotrigger", "ping",
                                                {}, "level", credential_type="unauthorized")
    assert [o.value for o in event.options] == ["low", "high"]
    with pytest.raises(dpc.PluginInvokeError, match="no dynamic options for parameter 'text'"):
        client.fetch_dynamic_select_options(extras, USER, ECHOTOOL, "echotool", "pick", {}, "text")
    with pytest.raises(dpc.PluginInvokeError, match="Cannot find the target"):
        client.fetch_dynamic_select_options(extras, USER, ECHOTOOL, "echotool", "nope", {},
                                            "channel")


# --------------------------------------------------------------------------- management


@pytest.mark.version_specific
def test_installed_plugin_ids(client, extras, real_daemon):
    if not real_daemon.at_least(0, 6, 10):
        with pytest.raises(dpc.HTTPStatusError) as caught:
            client.list_installed_plugin_ids(extras, "tool")
        assert caught.value.status_code == 404
        return
    assert sorted(client.list_installed_plugin_ids(extras, "tool")) == sorted(
        [ECHOTOOL, support.PLUGIN_ID])
    assert client.list_installed_plugin_ids(extras, "trigger") == [ECHOTRIGGER]
    assert client.list_installed_plugin_ids(extras, "model") == [ECHOMODEL]
    assert client.list_installed_plugin_ids(extras, "datasource") == []
    with pytest.raises(dpc.PluginDaemonBadRequestError, match="invalid plugin category"):
        client.list_installed_plugin_ids(extras, "bogus")


@pytest.mark.version_specific
def test_plugins_by_category(client, extras, real_daemon):
    if not real_daemon.at_least(0, 6, 2):
        with pytest.raises(dpc.HTTPStatusError, match="route not found"):
            client.list_plugins_by_category(extras, "tool")
        return
    first = client.list_plugins_by_category(extras, "tool", 1, 1)
    second = client.list_plugins_by_category(extras, "tool", 2, 1)
    assert first.has_more and not second.has_more
    assert sorted(p.plugin_id for p in first.list + second.list) == sorted(
        [ECHOTOOL, support.PLUGIN_ID])
    every = [p.plugin_id for p in client.iter_plugins_by_category(extras, "tool", page_size=1)]
    assert every == [p.plugin_id for p in first.list + second.list]
    if not real_daemon.at_least(0, 6, 10):
        return
    found = client.list_plugins_by_category(extras, "tool", query="OAUTH + DYNAMIC")
    assert [p.plugin_id for p in found.list] == [ECHOTOOL]
    assert client.list_plugins_by_category(extras, "tool", tags=["search"]).list == []
    assert [p.plugin_id for p in client.list_plugins_by_category(
        extras, "trigger", tags=["utilities", "rag"], language="ja_JP").list] == [ECHOTRIGGER]
    with pytest.raises(dpc.PluginDaemonBadRequestError) as caught:
        client.list_plugins_by_category(extras, "tool", tags=["notatag"])
    assert caught.value.http_status == 400


@pytest.mark.version_specific
def test_model_plugin_bindings(client, extras, real_daemon, plugins):
    if not real_daemon.at_least(0, 6, 10):
        with pytest.raises(dpc.HTTPStatusError):
            client.list_model_plugin_bindings(extras)
        return
    [binding] = client.list_model_plugin_bindings(extras)
    assert (binding.provider, binding.plugin_id) == ("echomodel", ECHOMODEL)
    assert binding.plugin_unique_identifier == plugins.identifiers["echomodel"]
    assert binding.source == dpc.PluginInstallationSource.Package and not binding.verified
    assert client.list_model_plugin_bindings(str(uuid.uuid4())) == []


def test_debugging_key(client, extras):
    key = client.get_debugging_key(extras)
    assert key == client.get_debugging_key(extras)
    assert client.get_debugging_key(str(uuid.uuid4())) != key


def test_assets(client, extras, plugins):
    icon = client.fetch_tool_provider(extras, TOOL_PROVIDER).declaration.identity.icon
    assert client.fetch_asset(extras, icon) == _icon()
    assert client.fetch_asset(str(uuid.uuid4()), icon) == _icon()  # assets are not per tenant
    with pytest.raises(dpc.PluginDaemonNotFoundError):
        client.fetch_asset(extras, "0" * 64 + ".svg")
    identifier = plugins.identifiers["echotool"]
    assert client.extract_asset(extras, identifier, "icon.svg") == _icon()
    for missing in ("_assets/icon.svg", "manifest.yaml", "nope.txt"):
        with pytest.raises(dpc.PluginDaemonNotFoundError):
            client.extract_asset(extras, identifier, missing)
    with pytest.raises(dpc.PluginDaemonInternalServerError, match="upload it firstly"):
        client.extract_asset(extras, support.UNKNOWN_IDENTIFIER, "icon.svg")


# --------------------------------------------------------------------------- /v2


@pytest.mark.version_specific
def test_v2_extract(client, extras, real_daemon, plugins, tenant):
    spare = client.upload_pkg(tenant, plugins.spare).unique_identifier
    assert spare == plugins.spare_identifier
    if not real_daemon.at_least(0, 6, 1):
        with pytest.raises(dpc.HTTPStatusError):
            client.extract_plugin(spare)
        return
    decoded = client.extract_plugin(spare)
    assert decoded.unique_identifier == spare and decoded.manifest.icon == "icon.svg"
    assert decoded.manifest.tool.tool("pick").parameter("channel").type == "dynamic-select"
    with pytest.raises(dpc.PluginDaemonBadRequestError, match="upload it firstly"):
        client.extract_plugin(support.UNKNOWN_IDENTIFIER)


@pytest.mark.version_specific
def test_v2_runs_an_installed_package_for_any_tenant(client, extras, real_daemon, plugins):
    view = client.by_identifier(plugins.identifiers["echotool"])
    stranger = str(uuid.uuid4())  # has nothing installed
    if not real_daemon.at_least(0, 6, 1):  # casting reads the manifest from /v2 (0.6.1)
        with pytest.raises(dpc.HTTPStatusError) as caught:
            list(view.invoke(stranger, USER, TOOL_PROVIDER, "pick", {"api_key": "good"},
                             {"channel": "general", "text": "v2"}, cast_parameters=False))
        assert caught.value.status_code == 404
        return
    messages = list(view.invoke(stranger, USER, TOOL_PROVIDER, "pick", {"api_key": "good"},
                                {"channel": "general", "text": "v2"}, credential_type="api-key"))
    assert support.types_of(messages) == ["text", "json", "blob"]
    assert messages[0].message.text == "channel=general text=v2"
    assert len(messages[2].message.blob) == 10000
    assert view.validate_tool_credentials(stranger, USER, TOOL_PROVIDER, {"api_key": "good"})
    options = view.fetch_dynamic_select_options(stranger, USER, ECHOTOOL, "echotool", "pick",
                                                {}, "channel")
    assert [o.value for o in options.options] == ["general", "random"]
    provider = view.fetch_tool_provider(stranger, TOOL_PROVIDER)
    assert provider.plugin_unique_identifier == plugins.identifiers["echotool"]
    with pytest.raises(dpc.PluginNotFoundError):  # the tenant route still says: not installed
        client.fetch_tool_provider(stranger, TOOL_PROVIDER)


@pytest.mark.version_specific
def test_v2_cannot_run_an_uploaded_only_package(client, real_daemon, plugins, tenant):
    client.upload_pkg(tenant, plugins.spare)
    view = client.by_identifier(plugins.spare_identifier)
    with pytest.raises(dpc.DifyPluginError) as caught:
        list(view.invoke(tenant, USER, TOOL_PROVIDER, "pick", {}, {"channel": "x"},
                         cast_parameters=False))
    if real_daemon.at_least(0, 6, 1):
        assert isinstance(caught.value, dpc.PluginDaemonInternalServerError)
        assert caught.value.http_status == 404 and "plugin runtime not found" in str(caught.value)
    else:
        assert isinstance(caught.value, dpc.HTTPStatusError)


# --------------------------------------------------------------------------- command line


def test_cli_tools_validate(cli, extras):
    assert cli("tools-validate", TOOL_PROVIDER, "--credentials", '{"api_key": "good"}',
               tenant=extras) == (0, "valid\n", "")
    result = cli("tools-validate", TOOL_PROVIDER, "--credentials", '{"api_key": "wrong-value"}',
                 tenant=extras)
    assert result.rc == 1 and result.out == "not valid: api_key must be 'good'\n"


def test_cli_debug_key(cli, client, extras):
    key = client.get_debugging_key(extras)
    result = cli("debug-key", "--address", "127.0.0.1:5003", tenant=extras)
    assert result.rc == 0
    assert result.out.splitlines() == ["INSTALL_METHOD=remote", "REMOTE_INSTALL_URL=127.0.0.1:5003",
                                       "REMOTE_INSTALL_KEY=" + key]


def test_cli_asset(cli, client, extras, tmp_path, plugins):
    icon = client.fetch_tool_provider(extras, TOOL_PROVIDER).declaration.identity.icon
    target = str(tmp_path / "icon.svg")
    assert cli("asset", icon, "--output", target, tenant=extras).rc == 0
    with open(target, "rb") as handle:
        assert handle.read() == _icon()
    other = str(tmp_path / "extracted.svg")
    result = cli("asset", "icon.svg", "--identifier", plugins.identifiers["echotool"],
                 "--output", other, tenant=extras)
    assert result.rc == 0
    with open(other, "rb") as handle:
        assert handle.read() == _icon()


@pytest.mark.version_specific
def test_cli_invoke_identifier(cli, extras, real_daemon, plugins):
    stranger = str(uuid.uuid4())
    result = cli("invoke", "--identifier", plugins.identifiers["echotool"], "--user", USER,
                 "--provider", TOOL_PROVIDER, "--tool", "pick", "--credentials",
                 '{"api_key": "good"}', "--params", '{"channel": "general", "text": "cli"}',
                 tenant=stranger)
    if real_daemon.at_least(0, 6, 1):
        assert result.rc == 0, result.err
        assert result.out.startswith("channel=general text=cli")
    else:
        assert result.rc == 1 and "404" in result.err


def test_hex_of_a_callback_is_what_the_plugin_reads(client, extras):
    """The URL form sends a GET of the callback's path and query with a Host header."""
    granted = client.get_credentials(extras, USER, ECHOTOOL, "echotool", OAUTH_CALLBACK,
                                     OAUTH_CLIENT, "https://h.example:8443/a/b?x=1&code=c%2F1")
    assert granted.credentials["callback_path"] == "/a/b"
    assert granted.credentials["access_token"] == "at-c/1"
