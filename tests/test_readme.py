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
    (tmp_path / "my_plugin.difypkg").write_bytes(sample_plugin())
    env = dict(os.environ, DIFY_PLUGIN_DAEMON_URL=daemon.url, DIFY_PLUGIN_DAEMON_KEY=KEY,
               DIFY_PLUGIN_TENANT_ID=tenant, PYTHONPATH=REPO)
    result = subprocess.run([sys.executable, "-c", _quick_start()], cwd=str(tmp_path), env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "acme/echo 0.0.1" in result.stdout
    assert '"text":"hello"' in result.stdout  # the sample tool echoes its parameters
