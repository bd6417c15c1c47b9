"""The module imports only the standard library, and the CLI starts without heavy modules."""

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Run without site (-S): site and .pth files may import typing, re and friends first,
# and then "not newly imported" would prove nothing. The probe reports what was loaded
# before the import too, so the test can check that the modules it looks for were not.
PROBE = r"""
import os, sys
sys.path.insert(0, os.getcwd())
before = set(sys.modules)
import dify_plugin_client
after = set(sys.modules)
import json, sysconfig
stdlib = {os.path.realpath(sysconfig.get_paths()[k]) for k in ("stdlib", "platstdlib")}
foreign = []
for name in sorted(after - before):
    module = sys.modules[name]
    path = getattr(module, "__file__", None)
    if module is dify_plugin_client or path is None:  # builtin or frozen
        continue
    real = os.path.realpath(path)
    if "site-packages" in real or not any(real.startswith(root + os.sep) for root in stdlib):
        foreign.append((name, path))
print(json.dumps({"foreign": foreign, "new": sorted(after - before),
                  "before": sorted(before)}))
"""


def _run(code):
    result = subprocess.run([sys.executable, "-S", "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_import_pulls_in_only_the_standard_library():
    report = _run(PROBE)
    assert report["foreign"] == []
    for heavy in ("http.client", "ssl", "email", "socket", "urllib.request", "logging",
                  "typing", "dataclasses", "inspect", "json", "re", "threading", "decimal",
                  "datetime", "binascii"):
        assert heavy not in report["before"], heavy  # else the next check proves nothing
        assert heavy not in report["new"], heavy


def test_help_does_not_import_network_modules():
    code = r"""
import io, json, os, sys
sys.path.insert(0, os.getcwd())
import dify_plugin_client
dify_plugin_client._build_parser()
out = io.StringIO()
code = dify_plugin_client.main(["--help"], stdout=out, stderr=out)
sys.stdout = sys.__stdout__
print(json.dumps({"code": code, "loaded": [m for m in ("http.client", "ssl", "email", "socket")
                                           if m in sys.modules]}))
"""
    report = _run(code)
    assert report == {"code": 0, "loaded": []}


def test_the_module_file_has_no_third_party_imports():
    import ast

    path = os.path.join(REPO, "dify_plugin_client.py")
    tree = ast.parse(open(path, encoding="utf-8").read())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
        elif (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_LazyModule"):
            names.add(node.args[0].value)  # imported on first use
    allowed = {"__future__", "_thread", "argparse", "binascii", "contextlib", "dataclasses",
               "datetime", "decimal", "enum", "http", "io", "json", "logging", "mimetypes", "os", "re", "select",
               "socket", "ssl", "stat", "sys", "threading", "time", "traceback", "typing",
               "urllib", "weakref", "difflib", "fnmatch", "zipfile", "tempfile", "queue", "signal"}
    assert names <= allowed, names - allowed
