"""``python -m dify_plugin_client`` as a real subprocess, run by the suite's interpreter."""

import json
import os
import subprocess
import sys

from e2e_support import ECHO_TYPES_MESSAGES, PROVIDER, REPO_DIR, check_no_key


def _run(real_daemon, tmp_path, *args, **kw):
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "NO_COLOR": "1",
           "PYTHONPATH": REPO_DIR,
           "DIFY_PLUGIN_DAEMON_URL": kw.pop("url", real_daemon.url),
           "DIFY_PLUGIN_DAEMON_KEY": kw.pop("key", real_daemon.key)}
    if kw.get("tenant"):
        env["DIFY_PLUGIN_TENANT_ID"] = kw.pop("tenant")
    done = subprocess.run([sys.executable, "-m", "dify_plugin_client"] + list(args),
                          cwd=str(tmp_path), env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=300)
    out, err = done.stdout.decode("utf-8"), done.stderr.decode("utf-8")
    check_no_key(out + err, real_daemon.key)
    return done.returncode, out, err


def test_subprocess_health_json(real_daemon, tmp_path):
    rc, out, err = _run(real_daemon, tmp_path, "health", "--json")
    assert rc == 0, (out, err)
    assert json.loads(out)["status"] == "ok"


def test_subprocess_list_json(real_daemon, tmp_path, installed, pkgs):
    rc, out, err = _run(real_daemon, tmp_path, "--json", "list", tenant=installed.tenant)
    assert rc == 0, (out, err)
    listed = json.loads(out)
    assert [p["plugin_unique_identifier"] for p in listed["plugins"]] == [pkgs.old.identifier]


def test_subprocess_invoke_ndjson(real_daemon, tmp_path, installed):
    rc, out, err = _run(real_daemon, tmp_path, "invoke", "--user", "u1", "--provider", PROVIDER,
                        "--tool", "echo_types", "--params", '{"text": "sub"}', "--json",
                        tenant=installed.tenant)
    assert rc == 0, (out, err)
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["type"] for r in records] == ECHO_TYPES_MESSAGES
    assert records[0]["message"]["text"] == "sub!"


def test_subprocess_wrong_key_exits_4(real_daemon, tmp_path, tenant):
    rc, out, err = _run(real_daemon, tmp_path, "list", tenant=tenant, key="not-the-key")
    assert rc == 4, (out, err)
    assert "unauthorized" in err.lower()


def test_subprocess_unreachable_exits_3(real_daemon, tmp_path, closed_url, tenant):
    rc, out, err = _run(real_daemon, tmp_path, "--timeout", "5", "list", tenant=tenant,
                        url=closed_url)
    assert rc == 3, (out, err)
