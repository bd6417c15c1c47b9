"""What a new operator meets in the first hour: settings in every layer, bundles, output
for scripts and people, shell completion, packaging a plugin folder."""

import io
import json
import os
import shutil
import subprocess
import sys
import uuid
import zipfile

import pytest
import yaml

import dify_plugin_client as dpc
from fake_daemon import sample_plugin
from helpers import KEY, install_sample, make_client
PROVIDER = "acme/echo/echo"

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- settings in every layer ------------------------------------------------------


def test_size_limits_come_from_flag_environment_and_config(cli, daemon, tmp_path):
    big = tmp_path / "big.difypkg"
    big.write_bytes(sample_plugin(extra_files={"blob.bin": os.urandom(3 * 1024 * 1024)}))
    refused = cli("upload-pkg", "--file", str(big), "--max-package-size", "1MiB")
    assert refused.code == dpc.EXIT_USAGE and "--max-package-size" in refused.err, refused
    assert daemon.requests == []  # nothing was sent
    assert cli("upload-pkg", "--file", str(big), "--max-package-size", "4MiB").code == 0
    env = {"DIFY_PLUGIN_DAEMON_MAX_PACKAGE_SIZE": "1048576"}
    assert cli("upload-pkg", "--file", str(big), env=env).code == dpc.EXIT_USAGE
    config = cli.home / ".dify"
    config.write_text(json.dumps({"max_package_size": "4M", "max_bundle_size": 10 ** 9}))
    shown = cli("config", "--json").json()
    assert shown["max_package_size"] == {"value": 4 * 1024 * 1024,
                                         "source": "config file %s" % config}
    assert shown["max_bundle_size"]["value"] == 10 ** 9
    assert cli("upload-pkg", "--file", str(big)).code == 0


def test_key_from_a_file_or_standard_input(cli, daemon, tenant):
    key_file = cli.home / "key"
    key_file.write_text(KEY + "\n")
    base = ["--url", daemon.url, "--tenant", tenant]
    listed = cli(*(base + ["--key-file", str(key_file), "list"]), use_env=False)
    assert listed.code == 0, listed
    piped = cli(*(base + ["--key-file", "-", "list"]), use_env=False, stdin=KEY + "\n")
    assert piped.code == 0, piped
    shown = cli(*(base + ["--key-file", str(key_file), "config", "--json"]),
                use_env=False).json()
    assert shown["key"] == {"value": "****", "source": "--key-file (key file %s)" % key_file}
    assert KEY not in json.dumps(shown)
    env = {dpc.ENV_KEY_FILE: str(key_file)}
    assert cli(*(base + ["list"]), env=env, use_env=False).code == 0
    both = cli(*(base + ["--key", KEY, "--key-file", str(key_file), "list"]), use_env=False)
    assert both.code == dpc.EXIT_USAGE and "not both" in both.err
    empty = cli.home / "empty"
    empty.write_text("\n")
    blank = cli(*(base + ["--key-file", str(empty), "list"]), use_env=False)
    assert blank.code == dpc.EXIT_USAGE and "is empty" in blank.err
    missing = cli(*(base + ["--key-file", str(cli.home / "nope"), "list"]), use_env=False)
    assert missing.code == dpc.EXIT_USAGE and "cannot read the key file" in missing.err


def test_proxy_opt_in_is_a_setting(cli, daemon, tenant, monkeypatch):
    shown = cli("--trust-env", "config", "--json").json()
    assert shown["trust_env"] == {"value": True, "source": "--trust-env"}
    assert cli("config", "--json").json()["trust_env"] == {"value": False, "source": "default"}
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    assert cli("list").code == 0  # not used unless asked for
    asked = cli("list", "--timeout", "2", env={"DIFY_PLUGIN_DAEMON_TRUST_ENV": "yes"})
    assert asked.code == dpc.EXIT_UNREACHABLE and "127.0.0.1:9" in asked.err


def test_every_bad_config_field_is_named_and_a_directory_is_refused(cli):
    config = cli.home / ".dify"
    config.write_text(json.dumps({"url": 5, "timeout": "soon", "insecure": "maybe",
                                  "max_package_size": "huge"}))
    result = cli("list", use_env=False)
    assert result.code == dpc.EXIT_USAGE
    for name in ("'url'", "'timeout'", "'insecure'", "'max_package_size'"):
        assert name in result.err, (name, result.err)
    config.unlink()
    config.mkdir()
    result = cli("list", use_env=False)
    assert result.code == dpc.EXIT_USAGE and "is a directory" in result.err


# --- bundles ---------------------------------------------------------------------


def _bundle(path, with_network_dependencies=True):
    dependencies = [{"type": "package", "value": {"path": "echo.difypkg"}}]
    if with_network_dependencies:
        dependencies += [  # written as bundle manifests write them
            {"type": "marketplace", "value": {"marketplace_pattern": "langgenius/x:0.0.1"}},
            {"type": "github", "value": {"repo_pattern": "a/b:v1/b.difypkg"}}]
    with zipfile.ZipFile(path, "w") as bundle:
        bundle.writestr("manifest.yaml", yaml.safe_dump({
            "version": "0.0.1", "author": "acme", "name": "set", "type": "bundle",
            "dependencies": dependencies}))
        bundle.writestr("_assets/echo.difypkg", sample_plugin())
    return path


def test_install_a_bundle_installs_its_packages_and_names_what_needs_the_network(
        cli, daemon, tenant, tmp_path):
    path = _bundle(tmp_path / "set.difybndl")
    result = cli("install", "--file", str(path))
    assert result.code == 0, result
    assert "acme/echo:0.0.1@" in result.out
    assert "not installed offline (needs the network): marketplace langgenius/x 0.0.1" \
        in result.err
    assert "not installed offline (needs the network): github a/b v1" in result.err
    plugins = make_client(daemon).list_plugins(tenant)
    assert [p.plugin_id for p in plugins] == ["acme/echo"]
    record = cli("--json", "install", "--file", str(_bundle(tmp_path / "again.difybndl"))).json()
    assert record["status"] == "success" and len(record["skipped"]) == 2
    assert record["plugins"][0]["message"] == "already installed"


def test_a_bundle_dependency_that_names_nothing_says_so():
    """A bundle manifest written in another form decodes, on the real daemon, to empty
    names: say so rather than print a bare "/"."""
    for value in (dpc.MarketplaceDependency(), dpc.GithubDependency()):
        assert dpc._dependency_text(value) == "(no plugin named: check the bundle's manifest)"
    assert dpc._dependency_text(dpc.MarketplaceDependency(organization="a", plugin="b",
                                                          version="1")) == "a/b 1"
    assert dpc._dependency_text(dpc.MarketplaceDependency(version="0.0.1")) == \
        "(no plugin named: check the bundle's manifest)"


# --- output for scripts and people -----------------------------------------------------


def test_ids_are_not_cut_when_piped_nor_with_wide(cli, daemon, tenant):
    install_sample(make_client(daemon), tenant)
    identifier = make_client(daemon).list_plugins(tenant)[0].plugin_unique_identifier
    piped = cli("list", env={"COLUMNS": "40"})  # stdout is not a terminal: nothing is cut
    assert identifier in piped.out and "..." not in piped.out
    assert dpc._format_table(["A"], [["x" * 300]], None) == ["A", "x" * 300]


def test_a_terminal_of_zero_columns_is_unknown_not_narrow():
    class ZeroColumns(io.StringIO):
        def isatty(self):
            return True

        def fileno(self):
            raise OSError("no size")  # as a pty that reports 0 columns gives no size

    assert dpc._terminal_width(ZeroColumns(), {"COLUMNS": "0"}) is None
    out = dpc._Output(ZeroColumns(), ZeroColumns(), False, {"TERM": "xterm"})
    assert out.width == 100 and not out.live_progress  # cut at a sane width; no redraws
    wide = dpc._Output(ZeroColumns(), ZeroColumns(), False, {"TERM": "xterm"}, wide=True)
    assert wide.width is None


def test_errors_are_json_on_stderr_with_json(cli, daemon, tenant):
    result = cli("--json", "tools", "acme/nope/nope")
    assert result.code == dpc.EXIT_FAILED and result.out == ""
    record = json.loads(result.err)
    assert record["error"] == "PluginNotFoundError" and record["exit_code"] == 1
    assert "acme/nope/nope" in record["message"] and record["route"].startswith("GET /plugin/")
    usage = cli("--json", "list", "--tenant", "not-a-uuid")
    assert json.loads(usage.err)["exit_code"] == dpc.EXIT_USAGE


def test_install_json_has_one_shape_and_silent_commands_print_results(cli, daemon, tenant,
                                                                       package):
    keys = {"action", "status", "task_id", "all_installed", "waited", "plugins", "skipped",
            "task"}
    no_wait = cli("--json", "install", "--file", str(package), "--no-wait").json()
    assert set(no_wait) == keys and no_wait["status"] == "running" and no_wait["task_id"]
    waited = cli("--json", "tasks", "wait", no_wait["task_id"]).json()
    assert waited["status"] == "success"  # tasks wait prints the task
    again = cli("--json", "install", "--file", str(package)).json()
    assert set(again) == keys and again["all_installed"] and again["status"] == "success"
    other = str(uuid.uuid4())
    fresh = cli("--json", "--tenant", other, "install", "--file", str(package)).json()
    assert set(fresh) == keys and fresh["status"] == "success"
    noop = cli("--json", "upgrade", "--identifier", again["plugins"][0]["plugin_unique_identifier"])
    assert noop.code == 0 and set(noop.json()) == keys
    deleted = cli("--json", "tasks", "delete", no_wait["task_id"])
    assert deleted.code == 0 and deleted.json()["deleted"] == [no_wait["task_id"]]
    cleared = cli("--json", "tasks", "delete-all", "--yes")
    assert cleared.json() == {"deleted": None, "all": True}


def test_a_timed_out_wait_names_the_task_and_how_to_resume(cli, daemon, tenant, package):
    daemon.install_delay = 5.0
    result = cli("install", "--file", str(package), "--wait-timeout", "0.2")
    assert result.code == dpc.EXIT_UNREACHABLE, result
    task_id = make_client(daemon).fetch_plugin_installation_tasks(tenant)[0].id
    assert task_id in result.err and "tasks wait %s" % task_id in result.err
    assert "--wait-timeout" in result.err


def test_list_json_leaves_declarations_out_unless_full(cli, daemon, tenant):
    install_sample(make_client(daemon), tenant)
    short = cli("--json", "list").json()["plugins"][0]
    assert "declaration" not in short and short["plugin_id"] == "acme/echo"
    assert "declaration" in cli("--json", "list", "--full").json()["plugins"][0]


def test_manifest_and_readme_take_an_installed_plugin_id(cli, daemon, tenant):
    install_sample(make_client(daemon), tenant)
    manifest = cli("manifest", "acme/echo")
    assert manifest.code == 0 and "acme/echo" in manifest.out
    readme = cli("--json", "readme", "acme/echo").json()
    assert readme["content"].startswith("# Echo") and readme["language"] == "en_US"
    assert cli("readme", "acme/absent").code == dpc.EXIT_FAILED


def test_unknown_tool_parameters_are_refused_before_sending(cli, daemon, tenant):
    install_sample(make_client(daemon), tenant)
    before = len(daemon.requests)
    result = cli("invoke", "--user", "u", "--provider", PROVIDER, "--tool", "echo",
                 "--params", '{"text": "hi", "txet": "typo"}')
    assert result.code == dpc.EXIT_USAGE and "'txet'" in result.err and "text" in result.err
    assert not any("dispatch" in r.path for r in daemon.requests[before:])
    sent = cli("invoke", "--user", "u", "--provider", PROVIDER, "--tool", "echo", "--no-cast",
               "--params", '{"text": "hi", "txet": "typo"}')
    assert sent.code == 0  # --no-cast sends them as given


def test_page_size_output_dir_and_empty_lists(cli, daemon, tenant, tmp_path):
    assert cli("list", "--page", "1", "--page-size", "257").code == dpc.EXIT_USAGE
    empty = cli("list")
    assert empty.code == 0 and "no plugins installed" in empty.err
    assert "no install tasks" in cli("tasks").err
    assert "no tool providers" in cli("tools").err
    install_sample(make_client(daemon), tenant)
    daemon.set_tool_handler("acme/echo", "echo", "blob", lambda request: [
        {"type": "blob", "message": {"blob": "aGk="},
         "meta": {"filename": "a\x00b/../x.txt"}}])
    target = tmp_path / "new" / "dir"
    saved = cli("invoke", "--user", "u", "--provider", PROVIDER, "--tool", "blob",
                "--output-dir", str(target))
    assert saved.code == 0, saved
    assert os.listdir(target) == ["x.txt"]  # made; the plugin's name without NUL or path


def test_did_you_mean_and_examples_in_help(cli):
    result = cli("instal")
    assert result.code == dpc.EXIT_USAGE and "did you mean install" in result.err
    assert "did you mean" not in cli("frobnicate").err
    for name, command in dpc._COMMANDS.items():
        shown = cli(name, "--help")
        assert shown.code == 0 and "examples:" in shown.out, name
        assert command.examples, name


def test_hints_name_python_m_when_run_that_way(daemon, tenant, package):
    env = dict(os.environ, **{dpc.ENV_URL: daemon.url, dpc.ENV_KEY: KEY,
                              dpc.ENV_TENANT: tenant})
    result = subprocess.run([sys.executable, "-m", "dify_plugin_client", "install",
                             "--file", str(package), "--no-wait"], capture_output=True,
                            text=True, env=env, cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "python -m dify_plugin_client tasks wait" in result.stderr


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_shell_completion_scripts(cli, shell):
    result = cli("completion", shell)
    assert result.code == 0 and "_dify_plugin_client" in result.out
    if shell == "zsh":
        assert result.out.startswith("#compdef dify-plugin-client")
    program = shutil.which(shell)
    assert program, "%s is needed to check its completion script" % shell
    check = subprocess.run([program, "-n"], input=result.out, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_bash_completion_completes_commands_actions_and_flags(cli):
    script = cli("completion", "bash").out

    def complete(*words):
        line = " ".join(["dify-plugin-client"] + list(words))
        probe = script + "\nCOMP_WORDS=(%s)\nCOMP_CWORD=%d\n_dify_plugin_client\n" \
            "printf '%%s\\n' \"${COMPREPLY[@]}\"\n" % (
                " ".join("'%s'" % w for w in ["dify-plugin-client"] + list(words)),
                len(words))
        result = subprocess.run(["bash", "-c", probe], capture_output=True, text=True)
        assert result.returncode == 0, (line, result.stderr)
        return result.stdout.split()

    assert "install" in complete("ins") and "instal" not in complete("ins")
    assert complete("tasks", "de") == ["delete", "delete-all"]
    assert "--wait-timeout" in complete("install", "--wai")
    assert complete("--url", "http://x", "upg") == ["upgrade"]


# --- packaging a plugin folder ------------------------------------------------------------


def test_package_builds_a_difypkg_the_daemon_takes(cli, daemon, tenant, tmp_path):
    folder = tmp_path / "echo"
    with zipfile.ZipFile(io.BytesIO(sample_plugin())) as archive:
        archive.extractall(folder)
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "x.pyc").write_bytes(b"junk")
    (folder / "notes.tmp").write_text("scratch")
    (folder / ".difyignore").write_text("*.tmp\n")
    out = tmp_path / "dist.difypkg"
    built = cli("package", str(folder), "-o", str(out))
    assert built.code == 0 and built.out.strip() == str(out), built
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
    assert "manifest.yaml" in names and not any("__pycache__" in n or n.endswith(".tmp")
                                                for n in names)
    decoded = make_client(daemon).upload_pkg(tenant, str(out))
    assert decoded.manifest.name == "echo"
    assert cli("package", str(tmp_path)).code == dpc.EXIT_USAGE  # no manifest.yaml there
    small = cli("package", str(folder), "-o", str(tmp_path / "s.difypkg"),
                "--max-package-size", "10")
    assert small.code == dpc.EXIT_USAGE and not (tmp_path / "s.difypkg").exists()
