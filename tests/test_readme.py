"""The README's quick start runs as written against the fake daemon."""

import os
import re
import subprocess
import sys

from fake_daemon import sample_plugin
from helpers import KEY

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _quick_start():
    text = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
    section = text.split("## Quick start", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_quick_start_runs_as_written(daemon, tenant, tmp_path):
    """With the settings of "The first five minutes": the key in a file, not in the
    environment, and the package step 3 built."""
    (tmp_path / "e2e_tools.difypkg").write_bytes(sample_plugin())
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("DIFY_PLUGIN_DAEMON")}
    env.update(DIFY_PLUGIN_DAEMON_URL=daemon.url, DIFY_PLUGIN_DAEMON_KEY_FILE=str(key_file),
               DIFY_PLUGIN_TENANT_ID=tenant, PYTHONPATH=REPO, HOME=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", _quick_start()], cwd=str(tmp_path), env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "acme/echo 0.0.1" in result.stdout
    assert '"text":"hello"' in result.stdout  # the sample tool echoes its parameters


def test_the_error_tree_names_every_public_error():
    import dify_plugin_client as dpc

    text = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
    tree = text.split("## Errors", 1)[1].split("```", 2)[1]
    public = {name for name, value in vars(dpc).items()
              if isinstance(value, type) and issubclass(value, dpc.DifyPluginError)
              and not name.startswith("_")}
    named = set(re.findall(r"\b([A-Z][A-Za-z]+(?:Error|Exception|Timeout))\b", tree)) - {
        "ValueError"}  # (a base some of them also have)
    assert public - named == set(), "missing from the README's error tree"
    assert named - public == set(), "in the README's error tree but not in the module"
