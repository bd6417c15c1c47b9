"""The command line, in-process and as a subprocess, against the fake daemon."""

import io
import json
import os
import stat
import subprocess
import sys
import uuid

import pytest

import dify_plugin_client as dpc
from fake_daemon import FakePluginError, blob_chunks, sample_plugin
from helpers import KEY, install_sample, make_client

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROVIDER = "acme/echo/echo"


# --- settings ---------------------------------------------------------------


def test_precedence_flag_env_config_default(cli, daemon, tenant):
    config = cli.home / ".dify"
    config.write_text(json.dumps({"url": "http://config:1", "key": "config-key",
                                  "timeout": 120, "tenant": str(uuid.uuid4())}))
    config.chmod(0o600)
    shown = cli("config", "--json", use_env=False).json()
    assert shown["url"] == {"value": "http://config:1", "source": "config file %s" % config}
    assert shown["timeout"]["value"] == 120.0 and shown["key"]["value"] == "****"
    env = {dpc.ENV_URL: "http://env:2", dpc.ENV_TIMEOUT: "30"}
    shown = cli("config", "--json", env=env, use_env=False).json()
    assert shown["url"] == {"value": "http://env:2", "source": dpc.ENV_URL}
    assert shown["timeout"] == {"value": 30.0, "source": dpc.ENV_TIMEOUT}
    shown = cli("--url", "http://flag:3", "config", "--json", "--timeout", "5", env=env,
                use_env=False).json()
    assert shown["url"] == {"value": "http://flag:3", "source": "--url"}
    assert shown["timeout"] == {"value": 5.0, "source": "--timeout"}
    config.unlink()
    shown = cli("config", "--json", use_env=False).json()
    assert shown["url"] == {"value": dpc.DEFAULT_URL, "source": "default"}
    assert shown["key"] == {"value": None, "source": "default"}


def test_explicit_config_file(cli, daemon, tenant, tmp_path):
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps({"url": daemon.url, "key": KEY, "tenant": tenant}))
    path.chmod(0o600)
    result = cli("list", "--config", str(path), use_env=False)
    assert result.code == 0, result
    assert cli("list", "--config", str(tmp_path / "none.json"), use_env=False).code == 2


@pytest.mark.parametrize("content,needle", [
    ("{not json", "is not valid JSON"), ("[1, 2]", "must hold a JSON object"),
    ('{"timeout": "soon"}', "'timeout' must be a positive number"),
    ('{"url": 5}', "'url' must be"),
    ('{"key": true}', "'key' must be"), (b"\xff\xfe", "not UTF-8"),
])
def test_broken_config_file_is_a_clear_error(cli, content, needle):
    path = cli.home / ".dify"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = cli("list", use_env=False)
    assert result.code == 2, result
    assert needle in result.err and str(path) in result.err
    assert "Traceback" not in result.err and result.err.count("\n") == 1


def test_config_file_readable_by_others_warns(cli, tmp_path):
    path = cli.home / ".dify"
    path.write_text(json.dumps({"key": "secret-in-file", "url": "http://x"}))
    path.chmod(0o644)
    result = cli("config", use_env=False)
    assert "readable by other users" in result.err and "chmod 600" in result.err
    assert "secret-in-file" not in result.out + result.err
    path.chmod(0o600)
    assert "readable" not in cli("config", use_env=False).err
    path.write_text(json.dumps({"url": "http://x", "color": "blue"}))
    assert "unknown setting 'color'" in cli("config", use_env=False).err


def test_missing_key_and_tenant(cli, daemon):
    result = cli("list", env={dpc.ENV_URL: daemon.url}, use_env=False)
    assert result.code == 2 and "no daemon key" in result.err
    result = cli("list", env={dpc.ENV_URL: daemon.url, dpc.ENV_KEY: KEY}, use_env=False)
    assert result.code == 2 and "no tenant" in result.err
    result = cli("list", "--tenant", "tenant-1")
    assert result.code == 2 and "not a UUID" in result.err
    result = cli("list", "--url", "localhost:5002")
    assert result.code == 2 and "--url" in result.err


# --- exit codes ---------------------------------------------------------------


def test_exit_codes(cli, daemon, tenant):
    assert cli("list").code == 0
    refused = cli("manifest", "acme/x:1.0.0@" + "a" * 32)
    assert refused.code == 1 and "plugin not found" in refused.err
    usage = cli("list", "--page", "zero")
    assert usage.code == 2 and "usage:" in usage.err
    assert cli("no-such-command").code == 2
    assert cli().code == 2
    bad_input = cli("invoke", "--user", "u", "--provider", "acme/echo", "--tool", "t")
    assert bad_input.code == 2 and "organization/plugin_name/provider_name" in bad_input.err
    auth = cli("list", "--key", "wrong-key")
    assert auth.code == 4 and "unauthorized" in auth.err and "wrong-key" not in auth.err
    unreachable = cli("list", "--url", "http://127.0.0.1:9", "--timeout", "2")
    assert unreachable.code == 3 and "cannot connect" in unreachable.err
    for result in (refused, usage, auth, unreachable):
        assert "Traceback" not in result.err


def test_interrupted(cli, monkeypatch):
    def interrupt(self, tenant_id):
        raise KeyboardInterrupt

    monkeypatch.setattr(dpc.DifyPluginClient, "list_plugins", interrupt)
    result = cli("list")
    assert result.code == 130 and "interrupted" in result.err


def test_debug_shows_traceback_and_requests_but_not_the_key(cli):
    result = cli("--debug", "manifest", "acme/x:1.0.0@" + "a" * 32)
    assert result.code == 1 and "Traceback" in result.err
    assert KEY not in result.out + result.err


def test_version_and_help(cli):
    result = cli("--version")
    assert result.code == 0 and result.out.strip() == "dify-plugin-client %s" % dpc.__version__
    result = cli("--help")
    assert result.code == 0 and "exit codes" in result.out
    assert "upload-pkg" in result.out and "missing-deps" in result.out


# --- commands -----------------------------------------------------------------


def test_health(cli, daemon):
    result = cli("health", use_env=False, env={dpc.ENV_URL: daemon.url})
    assert result.code == 0 and "version 0.6.10" in result.out
    assert cli("health", "--json").json()["status"] == "ok"


def test_upload_install_list_and_json(cli, daemon, tenant, package):
    uploaded = cli("upload-pkg", "--file", str(package))
    assert uploaded.code == 0 and uploaded.out.startswith("acme/echo:0.0.1@")
    identifier = uploaded.out.strip()
    assert cli("upload-pkg", "--file", str(package), "--json").json()[
        "unique_identifier"] == identifier
    installed = cli("install", "--identifier", identifier)
    assert installed.code == 0, installed
    assert "installed" in installed.out and "acme/echo" in installed.err  # progress lines
    listed = cli("list")
    assert "acme/echo" in listed.out and "0.0.1" in listed.out and "1 plugin" in listed.err
    data = cli("list", "--json").json()
    assert data["total"] == 1 and data["plugins"][0]["plugin_unique_identifier"] == identifier
    assert cli("list", "--page", "1", "--page-size", "5", "--json").json()["total"] == 1
    # the same identifier again: already installed, exit 0
    again = cli("install", "--identifier", identifier)
    assert again.code == 0 and "already installed" in again.err


def test_install_other_version_already_installed_exits_1(cli, daemon, tenant, tmp_path):
    install_sample(make_client(daemon), tenant)
    newer = tmp_path / "v2.difypkg"
    newer.write_bytes(sample_plugin(version="0.0.2"))
    result = cli("install", "--file", str(newer))
    assert result.code == 1 and "0.0.1" in result.err
    # the hint names the CLI's command, not the API's method
    assert "upgrade --identifier NEW_IDENTIFIER" in result.err
    assert "upgrade_plugin" not in result.err


def test_api_hints_are_said_in_cli_terms():
    """A wait that finds another version installed (a race with the check before it)
    raises the API's error; its hint names the CLI command, not the Python method."""
    error = dpc.PluginInstallError("install task t ended success but changed nothing",
                                   hint="switch versions with upgrade_plugin(original, new, "
                                        "source)")
    dpc._cli_hint(error)
    assert error.hint.endswith("upgrade --identifier NEW_IDENTIFIER")
    assert "upgrade_plugin" not in error.hint


def test_install_failure_prints_each_failed_plugin(cli, daemon, package):
    daemon.fail_install["acme/echo"] = "uv sync failed: no network"
    result = cli("install", "--file", str(package))
    assert result.code == 1
    assert "failed: acme/echo:0.0.1@" in result.err and "uv sync failed" in result.err


def test_install_no_wait_and_tasks(cli, daemon, tenant, package):
    started = cli("install", "--file", str(package), "--no-wait")
    assert started.code == 0
    task_id = started.out.strip()
    assert uuid.UUID(task_id) and "tasks wait" in started.err
    waited = cli("tasks", "wait", task_id, "--json")
    assert waited.code == 0 and waited.json()["status"] == "success"
    shown = cli("tasks", "show", task_id)
    assert shown.code == 0 and "success" in shown.out
    listed = cli("tasks", "--json").json()
    assert [task["id"] for task in listed] == [task_id]
    assert task_id in cli("tasks", "list").out
    assert cli("tasks", "delete", task_id).code == 0
    assert cli("tasks", "list", "--json").json() == []


def test_tasks_delete_all_needs_confirmation(cli, daemon, tenant, package):
    daemon.fail_install["acme/echo"] = "broken"
    assert cli("install", "--file", str(package)).code == 1
    refused = cli("tasks", "delete-all")
    assert refused.code == 2 and "--yes" in refused.err
    assert len(cli("tasks", "--json").json()) == 1
    assert cli("tasks", "delete-all", "--failed").code == 0
    assert cli("tasks", "--json").json() == []
    assert cli("tasks", "delete-all", "--yes").code == 0


def test_uninstall_by_each_kind_of_target(cli, daemon, tenant):
    client = make_client(daemon)
    for target_kind in ("plugin_id", "identifier", "installation_id"):
        identifier = install_sample(client, tenant)
        [plugin] = client.list_plugins(tenant)
        target = {"plugin_id": "acme/echo", "identifier": identifier,
                  "installation_id": plugin.installation_id}[target_kind]
        result = cli("uninstall", target)
        assert result.code == 0, result
        assert client.list_plugins(tenant) == []
    assert cli("uninstall", "acme/echo").code == 1  # not installed
    assert cli("uninstall", "not a target!").code == 2


def test_upgrade(cli, daemon, tenant, tmp_path):
    client = make_client(daemon)
    install_sample(client, tenant)
    newer = tmp_path / "v2.difypkg"
    newer.write_bytes(sample_plugin(version="0.0.2"))
    result = cli("upgrade", "--file", str(newer))
    assert result.code == 0, result
    assert client.list_plugins(tenant)[0].version == "0.0.2"
    older = client.upload_pkg(tenant, sample_plugin(version="0.0.1")).unique_identifier
    assert cli("upgrade", "--identifier", older, "--json").code == 0
    assert client.list_plugins(tenant)[0].version == "0.0.1"


def test_manifest_readme_missing_deps(cli, daemon, tenant, package):
    identifier = cli("upload-pkg", "--file", str(package)).out.strip()
    manifest = cli("manifest", identifier)
    assert manifest.code == 0 and "acme/echo" in manifest.out and "tool" in manifest.out
    assert cli("manifest", identifier, "--json").json()["name"] == "echo"
    readme = cli("readme", identifier)
    assert readme.code == 0 and readme.out.startswith("# Echo")
    missing = cli("missing-deps", identifier)  # something is missing: exit 1, for scripts
    assert missing.code == dpc.EXIT_FAILED and identifier[:30] in missing.out
    assert cli("missing-deps", identifier, "--json").json()[0]["current_identifier"] == ""


def test_tools_listing_and_one_tool(cli, daemon, tenant):
    install_sample(make_client(daemon), tenant)
    listed = cli("tools")
    assert listed.code == 0 and PROVIDER in listed.out and "echo, ping, blob" in listed.out
    provider = cli("tools", PROVIDER)
    assert provider.code == 0 and "ping" in provider.out
    tool = cli("tools", PROVIDER, "echo")
    assert tool.code == 0
    assert "count" in tool.out and "1..10" in tool.out and "a|b" in tool.out
    assert "output schema" in tool.out
    assert cli("tools", PROVIDER, "echo", "--json").json()["identity"]["provider"] == PROVIDER
    assert cli("tools", "--json").json()[0]["declaration"]["identity"]["name"] == PROVIDER
    # an unknown tool is "not found", as an unknown provider is
    assert cli("tools", PROVIDER, "nope").code == dpc.EXIT_FAILED
    assert cli("tools", "acme/nope/nope").code == dpc.EXIT_FAILED


def test_invoke_output(cli, daemon, tenant, tmp_path):
    install_sample(make_client(daemon), tenant)
    daemon.set_tool_handler("acme/echo", "echo", "blob", lambda request: [
        {"type": "text", "message": {"text": "part one, "}, "meta": None},
        {"type": "text", "message": {"text": "part two"}, "meta": None},
        {"type": "json", "message": {"json_object": {"n": 1}}, "meta": None},
        {"type": "variable", "message": {"variable_name": "v", "variable_value": 2,
                                         "stream": False}, "meta": None},
    ] + blob_chunks(b"\x89PNG" * 3000, {"mime_type": "image/png"}))
    base = ["invoke", "--user", "u1", "--provider", PROVIDER, "--tool", "blob"]
    result = cli(*base)
    assert result.code == 0, result
    assert result.out == 'part one, part two\n{\n  "n": 1\n}\n'
    assert "variable v = 2" in result.err and "blob: 11.7 KiB, image/png" in result.err
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    saved = cli(*(base + ["--output-dir", str(out_dir)]))
    files = list(out_dir.iterdir())
    assert saved.code == 0 and [f.name for f in files] == ["blob-1.png"]
    assert files[0].read_bytes() == b"\x89PNG" * 3000
    lines = [json.loads(line) for line in cli(*(base + ["--json"])).out.splitlines()]
    assert [line["type"] for line in lines] == ["text", "text", "json", "variable", "blob"]


def test_invoke_parameters_from_json_file_and_stdin(cli, daemon, tenant, tmp_path):
    install_sample(make_client(daemon), tenant)
    base = ["invoke", "--user", "u1", "--provider", PROVIDER, "--tool", "echo"]
    inline = cli(*(base + ["--params", '{"text": "hi", "count": "2"}']))
    assert inline.code == 0 and json.loads(inline.out)["count"] == 2
    params = tmp_path / "params.json"
    params.write_text('{"text": "from file"}')
    assert json.loads(cli(*(base + ["--params", "@" + str(params)])).out)["text"] == "from file"
    piped = cli(*(base + ["--params", "-"]), stdin='{"text": "from stdin"}')
    assert json.loads(piped.out)["text"] == "from stdin"
    broken = cli(*(base + ["--params", '{"text": }']))
    assert broken.code == 2 and "--params is not valid JSON" in broken.err
    assert cli(*(base + ["--params", "[1]"])).code == 2
    assert cli(*(base + ["--params", "@" + str(tmp_path / "absent")])).code == 2
    not_utf8 = tmp_path / "latin1.json"
    not_utf8.write_bytes(b'{"text": "caf\xe9"}')
    bad = cli(*(base + ["--params", "@" + str(not_utf8)]))
    assert bad.code == 2 and "--params (%s) is not valid JSON" % not_utf8 in bad.err
    assert "Traceback" not in bad.err
    # the same bytes inline or piped: POSIX hands them over as lone surrogates
    inline = cli(*(base + ["--params", '{"text": "caf\udce9"}']))
    assert inline.code == 2 and "--params is not valid JSON" in inline.err
    piped = cli(*(base + ["--params", "-"]), stdin='{"text": "caf\udce9"}')
    assert piped.code == 2 and "--params (stdin) is not valid JSON" in piped.err
    cast = cli(*(base + ["--params", '{"count": "lots"}']))
    assert cast.code == 2 and "'count' = 'lots'" in cast.err and "missing required" in cast.err
    raw = cli(*(base + ["--params", '{"count": "lots"}', "--no-cast"]))
    assert raw.code == 0 and json.loads(raw.out)["count"] == "lots"


def test_invoke_plugin_error_exits_1(cli, daemon, tenant):
    install_sample(make_client(daemon), tenant)

    def handler(request):
        yield {"type": "text", "message": {"text": "working"}, "meta": None}
        raise FakePluginError("InvokeRateLimitError", "slow down")

    daemon.set_tool_handler("acme/echo", "echo", "ping", handler)
    result = cli("invoke", "--user", "u", "--provider", PROVIDER, "--tool", "ping")
    assert result.code == 1 and result.out == "working\n"
    assert "slow down" in result.err and "InvokeRateLimitError" in result.err


def test_upload_bundle_command(cli, tmp_path):
    import zipfile

    import yaml

    path = tmp_path / "set.difybndl"
    with zipfile.ZipFile(path, "w") as bundle:
        bundle.writestr("manifest.yaml", yaml.safe_dump({
            "version": "0.0.1", "author": "acme", "name": "set", "type": "bundle",
            "dependencies": [{"type": "package", "value": {"path": "echo.difypkg"}}]}))
        bundle.writestr("_assets/echo.difypkg", sample_plugin())
    result = cli("upload-bundle", "--file", str(path))
    assert result.code == 0 and "package" in result.out and "acme/echo:" in result.out


# --- subprocess -----------------------------------------------------------------


def _subprocess(args, daemon, tenant, **kwargs):
    env = dict(os.environ, **{dpc.ENV_URL: daemon.url, dpc.ENV_KEY: KEY, dpc.ENV_TENANT: tenant,
                              "NO_COLOR": "1"})
    env.pop("DIFY_PLUGIN_DAEMON_TIMEOUT", None)
    return subprocess.run(args, capture_output=True, text=True, env=env, cwd=REPO, timeout=120,
                          **kwargs)


def test_full_offline_flow_as_a_subprocess(daemon, tenant, package):
    """From a .difypkg to an installed, invoked and removed plugin, with nothing but the CLI."""
    cli = [sys.executable, "-m", "dify_plugin_client"]
    steps = [
        cli + ["upload-pkg", "--file", str(package)],
        cli + ["install", "--file", str(package), "--tenant", tenant],
        cli + ["list"],
        cli + ["tools"],
        cli + ["tools", PROVIDER, "echo"],
        cli + ["invoke", "--user", "ops", "--provider", PROVIDER, "--tool", "echo",
               "--params", '{"text": "hello from the shell", "count": "2"}'],
        cli + ["uninstall", "acme/echo"],
        cli + ["list", "--json"],
    ]
    results = [_subprocess(step, daemon, tenant) for step in steps]
    for step, result in zip(steps, results):
        assert result.returncode == 0, (step, result.stdout, result.stderr)
    assert "acme/echo" in results[2].stdout
    assert PROVIDER in results[3].stdout
    assert json.loads(results[5].stdout)["text"] == "hello from the shell"
    assert json.loads(results[7].stdout)["total"] == 0
    assert all(KEY not in r.stdout + r.stderr for r in results)


def test_script_entry_points(daemon, tenant):
    as_file = _subprocess([sys.executable, os.path.join(REPO, "dify_plugin_client.py"),
                           "health"], daemon, tenant)
    assert as_file.returncode == 0 and "version 0.6.10" in as_file.stdout
    module = os.path.join(REPO, "dify_plugin_client.py")
    mistyped = _subprocess([sys.executable, module, "lst"], daemon, tenant)
    assert mistyped.returncode == 2  # run as a file, it names itself as it was run
    assert "`python %s --help` lists the commands" % module in mistyped.stderr
    examples = _subprocess([sys.executable, module, "list", "--help"], daemon, tenant).stdout
    assert "  python %s list --json --full\n" % module in examples
    completion = _subprocess([sys.executable, module, "completion", "bash"], daemon, tenant)
    assert "alias dify-plugin-client='%s %s'" % (sys.executable, module) in completion.stdout


def test_a_copied_file_in_a_folder_with_a_space_and_a_renamed_copy(daemon, tenant, tmp_path):
    import shlex
    import shutil

    folder = tmp_path / "my tools"
    folder.mkdir()
    copy = str(folder / "dify_plugin_client.py")
    shutil.copy(os.path.join(REPO, "dify_plugin_client.py"), copy)
    completion = _subprocess([sys.executable, copy, "completion", "bash"], daemon, tenant)
    [line] = [line for line in completion.stdout.splitlines() if "alias dify-plugin-client=" in line]
    value = shlex.split(line.split("alias ", 1)[1])[0].split("=", 1)[1]
    assert shlex.split(value) == [sys.executable, copy]  # the alias runs this very file
    shutil.copy(copy, str(tmp_path / "dpc_copy.py"))
    renamed = subprocess.run([sys.executable, "-m", "dpc_copy", "lst"], capture_output=True,
                             text=True, cwd=str(tmp_path), timeout=60)
    assert renamed.returncode == 2 and "`python -m dpc_copy --help`" in renamed.stderr
    failing = _subprocess([sys.executable, "-m", "dify_plugin_client", "list", "--key", "x"],
                          daemon, tenant)
    assert failing.returncode == 4 and failing.stderr.count("\n") == 1
    import shutil

    script = shutil.which("dify-plugin-client")
    if os.environ.get("TOX_ENV_NAME"):  # installed by tox: the console script must work
        assert script, "the dify-plugin-client console script is not installed"
    if script:
        installed = _subprocess([script, "--version"], daemon, tenant)
        assert installed.returncode == 0 and dpc.__version__ in installed.stdout


def test_debug_logs_each_request_without_the_key(cli):
    result = cli("--debug", "list")
    assert result.code == 0
    assert "debug: GET /plugin/" in result.err and "/management/list -> HTTP 200" in result.err
    assert KEY not in result.err


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def _task(status, message):
    return dpc.PluginInstallTask.from_dict({"id": "t", "status": "running", "plugins": [
        {"plugin_unique_identifier": "acme/a:1.0.0@" + "a" * 32, "plugin_id": "acme/a",
         "status": status, "message": message},
        {"plugin_unique_identifier": "acme/b:1.0.0@" + "b" * 32, "plugin_id": "acme/b",
         "status": "pending", "message": ""}]})


def test_progress_is_live_on_a_terminal_and_plain_elsewhere():
    terminal = _Terminal()
    out = dpc._Output(io.StringIO(), terminal, False, {"COLUMNS": "80", "TERM": "xterm"})
    progress = dpc._Progress(out)
    progress(_task("running", "starting"))
    progress(_task("success", "installed"))
    text = terminal.getvalue()
    assert text.count("\x1b[2K") == 4 and text.count("\x1b[2F") == 1  # redrawn in place
    assert "\x1b[32m" in text and "installed" in text  # green on success
    plain = io.StringIO()
    out = dpc._Output(io.StringIO(), plain, False, {})
    progress = dpc._Progress(out)
    for state in (("running", "starting"), ("running", "starting"), ("success", "installed")):
        progress(_task(*state))
    assert "\x1b" not in plain.getvalue()
    assert plain.getvalue().splitlines() == ["acme/a  running  starting", "acme/b  pending  ",
                                             "acme/a  success  installed"]
    no_color = _Terminal()
    progress = dpc._Progress(dpc._Output(io.StringIO(), no_color, False, {"NO_COLOR": "1"}))
    progress(_task("failed", "boom"))
    shown = no_color.getvalue()
    # a failure's message is left to the error printed at the end: shown once
    assert "\x1b[31m" not in shown and "failed" in shown and "boom" not in shown


def test_tables_fit_the_terminal_width():
    rows = [["acme/a-very-long-plugin-name-indeed", "0.0.1", "x" * 80]]
    for line in dpc._format_table(["PLUGIN", "VERSION", "IDENTIFIER"], rows, 60):
        assert len(line) <= 60
    assert dpc._format_table(["A", "B"], [["1", None]], 80) == ["A  B", "1  -"]
