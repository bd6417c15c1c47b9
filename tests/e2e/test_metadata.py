"""Manifest, decode and readme of uploaded packages."""

import json
import urllib.error
import urllib.parse
import urllib.request

import pytest

from e2e_support import UNKNOWN_IDENTIFIER, dpc

README_START = "# E2E Tools\n"


@pytest.fixture(scope="module")
def uploaded(client, tenants, pkgs):
    """A tenant with pkgs.old and pkgs.noreadme uploaded (not installed)."""
    tenant = tenants.new()
    client.upload_pkg(tenant, pkgs.old.data)
    client.upload_pkg(tenant, pkgs.noreadme.data)
    return tenant


def test_manifest_of_an_uploaded_package(client, uploaded, pkgs):
    manifest = client.fetch_plugin_manifest(uploaded, pkgs.old.identifier)
    assert isinstance(manifest, dpc.PluginDeclaration)
    assert (manifest.author, manifest.name, manifest.version) == ("e2etest", "e2e_tools",
                                                                  pkgs.old.version)
    assert manifest.category == "tool"
    assert manifest.label.get("en_US") == "E2E Tools"
    assert manifest.meta.runner.language == "python" and manifest.meta.runner.version == "3.12"
    assert manifest.resource.memory == 268435456
    assert manifest.tags == ["utilities"]
    assert manifest.icon.endswith(".svg") and manifest.icon != "icon.svg"  # an asset id
    tool_names = [tool.identity.name for tool in manifest.tool.tools]
    assert tool_names == ["echo_types", "raise_error"]


def test_manifest_of_an_unknown_package_is_an_error(client, uploaded):
    with pytest.raises(dpc.PluginDaemonError) as refused:
        client.fetch_plugin_manifest(uploaded, UNKNOWN_IDENTIFIER)
    assert "not found" in refused.value.message


def test_decode_from_identifier(client, uploaded, pkgs):
    """Works on every release: the client sends both query keys (see the test below)."""
    decoded = client.decode_plugin_from_identifier(uploaded, pkgs.old.identifier)
    assert isinstance(decoded, dpc.PluginDecodeResponse)
    assert decoded.unique_identifier == pkgs.old.identifier
    assert decoded.manifest.version == pkgs.old.version
    assert decoded.manifest.icon == "icon.svg"  # decoding again gives the package's own names
    assert decoded.verification is None  # unsigned


def test_decode_of_an_unknown_package_is_an_error(client, uploaded):
    with pytest.raises(dpc.PluginDaemonError) as refused:
        client.decode_plugin_from_identifier(uploaded, UNKNOWN_IDENTIFIER)
    assert "upload" in refused.value.message


def _raw_decode(real_daemon, tenant, key_name, identifier):
    query = urllib.parse.urlencode({key_name: identifier})
    request = urllib.request.Request(
        "%s/plugin/%s/management/decode/from_identifier?%s" % (real_daemon.url, tenant, query),
        headers={"X-Api-Key": real_daemon.key})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read().decode("utf-8"))


@pytest.mark.version_specific
def test_daemon_reads_one_decode_query_key_per_release(real_daemon, uploaded, pkgs):
    """Daemon behaviour behind the client's two keys: up to 0.5.4 the daemon binds only the
    legacy key ``PluginUniqueIdentifier``; from 0.5.5 on only ``plugin_unique_identifier``.
    The one it does not read gets HTTP 400 ("... failed on the 'required' tag")."""
    legacy = _raw_decode(real_daemon, uploaded, "PluginUniqueIdentifier", pkgs.old.identifier)
    snake = _raw_decode(real_daemon, uploaded, "plugin_unique_identifier", pkgs.old.identifier)
    read, ignored = (snake, legacy) if real_daemon.at_least(0, 5, 5) else (legacy, snake)
    assert read[0] == 200 and read[1]["code"] == 0, read
    assert read[1]["data"]["unique_identifier"] == pkgs.old.identifier
    assert ignored[0] == 400 and ignored[1]["code"] == -400, ignored


def test_readme_in_en_us(client, uploaded, pkgs):
    text = client.fetch_plugin_readme(uploaded, pkgs.old.identifier)
    assert text.startswith(README_START)
    assert "echo_types" in text and "raise_error" in text
    assert client.fetch_plugin_readme(uploaded, pkgs.old.identifier, language="en_US") == text


def test_readme_in_another_language_falls_back_to_en_us(client, uploaded, pkgs):
    english = client.fetch_plugin_readme(uploaded, pkgs.old.identifier)
    for language in ("zh_Hans", "ja_JP", ""):
        assert client.fetch_plugin_readme(uploaded, pkgs.old.identifier,
                                          language=language) == english


def test_readme_of_a_package_without_readme_is_empty(client, uploaded, pkgs):
    assert client.fetch_plugin_readme(uploaded, pkgs.noreadme.identifier) == ""
    assert client.fetch_plugin_readme(uploaded, pkgs.noreadme.identifier, language="zh_Hans") == ""


def test_readme_of_an_unknown_package_raises(client, uploaded):
    """The daemon answers -500 "failed to get readme from database: plugin package not
    found, please upload it firstly": not a package without README, an error."""
    with pytest.raises(dpc.DifyPluginError) as refused:
        client.fetch_plugin_readme(uploaded, UNKNOWN_IDENTIFIER)
    assert "not found" in str(refused.value)


def test_cli_manifest_and_readme(cli, uploaded, pkgs):
    result = cli("manifest", pkgs.old.identifier, tenant=uploaded)
    assert result.rc == 0, result
    assert "e2etest/e2e_tools" in result.out and "echo_types, raise_error" in result.out
    result = cli("manifest", pkgs.old.identifier, "--json", tenant=uploaded)
    assert result.rc == 0, result
    assert json.loads(result.out)["version"] == pkgs.old.version
    result = cli("readme", pkgs.old.identifier, tenant=uploaded)
    assert result.rc == 0, result
    assert result.out.startswith(README_START)
    result = cli("readme", pkgs.old.identifier, "--language", "zh_Hans", "--json", tenant=uploaded)
    assert result.rc == 0, result
    assert json.loads(result.out)["content"].startswith(README_START)


def test_cli_readme_of_a_package_without_readme(cli, uploaded, pkgs):
    result = cli("readme", pkgs.noreadme.identifier, tenant=uploaded)
    assert result.rc == 0, result
    assert result.out == ""
    assert "no README" in result.err


def test_cli_readme_and_manifest_of_an_unknown_package_exit_1(cli, uploaded):
    result = cli("readme", UNKNOWN_IDENTIFIER, tenant=uploaded)
    assert result.rc == 1, result
    assert "not found" in result.err, result
    result = cli("manifest", UNKNOWN_IDENTIFIER, tenant=uploaded)
    assert result.rc == 1, result
