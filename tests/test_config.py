"""PluginConfig and Timeout: validation, defaults, and a key that never shows."""

import os

import pytest

import dify_plugin_client as dpc

KEY = "sk-very-secret-daemon-key"


def test_repr_masks_the_key():
    config = dpc.PluginConfig(url="http://localhost:5002", key=KEY, timeout=30.0)
    for text in (repr(config), str(config), repr(dpc.DifyPluginClient(config))):
        assert KEY not in text and "***" in text


def test_defaults_and_normalisation():
    config = dpc.PluginConfig(url=" http://daemon:5002/ ", key=KEY)
    assert config.url == "http://daemon:5002"
    assert config.timeout == dpc.Timeout(60.0)
    assert config.verify is True and config.trust_env is False
    assert config.user_agent.startswith("dify-plugin-client/%s" % dpc.__version__)
    assert config.max_package_size == 50 * 1024 * 1024
    assert config.max_bundle_size == 600 * 1024 * 1024


@pytest.mark.parametrize("kwargs,argument", [
    ({"url": "localhost:5002"}, "url"), ({"url": "ftp://x"}, "url"),
    ({"url": "http://u:p@x"}, "url"), ({"url": "http://x?a=1"}, "url"),
    ({"url": "http://x:99999"}, "url"), ({"key": ""}, "key"), ({"key": None}, "key"),
    ({"key": "a\r\nX-Evil: 1"}, "key"), ({"timeout": -1}, "timeout"),
    ({"timeout": "30"}, "timeout"), ({"timeout": True}, "timeout"),
    ({"verify": "/no/such/ca.pem"}, "verify"), ({"retries": -1}, "retries"),
    ({"pool_size": 0}, "pool_size"), ({"max_package_size": 0}, "max_package_size"),
    ({"user_agent": "x\ny"}, "user_agent"),
])
def test_invalid_settings_name_the_argument(kwargs, argument):
    settings = dict(url="http://localhost:5002", key=KEY)
    settings.update(kwargs)
    with pytest.raises(dpc.InvalidArgumentError) as info:
        dpc.PluginConfig(**settings)
    assert info.value.argument == argument or info.value.argument.startswith(argument)
    assert KEY not in str(info.value)


def test_timeout_forms():
    assert dpc.Timeout(5) == dpc.Timeout(connect=5, read=5, write=5, pool=5)
    custom = dpc.Timeout(10.0, connect=2.0)
    assert (custom.connect, custom.read, custom.write, custom.pool) == (2.0, 10.0, 10.0, 10.0)
    assert dpc.Timeout(None).read is None
    assert dpc.Timeout(custom) == custom
    with pytest.raises(dpc.InvalidArgumentError):
        dpc.Timeout(connect=1.0)
    with pytest.raises(dpc.InvalidArgumentError):
        dpc.Timeout(0)
    config = dpc.PluginConfig(url="https://d", key=KEY, timeout=custom)
    assert config.timeout is custom


def test_tls_contexts(tmp_path):
    import ssl

    transport = dpc._Transport(dpc.PluginConfig(url="https://d", key=KEY))
    context = transport._get_ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    insecure = dpc._Transport(dpc.PluginConfig(url="https://d", key=KEY, verify=False))
    assert insecure._get_ssl_context().verify_mode == ssl.CERT_NONE


def test_proxies_ignored_unless_trust_env(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("http_proxy", "http://proxy.invalid:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    plain = dpc._Transport(dpc.PluginConfig(url="http://daemon:5002", key=KEY))
    assert plain._proxy_settings() is None
    trusting = dpc._Transport(dpc.PluginConfig(url="http://daemon:5002", key=KEY,
                                               trust_env=True))
    assert trusting._proxy_settings()[:2] == ("proxy.invalid", 3128)
    monkeypatch.setenv("no_proxy", "daemon")
    monkeypatch.setenv("NO_PROXY", "daemon")
    bypassed = dpc._Transport(dpc.PluginConfig(url="http://daemon:5002", key=KEY,
                                               trust_env=True))
    assert bypassed._proxy_settings() is None


# --- PluginConfig.from_env: the CLI's settings for API users ------------------------------

KEY = "from-env-key-0123456789"


def test_from_env_reads_the_key_file_and_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.dify
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    config = dpc.PluginConfig.from_env(
        {"DIFY_PLUGIN_DAEMON_URL": "http://127.0.0.1:5999/",
         "DIFY_PLUGIN_DAEMON_KEY_FILE": str(key_file), "DIFY_PLUGIN_DAEMON_TIMEOUT": "7",
         "DIFY_PLUGIN_DAEMON_MAX_PACKAGE_SIZE": "1MiB"},
        config_file=None)
    assert (config.url, config.key, config.timeout.read) == ("http://127.0.0.1:5999", KEY, 7.0)
    assert config.max_package_size == 1024 ** 2 and config.verify is True


def test_from_env_falls_back_to_the_config_file_and_takes_overrides(tmp_path):
    settings = tmp_path / "dify.json"
    settings.write_text('{"url": "http://127.0.0.1:5998", "key": "%s", "timeout": 9}' % KEY)
    os.chmod(str(settings), 0o600)
    config = dpc.PluginConfig.from_env({}, config_file=str(settings), timeout=2.5)
    assert (config.url, config.key, config.timeout.read) == ("http://127.0.0.1:5998", KEY, 2.5)
    environment_wins = dpc.PluginConfig.from_env({"DIFY_PLUGIN_DAEMON_KEY": "other-key-42"},
                                                 config_file=str(settings))
    assert environment_wins.key == "other-key-42" and environment_wins.url.endswith(":5998")


def test_from_env_errors_name_the_setting_and_never_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.dify
    with pytest.raises(dpc.ConfigError) as missing:
        dpc.PluginConfig.from_env({}, config_file=None, url="http://127.0.0.1:1")
    assert "no daemon key" in str(missing.value)
    with pytest.raises(dpc.ConfigError) as absent:
        dpc.PluginConfig.from_env({"DIFY_PLUGIN_DAEMON_KEY_FILE": str(tmp_path / "nope")})
    assert "cannot read the key file" in str(absent.value)
    with pytest.raises(dpc.ConfigError) as bad_timeout:
        dpc.PluginConfig.from_env({"DIFY_PLUGIN_DAEMON_KEY": KEY,
                                   "DIFY_PLUGIN_DAEMON_TIMEOUT": "soon"})
    assert "DIFY_PLUGIN_DAEMON_TIMEOUT" in str(bad_timeout.value)
    with pytest.raises(dpc.ConfigError) as bad_url:
        dpc.PluginConfig.from_env({"DIFY_PLUGIN_DAEMON_KEY": KEY,
                                   "DIFY_PLUGIN_DAEMON_URL": "ftp://127.0.0.1"})
    assert "DIFY_PLUGIN_DAEMON_URL" in str(bad_url.value) and KEY not in str(bad_url.value)
    with pytest.raises(dpc.InvalidArgumentError) as unknown:
        dpc.PluginConfig.from_env({"DIFY_PLUGIN_DAEMON_KEY": KEY}, tiemout=3)
    assert "tiemout" in str(unknown.value)
    with pytest.raises(dpc.InvalidArgumentError) as bad_override:
        dpc.PluginConfig.from_env({"DIFY_PLUGIN_DAEMON_KEY": KEY}, retries=-1)
    assert bad_override.value.argument == "retries"


def test_from_env_blames_the_caller_for_the_callers_own_arguments(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    environ = {"DIFY_PLUGIN_DAEMON_KEY": KEY, "DIFY_PLUGIN_DAEMON_TIMEOUT": "soon",
               "DIFY_PLUGIN_DAEMON_POLL_INTERVAL": "often", "DIFY_PLUGIN_TENANT_ID": "x"}
    # a bad environment value the caller overrides, and CLI-only settings, are not read
    assert dpc.PluginConfig.from_env(environ, timeout=4.0).timeout.read == 4.0
    with pytest.raises(dpc.InvalidArgumentError) as bad_key:
        dpc.PluginConfig.from_env(environ, timeout=4.0, key="bad\nkey")
    assert bad_key.value.argument == "key" and not isinstance(bad_key.value, dpc.ConfigError)
    with pytest.raises(dpc.InvalidArgumentError) as bad_verify:
        dpc.PluginConfig.from_env(environ, timeout=4.0, verify=str(tmp_path / "no-ca.pem"))
    assert bad_verify.value.argument == "verify"
    with pytest.raises(dpc.InvalidArgumentError) as unknown:
        dpc.PluginConfig.from_env({}, bogus=1)  # named before the missing key
    assert "bogus" in str(unknown.value)


def test_from_env_reads_no_stdin_and_can_skip_the_config_file(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".dify").write_text('{"url": "http://127.0.0.1:5997", "key": "%s"}' % KEY)
    os.chmod(str(tmp_path / ".dify"), 0o600)
    assert dpc.PluginConfig.from_env({}).url.endswith(":5997")  # ~/.dify, by default
    with pytest.raises(dpc.ConfigError) as none:
        dpc.PluginConfig.from_env({}, config_file=False)
    assert "no daemon key" in str(none.value)
    with pytest.raises(dpc.ConfigError) as stdin:
        dpc.PluginConfig.from_env({"DIFY_PLUGIN_DAEMON_KEY_FILE": "-"})
    assert "standard input" in str(stdin.value) and "DIFY_PLUGIN_DAEMON_KEY_FILE" in str(
        stdin.value)
