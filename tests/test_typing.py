"""The typed example (tests/typing/typed_example.py, which CI type-checks with mypy
--strict) is a working program: run it against the fake daemon."""

import io
import os
import sys
from contextlib import redirect_stdout

from fake_daemon import sample_plugin
from helpers import KEY

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "typing"))

import typed_example  # noqa: E402


def test_the_typed_example_runs(daemon, tenant, tmp_path):
    package = tmp_path / "echo.difypkg"
    package.write_bytes(sample_plugin())
    daemon.set_tool_handler("acme/echo", "echo", "echo", lambda request: [
        {"type": "text", "message": {"text": request["data"]["tool_parameters"]["text"]},
         "meta": None},
        {"type": "json", "message": {"json_object": {"n": 1}}, "meta": None}])
    out = io.StringIO()
    with redirect_stdout(out):
        code = typed_example.main(daemon.url, KEY, tenant, str(package))
    assert code == 0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("acme/echo:0.0.1@") and lines[0].endswith("['acme/echo']")
    assert lines[1] == "['typed', \"{'n': 1}\"]"
