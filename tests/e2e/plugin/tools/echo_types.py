import hashlib
from collections.abc import Generator
from pathlib import Path
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage

# Deterministic blob, larger than 8 KiB so the SDK sends it as several
# `blob_chunk` messages (8192-byte slices, then an empty `end` chunk).
BLOB_SIZE = 20000
BLOB = bytes(i % 251 for i in range(BLOB_SIZE))


def _plugin_version() -> str:
    manifest = Path(__file__).resolve().parent.parent / "manifest.yaml"
    for line in manifest.read_text(encoding="utf-8").splitlines():
        if line.startswith("version:"):
            return line.split(":", 1)[1].strip().strip("'\"")
    return "unknown"


class EchoTypesTool(Tool):
    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage, None, None]:
        text = tool_parameters.get("text")
        mode = tool_parameters.get("mode", "keep")
        suffix = tool_parameters.get("suffix", "!")
        out = str(text)
        if mode == "upper":
            out = out.upper()
        elif mode == "lower":
            out = out.lower()
        out = f"{out}{suffix}"

        yield self.create_text_message(out)
        yield self.create_json_message(
            {
                "received": {
                    name: {"value": value, "type": type(value).__name__}
                    for name, value in sorted(tool_parameters.items())
                },
                "plugin_version": _plugin_version(),
                "blob_size": len(BLOB),
                "blob_sha256": hashlib.sha256(BLOB).hexdigest(),
            }
        )
        yield self.create_variable_message("echo_text", out)
        yield self.create_log_message(
            label="echo_types",
            data={"text": out, "parameter_names": sorted(tool_parameters)},
            status=ToolInvokeMessage.LogMessage.LogStatus.SUCCESS,
        )
        yield self.create_blob_message(
            BLOB, meta={"mime_type": "application/octet-stream", "filename": "e2e.bin"}
        )
