"""The CLI's tools and invoke commands, run in process against the installed test plugin."""

import hashlib
import json
import os

from e2e_support import BLOB, ECHO_TYPES_MESSAGES, PROVIDER, RAISE_ERROR_TEXT


def test_cli_tools_lists_providers(cli, installed):
    result = cli("tools", tenant=installed.tenant)
    assert result.rc == 0, result
    assert PROVIDER in result.out and "echo_types, raise_error" in result.out
    result = cli("tools", "--json", tenant=installed.tenant)
    assert result.rc == 0, result
    providers = json.loads(result.out)
    assert [p["declaration"]["identity"]["name"] for p in providers] == [PROVIDER]


def test_cli_tools_one_provider_and_one_tool(cli, installed):
    result = cli("tools", PROVIDER, tenant=installed.tenant)
    assert result.rc == 0, result
    assert "echo_types" in result.out and "text, count, flag, mode, suffix" in result.out
    result = cli("tools", PROVIDER, "echo_types", tenant=installed.tenant)
    assert result.rc == 0, result
    assert "keep|upper|lower" in result.out and "0..100" in result.out
    result = cli("tools", PROVIDER, "echo_types", "--json", tenant=installed.tenant)
    assert result.rc == 0, result
    assert [p["name"] for p in json.loads(result.out)["parameters"]] == [
        "text", "count", "flag", "mode", "suffix"]


def test_cli_tools_errors(cli, installed):
    result = cli("tools", "e2e_tools", tenant=installed.tenant)  # langgenius/e2e_tools/e2e_tools
    assert result.rc == 1, result
    assert "not found" in result.err
    result = cli("tools", PROVIDER, "no_such_tool", tenant=installed.tenant)
    assert result.rc == 1, result  # not found, as an unknown provider
    assert "echo_types" in result.err


def test_cli_invoke_prints_text_and_notes(cli, installed, pkgs):
    result = cli("invoke", "--user", "u1", "--provider", PROVIDER, "--tool", "echo_types",
                 "--params", '{"text": "Hello", "count": "3", "mode": "upper"}',
                 tenant=installed.tenant)
    assert result.rc == 0, result
    assert result.out.startswith("HELLO!\n")
    shown = json.loads(result.out[len("HELLO!\n"):])  # the JSON message, pretty-printed
    assert shown["plugin_version"] == pkgs.old.version
    assert shown["received"]["count"] == {"value": 3, "type": "int"}
    assert "echo_text" in result.err and "echo_types" in result.err
    assert "blob" in result.err and "--output-dir" in result.err


def test_cli_invoke_json_is_one_typed_record_per_message(cli, installed, tmp_path):
    result = cli("invoke", "--user", "u1", "--provider", PROVIDER, "--tool", "echo_types",
                 "--params", '{"text": "nd", "flag": "no"}', "--json",
                 "--output-dir", str(tmp_path), tenant=installed.tenant)
    assert result.rc == 0, result
    records = [json.loads(line) for line in result.out.splitlines()]
    assert [r["type"] for r in records] == ECHO_TYPES_MESSAGES
    assert records[0]["message"] == {"text": "nd!"}
    assert records[1]["message"]["json_object"]["received"]["flag"] == {"value": False,
                                                                        "type": "bool"}
    assert records[2]["message"]["variable_name"] == "echo_text"
    assert records[3]["message"]["label"] == "echo_types"
    saved = records[4]["message"]
    assert saved["size"] == len(BLOB)
    assert os.path.basename(saved["path"]) == "e2e.bin"
    with open(saved["path"], "rb") as handle:
        assert hashlib.sha256(handle.read()).digest() == hashlib.sha256(BLOB).digest()


def test_cli_invoke_params_from_stdin_and_file(cli, installed, tmp_path):
    result = cli("invoke", "--user", "u1", "--provider", PROVIDER, "--tool", "echo_types",
                 "--params", "-", tenant=installed.tenant, stdin='{"text": "from stdin"}')
    assert result.rc == 0, result
    assert result.out.startswith("from stdin!\n")
    params = tmp_path / "params.json"
    params.write_text('{"text": "from file", "suffix": "?"}')
    result = cli("invoke", "--user", "u1", "--provider", PROVIDER, "--tool", "echo_types",
                 "--params", "@" + str(params), tenant=installed.tenant)
    assert result.rc == 0, result
    assert result.out.startswith("from file?\n")


def test_cli_invoke_plugin_error_exits_1_with_its_message(cli, installed):
    result = cli("invoke", "--user", "u1", "--provider", PROVIDER, "--tool", "raise_error",
                 "--params", '{"message": "cli says no"}', tenant=installed.tenant)
    assert result.rc == 1, result
    assert result.out.startswith(RAISE_ERROR_TEXT)
    assert "cli says no" in result.err and "ValueError" in result.err


def test_cli_invoke_bad_parameters_exit_2(cli, installed):
    result = cli("invoke", "--user", "u1", "--provider", PROVIDER, "--tool", "echo_types",
                 "--params", '{"text": "t", "count": "lots"}', tenant=installed.tenant)
    assert result.rc == 2, result
    assert "count" in result.err and "lots" in result.err
    result = cli("invoke", "--user", "u1", "--provider", PROVIDER, "--tool", "echo_types",
                 "--params", "[1, 2]", tenant=installed.tenant)
    assert result.rc == 2, result


def test_cli_invoke_unknown_tool_and_provider(cli, installed):
    result = cli("invoke", "--user", "u1", "--provider", PROVIDER, "--tool", "no_such_tool",
                 tenant=installed.tenant)
    assert result.rc == 1, result  # not found, as an unknown provider
    result = cli("invoke", "--user", "u1", "--provider", PROVIDER, "--tool", "no_such_tool",
                 "--no-cast", tenant=installed.tenant)
    assert result.rc == 1, result
    assert "no_such_tool" in result.err
    result = cli("invoke", "--user", "u1", "--provider", "e2etest/e2e_tools/nope",
                 "--tool", "echo_types", tenant=installed.tenant)
    assert result.rc == 1, result
