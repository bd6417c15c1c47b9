"""Tool pick: text "channel=<channel> text=<text>", json {credential_keys,
credential_type}, then a 10000-byte blob (the SDK sends it as blob_chunk
pieces of 8192 + 1808 bytes and an empty end chunk).

Dynamic select for "channel": #general, #random and, when the credentials
carry an api_key, "token-<api_key>". Any other parameter raises ValueError.
"""

from collections.abc import Generator
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities import I18nObject, ParameterOption
from dify_plugin.entities.tool import ToolInvokeMessage

BLOB = b"x" * 10000
BLOB_META = {"filename": "x.bin", "mime_type": "application/octet-stream"}


class PickTool(Tool):
    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage, None, None]:
        channel = tool_parameters.get("channel", "")
        text = tool_parameters.get("text", "")
        yield self.create_text_message("channel=%s text=%s" % (channel, text))
        yield self.create_json_message(
            {
                "credential_keys": sorted(self.runtime.credentials or {}),
                "credential_type": str(self.runtime.credential_type),
            }
        )
        yield self.create_blob_message(BLOB, meta=dict(BLOB_META))

    def _fetch_parameter_options(self, parameter: str) -> list[ParameterOption]:
        if parameter != "channel":
            raise ValueError("no dynamic options for parameter '%s'" % parameter)
        options = [
            ParameterOption(
                value="general",
                label=I18nObject(en_US="#general", zh_Hans="#常规"),
                icon="https://example.invalid/g.png",
            ),
            ParameterOption(value="random", label=I18nObject(en_US="#random")),
        ]
        api_key = (self.runtime.credentials or {}).get("api_key")
        if api_key:
            options.append(
                ParameterOption(value="token-%s" % api_key, label=I18nObject(en_US="channel for %s" % api_key))
            )
        return options
