"""Uploading a 200 MiB package from a path keeps the client's memory flat."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(TESTS)
SIZE = 200 * 1024 * 1024

CHILD = textwrap.dedent(r"""
    import json, resource, sys, uuid
    import dify_plugin_client as dpc
    url, path, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    client = dpc.DifyPluginClient(dpc.PluginConfig(url=url, key="test-key",
                                                   max_package_size=size * 2, timeout=120))
    tenant = str(uuid.uuid4())
    client.list_plugins(tenant)  # warm up: imports, connection
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        client.upload_pkg(tenant, path)
        outcome = "uploaded"
    except dpc.PluginDaemonBadRequestError as exc:  # not a real package: the daemon says so
        outcome = exc.message
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"before_kib": before, "after_kib": after, "outcome": outcome}))
""")


@pytest.fixture
def daemon_process():
    process = subprocess.Popen(
        [sys.executable, os.path.join(TESTS, "fake_daemon"), "--port", "0",
         "--max-package-size", str(SIZE * 2)], stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("URL "), line
        yield line.split()[1]
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss in KiB is Linux behaviour")
def test_200_mib_upload_from_a_path_does_not_grow_memory(daemon_process, tmp_path):
    path = tmp_path / "big.difypkg"
    with open(path, "wb") as handle:
        block = os.urandom(1024 * 1024)
        for _ in range(SIZE // len(block)):
            handle.write(block)
    result = subprocess.run([sys.executable, "-c", CHILD, daemon_process, str(path), str(SIZE)],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    growth_mib = (report["after_kib"] - report["before_kib"]) / 1024.0
    print("peak RSS growth during a 200 MiB upload: %.1f MiB" % growth_mib)
    assert "not a valid difypkg" in report["outcome"]  # the daemon got and parsed the body
    assert growth_mib < 16, growth_mib
